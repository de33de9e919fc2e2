"""StyleGAN building blocks as Keras 3 layers (``keras`` / ``keras.ops`` only, any backend).

Every layer reproduces the official TF1 code (``NVlabs/stylegan`` ``training/networks_stylegan.py``)
value by value; see ``docs/official-semantics.md#layers``. Tensors are channels-last: ``[N, H, W, C]``.

Weights are stored *raw*, as the official variables are, and the equalized-learning-rate scale
``gain / sqrt(fan_in) * lr_multiplier`` is applied at run time, so official weights load 1:1.
"""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np
from keras import ops

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2  # Keras' LeakyReLU default (0.3) is wrong for StyleGAN.
_PACKAGE = "stylegan_tf"


def lrelu(x):
    """Leaky ReLU with slope 0.2. The sqrt(2) gain lives in the next layer's weight scale."""
    return ops.leaky_relu(x, negative_slope=LRELU_SLOPE)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_positive(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Fixed (weightless) resampling ops.


def blur_kernel_1d(taps=(1, 2, 1)):
    """Normalised separable blur taps; the 2-D filter is their outer product (sums to 1)."""
    k = np.asarray(taps, dtype=np.float64)
    return k / k.sum()


_SEPARABLE_BLUR = [False]


@contextlib.contextmanager
def separable_blur():
    """While active, :func:`blur2d` builds the blur from shifted, weighted adds (one pass per
    axis) instead of a depthwise convolution: the same map up to float32 rounding.

    For code traced for XLA (``jit_compile``): XLA's CPU backend has no fast depthwise
    convolution (measured 40x slower than TensorFlow's kernel at 32^2 x 128), while the adds
    fuse into the neighbouring ops. The default path keeps the depthwise convolution, so its
    results are unchanged.
    """
    previous = _SEPARABLE_BLUR[0]
    _SEPARABLE_BLUR[0] = True
    try:
        yield
    finally:
        _SEPARABLE_BLUR[0] = previous


def _blur_separable(x, k1):
    r = len(k1) // 2
    x = ops.pad(x, [[0, 0], [r, r], [r, r], [0, 0]])
    h, w = x.shape[1] - 2 * r, x.shape[2] - 2 * r
    x = sum(x[:, i : i + h] * float(k) for i, k in enumerate(k1))
    return sum(x[:, :, i : i + w] * float(k) for i, k in enumerate(k1))


_CONV = [None]


@contextlib.contextmanager
def conv_implementation(fn):
    """While active, the stride-1 convolutions of :class:`EqualizedConv2D` (:func:`conv2d`)
    call ``fn(x, kernel, padding)`` instead of ``keras.ops.conv``; ``fn`` must compute the same
    map.

    For a backend-specific implementation with cheaper gradients: the TensorFlow training step
    traces its networks under ``training.conv_grad.conv2d``, whose gradients are forward
    convolutions. Inference and the other backends keep ``keras.ops.conv``.
    """
    previous = _CONV[0]
    _CONV[0] = fn
    try:
        yield
    finally:
        _CONV[0] = previous


def conv2d(x, kernel, padding="same"):
    """Stride-1 convolution, ``kernel`` ``[k, k, in, out]``, zero 'same' padding or 'valid'."""
    if _CONV[0] is not None:
        return _CONV[0](x, kernel, padding)
    return ops.conv(x, kernel, strides=1, padding=padding)


# Phase a of nearest 2x upsampling + a 3-tap filter, on the low-resolution grid: even outputs
# 2i take w0 * x[i-1] + (w1 + w2) * x[i], odd outputs 2i+1 take (w0 + w1) * x[i] + w2 * x[i+1].
# _UP_TAPS[a, t, k]: how much of the 3-tap filter's tap k goes into tap t of phase a's 2-tap filter.
_UP_TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float32)
# _DOWN_TAPS[u, k]: the official fused down kernel (3x3 padded to 5x5, its four 1-pixel shifts
# summed) has 1-D tap u = the sum of the 3-tap filter's taps k in {u - 1, u}.
_DOWN_TAPS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], np.float32)
# As [taps, 9] matrices over the flattened 3x3 kernel: phase (a, b)'s 2x2 kernel [t, u], and
# the fused down kernel / 4 with its 4x4 tap (2p + r, 2q + s) ordered [p, q, r, s].
_UP_PHASE_MAPS = [
    [np.einsum("tk,ul->tukl", _UP_TAPS[a], _UP_TAPS[b]).reshape(4, 9) for b in range(2)]
    for a in range(2)
]
_S2D_MAP = 0.25 * np.einsum(
    "prk,qsl->pqrskl", _DOWN_TAPS.reshape(2, 2, 3), _DOWN_TAPS.reshape(2, 2, 3)
).reshape(16, 9)


