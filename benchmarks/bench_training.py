"""Training and inference throughput per resolution.

For every stage of a preset's progressive schedule this measures

* training img/s: the full compiled step of :mod:`training.step` (D loss with R1 on the reals,
  D update, G_ema update, G loss and G update) on one minibatch of random uint8 reals, with the
  fade value at 0.5 so the fade-in branches run;
* G inference img/s: G_ema at the stage (stored noise, no truncation) in a ``tf.function``.

Tracing is excluded (a warm-up call per stage). Example::

    python benchmarks/bench_training.py --preset mnist32 --batch 32
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from stylegan_tf.config import PRESETS, get_preset  # noqa: E402
from training.loop import _adam, build_networks  # noqa: E402
from training.step import distribute_reals, make_train_step  # noqa: E402


def _time_calls(fn, min_calls: int, min_seconds: float):
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return calls, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="mnist32", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=32, help="global minibatch (all stages)")
    parser.add_argument("--resolutions", default=None, help="comma list (default: all stages)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per stage")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds")
    parser.add_argument("--xla", action="store_true", help="jit_compile the step")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)

    cfg = get_preset(args.preset)
    res_max = cfg.G.img_resolution
    stages = [2**k for k in range(2, int(math.log2(res_max)) + 1)]
    stages = [r for r in stages if r >= cfg.schedule.initial_resolution]
    if args.resolutions:
        stages = [int(r) for r in args.resolutions.split(",")]
    if args.batch % min(4, args.batch):
        parser.error(f"--batch {args.batch} is not divisible by the minibatch-stddev group 4")

    strategy = tf.distribute.OneDeviceStrategy(
        "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
    )
    with strategy.scope():
        G, D, G_ema = build_networks(cfg, args.mixed_precision)
        G_opt, D_opt = (
            _adam(cfg.training, args.mixed_precision),
            _adam(cfg.training, args.mixed_precision),
        )
        G_opt.build(G.trainable_variables)
        D_opt.build(D.trainable_variables)
        alpha = tf.Variable(0.5, trainable=False)
        nonfinite = tf.Variable([0, 0], dtype=tf.int64, trainable=False)
    G_opt.learning_rate.assign(cfg.schedule.lr_base)
    D_opt.learning_rate.assign(cfg.schedule.lr_base)
    device = tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("CPU")
    print(
        f"preset {args.preset}: {res_max}^2 x{cfg.G.img_channels}, batch {args.batch}, "
        f"device {device[0].name}, threads intra {tf.config.threading.get_intra_op_parallelism_threads()}",
        flush=True,
    )
    print(f"{'res':>5} {'train img/s':>12} {'ms/step':>9} {'G infer img/s':>14} {'trace s':>8}")
    results = []
    rng = np.random.RandomState(0)
    for stage in stages:
        step_fn = make_train_step(
            strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite,
            stage=stage, batch=args.batch, training_cfg=cfg.training, seed=0,
            xla=args.xla, mixed_precision=args.mixed_precision,
            label_table=np.eye(max(cfg.G.c_dim, 1), dtype=np.float32) if cfg.G.c_dim else None,
        )  # fmt: skip
        reals = tf.constant(
            rng.randint(0, 256, (args.batch, stage, stage, cfg.G.img_channels)).astype(np.uint8)
        )
        labels = tf.zeros([args.batch, cfg.G.c_dim])
        counter = [0]

        def train_once(step_fn=step_fn, reals=reals, labels=labels, counter=counter):
            out = step_fn(
                distribute_reals(strategy, reals), labels, tf.constant(counter[0], tf.int64)
            )
            counter[0] += 1
            float(out["Loss/D"])  # wait for the step

        t0 = time.perf_counter()
        train_once()
        trace_s = time.perf_counter() - t0
        calls, secs = _time_calls(train_once, args.steps, args.seconds)
        train_ips = calls * args.batch / secs

        z = tf.constant(rng.randn(args.batch, cfg.G.z_dim).astype(np.float32))
        c = tf.zeros([args.batch, cfg.G.c_dim]) if cfg.G.c_dim else None

        @tf.function
        def infer(z, stage=stage, c=c):
            return G_ema(z, c, stage=stage, alpha=1.0, noise_mode="const")

        def infer_once(z=z, infer=infer):
            infer(z).numpy()

        infer_once()
        icalls, isecs = _time_calls(infer_once, args.steps, args.seconds / 2)
        infer_ips = icalls * args.batch / isecs
        results.append(
            {
                "resolution": stage,
                "train_img_per_sec": train_ips,
                "ms_per_step": 1000 * secs / calls,
                "g_infer_img_per_sec": infer_ips,
                "trace_sec": trace_s,
            }
        )
        print(
            f"{stage:>5} {train_ips:>12.1f} {1000 * secs / calls:>9.1f} {infer_ips:>14.1f} "
            f"{trace_s:>8.1f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
