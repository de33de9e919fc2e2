"""File names and constants of the on-disk dataset format, shared by the writer and the reader.

A dataset is a folder ``NAME/`` holding, for every resolution ``4 ... R`` (``XX = log2(res)``):

- ``NAME-rXX.tfrecords`` when the resolution has one shard (the official layout, readable by
  the official StyleGAN TF1 code when the encoding is ``raw``), otherwise
  ``NAME-rXX-SSSSS-of-KKKKK.tfrecords``. Each record is a ``tf.train.Example`` with ``shape``
  (int64 ``[C, H, W]``) and ``data`` (bytes: raw uint8 CHW, or a PNG of the HxWxC image);
- ``NAME-rxx.labels``: optional, ``np.save`` of float32 ``[N, label_dim]`` in record order
  (the official name and format);
- ``dataset.json``: the manifest (counts, shards with sha256, labels, options, skipped files).

Records appear in the same order at every resolution, and that order is the label order.
"""

from __future__ import annotations

import re

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "TOOL_NAME",
    "TOOL_VERSION",
    "ENCODINGS",
    "MIN_RESOLUTION",
    "SHARD_PATTERN",
    "shard_filename",
    "labels_filename",
    "log2_resolution",
]

FORMAT_NAME = "stylegan-tf/multires-tfrecords"
FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
TOOL_NAME = "datasets.dataset_tool"
TOOL_VERSION = "1.0.0"
ENCODINGS = ("raw", "png")
MIN_RESOLUTION = 4

# NAME-rXX.tfrecords (official) or NAME-rXX-SSSSS-of-KKKKK.tfrecords (sharded).
SHARD_PATTERN = re.compile(
    r"^(?P<name>.+)-r(?P<log2>\d\d)(?:-(?P<index>\d+)-of-(?P<count>\d+))?\.tfrecords$"
)


def log2_resolution(resolution: int) -> int:
    """``log2(resolution)`` for a power of two; ``ValueError`` quoting the value otherwise."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive power of two, got {resolution!r}")
    if resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two, got {resolution!r}")
    return resolution.bit_length() - 1


def shard_filename(name: str, resolution: int, index: int, count: int) -> str:
    """File name of shard ``index`` of ``count`` at ``resolution`` (official name if ``count == 1``)."""
    log2 = log2_resolution(resolution)
    if count == 1:
        return f"{name}-r{log2:02d}.tfrecords"
    return f"{name}-r{log2:02d}-{index:05d}-of-{count:05d}.tfrecords"


def labels_filename(name: str) -> str:
    """The official label file name, ``NAME-rxx.labels`` (literally ``rxx``)."""
    return f"{name}-rxx.labels"
