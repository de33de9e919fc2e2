"""Alternative forms of layers used by compiled (XLA) paths: the same maps as the default ops."""

import numpy as np

from networks.layers import blur2d, separable_blur


def _numpy_blur(x):
    # [1, 2, 1] x [1, 2, 1] / 16 with zero 'same' padding, per channel (official blur2d).
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    p = np.pad(x.astype(np.float64), [(0, 0), (1, 1), (1, 1), (0, 0)])
    h, w = x.shape[1:3]
    return sum(k[i, j] * p[:, i : i + h, j : j + w] for i in range(3) for j in range(3))


def test_separable_blur_matches_the_depthwise_blur_and_numpy():
    x = np.random.RandomState(0).randn(2, 8, 6, 5).astype(np.float32)
    depthwise = np.array(blur2d(x))
    with separable_blur():
        separable = np.array(blur2d(x))
    after = np.array(blur2d(x))  # the context is left: the default path again
    np.testing.assert_allclose(separable, _numpy_blur(x), atol=1e-6)
    np.testing.assert_allclose(depthwise, _numpy_blur(x), atol=1e-6)
    np.testing.assert_array_equal(after, depthwise)
