"""Fréchet distance against closed forms; the three computations against each other; KID."""

import numpy as np
import pytest

from metrics.frechet import feature_stats, frechet_distance, frechet_distance_from_features
from metrics.kid import kernel_inception_distance

METHODS = ["sqrtm", "eigh"]


def _random_rotation(d, seed):
    q, r = np.linalg.qr(np.random.RandomState(seed).randn(d, d))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("method", METHODS)
def test_identical_gaussians_give_zero(method):
    rnd = np.random.RandomState(0)
    a = rnd.randn(200, 16)
    mu, sigma = feature_stats(a)
    assert abs(frechet_distance(mu, sigma, mu, sigma, method=method)) < 1e-8


@pytest.mark.parametrize("method", METHODS)
def test_equal_covariance_gives_squared_mean_difference(method):
    d = 12
    q = _random_rotation(d, 1)
    sigma = q @ np.diag(np.linspace(0.5, 3.0, d)) @ q.T
    mu1 = np.random.RandomState(2).randn(d)
    mu2 = mu1 + np.arange(d) * 0.1
    expected = np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, sigma, mu2, sigma, method=method) == pytest.approx(expected)


@pytest.mark.parametrize("method", METHODS)
def test_shared_eigenvectors_closed_form(method):
    d = 10
    q = _random_rotation(d, 3)
    lam1 = np.linspace(0.1, 4.0, d)
    lam2 = np.linspace(2.0, 0.3, d) ** 2
    s1, s2 = q @ np.diag(lam1) @ q.T, q @ np.diag(lam2) @ q.T
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(lam1) - np.sqrt(lam2)) ** 2)
    got = frechet_distance(mu1, s1, mu2, s2, method=method)
    assert got == pytest.approx(expected, rel=1e-9)


def test_sample_estimate_converges_from_above():
    # Two samples of the same Gaussian: the estimate is positive, of order d/n, and shrinks.
    rnd = np.random.RandomState(4)
    d = 8
    values = []
    for n in (100, 1000, 10000):
        a, b = rnd.randn(n, d), rnd.randn(n, d)
        values.append(frechet_distance(*feature_stats(a), *feature_stats(b)))
    assert all(v > 0 for v in values)
    assert values[0] > values[1] > values[2]
    assert values[2] < 10 * d / 10000


@pytest.mark.parametrize("n1,n2,d", [(30, 45, 64), (200, 150, 32)])
def test_three_computations_agree(n1, n2, d):
    rnd = np.random.RandomState(5)
    mix = rnd.randn(d, d) / np.sqrt(d)
    a = rnd.randn(n1, d) @ mix
    b = rnd.randn(n2, d) @ mix * 1.3 + 0.2
    s = feature_stats(a) + feature_stats(b)
    official = frechet_distance(*s, method="sqrtm")
    assert frechet_distance(*s, method="eigh") == pytest.approx(official, rel=1e-6)
    assert frechet_distance_from_features(a, b) == pytest.approx(official, rel=1e-6)


def test_non_finite_square_root_retries_with_eps_offset():
    # A product without a square root (nilpotent): sqrtm gives inf, so eps*I is added to both.
    eps = 1e-6
    s1, s2 = np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2)
    got = frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=eps)
    # sqrtm([[a, b], [0, a]]) = [[sqrt(a), .], [0, sqrt(a)]] with a = eps * (1 + eps).
    assert got == pytest.approx(2.0 - 4.0 * np.sqrt(eps * (1 + eps)), rel=1e-9)


def test_rank_deficient_covariances():
    # Fewer samples than dimensions: finite and equal to the exact sample-space computation.
    rnd = np.random.RandomState(6)
    a, b = rnd.randn(5, 20), rnd.randn(6, 20) + 1.0
    value = frechet_distance(*feature_stats(a), *feature_stats(b))
    assert np.isfinite(value)
    assert value == pytest.approx(frechet_distance_from_features(a, b), rel=1e-4)
    zero = np.zeros((4, 4))
    assert frechet_distance(np.zeros(4), zero, np.ones(4), zero) == pytest.approx(4.0)


def test_input_validation():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="method"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), method="svd")
    with pytest.raises(ValueError):
        feature_stats(np.zeros((1, 3)))


def test_kid_zero_for_same_distribution_and_positive_for_shift():
    rnd = np.random.RandomState(7)
    a, b = rnd.randn(300, 16), rnd.randn(300, 16)
    same = kernel_inception_distance(a, b, num_subsets=20, max_subset_size=200)
    shifted = kernel_inception_distance(a, b + 1.0, num_subsets=20, max_subset_size=200)
    assert abs(same) < 0.05
    assert shifted > 10 * abs(same) and shifted > 0.1
