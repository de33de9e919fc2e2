"""Pixel work of the dataset tool: decode, convert, fit to a square, downsample, encode.

numpy and Pillow only (no TensorFlow), so that the tool's worker processes start fast. The
conversion rules are documented for users in :mod:`datasets.dataset_tool` (and its ``--help``);
this module implements them:

- palette (``P``/``PA``) images are expanded to RGB, or RGBA when they carry transparency;
- an alpha channel is composited on black: ``rint(c * a / 255)``;
- 16-bit (``I;16*``) and 32-bit integer (``I``) images are scaled to 8 bits: ``rint(v / 257)``
  after clipping to ``0..65535``; 32-bit float (``F``) images are clipped to ``0..255`` and
  rounded;
- ``1`` (bilevel) becomes 0/255; CMYK, YCbCr, LAB and HSV use Pillow's ``convert("RGB")``;
- gray to RGB replicates the channel; RGB to gray is ITU-R 601-2 luma, Pillow's ``convert("L")``
  (``L = R * 299/1000 + G * 587/1000 + B * 114/1000``);
- numpy arrays: uint8 as is, uint16 as 16-bit, other integers must lie in ``0..255``, floats
  in ``[0, 1]`` become ``rint(x * 255)``; ``[H, W]`` is gray, ``[H, W, C]`` has C in 1, 3, 4.

Lower resolutions are the official cumulative 2x2 box average in float32, each level rounded
with ``np.rint().clip(0, 255).astype(np.uint8)`` (official ``dataset_tool.py`` L80-84).

Memory: conversions run in integers (or float32 where that is exact) on blocks of rows, so a
big photo costs about its decoded size, alpha or not. The integer forms give exactly the
float64 results the rules state: ``c * a / 255`` and ``v / 257`` are never halfway between two
integers (255 and 257 are odd), so ``rint`` is ``floor(x + 1/2)``: ``(c * a + 127) // 255`` and
``(v + 128) // 257`` (checked for every input value by the tests).
"""

from __future__ import annotations

import functools
import io
import zipfile

import numpy as np
from PIL import Image

__all__ = [
    "RESIZE_MODES",
    "RESAMPLE_FILTERS",
    "ImageProblem",
    "mode_channels",
    "open_image",
    "image_mode",
    "array_to_image",
    "to_uint8",
    "fit_square",
    "pyramid",
    "encode",
    "process_image",
]

RESIZE_MODES = ("center-crop", "letterbox", "stretch")
RESAMPLE_FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


class ImageProblem(Exception):
    """An image that cannot be read or converted (raised in worker processes, picklable)."""


def mode_channels(mode: str) -> int:
    """Channels a Pillow ``mode`` contributes to the automatic ``--channels``: 1 gray, 3 colour.

    Gray modes (``1``, ``L``, ``LA``, ``I``, ``I;16*``, ``F``) give 1; all others, palette
    images included, give 3.
    """
    return 1 if mode in _GRAY_MODES else 3


@functools.lru_cache(maxsize=4)
def _open_zip(path: str) -> zipfile.ZipFile:
    # One open handle per archive and process; workers read many members of the same file.
    return zipfile.ZipFile(path)


def _read_bytes(ref) -> bytes:
    kind = ref[0]
    if kind == "file":
        with open(ref[1], "rb") as f:
            return f.read()
    if kind == "zip":
        return _open_zip(ref[1]).read(ref[2])
    if kind == "bytes":
        return ref[1]
    raise ValueError(f"unknown image reference kind {kind!r}")


def open_image(ref) -> Image.Image:
    """Decode the image behind ``ref`` fully (so truncation is caught), as a Pillow image.

    ``ref`` is ``("file", path)``, ``("zip", archive, member)``, ``("bytes", data)`` or
    ``("array", ndarray)``. Raises :class:`ImageProblem` with a one-line reason.
    """
    if ref[0] == "array":
        return array_to_image(ref[1])
    try:
        img = Image.open(io.BytesIO(_read_bytes(ref)))
        img.load()
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        raise ImageProblem(f"cannot decode image: {type(e).__name__}: {e}") from None
    return img


def image_mode(ref) -> str:
    """Pillow mode of the image behind ``ref``, reading only its header when possible."""
    if ref[0] == "array":
        return array_to_image(ref[1]).mode
    try:
        if ref[0] == "file":
            stream = open(ref[1], "rb")  # Pillow reads the header only
        elif ref[0] == "zip":
            stream = _open_zip(ref[1]).open(ref[2])
        else:
            stream = io.BytesIO(_read_bytes(ref))
        with stream, Image.open(stream) as img:
            return img.mode
    except Exception as e:
        raise ImageProblem(f"cannot decode image: {type(e).__name__}: {e}") from None


