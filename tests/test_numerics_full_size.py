"""Full-size numerics and official snapshots taken during progressive growing.

* A genuine-format 1024² official pickle (``(G, D, Gs)`` Network states, version 3, with
  ``build_module_src``; channels 32 at 4²-128², then 16, 8, 4, the official ``fmap_base=2048,
  fmap_max=32``; every variable random and non-zero) is imported, and the imported G_ema is
  compared with a float64 numpy re-derivation of the official ``G_style`` (``numpy_official.py``)
  on the TensorFlow backend and, in a subprocess, on JAX: within 2e-5 of max |output| (measured
  5.3e-6 on TF, 8.7e-6 on JAX). With the previous single ``mean`` over H x W in instance norm,
  TF CPU was 3.8e-4 off. These three tests take about 90 s on a 2-core CPU (the JAX process
  about 70 s of it: loading and running a 1024² network op by op).
* A pickle whose ``lod`` is 1.5 imports at stage R/2 with alpha 0.5, and its output, upsampled
  (nearest), equals the official ``recursive`` output at that lod, fade included.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stylegan_tf import import_official as imp
from tests import numpy_official
from tests.official_pickle import NARROW_1024, Spec, official_pickle

TOL = 2e-5  # max |ours - float64 reference| / max |reference|
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numerics_worker.py")


def _rel_err(ours, ref):
    return float(np.abs(np.asarray(ours, np.float64) - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def narrow_1024(tmp_path_factory):
    d = tmp_path_factory.mktemp("narrow1024")
    src = "raise RuntimeError('the embedded source must never run')\n"
    gv = official_pickle(d / "net.pkl", np.random.RandomState(0), src=src, spec=NARROW_1024)
    paths = imp.import_official(d / "net.pkl", d / "out", saved_model=False)
    z = np.random.RandomState(5).randn(2, NARROW_1024.latent).astype(np.float32)
    np.save(d / "z.npy", z)
    ref = numpy_official.generator(gv, z, psi=0.7, cutoff=8)  # float64, NHWC
    assert ref.shape == (2, 1024, 1024, 3) and np.abs(ref).max() > 1.0
    return d, paths, z, ref


def test_imported_1024_matches_float64_official_on_tensorflow(narrow_1024):
    import keras

    import networks  # noqa: F401

    _, paths, z, ref = narrow_1024
    G = keras.saving.load_model(paths["G_ema"], compile=False)
    assert G.synthesis.channels(1024) == 4 and G.synthesis.channels(128) == 32
    ours = G(z, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const")
    err = _rel_err(ours, ref)
    assert err <= TOL, f"relative error {err:.3g} at 1024² (TF) exceeds {TOL}"


def test_imported_1024_matches_float64_official_on_jax(narrow_1024):
    d, paths, _, ref = narrow_1024
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    out = d / "jax.npy"
    proc = subprocess.run(
        [sys.executable, WORKER, paths["G_ema"], str(d / "z.npy"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("jax")
    err = _rel_err(np.load(out), ref)
    assert err <= TOL, f"relative error {err:.3g} at 1024² (JAX) exceeds {TOL}"


# ---------------------------------------------------------------------------------------------
# Snapshots taken during progressive growing (lod > 0).


@pytest.mark.parametrize(
    "lod, stage, alpha",
    [
        (0.0, 1024, 1.0),
        (1.0, 512, 1.0),
        (1.5, 512, 0.5),
        (1.75, 512, 0.25),
        (7.25, 8, 0.75),
        (8.0, 4, 1.0),
    ],
)
def test_lod_to_stage(lod, stage, alpha):
    assert imp.lod_to_stage(lod, 1024) == (stage, pytest.approx(alpha))


@pytest.mark.parametrize("lod", [-0.5, 8.5, float("nan"), float("inf")])
def test_lod_out_of_range_is_refused(lod):
    with pytest.raises(ValueError, match="outside 0..8 for a 1024x1024 network"):
        imp.lod_to_stage(lod, 1024)


LOD_SPEC = Spec(res=32, lod=1.5)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    d = tmp_path_factory.mktemp("lod15")
    gv = official_pickle(d / "net.pkl", np.random.RandomState(8), spec=LOD_SPEC)
    rc = imp.main([str(d / "net.pkl"), "--out", str(d / "out")])
    assert rc == 0
    return d, gv


def test_lod_is_recorded_and_reported(grown, capsys):
    d, _ = grown
    info = json.loads((d / "out" / "import_info.json").read_text())
    assert info["lod"] == {"Gs": 1.5, "G": 1.5, "D": 1.5}
    for key in ("G_ema", "G", "D"):
        assert info["stage"][key] == {"stage": 16, "alpha": 0.5}
    line = imp.lod_summary(d / "out" / "import_info.json")
    assert line == (
        "lod: Gs 1.5 (stage 16, alpha 0.5), G 1.5 (stage 16, alpha 0.5), "
        "D 1.5 (stage 16, alpha 0.5)"
    )
    export_info = json.loads((d / "out" / "saved_model" / "stylegan_export.json").read_text())
    assert (export_info["stage"], export_info["alpha"]) == (16, 0.5)


def test_lod_15_generator_matches_official_recursive_output(grown):
    import keras

    import networks  # noqa: F401
    from stylegan_tf.loading import StagedGenerator, load_generator, resolve_stage

    d, gv = grown
    out = d / "out"
    G = load_generator(str(out))  # the import directory -> G_ema.keras
    assert resolve_stage(str(out), G) == (16, 0.5)
    assert resolve_stage(str(out / "G_ema.keras"), G) == (16, 0.5)
    assert resolve_stage(str(out), G, stage=32) == (32, 1.0)
    z = np.random.RandomState(3).randn(3, LOD_SPEC.latent).astype(np.float32)
    ref = numpy_official.generator(gv, z, psi=0.7, cutoff=8)  # official: lod 1.5, full res
    assert ref.shape == (3, 32, 32, 3)
    ours = np.asarray(G(z, truncation_psi=0.7, noise_mode="const", stage=16, alpha=0.5))
    assert ours.shape == (3, 16, 16, 3)
    up = ours.repeat(2, axis=1).repeat(2, axis=2)  # the official output is ours upsampled
    assert _rel_err(up, ref) < 1e-5
    staged = StagedGenerator(G, 16, 0.5)
    full = np.asarray(staged(z, truncation_psi=0.7, noise_mode="const"))
    np.testing.assert_array_equal(full, up)
    # The fade matters: the same stage without it, or the full network, differ.
    no_fade = np.asarray(G(z, truncation_psi=0.7, noise_mode="const", stage=16))
    assert _rel_err(no_fade.repeat(2, axis=1).repeat(2, axis=2), ref) > 1e-2
    full_res = numpy_official.generator(gv, z, psi=0.7, cutoff=8, lod=0.0)
    assert _rel_err(full_res, ref) > 1e-2
    # The SavedModel serves the same stage.
    import tensorflow as tf

    sm = tf.saved_model.load(str(out / "saved_model"))
    imgs = sm.signatures["serving_default"](z=tf.constant(z), truncation_psi=tf.constant(0.7))
    expected = np.clip(ours * 127.5 + 128.0, 0, 255).astype(np.uint8)
    got = imgs["images"].numpy()
    assert got.shape == (3, 16, 16, 3)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    del keras


def test_generate_uses_the_imported_stage_unless_told(grown, tmp_path):
    from PIL import Image

    from stylegan_tf import generate

    d, _ = grown
    assert (
        generate.main(
            [
                "--network",
                str(d / "out"),
                "--outdir",
                str(tmp_path / "a"),
                "--seeds",
                "1",
                "--truncation-psi",
                "0.7",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "a" / "seed0001.png").size == (16, 16)
    assert (
        generate.main(
            [
                "--network",
                str(d / "out" / "G_ema.keras"),
                "--outdir",
                str(tmp_path / "b"),
                "--seeds",
                "1",
                "--stage",
                "32",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "b" / "seed0001.png").size == (32, 32)
    bad = ["--network", str(d / "out"), "--outdir", str(tmp_path / "c"), "--stage", "24"]
    assert generate.main(bad) == 2
