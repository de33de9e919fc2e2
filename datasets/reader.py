"""``tf.data`` reader of multi-resolution TFRecord datasets: ours (``dataset.json``) and official.

Example::

    ds = open_dataset("data/mnist32")
    for images, labels in ds.make_dataset(32, batch_size=64, mirror=True).take(10):
        ...  # images uint8 [64, 32, 32, 1] NHWC, labels float32 [64, 10]

The official layout is ``NAME-rXX.tfrecords`` (one file per resolution, records with ``shape``
int64 ``[C, H, W]`` and raw uint8 CHW ``data``) plus an optional ``*.labels`` file (``np.save``
of float32 ``[N, label_dim]``); it is read with the same pixels and labels as the official
``training/dataset.py``. Our datasets add a ``dataset.json`` manifest, shards, and optionally
PNG-encoded records (see :mod:`datasets.format`).

Trust: :func:`open_dataset` checks every shard's byte size against ``dataset.json`` (one
``stat`` per file), or, for the official layout, that each file is whole records of a valid
``[C, R, R]`` shape and that every resolution holds as many records; ``verify=True`` also checks
sha256 sums (manifest) or every record's TFRecord checksum (official). A read error while
training (:meth:`ImageDataset.next_batch`) becomes a :class:`DatasetError` naming the shard.
"""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import tensorflow as tf

from datasets import integrity
from datasets.errors import DatasetError
from datasets.format import ENCODINGS, FORMAT_NAME, MANIFEST_NAME, SHARD_PATTERN

__all__ = ["open_dataset", "ImageDataset"]

SHUFFLE_BUFFER_BYTES = 1 << 30  # default shuffle buffer: 1 GiB of decoded images
READ_BUFFER_BYTES = 8 << 20
PER_RECORD_DECODE_FROM = 256  # raw RGB records at this resolution and above decode one by one


def open_dataset(path, verify: bool = False) -> ImageDataset:
    """Open the dataset at ``path``: a folder with ``dataset.json`` (ours) or official TFRecords.

    ``path`` may also be the ``dataset.json`` file itself. Every file's size is checked against
    the manifest (official layout: the record framing, shapes and counts); with ``verify`` also
    every file's sha256 (official layout: every record's checksum), which reads all the data.
    Raises :class:`DatasetError` naming ``path``, or the damaged file.
    """
    path = os.fspath(path)
    if os.path.basename(path) == MANIFEST_NAME and os.path.isfile(path):
        path = os.path.dirname(path) or "."
    if not os.path.isdir(path):
        raise DatasetError(path, "no such dataset folder")
    if os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        return _open_manifest(path, verify)
    return _open_official(path, verify)


