"""Float64 numpy re-derivation of the official ``G_style`` forward (``Gs.run`` with stored noise).

Written from NVlabs/stylegan ``training/networks_stylegan.py`` (not from our Keras layers), on the
official variables by their official local names and layouts (``G_mapping``: ``Dense{i}``,
``G_synthesis``: ``4x4/Const/const`` ``[1, C, 4, 4]``, ``noise{i}`` ``[1, 1, r, r]``, ...), so a
test comparing it with the imported Keras generator checks the importer's name/layout table, every
op, and the float32 accuracy of our implementation. Computed channels-last in float64.

Official semantics reproduced here (line numbers of ``networks_stylegan.py``):

* ``get_weight``: run-time scale ``gain / sqrt(fan_in) * lrmul`` (L125-140).
* ``upscale2d_conv2d`` (L183-200): below 128² nearest upsampling then 3x3 conv; from 128²
  (``fused_scale='auto'``: ``min(input H, W) * 2 >= 128``) the transposed convolution with the
  kernel transposed to ``[k, k, out, in]``, zero-padded to 5x5 and summed over its four 1-pixel
  shifts, stride 2, 'SAME' padding.
* ``blur2d`` [1, 2, 1] x [1, 2, 1] / 16, zero padding (L23-45).
* ``layer_epilogue``: noise (``x + noise * weight``), bias, lrelu 0.2, instance norm (eps 1e-8),
  ``style_mod`` ``x * (s + 1) + b`` (L487-498, L255-281).
* G_style truncation ``lerp(dlatent_avg, w, psi)`` on layers ``< cutoff`` (L369-374).
* ``structure='recursive'`` growth with the synthesis ``lod`` (L547-556): the output is always full
  resolution; at a fractional lod the new block's RGB is ``lerp``-ed with the previous one's
  (upsampled) by ``lod_in - lod`` and the result upsampled by ``2**lod``.
"""

from __future__ import annotations

import math
import re

import numpy as np

SQRT2 = math.sqrt(2.0)


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _scaled(w, gain=SQRT2, lrmul=1.0):
    w = np.asarray(w, np.float64)
    fan_in = int(np.prod(w.shape[:-1]))
    return w * (gain / math.sqrt(fan_in) * lrmul)


def _matmul_last(x, w):
    """``x [..., C] @ w [C, O]`` with BLAS (float64)."""
    shape = x.shape
    return (x.reshape(-1, shape[-1]) @ w).reshape(*shape[:-1], w.shape[1])


