"""Importer of official StyleGAN pickles: structure, safety, and numeric parity with the float64
numpy re-derivation of the official ``G_style`` in ``tests/numpy_official.py`` (official variable
layouts, docs/official-semantics.md#layers)."""

import os
import pickle

import numpy as np
import pytest

from stylegan_tf import import_official as imp
from tests import numpy_official
from tests.official_pickle import (
    FMAP_BASE,
    FMAP_MAX,
    LATENT,
    MAP_LAYERS,
    RES,
    dump_official,
    generator_network,
    official_generator_vars,
    official_pickle,
)

# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    d = tmp_path_factory.mktemp("official")
    marker = d / "EXECUTED"
    src = f"open({str(marker)!r}, 'w').write('the embedded source was executed')\n"
    gv = official_pickle(d / "net.pkl", np.random.RandomState(0), src=src)
    paths = imp.import_official(d / "net.pkl", d / "out")
    return gv, paths, marker


def test_import_reproduces_numpy_official_forward(imported):
    import keras

    import networks  # noqa: F401

    gv, paths, marker = imported
    assert not marker.exists(), "build_module_src must never be executed"
    G = keras.saving.load_model(paths["G_ema"], compile=False)
    assert (G.img_resolution, G.z_dim, G.w_dim, G.c_dim) == (RES, LATENT, LATENT, 0)
    z = np.random.RandomState(5).randn(3, LATENT).astype(np.float32)
    ref = numpy_official.generator(gv, z, psi=0.7, cutoff=8)  # NHWC
    ours = np.asarray(G(z, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const"))
    err = np.abs(ours - ref).max()
    assert err < 1e-4 * max(1.0, np.abs(ref).max()), err
    # Without truncation it differs (the test is sensitive to dlatent_avg and psi).
    ref1 = numpy_official.generator(gv, z, psi=1.0)
    assert np.abs(ref1 - ref).max() > 1e-2


def test_import_writes_all_outputs(imported):
    import json

    _, paths, _ = imported
    for key in ("G_ema", "G", "D", "saved_model", "info"):
        assert os.path.exists(paths[key]), key
    assert os.path.exists(os.path.join(paths["saved_model"], "saved_model.pb"))
    info = json.load(open(paths["info"]))
    assert info["G"]["channel_base"] == 2 * FMAP_BASE and info["G"]["channel_max"] == FMAP_MAX
    assert info["D"]["img_resolution"] == RES and info["D"]["mbstd_num_features"] == 1


def test_discriminator_weights_loaded(tmp_path):
    from networks.official import export_official_weights

    gv_rng = np.random.RandomState(1)
    official_pickle(tmp_path / "n.pkl", gv_rng)
    nets = imp.split_networks(imp.load_official_pickle(tmp_path / "n.pkl"))
    D, cfg = imp.build_discriminator(nets["D"])
    raw = imp.flatten_variables(nets["D"])
    back = export_official_weights(D)
    for name, value in back.items():
        np.testing.assert_array_equal(value, raw[name], err_msg=name)
    assert cfg.channel_base == 2 * FMAP_BASE


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    gv = official_generator_vars(np.random.RandomState(2))
    gv["own"]["dlatent_avg"] = _Evil(marker)  # payload hidden inside a Network's variables
    dump_official((generator_network("G", gv),) * 3, tmp_path / "evil.pkl")
    with pytest.raises(
        pickle.UnpicklingError, match=r"refusing to unpickle global '(posix|os)\.system'"
    ):
        imp.load_official_pickle(tmp_path / "evil.pkl")
    rc = imp.main([str(tmp_path / "evil.pkl"), "--out", str(tmp_path / "out")])
    assert rc != 0
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_object_dtype_arrays_are_refused(tmp_path):
    bad = np.array([1, "x"], dtype=object)
    with open(tmp_path / "o.pkl", "wb") as f:
        pickle.dump(bad, f, protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="object dtype"):
        imp.load_official_pickle(tmp_path / "o.pkl")


def test_missing_variable_is_named(tmp_path):
    official_pickle(
        tmp_path / "m.pkl", np.random.RandomState(3), drop=("synthesis", "8x8/Conv1/StyleMod/bias")
    )
    with pytest.raises(ValueError, match="G_synthesis/8x8/Conv1/StyleMod/bias"):
        imp.import_official(tmp_path / "m.pkl", tmp_path / "out", saved_model=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_other_pickle_protocols(tmp_path, protocol):
    gv = official_pickle(tmp_path / "p.pkl", np.random.RandomState(4), protocol=protocol)
    nets = imp.split_networks(imp.load_official_pickle(tmp_path / "p.pkl"))
    flat = imp.flatten_variables(nets["Gs"])
    np.testing.assert_array_equal(flat["G_synthesis/noise3"], gv["synthesis"]["noise3"])
    np.testing.assert_array_equal(flat["dlatent_avg"], gv["own"]["dlatent_avg"])
    assert flat["G_mapping/Dense1/weight"].dtype == np.float32


def test_config_inference_from_shapes():
    # FFHQ 1024: fmap_base 8192, fmap_max 512 -> channel_base 16384.
    ch = {2**s: min(int(8192 / 2 ** (s - 1)), 512) for s in range(2, 11)}
    assert imp.infer_channel_params(ch) == (16384, 512)
    ch[2] = 512  # D's nf(0)
    assert imp.infer_channel_params(ch) == (16384, 512)
    with pytest.raises(ValueError, match="do not follow"):
        imp.infer_channel_params({4: 16, 8: 32})
    gv = official_generator_vars(np.random.RandomState(6), label_size=5)
    flat = {f"G_mapping/{k}": v for k, v in gv["mapping"].items()}
    flat.update({f"G_synthesis/{k}": v for k, v in gv["synthesis"].items()})
    flat.update(gv["own"])
    cfg = imp.infer_generator_config(flat, {})
    assert (cfg.img_resolution, cfg.c_dim, cfg.z_dim, cfg.w_dim) == (RES, 5, LATENT, LATENT)
    assert (cfg.channel_base, cfg.channel_max, cfg.mapping_layers) == (128, 16, MAP_LAYERS)
    with pytest.raises(ValueError, match="use_instance_norm"):
        imp.infer_generator_config(flat, {"use_instance_norm": False})


def test_cli_refuses_nonempty_out(tmp_path, imported):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    official_pickle(tmp_path / "n.pkl", np.random.RandomState(7))
    assert imp.main([str(tmp_path / "n.pkl"), "--out", str(tmp_path / "out")]) != 0
    assert (tmp_path / "out" / "x").read_text() == "keep"
