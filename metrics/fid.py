"""Fréchet Inception Distance (`fid50k`, `fid50k_full`, `fid{N}k`, `fid{N}k_full`).

As the official StyleGAN `metrics/frechet_inception_distance.py`:
- reals: the first `num_images` in file order (all of them for `_full`), x-flipped at random if
  the run used mirror augmentation; their mu/sigma are cached under a hash of the options;
- fakes: `num_images` from G without truncation, random noise, converted with
  `convert_images_to_uint8`;
- features: the TF `inception-2015-12-05` pool_3 (`metrics.inception`);
- distance: `metrics.frechet.frechet_distance` on np.cov (unbiased) statistics, float64.
"""

from __future__ import annotations

from metrics.frechet import feature_stats, frechet_distance
from metrics.metric_utils import MetricOptions, fake_features, real_features

__all__ = ["compute_fid"]


def compute_fid(opts: MetricOptions, num_images: int, full: bool = False) -> dict[str, float]:
    """FID between `num_images` fakes and the first `num_images` reals (all reals if `full`).

    Returns `{"fid": value, "num_reals": n, "num_fakes": m}`; the registry renames "fid".
    """
    if int(num_images) < 2:
        raise ValueError(f"FID needs at least 2 images, got {num_images!r}")
    opts.require_G("fid")
    reals = real_features(opts, None if full else num_images, kind="stats")
    mu_fake, sigma_fake = feature_stats(fake_features(opts, int(num_images)))
    fid = frechet_distance(mu_fake, sigma_fake, reals["mu"], reals["sigma"], method=opts.fid_method)
    return {"fid": fid, "num_reals": int(reals["num"]), "num_fakes": int(num_images)}
