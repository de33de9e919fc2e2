"""Training-step and G-inference throughput, their counted FLOPs and the machine's conv rate.

For every resolution this measures, in one process:

* training img/s: the full compiled step of :mod:`training.step` (D loss with R1 on the reals,
  D update, G_ema update, G loss and G update) on one minibatch of random uint8 reals, with the
  fade value at ``--alpha`` (0.5: the fade-in branches run);
* G inference img/s: G_ema at the stage (stored noise, no truncation) in a ``tf.function``;
* FLOPs per image of both, counted from the traced graphs: 2 per multiply-accumulate of every
  convolution, depthwise convolution and matrix product, forward and backward (elementwise ops
  are not counted);
* the machine's 3x3 convolution rate: a TF ``Conv2D`` 128 -> 128 at 32^2, batch 16, NHWC, timed
  in the same process, alternately with the measured calls (one conv after each timed step or
  inference), so that both sample the same minutes of a machine whose speed drifts; the table's
  conv column is the rate measured alongside the training steps;
* the ratio ``img/s * FLOPs/img / conv rate``: the fraction of the conv rate the step (and
  G inference, against the conv rate measured alongside it) reaches.

Every figure is the median of ``--steps`` timed calls after ``--warmup`` untimed ones. The
process first sets up glibc's allocator as the command lines do
(:func:`stylegan_tf.util.tune_host_allocator`; ``STYLEGAN_TF_MALLOC=default`` leaves it).
``--profile`` also runs two steps under the TF profiler and prints the step's op time by op type
(summed over the threads that ran the ops), the largest shares first. The
default configuration is the issue-14 benchmark: StyleGAN v1 at a quarter of the official width
(``channel_base`` 4096, ``channel_max`` 128: 128 channels up to 32^2, 64 at 64^2; mapping 8 x 512),
batch 16, R1 gamma 10, fade-in alpha 0.5::

    python benchmarks/bench_training.py --resolutions 32,64

``--preset NAME`` measures a project preset instead (``--width`` is then ignored). ``--xla``
compiles the step and G inference with XLA, their blurs traced as separable adds (as
``run_training.py --xla`` does).

``--compare DIR`` measures the code in DIR (e.g. an export of another commit) "before" against
this checkout "after", paired: each side runs in its own long-lived process, both set up first,
then they take turns call by call (the other waits on a pipe), the side that goes first
alternating, so that each pair samples the same seconds of the machine. For each stage and for
the training step, G inference and the conv probe it prints both sides' median img/s (and
counted FLOPs) and the median and range over the pairs of after/before; the probe's ratio shows
how much drift is left (1.00x when pairing removes it). ``--steps`` x ``--repeat`` pairs are
timed after ``--warmup`` pairs. ``--after-xla`` runs only the after side with ``--xla``: with
``--compare .`` that is XLA against the default on the same code::

    git archive d0c2dc4 | tar -x -C /tmp/base
    python benchmarks/bench_training.py --compare /tmp/base --resolutions 32 --steps 15
    python benchmarks/bench_training.py --compare . --after-xla --resolutions 32 --steps 15
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset", default=None, help="a project preset (default: the issue-14 config)"
    )
    parser.add_argument(
        "--width", default=4, type=int, help="fraction of the official width: 1/W (default 4)"
    )
    parser.add_argument("--batch", type=int, default=16, help="global minibatch (all stages)")
    parser.add_argument("--resolutions", default="32,64", help="comma list of stages")
    parser.add_argument("--alpha", type=float, default=0.5, help="fade-in value of the stage")
    parser.add_argument("--steps", type=int, default=7, help="timed calls (median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls after the trace")
    parser.add_argument("--xla", action="store_true", help="jit_compile the step and G inference")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--no-infer", action="store_true", help="skip G inference")
    parser.add_argument(
        "--profile", action="store_true", help="also print the step's op time by op type"
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--code", default=None, help="import the project from DIR (default: here)")
    parser.add_argument("--compare", default=None, metavar="DIR", help="before/after vs DIR")
    parser.add_argument(
        "--repeat", type=int, default=1, help="--compare times --steps pairs per measurement"
    )
    parser.add_argument(
        "--after-xla", action="store_true", help="--compare: only the after side runs --xla"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.batch % min(4, args.batch):
        parser.error(f"--batch {args.batch} is not divisible by the minibatch-stddev group 4")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


# ---------------------------------------------------------------------------------------------
# FLOP counting from a traced graph.


def _dims(shape):
    return [int(d) if d is not None else None for d in shape]


def _prod(xs):
    out = 1
    for x in xs:
        out *= x
    return out


def _op_flops(op):
    """2 x multiply-accumulates of a conv / depthwise conv / matmul op (0 for anything else)."""
    t = op.type
    try:
        if t in ("Conv2D", "DepthwiseConv2dNative"):
            out, w = _dims(op.outputs[0].shape), _dims(op.inputs[1].shape)
            per_out = w[0] * w[1] * (w[2] if t == "Conv2D" else 1)
            return 2 * _prod(out) * per_out
        if t in ("Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput"):
            dy, w = _dims(op.inputs[2].shape), _dims(op.inputs[1].shape)
            per_out = w[0] * w[1] * (w[2] if t == "Conv2DBackpropInput" else 1)
            return 2 * _prod(dy) * per_out
        if t in ("Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter"):
            dy, w = _dims(op.inputs[2].shape), _dims(op.outputs[0].shape)
            per_out = w[0] * w[1] * (w[2] if t == "Conv2DBackpropFilter" else 1)
            return 2 * _prod(dy) * per_out
        if t in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"):
            a, out = _dims(op.inputs[0].shape), _dims(op.outputs[0].shape)
            adj = op.get_attr("transpose_a" if t == "MatMul" else "adj_x")
            k = a[-2] if adj else a[-1]
            return 2 * _prod(out) * k
    except (TypeError, ValueError, IndexError):
        return None  # unknown static shape
    return 0


def _live_ops(graph):
    """The ops that the graph's outputs or its stateful ops depend on (what runs)."""
    roots = [t.op for t in graph.outputs if t is not None]
    roots += [
        op for op in graph.get_operations() if op.op_def is not None and op.op_def.is_stateful
    ]
    live, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op in live:
            continue
        live.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op in live]


