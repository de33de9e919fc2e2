"""Synthesis network: learned 4x4 constant -> two style-modulated layers per resolution -> RGB.

Progressive growing follows the official ``'linear'`` structure: every block and every toRGB
exists from the start (the variable set never changes), and a stage is chosen per call:
``stage`` (a Python int, the resolution being trained) and ``alpha`` (fade-in of that
resolution, a float or a scalar tensor/variable). The output is at the stage's resolution; the
official network upsamples it to full resolution with nearest neighbour, which is the same image
(see ``docs/official-semantics.md#progressive-growing``).
"""

from __future__ import annotations

import math

import keras

from networks.layers import (
    Bias,
    ConstantInput,
    EqualizedConv2D,
    NoiseInjection,
    StyleModulation,
    _check_positive,
    blur2d,
    instance_norm_modulate,
    lerp_fade,
    upscale2d,
    use_fused,
)
from stylegan_tf.config import channels as channels_fn
from stylegan_tf.config import is_power_of_two


@keras.saving.register_keras_serializable(package="stylegan_tf")
class SynthesisLayer(keras.layers.Layer):
    """One synthesis layer: [const | conv | up-conv + blur] -> noise -> bias -> lrelu ->
    instance norm -> style modulation (official ``layer_epilogue`` order).

    Args:
        channels: output channels.
        resolution: output resolution.
        kind: "const" (the 4x4 learned input), "conv" (3x3) or "up" (2x up-conv then blur).
        fused: fused transposed up-conv (only for kind "up").
        use_noise: noise injection.
    """

    def __init__(self, channels, resolution, kind="conv", fused=False, use_noise=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive("channels", channels)
        _check_positive("resolution", resolution)
        if kind not in ("const", "conv", "up"):
            raise ValueError(f"kind must be 'const', 'conv' or 'up', got {kind!r}")
        self.channels = int(channels)
        self.resolution = int(resolution)
        self.kind = kind
        self.fused = bool(fused)
        self.use_noise = bool(use_noise)
        if kind == "const":
            self.const = ConstantInput(self.channels, size=resolution, name="const")
        else:
            self.conv = EqualizedConv2D(
                self.channels,
                3,
                resample="up" if kind == "up" else None,
                fused=self.fused and kind == "up",
                use_bias=False,
                name="conv",
            )
        if self.use_noise:
            self.noise = NoiseInjection(self.resolution, name="noise")
        self.bias = Bias(activation="lrelu", name="bias")
        self.style = StyleModulation(self.channels, name="style")

    def build(self, x_shape, w_shape):
        shape = (None, self.resolution, self.resolution, self.channels)
        if self.kind == "const":
            self.const.build()
        else:
            self.conv.build(x_shape)
        if self.use_noise:
            self.noise.build(shape)
        self.bias.build(shape)
        self.style.build(shape, w_shape)

    def call(self, x, w, noise=None, noise_mode="random"):
        if self.kind == "const":
            x = self.const(w)
        else:
            x = self.conv(x)
            if self.kind == "up":
                x = blur2d(x)
        if self.use_noise:
            x = self.noise(x, noise=noise, noise_mode=noise_mode)
        x = self.bias(x)
        # instance norm then style modulation, in one pass over x (instance_norm_modulate)
        return instance_norm_modulate(x, *self.style.scale_and_shift(w))

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "resolution": self.resolution,
            "kind": self.kind,
            "fused": self.fused,
            "use_noise": self.use_noise,
        }