def _map_taps(kernel, matrix, shape):
    """``sum_{k,l} matrix[t, 3k + l] * kernel[k, l]`` for every row ``t``: a fixed linear map of a
    3x3 kernel's taps, as one matrix product (whose gradient is one matrix product too), reshaped
    to ``shape + [in, out]``."""
    c_in, c_out = kernel.shape[2], kernel.shape[3]
    taps = ops.matmul(ops.cast(matrix, kernel.dtype), ops.reshape(kernel, [9, c_in * c_out]))
    return ops.reshape(taps, [*shape, c_in, c_out])


def upscale2d_conv2d(x, kernel):
    """``conv2d(upscale2d(x), kernel)`` for a 3x3 kernel, computed on the low-resolution grid.

    Each of the four output phases ``(a, b)`` (row and column parity) is a 2x2 'valid'
    convolution of the input zero-padded on the side its taps reach (top/left for even, bottom/
    right for odd), with the kernel's taps summed per phase (``_UP_TAPS``); the phases are
    interleaved into the 2x output. The same map up to float32 summation order, with 16 instead
    of 36 multiply-adds per input pixel and channel pair.
    """
    h, w_, c_out = x.shape[1], x.shape[2], kernel.shape[-1]
    if h is None or w_ is None:  # unknown spatial size: the plain form
        return conv2d(upscale2d(x), kernel)
    rows = []
    for a in range(2):
        cols = []
        for b in range(2):
            k = _map_taps(kernel, _UP_PHASE_MAPS[a][b], [2, 2])
            xp = ops.pad(x, [[0, 0], [1 - a, a], [1 - b, b], [0, 0]])
            cols.append(conv2d(xp, k, padding="valid"))
        rows.append(ops.reshape(ops.stack(cols, axis=3), [-1, h, 2 * w_, c_out]))
    return ops.reshape(ops.stack(rows, axis=2), [-1, 2 * h, 2 * w_, c_out])


def conv2d_downscale2d(x, kernel):
    """``downscale2d(conv2d(x, kernel))`` for a 3x3 kernel, computed on the low-resolution grid.

    A 3x3 conv followed by 2x2 averaging is a stride-2 conv with a 4x4 kernel: the 3x3 kernel
    padded to 5x5, its four 1-pixel shifts summed, divided by 4 (the official fused form,
    ``_DOWN_TAPS``). That is a 2x2 'valid' conv of the zero-padded input rearranged
    space-to-depth (each 2x2 block of pixels becomes one pixel with 4x the channels, ordered row
    parity, column parity, channel). The same map up to float32 summation order, with 16 instead
    of 36 multiply-adds per output pixel and channel pair. Unknown or odd H and W take the plain
    form.
    """
    if any(d is None or d % 2 for d in x.shape[1:3]):
        return downscale2d(conv2d(x, kernel))
    h, w_, c = x.shape[1] // 2 + 1, x.shape[2] // 2 + 1, x.shape[3]
    # The kernel ordered [p, q, (r, s, in), out], to match the space-to-depth channels.
    k = ops.reshape(_map_taps(kernel, _S2D_MAP, [2, 2, 4]), [2, 2, 4 * c, kernel.shape[-1]])
    xp = ops.reshape(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), [-1, h, 2, w_, 2, c])
    xs = ops.reshape(ops.transpose(xp, [0, 1, 3, 2, 4, 5]), [-1, h, w_, 4 * c])
    return conv2d(xs, k, padding="valid")


