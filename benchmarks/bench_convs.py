"""The convolution kernels the training step and G run, timed one by one (TensorFlow, NHWC).

For each shape (batch, resolution, channels; 3x3 kernels, float32):

* ``Conv2D`` forward, TF's ``Conv2DBackpropInput`` and ``Conv2DBackpropFilter``, and the
  forward-convolution forms of both gradients that ``training/conv_grad.py`` uses;
* the resampling convolutions: nearest 2x up then a 3x3 conv, against the four 2x2 phase convs
  of ``networks.layers.upscale2d_conv2d``; a 3x3 conv then 2x2 average, against the
  space-to-depth 2x2 conv of ``networks.layers.conv2d_downscale2d``.

Each figure is the median of ``--iters`` calls of a ``tf.function``; GFLOP/s counts the plain
3x3 conv's multiply-adds (2 FLOPs each), so for the resampling rows it is the rate of the map,
not of the kernel::

    python benchmarks/bench_convs.py
    python benchmarks/bench_convs.py --shapes 16x32x128,16x64x64 --iters 30
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _shape(text):
    try:
        n, r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not NxRxC (e.g. 16x32x128)") from None
    if min(n, r, c) < 1 or r % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive, R even")
    return n, r, c


def _kernels(n, r, c):
    """``{name: fn}`` of the timed kernels at batch ``n``, resolution ``r``, ``c`` channels."""
    import numpy as np
    import tensorflow as tf

    from networks.layers import conv2d_downscale2d, upscale2d_conv2d
    from training.conv_grad import _flip, kernel_grad

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((n, r, r, c)), tf.float32)
    dy = tf.constant(rng.standard_normal((n, r, r, c)), tf.float32)
    w = tf.constant(rng.standard_normal((3, 3, c, c)) * 0.03, tf.float32)
    low = tf.constant(rng.standard_normal((n, r // 2, r // 2, c)), tf.float32)
    strides = [1, 1, 1, 1]
    return {
        "Conv2D (forward)": lambda: tf.nn.conv2d(x, w, 1, "SAME"),
        "Conv2DBackpropInput (TF)": lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=[n, r, r, c], filter=w, out_backprop=dy, strides=strides, padding="SAME"
        ),
        "input grad as forward conv": lambda: tf.nn.conv2d(dy, _flip(w), 1, "SAME"),
        "Conv2DBackpropFilter (TF)": lambda: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=[3, 3, c, c], out_backprop=dy, strides=strides, padding="SAME"
        ),
        "kernel grad as forward conv": lambda: kernel_grad(x, dy, 1),
        "nearest up + 3x3 conv": lambda: tf.nn.conv2d(
            tf.repeat(tf.repeat(low, 2, 1), 2, 2), w, 1, "SAME"
        ),
        "up: four 2x2 phase convs": lambda: upscale2d_conv2d(low, w),
        "3x3 conv + 2x2 average": lambda: tf.nn.avg_pool2d(
            tf.nn.conv2d(x, w, 1, "SAME"), 2, 2, "VALID"
        ),
        "down: space-to-depth 2x2 conv": lambda: conv2d_downscale2d(x, w),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shapes",
        default="16x8x128,16x16x128,16x32x128,16x64x64",
        type=lambda s: [_shape(v) for v in s.split(",")],
        help="comma list of NxRxC (batch x resolution x channels)",
    )
    parser.add_argument("--iters", type=int, default=15)
    args = parser.parse_args(argv)
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, __file__, *argv]))

    import tensorflow as tf
    from bench_training import _median_seconds

    print(f"{'shape':>12} {'kernel':<34} {'ms':>8} {'GFLOP/s':>8}")
    for n, r, c in args.shapes:
        flop = 2 * n * r * r * 9 * c * c
        for name, fn in _kernels(n, r, c).items():
            compiled = tf.function(fn)
            ms = 1e3 * _median_seconds(lambda compiled=compiled: compiled().numpy(), 2, args.iters)
            print(f"{f'{n}x{r}x{c}':>12} {name:<34} {ms:8.2f} {flop / ms / 1e6:8.1f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