@keras.saving.register_keras_serializable(package="stylegan_tf")
class SynthesisNetwork(keras.layers.Layer):
    """The official ``G_synthesis``: ws ``[N, num_ws, w_dim]`` -> images ``[N, R, R, C]``.

    Args:
        w_dim: dlatent size.
        img_resolution: final resolution (power of two >= 4).
        img_channels: output channels.
        channel_base, channel_max: ``channels(res) = min(channel_base // res, channel_max)``.
        fused_scale: 'auto' (fused up-conv for outputs >= 128, official), True or False.
        use_noise: per-layer noise inputs.

    Call arguments:
        ws: ``[N, num_ws, w_dim]`` (only the first ``2 * log2(stage) - 2`` are used).
        stage: resolution to synthesise (default: ``img_resolution``).
        alpha: fade-in of ``stage`` in [0, 1]; 0 = the previous resolution upsampled.
        noise_mode: "random", "const" (stored buffers) or "none".
        noise: optional list of explicit noise tensors ``[N, r, r, 1]``, one per layer.
    """

    def __init__(
        self,
        w_dim=512,
        img_resolution=1024,
        img_channels=3,
        channel_base=16384,
        channel_max=512,
        fused_scale="auto",
        use_noise=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not is_power_of_two(img_resolution) or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution!r}")
        if fused_scale not in ("auto", True, False):
            raise ValueError(f"fused_scale must be 'auto', True or False, got {fused_scale!r}")
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.channel_base = int(channel_base)
        self.channel_max = int(channel_max)
        self.fused_scale = fused_scale
        self.use_noise = bool(use_noise)
        self.resolution_log2 = int(math.log2(self.img_resolution))
        self.num_ws = 2 * self.resolution_log2 - 2
        self.resolutions = [2**r for r in range(2, self.resolution_log2 + 1)]

        self.layers_ = []  # flat list, index = w index
        self.torgb_layers = []  # index = log2(res) - 2
        for res in self.resolutions:
            ch = self.channels(res)
            if res == 4:
                first = SynthesisLayer(ch, 4, kind="const", use_noise=use_noise, name="b4_const")
                second = SynthesisLayer(ch, 4, kind="conv", use_noise=use_noise, name="b4_conv")
            else:
                first = SynthesisLayer(
                    ch,
                    res,
                    kind="up",
                    fused=use_fused(res, fused_scale),
                    use_noise=use_noise,
                    name=f"b{res}_conv0_up",
                )
                second = SynthesisLayer(
                    ch, res, kind="conv", use_noise=use_noise, name=f"b{res}_conv1"
                )
            self.layers_ += [first, second]
            self.torgb_layers.append(
                EqualizedConv2D(self.img_channels, 1, gain=1.0, name=f"torgb{res}")
            )

    def torgb(self, res):
        """The toRGB layer of resolution ``res`` (1x1 conv, gain 1, linear)."""
        return self.torgb_layers[int(math.log2(res)) - 2]

    def channels(self, res):
        """Feature maps at resolution ``res``."""
        return channels_fn(res, self.channel_base, self.channel_max)

    def num_layers_at(self, stage):
        """Number of synthesis layers (and ws) used up to resolution ``stage``."""
        return 2 * int(math.log2(stage)) - 2

    def noise_shapes(self, batch_size, stage=None):
        """Shapes of explicit noise inputs for ``stage``: ``[(N, r, r, 1), ...]``."""
        stage = self._check_stage(stage)
        return [
            (batch_size, layer.resolution, layer.resolution, 1)
            for layer in self.layers_[: self.num_layers_at(stage)]
        ]

    def _check_stage(self, stage):
        stage = self.img_resolution if stage is None else stage
        if stage not in self.resolutions:
            raise ValueError(f"stage must be one of {self.resolutions}, got {stage!r}")
        return stage

    def build(self, ws_shape=None):
        w_shape = (None, self.w_dim)
        prev = None
        for layer in self.layers_:
            layer.build((None, layer.resolution // 2, layer.resolution // 2, prev), w_shape)
            prev = layer.channels
        for res in self.resolutions:
            self.torgb(res).build((None, res, res, self.channels(res)))

    def call(self, ws, stage=None, alpha=1.0, noise_mode="random", noise=None):
        stage = self._check_stage(stage)
        n_layers = self.num_layers_at(stage)
        if noise is not None and len(noise) < n_layers:
            raise ValueError(
                f"noise must list {n_layers} tensors for stage {stage}, got {len(noise)}"
            )
        x = None
        x_prev = None
        for i, layer in enumerate(self.layers_[:n_layers]):
            if i == n_layers - 2:
                x_prev = x
            x = layer(x, ws[:, i], noise=None if noise is None else noise[i], noise_mode=noise_mode)
        img = self.torgb(stage)(x)
        fading = not (isinstance(alpha, (int, float)) and alpha >= 1.0)
        if stage > 4 and fading:
            low = upscale2d(self.torgb(stage // 2)(x_prev))
            img = lerp_fade(img, low, alpha)
        return img

    def get_config(self):
        return {
            **super().get_config(),
            "w_dim": self.w_dim,
            "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
            "channel_base": self.channel_base,
            "channel_max": self.channel_max,
            "fused_scale": self.fused_scale,
            "use_noise": self.use_noise,
        }