def blur2d(x, taps=(1, 2, 1)):
    """Depthwise [1,2,1] x [1,2,1] / 16 blur with zero 'same' padding (official ``blur2d``)."""
    k1 = blur_kernel_1d(taps)
    if _SEPARABLE_BLUR[0]:
        return _blur_separable(x, k1)
    k2 = np.outer(k1, k1)[:, :, None, None].astype("float32")  # [3, 3, 1, 1]
    c = x.shape[-1]
    kernel = ops.cast(np.tile(k2, [1, 1, c, 1]), x.dtype)  # [3, 3, C, 1]
    return ops.depthwise_conv(x, kernel, strides=1, padding="same")


def upscale2d(x, factor=2):
    """Nearest-neighbour upsampling by an integer factor. [N, H, W, C] -> [N, fH, fW, C]."""
    if factor == 1:
        return x
    x = ops.repeat(x, factor, axis=1)
    return ops.repeat(x, factor, axis=2)


def downscale2d(x, factor=2):
    """Box (average) downsampling by an integer factor. [N, H, W, C] -> [N, H/f, W/f, C]."""
    if factor == 1:
        return x
    return ops.average_pool(x, pool_size=factor, strides=factor, padding="valid")


# ---------------------------------------------------------------------------------------------
# Progressive growing: which resampling conv a block uses, and the fade-in blend.

FUSED_MIN_RES = 128  # official fused_scale='auto': G's output / D's input at least 128².


def use_fused(res: int, fused_scale) -> bool:
    """Whether the official code uses the fused resampling conv for a block at ``res``."""
    if fused_scale == "auto":
        return res >= FUSED_MIN_RES
    return bool(fused_scale)


def lerp_fade(new, low, alpha):
    """Official ``lerp_clip(new, low, 1 - alpha)``: ``new + (low - new) * clip(1 - alpha)``."""
    if isinstance(alpha, (int, float)):
        t = min(max(1.0 - float(alpha), 0.0), 1.0)
        if t == 0.0:
            return new
    else:
        t = ops.clip(1.0 - ops.cast(alpha, new.dtype), 0.0, 1.0)
    return new + (low - new) * t


