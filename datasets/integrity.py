"""Checks that a dataset's files are what was written: sizes and sha256 against the manifest,
TFRecord framing where there is no manifest.

numpy-free and TensorFlow-free (the dataset tool's ``info --verify`` and the reader share it).
Every failure is a :class:`~datasets.errors.DatasetError` naming the file.

- :func:`check_manifest_files`: every shard and the labels file exist with the manifest's byte
  size (cheap: one ``stat`` each; the reader does it on every open) and, with ``checksums``,
  the manifest's sha256 (reads everything; ``run_training.py --verify-data``).
- :func:`scan_records`: walks a TFRecord file's record headers (8 bytes read per record) and
  counts its records; a file that ends inside a record is reported with the record and offset.
- :func:`uniform_record_count`: the record count of a file whose records all have the first
  record's length (the official raw layout), from its size alone, or ``None``.
"""

from __future__ import annotations

import hashlib
import os
import struct

from datasets.errors import DatasetError

__all__ = [
    "sha256_file",
    "manifest_entries",
    "check_manifest_files",
    "scan_records",
    "first_record_length",
    "uniform_record_count",
    "REBUILD_HINT",
]

REBUILD_HINT = "copy it again or rebuild the dataset"
_FRAMING = 16  # TFRecord: uint64 length, uint32 masked crc of it, data, uint32 masked crc


def sha256_file(path: str) -> str:
    """Hex sha256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_entries(manifest: dict) -> list[dict]:
    """The manifest's file entries (``file``, ``bytes``, ``sha256``): every shard, then labels."""
    entries = [s for res in manifest["shards"].values() for s in res["shards"]]
    if manifest.get("labels"):
        entries.append(manifest["labels"])
    return entries


def check_manifest_files(folder: str, manifest: dict, checksums: bool = False) -> int:
    """Check every file the manifest lists: present, of its byte size, and (``checksums``) of its
    sha256. Returns the number of files checked; raises ``DatasetError`` naming the first bad one.
    """
    entries = manifest_entries(manifest)
    for entry in entries:
        path = os.path.join(folder, entry["file"])
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            raise DatasetError(path, "missing (listed in the manifest)") from None
        except OSError as e:
            raise DatasetError(path, f"cannot read: {e.strerror or e}") from None
        want = entry.get("bytes")
        if want is not None and size != int(want):
            raise DatasetError(
                path,
                f"has {size} bytes, the manifest says {int(want)} (cut or changed); {REBUILD_HINT}",
            )
        if checksums and entry.get("sha256"):
            try:
                digest = sha256_file(path)
            except OSError as e:
                raise DatasetError(path, f"cannot read: {e.strerror or e}") from None
            if digest != entry["sha256"]:
                raise DatasetError(
                    path, f"sha256 differs from the manifest (damaged or changed); {REBUILD_HINT}"
                )
    return len(entries)


def first_record_length(path: str) -> int | None:
    """Length of the first record's data, ``None`` for an empty file; ``DatasetError`` if the
    file is too short to hold that record."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(8)
    if not header:
        return None
    if len(header) < 8:
        raise DatasetError(path, f"truncated TFRecord file: ends inside record 0; {REBUILD_HINT}")
    (length,) = struct.unpack("<Q", header)
    if size < length + _FRAMING:
        raise DatasetError(path, f"truncated TFRecord file: ends inside record 0; {REBUILD_HINT}")
    return length


def uniform_record_count(path: str, length: int) -> int | None:
    """Records in ``path`` if its size is a whole number of ``length``-byte records and its last
    record has that length too (a uniform file, as official raw shards are), else ``None``."""
    size = os.path.getsize(path)
    if size % (length + _FRAMING):
        return None
    with open(path, "rb") as f:
        f.seek(size - length - _FRAMING)
        header = f.read(8)
    if len(header) < 8 or struct.unpack("<Q", header)[0] != length:
        return None
    return size // (length + _FRAMING)


def scan_records(path: str, length: int | None = None) -> int:
    """Count the records of a TFRecord file by walking its record headers.

    Raises ``DatasetError`` naming the file when it ends inside a record (a cut file), or, with
    ``length``, when a record's data is not ``length`` bytes long.
    """
    size = os.path.getsize(path)
    n, pos = 0, 0
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            header = f.read(8)
            this = struct.unpack("<Q", header)[0] if len(header) == 8 else size
            end = pos + _FRAMING + this
            if length is not None and end <= size and this != length:
                raise DatasetError(
                    path,
                    f"record {n} holds {this} bytes, record 0 holds {length}; {REBUILD_HINT}",
                )
            if end > size:
                raise DatasetError(
                    path,
                    f"truncated TFRecord file: ends inside record {n} (byte {pos} of {size}); "
                    f"{REBUILD_HINT}",
                )
            pos = end
            n += 1
    return n
