"""Mapping network: z (+ label embedding) -> pixel norm -> 8 x dense(512, lrelu) -> w."""

from __future__ import annotations

import keras
from keras import ops

from networks.layers import EqualizedDense, _check_positive, pixel_norm


@keras.saving.register_keras_serializable(package="stylegan_tf")
class MappingNetwork(keras.layers.Layer):
    """The official ``G_mapping``: normalises z, runs an MLP with ``lr_multiplier`` 0.01 and
    broadcasts the result to ``num_ws`` copies.

    Args:
        z_dim: latent size.
        w_dim: output (dlatent) size.
        c_dim: label size (0: unconditional). Labels are embedded with a ``[c_dim, z_dim]``
            N(0, 1) matrix (no equalized LR) and concatenated to z before the pixel norm, as the
            official ``LabelConcat`` does.
        num_ws: copies of w to output (``2 * log2(res) - 2``).
        num_layers: dense layers (8).
        layer_features: width of the hidden layers (512).
        lr_multiplier: learning-rate multiplier of weights and biases (0.01).
        normalize_latents: pixel-normalise the (label-concatenated) input.

    Example:
        >>> m = MappingNetwork(z_dim=512, w_dim=512, num_ws=18)
        >>> ws = m(keras.random.normal((4, 512)))   # [4, 18, 512]
    """

    def __init__(
        self,
        z_dim=512,
        w_dim=512,
        c_dim=0,
        num_ws=18,
        num_layers=8,
        layer_features=512,
        lr_multiplier=0.01,
        normalize_latents=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("z_dim", z_dim),
            ("w_dim", w_dim),
            ("num_ws", num_ws),
            ("num_layers", num_layers),
            ("layer_features", layer_features),
        ):
            _check_positive(name, value)
        if not isinstance(c_dim, int) or c_dim < 0:
            raise ValueError(f"c_dim must be an integer >= 0, got {c_dim!r}")
        self.z_dim = int(z_dim)
        self.w_dim = int(w_dim)
        self.c_dim = int(c_dim)
        self.num_ws = int(num_ws)
        self.num_layers = int(num_layers)
        self.layer_features = int(layer_features)
        self.lr_multiplier = float(lr_multiplier)
        self.normalize_latents = bool(normalize_latents)
        self.dense_layers = [
            EqualizedDense(
                self.w_dim if i == self.num_layers - 1 else self.layer_features,
                lr_multiplier=self.lr_multiplier,
                activation="lrelu",
                name=f"dense{i}",
            )
            for i in range(self.num_layers)
        ]

    def build(self, z_shape=None, c_shape=None):
        if self.c_dim:
            self.embed = self.add_weight(
                name="embed",
                shape=(self.c_dim, self.z_dim),
                initializer=keras.initializers.RandomNormal(stddev=1.0),
            )
        features = self.z_dim * (2 if self.c_dim else 1)
        for layer in self.dense_layers:
            layer.build((None, features))
            features = layer.units

    def call(self, z, c=None):
        if len(z.shape) != 2 or (z.shape[-1] is not None and z.shape[-1] != self.z_dim):
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        x = z
        if self.c_dim:
            if c is None:
                raise ValueError(f"this network is conditional (c_dim={self.c_dim}): pass labels c")
            y = ops.matmul(ops.cast(c, x.dtype), ops.cast(self.embed, x.dtype))  # [N, z_dim]
            x = ops.concatenate([x, y], axis=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        for layer in self.dense_layers:
            x = layer(x)
        return ops.repeat(x[:, None, :], self.num_ws, axis=1)  # [N, num_ws, w_dim]

    def compute_output_shape(self, z_shape, c_shape=None):
        return (z_shape[0], self.num_ws, self.w_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "z_dim": self.z_dim,
            "w_dim": self.w_dim,
            "c_dim": self.c_dim,
            "num_ws": self.num_ws,
            "num_layers": self.num_layers,
            "layer_features": self.layer_features,
            "lr_multiplier": self.lr_multiplier,
            "normalize_latents": self.normalize_latents,
        }
