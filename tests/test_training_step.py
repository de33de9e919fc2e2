"""The compiled step: traced once per stage, G_ema updated with beta between the D and G
updates, non-finite gradients skip the update and are counted, mixed precision runs."""

import numpy as np
import pytest
import tensorflow as tf
from training_helpers import step_setup as _setup
from training_helpers import tiny_config

from training.step import distribute_reals, ema_beta, make_train_step

BATCH = 8


def _reals(stage, seed=0):
    rng = np.random.RandomState(seed)
    return tf.constant(rng.randint(0, 256, (BATCH, stage, stage, 3)).astype(np.uint8))


@pytest.fixture(scope="module")
def models():
    return _setup(tiny_config())


def _values(variables):
    return [np.array(v) for v in variables]


def test_one_trace_per_stage_and_ema_between_d_and_g_updates(models):
    strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = models
    cfg = tiny_config()
    fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=8,
                         batch=BATCH, training_cfg=cfg.training, seed=1)  # fmt: skip
    labels = tf.zeros([BATCH, 0])
    for i, a in enumerate([0.25, 0.5, 1.0]):
        alpha.assign(a)
        g_before, e_before = _values(G.trainable_variables), _values(G_ema.trainable_variables)
        out = fn(distribute_reals(strategy, _reals(8, i)), labels, tf.constant(i, tf.int64))
        assert np.isfinite(float(out["Loss/D"])) and np.isfinite(float(out["Loss/G"]))
        beta = ema_beta(BATCH, cfg.training.g_smoothing_kimg)
        for after, g, e in zip(G_ema.trainable_variables, g_before, e_before):
            # lerp(G, G_ema, beta) with G as it was before this step's G update
            np.testing.assert_allclose(np.array(after), g + (e - g) * beta, rtol=1e-5, atol=1e-6)
    assert fn.experimental_get_tracing_count() == 1  # alpha and step changes do not retrace
    assert not np.allclose(_values(G.trainable_variables)[0], g_before[0])
    # Non-trainables are copied (official beta 0); w_avg as it was after the D pass, since the
    # G pass (after the G_ema update, as in the official loop) moves it again.
    assert np.abs(np.array(G_ema.w_avg)).sum() > 0
    assert not np.array_equal(np.array(G_ema.w_avg), np.array(G.w_avg))


def test_nonfinite_gradients_skip_the_update_and_are_counted(models):
    strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = models
    cfg = tiny_config()
    fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=4,
                         batch=BATCH, training_cfg=cfg.training, seed=1)  # fmt: skip
    labels = tf.zeros([BATCH, 0])
    kernel = D.dense1.kernel
    good = np.array(kernel)
    bad = good.copy()
    bad[0, 0] = np.nan
    kernel.assign(bad)
    counts = np.array(nonfinite)
    it = (int(np.array(G_opt.iterations)), int(np.array(D_opt.iterations)))
    d_before, g_before = _values(D.trainable_variables), _values(G.trainable_variables)
    out = fn(distribute_reals(strategy, _reals(4)), labels, tf.constant(0, tf.int64))
    assert float(out["Loss/nonfinite_D"]) == 1.0 and float(out["Loss/nonfinite_G"]) == 1.0
    np.testing.assert_array_equal(np.array(nonfinite), counts + [1, 1])
    assert (int(np.array(G_opt.iterations)), int(np.array(D_opt.iterations))) == it
    for v, b in zip(D.trainable_variables, d_before):
        np.testing.assert_array_equal(np.array(v), b)
    for v, b in zip(G.trainable_variables, g_before):
        np.testing.assert_array_equal(np.array(v), b)
    kernel.assign(good)
    out = fn(distribute_reals(strategy, _reals(4)), labels, tf.constant(1, tf.int64))
    assert float(out["Loss/nonfinite_D"]) == 0.0
    np.testing.assert_array_equal(np.array(nonfinite), counts + [1, 1])
    assert int(np.array(D_opt.iterations)) == it[1] + 1


def test_mixed_precision_step_is_finite_and_updates():
    import keras

    cfg = tiny_config()
    strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = _setup(cfg, mixed_precision=True)
    assert keras.config.dtype_policy().name == "float32"  # restored after building
    assert G.synthesis.layers_[0].compute_dtype == "float16"
    assert isinstance(G_opt, keras.optimizers.LossScaleOptimizer)
    fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=4,
                         batch=BATCH, training_cfg=cfg.training, seed=1, mixed_precision=True)  # fmt: skip
    before = _values(D.trainable_variables)
    scale0 = float(np.array(D_opt.dynamic_scale))
    for i in range(16):  # the loss scale starts at 2^15 and halves on each overflow
        out = fn(distribute_reals(strategy, _reals(4, i)), tf.zeros([BATCH, 0]),
                 tf.constant(i, tf.int64))  # fmt: skip
        assert np.isfinite(float(out["Loss/D"])) and np.isfinite(float(out["Loss/G"]))
        changed = [
            not np.array_equal(np.array(v), b) for v, b in zip(D.trainable_variables, before)
        ]
        if any(changed):
            break
    assert any(changed)
    skipped = int(np.array(nonfinite)[0])
    assert float(np.array(D_opt.dynamic_scale)) == scale0 / 2**skipped  # skips were counted


def test_conditional_step_uses_the_label_table():
    cfg = tiny_config().replace(G={"c_dim": 3}, D={"c_dim": 3})
    strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = _setup(cfg)
    with pytest.raises(ValueError, match="label_table"):
        make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=4,
                        batch=BATCH, training_cfg=cfg.training, seed=1)  # fmt: skip
    table = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=4,
                         batch=BATCH, training_cfg=cfg.training, seed=1, label_table=table)  # fmt: skip
    labels = tf.constant(table[:BATCH])
    before = np.array(G.mapping.embed)
    out = fn(distribute_reals(strategy, _reals(4)), labels, tf.constant(0, tf.int64))
    assert np.isfinite(float(out["Loss/D"])) and np.isfinite(float(out["Loss/G"]))
    assert not np.array_equal(np.array(G.mapping.embed), before)  # labels reach G's embedding


def test_xla_step_matches_the_default_step():
    # Same start, same draws: the XLA-compiled step (blur as separable adds) gives the default
    # step's losses and updates up to float32 rounding.
    cfg = tiny_config()
    results = []
    for xla in (False, True):
        tf.keras.utils.set_random_seed(3)
        strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = _setup(cfg)
        alpha.assign(0.5)
        fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=8,
                             batch=BATCH, training_cfg=cfg.training, seed=1, xla=xla)  # fmt: skip
        out = fn(distribute_reals(strategy, _reals(8)), tf.zeros([BATCH, 0]),
                 tf.constant(0, tf.int64))  # fmt: skip
        results.append((out, _values(D.trainable_variables), _values(G.trainable_variables)))
    (out0, d0, g0), (out1, d1, g1) = results
    for k in ("Loss/D", "Loss/G", "Loss/penalty"):
        np.testing.assert_allclose(float(out1[k]), float(out0[k]), rtol=1e-4, atol=1e-5)
    # Adam's first step moves a weight by about lr * sign(grad): where a gradient is ~0, rounding
    # can flip its sign (a 2 lr difference); everywhere else the updates agree.
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(d1 + g1, d0 + g0)])
    assert diff.max() <= 2.01 * 0.001
    assert np.mean(diff < 1e-5) > 0.95
