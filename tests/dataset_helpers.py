"""Shared helpers of the dataset tests: test images, independent expected pixels, TFRecord I/O.

Everything here is computed without :mod:`datasets` (Pillow, numpy and plain TensorFlow
parsing), so that the tests compare the tool and the reader against independent results.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rng_image(seed: int, h: int, w: int, c: int) -> np.ndarray:
    """Random uint8 ``[h, w, c]`` (``[h, w]`` for c == 0)."""
    shape = (h, w) if c == 0 else (h, w, c)
    return np.random.RandomState(seed).randint(0, 256, shape).astype(np.uint8)


def make_mixed_folder(root: str) -> dict[str, Image.Image]:
    """PNGs of mixed modes and sizes under ``root`` (one in a subfolder); returns name -> image."""
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    palette_t = Image.fromarray(rng_image(7, 16, 16, 3)).quantize(colors=8)
    palette_t.info["transparency"] = 0  # palette entry 0 is transparent
    images = {
        "a_rgb.png": Image.fromarray(rng_image(1, 16, 16, 3)),
        "b_rgba.png": Image.fromarray(rng_image(2, 16, 16, 4)),
        "c_gray.png": Image.fromarray(rng_image(3, 16, 16, 0)),
        "d_wide.png": Image.fromarray(rng_image(4, 200, 300, 3)),  # 300 x 200
        "sub/e_palette.png": Image.fromarray(rng_image(5, 16, 16, 3)).quantize(colors=16),
        "sub/f_gray16.png": Image.fromarray(
            np.random.RandomState(6).randint(0, 65536, (16, 16)).astype(np.uint16)
        ),
        "sub/g_palette_alpha.png": palette_t,
    }
    for name, img in images.items():
        img.save(os.path.join(root, name), **({"transparency": 0} if "alpha" in name else {}))
    # What the tool will decode (the saved files, not the in-memory objects).
    return {name: Image.open(os.path.join(root, name)) for name in images}


def expected_rgb_or_gray(img: Image.Image, channels: int) -> np.ndarray:
    """The documented mode rules, re-derived directly: uint8 ``[H, W, channels]``."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode == "I;16":
        arr = np.asarray(img).astype(np.float64)
        rgb_or_l = np.rint(arr / 257.0).astype(np.uint8)[..., None]
    elif img.mode == "RGBA":
        a = np.asarray(img).astype(np.float64)
        rgb_or_l = np.rint(a[..., :3] * a[..., 3:4] / 255.0).astype(np.uint8)
    elif img.mode == "L":
        rgb_or_l = np.asarray(img)[..., None]
    else:
        rgb_or_l = np.asarray(img.convert("RGB"))
    if rgb_or_l.shape[-1] == channels:
        return rgb_or_l
    if channels == 3:
        return np.concatenate([rgb_or_l] * 3, axis=-1)
    return np.asarray(Image.fromarray(rgb_or_l, "RGB").convert("L"))[..., None]


def expected_center_crop(
    arr: np.ndarray, res: int, resample=Image.Resampling.LANCZOS
) -> np.ndarray:
    """Central square crop then Pillow resize, for uint8 ``[H, W, C]``."""
    h, w, c = arr.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = arr[top : top + s, left : left + s]
    if s == res:
        return crop
    img = Image.fromarray(crop[..., 0] if c == 1 else crop)
    return np.asarray(img.resize((res, res), resample)).reshape(res, res, c)


def box_average(top: np.ndarray, res: int) -> np.ndarray:
    """``[R, R, C]`` uint8 -> ``[res, res, C]``: rint of the mean of each (R/res)² block."""
    r, _, c = top.shape
    f = r // res
    means = top.astype(np.float64).reshape(res, f, res, f, c).mean(axis=(1, 3))
    return np.rint(means).clip(0, 255).astype(np.uint8)


def official_pyramid(top: np.ndarray) -> dict[int, np.ndarray]:
    """The official dataset_tool's levels, written out as in its L80-84 (float32 cumulative)."""
    out = {top.shape[0]: top}
    img = top.transpose(2, 0, 1)  # CHW, as the official code
    while img.shape[1] > 4:
        img = img.astype(np.float32)
        img = (
            img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]
        ) * 0.25
        out[img.shape[1]] = np.rint(img).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    return out


def read_records(files: list[str]) -> list[tuple[list[int], bytes]]:
    """``(shape, data)`` of every record in ``files``, parsed with plain TensorFlow."""
    import tensorflow as tf

    spec = {
        "shape": tf.io.FixedLenFeature([3], tf.int64),
        "data": tf.io.FixedLenFeature([], tf.string),
    }
    out = []
    for rec in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(rec, spec)
        out.append(([int(v) for v in ex["shape"].numpy()], ex["data"].numpy()))
    return out


def decode_record(shape: list[int], data: bytes, encoding: str) -> np.ndarray:
    """uint8 ``[H, W, C]`` from a record's ``shape`` and ``data``."""
    c, h, w = shape
    if encoding == "raw":
        return np.frombuffer(data, np.uint8).reshape(c, h, w).transpose(1, 2, 0)
    img = np.asarray(Image.open(io.BytesIO(data)))
    return img.reshape(h, w, c)


def read_resolution(path: str, manifest: dict, res: int) -> np.ndarray:
    """All images of one resolution of a dataset made by the tool, in record order, NHWC."""
    files = [os.path.join(path, s["file"]) for s in manifest["shards"][str(res)]["shards"]]
    recs = read_records(files)
    for shape, _ in recs:
        assert shape == [manifest["channels"], res, res]
    return np.stack([decode_record(s, d, manifest["encoding"]) for s, d in recs])


def write_official_dataset(
    folder: str, images: np.ndarray, labels: np.ndarray | None = None
) -> None:
    """An official-layout dataset (``NAME-rXX.tfrecords``, ``NAME-rxx.labels``) of NHWC uint8."""
    import tensorflow as tf

    os.makedirs(folder)
    name = os.path.basename(folder)
    pyramids = [official_pyramid(img) for img in images]
    for res in pyramids[0]:
        path = os.path.join(folder, f"{name}-r{res.bit_length() - 1:02d}.tfrecords")
        with tf.io.TFRecordWriter(path) as w:
            for pyr in pyramids:
                chw = pyr[res].transpose(2, 0, 1)
                ex = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "shape": tf.train.Feature(
                                int64_list=tf.train.Int64List(value=chw.shape)
                            ),
                            "data": tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[chw.tobytes()])
                            ),
                        }
                    )
                )
                w.write(ex.SerializeToString())
    if labels is not None:
        with open(os.path.join(folder, f"{name}-rxx.labels"), "wb") as f:
            np.save(f, labels.astype(np.float32))


def id_images(n: int, res: int, channels: int) -> np.ndarray:
    """``n`` images whose left half is ``i`` and right half ``255 - i``: ids survive box
    averaging down to 4x4, and a left-right flip is visible. ``n <= 120``."""
    assert n <= 120
    out = np.zeros([n, res, res, channels], np.uint8)
    for i in range(n):
        out[i, :, : res // 2] = i
        out[i, :, res // 2 :] = 255 - i
    return out


def image_ids(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, flipped) of :func:`id_images` batches."""
    left, right = batch[:, 0, 0, 0].astype(int), batch[:, 0, -1, 0].astype(int)
    return np.minimum(left, right), left > right


def run_tool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m datasets.dataset_tool ARGS`` in a subprocess, from the repository root."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "datasets.dataset_tool", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are the tool's errors."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]
