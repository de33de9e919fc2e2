"""What a run writes: checkpoints, stats, TensorBoard events, image grids, network snapshots,
and the per-tick report (the ``stats.jsonl`` row and the console line).

The names inside a run directory live in :mod:`stylegan_tf.rundir` (re-exported here).
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from stylegan_tf.files import DirLock, LockedError, atomic_write, remove_stale_temps
from stylegan_tf.images import make_grid, save_image_grid
from stylegan_tf.rundir import (
    CHECKPOINT_DIR,
    OPTIONS_FILE,
    REALS_GRID,
    SAVED_MODEL_DIR,
    STATS_FILE,
    find_checkpoints,
    grid_name,
    list_checkpoints,
    snapshot_name,
)

__all__ = [
    "OPTIONS_FILE",
    "STATS_FILE",
    "CHECKPOINT_DIR",
    "SAVED_MODEL_DIR",
    "REALS_GRID",
    "snapshot_name",
    "grid_name",
    "grid_size_for",
    "upscale_to",
    "peak_rss_mb",
    "CheckpointWriter",
    "RunLog",
    "save_network_snapshot",
    "write_json_atomic",
    "format_duration",
    "tick_row",
    "tick_line",
    "WALL_TIME_FIELDS",
    "truncate_stats",
    "remove_stale_checkpoint_temps",
    "RunDir",
    "RunDirError",
    "open_run_dir",
]

# stats.jsonl fields that measure wall time or memory (they differ between two identical runs).
WALL_TIME_FIELDS = ("Timing/", "Resources/", "timestamp")


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


def remove_stale_checkpoint_temps(checkpoint_dir: str, log=print) -> list[str]:
    """Remove the ``ckpt-N_temp/`` folders that a checkpoint write killed midway leaves in
    ``checkpoint_dir`` (TensorFlow writes the shards there, then renames them); call it only
    while holding the run directory's lock. Returns the removed paths."""
    removed = []
    try:
        names = sorted(os.listdir(checkpoint_dir))
    except OSError:
        return removed
    for name in names:
        path = os.path.join(checkpoint_dir, name)
        if name.endswith("_temp") and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log(f"removed {path}, an unfinished checkpoint write of an earlier run")
    return removed


def truncate_stats(run_dir: str, cur_tick: int) -> int:
    """Drop the ``stats.jsonl`` rows after tick ``cur_tick`` (written after the checkpoint a run
    resumes from, so the resumed run writes them again). Returns the number of rows dropped."""
    path = os.path.join(run_dir, STATS_FILE)
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    keep = []
    for line in lines:
        try:
            tick = json.loads(line).get("tick", 0)
        except ValueError:
            continue  # a line cut by a kill
        if tick <= cur_tick:
            keep.append(line if line.endswith("\n") else line + "\n")
    if len(keep) != len(lines):

        def write(tmp):
            with open(tmp, "w") as f:
                f.writelines(keep)

        atomic_write(path, write)
    return len(lines) - len(keep)


def tick_row(
    *,
    tick: int,
    cur_nimg: int,
    sched,
    loss: str,
    means: dict,
    nonfinite,
    tick_nimg: int,
    tick_sec: float,
    compile_sec: float,
    maintenance_sec: float,
    total_sec: float,
    checkpoint: str,
) -> dict:
    """The ``stats.jsonl`` row (and TensorBoard scalars) of a finished tick.

    ``tick_sec`` is the tick's wall time and ``compile_sec`` the part of it spent building and
    compiling steps for new stages; ``Timing/sec_per_kimg`` and ``Timing/img_per_sec`` measure
    training alone (tick time minus compile time).
    """
    tick_kimg = tick_nimg / 1000.0
    train_sec = max(tick_sec - compile_sec, 1e-9)
    return {
        "tick": tick,
        "kimg": cur_nimg / 1000.0,
        "Progress/kimg": cur_nimg / 1000.0,
        "Progress/resolution": sched.resolution,
        "Progress/alpha": sched.alpha,
        "Progress/lod": sched.lod,
        "Progress/minibatch": sched.minibatch,
        "Progress/tick": tick,
        "LR/G": sched.lr,
        "LR/D": sched.lr,
        "Loss/G": means.get("Loss/G", math.nan),
        "Loss/D": means.get("Loss/D", math.nan),
        "Loss/R1" if loss == "logistic_r1" else "Loss/GP": means.get("Loss/penalty", math.nan),
        "Loss/scores/real": means.get("Loss/scores/real", math.nan),
        "Loss/scores/fake": means.get("Loss/scores/fake", math.nan),
        "Loss/nonfinite_D_total": int(nonfinite[0]),
        "Loss/nonfinite_G_total": int(nonfinite[1]),
        "Timing/sec_per_tick": tick_sec,
        "Timing/compile_sec": compile_sec,
        "Timing/sec_per_kimg": train_sec / max(tick_kimg, 1e-9),
        "Timing/img_per_sec": tick_nimg / train_sec,
        "Timing/maintenance_sec": maintenance_sec,
        "Timing/total_sec": total_sec,
        "Resources/peak_memory_mb": peak_rss_mb(),
        "checkpoint": os.path.basename(checkpoint or ""),
        "timestamp": time.time(),
    }


