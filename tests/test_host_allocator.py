"""stylegan_tf.util.tune_host_allocator: glibc keeps freed buffers for reuse.

Each case runs in a fresh interpreter (malloc settings are per process). The child allocates
30 MiB with the C library's own malloc, under glibc's default mmap threshold that is a fresh
mapping, returned to the kernel on free; tuned, it comes from the heap and stays there."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import ctypes, json, sys
from stylegan_tf.util import tune_host_allocator

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
applied = tune_host_allocator() if sys.argv[1] == "tune" else None
size = 30 << 20
before = libc.mallinfo2()
p = libc.malloc(size)
ctypes.memset(p, 1, size)
during = libc.mallinfo2()
libc.free(p)
after = libc.mallinfo2()
print(json.dumps({
    "applied": applied,
    "mapped": during.hblkhd - before.hblkhd,
    "heap_kept": after.arena - before.arena,
}))
"""


def _child(mode, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "STYLEGAN_TF"))}
    base.pop("GLIBC_TUNABLES", None)
    base["PYTHONPATH"] = ROOT
    base.update(env)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=base, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc malloc settings (Linux)"
)


def test_default_glibc_maps_and_returns_large_buffers():
    got = _child("plain")
    assert got["mapped"] >= 30 << 20  # a fresh mapping: what the tuning removes
    assert got["heap_kept"] < 30 << 20


def test_tuned_allocator_serves_large_buffers_from_the_heap_and_keeps_them():
    got = _child("tune")
    assert got["applied"] is True
    assert got["mapped"] == 0
    assert got["heap_kept"] >= 30 << 20  # not trimmed back to the kernel after free


@pytest.mark.parametrize(
    "env",
    [
        {"STYLEGAN_TF_MALLOC": "default"},
        {"MALLOC_ARENA_MAX": "2"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
)
def test_user_settings_leave_glibc_as_configured(env):
    got = _child("tune", **env)
    assert got["applied"] is False
    if "GLIBC_TUNABLES" not in env:  # glibc's own defaults: still a fresh mapping
        assert got["mapped"] >= 30 << 20
