"""GAN losses as pure functions (official ``training/loss.py``).

Every function returns *per-example* losses ``[N]`` in float32; the training step averages them
over the global minibatch with ``tf.nn.compute_average_loss`` (the official code takes the mean
per GPU and averages the GPUs' gradients, which is the same).

* ``logistic_r1`` (the paper's FFHQ setup, official ``G_logistic_nonsaturating`` +
  ``D_logistic_simplegp`` with ``r1_gamma=10``):
  G: ``softplus(-D(G(z)))``; D: ``softplus(D(G(z))) + softplus(-D(x))
  + (gamma / 2) * ||grad_x sum(D(x))||^2`` on the reals, every minibatch.
* ``wgan_gp`` (official ``G_wgan`` + ``D_wgan_gp``, the CelebA-HQ alternative):
  G: ``-D(G(z))``; D: ``D(G(z)) - D(x) + lambda * (||grad D(x_mix)|| - 1)^2 + eps * D(x)^2``
  with ``x_mix = lerp(x, G(z), u)``, ``u ~ U(0, 1)`` per sample, ``lambda = 10``,
  ``eps = 1e-3``.

The score-level formulas (``g_*``, ``d_*``, penalties) take plain tensors; :func:`d_loss` and
:func:`g_loss` take the discriminator as a callable and compute the gradients the
penalties need with ``tf.GradientTape``.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "LOSSES",
    "scores_1d",
    "g_logistic_nonsaturating",
    "d_logistic",
    "r1_penalty",
    "g_wgan",
    "d_wgan",
    "wgan_gradient_penalty",
    "wgan_epsilon_penalty",
    "g_loss",
    "d_loss",
]

LOSSES = ("logistic_r1", "wgan_gp")


def scores_1d(scores):
    """Discriminator output ``[N, 1]`` (or ``[N]``) as float32 ``[N]``."""
    scores = tf.cast(scores, tf.float32)
    return tf.reshape(scores, [-1])


def g_logistic_nonsaturating(fake_scores):
    """Non-saturating logistic G loss ``softplus(-D(G(z)))``, per example."""
    return tf.nn.softplus(-scores_1d(fake_scores))


def d_logistic(real_scores, fake_scores):
    """Logistic D loss ``softplus(D(G(z))) + softplus(-D(x))``, per example."""
    return tf.nn.softplus(scores_1d(fake_scores)) + tf.nn.softplus(-scores_1d(real_scores))


def _sum_squares(grads):
    grads = tf.cast(grads, tf.float32)
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank)))


def r1_penalty(real_grads, gamma):
    """R1 ``(gamma / 2) * ||grad_x D(x)||^2`` per example from ``real_grads`` ``[N, H, W, C]``."""
    return _sum_squares(real_grads) * (gamma * 0.5)


def g_wgan(fake_scores):
    """WGAN G loss ``-D(G(z))``, per example."""
    return -scores_1d(fake_scores)


def d_wgan(real_scores, fake_scores):
    """WGAN D loss ``D(G(z)) - D(x)``, per example (without the penalties)."""
    return scores_1d(fake_scores) - scores_1d(real_scores)


def wgan_gradient_penalty(mixed_grads, wgan_lambda=10.0, wgan_target=1.0):
    """``lambda / target^2 * (||grad D(x_mix)|| - target)^2`` per example."""
    norms = tf.sqrt(_sum_squares(mixed_grads))
    return tf.square(norms - wgan_target) * (wgan_lambda / (wgan_target**2))


def wgan_epsilon_penalty(real_scores, wgan_epsilon=1e-3):
    """Drift penalty ``epsilon * D(x)^2`` per example."""
    return tf.square(scores_1d(real_scores)) * wgan_epsilon


def g_loss(kind, fake_scores):
    """Per-example G loss of ``kind`` (``"logistic_r1"`` or ``"wgan_gp"``)."""
    if kind == "logistic_r1":
        return g_logistic_nonsaturating(fake_scores)
    if kind == "wgan_gp":
        return g_wgan(fake_scores)
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


def _input_grads(D_fn, images, loss_scale):
    """``grad_x sum(D(x))`` ``[N, H, W, C]`` and the scores ``D(x)``.

    ``loss_scale`` multiplies the summed scores before differentiation and divides the result
    (official ``apply_loss_scaling`` / ``undo_loss_scaling``) so that float16 gradients do not
    underflow under mixed precision; 1 in float32.
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = D_fn(images)
        total = tf.reduce_sum(tf.cast(scores, tf.float32)) * loss_scale
    grads = tf.cast(tape.gradient(total, images), tf.float32) / loss_scale
    return grads, scores


def d_loss(
    kind,
    D_fn,
    reals,
    fakes,
    *,
    r1_gamma=10.0,
    wgan_lambda=10.0,
    wgan_epsilon=1e-3,
    mixing_factors=None,
    loss_scale=1.0,
):
    """Per-example D loss terms, computed by calling ``D_fn(images) -> scores [N, 1]``.

    Returns a dict of float32 ``[N]`` tensors: ``total`` (the loss to minimise), ``adv`` (the
    adversarial part), ``penalty`` (R1, or gradient + drift penalty for WGAN-GP),
    ``real_scores`` and ``fake_scores``.

    ``mixing_factors`` ``[N, 1, 1, 1]`` in [0, 1] is needed by ``wgan_gp`` (the official
    ``tf.random_uniform`` per sample; pass it explicitly so that distributed runs agree).
    """
    fake_scores = D_fn(fakes)
    if kind == "logistic_r1":
        if r1_gamma > 0:
            real_grads, real_scores = _input_grads(D_fn, reals, loss_scale)
            penalty = r1_penalty(real_grads, r1_gamma)
        else:
            real_scores = D_fn(reals)
            penalty = tf.zeros_like(scores_1d(real_scores))
        adv = d_logistic(real_scores, fake_scores)
    elif kind == "wgan_gp":
        if mixing_factors is None:
            raise ValueError("wgan_gp needs mixing_factors [N, 1, 1, 1]")
        real_scores = D_fn(reals)
        adv = d_wgan(real_scores, fake_scores)
        u = tf.cast(mixing_factors, fakes.dtype)
        mixed = tf.cast(reals, fakes.dtype) + (fakes - tf.cast(reals, fakes.dtype)) * u
        mixed_grads, _ = _input_grads(D_fn, mixed, loss_scale)
        penalty = wgan_gradient_penalty(mixed_grads, wgan_lambda) + wgan_epsilon_penalty(
            real_scores, wgan_epsilon
        )
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    return {
        "total": adv + penalty,
        "adv": adv,
        "penalty": penalty,
        "real_scores": scores_1d(real_scores),
        "fake_scores": scores_1d(fake_scores),
    }
