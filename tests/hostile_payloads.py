"""Hostile pickle payloads for the loader tests (tests/test_hostile_files.py).

Each payload is a picklable object whose ``__reduce__`` makes the unpickler call a global with
chosen arguments, as an attacker's hand-written pickle would. They are written into an LPIPS-style
numpy pickle, an official ``(G, D, Gs)`` pickle (as the value of one variable) or a torch file.
Also runnable as ``python tests/hostile_payloads.py READER PATH``: reads PATH with the project's
reader (``numpy``: LPIPS weights, ``torch``: torch.save, ``torchscript``), in its own process so
that a crash is seen as a crash. Exit 0: loaded; 2: refused with the one-line message on stderr;
3: any other exception (printed as ``TYPE: message``).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "PWNED"  # code-execution payloads create this file in their cwd


class Call:
    """Unpickles as ``func(*args)``; with ``state`` also BUILDs that state into the result."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        if self.state is None:
            return (self.func, self.args)
        return (self.func, self.args, self.state)


def _reconstruct():
    from numpy._core import multiarray

    return multiarray._reconstruct


def _marker_cmd():
    return f"touch {MARKER}"


def numpy_payloads() -> dict:
    """``{name: (value, expected message regex)}``: values that must never become arrays. As the
    official ``G_mapping/Dense0/bias`` (16 floats) they have that shape where it matters, so that
    only the loader stands between them and the weights."""
    big = b"\0" * 65536
    v8_object = Call(np.dtype, ("V8", False, True), (3, "|", None, None, None, 8, 1, 0x3D))
    return {
        "object_pointer": (
            Call(np.ndarray, ((16,), "O", b"A" * 128)),  # 16 pointers 0x4141...
            r"numpy\.ndarray\(\.\.\.\)",
        ),
        "uninitialised": (Call(np.ndarray, ((16,), "f4")), r"numpy\.ndarray\(\.\.\.\)"),
        "huge_shape": (Call(np.ndarray, ((10**6, 10**6, 1000), "u1")), r"numpy\.ndarray"),
        "reconstruct_uninitialised": (
            Call(_reconstruct(), (np.ndarray, (16,), b"f")),
            "non-empty shape",
        ),
        "reconstruct_huge": (
            Call(_reconstruct(), (np.ndarray, (10**6, 10**6, 1000), b"b")),
            "non-empty shape",
        ),
        "dtype_flags_object": (
            Call(
                _reconstruct(), (np.ndarray, (0,), b"b"), (1, (16,), v8_object, False, b"A" * 128)
            ),
            "not allowed",
        ),
        "object_dtype_state": (
            Call(_reconstruct(), (np.ndarray, (0,), b"b"), (1, (1,), np.dtype("O"), False, [1])),
            "object dtype",
        ),
        "short_buffer": (
            Call(_reconstruct(), (np.ndarray, (0,), b"b"), (1, (1000,), np.dtype("f4"), 0, b"x")),
            "needs 4000 bytes",
        ),
        "huge_state_shape": (
            Call(
                _reconstruct(),
                (np.ndarray, (0,), b"b"),
                (1, (2**40, 2**40), np.dtype("u1"), 0, b""),
            ),
            "needs",
        ),
        "memo_amplification": (
            [
                Call(
                    _reconstruct(), (np.ndarray, (0,), b"b"), (1, (65536,), np.dtype("u1"), 0, big)
                )
                for _ in range(64)
            ],
            "more than the file can hold",
        ),
        "os_system": (Call(os.system, (_marker_cmd(),)), r"'(posix|os)\.system'"),
        "builtins_eval": (
            Call(eval, (f"open({MARKER!r}, 'w')",)),
            r"'builtins\.eval'",
        ),
        "builtins_exec": (Call(exec, (f"open({MARKER!r}, 'w')",)), r"'builtins\.exec'"),
        "builtins_getattr": (Call(getattr, ("x", "upper")), r"'builtins\.getattr'"),
        "builtins_import": (Call(__import__, ("os",)), r"'builtins\.__import__'"),
        "subprocess": (
            Call(__import__("subprocess").Popen, (["touch", MARKER],)),
            r"'subprocess\.Popen'",
        ),
        "bytes_alloc": (Call(bytes, (10**12,)), "bytes"),
        "codecs_other": (
            Call(__import__("codecs").encode, ("x", "rot13")),
            "latin1",
        ),
    }


def write_numpy_pickle(path, value, protocol=4):
    """An LPIPS-style weight pickle with ``value`` among real arrays."""
    obj = {"VGG16_0": {"Conv_0": {"kernel": value, "bias": np.zeros(4, np.float32)}}}
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def write_official_pickle(path, value, where=("mapping", "Dense0/bias")):
    """A valid official ``(G, D, Gs)`` pickle whose Gs variable ``where`` is ``value``."""
    from tests import official_pickle as op

    rng = np.random.RandomState(0)
    gv = op.official_generator_vars(rng)
    gv[where[0]][where[1]] = value
    G = op.generator_network("G", op.official_generator_vars(rng))
    Gs = op.generator_network("Gs", gv)
    D = op.network("D", op.official_discriminator_vars(rng))
    op.dump_official((G, D, Gs), path)


# ---------------------------------------------------------------------------------------------
# torch files, written with stand-in ``torch`` globals (torch itself is not needed).


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"


def _rebuild_tensor_v2(*args):  # pragma: no cover - never called here
    raise AssertionError


_rebuild_tensor_v2.__module__ = "torch._utils"


