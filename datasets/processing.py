"""Real-image processing before the discriminator (official ``training_loop.process_reals``).

The official order: uint8 ``[0, 255]`` -> float ``[-1, 1]`` (``adjust_dynamic_range``), then
mirror augmentation (per-sample x-flip with probability 1/2), then ``FadeLOD``: during a fade-in
the reals are blended with their 2x2-box-downsampled-and-nearest-upsampled copy by ``1 - alpha``
(``lod - floor(lod)``), exactly as the generator output is blended with its upsampled
lower-resolution image. The official ``UpscaleLOD`` (nearest upscaling to full resolution) is not
needed because the networks here run at the stage resolution.

Tensors are channels-last ``[N, H, W, C]``. Randomness is passed in (``flip`` masks) so that the
caller controls it (stateless, replica-independent draws in the training step).

Example:
    >>> x = process_reals(batch_uint8, alpha=0.25, flip=tf.constant([True, False]))
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "DRANGE_DATA",
    "DRANGE_NET",
    "adjust_dynamic_range",
    "to_float",
    "mirror",
    "random_flip_mask",
    "fade_lod",
    "process_reals",
]

DRANGE_DATA = (0.0, 255.0)
DRANGE_NET = (-1.0, 1.0)


def adjust_dynamic_range(x, drange_in, drange_out):
    """Official ``misc.adjust_dynamic_range``: linear map of ``drange_in`` onto ``drange_out``."""
    if tuple(drange_in) == tuple(drange_out):
        return x
    scale = (drange_out[1] - drange_out[0]) / (drange_in[1] - drange_in[0])
    bias = drange_out[0] - drange_in[0] * scale
    return x * scale + bias


def to_float(x):
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]`` (``x * 2 / 255 - 1``)."""
    return adjust_dynamic_range(tf.cast(x, tf.float32), DRANGE_DATA, DRANGE_NET)


def mirror(x, flip):
    """Flip the images whose ``flip`` entry ``[N]`` (bool) is True along the width axis."""
    flip = tf.reshape(tf.cast(flip, tf.bool), [-1, 1, 1, 1])
    return tf.where(flip, tf.reverse(x, axis=[2]), x)


def random_flip_mask(batch_size, seed):
    """Stateless per-sample flip mask ``[N]``: ``U(0, 1) >= 0.5`` as in the official code."""
    return tf.random.stateless_uniform([batch_size], seed=seed) >= 0.5


def fade_lod(x, alpha):
    """``lerp(x, upsample(box_downsample(x)), 1 - alpha)``; ``alpha`` 1 returns ``x``.

    ``x`` float ``[N, H, W, C]`` with even ``H``, ``W``; ``alpha`` a float or scalar tensor.
    """
    if isinstance(alpha, (int, float)) and alpha >= 1.0:
        return x
    shape = tf.shape(x)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    y = tf.reshape(x, [n, h // 2, 2, w // 2, 2, c])  # [N, H/2, 2, W/2, 2, C]
    y = tf.reduce_mean(y, axis=[2, 4], keepdims=True)
    y = tf.tile(y, [1, 1, 2, 1, 2, 1])
    y = tf.reshape(y, shape)
    t = 1.0 - tf.clip_by_value(tf.cast(alpha, x.dtype), 0.0, 1.0)
    return x + (y - x) * t


def process_reals(x, alpha=1.0, flip=None):
    """uint8 reals at the stage resolution -> float ``[-1, 1]``, mirrored and faded.

    Args:
        x: uint8 (or float in ``[0, 255]``) ``[N, H, W, C]``.
        alpha: fade-in of the stage; the official ``lod - floor(lod)`` is ``1 - alpha``.
        flip: optional bool ``[N]`` mirror mask (None: no mirror augmentation).
    """
    x = to_float(x)
    if flip is not None:
        x = mirror(x, flip)
    if x.shape[1] is not None and x.shape[1] < 2:
        return x
    return fade_lod(x, alpha)
