"""Networks benchmark: G inference and G+D forward+backward images/s per resolution.

Runs on whichever Keras backend ``KERAS_BACKEND`` selects (tensorflow or jax), compiled
(``tf.function`` / ``jax.jit``). The step timed for "train" is the non-saturating G loss and the
logistic D loss on fakes and reals, with gradients for both networks (no R1, no optimiser).

    KERAS_BACKEND=jax python benchmarks/bench_networks.py --preset paper1024 \
        --resolutions 256,1024 --batch 8

Prints one line per resolution and the command line used.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from networks import Discriminator, Generator  # noqa: E402
from stylegan_tf.config import get_preset  # noqa: E402


def _timeit(fn, warmup, iters):
    for _ in range(warmup):
        out = fn()
    _block(out)
    start = time.perf_counter()
    for _ in range(iters):
        out = fn()
    _block(out)
    return (time.perf_counter() - start) / iters


def _block(out):
    leaves = out if isinstance(out, (list, tuple)) else [out]
    for leaf in leaves:
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            keras.ops.convert_to_numpy(leaf)


def build_fns(G, D, batch):
    backend = keras.backend.backend()
    z = np.random.RandomState(0).randn(batch, G.z_dim).astype("float32")
    reals = (
        np.random.RandomState(1)
        .uniform(-1, 1, (batch, G.img_resolution, G.img_resolution, G.img_channels))
        .astype("float32")
    )
    if backend == "jax":
        import jax

        g_tv = [v.value for v in G.trainable_variables]
        g_ntv = [v.value for v in G.non_trainable_variables]
        d_tv = [v.value for v in D.trainable_variables]
        d_ntv = [v.value for v in D.non_trainable_variables]

        @jax.jit
        def infer(g_tv, z):
            img, _ = G.stateless_call(g_tv, g_ntv, z, noise_mode="const")
            return img

        def loss(g_tv, d_tv, z, reals):
            fake, _ = G.stateless_call(g_tv, g_ntv, z, noise_mode="const")
            fake_score, _ = D.stateless_call(d_tv, d_ntv, fake)
            real_score, _ = D.stateless_call(d_tv, d_ntv, reals)
            g_loss = jax.nn.softplus(-fake_score).mean()
            d_loss = (jax.nn.softplus(fake_score) + jax.nn.softplus(-real_score)).mean()
            return g_loss + d_loss

        grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
        return (lambda: infer(g_tv, z)), (
            lambda: jax.tree_util.tree_leaves(grad(g_tv, d_tv, z, reals))
        )
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def infer(z):
            return G(z, noise_mode="const")

        @tf.function(jit_compile=False)
        def step(z, reals):
            with tf.GradientTape() as tape:
                fake = G(z, noise_mode="const")
                fake_score, real_score = D(fake), D(reals)
                loss = tf.reduce_mean(tf.nn.softplus(-fake_score)) + tf.reduce_mean(
                    tf.nn.softplus(fake_score) + tf.nn.softplus(-real_score)
                )
            return tape.gradient(loss, G.trainable_variables + D.trainable_variables)

        return (lambda: infer(z)), (lambda: step(z, reals))
    raise SystemExit(f"error: KERAS_BACKEND={backend!r}: this benchmark supports tensorflow, jax")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper1024")
    parser.add_argument("--resolutions", default="32", help="comma list, e.g. 256,1024")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = get_preset(args.preset)
    cmdline = " ".join(sys.argv[1:] if argv is None else argv)
    backend = keras.backend.backend()
    print(f"command: KERAS_BACKEND={backend} python benchmarks/bench_networks.py {cmdline}")
    for res in [int(r) for r in args.resolutions.split(",")]:
        G = Generator(**{**dataclasses.asdict(cfg.G), "img_resolution": res})
        D = Discriminator(**{**dataclasses.asdict(cfg.D), "img_resolution": res})
        infer, train = build_fns(G, D, args.batch)
        t_inf = _timeit(infer, 2, args.iters)
        t_train = _timeit(train, 2, args.iters)
        print(
            f"res {res:5d} batch {args.batch:3d}  G inference {args.batch / t_inf:9.1f} img/s"
            f"   G+D fwd+bwd {args.batch / t_train:9.1f} img/s"
        )


if __name__ == "__main__":
    main()