# ---------------------------------------------------------------------------------------------
# Equalized learning rate.


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with equalized learning rate (official ``dense`` + ``apply_bias``).

    The weight is stored raw with init N(0, 1/lr_multiplier) and scaled at run time by
    ``gain / sqrt(fan_in) * lr_multiplier``; the bias (zero init) is scaled by ``lr_multiplier``.

    Args:
        units: output features.
        gain: He gain; sqrt(2) before a leaky ReLU, 1 for linear outputs.
        lr_multiplier: learning-rate multiplier (0.01 in the mapping network).
        use_bias: add a bias.
        activation: None or "lrelu".
    """

    def __init__(
        self, units, gain=SQRT2, lr_multiplier=1.0, use_bias=True, activation=None, **kwargs
    ):
        super().__init__(**kwargs)
        _check_positive("units", units)
        _check_choice("activation", activation, (None, "lrelu"))
        self.units = int(units)
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.use_bias = bool(use_bias)
        self.activation = activation

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.weight_scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        x = ops.matmul(x, ops.cast(self.kernel, x.dtype) * self.weight_scale)
        if self.use_bias:
            x = x + ops.cast(self.bias, x.dtype) * self.lr_multiplier
        if self.activation == "lrelu":
            x = lrelu(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "gain": self.gain,
            "lr_multiplier": self.lr_multiplier,
            "use_bias": self.use_bias,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedConv2D(keras.layers.Layer):
    """k x k convolution with equalized learning rate, optionally with 2x up- or downsampling.

    ``resample``:
      * ``None``: plain 'same' convolution.
      * ``"up"``: 2x upsampling then conv (official ``upscale2d_conv2d``). With ``fused=False``
        it is nearest-neighbour upsampling followed by the 3x3 conv. With ``fused=True`` it is
        the official transposed convolution with the padded, 4-tap-summed kernel. A transposed
        convolution applies the kernel rotated by 180 degrees, so the fused map equals
        nearest-up + conv with the *flipped* kernel, not with the same kernel: the official
        networks (and their pretrained weights) use the fused form for outputs >= 128^2. Both
        are computed by :func:`upscale2d_conv2d` on the low-resolution grid.
      * ``"down"``: conv then 2x2 box downsampling (official ``conv2d_downscale2d``). The fused
        form (a strided conv with the padded, 4-tap-summed kernel / 4) is the same map; the
        official code uses it for inputs >= 128^2. Both are computed by
        :func:`conv2d_downscale2d` on the low-resolution grid.

    The kernel is stored raw as ``[k, k, in, out]`` (the official layout). A bias, if any, is
    added after the (optional) resampling and activation is applied last.

    Args:
        filters: output channels.
        kernel_size: odd kernel size (1 or 3).
        gain: He gain.
        lr_multiplier: learning-rate multiplier.
        resample: None, "up" or "down".
        fused: use the fused (transposed / strided) form of ``resample``.
        use_bias: add a bias (scaled by ``lr_multiplier``).
        activation: None or "lrelu".
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        gain=SQRT2,
        lr_multiplier=1.0,
        resample=None,
        fused=False,
        use_bias=True,
        activation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_positive("filters", filters)
        if kernel_size not in (1, 3):
            raise ValueError(f"kernel_size must be 1 or 3, got {kernel_size!r}")
        _check_choice("resample", resample, (None, "up", "down"))
        _check_choice("activation", activation, (None, "lrelu"))
        if fused and (resample is None or kernel_size != 3):
            raise ValueError(f"fused={fused!r} needs resample 'up'/'down' and a 3x3 kernel")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.resample = resample
        self.fused = bool(fused)
        self.use_bias = bool(use_bias)
        self.activation = activation

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        fan_in = self.kernel_size * self.kernel_size * in_channels
        self.weight_scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def scaled_kernel(self, dtype="float32"):
        """The effective kernel ``raw * gain / sqrt(fan_in) * lr_multiplier``, [k, k, in, out]."""
        return ops.cast(self.kernel, dtype) * self.weight_scale

    def call(self, x):
        w = self.scaled_kernel(x.dtype)
        if self.resample == "up" and self.kernel_size == 3:
            # The fused (transposed) form applies the kernel rotated by 180 degrees.
            x = upscale2d_conv2d(x, ops.flip(w, axis=(0, 1)) if self.fused else w)
        elif self.resample == "up":
            x = conv2d(upscale2d(x), w)
        elif self.resample == "down" and self.kernel_size == 3:
            x = conv2d_downscale2d(x, w)  # the fused form is the same map
        elif self.resample == "down":
            x = downscale2d(conv2d(x, w))
        else:
            x = conv2d(x, w)
        if self.use_bias:
            x = x + ops.cast(self.bias, x.dtype) * self.lr_multiplier
        if self.activation == "lrelu":
            x = lrelu(x)
        return x

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        if self.resample == "up":
            h, w = (None if h is None else 2 * h), (None if w is None else 2 * w)
        elif self.resample == "down":
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (n, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "gain": self.gain,
            "lr_multiplier": self.lr_multiplier,
            "resample": self.resample,
            "fused": self.fused,
            "use_bias": self.use_bias,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Bias(keras.layers.Layer):
    """Per-channel bias (zero init) scaled by ``lr_multiplier``, optionally followed by lrelu.

    The generator adds its conv bias after the noise, as the official layer epilogue does.
    """

    def __init__(self, lr_multiplier=1.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        _check_choice("activation", activation, (None, "lrelu"))
        self.lr_multiplier = float(lr_multiplier)
        self.activation = activation

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[-1]),), initializer="zeros")

    def call(self, x):
        x = x + ops.cast(self.bias, x.dtype) * self.lr_multiplier
        return lrelu(x) if self.activation == "lrelu" else x

    def get_config(self):
        return {
            **super().get_config(),
            "lr_multiplier": self.lr_multiplier,
            "activation": self.activation,
        }


