"""stylegan_tf.files: atomic folders, stale-temp cleanup and the folder lock (real processes)."""

import json
import os
import subprocess
import sys

import pytest

from stylegan_tf import files

HOLD = """
import sys, time
from stylegan_tf.files import DirLock
lock = DirLock(sys.argv[1], "holder").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_atomic_directory_renames_on_success_and_removes_on_error(tmp_path):
    out = tmp_path / "out"
    with files.atomic_directory(out) as tmp:
        (open(os.path.join(tmp, "a.txt"), "w")).write("x")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "x"
    with pytest.raises(KeyError), files.atomic_directory(tmp_path / "out2") as tmp:
        raise KeyError("boom")
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_lock_refuses_second_holder_and_names_it(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert p.stdout.readline().strip() == b"locked"
        with pytest.raises(files.LockedError, match=rf"in use by PID {p.pid} on .*\(holder\)"):
            files.DirLock(tmp_path, "second").acquire()
    finally:
        p.kill()
        p.wait()
    # The kernel released the dead holder's lock: it is taken over with a message.
    msgs = []
    with files.DirLock(tmp_path, "third", log=msgs.append):
        info = json.loads(open(tmp_path / files.LOCK_NAME).read())
        assert info["pid"] == os.getpid() and info["what"] == "third"
    assert len(msgs) == 1 and f"PID {p.pid}" in msgs[0]


def test_remove_stale_temps_only_removes_dead_processes(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".data.tmp-{dead_pid}-abcd1234"
    live = tmp_path / f".data.tmp-{os.getpid()}-abcd1234"
    other = tmp_path / f".other.tmp-{dead_pid}-00ff00ff.png"
    stale.mkdir()
    live.mkdir()
    other.write_bytes(b"x")
    removed = files.remove_stale_temps(tmp_path, "data", log=lambda m: None)
    assert removed == [str(stale)] and live.exists() and other.exists()
    files.remove_stale_temps(tmp_path, log=lambda m: None)
    assert not other.exists()
