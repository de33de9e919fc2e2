"""Each layer against an independent numpy computation of the official semantics."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    he_scale,
    np_blur,
    np_conv_same,
    np_dense,
    np_downscale,
    np_instance_norm,
    np_lrelu,
    np_minibatch_stddev,
    np_pixel_norm,
    np_upscale,
    to_np,
)

from networks import layers as L

RNG = np.random.RandomState(1234)


@pytest.fixture(autouse=True)
def _same_data_in_any_order():
    # Each test draws the same inputs however the tests are ordered or split across workers.
    RNG.seed(1234)


def _x(*shape):
    return RNG.randn(*shape).astype("float32")


def test_equalized_dense_runtime_scale_and_init():
    layer = L.EqualizedDense(64, lr_multiplier=0.01, activation="lrelu")
    x = _x(4, 256)
    y = to_np(layer(x))
    w = to_np(layer.kernel)
    layer.bias.assign(_x(64))
    y = to_np(layer(x))
    ref = np_lrelu(np_dense(x, w, to_np(layer.bias), gain=np.sqrt(2), lrmul=0.01))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    # Raw weights are stored with std 1/lr_multiplier (here 100), not pre-scaled.
    assert 90 < w.std() < 110


def test_lrelu_slope_is_official():
    layer = L.EqualizedDense(1, gain=1.0, use_bias=False, activation="lrelu")
    layer.build((None, 1))
    layer.kernel.assign([[1.0]])
    np.testing.assert_allclose(to_np(layer(np.array([[-1.0]], "float32"))), [[-0.2]], rtol=1e-6)


@pytest.mark.parametrize("k", [1, 3])
def test_equalized_conv(k):
    layer = L.EqualizedConv2D(6, k, gain=1.0, lr_multiplier=0.5)
    x = _x(2, 8, 8, 5)
    layer.build(x.shape)
    layer.bias.assign(_x(6))
    ref = np_conv_same(x, he_scale(to_np(layer.kernel), 1.0, 0.5)) + to_np(layer.bias) * 0.5
    np.testing.assert_allclose(to_np(layer(x)), ref, rtol=1e-4, atol=1e-5)


def test_up_conv_on_the_low_resolution_grid_equals_nearest_up_then_conv():
    # upscale2d_conv2d computes four 2x2 phase convolutions and interleaves them; non-square
    # input, so a swapped row/column phase would show.
    x = _x(3, 5, 7, 4)
    w = _x(3, 3, 4, 6)
    got = to_np(L.upscale2d_conv2d(x, w))
    want = np_conv_same(np_upscale(to_np(x)), to_np(w))
    assert got.shape == (3, 10, 14, 6)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())


def test_down_conv_on_the_low_resolution_grid_equals_conv_then_average():
    # conv2d_downscale2d: space-to-depth and a 2x2 conv; non-square input, so swapped row and
    # column taps would show.
    x = _x(3, 6, 10, 4)
    w = _x(3, 3, 4, 5)
    got = to_np(L.conv2d_downscale2d(x, w))
    full = np_conv_same(to_np(x), to_np(w))
    want = full.reshape(3, 3, 2, 5, 2, 5).mean(axis=(2, 4))
    assert got.shape == (3, 3, 5, 5)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())


def test_low_resolution_forms_fall_back_for_unknown_or_odd_sizes():
    import tensorflow as tf

    w = _x(3, 3, 4, 5)
    x = _x(2, 6, 5, 4)  # odd width: conv, then the 2x2 average drops the last column
    full = np_conv_same(x, w)
    want = full[:, :, :4].reshape(2, 3, 2, 2, 2, 5).mean(axis=(2, 4))
    np.testing.assert_allclose(to_np(L.conv2d_downscale2d(x, w)), want, rtol=1e-5, atol=1e-5)
    spec = tf.TensorSpec([None, None, None, 4], tf.float32)
    up = tf.function(lambda t: L.upscale2d_conv2d(t, w), input_signature=[spec])
    x = _x(2, 3, 4, 4)
    want = np_conv_same(np_upscale(x), w)
    np.testing.assert_allclose(up(x).numpy(), want, rtol=1e-5, atol=1e-5)


def test_fused_up_equals_nearest_up_and_flipped_kernel_conv():
    x = _x(2, 8, 8, 4)
    fused = L.EqualizedConv2D(5, 3, resample="up", fused=True, use_bias=False)
    plain = L.EqualizedConv2D(5, 3, resample="up", fused=False, use_bias=False)
    fused.build(x.shape)
    plain.build(x.shape)
    plain.kernel.assign(fused.kernel)
    w = he_scale(to_np(fused.kernel))
    up = np_upscale(to_np(x))
    np.testing.assert_allclose(
        to_np(fused(x)), np_conv_same(up, w[::-1, ::-1]), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(to_np(plain(x)), np_conv_same(up, w), rtol=1e-4, atol=1e-4)
    # Same weights, different maps: the paths are not interchangeable.
    assert np.abs(to_np(fused(x)) - to_np(plain(x))).max() > 0.1


def test_fused_up_matches_official_transposed_conv():
    """The official ``upscale2d_conv2d`` fused branch, written with TF ops (NHWC)."""
    x = _x(2, 8, 8, 4)
    layer = L.EqualizedConv2D(5, 3, resample="up", fused=True, use_bias=False)
    layer.build(x.shape)
    w = tf.constant(he_scale(to_np(layer.kernel)), tf.float32)
    w = tf.transpose(w, [0, 1, 3, 2])
    w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
    w = tf.add_n([w[1:, 1:], w[:-1, 1:], w[1:, :-1], w[:-1, :-1]])
    ref = tf.nn.conv2d_transpose(x, w, [2, 16, 16, 5], strides=[1, 2, 2, 1], padding="SAME")
    np.testing.assert_allclose(to_np(layer(x)), ref.numpy(), rtol=1e-4, atol=1e-4)


def test_fused_down_equals_conv_then_average():
    x = _x(2, 8, 8, 4)
    fused = L.EqualizedConv2D(5, 3, resample="down", fused=True, use_bias=False)
    plain = L.EqualizedConv2D(5, 3, resample="down", fused=False, use_bias=False)
    fused.build(x.shape)
    plain.build(x.shape)
    plain.kernel.assign(fused.kernel)
    ref = np_downscale(np_conv_same(to_np(x), he_scale(to_np(fused.kernel))))
    np.testing.assert_allclose(to_np(fused(x)), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(to_np(plain(x)), ref, rtol=1e-4, atol=1e-5)


def test_blur_up_down():
    x = _x(2, 6, 6, 3)
    np.testing.assert_allclose(to_np(L.blur2d(x)), np_blur(to_np(x)), rtol=1e-5, atol=1e-5)
    # The blur kernel sums to one: a constant image keeps its value away from the border.
    ones = np.ones((1, 6, 6, 1), "float32")
    np.testing.assert_allclose(to_np(L.blur2d(ones))[0, 1:-1, 1:-1], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(to_np(L.upscale2d(x)), np_upscale(to_np(x)))
    np.testing.assert_allclose(to_np(L.downscale2d(x)), np_downscale(to_np(x)), atol=1e-6)


def test_pixel_norm_and_instance_norm():
    x = _x(3, 5, 5, 7) * 3 + 1
    np.testing.assert_allclose(to_np(L.pixel_norm(x)), np_pixel_norm(to_np(x)), rtol=1e-5)
    np.testing.assert_allclose(
        to_np(L.instance_norm(x)), np_instance_norm(to_np(x)), rtol=1e-4, atol=1e-5
    )
    # Instance norm runs in float32 even for float16 inputs, and has no weights.
    y = L.instance_norm(tf.cast(x, tf.float16))
    assert y.dtype == tf.float16
    np.testing.assert_allclose(to_np(y), np_instance_norm(to_np(x)), atol=1e-2)


def test_minibatch_stddev_groups_follow_official_layout():
    x = _x(8, 4, 4, 6)
    y = to_np(L.minibatch_stddev(x, group_size=4))
    np.testing.assert_allclose(y, np_minibatch_stddev(to_np(x), 4), rtol=1e-5, atol=1e-6)
    # Groups are {i, i+M, ...}: a consecutive-sample grouping would give different values.
    assert not np.allclose(y[0, 0, 0, -1], y[1, 0, 0, -1])
    with pytest.raises(ValueError, match="not divisible"):
        L.minibatch_stddev(_x(6, 4, 4, 2), group_size=4)


def test_style_modulation_plus_one():
    layer = L.StyleModulation(4)
    x, w = _x(2, 3, 3, 4), _x(2, 8)
    layer.build(x.shape, w.shape)
    # With zero style weights the output is exactly the input: scale starts at 1, not 0.
    layer.dense.kernel.assign(np.zeros((8, 8), "float32"))
    np.testing.assert_allclose(to_np(layer(x, w)), to_np(x), rtol=1e-6)
    layer.dense.kernel.assign(_x(8, 8))
    layer.dense.bias.assign(_x(8))
    style = np_dense(to_np(w), to_np(layer.dense.kernel), to_np(layer.dense.bias), gain=1.0)
    ref = to_np(x) * (style[:, None, None, :4] + 1) + style[:, None, None, 4:]
    np.testing.assert_allclose(to_np(layer(x, w)), ref, rtol=1e-5, atol=1e-5)
    # The synthesis layers normalise and modulate in one pass: the same map, float16 in and out.
    scale, shift = layer.scale_and_shift(w)
    x = x * 3 + 1
    ref = np_instance_norm(to_np(x)) * (style[:, None, None, :4] + 1) + style[:, None, None, 4:]
    got = L.instance_norm_modulate(x, scale, shift)
    np.testing.assert_allclose(to_np(got), ref, rtol=1e-4, atol=1e-5)
    got = L.instance_norm_modulate(tf.cast(x, tf.float16), scale, shift)
    assert got.dtype == tf.float16
    np.testing.assert_allclose(to_np(got), ref, rtol=1e-2, atol=1e-2)


def test_noise_injection_modes():
    layer = L.NoiseInjection(4, seed=3)
    x = _x(2, 4, 4, 3)
    layer.build(x.shape)
    # Zero-initialised weight: noise has no effect at init.
    np.testing.assert_array_equal(to_np(layer(x)), to_np(x))
    layer.weight.assign(np.array([1.0, 2.0, 3.0], "float32"))
    const = to_np(layer.noise_const)
    # atol: an entry of x + noise * weight near 0 keeps only the sum's float32 rounding.
    np.testing.assert_allclose(
        to_np(layer(x, noise_mode="const")), to_np(x) + const * [1, 2, 3], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(to_np(layer(x, noise_mode="none")), to_np(x))
    explicit = _x(2, 4, 4, 1)
    np.testing.assert_allclose(
        to_np(layer(x, noise=explicit)), to_np(x) + explicit * [1, 2, 3], rtol=1e-6, atol=1e-6
    )
    a, b = to_np(layer(x)), to_np(layer(x))
    assert not np.allclose(a, b), "random mode must draw fresh noise per call"
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, noise_mode="bogus")


def test_constant_input_is_ones():
    layer = L.ConstantInput(8)
    out = to_np(layer(_x(3, 5)))
    assert out.shape == (3, 4, 4, 8)
    np.testing.assert_array_equal(out, 1.0)


def test_invalid_layer_arguments_are_named():
    with pytest.raises(ValueError, match="kernel_size"):
        L.EqualizedConv2D(4, 5)
    with pytest.raises(ValueError, match="resample"):
        L.EqualizedConv2D(4, 3, resample="sideways")
    with pytest.raises(ValueError, match="activation"):
        L.EqualizedDense(4, activation="relu")
