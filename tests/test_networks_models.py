"""Mapping, synthesis, generator and discriminator: official counts and semantics, progressive
fade-in, truncation, style mixing, serialisation and the official-name table."""

import numpy as np
import pytest
from helpers import (
    TINY_D,
    TINY_G,
    keras_roundtrip,
    np_dense,
    np_downscale,
    np_lrelu,
    np_pixel_norm,
    np_upscale,
    randomize_weights,
    to_np,
)

from networks import Discriminator, Generator
from networks.generator import mixing_cutoff_from_uniform
from networks.official import export_official_weights, load_official_weights, name_table
from stylegan_tf.config import GeneratorConfig, get_preset

RNG = np.random.RandomState(7)


@pytest.fixture(autouse=True)
def _same_data_in_any_order():
    # Each test draws the same inputs however the tests are ordered or split across workers.
    RNG.seed(7)


def _count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.fixture(scope="module")
def tiny_g():
    return randomize_weights(Generator(**TINY_G, seed=1), seed=1, scale=0.3)


@pytest.fixture(scope="module")
def tiny_d():
    return randomize_weights(Discriminator(**TINY_D), seed=2, scale=0.3)


def _z(n=4, dim=32):
    return RNG.randn(n, dim).astype("float32")


def test_paper1024_parameter_counts_and_full_resolution_image():
    cfg = get_preset("paper1024")
    G = Generator.from_gconfig(cfg.G)
    D = Discriminator.from_dconfig(cfg.D)
    assert G.num_ws == 18
    assert _count(G) == 26_219_627  # official README L94
    assert _count(D) == 23_087_249  # same derivation for D_basic
    img = G(_z(1, 512), truncation_psi=0.7, noise_mode="const")
    assert img.shape == (1, 1024, 1024, 3)
    assert np.isfinite(to_np(img)).all()
    # Official fused_scale='auto': fused up/down convs from 128^2 up, plain below.
    assert [layer.fused for layer in G.synthesis.layers_ if layer.kind == "up"] == [
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    assert [D.block(r).fused for r in (8, 64, 128, 1024)] == [False, False, True, True]


def test_mapping_matches_numpy(tiny_g):
    m = tiny_g.mapping
    z = _z()
    x = np_pixel_norm(to_np(z))
    for dense in m.dense_layers:
        x = np_lrelu(np_dense(x, to_np(dense.kernel), to_np(dense.bias), lrmul=0.01))
    ws = to_np(m(z))
    assert ws.shape == (4, tiny_g.num_ws, 32)
    for i in range(tiny_g.num_ws):
        np.testing.assert_allclose(ws[:, i], x, rtol=1e-4, atol=1e-5)


def test_conditional_mapping_concatenates_label_embedding():
    G = randomize_weights(Generator(**{**TINY_G, "c_dim": 3}), seed=5)
    z = _z()
    c = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    x = np.concatenate([to_np(z), to_np(c) @ to_np(G.mapping.embed)], axis=1)
    x = np_pixel_norm(x)
    for dense in G.mapping.dense_layers:
        x = np_lrelu(np_dense(x, to_np(dense.kernel), to_np(dense.bias), lrmul=0.01))
    np.testing.assert_allclose(to_np(G.mapping(z, c))[:, 0], x, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)


def test_truncation_matches_numpy(tiny_g):
    tiny_g.w_avg.assign(RNG.randn(32).astype("float32"))
    z = _z()
    ws = to_np(tiny_g.mapping(z))
    avg = to_np(tiny_g.w_avg)
    out = to_np(tiny_g.truncate(tiny_g.mapping(z), 0.7, 3))
    ref = ws.copy()
    ref[:, :3] = avg + 0.7 * (ws[:, :3] - avg)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    psi = np.linspace(0.1, 1.0, tiny_g.num_ws)
    out = to_np(tiny_g.truncate(tiny_g.mapping(z), psi))
    np.testing.assert_allclose(out, avg + psi[None, :, None] * (ws - avg), rtol=1e-5, atol=1e-5)
    # Truncation is an inference-only trick: training mode ignores psi.
    a = to_np(tiny_g(z, truncation_psi=0.5, noise_mode="const"))
    b = to_np(tiny_g(z, truncation_psi=1.0, noise_mode="const"))
    assert not np.allclose(a, b)


def test_w_avg_update_in_training_mode():
    G = randomize_weights(Generator(**TINY_G), seed=3)
    G.w_avg.assign(np.ones(32, "float32"))
    z = _z()
    mean_w = to_np(G.mapping(z))[:, 0].mean(axis=0)
    G(z, training=True, mixing_cutoff=G.num_ws, mix_z=z, noise_mode="none")
    np.testing.assert_allclose(
        to_np(G.w_avg), mean_w + (1.0 - mean_w) * 0.995, rtol=1e-5, atol=1e-6
    )
    before = to_np(G.w_avg)
    G(z, noise_mode="none")  # inference leaves it alone
    np.testing.assert_array_equal(to_np(G.w_avg), before)


def test_style_mixing_crossover(tiny_g):
    z, z2 = _z(), _z()
    ws1, ws2 = to_np(tiny_g.mapping(z)), to_np(tiny_g.mapping(z2))
    for cutoff in (1, 3, 5):
        mixed = to_np(tiny_g.style_mix(tiny_g.mapping(z), mix_z=z2, mixing_cutoff=cutoff))
        np.testing.assert_allclose(mixed[:, :cutoff], ws1[:, :cutoff], rtol=1e-6)
        np.testing.assert_allclose(mixed[:, cutoff:], ws2[:, cutoff:], rtol=1e-6)


def test_mixing_cutoff_is_official_per_minibatch_draw():
    cur = 6
    # coin >= prob: no mixing (cutoff = cur_layers).
    assert int(mixing_cutoff_from_uniform(0.95, 0.3, cur, 0.9)) == cur
    # coin < prob: uniform on 1 .. cur-1, each value equally likely.
    us = (np.arange(1000) + 0.5) / 1000
    cuts = np.array([int(mixing_cutoff_from_uniform(0.1, u, cur, 0.9)) for u in us[::10]])
    assert cuts.min() == 1 and cuts.max() == cur - 1
    counts = np.bincount(cuts, minlength=cur)[1:]
    assert counts.max() - counts.min() <= 1
    # The cutoff is one scalar for the whole minibatch.
    assert np.ndim(mixing_cutoff_from_uniform(0.1, 0.5, cur, 0.9)) == 0


@pytest.mark.parametrize("stage", [8, 16])
def test_generator_fade_in(tiny_g, stage):
    ws = tiny_g.mapping(_z())
    kw = dict(stage=stage, noise_mode="const")
    low = np_upscale(to_np(tiny_g.synthesis(ws, stage=stage // 2, noise_mode="const")))
    new = to_np(tiny_g.synthesis(ws, alpha=1.0, **kw))
    np.testing.assert_allclose(to_np(tiny_g.synthesis(ws, alpha=0.0, **kw)), low, atol=1e-5)
    np.testing.assert_allclose(
        to_np(tiny_g.synthesis(ws, alpha=0.5, **kw)), 0.5 * (low + new), atol=1e-5
    )
    # A tensor alpha of 1 (the training path) equals the new block alone.
    one = np.float32(1.0)
    np.testing.assert_allclose(to_np(tiny_g.synthesis(ws, alpha=one, **kw)), new, atol=1e-6)
    assert np.abs(new - low).max() > 1e-3


@pytest.mark.parametrize("stage", [8, 16])
def test_discriminator_fade_in(tiny_d, stage):
    img = RNG.randn(4, stage, stage, 3).astype("float32")
    low = to_np(tiny_d(np_downscale(img).astype("float32"), stage=stage // 2))
    new = to_np(tiny_d(img, stage=stage))
    np.testing.assert_allclose(to_np(tiny_d(img, stage=stage, alpha=0.0)), low, rtol=1e-4)
    # Mid-fade the features after the new block are blended with the previous fromRGB's
    # features of the downsampled image; the rest of D runs on the blend.
    x_new = to_np(tiny_d.block(stage)(tiny_d.fromrgb(stage)(img)))
    x_low = to_np(tiny_d.fromrgb(stage // 2)(np_downscale(img).astype("float32")))
    x = (0.5 * (x_new + x_low)).astype("float32")
    r = stage // 2
    while r > 4:
        x = tiny_d.block(r)(x)
        r //= 2
    x = tiny_d.conv(tiny_d.mbstd(x))
    x = np.transpose(to_np(x), (0, 3, 1, 2)).reshape(4, -1).astype("float32")
    ref = to_np(tiny_d.dense1(tiny_d.dense0(x)))
    np.testing.assert_allclose(to_np(tiny_d(img, stage=stage, alpha=0.5)), ref, rtol=1e-4)
    assert np.isfinite(new).all()


def test_generator_and_discriminator_round_trip(tiny_g, tiny_d, tmp_path):
    z = _z()
    ref = to_np(tiny_g(z, truncation_psi=0.6, noise_mode="const"))
    clone, reloaded = keras_roundtrip(tiny_g, tmp_path, "g.keras")
    assert clone.get_config() == tiny_g.get_config()
    np.testing.assert_array_equal(to_np(reloaded(z, truncation_psi=0.6, noise_mode="const")), ref)
    np.testing.assert_array_equal(to_np(reloaded.w_avg), to_np(tiny_g.w_avg))
    img = ref.astype("float32")
    d_ref = to_np(tiny_d(img))
    clone, reloaded = keras_roundtrip(tiny_d, tmp_path, "d.keras")
    assert clone.get_config() == tiny_d.get_config()
    np.testing.assert_array_equal(to_np(reloaded(img)), d_ref)


def test_official_name_table_round_trip(tiny_g, tiny_d):
    z = _z()
    img = RNG.randn(4, 16, 16, 3).astype("float32")
    for model, fresh, call in (
        (tiny_g, Generator(**TINY_G), lambda m: m(z, truncation_psi=0.7, noise_mode="const")),
        (tiny_d, Discriminator(**TINY_D), lambda m: m(img)),
    ):
        weights = export_official_weights(model)
        assert len(name_table(model)) == len(model.weights)
        load_official_weights(fresh, weights)
        np.testing.assert_array_equal(to_np(call(fresh)), to_np(call(model)))


def test_official_names_and_layouts(tiny_g, tiny_d):
    g = export_official_weights(tiny_g)
    assert g["G_synthesis/4x4/Const/const"].shape == (1, 32, 4, 4)  # NCHW like the pickle
    assert g["G_synthesis/noise5"].shape == (1, 1, 16, 16)  # noise r = idx // 2 + 2
    assert g["G_synthesis/16x16/Conv0_up/weight"].shape == (3, 3, 32, 16)
    assert g["G_synthesis/ToRGB_lod0/weight"].shape == (1, 1, 16, 3)
    assert g["G_synthesis/ToRGB_lod2/weight"].shape == (1, 1, 32, 3)
    assert g["G_synthesis/4x4/Const/StyleMod/weight"].shape == (32, 64)
    assert g["dlatent_avg"].shape == (32,)
    d = export_official_weights(tiny_d)
    assert d["4x4/Conv/weight"].shape == (3, 3, 33, 32)
    assert d["4x4/Dense0/weight"].shape == (512, 32)
    assert d["16x16/Conv1_down/weight"].shape == (3, 3, 16, 32)
    assert d["FromRGB_lod0/weight"].shape == (1, 1, 3, 16)


def test_official_loader_names_missing_and_misshaped(tiny_g):
    weights = export_official_weights(tiny_g)
    fresh = Generator(**TINY_G)
    broken = dict(weights)
    del broken["G_synthesis/8x8/Conv1/StyleMod/bias"]
    with pytest.raises(ValueError, match="G_synthesis/8x8/Conv1/StyleMod/bias"):
        load_official_weights(fresh, broken)
    broken = dict(weights, **{"G_mapping/Dense1/weight": np.zeros((3, 3), "float32")})
    with pytest.raises(ValueError, match="G_mapping/Dense1/weight.*shape"):
        load_official_weights(fresh, broken)
    broken = dict(weights, **{"G_mapping/Dense9/weight": np.zeros((3, 3), "float32")})
    with pytest.raises(ValueError, match="Dense9"):
        load_official_weights(fresh, broken)
    # Nothing was assigned by the failed loads.
    assert np.allclose(to_np(fresh.synthesis.layers_[0].const.const), 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"img_resolution": 100}, "img_resolution"),
        ({"channel_max": 0}, "channel_max"),
        ({"img_channels": 2}, "img_channels"),
        ({"fused_scale": "yes"}, "fused_scale"),
        ({"style_mixing_prob": 1.5}, "style_mixing_prob"),
    ],
)
def test_invalid_generator_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Generator(**{**TINY_G, **kwargs})
    with pytest.raises(ValueError, match=match):
        GeneratorConfig(**{**TINY_G, **kwargs})


def test_invalid_inputs_are_named(tiny_g, tiny_d):
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_preset("huge")
    with pytest.raises(ValueError, match=r"z must have shape \[N, 32\]"):
        tiny_g(_z(2, 31))
    with pytest.raises(ValueError, match="stage"):
        tiny_g(_z(), stage=32)
    with pytest.raises(ValueError, match="images must be"):
        tiny_d(RNG.randn(4, 8, 8, 3).astype("float32"))
