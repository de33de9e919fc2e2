"""Stride-1 convolutions whose gradients run as forward convolutions (TensorFlow).

The training step spends most of its time in convolutions, and on CPU TensorFlow's two gradient
kernels run well below its forward ``Conv2D`` (its default Eigen kernels on the project's AVX2
machine, where TensorFlow 2.21 leaves oneDNN off). ``python benchmarks/bench_convs.py``
on the project's 2-core machine (3x3, 128 channels at 8^2 to 32^2 and 64 at 64^2, batch 16):
``Conv2DBackpropInput`` took 1.2-2.5x and ``Conv2DBackpropFilter`` 1.2-1.4x the time of the
forms below. Both gradients are themselves convolutions:

* input gradient: the output gradient convolved with the kernel rotated by 180 degrees and its
  in/out axes swapped ('same' for a 'same' conv; for a 'valid' conv, 'valid' on the output
  gradient zero-padded by ``k - 1``);
* kernel gradient: with batch and channels swapped, the (zero-padded) input ``[C_in, H', W', N]``
  convolved ('valid') with the output gradient ``[H, W, N, C_out]`` as the kernel, which gives
  ``[C_in, k, k, C_out]``.

:func:`conv2d` computes the forward with ``Conv2D`` and both gradients in these forms, and its
input gradient again has forward-convolution gradients, so R1's double backward runs through
the same kernels. The gradients equal TensorFlow's own up to float32 summation order
(``tests/test_conv_grad.py`` checks first and second order against ``tf.nn.conv2d``'s
registered gradients). The training step traces its networks under
:func:`networks.layers.conv_implementation` with this function; 1x1 convolutions keep the plain
op, and inference does not use this module.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["conv2d", "kernel_grad"]


def _flip(w):
    """The kernel of the input gradient: rotated by 180 degrees, in/out swapped."""
    return tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])


def _plain(x, w, padding="SAME"):
    return tf.nn.conv2d(x, w, strides=1, padding=padding)


def kernel_grad(x, dy, pad):
    """``d loss / d w`` of a stride-1 conv of ``x`` zero-padded by ``pad`` on every side
    ('same' for a ``k x k`` kernel: ``pad = k // 2``; 'valid': 0), given ``dy = d loss / d out``:
    ``sum_{n,h,w} pad(x)[n, h + a, w + b, i] * dy[n, h, w, o]``. The zero padding is the
    convolution's own (explicit padding), not a padded copy of ``x``."""
    out = tf.nn.conv2d(
        tf.transpose(x, [3, 1, 2, 0]),
        tf.transpose(dy, [1, 2, 0, 3]),
        strides=1,
        padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]] if pad else "VALID",
    )  # [in, k, k, out]
    return tf.transpose(out, [1, 2, 0, 3])


@tf.custom_gradient
def _input_grad3(dy, w):
    """``conv2d_backprop_input`` of a 3x3 'same' conv with kernel ``w``, as a forward conv."""

    def grad(g):
        # TensorFlow's gradient of Conv2DBackpropInput: conv2d(g, w) and the kernel gradient
        # with g as the input and dy as the output gradient.
        return _same3(g, w), kernel_grad(g, dy, 1)

    return _plain(dy, _flip(w)), grad


@tf.custom_gradient
def _same3(x, w):
    def grad(dy):
        return _input_grad3(dy, w), kernel_grad(x, dy, 1)

    return _plain(x, w), grad


@tf.custom_gradient
def _valid(x, w):
    def grad(dy):
        # The input gradient of a 'valid' conv is a 'full' conv: pad by k - 1, flipped kernel.
        k = int(w.shape[0])
        dy_full = tf.pad(dy, [[0, 0], [k - 1, k - 1], [k - 1, k - 1], [0, 0]])
        return _valid(dy_full, _flip(w)), kernel_grad(x, dy, 0)

    return _plain(x, w, "VALID"), grad


def conv2d(x, w, padding="same"):
    """Stride-1 ``conv2d(x, w)``, NHWC, ``w`` ``[k, k, in, out]``, ``padding`` 'same' or 'valid'.

    3x3 'same' and every 'valid' convolution get the forward-convolution gradients described in
    the module docstring; 1x1 'same' convolutions use ``tf.nn.conv2d`` as it is."""
    padding = padding.lower()
    square = int(w.shape[0]) == int(w.shape[1])
    if padding == "valid" and square:
        return _valid(x, w)
    if padding == "same" and square and int(w.shape[0]) == 3:
        return _same3(x, w)
    return _plain(x, w, padding.upper())
