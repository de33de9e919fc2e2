"""What a run writes: checkpoints, stats, TensorBoard events, image grids, network snapshots.

Layout of a run directory (exactly the ``--outdir`` given)::

    training_options.json          resolved Config + command-line options
    stats.jsonl                    one JSON object per tick
    events.out.tfevents.*          TensorBoard (Loss/*, Progress/*, Timing/*, LR/*, Resources/*,
                                   Images/fakes)
    reals.png, fakes000000.png ... image grids (fakes from G_ema on fixed latents)
    network-snapshot-000012.keras  G_ema snapshots (written to a temporary file, then renamed)
    checkpoints/                   tf.train.CheckpointManager: G, D, G_ema, optimizers, counters
    saved_model/                   inference SavedModel of the final G_ema
    metric-<name>.jsonl            metric results per snapshot (with --metrics)
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil

import numpy as np
import tensorflow as tf

from stylegan_tf.files import atomic_write
from stylegan_tf.images import make_grid, save_image_grid

__all__ = [
    "OPTIONS_FILE",
    "STATS_FILE",
    "CHECKPOINT_DIR",
    "SAVED_MODEL_DIR",
    "snapshot_name",
    "grid_size_for",
    "upscale_to",
    "peak_rss_mb",
    "CheckpointWriter",
    "RunLog",
    "save_network_snapshot",
    "latest_snapshot",
    "write_json_atomic",
    "format_duration",
]

OPTIONS_FILE = "training_options.json"
STATS_FILE = "stats.jsonl"
CHECKPOINT_DIR = "checkpoints"
SAVED_MODEL_DIR = "saved_model"
SNAPSHOT_PREFIX = "network-snapshot-"


def snapshot_name(cur_nimg: int) -> str:
    """``network-snapshot-{kimg:06d}.keras`` (official naming, integer kimg)."""
    return f"{SNAPSHOT_PREFIX}{cur_nimg // 1000:06d}.keras"


def latest_snapshot(run_dir: str) -> str | None:
    """Path of the snapshot with the highest kimg in ``run_dir`` (None if there is none)."""
    if not os.path.isdir(run_dir):
        return None
    names = sorted(
        f for f in os.listdir(run_dir) if f.startswith(SNAPSHOT_PREFIX) and f.endswith(".keras")
    )
    return os.path.join(run_dir, names[-1]) if names else None


def grid_size_for(resolution: int, max_images: int = 256) -> tuple:
    """Official 4k grid ``(gw, gh) = (clip(3840 // W, 7, 32), clip(2160 // H, 4, 32))``,
    halved until it holds at most ``max_images`` (CPU-friendly at small resolutions)."""
    gw = int(np.clip(3840 // resolution, 7, 32))
    gh = int(np.clip(2160 // resolution, 4, 32))
    while gw * gh > max_images and (gw > 1 or gh > 1):
        gw, gh = max(gw // 2, 1), max(gh // 2, 1)
    return gw, gh


def upscale_to(images, resolution: int):
    """Nearest-neighbour upscale ``[N, r, r, C]`` to ``resolution`` (the official UpscaleLOD)."""
    images = np.asarray(images)
    factor = resolution // images.shape[1]
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    return images


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def format_duration(seconds: float) -> str:
    """``1d 02h 03m``, ``02h 03m 04s``, ``03m 04s`` or ``4s``."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(max(seconds, 0)))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h:02d}h {m:02d}m"
    if h:
        return f"{h:02d}h {m:02d}m {s:02d}s"
    if m:
        return f"{m:02d}m {s:02d}s"
    return f"{s}s"


def write_json_atomic(path: str, data) -> str:
    """Write ``data`` as indented JSON to ``path`` through a temporary file + rename."""

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")

    return atomic_write(path, write)


class CheckpointWriter:
    """``tf.train.CheckpointManager`` in ``<run>/checkpoints`` named by images seen.

    In a multi-worker cluster every worker must save (the chief into the run directory, the
    others into a temporary directory that is removed again), as TensorFlow requires.
    """

    def __init__(
        self,
        checkpoint,
        run_dir: str,
        chief: bool = True,
        worker: str = "local",
        max_to_keep: int = 3,
    ):
        self.directory = os.path.join(run_dir, CHECKPOINT_DIR)
        self.chief = chief
        directory = self.directory if chief else os.path.join(self.directory, f".tmp-{worker}")
        self.manager = tf.train.CheckpointManager(
            checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name="ckpt"
        )

    def save(self, cur_nimg: int) -> str:
        path = self.manager.save(checkpoint_number=int(cur_nimg))
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
        return path

    @property
    def latest(self) -> str | None:
        return tf.train.latest_checkpoint(self.directory)


def save_network_snapshot(G, path: str) -> str:
    """Save ``G`` as a ``.keras`` file atomically (temporary sibling + rename)."""
    return atomic_write(path, G.save)


class RunLog:
    """Per-tick logging: ``stats.jsonl``, TensorBoard scalars and images, the progress line.

    Only the chief writes files; other workers get a log that does nothing.
    """

    SCALAR_TAGS = (
        "Loss/G",
        "Loss/D",
        "Loss/R1",
        "Progress/resolution",
        "Progress/alpha",
        "Progress/kimg",
        "Timing/sec_per_kimg",
        "Timing/img_per_sec",
        "LR/G",
        "LR/D",
        "Resources/peak_memory_mb",
    )

    def __init__(self, run_dir: str, enabled: bool = True, print_fn=print):
        self.run_dir = run_dir
        self.enabled = enabled
        self.print_fn = print_fn if enabled else (lambda *a, **k: None)
        self.writer = tf.summary.create_file_writer(run_dir) if enabled else None

    def print(self, *args):
        if self.print_fn is print:
            print(*args, flush=True)
        else:
            self.print_fn(*args)

    def tick(self, row: dict, step: int):
        """Append ``row`` to stats.jsonl and write its numbers as TensorBoard scalars."""
        if not self.enabled:
            return
        with open(os.path.join(self.run_dir, STATS_FILE), "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        with self.writer.as_default(step=step):
            for tag, value in row.items():
                if "/" in tag and isinstance(value, (int, float)) and not isinstance(value, bool):
                    tf.summary.scalar(tag, float(value))
        self.writer.flush()

    def metric(self, name: str, result: dict, step: int):
        """Append a metric result to ``metric-<name>.jsonl`` and TensorBoard ``Metrics/*``."""
        if not self.enabled:
            return
        with open(os.path.join(self.run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(result, sort_keys=True, default=str) + "\n")
        with self.writer.as_default(step=step):
            for key, value in (result.get("results") or {}).items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"Metrics/{key}", float(value))
        self.writer.flush()

    def grid(self, images, path: str | None, grid_size, step: int, tag: str = "Images/fakes"):
        """Save a PNG grid (if ``path``) and log it to TensorBoard under ``tag``."""
        if not self.enabled:
            return
        if path is not None:
            save_image_grid(images, path, grid_size=grid_size)
        grid = make_grid(images, grid_size=grid_size)  # uint8 [H, W, C]
        with self.writer.as_default(step=step):
            tf.summary.image(tag, grid[None], max_outputs=1)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
