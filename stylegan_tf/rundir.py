"""The names inside a training run directory, and the one checkpoint lookup.

Layout of a run directory (exactly the ``--outdir`` given)::

    training_options.json                resolved Config + command-line options
    stats.jsonl                          one JSON object per tick
    events.out.tfevents.*                TensorBoard
    reals.png, fakes000000.000.png ...   image grids, named by kimg seen (3 decimals)
    network-snapshot-000012.480.keras    G_ema snapshots, named the same way
    checkpoints/ckpt-<images seen>.*     tf.train.CheckpointManager checkpoints
    saved_model/                         inference SavedModel of the final G_ema
    metric-<name>.jsonl                  metric results per snapshot (with --metrics)

Grid and snapshot names carry the images seen as ``{kimg:010.3f}`` (``000012.480`` = 12,480
images), so two ticks never share a name and the names sort in training order. Snapshots named
by integer kimg (``network-snapshot-000070.keras``, before this naming) are still found.

No TensorFlow at import time: :mod:`stylegan_tf.loading` and the command lines use it.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "OPTIONS_FILE",
    "STATS_FILE",
    "CHECKPOINT_DIR",
    "SAVED_MODEL_DIR",
    "SNAPSHOT_PREFIX",
    "GRID_PREFIX",
    "REALS_GRID",
    "kimg_label",
    "snapshot_name",
    "grid_name",
    "list_snapshots",
    "list_checkpoints",
    "find_checkpoints",
]

OPTIONS_FILE = "training_options.json"
STATS_FILE = "stats.jsonl"
CHECKPOINT_DIR = "checkpoints"
SAVED_MODEL_DIR = "saved_model"
SNAPSHOT_PREFIX = "network-snapshot-"
GRID_PREFIX = "fakes"
REALS_GRID = "reals.png"

_SNAPSHOT_RE = re.compile(rf"^{SNAPSHOT_PREFIX}(\d+)(?:\.(\d{{3}}))?\.keras$")
_CKPT_INDEX_RE = re.compile(r"^(?P<prefix>.*?-(?P<n>\d+))\.index$")


def kimg_label(cur_nimg: int) -> str:
    """Images seen as ``{kimg:010.3f}`` computed exactly from the integer: ``12480 -> 000012.480``."""
    cur_nimg = int(cur_nimg)
    return f"{cur_nimg // 1000:06d}.{cur_nimg % 1000:03d}"


def snapshot_name(cur_nimg: int) -> str:
    """``network-snapshot-{kimg_label}.keras``."""
    return f"{SNAPSHOT_PREFIX}{kimg_label(cur_nimg)}.keras"


def grid_name(cur_nimg: int) -> str:
    """``fakes{kimg_label}.png``."""
    return f"{GRID_PREFIX}{kimg_label(cur_nimg)}.png"


def list_snapshots(run_dir: str) -> list[str]:
    """The run's ``network-snapshot-*.keras`` paths, oldest first (by images seen)."""
    try:
        names = os.listdir(run_dir)
    except OSError:
        return []
    found = []
    for name in names:
        m = _SNAPSHOT_RE.match(name)
        if m:
            nimg = int(m.group(1)) * 1000 + int(m.group(2) or 0)
            found.append((nimg, m.group(2) is not None, name))
    return [os.path.join(run_dir, name) for *_, name in sorted(found)]


def list_checkpoints(directory: str) -> list[str]:
    """Checkpoint prefixes (``<dir>/ckpt-N`` with a ``.index`` file) in ``directory``, newest
    first (highest N; the training loop numbers checkpoints by images seen)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        m = _CKPT_INDEX_RE.match(name)
        if m and os.path.isfile(os.path.join(directory, name)):
            found.append((int(m.group("n")), m.group("prefix")))
    return [os.path.join(directory, prefix) for _, prefix in sorted(found, reverse=True)]


def find_checkpoints(path: str) -> list[str]:
    """Checkpoint prefixes that ``path`` names, newest first (empty if none).

    ``path`` is looked up in this order: a checkpoint prefix (``<run>/checkpoints/ckpt-N``, for
    which ``<prefix>.index`` exists), a checkpoint directory, a run directory (its
    ``checkpoints/``).
    """
    path = os.fspath(path)
    if os.path.isfile(path + ".index"):
        return [path]
    for directory in (path, os.path.join(path, CHECKPOINT_DIR)):
        found = list_checkpoints(directory)
        if found:
            return found
    return []