def _record_at(path: str, offset: int, index: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        header = f.read(12)  # uint64 length + uint32 masked crc of the length
        (length,) = struct.unpack("<Q", header[:8]) if len(header) == 12 else (None,)
        data = f.read(length) if length is not None else b""
    if length is None or len(data) < length:
        raise DatasetError(
            path, f"truncated TFRecord file: ends inside record {index}; {integrity.REBUILD_HINT}"
        )
    return data


def _record_shape(path: str, record: bytes, index: int) -> list[int]:
    try:
        feature = tf.train.Example.FromString(record).features.feature
    except Exception as e:
        raise DatasetError(path, f"record {index} is not a tf.train.Example: {e}") from None
    if "shape" not in feature or "data" not in feature:
        raise DatasetError(path, f"record {index} lacks the 'shape' and 'data' features")
    shape = [int(v) for v in feature["shape"].int64_list.value]
    data = feature["data"].bytes_list.value
    if len(shape) == 3 and (len(data) != 1 or len(data[0]) != shape[0] * shape[1] * shape[2]):
        raise DatasetError(
            path, f"record {index}: data is not {shape[0]}x{shape[1]}x{shape[2]} raw uint8 bytes"
        )
    return shape


def _official_file(path: str) -> tuple[int, list[int]]:
    """(records, shape) of an official shard: framing walked (or sized, when every record has
    the first one's length), the first and last records parsed, their shapes equal."""
    length = integrity.first_record_length(path)
    if length is None:
        raise DatasetError(path, "holds no records")
    n = integrity.uniform_record_count(path, length)
    shape = _record_shape(path, _record_at(path, 0, 0), 0)
    if n is None:  # official raw records all have one length: find the odd one, or the cut
        n = integrity.scan_records(path, length)
    elif n > 1:
        last = _record_shape(path, _record_at(path, (n - 1) * (length + 16), n - 1), n - 1)
        if last != shape:
            raise DatasetError(path, f"record {n - 1} has shape {last}, record 0 has {shape}")
    return n, shape


def _check_records(path: str) -> int:
    """Read every record of ``path`` through TensorFlow, which checks each record's checksums."""
    n = 0
    try:
        for _ in tf.data.TFRecordDataset(path, buffer_size=READ_BUFFER_BYTES):
            n += 1
    except tf.errors.OpError as e:
        raise DatasetError(
            path,
            f"record {n} is damaged ({e.message.split(' [Op:')[0].split('}} ')[-1]}); "
            f"{integrity.REBUILD_HINT}",
        ) from None
    return n


def _load_labels(path: str, num_images: int) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            labels = np.load(f, allow_pickle=False)
    except Exception as e:
        raise DatasetError(path, f"cannot load labels: {type(e).__name__}: {e}") from None
    if labels.ndim != 2 or labels.shape[0] != num_images:
        raise DatasetError(
            path, f"labels have shape {list(labels.shape)}, want [{num_images}, label_dim]"
        )
    return labels.astype(np.float32)


def _open_manifest(path: str, verify: bool = False) -> ImageDataset:
    mpath = os.path.join(path, MANIFEST_NAME)
    try:
        with open(mpath, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("format") != FORMAT_NAME:
            raise DatasetError(mpath, f"format is {manifest.get('format')!r}, want {FORMAT_NAME!r}")
        shards = {}
        for res, entry in manifest["shards"].items():
            shards[int(res)] = [
                (os.path.join(path, s["file"]), int(s["records"])) for s in entry["shards"]
            ]
        channels, encoding = int(manifest["channels"]), manifest["encoding"]
        num_images, labels_entry = int(manifest["num_images"]), manifest.get("labels")
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DatasetError(mpath, f"not a valid manifest: {type(e).__name__}: {e}") from None
    if encoding not in ENCODINGS:
        raise DatasetError(mpath, f"unknown encoding {encoding!r}")
    try:
        integrity.check_manifest_files(path, manifest, checksums=verify)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(mpath, f"not a valid manifest: {type(e).__name__}: {e}") from None
    for res, files in shards.items():
        if sum(n for _, n in files) != num_images:
            raise DatasetError(
                mpath, f"resolution {res} has {sum(n for _, n in files)} records, not {num_images}"
            )
    labels = None
    if labels_entry:
        labels = _load_labels(os.path.join(path, labels_entry["file"]), num_images)
    return ImageDataset(
        path,
        name=manifest.get("name") or os.path.basename(os.path.abspath(path)),
        channels=channels,
        encoding=encoding,
        shards=shards,
        num_images=num_images,
        labels=labels,
        label_names=manifest.get("label_names"),
        manifest=manifest,
    )


def _open_official(path: str, verify: bool = False) -> ImageDataset:
    found = {}
    for fname in sorted(os.listdir(path)):
        m = SHARD_PATTERN.match(fname)
        if m:
            found.setdefault(1 << int(m["log2"]), []).append((int(m["index"] or 0), fname))
    if not found:
        raise DatasetError(
            path, f"not a dataset: no {MANIFEST_NAME} and no official NAME-rXX.tfrecords files"
        )
    shards, counts, channels = {}, {}, None
    for res, entries in sorted(found.items()):
        files = [os.path.join(path, fname) for _, fname in sorted(entries)]
        counts[res] = []
        for fpath in files:
            n, shape = _official_file(fpath)
            if len(shape) != 3 or shape[1:] != [res, res]:
                raise DatasetError(fpath, f"records have shape {shape}, want [C, {res}, {res}]")
            if channels is not None and shape[0] != channels:
                raise DatasetError(
                    fpath, f"has {shape[0]} channels, other resolutions have {channels}"
                )
            channels = shape[0]
            if verify and _check_records(fpath) != n:
                raise DatasetError(fpath, f"holds other records than its framing says: {n}")
            counts[res].append(n)
        shards[res] = files
    if channels not in (1, 3):
        raise DatasetError(path, f"images have {channels} channels; want 1 or 3")
    # Every resolution holds the same images: one with fewer records lost some (a file cut at
    # a record boundary, which the framing alone cannot tell).
    num_images = max(sum(c) for c in counts.values())
    for res, files in shards.items():
        if sum(counts[res]) != num_images:
            where = files[0] if len(files) == 1 else f"{path} (resolution {res})"
            raise DatasetError(
                where,
                f"holds {sum(counts[res])} records, other resolutions hold {num_images} (cut?); "
                f"{integrity.REBUILD_HINT}",
            )
    smallest = min(shards)
    label_files = sorted(f for f in os.listdir(path) if f.endswith(".labels"))
    labels = _load_labels(os.path.join(path, label_files[0]), num_images) if label_files else None
    name = SHARD_PATTERN.match(os.path.basename(shards[smallest][0]))["name"]
    return ImageDataset(
        path,
        name=name,
        channels=channels,
        encoding="raw",
        shards={res: list(zip(files, counts[res])) for res, files in shards.items()},
        num_images=num_images,
        labels=labels,
    )


class ImageDataset:
    """A multi-resolution image dataset on disk; makes ``tf.data`` pipelines per resolution.

    Use :func:`open_dataset` rather than constructing it.

    Attributes:
        path: the dataset folder.
        name: the file prefix (the folder name when it was created).
        resolution: the highest resolution.
        resolutions: every resolution present, ascending.
        channels: 1 or 3.
        num_images: images per resolution.
        encoding: ``raw`` or ``png``.
        label_dim: label width, 0 if there are none.
        labels: float32 ``[num_images, label_dim]`` in record order.
        label_names: class names, if the labels are classes from our tool.
        manifest: the parsed ``dataset.json``, or ``None`` for the official layout.
    """

    def __init__(
        self,
        path,
        *,
        name,
        channels,
        encoding,
        shards,
        num_images,
        labels=None,
        label_names=None,
        manifest=None,
    ):
        self.path = path
        self.name = name
        self.channels = channels
        self.encoding = encoding
        self.num_images = num_images
        self._shards = shards  # {res: [(file, records), ...]}
        self.labels = np.zeros([num_images, 0], np.float32) if labels is None else labels
        self.label_names = label_names
        self.manifest = manifest

    @property
    def resolutions(self) -> list[int]:
        return sorted(self._shards)

    @property
    def resolution(self) -> int:
        return max(self._shards)

    @property
    def label_dim(self) -> int:
        return int(self.labels.shape[1])

    def __repr__(self):
        return (
            f"ImageDataset({self.path!r}, num_images={self.num_images}, resolution={self.resolution}, "
            f"channels={self.channels}, encoding={self.encoding!r}, label_dim={self.label_dim})"
        )

    def _check_resolution(self, resolution) -> int:
        if resolution not in self._shards:
            raise ValueError(f"resolution must be one of {self.resolutions}, got {resolution!r}")
        return int(resolution)

    def shard_files(self, resolution: int) -> list[str]:
        """The TFRecord files of ``resolution``, in record order."""
        return [f for f, _ in self._shards[self._check_resolution(resolution)]]

    def record_counts(self, resolution: int) -> list[int]:
        """Records in each of :meth:`shard_files`."""
        return [n for _, n in self._shards[self._check_resolution(resolution)]]

    def _decode_batch_fn(self, resolution):
        # records [B] -> uint8 [B, H, W, C]
        c = self.channels

        def decode_raw(records):
            parsed = tf.io.parse_example(records, {"data": tf.io.FixedLenFeature([], tf.string)})
            x = tf.io.decode_raw(parsed["data"], tf.uint8)  # [B, C*H*W]
            x = tf.reshape(x, [-1, c, resolution, resolution])  # [B, C, H, W]
            return tf.transpose(x, [0, 2, 3, 1])  # [B, H, W, C]

        return decode_raw

    def _decode_one_fn(self, resolution):
        # record -> uint8 [H, W, C]
        c = self.channels
        spec = {"data": tf.io.FixedLenFeature([], tf.string)}

        def decode_png(record):
            x = tf.io.decode_png(tf.io.parse_single_example(record, spec)["data"], channels=c)
            return tf.ensure_shape(x, [resolution, resolution, c])

        def decode_raw(record):
            x = tf.io.decode_raw(tf.io.parse_single_example(record, spec)["data"], tf.uint8)
            x = tf.reshape(x, [c, resolution, resolution])  # [C, H, W]
            return tf.transpose(x, [1, 2, 0])  # [H, W, C]

        return decode_png if self.encoding == "png" else decode_raw

    def _per_record(self, resolution) -> bool:
        # Raw records decode fastest a batch at a time, except large RGB ones: TF's uint8 CHW ->
        # HWC transpose of big batches is slow, so those go one by one (in parallel). PNG always
        # decodes one by one.
        return self.encoding == "png" or (
            self.channels > 1 and resolution >= PER_RECORD_DECODE_FROM
        )

    def default_shuffle_buffer(self, resolution: int) -> int:
        """Records held for shuffling by default: 1 GiB of decoded images, at most all of them."""
        per_image = self.channels * resolution * resolution
        return int(max(1, min(self.num_images, SHUFFLE_BUFFER_BYTES // per_image)))

    def make_dataset(
        self,
        resolution: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        repeat: bool = True,
        mirror: bool = False,
        seed: int = 0,
        drop_remainder: bool = True,
        shuffle_buffer: int | None = None,
    ) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of ``(images, labels)`` batches at ``resolution``.

        Args:
            resolution: one of :attr:`resolutions`.
            batch_size: images per batch.
            shuffle: read shards interleaved in shuffled order and shuffle records (seeded;
                reshuffled every epoch). ``False`` reads records in file order.
            repeat: repeat forever.
            mirror: flip each image left-right with probability 0.5 (seeded, per image).
            seed: seed of the shuffles and the flips.
            drop_remainder: drop a last, smaller batch.
            shuffle_buffer: records in the shuffle buffer (default
                :meth:`default_shuffle_buffer`).

        Returns:
            A dataset of ``images`` uint8 ``[B, H, W, C]`` and ``labels`` float32
            ``[B, label_dim]`` (``[B, 0]`` without labels).
        """
        res = self._check_resolution(resolution)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if shuffle_buffer is not None and (
            not isinstance(shuffle_buffer, int) or shuffle_buffer < 1
        ):
            raise ValueError(f"shuffle_buffer must be an integer >= 1, got {shuffle_buffer!r}")
        files = self.shard_files(res)
        counts = self.record_counts(res)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        file_ids = list(range(len(files)))
        with_labels = self.label_dim > 0
        files_t = tf.constant(files)
        if with_labels:
            labels_t = tf.constant(self.labels)
            offsets_t, counts_t = tf.constant(offsets), tf.constant(np.asarray(counts, np.int64))

        def read_file(i):
            records = tf.data.TFRecordDataset(files_t[i], buffer_size=READ_BUFFER_BYTES)
            if not with_labels:
                return records
            labels = tf.data.Dataset.from_tensor_slices(
                labels_t[offsets_t[i] : offsets_t[i] + counts_t[i]]
            )
            return tf.data.Dataset.zip((records, labels))

        ds = tf.data.Dataset.from_tensor_slices(tf.constant(file_ids, tf.int64))
        if shuffle and len(file_ids) > 1:
            ds = ds.shuffle(len(file_ids), seed=seed, reshuffle_each_iteration=True)
            ds = ds.interleave(
                read_file,
                cycle_length=min(len(file_ids), 16),
                block_length=1,
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        else:
            ds = ds.flat_map(read_file)
        if shuffle:
            buffer = shuffle_buffer or self.default_shuffle_buffer(res)
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if self._per_record(res):
            decode_one = self._decode_one_fn(res)
            if with_labels:
                ds = ds.map(lambda r, y: (decode_one(r), y), num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = ds.map(decode_one, num_parallel_calls=tf.data.AUTOTUNE)
            ds = ds.batch(batch_size, drop_remainder=drop_remainder)
            if not with_labels:
                ds = ds.map(lambda x: (x, _no_labels(x, batch_size, drop_remainder)))
        else:
            decode_batch = self._decode_batch_fn(res)
            ds = ds.batch(batch_size, drop_remainder=drop_remainder)
            if with_labels:
                ds = ds.map(lambda r, y: (decode_batch(r), y), num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = ds.map(
                    lambda r: (decode_batch(r), _no_labels(r, batch_size, drop_remainder)),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
        if mirror:
            flip_seeds = tf.data.Dataset.random(seed=seed * 1000003 + 1)
            ds = tf.data.Dataset.zip((ds, flip_seeds)).map(
                _random_flip, num_parallel_calls=tf.data.AUTOTUNE
            )
        options = tf.data.Options()
        options.deterministic = True
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def next_batch(self, iterator, resolution: int):
        """``next(iterator)`` of a :meth:`make_dataset` pipeline at ``resolution``; a read error
        (a damaged record, a file gone) raises :class:`DatasetError` naming the shard.

        TensorFlow's error names no file, so the shards are checked to find it: sizes against
        the manifest (or the framing) first, then every record's checksum, only on this path.
        """
        try:
            return next(iterator)
        except tf.errors.OpError as e:
            self.explain_read_error(resolution, e)
            raise

    def explain_read_error(self, resolution: int, error: Exception) -> None:
        """Raise :class:`DatasetError` naming the damaged shard behind ``error`` (a TensorFlow
        read error at ``resolution``); return if every shard reads correctly (not a data fault).
        """
        self.check_files()
        files = self.shard_files(resolution)
        # "corrupted record at OFFSET": files at least that long come first.
        offset = -1
        words = str(getattr(error, "message", error)).split()
        if "at" in words and words.index("at") + 1 < len(words):
            digits = words[words.index("at") + 1].rstrip(",.;")
            offset = int(digits) if digits.isdigit() else -1

        def size(f):
            try:
                return os.path.getsize(f)
            except OSError:
                return -1

        suspects = sorted(files, key=lambda f: size(f) <= offset)
        print(
            f"reading {self.path} at {resolution}x{resolution} failed; checking its "
            f"{len(files)} shard(s) to find the damaged one",
            file=sys.stderr,
            flush=True,
        )
        for fpath in suspects:
            if not os.path.isfile(fpath):
                raise DatasetError(fpath, "missing (it was there when training started)")
            _check_records(fpath)

    def check_files(self, checksums: bool = False) -> None:
        """Check the files again as :func:`open_dataset` does (sizes or framing; ``checksums``:
        sha256 or record checksums). Raises :class:`DatasetError` naming a damaged file."""
        if self.manifest is not None:
            integrity.check_manifest_files(self.path, self.manifest, checksums=checksums)
            return
        for res in self.resolutions:
            for fpath, count in self._shards[res]:
                if not os.path.isfile(fpath):
                    raise DatasetError(fpath, "missing (it was there when the dataset was opened)")
                n, _ = _official_file(fpath)
                if checksums:
                    n = _check_records(fpath)
                if n != count:
                    raise DatasetError(
                        fpath,
                        f"holds {n} records, {count} when the dataset was opened; "
                        f"{integrity.REBUILD_HINT}",
                    )

    def iterate_reals(
        self,
        resolution: int,
        num: int | None = None,
        batch_size: int = 64,
        *,
        mirror: bool = False,
        seed: int = 0,
    ):
        """The first ``num`` images (all if ``None``) in file order, as uint8 NHWC numpy batches.

        This is the official metrics' real-image stream (no shuffling). With ``mirror``, each
        image is flipped left-right with probability 0.5, drawn from ``RandomState(seed)``.
        """
        res = self._check_resolution(resolution)
        num = self.num_images if num is None else num
        if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= self.num_images:
            raise ValueError(
                f"num must be an integer in 1..{self.num_images} (the dataset size), got {num!r}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        ds = tf.data.TFRecordDataset(self.shard_files(res), buffer_size=READ_BUFFER_BYTES).take(num)
        if self._per_record(res):
            ds = ds.map(self._decode_one_fn(res), num_parallel_calls=tf.data.AUTOTUNE).batch(
                batch_size
            )
        else:
            ds = ds.batch(batch_size).map(
                self._decode_batch_fn(res), num_parallel_calls=tf.data.AUTOTUNE
            )
        ds = ds.prefetch(tf.data.AUTOTUNE)

        def generate():
            rng = np.random.RandomState(seed)
            for images in ds.as_numpy_iterator():
                if mirror:
                    flip = rng.rand(len(images)) < 0.5
                    images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
                yield images

        return generate()


def _no_labels(batch, batch_size, static):
    # float32 [B, 0]; B static when batches are never partial.
    return tf.zeros([batch_size if static else tf.shape(batch)[0], 0], tf.float32)


def _random_flip(batch, seed):
    images, labels = batch
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=tf.stack([seed, 0])) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images), labels