def array_to_image(array: np.ndarray) -> Image.Image:
    """One image from a numpy array, under the array rules in the module docstring."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ImageProblem(
            f"array image has shape {list(np.shape(array))}; want [H, W] or [H, W, C] with C in 1, 3, 4"
        )
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = _by_rows(a, _sixteen_to_uint8)
    elif np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ImageProblem(f"integer array values lie in {a.min()}..{a.max()}, outside 0..255")
        a = a.astype(np.uint8) * (255 if a.dtype == np.bool_ else 1)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or (a.size and (a.min() < 0.0 or a.max() > 1.0)):
            raise ImageProblem("float array values must lie in [0, 1]")
        # float64 on purpose: x * 255 is exact there (not always in float32); rows keep it small.
        a = _by_rows(a, lambda x: np.rint(x.astype(np.float64) * 255.0).astype(np.uint8))
    else:
        raise ImageProblem(f"unsupported array dtype {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))  # uint8: L, RGB or RGBA from the shape


_BLOCK_BYTES = 1 << 20  # rows converted at a time: about this many bytes of input


def _block_rows(height: int, row_bytes: int) -> int:
    return max(1, min(height, _BLOCK_BYTES // max(row_bytes, 1)))


def _by_rows(a: np.ndarray, fn) -> np.ndarray:
    """``fn`` (elementwise, to uint8) applied to blocks of rows of ``a``, into one uint8 array."""
    if a.ndim == 0 or a.shape[0] == 0:
        return fn(a)
    out = np.empty(a.shape, np.uint8)
    step = _block_rows(a.shape[0], a[0].nbytes)
    for y in range(0, a.shape[0], step):
        out[y : y + step] = fn(a[y : y + step])
    return out


def _sixteen_to_uint8(v: np.ndarray) -> np.ndarray:
    # 16-bit values (clipped to 0..65535) -> uint8: rint(v / 257), as (v + 128) // 257.
    v = v.astype(np.int64 if v.dtype.itemsize > 4 else np.int32)
    np.clip(v, 0, 65535, out=v)
    v += 128
    v //= 257
    return v.astype(np.uint8)


def _composite_on_black(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # [h, W, C] uint8 and [h, W] uint8 -> [h, W, C] uint8: rint(c * a / 255), as
    # (c * a + 127) // 255 in uint16 (c * a + 127 <= 65152).
    out = color.astype(np.uint16)
    out *= alpha[..., None]
    out += 127
    out //= 255
    return out.astype(np.uint8)


def _pil_by_rows(img: Image.Image, channels: int, fn) -> np.ndarray:
    """``fn`` on blocks of rows of ``img`` (as numpy), into uint8 ``[H, W, channels]``: the
    full-size numpy copy of ``img`` is never made."""
    w, h = img.size
    out = np.empty((h, w, channels), np.uint8)
    bands = len(img.getbands())
    step = _block_rows(h, w * bands * 4)
    for y in range(0, h, step):
        block = np.asarray(img.crop((0, y, w, min(y + step, h))))
        out[y : y + step] = fn(block).reshape(-1, w, channels)
    return out


def to_uint8(img: Image.Image, channels: int) -> np.ndarray:
    """``img`` as uint8 ``[H, W, channels]`` (``channels`` 1 or 3) under the conversion rules."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("La", "RGBa"):  # premultiplied alpha: undo it first, then composite like others
        img = img.convert("LA" if mode == "La" else "RGBA")
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        arr = _pil_by_rows(img, 1, _sixteen_to_uint8)
    elif mode == "F":
        # float32 is exact here: clipping and rounding a float32 value give float32 values.
        arr = _pil_by_rows(
            img, 1, lambda v: np.rint(np.clip(v.astype(np.float32), 0, 255)).astype(np.uint8)
        )
    elif mode == "1":
        arr = np.asarray(img, dtype=np.uint8)[..., None] * np.uint8(255)
    elif mode == "L":
        arr = np.asarray(img, dtype=np.uint8)[..., None]
    elif mode in ("LA", "RGBA"):
        arr = _pil_by_rows(
            img, len(mode) - 1, lambda x: _composite_on_black(x[..., :-1], x[..., -1])
        )
    elif mode == "RGB":
        arr = np.asarray(img, dtype=np.uint8)
    else:  # CMYK, YCbCr, LAB, HSV, RGBX, ...
        try:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except Exception as e:
            raise ImageProblem(f"cannot convert mode {mode!r} to RGB: {e}") from None
    if arr.shape[-1] == channels:
        return np.ascontiguousarray(arr)
    if channels == 3:
        return np.ascontiguousarray(np.repeat(arr, 3, axis=-1))
    return np.asarray(Image.fromarray(arr).convert("L"), dtype=np.uint8)[..., None]


