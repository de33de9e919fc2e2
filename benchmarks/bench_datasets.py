"""Benchmark the dataset tool and the reader: images/s at 32² and 256², raw vs PNG, file sizes.

Usage::

    python benchmarks/bench_datasets.py [--out DIR] [--n32 N] [--n256 N] [--workers N] [--seconds S]
    python benchmarks/bench_datasets.py --memory [--size 6000] [--out DIR]

Cases: synthetic random RGB PNG files (worst case for PNG: noise does not compress) and the
built-in real MNIST digits (``builtin:mnist``, upscaled with lanczos for 256²). For each case the
tool is timed in-process (``create_dataset``, everything after TensorFlow's import, process pool
start included) and the reader is timed on ``make_dataset(shuffle=True, repeat=True)`` for
``--seconds`` after one warm-up batch. Sizes are the bytes of all resolutions' shards and of the
top resolution alone. The default run takes about 1-2 minutes on 2 CPU cores.

``--memory`` measures instead the peak resident memory (``VmHWM``, Linux) of a fresh process that
converts one ``--size``² PNG (RGB, then RGBA with a varying alpha) to a 256² pyramid with the
dataset tool's per-image function (``imaging.process_image``, what each worker runs), next to
the same process's RSS before the conversion (Python, numpy and Pillow imported).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from datasets.dataset_tool import create_dataset, import_tensorflow_quietly  # noqa: E402


def make_png_folder(folder: str, n: int, res: int, seed: int = 0) -> None:
    """``n`` random RGB ``res`` x ``res`` PNG files."""
    os.makedirs(folder)
    rng = np.random.RandomState(seed)
    for i in range(n):
        Image.fromarray(rng.randint(0, 256, (res, res, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"{i:06d}.png"), compress_level=1
        )


def time_reader(path: str, res: int, batch: int, seconds: float) -> float:
    """Images/s of ``make_dataset(res, batch)`` over about ``seconds`` after one warm-up batch."""
    import datasets

    ds = datasets.open_dataset(path)
    it = iter(ds.make_dataset(res, batch, shuffle=True, repeat=True, seed=0))
    next(it)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, _ = next(it)
        n += int(x.shape[0])
    return n / (time.perf_counter() - start)


_MEMORY_CHILD = """
import sys
from datasets import imaging

def peak_kib():  # VmHWM: this process's own peak (ru_maxrss also counts the parent's, via fork)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

