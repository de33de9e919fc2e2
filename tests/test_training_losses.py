"""Losses against hand-computed numpy values (official training/loss.py semantics)."""

import numpy as np
import pytest
import tensorflow as tf

from training import losses


def np_softplus(x):
    return np.log1p(np.exp(x))


SCORES_REAL = np.array([[1.5], [-0.25], [0.0], [3.0]], np.float32)
SCORES_FAKE = np.array([[-2.0], [0.5], [0.75], [-0.1]], np.float32)


def test_g_logistic_nonsaturating_matches_softplus_of_minus_score():
    got = losses.g_logistic_nonsaturating(SCORES_FAKE).numpy()
    np.testing.assert_allclose(got, np_softplus(-SCORES_FAKE[:, 0]), rtol=1e-6)
    # Hand value: softplus(2) = log(1 + e^2)
    assert got[0] == pytest.approx(2.126928, abs=1e-5)


def test_d_logistic_is_softplus_fake_plus_softplus_minus_real():
    got = losses.d_logistic(SCORES_REAL, SCORES_FAKE).numpy()
    want = np_softplus(SCORES_FAKE[:, 0]) + np_softplus(-SCORES_REAL[:, 0])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Third sample: softplus(0.75) + softplus(0) = log(1 + e^0.75) + log 2
    assert got[2] == pytest.approx(1.136870 + 0.693147, abs=1e-5)


def test_r1_penalty_is_half_gamma_squared_norm_per_example():
    grads = np.arange(2 * 2 * 2 * 1, dtype=np.float32).reshape(2, 2, 2, 1)
    got = losses.r1_penalty(grads, 10.0).numpy()
    # sample 0: 0+1+4+9 = 14, sample 1: 16+25+36+49 = 126; times gamma/2 = 5
    np.testing.assert_allclose(got, [70.0, 630.0])


def test_wgan_terms():
    np.testing.assert_allclose(losses.g_wgan(SCORES_FAKE).numpy(), -SCORES_FAKE[:, 0])
    np.testing.assert_allclose(
        losses.d_wgan(SCORES_REAL, SCORES_FAKE).numpy(), SCORES_FAKE[:, 0] - SCORES_REAL[:, 0]
    )
    grads = np.zeros((2, 1, 1, 2), np.float32)
    grads[0, 0, 0] = [3.0, 4.0]  # norm 5 -> (5 - 1)^2 * 10 = 160
    grads[1, 0, 0] = [0.6, 0.8]  # norm 1 -> 0
    np.testing.assert_allclose(losses.wgan_gradient_penalty(grads, 10.0).numpy(), [160.0, 0.0],
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(
        losses.wgan_epsilon_penalty(SCORES_REAL, 1e-3).numpy(), 1e-3 * SCORES_REAL[:, 0] ** 2
    )


def _quadratic_D(x):
    # D(x) = 0.5 * sum(x^2) per sample -> grad_x D = x, so R1 = gamma / 2 * ||x||^2.
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]


def test_d_loss_logistic_r1_with_an_analytic_discriminator():
    rng = np.random.RandomState(0)
    reals = rng.randn(3, 2, 2, 1).astype(np.float32)
    fakes = rng.randn(3, 2, 2, 1).astype(np.float32)
    terms = losses.d_loss("logistic_r1", _quadratic_D, tf.constant(reals), tf.constant(fakes),
                          r1_gamma=4.0)  # fmt: skip
    d_real = 0.5 * (reals**2).sum(axis=(1, 2, 3))
    d_fake = 0.5 * (fakes**2).sum(axis=(1, 2, 3))
    r1 = 2.0 * (reals**2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(terms["penalty"].numpy(), r1, rtol=1e-5)
    np.testing.assert_allclose(terms["adv"].numpy(), np_softplus(d_fake) + np_softplus(-d_real),
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(terms["total"].numpy(), terms["adv"].numpy() + r1, rtol=1e-5)


def test_r1_gradient_reaches_the_discriminator_weights():
    # The penalty must be differentiable w.r.t. D's weights (double backprop), as in the
    # official graph: d/dw [gamma/2 * ||w x||^2] = gamma * w * ||x||^2 for D(x) = w * sum(x).
    w = tf.Variable(0.5)
    reals = tf.ones([2, 2, 2, 1])
    with tf.GradientTape() as tape:
        terms = losses.d_loss(
            "logistic_r1",
            lambda x: w * tf.reduce_sum(x, axis=[1, 2, 3])[:, None],
            reals,
            tf.zeros([2, 2, 2, 1]),
            r1_gamma=10.0,
        )
        penalty = tf.reduce_mean(terms["penalty"])
    # ||grad_x||^2 = w^2 * 4 pixels -> penalty = 5 * 4 * w^2, d/dw = 40 w = 20
    assert float(penalty) == pytest.approx(5.0)
    assert float(tape.gradient(penalty, w)) == pytest.approx(20.0)


def test_d_loss_wgan_gp_with_an_analytic_discriminator():
    # D(x) = sum(a * x): gradient a everywhere, norm ||a||.
    a = np.full((1, 2, 2, 1), 0.75, np.float32)  # norm 1.5
    reals = np.ones((2, 2, 2, 1), np.float32)
    fakes = -np.ones((2, 2, 2, 1), np.float32)

    def D(x):
        return tf.reduce_sum(x * a, axis=[1, 2, 3])[:, None]

    terms = losses.d_loss(
        "wgan_gp", D, tf.constant(reals), tf.constant(fakes),
        wgan_lambda=10.0, wgan_epsilon=1e-3, mixing_factors=tf.fill([2, 1, 1, 1], 0.3),
    )  # fmt: skip
    d_real, d_fake = 3.0, -3.0
    gp = 10.0 * (1.5 - 1.0) ** 2
    eps = 1e-3 * d_real**2
    np.testing.assert_allclose(terms["total"].numpy(), [d_fake - d_real + gp + eps] * 2, rtol=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="hinge"):
        losses.g_loss("hinge", SCORES_FAKE)
