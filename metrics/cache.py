"""Cache files keyed by a hash of their options, and atomic writes (npz, JSON lines)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile

import numpy as np

__all__ = [
    "append_jsonl",
    "cache_file",
    "default_cache_dir",
    "load_npz",
    "options_hash",
    "save_npz_atomic",
]


def default_cache_dir() -> str:
    """`$STYLEGAN_TF_CACHE`, else `$XDG_CACHE_HOME/stylegan_tf` (`~/.cache/stylegan_tf`)."""
    if os.environ.get("STYLEGAN_TF_CACHE"):
        return os.environ["STYLEGAN_TF_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stylegan_tf")


def options_hash(options: dict) -> str:
    """md5 of the options as canonical JSON (sorted keys); values must be JSON-able."""
    text = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def cache_file(cache_dir: str, kind: str, options: dict, label: str = "") -> str:
    """`<cache_dir>/<md5(options)>-<kind>[-<label>].npz`; the label is only for people."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[-40:] if label else ""
    name = f"{options_hash(dict(options, kind=kind))}-{kind}" + (f"-{label}" if label else "")
    return os.path.join(cache_dir, name + ".npz")


def load_npz(path: str) -> dict[str, np.ndarray] | None:
    """The arrays of an npz cache file (no pickles allowed), or None if it does not exist."""
    if not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _atomic_write(path: str, write) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npz_atomic(path: str, **arrays) -> None:
    """Writes an npz through a temporary file and `os.replace`, so readers never see half."""
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def append_jsonl(path: str, record: dict) -> None:
    """Appends one JSON line; the file is rewritten via a temporary file and `os.replace`."""
    old = b""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            old = f.read()
        if old and not old.endswith(b"\n"):
            old += b"\n"
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    _atomic_write(path, lambda f: f.write(old + line))