before = peak_kib()
ok, payload = imaging.process_image(
    ("file", sys.argv[1]), resolution=256, channels=3, resize_mode="center-crop",
    resample="lanczos", encoding="raw",
)
assert ok, payload
print(before, peak_kib())
"""


def make_big_png(path: str, size: int, alpha: bool) -> None:
    """A ``size``² PNG with smooth colour ramps plus a little noise (compresses like a photo),
    RGB or RGBA; the alpha varies too, so that it cannot be dropped as opaque."""
    rows = []
    rng = np.random.RandomState(0)
    ramp = np.arange(size, dtype=np.int32)
    for y0 in range(0, size, 500):  # row blocks, so that the writer itself stays small
        y = np.arange(y0, min(y0 + 500, size), dtype=np.int32)[:, None]
        block = [(ramp[None] + y) % 256, (2 * ramp[None] + y) % 256, (ramp[None] * y) % 256]
        if alpha:
            block.append(64 + (ramp[None] + 3 * y) % 192)
        block = np.stack([np.broadcast_to(b, (len(y), size)) for b in block], axis=-1)
        block = block + rng.randint(0, 4, block.shape)
        rows.append(np.clip(block, 0, 255).astype(np.uint8))
    Image.fromarray(np.concatenate(rows)).save(path, compress_level=1)


def memory_main(args) -> int:
    """Peak RSS of converting one big RGB and one RGBA PNG, each in a fresh process (Linux)."""
    print("command:", shlex.join(["python", "benchmarks/bench_datasets.py", "--memory",
                                  "--size", str(args.size)]))  # fmt: skip
    work = args.out or tempfile.mkdtemp(prefix="bench_datasets-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    peaks = {}
    try:
        print(f"{'image':24} {'file MB':>8} {'RSS before MiB':>15} {'peak RSS MiB':>13}")
        for mode in ("RGB", "RGBA"):
            path = os.path.join(work, f"big_{mode}.png")
            make_big_png(path, args.size, alpha=mode == "RGBA")
            out = subprocess.run(
                [sys.executable, "-c", _MEMORY_CHILD, path],
                env=env, capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            before, peak = (int(v) / 1024 for v in out[-2:])  # KiB
            peaks[mode] = peak
            label = f"{args.size}x{args.size} {mode} PNG"
            print(f"{label:24} {os.path.getsize(path) / 1e6:>8.1f} {before:>15.0f} {peak:>13.0f}")
            os.remove(path)
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    print(f"RGBA / RGB peak: {peaks['RGBA'] / peaks['RGB']:.2f}x")
    return 0


def main(argv=None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--n32", type=int, default=5000, help="images per 32² case (default 5000)")
    parser.add_argument("--n256", type=int, default=400, help="images per 256² case (default 400)")
    parser.add_argument(
        "--workers", type=int, default=None, help="tool processes (default: all cores)"
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="reader timing per case (default 3)"
    )
    parser.add_argument(
        "--memory", action="store_true", help="peak RSS of converting one big PNG instead"
    )
    parser.add_argument("--size", type=int, default=6000, help="--memory image side (default 6000)")
    args = parser.parse_args(argv)
    if args.memory:
        return memory_main(args)
    resolved = [
        "python", "benchmarks/bench_datasets.py", "--n32", str(args.n32), "--n256", str(args.n256),
        "--seconds", str(args.seconds),
    ]  # fmt: skip
    if args.workers:
        resolved += ["--workers", str(args.workers)]
    if args.out:
        resolved += ["--out", args.out]
    print("command:", shlex.join(resolved))
    print(f"cpu cores: {len(os.sched_getaffinity(0))}")

    t0 = time.perf_counter()
    tf = import_tensorflow_quietly()
    print(f"tensorflow {tf.__version__} import: {time.perf_counter() - t0:.1f} s")
    work = args.out or tempfile.mkdtemp(prefix="bench_datasets-")
    os.makedirs(work, exist_ok=True)
    try:
        t0 = time.perf_counter()
        make_png_folder(os.path.join(work, "rand32"), args.n32, 32, seed=1)
        make_png_folder(os.path.join(work, "rand256"), args.n256, 256, seed=2)
        print(f"synthetic PNG sources written in {time.perf_counter() - t0:.1f} s")
        cases = [
            ("random RGB PNGs", os.path.join(work, "rand32"), 32, args.n32, 64),
            ("builtin:mnist", "builtin:mnist", 32, args.n32, 64),
            ("random RGB PNGs", os.path.join(work, "rand256"), 256, args.n256, 32),
            ("builtin:mnist", "builtin:mnist", 256, args.n256, 32),
        ]
        header = f"{'source':18} {'res':>4} {'enc':>4} {'images':>6} {'tool img/s':>10} {'tool s':>7} {'all MB':>8} {'top MB':>8} {'reader img/s':>12}"
        print(header)
        print("-" * len(header))
        for label, source, res, n, batch in cases:
            for encoding in ("raw", "png"):
                dest = os.path.join(work, f"{label.split()[0].replace(':', '_')}{res}_{encoding}")
                start = time.perf_counter()
                m = create_dataset(
                    source, dest, res, encoding=encoding, max_images=n,
                    workers=args.workers, progress=False,
                )  # fmt: skip
                tool_s = time.perf_counter() - start
                total = sum(e["bytes"] for e in m["shards"].values())
                top = m["shards"][str(res)]["bytes"]
                reader = time_reader(dest, res, batch, args.seconds)
                print(
                    f"{label:18} {res:>4} {encoding:>4} {m['num_images']:>6} "
                    f"{m['num_images'] / tool_s:>10.0f} {tool_s:>7.2f} {total / 1e6:>8.2f} "
                    f"{top / 1e6:>8.2f} {reader:>12.0f}",
                    flush=True,
                )
                shutil.rmtree(dest)
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
