"""Training against careless use and damaged files: one run per --outdir (a second run on a busy
folder exits 2 naming the holder), an unwritable --outdir is one error line, an unreadable newest
checkpoint is skipped for an older readable one (none readable: one error line), and what killed
runs left behind (``ckpt-N_temp/``, temporary files, a dead run's lock) is cleaned up with a
message."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from training_helpers import ROOT, env_for_child, make_dataset, run_python

import run_training

TESTS = os.path.join(ROOT, "tests")


@pytest.fixture(scope="module")
def rgb16(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("reliability") / "rgb16", res=16, num=16)


def _tiny_args(data, outdir, *extra):
    return ["--data", data, "--preset", "tiny", "--kimg", "0.032", "--phase-kimg", "0.016",
            "--no-export", "--outdir", str(outdir), *extra]  # fmt: skip


def _error_line(capsys):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_a_second_run_on_a_busy_outdir_exits_2_naming_the_holder(rgb16, tmp_path, capsys):
    outdir = tmp_path / "run"
    code = f"""
        import sys, time
        from stylegan_tf.files import DirLock
        DirLock({str(outdir)!r}, "training").acquire()
        print("locked", flush=True)
        time.sleep(120)
    """
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                              env=env_for_child(), stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert run_training.main(_tiny_args(rgb16, outdir)) == 2
        line = _error_line(capsys)
        assert f"PID {holder.pid} on {socket.gethostname()}" in line and str(outdir) in line
        assert not (outdir / "checkpoints").exists() and not (outdir / "stats.jsonl").exists()
    finally:
        holder.kill()
        holder.communicate()


@pytest.mark.parametrize("kind", ["under-a-file", "is-a-file"])
def test_an_unwritable_outdir_is_one_error_line(kind, rgb16, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    outdir = blocker / "run" if kind == "under-a-file" else blocker
    assert run_training.main(_tiny_args(rgb16, outdir)) == 2
    line = _error_line(capsys)
    assert "cannot write to --outdir" in line and str(outdir) in line
    assert blocker.read_text() == "not a folder"


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_no_readable_checkpoint_is_one_error_line_and_leftovers_are_removed(
    rgb16, tmp_path, capsys
):
    outdir = tmp_path / "run"
    ckpt = outdir / "checkpoints"
    (ckpt / "ckpt-64_temp").mkdir(parents=True)  # a checkpoint write killed midway
    (ckpt / "ckpt-64_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 64)
    (ckpt / "ckpt-32.index").write_bytes(b"garbage index")
    (ckpt / "ckpt-32.data-00000-of-00001").write_bytes(b"garbage data")
    dead = _dead_pid()
    stale = outdir / f".network-snapshot-000000.032.keras.tmp-{dead}-0badc0de.keras"
    stale.write_bytes(b"half a snapshot")
    lock = {"pid": dead, "host": socket.gethostname(), "what": "training"}
    (outdir / ".stylegan_tf.lock").write_text(json.dumps(lock))

    assert run_training.main(_tiny_args(rgb16, outdir)) == 2
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.err[-3000:]
    assert "cannot resume" in errors[0] and str(ckpt / "ckpt-32") in errors[0]
    said = captured.out + captured.err
    assert f"warning: checkpoint {ckpt / 'ckpt-32'} is unreadable" in said
    assert f"removed {ckpt / 'ckpt-64_temp'}" in said and not (ckpt / "ckpt-64_temp").exists()
    assert f"removed {stale}" in said and not stale.exists()
    assert f"taking over the lock of training (PID {dead}" in said


CHECKPOINTS = """
import json, os, sys
sys.path.insert(0, {tests!r})
from training_helpers import tiny_config
from training.loop import LoopOptions, training_loop

cfg = tiny_config(total_kimg=0.064, tick_kimg=0.032)  # checkpoints at 32 and 64 images
r = training_loop(cfg, {out!r}, {data!r}, LoopOptions(export=False, grid_max_images=8))
print(json.dumps([r.status, r.cur_nimg, r.resumed_from]))
"""


@pytest.fixture(scope="module")
def tiny8(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("reliability") / "tiny8", res=8, num=32)


def test_an_unreadable_newest_checkpoint_resumes_from_the_newest_readable_one(tiny8, tmp_path):
    out = tmp_path / "run"
    code = CHECKPOINTS.format(tests=TESTS, out=str(out), data=tiny8)
    proc = run_python(code, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = out / "checkpoints"
    assert sorted(n for n in os.listdir(ckpt) if n.endswith(".index")) == [
        "ckpt-32.index",
        "ckpt-64.index",
    ]
    data = next(ckpt.glob("ckpt-64.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated by a full disk
    proc = run_python(code, timeout=600)  # the same command again
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith(f"warning: checkpoint {ckpt / 'ckpt-64'} is unreadable")
               for line in lines), proc.stdout[-3000:]  # fmt: skip
    assert json.loads(lines[-1]) == ["done", 64, str(ckpt / "ckpt-32")]
    # The stats row of the lost tick was dropped and written again by the resumed run.
    assert "note: dropped 1 stats.jsonl row(s)" in proc.stdout
    rows = [json.loads(line) for line in open(out / "stats.jsonl")]
    assert [(r["tick"], round(r["kimg"] * 1000)) for r in rows] == [(1, 32), (2, 64)]