# ---------------------------------------------------------------------------------------------
# Normalisation.


def pixel_norm(x, epsilon=1e-8, axis=-1):
    """``x / sqrt(mean(x^2, axis) + eps)`` (official ``pixel_norm``)."""
    return x * ops.rsqrt(ops.mean(ops.square(x), axis=axis, keepdims=True) + epsilon)


def spatial_mean(x):
    """Mean of ``[N, H, W, ...]`` over H and W (kept as size-1 axes), accurate in float32.

    Reduced in two stages, over W then over H, rather than over both axes at once: a single
    reduction over H x W of a channels-last tensor accumulates strided values, and on the
    TensorFlow CPU backend its relative error grows to ~1e-4 at 1024² (a million values), while
    the staged mean keeps it at float32 rounding level (~1e-7; the official NCHW mean reduces
    contiguous axes). Measured in tests/test_numerics_full_size.py.
    """
    return ops.mean(ops.mean(x, axis=2, keepdims=True), axis=1, keepdims=True)


def _centred_and_inverse_std(x, epsilon):
    """``x - mean`` and ``1 / sqrt(mean((x - mean)^2) + eps)`` over H, W, in float32 (two-pass,
    both means with :func:`spatial_mean`)."""
    x = ops.cast(x, "float32")
    x = x - spatial_mean(x)
    return x, ops.rsqrt(spatial_mean(ops.square(x)) + epsilon)


def instance_norm(x, epsilon=1e-8):
    """Instance normalisation over H, W without learnable affine, in float32 (official)."""
    centred, inv_std = _centred_and_inverse_std(x, epsilon)
    return ops.cast(centred * inv_std, x.dtype)


