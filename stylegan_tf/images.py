"""Image utilities: float -> uint8 conversion (official rounding), grids, atomic PNG/GIF writes.

The official ``convert_images_to_uint8`` (docs/official-semantics.md#metrics) has one home per
backend: :func:`to_uint8` for numpy and :func:`to_uint8_tf` inside TensorFlow graphs (SavedModel
signatures, metric sampling); they give identical bytes.

Images are channels-last: one image ``[H, W, C]``, a batch ``[N, H, W, C]`` with ``C`` 1 or 3.
Float images are in ``drange`` (default ``(-1, 1)``, the generator's output range); uint8
images are passed through unchanged.

Example:
    >>> imgs = G(z, noise_mode="const")              # [N, H, W, C] float about [-1, 1]
    >>> save_image_grid(imgs, "fakes.png")           # near-square grid, PNG written atomically
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from stylegan_tf.files import atomic_write


def to_uint8(images, drange=(-1, 1)) -> np.ndarray:
    """Float images in ``drange`` -> uint8 as the official ``convert_images_to_uint8`` does.

    ``x * 255 / (hi - lo) + (0.5 - lo * 255 / (hi - lo))`` then a saturating cast that truncates,
    i.e. ``x * 127.5 + 128`` clipped to ``[0, 255]`` for ``drange=(-1, 1)`` (round half up).
    uint8 input is returned unchanged. Accepts numpy arrays and tensors.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    lo, hi = float(drange[0]), float(drange[1])
    if not hi > lo:
        raise ValueError(f"drange must be (low, high) with high > low, got {drange!r}")
    scale = 255.0 / (hi - lo)
    x = images.astype(np.float32) * np.float32(scale) + np.float32(0.5 - lo * scale)
    return np.floor(np.clip(x, 0.0, 255.0)).astype(np.uint8)


def to_uint8_tf(images):
    """:func:`to_uint8` for ``[-1, 1]`` images as TensorFlow ops: ``x * 127.5 + 128``, clipped to
    ``[0, 255]``, truncating cast (the official ``saturate_cast``).

    Clip-then-cast rather than ``tf.saturate_cast`` so that a converted SavedModel uses TFLite
    builtin ops only. TensorFlow is imported here, not at module level, so that this module stays
    light for callers that only need numpy.
    """
    import tensorflow as tf

    x = tf.cast(images, tf.float32) * 127.5 + 128.0
    return tf.cast(tf.minimum(tf.maximum(x, 0.0), 255.0), tf.uint8)


def grid_shape(num_images: int, grid_size=None) -> tuple:
    """``(columns, rows)`` of a grid holding ``num_images``; default near-square."""
    if num_images < 1:
        raise ValueError(f"need at least one image, got {num_images}")
    if grid_size is None:
        cols = int(math.ceil(math.sqrt(num_images)))
        rows = int(math.ceil(num_images / cols))
        return cols, rows
    cols, rows = (int(v) for v in grid_size)
    if cols < 1 or rows < 1 or cols * rows < num_images:
        raise ValueError(
            f"grid_size (columns, rows)={tuple(grid_size)!r} cannot hold {num_images} images"
        )
    return cols, rows


def make_grid(images, grid_size=None, drange=(-1, 1)) -> np.ndarray:
    """Tile ``[N, H, W, C]`` images row-major into one uint8 ``[rows*H, cols*W, C]`` image.

    ``grid_size`` is ``(columns, rows)`` (the official ``(gw, gh)``); empty cells are black.
    """
    images = to_uint8(images, drange)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    n, h, w, c = images.shape
    cols, rows = grid_shape(n, grid_size)
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = images[i]
    return grid


def _pil_image(image) -> Image.Image:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return Image.fromarray(image, "L")
    if image.ndim == 3 and image.shape[-1] == 3:
        return Image.fromarray(image, "RGB")
    raise ValueError(f"expected an [H, W], [H, W, 1] or [H, W, 3] image, got {image.shape}")


def save_image(image, path, drange=(-1, 1)) -> str:
    """Save one ``[H, W, C]`` image (uint8, or float in ``drange``) as a PNG, atomically."""
    pil = _pil_image(to_uint8(image, drange))
    return atomic_write(path, lambda tmp: pil.save(tmp, format="PNG"))


def save_image_grid(images, path, grid_size=None, drange=(-1, 1)) -> str:
    """Save ``[N, H, W, C]`` images (uint8, or float in ``drange``) as one PNG grid, atomically.

    ``grid_size`` is ``(columns, rows)``; default near-square. Returns the path.
    """
    return save_image(make_grid(images, grid_size, drange), path)


def save_gif(frames, path, duration_ms=40, loop=0, drange=(-1, 1)) -> str:
    """Save ``[T, H, W, C]`` frames as an animated GIF (Pillow), atomically."""
    frames = to_uint8(frames, drange)
    if frames.ndim != 4 or len(frames) < 1:
        raise ValueError(f"frames must be [T, H, W, C] with T >= 1, got shape {frames.shape}")
    pils = [_pil_image(f) for f in frames]

    def write(tmp):
        pils[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=pils[1:],
            duration=int(duration_ms),
            loop=int(loop),
        )

    return atomic_write(path, write)


def load_image(path) -> np.ndarray:
    """Read a PNG/GIF (first frame) as uint8 ``[H, W, C]``."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L") if im.mode in ("L", "1") else im.convert("RGB"))
    return arr[..., None] if arr.ndim == 2 else arr
