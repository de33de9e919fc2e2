"""The style-based generator (official ``G_style``): mapping + synthesis, the running average of
w, truncation and style-mixing regularisation."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from networks.mapping import MappingNetwork
from networks.synthesis import SynthesisNetwork
from stylegan_tf.config import GeneratorConfig


def mixing_cutoff_from_uniform(coin, u, cur_layers, prob):
    """Official style-mixing crossover from two U(0, 1) scalars, drawn once per minibatch.

    With probability ``prob`` (``coin < prob``) the cutoff is uniform in ``1 .. cur_layers - 1``,
    otherwise ``cur_layers`` (no mixing). Layers ``< cutoff`` take the first w.
    """
    mixed = ops.cast(ops.floor(u * (cur_layers - 1)), "int32") + 1
    mixed = ops.minimum(mixed, cur_layers - 1)
    return ops.where(coin < prob, mixed, ops.cast(cur_layers, "int32"))


@keras.saving.register_keras_serializable(package="stylegan_tf")
class Generator(keras.Model):
    """StyleGAN generator; its arguments are the fields of :class:`GeneratorConfig`.

    Call arguments:
        z: latents ``[N, z_dim]``.
        c: labels ``[N, c_dim]`` (conditional networks only).
        truncation_psi: float, or a sequence of ``num_ws`` per-layer values. Applied only when
            not training, as ``w_avg + psi * (w - w_avg)`` on layers ``< truncation_cutoff``
            (a per-layer sequence is used as given on every layer). Default 1 (off).
        truncation_cutoff: layers to truncate; None uses the configured value (8).
        noise_mode, noise: see :class:`SynthesisNetwork`.
        stage, alpha: progressive-growing stage (resolution) and fade-in.
        training: in training mode w_avg is updated (beta 0.995) and style mixing applies.
        mix_z: the second latent for style mixing (default: drawn from N(0, 1)).
        mixing_cutoff: int32 scalar crossover layer (default: drawn as the official code does).

    Example:
        >>> G = Generator(img_resolution=32, z_dim=64, w_dim=64, channel_base=256,
        ...               channel_max=32, mapping_layers=2)
        >>> img = G(keras.random.normal((2, 64)))   # [2, 32, 32, 3], about [-1, 1]
    """

    def __init__(
        self,
        img_resolution=1024,
        img_channels=3,
        z_dim=512,
        w_dim=512,
        c_dim=0,
        channel_base=16384,
        channel_max=512,
        mapping_layers=8,
        mapping_fmaps=512,
        mapping_lr_multiplier=0.01,
        truncation_psi=0.7,
        truncation_cutoff=8,
        w_avg_beta=0.995,
        style_mixing_prob=0.9,
        fused_scale="auto",
        use_noise=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Validates every value (raises ValueError naming it).
        self.cfg = GeneratorConfig(
            img_resolution=img_resolution,
            img_channels=img_channels,
            z_dim=z_dim,
            w_dim=w_dim,
            c_dim=c_dim,
            channel_base=channel_base,
            channel_max=channel_max,
            mapping_layers=mapping_layers,
            mapping_fmaps=mapping_fmaps,
            mapping_lr_multiplier=mapping_lr_multiplier,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            w_avg_beta=w_avg_beta,
            style_mixing_prob=style_mixing_prob,
            fused_scale=fused_scale,
            use_noise=use_noise,
        )
        self.seed = seed
        for f in dataclasses.fields(self.cfg):
            setattr(self, f.name, getattr(self.cfg, f.name))
        self.num_ws = self.cfg.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim,
            w_dim=w_dim,
            c_dim=c_dim,
            num_ws=self.num_ws,
            num_layers=mapping_layers,
            layer_features=mapping_fmaps,
            lr_multiplier=mapping_lr_multiplier,
            name="mapping",
        )
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            fused_scale=fused_scale,
            use_noise=use_noise,
            name="synthesis",
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.build()

    @classmethod
    def from_gconfig(cls, cfg: GeneratorConfig, **kwargs):
        """Build from a :class:`GeneratorConfig`."""
        return cls(**dataclasses.asdict(cfg), **kwargs)

    def build(self, input_shape=None):
        if self.built:
            return
        self.mapping.build((None, self.z_dim))
        self.synthesis.build((None, self.num_ws, self.w_dim))
        # Running average of w (official dlatent_avg). Mean-aggregated so that replicas of a
        # distributed step agree (the mean of per-replica batch means is the global mean).
        self.w_avg = self.add_weight(
            name="w_avg",
            shape=(self.w_dim,),
            initializer="zeros",
            trainable=False,
            aggregation="mean",
        )
        self.built = True

    def truncate(self, ws, truncation_psi=1.0, truncation_cutoff=None):
        """``w_avg + psi * (ws - w_avg)`` on layers ``< cutoff`` (official truncation trick)."""
        if isinstance(truncation_psi, (int, float)) and truncation_psi == 1.0:
            return ws
        if isinstance(truncation_psi, (int, float)):
            cutoff = self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
            coefs = np.where(np.arange(self.num_ws) < cutoff, truncation_psi, 1.0)
        else:
            coefs = np.asarray(truncation_psi, dtype="float32")
            if coefs.shape != (self.num_ws,):
                raise ValueError(
                    f"per-layer truncation_psi must have {self.num_ws} values, "
                    f"got shape {coefs.shape}"
                )
        coefs = ops.cast(coefs.reshape(1, self.num_ws, 1), ws.dtype)
        avg = ops.cast(self.w_avg, ws.dtype)
        return avg + (ws - avg) * coefs

    def update_w_avg(self, ws):
        """``w_avg = lerp(mean(ws[:, 0]), w_avg, beta)`` as the official training-mode G does."""
        batch_avg = ops.mean(ops.cast(ws[:, 0], "float32"), axis=0)
        avg = ops.cast(self.w_avg, "float32")
        self.w_avg.assign(batch_avg + (avg - batch_avg) * self.w_avg_beta)

    def style_mix(self, ws, c=None, stage=None, mix_z=None, mixing_cutoff=None):
        """Style-mixing regularisation with one crossover for the whole minibatch."""
        stage = self.synthesis._check_stage(stage)
        cur_layers = self.synthesis.num_layers_at(stage)
        if mixing_cutoff is None:
            coin = keras.random.uniform((), seed=self.seed_generator)
            u = keras.random.uniform((), seed=self.seed_generator)
            mixing_cutoff = mixing_cutoff_from_uniform(coin, u, cur_layers, self.style_mixing_prob)
        if mix_z is None:
            mix_z = keras.random.normal(
                ops.shape(ws)[:1] + (self.z_dim,), dtype=ws.dtype, seed=self.seed_generator
            )
        ws2 = self.mapping(mix_z, c)
        layer_idx = ops.arange(self.num_ws)[None, :, None]
        return ops.where(layer_idx < ops.cast(mixing_cutoff, "int32"), ws, ws2)

    def call(
        self,
        z,
        c=None,
        truncation_psi=1.0,
        truncation_cutoff=None,
        noise_mode="random",
        noise=None,
        stage=None,
        alpha=1.0,
        training=False,
        mix_z=None,
        mixing_cutoff=None,
    ):
        ws = self.mapping(z, c)
        if training:
            if self.w_avg_beta is not None and self.w_avg_beta < 1.0:
                self.update_w_avg(ws)
            if self.style_mixing_prob > 0:
                ws = self.style_mix(ws, c, stage, mix_z, mixing_cutoff)
        else:
            ws = self.truncate(ws, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, stage=stage, alpha=alpha, noise_mode=noise_mode, noise=noise)

    def get_config(self):
        return {**super().get_config(), **dataclasses.asdict(self.cfg), "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return cls(**config)
