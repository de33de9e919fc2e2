"""Resume: a run stopped by SIGTERM at any moment (inside a group of minibatches, during a tick's
maintenance) and resumed ends bitwise equal to the uninterrupted run, with the same stats rows
and grids; through the command line SIGTERM exits 143 and a SIGKILL mid-tick loses at most
that tick."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from training_helpers import (
    ROOT,
    checkpoint_arrays,
    env_for_child,
    make_dataset,
    run_python,
)

from training.outputs import WALL_TIME_FIELDS

TESTS = os.path.join(ROOT, "tests")

# A child process trains the tiny run below; STOP makes it send itself a real SIGTERM at one
# precise moment (a test-side patch, no hook in the loop). Groups of 4 minibatches of 8 images
# start at 0 (4^2 stable), 32 (8^2 fading in: a new reals pipeline inside the tick), 64 (8^2);
# tick 1 ends at 96; then 96, 128, 160; the run ends at 192.
CHILD = """
import json, os, signal, sys
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
sys.path.insert(0, {tests!r})
from training_helpers import tiny_config
import training.loop as loop
from training import outputs

stop, calls = {stop!r}, [0]


def sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


if stop.startswith("step:"):  # after minibatch N (1-based) of this process, inside a group
    make = loop.make_train_step

    def make_train_step(*args, **kwargs):
        step_fn = make(*args, **kwargs)

        def wrapped(*a):
            out = step_fn(*a)
            calls[0] += 1
            if calls[0] == int(stop[5:]):
                sigterm()
            return out

        return wrapped

    loop.make_train_step = make_train_step
elif stop == "snapshot":  # during a tick's maintenance
    save = outputs.save_network_snapshot

    def save_network_snapshot(G, path):
        sigterm()
        return save(G, path)

    outputs.save_network_snapshot = save_network_snapshot

cfg = tiny_config(total_kimg=0.192, tick_kimg=0.096, training_kimg=0.016, transition_kimg=0.032)
options = loop.LoopOptions(resume="auto", export=False, grid_max_images=8,
                           print_fn=lambda *a, **k: None)
r = loop.training_loop(cfg, {out!r}, {data!r}, options)
print(json.dumps([r.status, r.cur_nimg, r.resumed_nimg]))
"""


@pytest.fixture(scope="module")
def tiny8(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("resume") / "tiny8", res=8, channels=3, num=64)


def _child_code(data, out, stop=""):
    return textwrap.dedent(CHILD.format(tests=TESTS, out=str(out), data=data, stop=stop))


def _result(returncode, stdout, stderr):
    assert returncode == 0, stderr[-4000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _final_state(out):
    """Final checkpoint tensors, stats rows without wall-time fields, grid PNG bytes."""
    arrays = checkpoint_arrays(os.path.join(out, "checkpoints", "ckpt-192"))
    tick_state = json.loads(arrays.pop("tick_state/.ATTRIBUTES/VARIABLE_VALUE").decode())
    rows = [
        {k: v for k, v in row.items() if not k.startswith(WALL_TIME_FIELDS)} for row in _stats(out)
    ]
    grids = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)
             if n.startswith("fakes")}  # fmt: skip
    return arrays, (tick_state["stats"], tick_state["data"]), rows, grids


def test_sigterm_at_three_points_then_resume_equals_the_uninterrupted_run(tiny8, tmp_path):
    # The uninterrupted run trains in parallel with the interrupted one.
    base = tmp_path / "uninterrupted"
    baseline = subprocess.Popen([sys.executable, "-c", _child_code(tiny8, base)], cwd=ROOT,
                                env=env_for_child(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out = tmp_path / "interrupted"
        # Each line is a fresh process on the same --outdir with --resume auto: (where SIGTERM
        # arrives, [status, images seen at the end, images seen at the resume]).
        chain = [
            # Inside the fade-in group: the tick's statistics so far and its second pipeline
            # (started at 32, 4 batches used) must carry over.
            ("step:6", ["preempted", 64, 0]),
            # During tick 1's maintenance: the maintenance finishes, then the run stops.
            ("snapshot", ["preempted", 96, 64]),
            # Inside tick 2's second group: its pipeline (started at 96) skips 8 batches.
            ("step:6", ["preempted", 160, 96]),
            ("", ["done", 192, 160]),
        ]
        for stop, expected in chain:
            proc = run_python(_child_code(tiny8, out, stop), timeout=600)
            assert _result(proc.returncode, proc.stdout, proc.stderr) == expected, stop
        stdout, stderr = baseline.communicate(timeout=600)
        assert _result(baseline.returncode, stdout, stderr) == ["done", 192, 0]
    finally:
        if baseline.poll() is None:
            baseline.kill()
            baseline.communicate()
    arrays, tick_state, rows, grids = _final_state(out)
    base_arrays, base_tick_state, base_rows, base_grids = _final_state(base)
    assert sorted(arrays) == sorted(base_arrays)
    differ = [k for k in arrays if not np.array_equal(arrays[k], base_arrays[k])]
    assert not differ, f"{len(differ)} of {len(arrays)} tensors differ, e.g. {differ[:5]}"
    assert tick_state == base_tick_state
    assert [(r["tick"], round(r["kimg"] * 1000)) for r in rows] == [(1, 96), (2, 192)]
    assert rows == base_rows
    assert sorted(grids) == [f"fakes000000.{n}.png" for n in ("000", "096", "192")]
    assert grids == base_grids


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
