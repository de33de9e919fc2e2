"""Run the narrow 1024² generator of ``tests/official_pickle.py`` on the Keras backend named by
KERAS_BACKEND (used by ``test_numerics_full_size.py`` for the JAX run).

``python tests/numerics_worker.py OUT.npz WEIGHT_SEED Z_SEED BATCH``: builds the fixture's official
variables from ``WEIGHT_SEED``, loads them into a :class:`networks.Generator` with the official
name table, and writes ``G(z, truncation_psi=0.7, noise_mode="const")`` to ``OUT.npz``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.official_pickle import NARROW_1024, official_generator_vars  # noqa: E402


def flat_official_vars(gv):
    """``Gs.vars`` names: ``G_mapping/...``, ``G_synthesis/...`` and the own variables."""
    flat = {f"G_mapping/{k}": v for k, v in gv["mapping"].items()}
    flat.update({f"G_synthesis/{k}": v for k, v in gv["synthesis"].items()})
    flat.update(gv["own"])
    return flat


def narrow_1024_generator(gv, spec=NARROW_1024):
    from networks import Generator
    from networks.official import load_official_weights

    G = Generator(
        img_resolution=spec.res,
        z_dim=spec.latent,
        w_dim=spec.latent,
        channel_base=2 * spec.fmap_base,
        channel_max=spec.fmap_max,
        mapping_layers=spec.map_layers,
        mapping_fmaps=spec.latent,
    )
    load_official_weights(G, flat_official_vars(gv))
    return G


def main(out, weight_seed, z_seed, batch):
    gv = official_generator_vars(np.random.RandomState(int(weight_seed)), spec=NARROW_1024)
    G = narrow_1024_generator(gv)
    z = np.random.RandomState(int(z_seed)).randn(int(batch), NARROW_1024.latent)
    img = G(z.astype(np.float32), truncation_psi=0.7, noise_mode="const")
    np.savez(out, img=keras.ops.convert_to_numpy(img), backend=keras.backend.backend())


if __name__ == "__main__":
    main(*sys.argv[1:])
