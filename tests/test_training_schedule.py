"""Schedule (official TrainingSchedule), optimizer reset, EMA beta and update, style-mixing
cutoff, and the processing of reals (numpy re-derivations)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from datasets.processing import fade_lod, process_reals, to_float
from networks.generator import mixing_cutoff_from_uniform
from stylegan_tf.config import MINIBATCH_BY_GPUS, get_preset
from training.schedule import (
    minibatch_table_for_gpus,
    needs_optimizer_reset,
    schedule_table,
    training_schedule,
)
from training.step import ema_beta, reset_optimizer, update_ema

FFHQ = get_preset("paper1024").schedule


def at(kimg, sched=FFHQ, res=1024, replicas=1):
    return training_schedule(int(round(kimg * 1000)), sched, res, replicas)


# docs/official-semantics.md#training, 8-GPU FFHQ-1024 schedule: (kimg, res used for mb/lr, mb, lr)
OFFICIAL_ROWS = [
    (0, 8, 256, 0.001),
    (300, 8, 256, 0.001),
    (599.9, 8, 256, 0.001),
    (600.5, 16, 128, 0.001),
    (1500, 16, 128, 0.001),
    (1800.5, 32, 64, 0.001),
    (2999, 32, 64, 0.001),
    (3600, 64, 32, 0.001),
    (4500, 128, 32, 0.0015),
    (6000, 256, 32, 0.002),
    (7000, 512, 32, 0.003),
    (8000, 1024, 32, 0.003),
    (8400, 1024, 32, 0.003),
    (20000, 1024, 32, 0.003),
]


@pytest.mark.parametrize("kimg,res,mb,lr", OFFICIAL_ROWS)
def test_reference_ffhq_8gpu_table(kimg, res, mb, lr):
    s = at(kimg)
    assert (s.resolution, s.minibatch, s.lr) == (res, mb, lr)


def test_phase_boundaries_lod_and_alpha():
    # 0-600 stable 8^2 (lod 7), 600-1200 fade-in 16^2, 1200-1800 stable 16^2 ...
    assert at(0).lod == 7.0 and at(0).alpha == 1.0 and at(0).phase == "stable"
    assert at(600).lod == 7.0 and at(600).resolution == 8  # the fade starts right after
    s = at(900)
    assert s.lod == pytest.approx(6.5) and s.resolution == 16 and s.alpha == pytest.approx(0.5)
    assert s.phase == "fade"
    assert at(1050).alpha == pytest.approx(0.75)
    assert at(1200).lod == 6.0 and at(1200).alpha == 1.0 and at(1200).resolution == 16
    assert at(7800).resolution == 512 and at(7800).lod == pytest.approx(1.0)
    assert at(8100).resolution == 1024 and at(8100).alpha == pytest.approx(0.5)
    assert at(8400).lod == 0.0 and at(25000).lod == 0.0 and at(25000).alpha == 1.0


def test_tick_lengths_follow_the_official_table():
    assert at(0).tick_kimg == 140  # 8^2
    assert at(900).tick_kimg == 120  # fading in 16^2
    assert at(9000).tick_kimg == 20  # 1024^2


def test_initial_resolution_4_and_demo_schedule():
    cfg = get_preset("tiny")  # 16^2 from 4^2, 0.1 + 0.1 kimg per phase
    s = cfg.schedule
    assert training_schedule(0, s, 16).resolution == 4
    assert training_schedule(150, s, 16).resolution == 8
    assert training_schedule(150, s, 16).alpha == pytest.approx(0.5)
    assert training_schedule(350, s, 16).resolution == 16
    assert training_schedule(999, s, 16).lod == 0.0


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_official_minibatch_tables_per_gpu_count(gpus):
    base, table = minibatch_table_for_gpus(gpus)
    assert (base, table) == (MINIBATCH_BY_GPUS[gpus][0], MINIBATCH_BY_GPUS[gpus][1])
    sched = FFHQ.__class__(**{**FFHQ.__dict__, "minibatch_base": base, "minibatch_dict": table})
    # At 1024^2 the per-GPU minibatch is 4 for every GPU count (official train.py).
    assert training_schedule(9_000_000, sched, 1024, gpus).minibatch == 4 * gpus


def test_official_1gpu_table_values():
    base, table = minibatch_table_for_gpus(1)
    assert base == 4 and table[4] == 128 and table[128] == 16 and table[512] == 4
    with pytest.raises(ValueError, match="3"):
        minibatch_table_for_gpus(3)


def test_minibatch_rounded_down_to_a_multiple_of_replicas():
    assert at(0, replicas=3).minibatch == 255  # official: minibatch -= minibatch % num_gpus


def test_schedule_table_rows_cover_the_run():
    rows = schedule_table(FFHQ, 1024)
    assert rows[0] == {
        "start_kimg": 0.0, "end_kimg": 600.0, "phase": "stable", "resolution": 8,
        "minibatch": 256, "lr": 0.001, "tick_kimg": 140.0,
    }  # fmt: skip
    assert [(r["start_kimg"], r["phase"], r["resolution"]) for r in rows[1:3]] == [
        (600.0, "fade", 16),
        (1200.0, "stable", 16),
    ]
    assert rows[-1]["start_kimg"] == 8400.0 and rows[-1]["end_kimg"] == 25000.0
    assert len(rows) == 15


def test_optimizer_reset_when_floor_or_ceil_of_lod_changes():
    assert needs_optimizer_reset(-1.0, 7.0)  # start of training
    assert not needs_optimizer_reset(7.0, 7.0)
    assert needs_optimizer_reset(7.0, 6.99)  # fade-in starts: floor 7 -> 6
    assert not needs_optimizer_reset(6.99, 6.5)
    assert needs_optimizer_reset(6.5, 6.0)  # fade-in ends: ceil 7 -> 6
    assert not needs_optimizer_reset(6.0, 6.0)


def test_reset_optimizer_zeroes_adam_state_but_keeps_lr():
    import keras

    v = keras.Variable(np.ones(3, np.float32))
    opt = keras.optimizers.Adam(0.01, beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    opt.build([v])
    opt.apply([tf.constant([1.0, 2.0, 3.0])], [v])
    assert int(opt.iterations) == 1
    assert any(np.abs(np.asarray(x)).sum() > 0 for x in opt.variables if "velocity" in x.path)
    reset_optimizer(opt)
    assert int(opt.iterations) == 0
    for x in opt.variables:
        if "momentum" in x.path or "velocity" in x.path:
            assert np.all(np.asarray(x) == 0)
    assert float(opt.learning_rate) == pytest.approx(0.01)


def test_ema_beta_official_values():
    # docs/official-semantics.md#training: beta = 0.5 ** (minibatch / 10000): 0.99778 @ 32, 0.98241 @ 256
    assert ema_beta(32, 10.0) == pytest.approx(0.997784, abs=1e-6)
    assert ema_beta(256, 10.0) == pytest.approx(0.982411, abs=1e-6)
    assert ema_beta(256, 10.0) == pytest.approx(0.5 ** (256 / 10000))
    assert ema_beta(10_000, 10.0) == pytest.approx(0.5)  # half-life 10 kimg
    assert ema_beta(32, 0.0) == 0.0


def test_update_ema_lerps_trainables_and_copies_non_trainables():
    from networks import Generator

    cfg = get_preset("tiny").G
    G, G_ema = Generator.from_gconfig(cfg, seed=1), Generator.from_gconfig(cfg, seed=2)
    G.w_avg.assign(np.full(cfg.w_dim, 3.0, np.float32))
    before_ema = [np.asarray(v) for v in G_ema.trainable_variables]
    g = [np.asarray(v) for v in G.trainable_variables]
    update_ema(G_ema, G, 0.9)
    for after, e, x in zip(G_ema.trainable_variables, before_ema, g):
        np.testing.assert_allclose(np.asarray(after), x + (e - x) * 0.9, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(G_ema.w_avg), np.asarray(G.w_avg))
    for ve, v in zip(G_ema.non_trainable_variables, G.non_trainable_variables):
        if "noise_const" in v.path:
            np.testing.assert_array_equal(np.asarray(ve), np.asarray(v))


def test_mixing_cutoff_distribution_is_official():
    # With coin < 0.9 the crossover is uniform on 1..cur_layers-1, else cur_layers (no mix).
    cur_layers = 6
    n = 1000
    grid = (np.arange(n) + 0.5) / n  # exact quadrature of U(0, 1)
    coins, us = np.meshgrid(grid, grid[::10])  # 1000 coins x 100 u values
    cut = mixing_cutoff_from_uniform(
        tf.constant(coins.ravel(), tf.float32), tf.constant(us.ravel(), tf.float32), cur_layers, 0.9
    ).numpy()
    counts = np.bincount(cut, minlength=cur_layers + 1) / cut.size
    assert counts[0] == 0
    np.testing.assert_allclose(counts[cur_layers], 0.1, atol=1e-3)
    np.testing.assert_allclose(counts[1:cur_layers], 0.9 / (cur_layers - 1), atol=1e-3)


def test_mixing_cutoff_semantics_layers_below_cutoff_use_the_first_latent():
    from networks import Generator

    cfg = get_preset("tiny").G
    G = Generator.from_gconfig(cfg)
    z1 = tf.random.stateless_normal([2, cfg.z_dim], [0, 1])
    z2 = tf.random.stateless_normal([2, cfg.z_dim], [0, 2])
    w1, w2 = G.mapping(z1).numpy(), G.mapping(z2).numpy()
    mixed = G.style_mix(tf.constant(w1), stage=16, mix_z=z2, mixing_cutoff=3).numpy()
    np.testing.assert_allclose(mixed[:, :3], w1[:, :3], rtol=1e-6)
    np.testing.assert_allclose(mixed[:, 3:], w2[:, 3:], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Reals: uint8 -> [-1, 1], mirror, FadeLOD (numpy re-derivation of process_reals).


def np_process_reals(x_u8, alpha, flip):
    x = x_u8.astype(np.float64) * (2.0 / 255.0) - 1.0
    x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
    n, h, w, c = x.shape
    y = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    y = y.repeat(2, axis=1).repeat(2, axis=2)
    return x + (y - x) * (1.0 - alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_process_reals_matches_numpy(alpha):
    rng = np.random.RandomState(1)
    x = rng.randint(0, 256, (4, 8, 8, 3)).astype(np.uint8)
    flip = np.array([True, False, True, False])
    got = process_reals(tf.constant(x), tf.constant(alpha), tf.constant(flip)).numpy()
    np.testing.assert_allclose(got, np_process_reals(x, alpha, flip), atol=1e-5)


def test_to_float_range():
    x = tf.constant([[[[0]], [[255]]]], tf.uint8)
    np.testing.assert_allclose(to_float(x).numpy().ravel(), [-1.0, 1.0])


def test_faded_reals_at_alpha_0_are_the_previous_resolution_reals():
    # At alpha 0 the discriminator only sees box_downsample(x), exactly the lower-resolution
    # real, and 2x2-constant images are left unchanged at every alpha (as G's upsampled fakes).
    rng = np.random.RandomState(2)
    x = rng.rand(2, 8, 8, 1).astype(np.float32)
    faded = fade_lod(tf.constant(x), 0.0).numpy()
    low = x.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(faded.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4)), low, atol=1e-6)
    np.testing.assert_allclose(faded, low.repeat(2, 1).repeat(2, 2), atol=1e-6)
    blocky = low.repeat(2, 1).repeat(2, 2)
    np.testing.assert_allclose(fade_lod(tf.constant(blocky), 0.4).numpy(), blocky, atol=1e-6)
    assert math.isclose(float(fade_lod(tf.constant(x), 1.0).numpy().sum()), float(x.sum()),
                        rel_tol=1e-6)  # fmt: skip
