"""Run tiny G and D on the Keras backend named by KERAS_BACKEND (used by test_networks_backends).

``python tests/backend_worker.py make DIR``: build, randomise and save the models, then evaluate.
``python tests/backend_worker.py eval DIR``: load the saved models and evaluate.
Outputs go to ``DIR/out-<backend>.npz``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from helpers import TINY_D, TINY_G, randomize_weights  # noqa: E402

from networks import Discriminator, Generator  # noqa: E402


def main(mode, out_dir):
    if mode == "make":
        G = randomize_weights(Generator(**{**TINY_G, "fused_scale": True}), seed=11, scale=0.3)
        D = randomize_weights(Discriminator(**{**TINY_D, "fused_scale": True}), seed=12, scale=0.3)
        G.save(os.path.join(out_dir, "g.keras"))
        D.save(os.path.join(out_dir, "d.keras"))
    else:
        G = keras.saving.load_model(os.path.join(out_dir, "g.keras"))
        D = keras.saving.load_model(os.path.join(out_dir, "d.keras"))
    rng = np.random.RandomState(0)
    z = rng.randn(4, TINY_G["z_dim"]).astype("float32")
    outputs = {}
    outputs["g16"] = G(z, truncation_psi=0.7, noise_mode="const")
    outputs["g8_fade"] = G(z, stage=8, alpha=0.3, noise_mode="const")
    img = rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    outputs["d16"] = D(img)
    outputs["d16_fade"] = D(img, stage=16, alpha=0.6)
    outputs["d_on_g"] = D(outputs["g16"])
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    np.savez(os.path.join(out_dir, f"out-{keras.backend.backend()}.npz"), **outputs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
