"""The same tiny G and D give the same outputs on the TensorFlow and JAX backends.

Each backend runs in its own subprocess (Keras picks its backend at import). The models are
built and saved under TensorFlow, reloaded from the ``.keras`` files under JAX; fused up/down
convolutions are forced on so that every op is covered at a tiny resolution.
"""

import os
import subprocess
import sys

import numpy as np

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_worker.py")


def _run(backend, mode, out_dir):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, WORKER, mode, str(out_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(os.path.join(out_dir, f"out-{backend}.npz")))


def test_tensorflow_and_jax_backends_agree(tmp_path):
    tf_out = _run("tensorflow", "make", tmp_path)
    jax_out = _run("jax", "eval", tmp_path)
    assert set(tf_out) == set(jax_out)
    for key in tf_out:
        assert tf_out[key].shape == jax_out[key].shape, key
        assert np.abs(tf_out[key]).max() > 1e-3, key  # not trivially zero
        np.testing.assert_allclose(jax_out[key], tf_out[key], atol=1e-5, rtol=1e-5, err_msg=key)
