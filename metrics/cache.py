"""Cache files keyed by a hash of their options, and atomic writes (npz, JSON lines)."""

from __future__ import annotations

import hashlib
import json
import os
import re

import numpy as np

from stylegan_tf.files import atomic_write

__all__ = [
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


def _durably(write_file):
    """A write function for `atomic_write`: `write_file(f)` on the open temporary file, then
    flush and fsync, so that the rename never publishes a file whose data is not on disk."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            write_file(f)
            f.flush()
            os.fsync(f.fileno())

    return write


def save_npz_atomic(path: str, **arrays) -> None:
    """Writes an npz through a temporary file and `os.replace`, so readers never see half."""
    atomic_write(path, _durably(lambda f: np.savez(f, **arrays)))