def instance_norm_modulate(x, scale, shift, epsilon=1e-8):
    """``instance_norm(x) * scale + shift`` with ``scale``, ``shift`` ``[N, 1, 1, C]``.

    Computed as ``(x - mean) * (inv_std * scale) + shift``: the per-sample, per-channel factors
    are multiplied first, so one full-size product (and its gradient) is saved. The same map up
    to float32 rounding; the normalisation runs in float32, the result has ``x``'s dtype.
    """
    centred, inv_std = _centred_and_inverse_std(x, epsilon)
    factor = inv_std * ops.cast(scale, "float32")
    return ops.cast(centred * factor + ops.cast(shift, "float32"), x.dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PixelNorm(keras.layers.Layer):
    """Layer form of :func:`pixel_norm` over the last axis."""

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return pixel_norm(x, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


# ---------------------------------------------------------------------------------------------
# Style-based generator pieces.


NOISE_MODES = ("random", "const", "none")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NoiseInjection(keras.layers.Layer):
    """Adds per-pixel Gaussian noise scaled by a learned per-channel weight (official ``apply_noise``).

    The weight ``[C]`` is zero-initialised and has no equalized-LR scale. The layer also holds a
    non-trainable stored noise map ``[1, H, W, 1]`` ~ N(0, 1) (official ``noise0..17``) used for
    deterministic output (``noise_mode="const"``).

    Call with ``noise_mode`` "random" (fresh N(0,1) per call, drawn from ``seed_generator``),
    "const" (the stored map) or "none", or pass an explicit ``noise`` tensor ``[N, H, W, 1]``.
    """

    def __init__(self, resolution, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_positive("resolution", resolution)
        self.resolution = int(resolution)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.weight = self.add_weight(
            name="weight", shape=(int(input_shape[-1]),), initializer="zeros"
        )
        self.noise_const = self.add_weight(
            name="noise_const",
            shape=(1, self.resolution, self.resolution, 1),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
        )

    def call(self, x, noise=None, noise_mode="random"):
        if noise is None:
            _check_choice("noise_mode", noise_mode, NOISE_MODES)
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = ops.cast(self.noise_const, x.dtype)
            else:
                shape = (ops.shape(x)[0], self.resolution, self.resolution, 1)
                noise = keras.random.normal(shape, dtype=x.dtype, seed=self.seed_generator)
        return x + ops.cast(noise, x.dtype) * ops.cast(self.weight, x.dtype)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StyleModulation(keras.layers.Layer):
    """AdaIN style modulation: ``x * (s + 1) + b`` with ``[s, b] = dense(w, 2C, gain=1)``.

    The ``+ 1`` makes the scale start at 1 although the bias starts at 0 (official ``style_mod``).
    The dense weight is ``[w_dim, 2C]``, first ``C`` columns the scale, last ``C`` the shift.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        _check_positive("channels", channels)
        self.channels = int(channels)
        self.dense = EqualizedDense(2 * self.channels, gain=1.0, name="dense")

    def build(self, x_shape, w_shape=None):
        if w_shape is None:
            raise ValueError("StyleModulation.build needs the w shape")
        self.dense.build(w_shape)

    def scale_and_shift(self, w, dtype="float32"):
        """``(s + 1, b)``, each ``[N, 1, 1, C]``."""
        style = ops.cast(self.dense(w), dtype)  # [N, 2C]
        return style[:, None, None, : self.channels] + 1.0, style[:, None, None, self.channels :]

    def call(self, x, w):
        scale, shift = self.scale_and_shift(w, x.dtype)
        return x * scale + shift

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantInput(keras.layers.Layer):
    """Learned constant 4x4 input, initialised to ones (official ``4x4/Const/const``)."""

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        _check_positive("channels", channels)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape=None):
        self.const = self.add_weight(
            name="const", shape=(1, self.size, self.size, self.channels), initializer="ones"
        )

    def call(self, batch_like):
        n = ops.shape(batch_like)[0]
        c = ops.cast(self.const, batch_like.dtype)
        return ops.broadcast_to(c, (n, self.size, self.size, self.channels))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}


# ---------------------------------------------------------------------------------------------
# Discriminator pieces.


def minibatch_stddev(x, group_size=4, num_features=1, epsilon=1e-8):
    """Append the per-group feature stddev as extra maps (official ``minibatch_stddev_layer``).

    Sample ``i`` belongs to group ``i % (N / G)``, as in the official reshape ``[G, M, ...]``.
    The minibatch must be divisible by ``min(group_size, N)``.

    [N, H, W, C] -> [N, H, W, C + num_features]
    """
    n = x.shape[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if n is not None:
        g = min(group_size, n)
        if n % g:
            raise ValueError(f"minibatch size {n} is not divisible by the mbstd group size {g}")
    else:
        g = ops.minimum(group_size, ops.shape(x)[0])
    f = num_features
    y = ops.reshape(x, (g, -1, h, w, f, c // f))  # [G, M, H, W, F, c]
    y = ops.cast(y, "float32")
    y = y - ops.mean(y, axis=0, keepdims=True)
    y = ops.mean(ops.square(y), axis=0)  # [M, H, W, F, c]
    y = ops.sqrt(y + epsilon)
    y = ops.mean(y, axis=4)  # [M, H, W, F]: over the contiguous channel axis first,
    y = spatial_mean(y)[:, 0, 0]  # [M, F]: then over W and H (see spatial_mean)
    y = ops.cast(y, x.dtype)
    y = ops.tile(y[:, None, None, :], (g, h, w, 1))  # [N, H, W, F]
    return ops.concatenate([x, y], axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchStddev(keras.layers.Layer):
    """Layer form of :func:`minibatch_stddev` (group 4, 1 feature, eps 1e-8)."""

    def __init__(self, group_size=4, num_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_features = int(num_features)

    def call(self, x):
        if self.group_size <= 1:
            return x
        return minibatch_stddev(x, self.group_size, self.num_features)

    def compute_output_shape(self, input_shape):
        extra = self.num_features if self.group_size > 1 else 0
        return tuple(input_shape[:-1]) + (input_shape[-1] + extra,)

    def get_config(self):
        return {
            **super().get_config(),
            "group_size": self.group_size,
            "num_features": self.num_features,
        }
