"""Projector benchmark: optimisation steps/s of ``stylegan_tf.project.Projector``.

One step is what ``python -m stylegan_tf.project`` runs per iteration for a batch of targets:
synthesis with explicit noise maps, LPIPS-VGG16 against the targets (downsampled to 256² when
larger), the noise regularisation, gradients for the latents and noise maps, the Adam update
and the renormalisation of the maps, all in one compiled ``tf.function``. Generators are
randomly initialised with the given preset's shapes (speed does not depend on the weights).

    python benchmarks/bench_project.py --preset mnist32 --batches 1,8
    python benchmarks/bench_project.py --preset paper256 --batches 1,8 --steps 3

Prints one line per batch size (steps/s and target-steps/s, i.e. steps/s x batch) and the
command line used. A first one-step run of each batch size (compilation) is not timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from networks import Generator  # noqa: E402
from stylegan_tf.config import get_preset  # noqa: E402
from stylegan_tf.project import Projector  # noqa: E402
from stylegan_tf.util import tune_host_allocator  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist32", help="network shapes (config preset)")
    p.add_argument("--batches", default="1,8", help="targets per step, comma-separated")
    p.add_argument("--steps", type=int, default=10, help="timed steps per batch size")
    p.add_argument("--w-avg-samples", type=int, default=1000)
    args = p.parse_args(argv)
    tuned = tune_host_allocator()  # as the projection command line
    cfg = get_preset(args.preset).G
    G = Generator.from_gconfig(dataclasses.replace(cfg, c_dim=0))
    res, ch = G.img_resolution, G.img_channels
    print(f"command: python {' '.join(sys.argv)}; host allocator tuned: {tuned}")
    print(f"generator: preset {args.preset}, {res}x{res}x{ch}, {G.num_ws} ws of {G.w_dim}")
    projector = Projector(G, "w+", steps=1, seed=0, w_avg_samples=args.w_avg_samples)
    for batch in [int(b) for b in args.batches.split(",")]:
        targets = np.random.RandomState(0).randint(0, 256, (batch, res, res, ch), dtype=np.uint8)
        projector.steps = 1
        projector.run(targets)  # compile
        projector.steps = args.steps
        start = time.perf_counter()
        projector.run(targets)
        elapsed = time.perf_counter() - start
        rate = args.steps / elapsed
        print(
            f"{res}x{res} batch {batch}: {rate:.2f} steps/s, {rate * batch:.2f} target-steps/s "
            f"({elapsed / args.steps * 1000:.0f} ms/step, {args.steps} steps)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