def count_graph(graph):
    """``(flops, op census)`` of the live ops of a FuncGraph and of the functions it calls."""
    flops, census, unknown = 0, {}, 0
    seen = set()

    def visit(g):
        nonlocal flops, unknown
        for op in _live_ops(g):
            census[op.type] = census.get(op.type, 0) + 1
            f = _op_flops(op)
            if f is None:
                unknown += 1
            else:
                flops += f
            for attr in ("f", "then_branch", "else_branch", "body", "cond"):
                try:
                    fn = op.get_attr(attr)
                except (ValueError, TypeError):
                    continue
                name = getattr(fn, "name", None)
                if name and name not in seen:
                    seen.add(name)
                    sub = g._get_function(name) if hasattr(g, "_get_function") else None
                    sub_graph = getattr(sub, "graph", None)
                    if sub_graph is not None:
                        visit(sub_graph)

    visit(graph)
    if unknown:
        print(f"warning: {unknown} conv/matmul ops without static shapes are not counted")
    return flops, census


# ---------------------------------------------------------------------------------------------
# Timing.


def _median_seconds(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


_CONV_FLOP = 2 * 16 * 32 * 32 * 128 * 9 * 128


def _conv_probe(tf):
    """A 3x3 Conv2D 128 -> 128 at 32^2, batch 16, NHWC (float32), traced and run once."""
    x = tf.random.stateless_normal([16, 32, 32, 128], [0, 1])
    w = tf.random.stateless_normal([3, 3, 128, 128], [0, 2])
    conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"))
    conv(x, w).numpy()
    return lambda: conv(x, w).numpy()


def _conv_rate(tf, warmup, steps):
    """GFLOP/s of the probe conv alone: median of ``steps`` calls after ``warmup``."""
    probe = _conv_probe(tf)
    return _CONV_FLOP / _median_seconds(probe, warmup, steps) / 1e9


def _interleaved(fn, probe, warmup, steps):
    """Median seconds of ``fn`` and the conv rate (GFLOP/s) of ``probe``, timed alternately:
    after each timed call of ``fn`` the probe runs once, so both sample the same minutes of a
    machine whose speed drifts."""
    for _ in range(warmup):
        fn()
        probe()
    fn_times, probe_times = [], []
    for _ in range(steps):
        for f, times in ((fn, fn_times), (probe, probe_times)):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
    return statistics.median(fn_times), _CONV_FLOP / statistics.median(probe_times) / 1e9


def _op_time_by_type(tf, fn, calls=2):
    """Run ``fn`` ``calls`` times under the TF profiler; ``{op type: ms per call}``, summed over
    the threads that ran the ops (kernel events are named ``name:Type``)."""
    import glob
    import tempfile

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with tempfile.TemporaryDirectory(prefix="bench_training_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(calls):
                fn()
        finally:
            tf.profiler.experimental.stop()
        trace = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
        with open(trace, "rb") as f:
            space.ParseFromString(f.read())
    by_type = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" not in name or name.startswith("$"):
                    continue
                op_type = name.rsplit(":", 1)[1].strip()
                # whole-function spans, not ops
                if op_type not in ("Process", "Run") and not op_type.startswith("__inference"):
                    by_type[op_type] += event.duration_ps / 1e9 / calls
    return by_type


def _print_profile(stage, by_type, top=12):
    total = sum(by_type.values())
    shares = ", ".join(f"{k} {v / total:.1%}" for k, v in by_type.most_common(top))
    print(f"  {stage}^2 step op time {total:.0f} ms (all threads): {shares}", flush=True)


def _config(args):
    from stylegan_tf.config import get_preset

    if args.preset:
        return get_preset(args.preset), args.preset
    w = args.width
    size = {"channel_base": 16384 // w, "channel_max": 512 // w}
    res = max(int(r) for r in args.resolutions.split(","))
    cfg = get_preset("paper256").replace(
        G={"img_resolution": res, **size}, D={"img_resolution": res, **size}
    )
    return (
        cfg,
        f"StyleGAN v1 at 1/{w} width (channel_base {size['channel_base']}, max {size['channel_max']})",
    )


def _setup(args):
    """Build the networks and optimizers of the benchmark once; returns a context dict."""
    try:  # as the command lines do; the code under --code may predate it
        from stylegan_tf.util import tune_host_allocator
    except ImportError:
        tuned = False
    else:
        tuned = tune_host_allocator()
    import tensorflow as tf

    from training.loop import _adam, build_networks

    cfg, name = _config(args)
    strategy = tf.distribute.OneDeviceStrategy(
        "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
    )
    with strategy.scope():
        G, D, G_ema = build_networks(cfg, args.mixed_precision)
        G_opt = _adam(cfg.training, args.mixed_precision)
        D_opt = _adam(cfg.training, args.mixed_precision)
        G_opt.build(G.trainable_variables)
        D_opt.build(D.trainable_variables)
        alpha = tf.Variable(args.alpha, trainable=False)
        nonfinite = tf.Variable([0, 0], dtype=tf.int64, trainable=False)
    G_opt.learning_rate.assign(cfg.schedule.lr_base)
    D_opt.learning_rate.assign(cfg.schedule.lr_base)
    device = tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("CPU")
    description = (
        f"{name}: mapping {cfg.G.mapping_layers}x{cfg.G.mapping_fmaps}, batch {args.batch}, "
        f"R1 gamma {cfg.training.r1_gamma}, alpha {args.alpha}, xla {args.xla}, device "
        f"{device[0].name}, host allocator tuned {tuned}, "
        f"code {_HERE if args.code is None else args.code}"
    )
    return dict(
        tf=tf, cfg=cfg, strategy=strategy, nets=(G, D, G_ema), opts=(G_opt, D_opt),
        alpha=alpha, nonfinite=nonfinite, description=description,
    )  # fmt: skip


def _stage(args, ctx, stage, rng):
    """The stage's compiled training step and G inference, traced and run once each.

    Returns ``{"train": fn, "infer": fn or None, "trace_sec", "train_flops", "train_census",
    "infer_flops"}``; each fn runs one call and waits for its result.
    """
    import numpy as np

    from training.step import distribute_reals, make_train_step

    tf, cfg, strategy = ctx["tf"], ctx["cfg"], ctx["strategy"]
    G, D, G_ema = ctx["nets"]
    step_fn = make_train_step(
        strategy, G, D, G_ema, *ctx["opts"], ctx["alpha"], ctx["nonfinite"],
        stage=stage, batch=args.batch, training_cfg=cfg.training, seed=0,
        xla=args.xla, mixed_precision=args.mixed_precision,
        label_table=np.eye(cfg.G.c_dim, dtype=np.float32) if cfg.G.c_dim else None,
    )  # fmt: skip
    reals = tf.constant(
        rng.randint(0, 256, (args.batch, stage, stage, cfg.G.img_channels)).astype(np.uint8)
    )
    labels = tf.zeros([args.batch, cfg.G.c_dim])
    counter = [0]
    dist_reals = distribute_reals(strategy, reals)

    def train_once():
        out = step_fn(dist_reals, labels, tf.constant(counter[0], tf.int64))
        counter[0] += 1
        float(out["Loss/D"])  # wait for the step

    t0 = time.perf_counter()
    train_once()
    out = {"train": train_once, "trace_sec": time.perf_counter() - t0, "infer": None}
    concrete = step_fn.get_concrete_function(dist_reals, labels, tf.constant(0, tf.int64))
    out["train_flops"], out["train_census"] = count_graph(concrete.graph)
    if not args.no_infer:
        z = tf.constant(rng.randn(args.batch, cfg.G.z_dim).astype(np.float32))
        c = tf.zeros([args.batch, cfg.G.c_dim]) if cfg.G.c_dim else None

        def infer(z):
            return G_ema(z, c, stage=stage, alpha=1.0, noise_mode="const")

        if args.xla:  # as the XLA step traces its networks (see training.step)
            from networks.layers import separable_blur

            infer = tf.function(infer, jit_compile=True, autograph=False)
            with separable_blur():
                infer(z).numpy()
        else:
            infer = tf.function(infer)
            infer(z).numpy()
        out["infer_flops"], _ = count_graph(infer.get_concrete_function(z).graph)
        out["infer"] = lambda: infer(z).numpy()
    return out


def measure(args):
    import numpy as np

    ctx = _setup(args)
    tf = ctx["tf"]
    print(ctx["description"], flush=True)
    header = (
        f"{'res':>4} {'train img/s':>11} {'GFLOP/img':>9} {'conv GFLOP/s':>12} {'ratio':>6} "
        f"{'infer img/s':>11} {'GFLOP/img':>9} {'ratio':>6} {'trace s':>7} {'ops':>6}"
    )
    print(header)
    results = []
    rng = np.random.RandomState(0)
    for stage in [int(r) for r in args.resolutions.split(",")]:
        fns = _stage(args, ctx, stage, rng)
        probe = _conv_probe(tf)
        train_s, conv_train = _interleaved(fns["train"], probe, args.warmup, args.steps)
        census = fns["train_census"]
        row = {
            "resolution": stage,
            "train_img_per_sec": args.batch / train_s,
            "train_gflop_per_img": fns["train_flops"] / args.batch / 1e9,
            "train_ops": sum(census.values()),
            "train_census": dict(sorted(census.items(), key=lambda kv: -kv[1])[:12]),
            "trace_sec": fns["trace_sec"],
            "conv_gflop_per_sec": conv_train,
        }
        row["train_ratio"] = row["train_img_per_sec"] * row["train_gflop_per_img"] / conv_train
        if args.profile:
            row["train_op_ms"] = dict(_op_time_by_type(tf, fns["train"]))
        if fns["infer"] is not None:
            infer_s, conv_infer = _interleaved(fns["infer"], probe, args.warmup, args.steps)
            row["infer_img_per_sec"] = args.batch / infer_s
            row["infer_gflop_per_img"] = fns["infer_flops"] / args.batch / 1e9
            row["infer_conv_gflop_per_sec"] = conv_infer
            row["infer_ratio"] = row["infer_img_per_sec"] * row["infer_gflop_per_img"] / conv_infer
        infer_cols = f"{'-':>11} {'-':>9} {'-':>6}"
        if "infer_img_per_sec" in row:
            infer_cols = (
                f"{row['infer_img_per_sec']:>11.1f} {row['infer_gflop_per_img']:>9.3f} "
                f"{row['infer_ratio']:>6.0%}"
            )
        results.append(row)
        print(
            f"{stage:>4} {row['train_img_per_sec']:>11.2f} {row['train_gflop_per_img']:>9.2f} "
            f"{row['conv_gflop_per_sec']:>12.1f} {row['train_ratio']:>6.0%} {infer_cols} "
            f"{row['trace_sec']:>7.1f} {row['train_ops']:>6}",
            flush=True,
        )
        if args.profile:
            _print_profile(stage, collections.Counter(row["train_op_ms"]))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    return results


_REPLY = "@@bench "  # prefix of a --serve worker's answers on stdout


def serve(args):
    """Worker of ``--compare``: set up every stage, answer ``ready`` with the counted FLOPs,
    then for each request line ``KIND RES`` (KIND ``train``, ``infer`` or ``conv``) run one call
    and answer its seconds."""
    import numpy as np

    ctx = _setup(args)
    stages, info = {}, {"description": ctx["description"]}
    rng = np.random.RandomState(0)
    for stage in [int(r) for r in args.resolutions.split(",")]:
        fns = stages[stage] = _stage(args, ctx, stage, rng)
        info[str(stage)] = {
            "train_gflop_per_img": fns["train_flops"] / args.batch / 1e9,
            "infer_gflop_per_img": fns.get("infer_flops", 0) / args.batch / 1e9,
        }
    probe = _conv_probe(ctx["tf"])
    print(_REPLY + json.dumps(info), flush=True)
    for line in sys.stdin:
        kind, stage = line.split()
        fn = probe if kind == "conv" else stages[int(stage)][kind]
        t0 = time.perf_counter()
        fn()
        print(_REPLY + json.dumps(time.perf_counter() - t0), flush=True)


class _Worker:
    """A ``--serve`` process on one checkout."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self):
        for line in self.proc.stdout:
            if line.startswith(_REPLY):
                return json.loads(line[len(_REPLY) :])
            print("  | " + line, end="", flush=True)
        raise RuntimeError(f"benchmark worker exited with code {self.proc.wait()}")

    def call(self, kind, stage):
        self.proc.stdin.write(f"{kind} {stage}\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def _compare_args(argv):
    """``argv`` without the options that belong to the comparing process."""
    base, skip = [], False
    own = ("--compare", "--repeat", "--json")
    for a in argv:
        if skip:
            skip = False
        elif a in own:
            skip = True
        elif a != "--after-xla" and not a.startswith(tuple(o + "=" for o in own)):
            base.append(a)
    return base


def compare(args, argv):
    """Paired timing of ``--compare DIR`` (before) and this checkout (after).

    Both run as long-lived ``--serve`` workers, set up side by side; then they take turns call
    by call (one computes while the other waits), the first of each pair alternating, so both
    sides of a pair sample the same seconds of the machine. Reported per stage: each side's
    median img/s, and the median and range over pairs of after/before, for the training step,
    G inference and (as a check that the pairing removes the drift) the conv probe.
    """
    base = _compare_args(argv)
    stages = [int(r) for r in args.resolutions.split(",")]
    workers, info = {}, {}
    sides = (("before", os.path.abspath(args.compare), []), ("after", _HERE, []))
    if args.after_xla:
        sides[1][2].append("--xla")
    try:
        for label, code, extra in sides:
            cmd = [sys.executable, os.path.abspath(__file__), *base, *extra, "--code", code]
            workers[label] = _Worker([*cmd, "--serve"])
        for label in workers:
            info[label] = workers[label].read()
            print(f"{label}: {info[label]['description']}", flush=True)
        kinds = ["train"] + ([] if args.no_infer else ["infer"]) + ["conv"]
        rows = []
        for stage in stages:
            for kind in kinds:
                times = {"before": [], "after": []}
                for i in range(args.warmup + args.steps * args.repeat):
                    order = ("before", "after") if i % 2 == 0 else ("after", "before")
                    for label in order:
                        t = workers[label].call(kind, stage)
                        if i >= args.warmup:
                            times[label].append(t)
                rows.append({"res": stage, "kind": kind, **times})
                _print_pairs(stage, kind, times, args.batch, info)
        return rows
    finally:
        for w in workers.values():
            w.close()


def _print_pairs(stage, kind, times, batch, info):
    ratios = sorted(b / a for b, a in zip(times["before"], times["after"]))
    if kind == "conv":
        rate = {k: _CONV_FLOP / statistics.median(v) / 1e9 for k, v in times.items()}
        sides = f"before {rate['before']:.1f}, after {rate['after']:.1f} GFLOP/s"
    else:
        rate = {k: batch / statistics.median(v) for k, v in times.items()}
        flops = {k: info[k][str(stage)][f"{kind}_gflop_per_img"] for k in rate}
        sides = (
            f"before {rate['before']:.2f} img/s ({flops['before']:.3f} GFLOP/img), "
            f"after {rate['after']:.2f} img/s ({flops['after']:.3f})"
        )
    print(
        f"{stage:>4}^2 {kind:<5} {sides}; after/before over {len(ratios)} pairs: median "
        f"{statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x",
        flush=True,
    )


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    print(
        "command: " + " ".join(shlex.quote(a) for a in [sys.executable, __file__, *argv]),
        flush=True,
    )
    if args.compare:
        compare(args, argv)
        return 0
    sys.path.insert(0, os.path.abspath(args.code) if args.code else _HERE)
    if args.serve:
        serve(args)
        return 0
    results = measure(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