def conv2d(x, w):
    """'SAME' cross-correlation (``tf.nn.conv2d``, stride 1), x ``[N, H, W, C]``, w ``[k, k, C, O]``."""
    k = w.shape[0]
    p = k // 2
    n, h, wd, _ = x.shape
    xp = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    out = np.zeros((n, h, wd, w.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += _matmul_last(xp[:, dy : dy + h, dx : dx + wd], w[dy, dx])
    return out


def conv2d_transpose_same_s2(x, w):
    """``tf.nn.conv2d_transpose`` stride 2 'SAME' with a 4x4 filter ``[4, 4, O, C]``: the gradient
    of a stride-2 convolution, ``out[2i + a - 1, 2j + b - 1] += x[i, j] @ w[a, b].T``."""
    n, h, wd, _ = x.shape
    k = w.shape[0]
    buf = np.zeros((n, 2 * h + k - 2, 2 * wd + k - 2, w.shape[2]))
    for a in range(k):
        for b in range(k):
            buf[:, a : a + 2 * h : 2, b : b + 2 * wd : 2] += _matmul_last(x, w[a, b].T)
    pad = (k - 2) // 2  # SAME: total padding k - 2, the smaller half before
    return buf[:, pad : pad + 2 * h, pad : pad + 2 * wd]


def upscale2d(x, factor=2):
    return x.repeat(factor, axis=1).repeat(factor, axis=2)


def blur2d(x):
    f = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
    n, h, wd, c = x.shape
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += f[dy, dx] * xp[:, dy : dy + h, dx : dx + wd]
    return out


def instance_norm(x, eps=1e-8):
    x = x - x.mean(axis=(1, 2), keepdims=True)
    return x / np.sqrt(np.mean(np.square(x), axis=(1, 2), keepdims=True) + eps)


def mapping(m, z, labels=None, lrmul=0.01):
    """``G_mapping``: (label concat) -> pixel norm -> ``Dense{i}`` + bias + lrelu."""
    x = np.asarray(z, np.float64)
    if "LabelConcat/weight" in m:
        x = np.concatenate([x, np.asarray(labels, np.float64) @ m["LabelConcat/weight"]], axis=1)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    i = 0
    while f"Dense{i}/weight" in m:
        W = _scaled(m[f"Dense{i}/weight"], SQRT2, lrmul)
        x = _lrelu(x @ W + np.asarray(m[f"Dense{i}/bias"], np.float64) * lrmul)
        i += 1
    return x


def synthesis(s, dlatents, lod=None, trace=None):
    """``G_synthesis`` with stored noise; ``dlatents [N, num_layers, w_dim]`` -> NHWC image at
    full resolution. ``lod`` defaults to the synthesis' own ``lod`` variable. ``trace``, a list,
    receives every layer's output."""
    res_log2 = int(math.log2(max(int(m.group(1)) for k in s if (m := re.match(r"(\d+)x\1/", k)))))
    lod_in = float(s.get("lod", 0.0) if lod is None else lod)
    n = dlatents.shape[0]

    def epilogue(x, idx, scope):
        noise = np.asarray(s[f"noise{idx}"], np.float64).transpose(0, 2, 3, 1)  # [1, r, r, 1]
        x = x + noise * np.asarray(s[f"{scope}/Noise/weight"], np.float64)
        x = _lrelu(x + np.asarray(s[f"{scope}/bias"], np.float64))
        x = instance_norm(x)
        c = x.shape[-1]
        style = dlatents[:, idx] @ _scaled(s[f"{scope}/StyleMod/weight"], 1.0)
        style = style + np.asarray(s[f"{scope}/StyleMod/bias"], np.float64)
        x = x * (style[:, None, None, :c] + 1.0) + style[:, None, None, c:]
        if trace is not None:
            trace.append(x)
        return x

    def block(res, x):
        R = 2**res
        w = _scaled(s[f"{R}x{R}/Conv0_up/weight"])
        if R >= 128:  # fused_scale='auto'
            w = np.pad(w.transpose(0, 1, 3, 2), [(1, 1), (1, 1), (0, 0), (0, 0)])
            w = w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]
            x = conv2d_transpose_same_s2(x, w)
        else:
            x = conv2d(upscale2d(x), w)
        x = epilogue(blur2d(x), 2 * res - 4, f"{R}x{R}/Conv0_up")
        return epilogue(
            conv2d(x, _scaled(s[f"{R}x{R}/Conv1/weight"])), 2 * res - 3, f"{R}x{R}/Conv1"
        )

    def torgb(res, x):
        name = f"ToRGB_lod{res_log2 - res}"
        return _matmul_last(x, _scaled(s[f"{name}/weight"][0, 0], 1.0)) + s[f"{name}/bias"]

    const = np.asarray(s["4x4/Const/const"], np.float64).transpose(0, 2, 3, 1)
    x = epilogue(np.tile(const, (n, 1, 1, 1)), 0, "4x4/Const")
    x = epilogue(conv2d(x, _scaled(s["4x4/Conv/weight"])), 1, "4x4/Conv")

    def grow(x, res, lod):  # the official recursive structure, condition by condition
        y = block(res, x)
        if lod > 0 and lod_in < lod:
            return grow(y, res + 1, lod - 1)
        if lod_in > lod:
            t = lod_in - lod
            img = torgb(res, y) + (upscale2d(torgb(res - 1, x)) - torgb(res, y)) * t
            return upscale2d(img, 2**lod)
        return upscale2d(torgb(res, y), 2**lod)

    return grow(x, 3, res_log2 - 3)


def generator(gv, z, psi=0.7, cutoff=8, labels=None, lod=None):
    """Official ``Gs.run(z, labels, truncation_psi=psi, randomize_noise=False)`` in float64:
    ``gv = {"mapping": {...}, "synthesis": {...}, "own": {"dlatent_avg", "lod"}}``; NHWC output.
    ``lod`` defaults to Gs's own ``lod`` (G_style assigns it to the synthesis before running)."""
    m, s, own = gv["mapping"], gv["synthesis"], gv["own"]
    w = mapping(m, z, labels)
    num_layers = sum(1 for k in s if k.startswith("noise"))
    dl = np.repeat(w[:, None], num_layers, axis=1)
    if psi is not None and psi != 1:
        avg = np.asarray(own["dlatent_avg"], np.float64)
        coefs = np.where(np.arange(num_layers) < cutoff, psi, 1.0)[None, :, None]
        dl = avg + (dl - avg) * coefs
    return synthesis(s, dl, lod=float(own.get("lod", 0.0)) if lod is None else lod)
