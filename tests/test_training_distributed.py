"""Distribution: 2 replicas == 1 device (same global batch and seeds); 2 worker processes on
127.0.0.1 end with identical weights. Both run in fresh processes (logical devices and
TF_CONFIG must be set before TensorFlow initialises)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from training_helpers import ROOT, env_for_child, make_dataset, run_python

TESTS = os.path.join(ROOT, "tests")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dist") / "tiny8", res=8, channels=3, num=64)


EQUIVALENCE = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {tests!r})
from training_helpers import tiny_config
import training.loop as loop

build = loop.build_networks


def generic_start(cfg, mixed_precision=False):
    # The official start (const = 1, noise weights = 0) feeds the first instance norm a
    # spatially constant map, whose Jacobian (1 / sqrt(1e-8)) amplifies float summation-order
    # noise 1e4-fold. A generic starting point keeps the comparison well conditioned.
    G, D, G_ema = build(cfg, mixed_precision)
    rng = np.random.RandomState(3)
    for v in G.variables:
        if v.path.endswith("const/const") or v.path.endswith("noise/weight"):
            v.assign(rng.randn(*v.shape).astype("float32"))
    for ve, v in zip(G_ema.variables, G.variables):
        ve.assign(v)
    return G, D, G_ema


loop.build_networks = generic_start
cfg = tiny_config()
quiet = loop.LoopOptions(resume=None, export=False, print_fn=lambda *a, **k: None)
strategies = {{
    "one": tf.distribute.OneDeviceStrategy("/cpu:0"),
    "two": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
}}
for name, strategy in strategies.items():
    r = loop.training_loop(cfg, {out!r} + "/" + name, {data!r}, quiet, strategy=strategy)
    m = r.models
    arrays = {{v.path: np.asarray(v) for k in ("G", "D", "G_ema") for v in m[k].variables
               if "seed_generator" not in v.path}}
    np.savez({out!r} + "/" + name + ".npz", **arrays)
    print(json.dumps({{"name": name, "replicas": strategy.num_replicas_in_sync,
                      "nimg": r.cur_nimg, "status": r.status,
                      "iterations": [int(np.asarray(m[k].iterations)) for k in ("G_opt", "D_opt")]}}))
"""


def test_two_replicas_match_one_device(dataset, tmp_path):
    proc = run_python(EQUIVALENCE.format(tests=TESTS, out=str(tmp_path), data=dataset))
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = {r["name"]: r for r in map(json.loads, proc.stdout.strip().splitlines()[-2:])}
    assert runs["one"]["replicas"] == 1 and runs["two"]["replicas"] == 2
    # 2 schedule rounds of 4 minibatches of 8: stage 4, then stage 8 fading in (alpha 0.5),
    # with an Adam reset in between.
    assert runs["one"]["nimg"] == runs["two"]["nimg"] == 64
    assert runs["one"]["iterations"] == runs["two"]["iterations"] == [4, 4]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert sorted(one.files) == sorted(two.files)
    changed = 0
    for key in one.files:
        if key.endswith("b4_const/bias/bias"):
            # Still ill-conditioned (lrelu + instance norm of a near-constant 4x4 map).
            np.testing.assert_allclose(one[key], two[key], atol=1e-3, err_msg=key)
            continue
        np.testing.assert_allclose(one[key], two[key], rtol=1e-4, atol=1e-5, err_msg=key)
        changed += key.startswith("G/") and "kernel" in key
    assert changed > 10


MULTI_WORKER = """
import json, os, sys
import numpy as np
sys.path.insert(0, {tests!r})
from training.distribute import is_chief, make_strategy
strategy = make_strategy("multi-worker")  # before any other TensorFlow work
from training_helpers import tiny_config
from training.loop import LoopOptions, training_loop

cfg = tiny_config(total_kimg=0.032, training_kimg=0.016, transition_kimg=0.016)
r = training_loop(cfg, {out!r}, {data!r},
                  LoopOptions(resume=None, export=False, print_fn=lambda *a, **k: None),
                  strategy=strategy)
m = r.models
arrays = {{v.path: np.asarray(v) for name in ("G", "D", "G_ema") for v in m[name].variables}}
np.savez({out!r} + ".npz", **arrays)
print(json.dumps({{"replicas": strategy.num_replicas_in_sync, "chief": is_chief(strategy),
                  "nimg": r.cur_nimg, "status": r.status}}))
"""


def _free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_end_with_identical_weights(dataset, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = env_for_child(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        )
        code = MULTI_WORKER.format(tests=TESTS, out=str(tmp_path / f"w{i}"), data=dataset)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    info = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert [i["replicas"] for i in info] == [2, 2]
    assert [i["chief"] for i in info] == [True, False]
    assert info[0]["nimg"] == info[1]["nimg"] == 32
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert sorted(w0.files) == sorted(w1.files)
    for key in w0.files:
        np.testing.assert_allclose(w0[key], w1[key], rtol=1e-6, atol=1e-7, err_msg=key)
    # Only the chief writes the run's outputs.
    assert os.path.isfile(tmp_path / "w0" / "stats.jsonl")
    assert not os.path.exists(tmp_path / "w1" / "stats.jsonl")
    assert os.listdir(tmp_path / "w0" / "checkpoints")
