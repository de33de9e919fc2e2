"""Throughput of the metric networks on this machine: Inception features and LPIPS pairs.

    .venv/bin/python benchmarks/bench_metrics.py --images 64 --batch 32

Times `--images` images (after one warm-up batch that compiles the function) and
extrapolates linearly to seconds per 1,000 images (per 1,000 pairs for LPIPS). For Inception it
also prints the FLOPs per image counted from the compiled graph (as `bench_training.py` counts
them: 2 per multiply-accumulate of every convolution and matrix product), the machine's 3x3
convolution rate measured in the same process right after, and the fraction of that rate the
forward reaches.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=256, help="input size of the reals")
    parser.add_argument("--lpips-size", type=int, default=128, help="PPL crop size")
    args = parser.parse_args()
    print(f"command: python benchmarks/bench_metrics.py {shlex.join(sys.argv[1:])}", flush=True)
    from stylegan_tf.util import tune_host_allocator

    print(f"host allocator tuned: {tune_host_allocator()} (as the metrics command line)")
    from metrics.inception import InceptionFeatures
    from metrics.ppl import get_lpips

    rnd = np.random.RandomState(0)
    r = args.resolution
    images = rnd.randint(0, 256, (args.images, r, r, 3)).astype(np.uint8)
    extractor = InceptionFeatures(batch_size=args.batch)
    extractor(images[: args.batch])  # compile
    start = time.perf_counter()
    extractor(images)
    dt = time.perf_counter() - start
    print(
        f"inception: {args.images} images {r}x{r} (batch {args.batch}) in {dt:.2f} s -> "
        f"{dt / args.images * 1000:.1f} s per 1k images ({args.images / dt:.1f} img/s)"
    )
    import tensorflow as tf
    from bench_training import _conv_rate, count_graph

    spec = tf.TensorSpec([args.batch, r, r, 3], tf.uint8)
    flops, _ = count_graph(extractor._fn.get_concrete_function(spec).graph)
    per_image = flops / args.batch
    rate = _conv_rate(tf, 2, 10)
    reached = args.images / dt * per_image / 1e9
    print(
        f"inception: {per_image / 1e9:.2f} GFLOP per image counted -> {reached:.1f} GFLOP/s; "
        f"3x3 conv rate {rate:.1f} GFLOP/s; forward / conv rate {reached / rate:.0%}"
    )

    lpips = get_lpips(None)
    s = args.lpips_size
    x0 = rnd.uniform(-1, 1, (args.batch, s, s, 3)).astype(np.float32)
    x1 = np.clip(x0 + 0.01 * rnd.randn(*x0.shape), -1, 1).astype(np.float32)
    fn = tf.function(lambda a, b: lpips([a, b]))
    fn(x0, x1)  # compile
    reps = max(1, args.images // args.batch)
    start = time.perf_counter()
    for _ in range(reps):
        fn(x0, x1).numpy()
    dt = time.perf_counter() - start
    pairs = reps * args.batch
    print(f"lpips: {pairs} pairs {s}x{s} in {dt:.2f} s -> {dt / pairs * 1000:.1f} s per 1k pairs")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
