"""Resume: a run stopped after a tick and resumed equals an uninterrupted run; SIGTERM writes a
checkpoint and exits 143; a SIGKILL mid-tick loses at most that tick."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from training_helpers import ROOT, env_for_child, make_dataset, run_python

TESTS = os.path.join(ROOT, "tests")

RESUME = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
sys.path.insert(0, {tests!r})
from training_helpers import tiny_config
from training.loop import LoopOptions, training_loop

# 3 ticks of 32 images: 4^2 stable, 8^2 fading in, 8^2 stable.
cfg = tiny_config(total_kimg=0.096)


def dump(result, path):
    m = result.models
    arrays = {{v.path: np.asarray(v) for k in ("G", "D", "G_ema") for v in m[k].variables
               if "seed_generator" not in v.path}}
    for k in ("G_opt", "D_opt"):
        arrays.update({{f"{{k}}/{{i}}": np.asarray(v) for i, v in enumerate(m[k].variables)}})
    np.savez(path, **arrays)


def run(out, **kw):
    quiet = dict(export=False, print_fn=lambda *a, **k: None)
    return training_loop(cfg, out, {data!r}, LoopOptions(**quiet, **kw))


a = run({out!r} + "/a", resume=None)
dump(a, {out!r} + "/a.npz")
b = run({out!r} + "/b", resume=None, stop_after_ticks=1)
c = run({out!r} + "/b", resume="auto")
dump(c, {out!r} + "/c.npz")
print(json.dumps({{"a": [a.status, a.cur_nimg, a.cur_tick], "b": [b.status, b.cur_nimg, b.cur_tick],
                  "c": [c.status, c.cur_nimg, c.cur_tick, c.resumed_nimg]}}))
"""


@pytest.fixture(scope="module")
def tiny8(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("resume") / "tiny8", res=8, channels=3, num=64)


def test_resumed_run_equals_uninterrupted_run(tiny8, tmp_path):
    proc = run_python(RESUME.format(tests=TESTS, out=str(tmp_path), data=tiny8))
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["a"] == ["done", 96, 3]
    assert info["b"] == ["stopped", 32, 1]
    assert info["c"] == ["done", 96, 3, 32]
    a, c = np.load(tmp_path / "a.npz"), np.load(tmp_path / "c.npz")
    assert sorted(a.files) == sorted(c.files)
    for key in a.files:  # networks, G_ema, w_avg, both Adam states
        np.testing.assert_allclose(a[key], c[key], rtol=1e-6, atol=1e-7, err_msg=key)
    stats = [json.loads(x) for x in open(tmp_path / "b" / "stats.jsonl")]
    assert [s["tick"] for s in stats] == [1, 2, 3]
    assert [round(s["kimg"] * 1000) for s in stats] == [32, 64, 96]


# ---------------------------------------------------------------------------------------------
# Signals, through the command line.


@pytest.fixture(scope="module")
def tiny16(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("signals") / "tiny16", res=16, channels=3, num=64)


def _start(data, outdir):
    cmd = [sys.executable, os.path.join(ROOT, "run_training.py"), "--data", data,
           "--preset", "tiny", "--kimg", "0.5", "--phase-kimg", "0.05", "--outdir", str(outdir),
           "--no-export"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env_for_child(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _stats(outdir):
    path = os.path.join(outdir, "stats.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _wait_for_ticks(proc, outdir, n, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(_stats(outdir)) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("timed out waiting for a tick")


def _checkpoint_nimg(outdir):
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(os.path.join(outdir, "checkpoints"))
    reader = tf.train.load_checkpoint(prefix)
    key = next(k for k in reader.get_variable_to_shape_map() if k.startswith("cur_nimg/"))
    return int(reader.get_tensor(key))


def test_sigterm_checkpoints_and_sigkill_loses_at_most_one_tick(tiny16, tmp_path):
    out = tmp_path / "run"
    # 1. SIGTERM after the first tick: checkpoint between two minibatches, exit code 143.
    proc = _start(tiny16, out)
    _wait_for_ticks(proc, out, 1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, text[-3000:]
    assert "SIGTERM: checkpoint written" in text
    nimg_term = _checkpoint_nimg(out)
    ticks = _stats(out)
    assert nimg_term >= round(ticks[-1]["kimg"] * 1000)

    # 2. Resume (the same command), then SIGKILL in the middle of a later tick.
    proc = _start(tiny16, out)
    _wait_for_ticks(proc, out, len(ticks) + 1)
    time.sleep(0.3)
    proc.kill()
    proc.communicate(timeout=60)
    ticks = _stats(out)
    nimg_kill = _checkpoint_nimg(out)
    # The checkpoint is written before the tick's stats line: at most the running tick is lost.
    assert nimg_kill >= round(ticks[-1]["kimg"] * 1000) > nimg_term

    # 3. Resume again: it starts exactly at the checkpoint and finishes the run.
    proc = _start(tiny16, out)
    text = proc.communicate(timeout=240)[0]
    assert proc.returncode == 0, text[-3000:]
    assert f"at kimg {nimg_kill / 1000:.3f}" in text
    final = _stats(out)[-1]
    assert final["kimg"] >= 0.5 and "done: kimg" in text
    ticks_after = [s["tick"] for s in _stats(out)]
    assert ticks_after == sorted(ticks_after)  # tick numbers continue, never restart at 1
