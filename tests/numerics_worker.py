"""Run a saved generator on the Keras backend named by KERAS_BACKEND (used by
``test_numerics_full_size.py`` for the JAX run of the imported 1024² network).

``python tests/numerics_worker.py G.keras Z.npy OUT.npy``: loads ``G.keras`` and writes
``G(z, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const")`` to ``OUT.npy``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import networks  # noqa: E402, F401  (registers the custom Keras objects)


def main(model_path, z_path, out_path):
    G = keras.saving.load_model(model_path, compile=False)
    z = np.load(z_path)
    img = G(z, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const")
    np.save(out_path, keras.ops.convert_to_numpy(img))
    print(keras.backend.backend())


if __name__ == "__main__":
    main(*sys.argv[1:])
