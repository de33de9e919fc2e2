"""Hostile and broken weight files against every reader: the official-pickle importer, the LPIPS
(numpy pickle) reader and the torch readers. Each file is read in its own process, so a crash
(SIGSEGV from an object array of raw pointers, an out-of-bounds strided view) fails the test
instead of killing pytest. Every refusal must be one line naming the file, exit code 2, with no
code executed (no marker file) and nothing written.
"""

import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from tests import hostile_payloads as hp

ROOT = hp.ROOT
NUMPY = hp.numpy_payloads()
TORCH = hp.torch_payloads()


def _run(args, cwd, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check_refused(res, path, pattern, cwd):
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-3000:]
    assert str(path) in lines[0], lines[0]
    assert re.search(pattern, lines[0]), (pattern, lines[0])
    assert not os.path.exists(os.path.join(cwd, hp.MARKER)), "the payload ran"


def _import(path, tmp_path):
    out = tmp_path / "out"
    res = _run(["-m", "stylegan_tf.import_official", str(path), "--out", str(out)], tmp_path)
    assert not out.exists()
    return res


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_official_importer_refuses(name, tmp_path):
    value, pattern = NUMPY[name]
    path = tmp_path / "net.pkl"
    hp.write_official_pickle(path, value)
    _check_refused(_import(path, tmp_path), path, pattern, tmp_path)


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_lpips_reader_refuses(name, tmp_path):
    value, pattern = NUMPY[name]
    path = tmp_path / "vgg16.ckpt"
    hp.write_numpy_pickle(path, value)
    res = _run([os.path.join(ROOT, "tests", "hostile_payloads.py"), "numpy", str(path)], tmp_path)
    _check_refused(res, path, pattern, tmp_path)


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_reader_refuses(name, tmp_path):
    write, reader, pattern = TORCH[name]
    path = tmp_path / "weights.pth"
    write(path)
    res = _run([os.path.join(ROOT, "tests", "hostile_payloads.py"), reader, str(path)], tmp_path)
    _check_refused(res, path, pattern, tmp_path)


def test_torch_writers_make_readable_files(tmp_path):
    # The payload writers produce files the reader accepts when nothing is hostile.
    data = np.arange(9, dtype=np.float32)
    ok = {"w": hp.tensor(hp.Storage("0", 9), 1, (2, 3), (3, 1))}
    hp.write_torch_zip(tmp_path / "z.pth", ok, {"0": data})
    hp.write_torch_legacy(tmp_path / "l.pth", ok, {"0": data})
    for name in ("z.pth", "l.pth"):
        res = _run(
            [os.path.join(ROOT, "tests", "hostile_payloads.py"), "torch", str(tmp_path / name)],
            tmp_path,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert "[1., 2., 3.],\n       [4., 5., 6.]" in res.stdout, res.stdout


# ---------------------------------------------------------------------------------------------
# Broken (not hostile) files given to the importer: one line naming the file, exit 2.


def _valid_pickle(path):
    hp.write_official_pickle(path, np.zeros(16, np.float32))
    return path.read_bytes()


BROKEN = {
    "missing": (None, "No such file"),
    "empty": (b"", "the file is empty"),
    "random_bytes": (bytes(range(7, 250)) * 40, "not a pickle file"),
    "text_file": (b"hello, I am not a pickle\n", "not a pickle file"),
    "pickle_of_dict": (pickle.dumps({"a": 1}), r"expected the official \(G, D, Gs\) tuple"),
    "pickle_of_int": (pickle.dumps(12), r"expected the official \(G, D, Gs\) tuple"),
    "truncated": ("half", "truncated"),
    "memo_missing": (b"\x80\x04h\x05.", "Memo value not found"),
    "directory": ("dir", "Is a directory"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_importer_broken_file(name, tmp_path):
    content, pattern = BROKEN[name]
    path = tmp_path / "net.pkl"
    if content == "half":
        data = _valid_pickle(path)
        path.write_bytes(data[: len(data) // 2])
    elif content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    _check_refused(_import(path, tmp_path), path, pattern, tmp_path)


def test_importer_malformed_structure(tmp_path):
    from tests import official_pickle as op

    cases = {
        "variables_not_list": {"variables": 5},
        "variable_is_text": {"variables": [("G_mapping/x", "text")]},
        "bad_hint": {"static_kwargs": {"fmap_base": [1, 2]}},
    }
    script = ["-m", "stylegan_tf.import_official"]
    for name, change in cases.items():
        path = tmp_path / f"{name}.pkl"
        rng = np.random.RandomState(0)
        Gs = op.generator_network("Gs", op.official_generator_vars(rng))
        Gs._state.update(change)
        G = op.generator_network("G", op.official_generator_vars(rng))
        op.dump_official((G, op.network("D", op.official_discriminator_vars(rng)), Gs), path)
        res = _run([*script, str(path), "--out", str(tmp_path / "out")], tmp_path)
        _check_refused(res, path, "pickle item 2", tmp_path)
    # A Network whose component is itself: refused, not an endless recursion.
    path = tmp_path / "cycle.pkl"
    rng = np.random.RandomState(0)
    Gs = op.generator_network("Gs", op.official_generator_vars(rng))
    Gs._state["components"]["synthesis"]._state["components"] = {"loop": Gs}
    G = op.generator_network("G", op.official_generator_vars(rng))
    op.dump_official((G, op.network("D", op.official_discriminator_vars(rng)), Gs), path)
    res = _run([*script, str(path), "--out", str(tmp_path / "out")], tmp_path)
    _check_refused(res, path, "nested too deeply", tmp_path)


def test_importer_out_of_memory(tmp_path):
    # A 64 MB pickle read with 32 MB of address space left: one line, exit 2, no traceback.
    path = tmp_path / "big.pkl"
    with open(path, "wb") as f:
        pickle.dump(np.zeros(16 * 2**20, np.float32), f, protocol=4)
    code = (
        "import resource, sys\n"
        "from stylegan_tf import import_official as imp\n"
        "vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 32 * 2**20, resource.RLIM_INFINITY))\n"
        "sys.exit(imp.main([sys.argv[1], '--out', sys.argv[2]]))\n"
    )
    res = _run(["-c", code, str(path), str(tmp_path / "out")], tmp_path)
    _check_refused(res, path, "not enough memory", tmp_path)
