"""User mistakes given to the export, generate and import commands: one line naming the path,
exit 2, no traceback, nothing written; a second command on a locked output folder is refused.

The matrix calls each command's ``main`` in this process (an uncaught exception fails the test
just as a traceback would); one case per command also runs as ``python -m ...``.
"""

import os
import subprocess
import sys

import pytest

from stylegan_tf import export, generate
from stylegan_tf import import_official as imp
from stylegan_tf.files import DirLock
from tests.hostile_payloads import ROOT, write_official_pickle

COMMANDS = {
    "export": (export.main, "--network", "--out"),
    "generate": (generate.main, "--network", "--outdir"),
}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    from tests.test_export import tiny_generator

    path = tmp_path_factory.mktemp("net") / "G.keras"
    tiny_generator().save(path)
    return path


def _one_line_error(capsys, rc, *needles):
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for needle in needles:
        assert str(needle) in err, (needle, err)
    return err


def _bad_networks(tmp_path):
    rand = tmp_path / "random.keras"
    rand.write_bytes(os.urandom(2048))
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    notkeras = tmp_path / "other.keras"
    import zipfile

    with zipfile.ZipFile(notkeras, "w") as zf:
        zf.writestr("hello.txt", "not a model")
    (tmp_path / "emptydir").mkdir()
    return {
        "missing": (tmp_path / "nope.keras", "no such snapshot"),
        "random_bytes": (rand, "not a .keras snapshot (not a zip archive"),
        "empty": (empty, "is empty"),
        "zip_without_model": (notkeras, "no config.json"),
        "empty_directory": (tmp_path / "emptydir", "nothing to load"),
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    "case", ["missing", "random_bytes", "empty", "zip_without_model", "empty_directory"]
)
def test_bad_network(command, case, tmp_path, capsys):
    main, net_flag, out_flag = COMMANDS[command]
    path, message = _bad_networks(tmp_path)[case]
    out = tmp_path / "out"
    rc = main([net_flag, str(path), out_flag, str(out)])
    _one_line_error(capsys, rc, path, message)
    assert not out.exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unwritable_out(command, snapshot, tmp_path, capsys):
    main, net_flag, out_flag = COMMANDS[command]
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    out = blocker / "out"
    rc = main([net_flag, str(snapshot), out_flag, str(out)])
    _one_line_error(capsys, rc, blocker, "exists and is not a folder")
    assert blocker.read_text() == "a file where a folder should be"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_locked_out(command, snapshot, tmp_path, capsys):
    main, net_flag, out_flag = COMMANDS[command]
    out = tmp_path / "out"
    with DirLock(out, "another export", inside=False):
        rc = main([net_flag, str(snapshot), out_flag, str(out)])
    _one_line_error(capsys, rc, out, f"in use by PID {os.getpid()}", "another export")
    assert not out.exists()


def test_importer_unwritable_and_locked_out(tmp_path, capsys):
    pkl = tmp_path / "net.pkl"
    import numpy as np

    write_official_pickle(pkl, np.zeros(16, np.float32))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = imp.main([str(pkl), "--out", str(blocker / "out"), "--no-saved-model"])
    _one_line_error(capsys, rc, blocker, "exists and is not a folder")
    out = tmp_path / "out"
    with DirLock(out, "another import", inside=False):
        rc = imp.main([str(pkl), "--out", str(out), "--no-saved-model"])
    _one_line_error(capsys, rc, out, "in use by PID")
    assert not out.exists()


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", ["export", "generate", "import_official"])
def test_command_line_one_line_error(command, tmp_path):
    # As a user runs it: a random-bytes file given as the network / pickle.
    bad = tmp_path / ("net.pkl" if command == "import_official" else "G.keras")
    bad.write_bytes(os.urandom(4096))
    if command == "import_official":
        args = [f"stylegan_tf.{command}", str(bad), "--out", str(tmp_path / "out")]
    else:
        _, net_flag, out_flag = COMMANDS[command]
        args = [f"stylegan_tf.{command}", net_flag, str(bad), out_flag, str(tmp_path / "out")]
    res = _run(args, tmp_path)
    assert res.returncode == 2, res.stderr[-3000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(bad) in errors[0], res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "File not found" not in res.stderr
    assert not (tmp_path / "out").exists()