def fit_square(arr: np.ndarray, resolution: int, resize_mode: str, resample: str) -> np.ndarray:
    """Bring uint8 ``[H, W, C]`` to ``[resolution, resolution, C]``.

    ``center-crop`` takes the central ``min(H, W)`` square (offsets rounded down) and resizes
    it; ``letterbox`` scales the longer side to ``resolution`` (keeping the aspect ratio) and
    pastes the image centered (offsets rounded down) on a black canvas, as the official
    ``create_lsun_wide`` does for cars 512x384; ``stretch`` resizes to the square directly.
    Images already of the target size are never resampled.
    """
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
    h, w, c = arr.shape
    r = resolution
    flt = RESAMPLE_FILTERS[resample]
    img = Image.fromarray(np.ascontiguousarray(arr[..., 0]) if c == 1 else arr)  # L or RGB
    if resize_mode == "center-crop":
        s = min(h, w)
        left, top = (w - s) // 2, (h - s) // 2
        if (h, w) != (s, s):
            img = img.crop((left, top, left + s, top + s))
        if s != r:
            img = img.resize((r, r), flt)
    elif resize_mode == "stretch":
        if (h, w) != (r, r):
            img = img.resize((r, r), flt)
    else:  # letterbox
        m = max(h, w)
        nw, nh = max(1, (w * r + m // 2) // m), max(1, (h * r + m // 2) // m)
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), flt)
        canvas = np.zeros((r, r, c), np.uint8)
        top, left = (r - nh) // 2, (r - nw) // 2
        canvas[top : top + nh, left : left + nw] = np.asarray(img, np.uint8).reshape(nh, nw, c)
        return canvas
    return np.asarray(img, np.uint8).reshape(r, r, c)


def pyramid(image: np.ndarray, min_resolution: int = 4) -> list[np.ndarray]:
    """uint8 ``[R, R, C]`` -> ``[R², (R/2)², ..., min²]`` as the official tool makes them.

    Each level averages 2x2 blocks of the previous level's float32 values (not of the rounded
    ones), then rounds: ``np.rint(img).clip(0, 255).astype(np.uint8)``.
    """
    levels = [image]
    img = image
    while levels[-1].shape[0] > min_resolution:
        img = img.astype(np.float32)
        img = (img[0::2, 0::2] + img[0::2, 1::2] + img[1::2, 0::2] + img[1::2, 1::2]) * 0.25
        levels.append(np.rint(img).clip(0, 255).astype(np.uint8))
    return levels


def encode(image: np.ndarray, encoding: str) -> bytes:
    """Record payload of uint8 ``[H, W, C]``: raw CHW bytes (official) or a PNG of the image."""
    if encoding == "raw":
        return np.ascontiguousarray(image.transpose(2, 0, 1)).tobytes()
    if encoding == "png":
        buf = io.BytesIO()
        c = image.shape[-1]
        Image.fromarray(np.ascontiguousarray(image[..., 0]) if c == 1 else image).save(
            buf, format="PNG", compress_level=6
        )
        return buf.getvalue()
    raise ValueError(f"encoding must be 'raw' or 'png', got {encoding!r}")


def process_image(ref, *, resolution, channels, resize_mode, resample, encoding):
    """Worker entry: one source image -> ``(True, [payload at R, R/2, ..., 4])``.

    Returns ``(False, reason)`` instead of raising for a bad image, so that a pool keeps going
    and the caller decides whether to skip it.
    """
    try:
        arr = to_uint8(open_image(ref), channels)
        square = fit_square(arr, resolution, resize_mode, resample)
        return True, [encode(level, encoding) for level in pyramid(square)]
    except ImageProblem as e:
        return False, str(e)
    except Exception as e:  # anything else a strange file provokes in Pillow or numpy
        return False, f"cannot process image: {type(e).__name__}: {e}"


def scan_mode(ref):
    """Worker entry for the channel scan: ``(True, mode)`` or ``(False, reason)``."""
    try:
        return True, image_mode(ref)
    except ImageProblem as e:
        return False, str(e)
    except Exception as e:
        return False, f"cannot decode image: {type(e).__name__}: {e}"
