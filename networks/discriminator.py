"""The progressive discriminator (official ``D_basic``)."""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import ops

from networks.layers import (
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStddev,
    blur2d,
    downscale2d,
    lerp_fade,
    use_fused,
)
from stylegan_tf.config import DiscriminatorConfig
from stylegan_tf.config import channels as channels_fn


@keras.saving.register_keras_serializable(package="stylegan_tf")
class DiscriminatorBlock(keras.layers.Layer):
    """``Conv0`` 3x3 -> lrelu -> blur -> ``Conv1_down`` (3x3 + 2x down) -> lrelu."""

    def __init__(self, in_channels, out_channels, fused=False, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.fused = bool(fused)
        self.conv0 = EqualizedConv2D(self.in_channels, 3, activation="lrelu", name="conv0")
        self.conv1 = EqualizedConv2D(
            self.out_channels,
            3,
            resample="down",
            fused=self.fused,
            activation="lrelu",
            name="conv1_down",
        )

    def build(self, input_shape):
        self.conv0.build(input_shape)
        self.conv1.build(input_shape)

    def call(self, x):
        return self.conv1(blur2d(self.conv0(x)))

    def get_config(self):
        return {
            **super().get_config(),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "fused": self.fused,
        }


@keras.saving.register_keras_serializable(package="stylegan_tf")
class Discriminator(keras.Model):
    """StyleGAN discriminator; its arguments are the fields of :class:`DiscriminatorConfig`.

    Call arguments:
        img: images ``[N, stage, stage, C]`` in [-1, 1].
        c: labels ``[N, c_dim]``; the score is ``sum(out * c)`` (official ``LabelSwitch``).
        stage: resolution of ``img`` (default: ``img_resolution``).
        alpha: fade-in of ``stage``; 0 scores the 2x box-downsampled image with the previous
            resolution's fromRGB only.

    Returns scores ``[N, 1]``.
    """

    def __init__(
        self,
        img_resolution=1024,
        img_channels=3,
        c_dim=0,
        channel_base=16384,
        channel_max=512,
        mbstd_group_size=4,
        mbstd_num_features=1,
        fused_scale="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cfg = DiscriminatorConfig(
            img_resolution=img_resolution,
            img_channels=img_channels,
            c_dim=c_dim,
            channel_base=channel_base,
            channel_max=channel_max,
            mbstd_group_size=mbstd_group_size,
            mbstd_num_features=mbstd_num_features,
            fused_scale=fused_scale,
        )
        for f in dataclasses.fields(self.cfg):
            setattr(self, f.name, getattr(self.cfg, f.name))
        self.resolution_log2 = int(math.log2(img_resolution))
        self.resolutions = [2**r for r in range(2, self.resolution_log2 + 1)]
        self.fromrgb_layers = [
            EqualizedConv2D(self.channels(res), 1, activation="lrelu", name=f"fromrgb{res}")
            for res in self.resolutions
        ]
        self.blocks = [
            DiscriminatorBlock(
                self.channels(res),
                self.channels(res // 2),
                fused=use_fused(res, fused_scale),
                name=f"b{res}",
            )
            for res in self.resolutions[1:]
        ]
        self.mbstd = MinibatchStddev(mbstd_group_size, mbstd_num_features, name="mbstd")
        self.conv = EqualizedConv2D(self.channels(4), 3, activation="lrelu", name="b4_conv")
        self.dense0 = EqualizedDense(self.channels(2), activation="lrelu", name="b4_dense0")
        self.dense1 = EqualizedDense(max(c_dim, 1), gain=1.0, name="b4_dense1")
        self.build()

    @classmethod
    def from_dconfig(cls, cfg: DiscriminatorConfig, **kwargs):
        """Build from a :class:`DiscriminatorConfig`."""
        return cls(**dataclasses.asdict(cfg), **kwargs)

    def channels(self, res):
        """Feature maps at resolution ``res`` (``res`` 2 is the official ``nf(0)``)."""
        return channels_fn(res, self.channel_base, self.channel_max)

    def fromrgb(self, res):
        return self.fromrgb_layers[int(math.log2(res)) - 2]

    def block(self, res):
        return self.blocks[int(math.log2(res)) - 3]

    def build(self, input_shape=None):
        if self.built:
            return
        for res in self.resolutions:
            self.fromrgb(res).build((None, res, res, self.img_channels))
            if res > 4:
                self.block(res).build((None, res, res, self.channels(res)))
        c4 = self.channels(4)
        extra = self.mbstd_num_features if self.mbstd_group_size > 1 else 0
        self.conv.build((None, 4, 4, c4 + extra))
        self.dense0.build((None, 16 * c4))
        self.dense1.build((None, self.channels(2)))
        self.built = True

    def call(self, img, c=None, stage=None, alpha=1.0):
        stage = self.img_resolution if stage is None else stage
        if stage not in self.resolutions:
            raise ValueError(f"stage must be one of {self.resolutions}, got {stage!r}")
        if img.shape[1] is not None and tuple(img.shape[1:]) != (stage, stage, self.img_channels):
            raise ValueError(
                f"images must be [N, {stage}, {stage}, {self.img_channels}] at "
                f"stage {stage}, got {tuple(img.shape)}"
            )
        x = self.fromrgb(stage)(img)
        fading = not (isinstance(alpha, (int, float)) and alpha >= 1.0)
        res = stage
        while res > 4:
            x = self.block(res)(x)
            if res == stage and fading:
                low = self.fromrgb(res // 2)(downscale2d(img))
                x = lerp_fade(x, low, alpha)
            res //= 2
        x = self.mbstd(x)
        x = self.conv(x)
        # Flatten in the official NCHW order so that Dense0 weights load 1:1.
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, 16 * self.channels(4)))
        x = self.dense0(x)
        x = self.dense1(x)
        if self.c_dim:
            if c is None:
                raise ValueError(f"this network is conditional (c_dim={self.c_dim}): pass labels c")
            x = ops.sum(x * ops.cast(c, x.dtype), axis=1, keepdims=True)
        return x

    def get_config(self):
        return {**super().get_config(), **dataclasses.asdict(self.cfg)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return cls(**config)
