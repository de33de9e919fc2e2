"""Importer of official StyleGAN pickles: structure, safety, and numeric parity with a numpy
re-derivation of the official ``G_style`` (NCHW, official variable layouts, docs/official-semantics.md#layers)."""

import math
import os
import pickle

import numpy as np
import pytest

from stylegan_tf import import_official as imp
from tests.official_pickle import (
    FMAP_BASE,
    FMAP_MAX,
    LATENT,
    LRMUL,
    MAP_LAYERS,
    RES,
    SQRT2,
    dump_official,
    generator_network,
    official_generator_vars,
    official_pickle,
)

# ---------------------------------------------------------------------------------------------
# Independent numpy forward of the official G_style (NCHW, official layouts).


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _conv3x3(x, w):
    """NCHW 'SAME' cross-correlation with w [3, 3, in, out] (tf.nn.conv2d semantics)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[3], h, wd))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nchw,co->nohw", xp[:, :, dy : dy + h, dx : dx + wd], w[dy, dx])
    return out


def _blur(x):
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    h, w = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return sum(k[dy, dx] * xp[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))


def numpy_official_G(gv, z, psi=0.7, cutoff=8):
    m, s, own = gv["mapping"], gv["synthesis"], gv["own"]
    x = z.astype(np.float64)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for i in range(MAP_LAYERS):
        W = m[f"Dense{i}/weight"].astype(np.float64)
        x = _lrelu(x @ (W * SQRT2 / math.sqrt(W.shape[0]) * LRMUL) + m[f"Dense{i}/bias"] * LRMUL)
    num_layers = 2 * int(math.log2(RES)) - 2
    dl = np.repeat(x[:, None], num_layers, axis=1)
    avg = own["dlatent_avg"].astype(np.float64)
    coefs = np.where(np.arange(num_layers) < cutoff, psi, 1.0)[None, :, None]
    dl = avg + (dl - avg) * coefs

    def epilogue(x, idx, scope):
        c = x.shape[1]
        x = x + s[f"noise{idx}"] * s[f"{scope}/Noise/weight"][None, :, None, None]
        x = _lrelu(x + s[f"{scope}/bias"][None, :, None, None])
        x = x - x.mean(axis=(2, 3), keepdims=True)
        x = x / np.sqrt((x**2).mean(axis=(2, 3), keepdims=True) + 1e-8)
        SW = s[f"{scope}/StyleMod/weight"]
        style = dl[:, idx] @ (SW / math.sqrt(SW.shape[0])) + s[f"{scope}/StyleMod/bias"]
        return x * (style[:, :c, None, None] + 1) + style[:, c:, None, None]

    def conv(x, W):
        return _conv3x3(x, W * SQRT2 / math.sqrt(9 * W.shape[2]))

    n = z.shape[0]
    x = np.tile(s["4x4/Const/const"], (n, 1, 1, 1)).astype(np.float64)
    x = epilogue(x, 0, "4x4/Const")
    x = epilogue(conv(x, s["4x4/Conv/weight"]), 1, "4x4/Conv")
    for stage in range(3, int(math.log2(RES)) + 1):
        R = 2**stage
        up = x.repeat(2, axis=2).repeat(2, axis=3)  # nearest (non-fused below 128^2)
        x = epilogue(
            _blur(conv(up, s[f"{R}x{R}/Conv0_up/weight"])), 2 * stage - 4, f"{R}x{R}/Conv0_up"
        )
        x = epilogue(conv(x, s[f"{R}x{R}/Conv1/weight"]), 2 * stage - 3, f"{R}x{R}/Conv1")
    W = s["ToRGB_lod0/weight"][0, 0]  # [C, 3], gain 1
    rgb = np.einsum("nchw,co->nohw", x, W / math.sqrt(W.shape[0]))
    return rgb + s["ToRGB_lod0/bias"][None, :, None, None]  # NCHW


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
    ref = numpy_official_G(gv, z, psi=0.7, cutoff=8)
    ours = np.asarray(G(z, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const"))
    ours = ours.transpose(0, 3, 1, 2)
    err = np.abs(ours - ref).max()
    assert err < 1e-4 * max(1.0, np.abs(ref).max()), err
    # Without truncation it differs (the test is sensitive to dlatent_avg and psi).
    ref1 = numpy_official_G(gv, z, psi=1.0)
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
