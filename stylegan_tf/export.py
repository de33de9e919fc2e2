"""Export the averaged generator as an inference-only TensorFlow SavedModel (and TFLite).

The SavedModel is a ``tf.Module`` holding only the variables the serving functions read; its
``tf.function``\\ s call the Keras generator's mapping and synthesis networks at full resolution
(no growing logic). The running average of w is baked in as a constant and the graphs contain
no variable assignment (no ``Assign*`` op): noise is either the stored buffers or drawn with
stateless random ops from an explicit seed. Signatures (``N`` is dynamic):

* ``serving_default``: ``z`` float32 ``[N, z_dim]``, ``labels`` float32 ``[N, c_dim]`` (only
  if ``c_dim > 0``), ``truncation_psi`` float32 ``[]`` -> ``images`` uint8 ``[N, H, W, C]``
  (stored noise).
* ``mapping``: ``z`` (+ ``labels``), ``truncation_psi`` -> ``ws`` float32 ``[N, num_ws, w_dim]``
  (truncation ``w_avg + psi * (w - w_avg)`` on layers ``< truncation_cutoff``; psi 1 = none).
* ``synthesis``: ``ws`` float32 ``[N, num_ws, w_dim]``, ``noise_seed`` int64 ``[]`` ->
  ``images``. ``noise_seed >= 0`` draws layer ``i``'s noise with
  ``tf.random.stateless_normal([N, r, r, 1], seed=[noise_seed, i])``; ``noise_seed < 0`` uses
  the stored buffers.
* ``generate_from_seed``: ``seeds`` int64 ``[N]`` (+ ``labels``), ``truncation_psi`` ->
  ``images`` (stored noise). The latent of seed ``s`` is exactly
  ``np.random.RandomState(s).randn(z_dim)`` computed with TF ops (:func:`z_from_seeds`), the
  official convention, so seed 5 gives the same image as ``stylegan_tf.generate --seeds 5``.

uint8 conversion is the official ``convert_images_to_uint8``: ``x * 127.5 + 128`` then a
saturating cast. ``stylegan_export.json`` next to ``saved_model.pb`` records the generator
configuration and the signatures.

Command line::

    python -m stylegan_tf.export --network snapshot.keras --out exported/ [--tflite g.tflite]
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


if __name__ == "__main__":  # --help and usage errors answer before TensorFlow loads
    from stylegan_tf.export_cli import main

    sys.exit(main())

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from stylegan_tf.files import atomic_directory, atomic_write  # noqa: E402
from stylegan_tf.images import to_uint8_tf  # noqa: E402

SIGNATURES = ("serving_default", "mapping", "synthesis", "generate_from_seed")
INFO_FILE = "stylegan_export.json"


# MT19937 as numpy's legacy ``RandomState`` uses it, on int64 tensors holding uint32 values:
# int64 holds every product 1812433253 * uint32 exactly, and tf.bitwise does the shifts.
_MT_N = 624
_MT_ATTEMPTS = _MT_N // 4  # one polar-method attempt uses 4 words (two 53-bit doubles)
_M32 = 0xFFFFFFFF


def _i64(value):
    return tf.constant(value, tf.int64)


def _shr(x, k):
    return tf.bitwise.right_shift(x, _i64(k))


def _and(x, mask):
    return tf.bitwise.bitwise_and(x, _i64(mask))


def _xor(a, b):
    return tf.bitwise.bitwise_xor(a, b)


def _mt_seed(seeds):
    """``init_genrand``: ``mt[i] = 1812433253 * (mt[i-1] ^ (mt[i-1] >> 30)) + i``. [N, 624]"""

    def body(i, prev, ta):
        nxt = _and(1812433253 * _xor(prev, _shr(prev, 30)) + i, _M32)
        return i + 1, nxt, ta.write(tf.cast(i, tf.int32), nxt)

    ta = tf.TensorArray(tf.int64, size=_MT_N).write(0, seeds)
    _, _, ta = tf.while_loop(lambda i, *_: i < _MT_N, body, [_i64(1), seeds, ta])
    return tf.transpose(ta.stack())


def _mt_twist(mt):
    """One MT19937 state regeneration, [N, 624] -> [N, 624]. The sequential in-place update is
    split into four parts whose inputs are all known (new values feed later indices)."""

    def part(cur, nxt, far):
        y = tf.bitwise.bitwise_or(_and(cur, 0x80000000), _and(nxt, 0x7FFFFFFF))
        mag = tf.where(tf.equal(_and(y, 1), 1), _i64(0x9908B0DF), _i64(0))
        return _xor(_xor(far, _shr(y, 1)), mag)

    a = part(mt[:, 0:227], mt[:, 1:228], mt[:, 397:624])  # new[0:227]
    b = part(mt[:, 227:454], mt[:, 228:455], a)  # new[227:454] uses new[0:227]
    c = part(mt[:, 454:623], mt[:, 455:624], b[:, :169])  # new[454:623] uses new[227:396]
    d = part(mt[:, 623:624], a[:, :1], b[:, 169:170])  # new[623] uses new[0], new[396]
    return tf.concat([a, b, c, d], axis=1)


def _mt_temper(y):
    y = _xor(y, _shr(y, 11))
    y = _xor(y, _and(tf.bitwise.left_shift(y, _i64(7)), 0x9D2C5680))
    y = _xor(y, _and(tf.bitwise.left_shift(y, _i64(15)), 0xEFC60000))
    return _xor(y, _shr(y, 18))


def z_from_seeds(seeds, z_dim: int):
    """``np.random.RandomState(seed).randn(z_dim)`` for each seed, re-done in TF ops: [N, z_dim].

    The official latent of a seed (``pretrained_example.py``; ``stylegan_tf.generate`` uses it
    too), reproduced exactly: MT19937 seeded with ``init_genrand`` (numpy's legacy seeding of
    an int), 53-bit doubles, and numpy's legacy polar (Marsaglia) Gaussian, which returns
    ``f * x2`` then the cached ``f * x1`` and rejects ``r2 >= 1`` and ``r2 == 0``. Computed in
    float64 and cast to float32. Seeds must lie in ``[0, 2**32 - 1]``, as for numpy.
    """
    seeds = tf.cast(tf.reshape(seeds, [-1]), tf.int64)
    in_range = tf.reduce_all(tf.logical_and(seeds >= 0, seeds <= _M32))
    check = tf.debugging.Assert(in_range, ["seeds must be in [0, 2**32 - 1]; got", seeds])
    with tf.control_dependencies([check]):
        seeds = tf.identity(seeds)
    n = tf.shape(seeds)[0]

    def draw():
        need = (z_dim + 1) // 2  # Gaussian pairs

        def more(mt, count, k, pairs, oks):
            return tf.reduce_min(tf.concat([count, [need]], 0)) < need

        def block(mt, count, k, pairs, oks):
            mt = _mt_twist(mt)
            w = tf.reshape(_mt_temper(mt), [n, _MT_ATTEMPTS, 4])
            hi = tf.cast(_shr(w[..., 0::2], 5), tf.float64)
            lo = tf.cast(_shr(w[..., 1::2], 6), tf.float64)
            x = 2.0 * ((hi * 67108864.0 + lo) / 9007199254740992.0) - 1.0  # [N, A, 2]: x1, x2
            r2 = tf.reduce_sum(x * x, axis=-1)
            ok = tf.logical_and(r2 < 1.0, r2 > 0.0)
            r2 = tf.where(ok, r2, 0.5)
            f = tf.sqrt(-2.0 * tf.math.log(r2) / r2)
            pair = tf.stack([f * x[..., 1], f * x[..., 0]], axis=-1)
            count += tf.reduce_sum(tf.cast(ok, tf.int32), axis=1)
            return mt, count, k + 1, pairs.write(k, pair), oks.write(k, ok)

        pairs = tf.TensorArray(
            tf.float64, 0, dynamic_size=True, element_shape=[None, _MT_ATTEMPTS, 2]
        )
        oks = tf.TensorArray(tf.bool, 0, dynamic_size=True, element_shape=[None, _MT_ATTEMPTS])
        init = [_mt_seed(seeds), tf.zeros([n], tf.int32), tf.constant(0), pairs, oks]
        _, _, _, pairs, oks = tf.while_loop(more, block, init)
        pairs = tf.reshape(tf.transpose(pairs.stack(), [1, 0, 2, 3]), [n, -1, 2])
        oks = tf.reshape(tf.transpose(oks.stack(), [1, 0, 2]), [n, -1])
        # The first `need` accepted attempts of each seed, in order.
        first = tf.argsort(tf.cast(tf.logical_not(oks), tf.int32), axis=1, stable=True)[:, :need]
        z = tf.reshape(tf.gather(pairs, first, batch_dims=1), [n, 2 * need])[:, :z_dim]
        return tf.cast(z, tf.float32)

    # An empty batch gives an empty [0, z_dim] (the loop below needs at least one seed).
    return tf.cond(n > 0, draw, lambda: tf.zeros([0, z_dim], tf.float32))


def check_input(x, name: str, dims):
    """Runtime check that ``x`` has shape ``[N, *dims]`` (``[]`` when ``dims is None``).

    The signature wrappers of a loaded SavedModel check dtypes but not shapes, so a wrongly
    shaped input would fail deep inside the network. ``tf.ensure_shape`` fails first instead,
    with ``InvalidArgumentError: Shape of tensor z [2,5] is not compatible with expected shape
    [?,32]`` (a plain shape assert would be constant-folded away by Grappler, which trusts the
    signature's static shape). Float inputs must also be finite: NaN or Inf fails with
    ``InvalidArgumentError: stylegan_tf SavedModel: input 'z' contains NaN or Inf`` instead of
    returning black images.
    """
    x = tf.ensure_shape(x, [] if dims is None else [None, *dims], name=f"check_{name}")
    if x.dtype.is_floating:
        message = f"stylegan_tf SavedModel: input '{name}' contains NaN or Inf"
        x = tf.debugging.assert_all_finite(x, message, name=f"finite_{name}")
    return x


class GeneratorExport(tf.Module):
    """Inference-only wrapper of a :class:`networks.Generator` for ``tf.saved_model.save``.

    Args:
        G: the (averaged) Keras generator; it is called, never modified.
        truncation_cutoff: layers truncated by ``truncation_psi`` (default: ``G``'s, 8).
        stage, alpha: progressive-growing stage (resolution) and fade-in to serve (default: the
            full network); images are then ``stage`` x ``stage``.

    The functions are built eagerly so that only the variables they read are tracked.
    """

    def __init__(self, G, truncation_cutoff=None, name="stylegan_generator", stage=None, alpha=1.0):
        super().__init__(name=name)
        self.stage = G.synthesis._check_stage(stage)
        self.alpha = float(alpha)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        n_layers = G.synthesis.num_layers_at(self.stage)
        grow = {"stage": self.stage, "alpha": self.alpha}
        self.z_dim = int(G.z_dim)
        self.w_dim = int(G.w_dim)
        self.c_dim = int(G.c_dim)
        self.num_ws = int(G.num_ws)
        self.img_resolution = int(self.stage)
        self.img_channels = int(G.img_channels)
        cutoff = G.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
        self.truncation_cutoff = int(cutoff)
        w_avg = np.asarray(G.w_avg.numpy(), dtype=np.float32)
        # Constants baked into the graph: w_avg and the per-layer truncation mask.
        w_avg_c = tf.constant(w_avg.reshape(1, 1, -1))
        mask_c = tf.constant(
            (np.arange(self.num_ws) < self.truncation_cutoff).astype(np.float32).reshape(1, -1, 1)
        )
        layers = G.synthesis.layers_[:n_layers]
        noise_res = [layer.resolution for layer in layers]
        mapping_net, synthesis_net = G.mapping, G.synthesis
        z_dim, c_dim = self.z_dim, self.c_dim

        def truncate(ws, psi):
            # [N, num_ws, w_dim]; coefficient psi on layers < cutoff, 1 elsewhere.
            coef = 1.0 + (tf.cast(psi, tf.float32) - 1.0) * mask_c
            return w_avg_c + (ws - w_avg_c) * coef

        def map_(z, labels, psi, check=True):
            if check:
                z = check_input(z, "z", [z_dim])
                psi = check_input(psi, "truncation_psi", None)
                if c_dim:
                    labels = check_input(labels, "labels", [c_dim])
                    same_n = tf.debugging.assert_equal(
                        tf.shape(labels)[0],
                        tf.shape(z)[0],
                        message="stylegan_tf SavedModel: 'labels' and 'z' need the same N",
                    )
                    with tf.control_dependencies([same_n]):  # before the mapping's concat
                        z, labels = tf.identity(z), tf.identity(labels)
            ws = mapping_net(z, labels) if c_dim else mapping_net(z)
            return truncate(tf.cast(ws, tf.float32), psi)

        def synth_const(ws):
            return to_uint8_tf(synthesis_net(ws, noise_mode="const", **grow))

        def synth_seeded(ws, noise_seed):
            if not G.use_noise:
                return to_uint8_tf(synthesis_net(ws, noise_mode="none", **grow))
            n = tf.shape(ws)[0]

            def stored():
                return [
                    tf.broadcast_to(tf.convert_to_tensor(layer.noise.noise_const), [n, r, r, 1])
                    for r, layer in zip(noise_res, layers)
                ]

            def drawn():
                seed = tf.cast(noise_seed, tf.int64)
                return [
                    tf.random.stateless_normal(
                        [n, r, r, 1], seed=tf.stack([seed, tf.constant(i, tf.int64)])
                    )
                    for i, r in enumerate(noise_res)
                ]

            noise = tf.cond(noise_seed < 0, stored, drawn)
            return to_uint8_tf(synthesis_net(ws, noise=list(noise), **grow))

        z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
        c_spec = tf.TensorSpec([None, c_dim], tf.float32, name="labels")
        psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
        ws_spec = tf.TensorSpec([None, self.num_ws, self.w_dim], tf.float32, name="ws")
        seed_spec = tf.TensorSpec([], tf.int64, name="noise_seed")
        seeds_spec = tf.TensorSpec([None], tf.int64, name="seeds")

        if c_dim:

            def serve(z, labels, truncation_psi):
                return {"images": synth_const(map_(z, labels, truncation_psi))}

            def mapping(z, labels, truncation_psi):
                return {"ws": map_(z, labels, truncation_psi)}

            def from_seed(seeds, labels, truncation_psi):
                z = z_from_seeds(check_input(seeds, "seeds", []), z_dim)
                return {"images": synth_const(map_(z, labels, truncation_psi))}

            serve_sig = [z_spec, c_spec, psi_spec]
            seed_sig = [seeds_spec, c_spec, psi_spec]
        else:

            def serve(z, truncation_psi):
                return {"images": synth_const(map_(z, None, truncation_psi))}

            def mapping(z, truncation_psi):
                return {"ws": map_(z, None, truncation_psi)}

            def from_seed(seeds, truncation_psi):
                z = z_from_seeds(check_input(seeds, "seeds", []), z_dim)
                return {"images": synth_const(map_(z, None, truncation_psi))}

            serve_sig = [z_spec, psi_spec]
            seed_sig = [seeds_spec, psi_spec]

        def synthesis(ws, noise_seed):
            ws = check_input(ws, "ws", [self.num_ws, self.w_dim])
            noise_seed = check_input(noise_seed, "noise_seed", None)
            return {"images": synth_seeded(ws, noise_seed)}

        def tflite_serve(z, labels, truncation_psi):
            # No Assert ops (not TFLite builtins); the interpreter checks input shapes itself.
            return {"images": synth_const(map_(z, labels, truncation_psi, check=False))}

        # No AutoGraph: these functions branch on tensors only through tf.cond; tracing without
        # the source conversion is faster.
        self._tflite_fn = tflite_serve  # traced with a fixed batch size by export_tflite
        self.serve = tf.function(serve, input_signature=serve_sig, autograph=False)
        self.mapping = tf.function(mapping, input_signature=serve_sig, autograph=False)
        self.synthesis = tf.function(
            synthesis, input_signature=[ws_spec, seed_spec], autograph=False
        )
        self.generate_from_seed = tf.function(from_seed, input_signature=seed_sig, autograph=False)
        # Track exactly the variables the graphs read (w_avg and RNG states are not among them).
        used = {}
        for fn in (self.serve, self.mapping, self.synthesis, self.generate_from_seed):
            for v in fn.get_concrete_function().variables:
                used.setdefault(id(v), v)
        self.weights = list(used.values())

    def signatures(self) -> dict:
        """The ``signatures`` argument of ``tf.saved_model.save``."""
        return {
            "serving_default": self.serve.get_concrete_function(),
            "mapping": self.mapping.get_concrete_function(),
            "synthesis": self.synthesis.get_concrete_function(),
            "generate_from_seed": self.generate_from_seed.get_concrete_function(),
        }

    def info(self) -> dict:
        """Configuration recorded next to the SavedModel."""
        return {
            "format": "stylegan_tf generator SavedModel",
            "z_dim": self.z_dim,
            "w_dim": self.w_dim,
            "c_dim": self.c_dim,
            "num_ws": self.num_ws,
            "img_resolution": self.img_resolution,
            "stage": self.stage,
            "alpha": self.alpha,
            "img_channels": self.img_channels,
            "truncation_cutoff": self.truncation_cutoff,
            "signatures": list(SIGNATURES),
            "images": "uint8 [N, H, W, C], x*127.5+128 saturate-cast (official rounding)",
            "generate_from_seed_z": "np.random.RandomState(seed).randn(z_dim), in TF ops",
            "synthesis_noise": "noise_seed<0: stored buffers; else "
            "tf.random.stateless_normal([N,r,r,1], seed=[noise_seed, layer_index])",
        }


def export_saved_model(
    G,
    out_dir,
    *,
    tflite_path=None,
    overwrite=False,
    truncation_cutoff=None,
    stage=None,
    alpha=1.0,
):
    """Write the inference SavedModel of generator ``G`` to ``out_dir``; returns ``out_dir``.

    The model is written into a temporary sibling directory and renamed into place, so
    ``out_dir`` is either absent or complete. An existing non-empty ``out_dir`` is refused with
    ``FileExistsError`` unless ``overwrite=True``. With ``tflite_path`` also writes a TFLite
    model (see :func:`export_tflite`). ``stage`` / ``alpha``: see :class:`GeneratorExport`.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.lexists(out_dir) and not overwrite:
        if not os.path.isdir(out_dir) or os.listdir(out_dir):
            raise FileExistsError(f"{out_dir} exists and is not empty (overwrite=True replaces it)")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    module = GeneratorExport(G, truncation_cutoff=truncation_cutoff, stage=stage, alpha=alpha)
    with atomic_directory(out_dir, overwrite) as tmp:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        with open(os.path.join(tmp, INFO_FILE), "w") as f:
            json.dump(module.info(), f, indent=2)
    if tflite_path is not None:
        export_tflite(G, tflite_path, truncation_cutoff=truncation_cutoff, module=module)
    return out_dir


def export_tflite(G, path, *, batch_size=1, truncation_cutoff=None, module=None) -> str:
    """Convert the generator to TFLite: inputs ``z`` [batch_size, z_dim] (+ ``labels``) and
    ``truncation_psi`` [] float32 -> ``images`` uint8; stored (const) noise; fixed batch size.
    Written atomically; returns ``path``."""
    module = module or GeneratorExport(G, truncation_cutoff=truncation_cutoff)
    z_spec = tf.TensorSpec([batch_size, module.z_dim], tf.float32, name="z")
    psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
    if module.c_dim:
        c_spec = tf.TensorSpec([batch_size, module.c_dim], tf.float32, name="labels")
        fn = tf.function(
            module._tflite_fn, input_signature=[z_spec, c_spec, psi_spec], autograph=False
        )
    else:
        fn = tf.function(
            lambda z, truncation_psi: module._tflite_fn(z, None, truncation_psi),
            input_signature=[z_spec, psi_spec],
            autograph=False,
        )
    concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    blob = converter.convert()
    path = os.path.abspath(os.fspath(path))

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(blob)

    atomic_write(path, write)
    return path


from stylegan_tf.export_cli import build_parser, main  # noqa: E402,F401  (the command line)
