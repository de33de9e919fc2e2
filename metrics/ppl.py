"""Perceptual Path Length (`ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend`).

As the official StyleGAN `metrics/perceptual_path_length.py`, per batch of `n` pairs:

1. `lat = rng.standard_normal([2n, z_dim])`, pairs `(lat[0::2], lat[1::2])`;
   `t = rng.uniform(0, 1 if full else 0, [n])` (so `end` sampling is t = 0 exactly);
   labels `sample_labels(rng, n, c_dim)` (conditional G only; shared by the pair);
   noise: one draw per pair from `G.synthesis.noise_shapes(n)`, shared by both endpoints.
2. Z space: slerp of the normalised latents at t and t + eps, then `mapping`.
   W space: `mapping`, then lerp of the [n, num_ws, w_dim] dlatents at t and t + eps.
3. `synthesis` with the shared noise; crop the face region `c = H // 8;
   img[3c:7c, 2c:6c]`; box-downsample to 256 if larger; scale to [0, 255] (the official
   VGG input) which the LPIPS wrapper maps back to [-1, 1]; grayscale is repeated to RGB.
4. distance = LPIPS(img(t), img(t + eps)) / eps^2.
Finally the distances outside [1st percentile ('lower'), 99th percentile ('higher')] are
dropped and the rest averaged.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from metrics.lpips import LPIPS
from metrics.metric_utils import MetricOptions, box_downsample, compile_for, sample_labels

__all__ = ["compute_ppl", "crop_face", "filtered_mean", "get_lpips", "slerp"]


@functools.lru_cache(maxsize=2)
def get_lpips(weights: str | None = None) -> LPIPS:
    """A shared pretrained LPIPS per weight file."""
    return LPIPS.from_pretrained(weights)


def _normalize(v):
    return v / tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1, keepdims=True))


def slerp(a, b, t):
    """Official spherical interpolation of normalised vectors a, b ([N, D]) at t ([N, 1])."""
    a, b = _normalize(a), _normalize(b)
    d = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    p = t * tf.math.acos(d)
    c = _normalize(b - d * a)
    return _normalize(a * tf.cos(p) + c * tf.sin(p))


def crop_face(images, crop: bool = True):
    """The official face crop `c = H // 8; img[3c:7c, 2c:6c]` and the box downsample to 256."""
    x = images
    if crop:
        c = int(x.shape[1]) // 8
        x = x[:, c * 3 : c * 7, c * 2 : c * 6, :]
    if int(x.shape[1]) > 256:
        x = box_downsample(x, int(x.shape[1]) // 256)
    return x


def filtered_mean(distances) -> float:
    """Mean of the distances within [1st percentile ('lower'), 99th percentile ('higher')]."""
    d = np.asarray(distances, np.float64)
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(np.mean(d[(lo <= d) & (d <= hi)]))


def _ppl_step(G, lpips, space, epsilon, crop, lat, t, c, noise):
    """Distances [n] for one batch (see module docstring); runs inside tf.function for Keras G."""
    lat = tf.convert_to_tensor(lat, tf.float32)  # [2n, z_dim]
    t = tf.convert_to_tensor(t, tf.float32)  # [n]
    c2 = None if c is None else tf.repeat(tf.convert_to_tensor(c, tf.float32), 2, axis=0)
    c_pair = None if c is None else tf.concat([c, c], axis=0)
    if space == "w":
        dlat = tf.convert_to_tensor(G.mapping(lat, c2), tf.float32)  # [2n, num_ws, w_dim]
        d0, d1 = dlat[0::2], dlat[1::2]
        tt = t[:, None, None]
        e0 = d0 + (d1 - d0) * tt
        e1 = d0 + (d1 - d0) * (tt + epsilon)
        ws = tf.concat([e0, e1], axis=0)  # [2n, num_ws, w_dim]
    else:
        z0, z1 = lat[0::2], lat[1::2]
        tt = t[:, None]
        z = tf.concat([slerp(z0, z1, tt), slerp(z0, z1, tt + epsilon)], axis=0)
        ws = tf.convert_to_tensor(G.mapping(z, c_pair), tf.float32)
    if noise is None:
        images = G.synthesis(ws, noise_mode="const")
    else:
        shared = [tf.concat([x, x], axis=0) for x in noise]  # same noise for both endpoints
        images = G.synthesis(ws, noise=shared)
    images = crop_face(tf.convert_to_tensor(images, tf.float32), crop)
    images = (images + 1.0) * (255.0 / 2.0)  # official VGG input range
    if images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    x = images / 127.5 - 1.0  # LPIPS input range
    n = tf.shape(x)[0] // 2
    return lpips([x[:n], x[n:]]) * (1.0 / epsilon**2)


def compute_ppl(
    opts: MetricOptions,
    space: str,
    sampling: str,
    num_samples: int = 100_000,
    epsilon: float = 1e-4,
    crop: bool = True,
    lpips=None,
    return_distances: bool = False,
) -> dict:
    """Perceptual path length of `opts.G`.

    Args:
      opts: options; `opts.minibatch` pairs per batch, latents from `opts.seed`.
      space: "z" or "w".
      sampling: "full" (t ~ U(0, 1)) or "end" (t = 0).
      num_samples: number of pairs (official 100k).
      epsilon: path step (official 1e-4).
      crop: the official face crop (False = StyleGAN2's `ppl2` variant).
      lpips: distance model called as `lpips([x0, x1]) -> [n]` on [-1, 1] images; default
        the pretrained LPIPS-VGG16.
      return_distances: also return the raw [num_samples] distances.

    Returns:
      `{"ppl": value}` (plus `"distances"` if asked).
    """
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    if sampling not in ("full", "end"):
        raise ValueError(f"sampling must be 'full' or 'end', got {sampling!r}")
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
    G = opts.require_G("ppl")
    side = G.img_resolution // 8 * 4 if crop else G.img_resolution
    if side < 16:
        raise ValueError(
            f"PPL compares {side}x{side} crops of {G.img_resolution}x{G.img_resolution} images; "
            "LPIPS-VGG16 needs at least 16x16 (img_resolution >= 32 with the face crop)"
        )
    lpips = lpips if lpips is not None else get_lpips(opts.lpips_weights)
    n = opts.minibatch
    noise_shapes = None
    if hasattr(G.synthesis, "noise_shapes"):
        noise_shapes = [tuple(int(s) for s in shape) for shape in G.synthesis.noise_shapes(n)]
    step = compile_for(
        G,
        lambda lat, t, c, noise: _ppl_step(G, lpips, space, epsilon, crop, lat, t, c, noise),
    )
    rng = np.random.default_rng(opts.seed)
    out = []
    with opts.progress(num_samples, f"ppl_{space}{sampling}") as bar:
        for begin in range(0, num_samples, n):
            lat = rng.standard_normal([2 * n, G.z_dim]).astype(np.float32)
            t = rng.uniform(0.0, 1.0 if sampling == "full" else 0.0, size=[n]).astype(np.float32)
            c = sample_labels(rng, n, G.c_dim)
            noise = None
            if noise_shapes is not None:
                noise = [rng.standard_normal(shape).astype(np.float32) for shape in noise_shapes]
            d = np.asarray(step(lat, t, c, noise), np.float64)
            m = min(n, num_samples - begin)
            out.append(d[:m])
            bar.update(m)
    distances = np.concatenate(out)
    result = {"ppl": filtered_mean(distances)}
    if return_distances:
        result["distances"] = distances
    return result
