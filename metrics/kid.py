"""Kernel Inception Distance (`kid50k`, `kid50k_full`, `kid{N}k`), optional extra metric.

Not in the StyleGAN paper; defined as in stylegan2-ada (Bińkowski et al. 2018): unbiased
MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 on Inception features,
averaged over 100 random subsets of at most 1000 samples each.
"""

from __future__ import annotations

import numpy as np

from metrics.metric_utils import MetricOptions, fake_features, real_features

__all__ = ["compute_kid", "kernel_inception_distance"]


def _cubic_kernel(x, y, d):
    k = x @ y.T / d + 1.0
    return k * k * k  # much faster than ** 3 on large arrays


def kernel_inception_distance(
    real, fake, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> float:
    """Unbiased polynomial-kernel MMD^2 between two [N, D] feature sets, subset-averaged."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n = min(len(real), len(fake), max_subset_size)
    if n < 2:
        raise ValueError("KID needs at least 2 samples per set")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    t = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), n, replace=False)]
        y = real[rng.choice(len(real), n, replace=False)]
        a = _cubic_kernel(x, x, d) + _cubic_kernel(y, y, d)
        b = _cubic_kernel(x, y, d)
        t += (a.sum() - np.diag(a).sum()) / (n - 1) - b.sum() * 2 / n
    return float(t / num_subsets / n)


def compute_kid(opts: MetricOptions, num_images: int, full: bool = False) -> dict[str, float]:
    """KID between `num_images` fakes and the first `num_images` reals (all if `full`)."""
    opts.require_G("kid")
    reals = real_features(opts, None if full else num_images, kind="features")
    fakes = fake_features(opts, int(num_images))
    kid = kernel_inception_distance(reals["features"], fakes, seed=opts.seed)
    return {"kid": kid, "num_reals": int(reals["num"]), "num_fakes": int(num_images)}