def tick_line(row: dict, total_kimg: float) -> str:
    """The console line of a tick; the ETA is the remaining kimg at this tick's training speed
    (compile time excluded)."""
    penalty = "R1" if "Loss/R1" in row else "GP"
    eta = (total_kimg - row["kimg"]) * row["Timing/sec_per_kimg"]
    return (
        f"tick {row['tick']:<4d} kimg {row['kimg']:<8.3f} res {row['Progress/resolution']:<4d} "
        f"alpha {row['Progress/alpha']:<5.3f} minibatch {row['Progress/minibatch']:<4d} "
        f"G {row['Loss/G']:<7.3f} D {row['Loss/D']:<7.3f} {penalty} {row[f'Loss/{penalty}']:<7.3f} "
        f"img/s {row['Timing/img_per_sec']:<7.1f} sec/kimg {row['Timing/sec_per_kimg']:<7.2f} "
        f"time {format_duration(row['Timing/total_sec'])} ETA {format_duration(eta)}"
    )


def save_network_snapshot(G, path: str) -> str:
    """Save ``G`` as a ``.keras`` file atomically (temporary sibling + rename)."""
    return atomic_write(path, G.save)


class RunLog:
    """Per-tick logging: ``stats.jsonl``, TensorBoard scalars and images, the progress line.

    Only the chief writes files; other workers get a log that does nothing.
    """

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


class RunDirError(Exception):
    """A problem with the run directory or its checkpoints that the user must fix (one line)."""


@dataclass
class RunDir:
    """An opened run directory: its path, the checkpoints to resume from (newest first; empty
    for a fresh start) and, on the chief, the folder's lock (held until :meth:`close`)."""

    path: str
    resume_from: list = field(default_factory=list)
    lock: DirLock | None = None

    def close(self):
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def open_run_dir(path, cfg, resume="auto", *, chief=True, record=None, log=print) -> RunDir:
    """Prepare ``path`` for training; raise :class:`RunDirError` (one line) if it cannot be.

    In order: an explicit ``resume`` path must name a checkpoint (checked before anything is
    written); ``resume`` None/``"none"``, or a checkpoint of another folder, refuses a folder
    that already holds checkpoints (they would mix with the new run's). The
    chief then creates the folder, takes its lock (a second run on the same folder is refused,
    naming the holder's PID and host; the lock of a dead process is taken over with a message),
    removes what killed runs left behind (``ckpt-N_temp/`` folders, temporary files), lists the
    checkpoints to resume from (``"auto"``: the run's own, newest first), checks that they were
    trained with the same G and D configuration, and writes ``record`` (if given) as
    ``training_options.json``. Other workers only list the checkpoints.
    """
    path = os.fspath(path)
    ckpt_dir = os.path.join(path, CHECKPOINT_DIR)
    explicit = resume not in (None, "none", "auto")
    if explicit:
        resume_from = find_checkpoints(resume)
        if not resume_from:
            raise RunDirError(f"--resume {resume!r}: no checkpoint there")
    own = list_checkpoints(ckpt_dir)
    mine = explicit and os.path.abspath(resume_from[0]) in {os.path.abspath(c) for c in own}
    if resume != "auto" and own and not mine:
        # Checkpoints are named by images seen: two runs' checkpoints must not mix.
        raise RunDirError(
            f"{path} already holds a run; use --resume auto to continue it or another --outdir"
        )
    run = RunDir(path)
    if chief:
        try:
            os.makedirs(path, exist_ok=True)
            run.lock = DirLock(path, "training", log=log).acquire()
        except LockedError as e:
            raise RunDirError(str(e)) from None
        except OSError as e:
            raise RunDirError(f"cannot write to --outdir {path}: {e.strerror or e}") from None
        try:
            remove_stale_checkpoint_temps(ckpt_dir, log=log)
            remove_stale_temps(path, log=log)
            remove_stale_temps(ckpt_dir, log=log)
        except BaseException:
            run.close()
            raise
    run.resume_from = resume_from if explicit else []
    if resume == "auto":
        run.resume_from = list_checkpoints(ckpt_dir)
        try:
            _check_same_networks(path, cfg)
        except BaseException:
            run.close()
            raise
    if chief and record is not None:
        try:
            write_json_atomic(os.path.join(path, OPTIONS_FILE), record)
        except OSError as e:
            run.close()
            raise RunDirError(f"cannot write to --outdir {path}: {e.strerror or e}") from None
    return run


def _check_same_networks(path, cfg) -> None:
    """Refuse to resume a run whose ``training_options.json`` has other G or D settings."""
    from stylegan_tf.config import Config

    options = os.path.join(path, OPTIONS_FILE)
    if not list_checkpoints(os.path.join(path, CHECKPOINT_DIR)) or not os.path.isfile(options):
        return
    try:
        with open(options) as f:
            old = Config.from_dict(json.load(f)["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # unreadable options: the checkpoint restore checks every variable anyway
    for section in ("G", "D"):
        if getattr(old, section) != getattr(cfg, section):
            raise RunDirError(
                f"{path} was trained with a different {section} configuration; "
                "use another --outdir (or the same options)"
            )
