"""Shared test helpers: independent numpy re-derivations of the official ops, the layer
serialization test, ``.keras`` save-and-reload and weight randomisation.

The numpy functions here are written from the official TF1 semantics
(docs/official-semantics.md#layers), not from our Keras layers, so that a test comparing the two
can fail.
"""

from __future__ import annotations

import inspect
import json
import os

import numpy as np

# --------------------------------------------------------------------------------------------
# numpy reference ops (NHWC, float64)


def np_lrelu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def np_conv_same(x, w):
    """Stride-1 'same' cross-correlation. x [N,H,W,Cin], w [k,k,Cin,Cout] (odd k)."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, w.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("nhwc,cd->nhwd", xp[:, dy : dy + h, dx : dx + wd], w[dy, dx])
    return out


def np_upscale(x, f=2):
    return x.repeat(f, axis=1).repeat(f, axis=2)


def np_downscale(x, f=2):
    n, h, w, c = x.shape
    return x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))


def np_blur(x):
    k = np.array([1.0, 2.0, 1.0])
    k2 = np.outer(k, k) / 16.0
    c = x.shape[-1]
    w = np.zeros((3, 3, c, c))
    for i in range(c):
        w[:, :, i, i] = k2
    return np_conv_same(x, w)


def np_pixel_norm(x, eps=1e-8):
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps)


def np_instance_norm(x, eps=1e-8):
    x = x - x.mean(axis=(1, 2), keepdims=True)
    return x / np.sqrt(np.mean(x**2, axis=(1, 2), keepdims=True) + eps)


def np_minibatch_stddev(x, group_size=4, eps=1e-8):
    """Official semantics: group g of sample i is i % M, M = N / G; one feature."""
    n, h, w, c = x.shape
    g = min(group_size, n)
    m = n // g
    out = np.zeros((n, h, w, 1))
    for j in range(m):
        members = x[j::m]  # samples j, j+M, j+2M, ...
        sd = np.sqrt(members.var(axis=0) + eps)  # biased variance, over the group
        out[j::m] = sd.mean()
    return np.concatenate([x, out], axis=-1)


def np_dense(x, w, b, gain=np.sqrt(2), lrmul=1.0):
    return x @ (w * gain / np.sqrt(w.shape[0]) * lrmul) + b * lrmul


def he_scale(w, gain=np.sqrt(2), lrmul=1.0):
    return w * gain / np.sqrt(np.prod(w.shape[:-1])) * lrmul


# --------------------------------------------------------------------------------------------
# models


TINY_G = dict(
    img_resolution=16,
    img_channels=3,
    z_dim=32,
    w_dim=32,
    channel_base=256,
    channel_max=32,
    mapping_layers=2,
    mapping_fmaps=32,
)
TINY_D = dict(img_resolution=16, img_channels=3, channel_base=256, channel_max=32)


def randomize_weights(model, seed=0, scale=0.5):
    """Give every variable (zero-initialised noise weights and biases too) random values, so a
    test exercises every path."""
    rng = np.random.RandomState(seed)
    for v in model.weights:
        v.assign((rng.randn(*v.shape) * scale).astype(v.dtype))
    return model


def to_np(x):
    return np.asarray(x, dtype=np.float64)


def keras_roundtrip(model, tmp_path, name="model.keras"):
    """Config round trip and ``.keras`` save-and-reload; returns (from_config copy, reloaded)."""
    import keras

    clone = type(model).from_config(model.get_config())
    path = os.path.join(str(tmp_path), name)
    model.save(path)
    reloaded = keras.saving.load_model(path)
    return clone, reloaded


# --------------------------------------------------------------------------------------------
# Serialization (after keras-hub's ``TestCase.run_serialization_test``)


def _same(a, b) -> bool:
    """Equality of config values up to what JSON does to them (tuples become lists)."""
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(
        b, sort_keys=True, default=repr
    )


def constructor_arguments(cls) -> dict:
    """``{name: inspect.Parameter}`` of ``cls.__init__``, without ``self``/``*args``/``**kwargs``."""
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(cls.__init__).parameters
    return {k: p for k, p in params.items() if k != "self" and p.kind not in skip}


def run_serialization_test(cls, init_kwargs: dict, defaults_ok=()):
    """Check that ``cls(**init_kwargs)`` is fully described by its ``get_config()``.

    * ``init_kwargs`` must name every constructor argument with a value that differs from its
      default (except those in ``defaults_ok``, where other arguments rule that out), so that a
      value ``get_config`` forgets or hard-codes cannot pass by matching the default;
    * every constructor argument appears in ``get_config()`` under its own name, with the value
      given;
    * ``keras.saving.serialize_keras_object`` -> JSON -> ``deserialize_keras_object`` gives an
      object of the same class whose constructor arguments are again the ones given, and which
      serializes to the same JSON.

    Returns the revived object.
    """
    import keras

    params = constructor_arguments(cls)
    missing = sorted(set(params) - set(init_kwargs))
    assert not missing, f"{cls.__name__}: the test gives no value for {missing}"
    unknown = sorted(set(init_kwargs) - set(params))
    assert not unknown, f"{cls.__name__}: {unknown} are not constructor arguments"
    defaults = [
        k
        for k, p in params.items()
        if k not in defaults_ok and p.default is not p.empty and _same(init_kwargs[k], p.default)
    ]
    assert not defaults, f"{cls.__name__}: give non-default values for {defaults}"

    obj = cls(**init_kwargs)
    config = obj.get_config()
    for name, value in init_kwargs.items():
        assert name in config, f"{cls.__name__}.get_config() lacks constructor argument {name!r}"
        assert _same(config[name], value), (
            f"{cls.__name__}.get_config()[{name!r}] is {config[name]!r}, constructed with {value!r}"
        )

    text = json.dumps(keras.saving.serialize_keras_object(obj), sort_keys=True)
    revived = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(revived) is cls, f"{cls.__name__} revived as {type(revived).__name__}"
    revived_config = revived.get_config()
    for name, value in init_kwargs.items():
        assert _same(revived_config.get(name), value), (
            f"{cls.__name__}: {name!r} is {revived_config.get(name)!r} after the round trip, "
            f"constructed with {value!r}"
        )
    assert json.dumps(keras.saving.serialize_keras_object(revived), sort_keys=True) == text
    return revived