class Storage:
    """A storage reference, pickled as torch's persistent id."""

    def __init__(self, key, numel, view=None):
        self.key, self.numel, self.view = key, numel, view


def tensor(storage, offset, size, stride):
    return Call(_rebuild_tensor_v2, (storage, offset, tuple(size), tuple(stride), False, {}))


class _TorchPickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", FloatStorage, obj.key, "cpu", obj.numel)
            return pid + (obj.view,) if self.legacy else pid
        return None


def _with_fake_torch(fn):
    from tests.official_pickle import fake_modules

    torch = types.ModuleType("torch")
    torch.FloatStorage = FloatStorage
    utils = types.ModuleType("torch._utils")
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    with fake_modules({"torch": torch, "torch._utils": utils}):
        return fn()


def write_torch_zip(path, obj, storages: dict, script=False):
    """A ``torch.save`` zip (or a TorchScript zip with ``script``) holding ``obj``; ``storages``
    maps keys to float32 arrays written as ``archive/data/<key>``."""
    import io

    buf = io.BytesIO()
    _with_fake_torch(lambda: _TorchPickler(buf, legacy=False).dump(obj))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        if script:
            zf.writestr("archive/constants.pkl", pickle.dumps(()))
        for key, arr in storages.items():
            zf.writestr(f"archive/data/{key}", np.asarray(arr, "<f4").tobytes())


def write_torch_legacy(path, obj, storages: dict, declared=None):
    """A legacy ``torch.save`` stream; ``declared`` overrides a storage's stored element count."""
    with open(path, "wb") as f:
        for head in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(head, f, protocol=2)
        _with_fake_torch(lambda: _TorchPickler(f, legacy=True).dump(obj))
        pickle.dump(list(storages), f, protocol=2)
        for key, arr in storages.items():
            arr = np.asarray(arr, "<f4")
            f.write(struct.pack("<q", (declared or {}).get(key, arr.size)))
            f.write(arr.tobytes())


def torch_payloads() -> dict:
    """``{name: (writer(path), reader, expected message regex)}``."""
    nine = {"0": np.arange(9, dtype=np.float32)}
    one = {"0": np.ones(1, np.float32)}
    s9, s1 = Storage("0", 9), Storage("0", 1)
    evil = Call(os.system, (_marker_cmd(),))
    zipped = {
        "negative_offset": (tensor(s9, -4, (9,), (1,)), nine, "storage_offset"),
        "offset_past_end": (tensor(s9, 9, (1,), (1,)), nine, "reaches element 9"),
        "stride_out_of_range": (tensor(s9, 0, (3,), (5,)), nine, "reaches element 10"),
        "negative_stride": (tensor(s9, 8, (3,), (-1,)), nine, "stride"),
        "huge_stride": (tensor(s9, 0, (2,), (2**62,)), nine, "reaches element"),
        "broadcast_bomb": (tensor(s1, 0, (10**6, 10**6), (0, 0)), one, "more than the file"),
        "tensor_as_storage": (
            tensor(tensor(s1, 0, (100,), (0,)), 0, (100,), (1,)),
            one,
            "not a storage",
        ),
        "list_as_storage": (tensor([1.0, 2.0], 0, (2,), (1,)), one, "not a storage"),
        "missing_storage": (tensor(Storage("7", 9), 0, (9,), (1,)), nine, "missing"),
        "float_offset": (tensor(s9, 1.5, (2,), (1,)), nine, "storage_offset"),
        "os_system": (evil, nine, r"'(posix|os)\.system'"),
        "builtins_eval": (Call(eval, ("1",)), nine, r"'(__builtin__|builtins)\.eval'"),
    }
    out = {}
    for name, (obj, storages, pattern) in zipped.items():
        out[f"zip_{name}"] = (
            lambda path, o={"w": obj}, s=storages: write_torch_zip(path, o, s),
            "torch",
            pattern,
        )
    out["script_os_system"] = (
        lambda path: write_torch_zip(path, evil, nine, script=True),
        "torchscript",
        r"'(posix|os)\.system'",
    )
    out["script_negative_offset"] = (
        lambda path: write_torch_zip(path, {"w": tensor(s9, -4, (9,), (1,))}, nine, script=True),
        "torchscript",
        "storage_offset",
    )
    out["legacy_huge_storage"] = (
        lambda path: write_torch_legacy(
            path, {"w": tensor(Storage("0", 10**15), 0, (1,), (1,))}, {}
        ),
        "torch",
        "more than the file",
    )
    out["legacy_view_negative"] = (
        lambda path: write_torch_legacy(
            path, {"w": tensor(Storage("0", 9, ("v", -3, 3)), 0, (3,), (1,))}, nine
        ),
        "torch",
        "view offset",
    )
    out["legacy_negative_offset"] = (
        lambda path: write_torch_legacy(path, {"w": tensor(s9, -4, (9,), (1,))}, nine),
        "torch",
        "storage_offset",
    )
    return out


def _load_module(name, relpath):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(reader, path) -> int:
    # The readers are loaded by path: importing the `metrics` package would import TensorFlow.
    from stylegan_tf import safe_pickle

    try:
        if reader == "numpy":
            out = safe_pickle.load_numpy_pickle(path)
        else:
            torch_format = _load_module("torch_format", "metrics/torch_format.py")
            if reader == "torch":
                out = torch_format.load_torch_state_dict(path)
            else:
                out = torch_format.load_torchscript_params(path)
    except getattr(safe_pickle, "BadFileError", ()) as e:
        print(e, file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 3
    print(repr(out)[:2000])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main(sys.argv[1], sys.argv[2]))
