"""training/conv_grad.py: convolutions whose gradients run as forward convolutions.

Checked against a float64 numpy kernel gradient, against TensorFlow's registered gradients of
``tf.nn.conv2d`` to second order (R1's double backward), and in the compiled training step:
the step uses it (no 3x3 ``Conv2DBackprop*`` op is left) and computes what the step with the
plain convolution computes, up to float32 rounding."""

import numpy as np
import pytest
import tensorflow as tf
from training_helpers import step_setup, tiny_config

import training.conv_grad as conv_grad
from training.step import distribute_reals, make_train_step


def _np_kernel_grad(x, dy, k, pad):
    """float64 ``sum_{n,h,w} pad(x)[n, h + a, w + b, i] * dy[n, h, w, o]`` for a k x k kernel."""
    _, h, w, _ = dy.shape
    xp = np.pad(x.astype(np.float64), [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    out = np.zeros((k, k, x.shape[-1], dy.shape[-1]))
    for a in range(k):
        for b in range(k):
            patch = xp[:, a : a + h, b : b + w, :].reshape(-1, x.shape[-1])
            out[a, b] = patch.T @ dy.reshape(-1, dy.shape[-1]).astype(np.float64)
    return out


def test_kernel_grad_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 5, 4)).astype("float32")  # non-square on purpose
    dy = rng.standard_normal((3, 7, 5, 6)).astype("float32")
    got = conv_grad.kernel_grad(tf.constant(x), tf.constant(dy), 1).numpy()
    want = _np_kernel_grad(x, dy, 3, 1)
    assert got.shape == (3, 3, 4, 6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    # 'valid' (no padding): a 2x2 kernel of a 6x4 output from the 7x5 input
    got = conv_grad.kernel_grad(tf.constant(x), tf.constant(dy[:, :6, :4]), 0).numpy()
    want = _np_kernel_grad(x, dy[:, :6, :4], 2, 0)
    assert got.shape == (2, 2, 4, 6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def _two_layer_r1(conv, x, w1, w2, padding):
    """Value, input gradient, and the weight gradients of ``value + |d value / d x|^2``."""
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = conv(tf.nn.leaky_relu(conv(x, w1, padding), 0.2), w2, padding)
            value = tf.reduce_sum(tf.sin(y))
        gx = inner.gradient(value, x)
        penalty = value + tf.reduce_sum(gx**2)
    return [value, gx] + outer.gradient(penalty, [w1, w2])


@pytest.mark.parametrize(
    "k, padding, compiled",
    [(3, "same", False), (3, "same", True), (1, "same", False), (2, "valid", True),
     (3, "valid", False)],
)  # fmt: skip
def test_first_and_second_order_gradients_match_tensorflow(k, padding, compiled):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((4, 9, 7, 5)).astype("float32"))
    w1 = tf.Variable(rng.standard_normal((k, k, 5, 6)).astype("float32") * 0.3)
    w2 = tf.Variable(rng.standard_normal((k, k, 6, 2)).astype("float32") * 0.3)

    def plain(a, w, p):
        return tf.nn.conv2d(a, w, 1, p.upper())

    def run_plain():
        return _two_layer_r1(plain, x, w1, w2, padding)

    def run_fast():
        return _two_layer_r1(conv_grad.conv2d, x, w1, w2, padding)

    if compiled:
        run_plain, run_fast = tf.function(run_plain), tf.function(run_fast)
    for want, got in zip(run_plain(), run_fast()):
        want, got = want.numpy(), got.numpy()
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())


def _step_result(fast, monkeypatch):
    cfg = tiny_config()
    if not fast:
        monkeypatch.setattr(conv_grad, "conv2d", lambda a, w, p: tf.nn.conv2d(a, w, 1, p.upper()))
    tf.keras.utils.set_random_seed(5)
    strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite = step_setup(cfg)
    alpha.assign(0.5)
    fn = make_train_step(strategy, G, D, G_ema, G_opt, D_opt, alpha, nonfinite, stage=8,
                         batch=8, training_cfg=cfg.training, seed=1)  # fmt: skip
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, (8, 8, 8, 3)).astype(np.uint8))
    args = (distribute_reals(strategy, reals), tf.zeros([8, 0]), tf.constant(0, tf.int64))
    graph = fn.get_concrete_function(*args).graph
    backprops = [op for op in graph.get_operations() if op.type.startswith("Conv2DBackprop")]
    out = fn(*args)
    monkeypatch.undo()
    weights = [np.array(v) for v in D.trainable_variables + G.trainable_variables]
    return out, weights, backprops


def test_training_step_uses_forward_conv_gradients_and_matches_plain(monkeypatch):
    out_fast, w_fast, backprops_fast = _step_result(True, monkeypatch)
    out_plain, w_plain, backprops_plain = _step_result(False, monkeypatch)
    # Wired in: TF's own 3x3 backprop kernels are gone (1x1 toRGB / fromRGB keep theirs).
    assert any(op.inputs[1].shape[0] == 3 for op in backprops_plain if "Input" in op.type)
    for op in backprops_fast:
        k = op.inputs[1].shape[0] if "Input" in op.type else op.outputs[0].shape[0]
        assert k == 1, op.name
    for k in ("Loss/D", "Loss/G", "Loss/penalty"):
        np.testing.assert_allclose(float(out_fast[k]), float(out_plain[k]), rtol=1e-4, atol=1e-6)
    # Adam's first step moves a weight by about lr * sign(grad); rounding may flip the sign
    # where a gradient is ~0 (a 2 lr difference), everywhere else the updates agree.
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(w_fast, w_plain)])
    assert diff.max() <= 2.01 * 0.001
    assert np.mean(diff < 1e-6) > 0.99
