"""Fréchet distance between Gaussians fitted to features (the "D" of FID), in float64.

    FD = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

`frechet_distance` follows the official computation (`scipy.linalg.sqrtm` of S1 S2, real part)
with the usual guards: a non-finite square root (singular product) is retried with eps*I added
to both covariances, and an imaginary part is dropped when it is negligible (an error
otherwise). `method="eigh"` computes the same trace through symmetric eigendecompositions
(Tr (S1 S2)^(1/2) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))) for PSD S1, S2), several times faster.
`frechet_distance_from_features` is exact and fast when there are fewer samples than dimensions.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

__all__ = ["feature_stats", "frechet_distance", "frechet_distance_from_features"]


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (`np.cov`, rows = samples) of [N, D] features, float64."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need [N >= 2, D] features, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _check(mu1, sigma1, mu2, sigma2):
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, "
            f"sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    return mu1, sigma1, mu2, sigma2


def _sqrtm(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Matrix is singular..." is handled by the caller
        return scipy.linalg.sqrtm(a)


def _trace_sqrt_product_sqrtm(sigma1, sigma2, eps):
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.all(np.isfinite(covmean)):
            raise ValueError("the square root of sigma1 @ sigma2 is not finite, even with eps*I")
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            raise ValueError(f"the square root of sigma1 @ sigma2 has imaginary part {imag:g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def _psd_sqrt(sigma):
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1, sigma2):
    root = _psd_sqrt(sigma1)
    m = root @ sigma2 @ root  # [D, D], PSD, same eigenvalues as sigma1 @ sigma2
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6, method: str = "sqrtm"):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
      mu1, mu2: [D] means.
      sigma1, sigma2: [D, D] covariances.
      eps: diagonal offset used when the plain square root is not finite ("sqrtm" only).
      method: "sqrtm" (the official computation) or "eigh" (faster, same value for PSD input).

    Returns:
      The distance as a Python float (>= 0 up to rounding).
    """
    mu1, sigma1, mu2, sigma2 = _check(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    if method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    elif method == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
    else:
        raise ValueError(f"method must be 'sqrtm' or 'eigh', got {method!r}")
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance_from_features(features1, features2) -> float:
    """Fréchet distance of Gaussians fitted (as `feature_stats`) to two feature sets.

    Uses Tr (S1 S2)^(1/2) = ||A1 A2^T||_* / sqrt((n1-1)(n2-1)) with A the centred features
    (nuclear norm = sum of singular values), which costs O(n1 n2 D) instead of O(D^3): exact,
    and fast when n1, n2 are small. Falls back to `frechet_distance(method="eigh")` otherwise.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"need [N, D] features of equal D, got {f1.shape} and {f2.shape}")
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if n1 < 2 or n2 < 2:
        raise ValueError(f"need at least 2 samples per set, got {n1} and {n2}")
    if min(n1, n2) >= d:
        return frechet_distance(*feature_stats(f1), *feature_stats(f2), method="eigh")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1, a2 = f1 - mu1, f2 - mu2  # [n, D]
    tr1 = np.sum(a1 * a1) / (n1 - 1)
    tr2 = np.sum(a2 * a2) / (n2 - 1)
    cross = (a1 @ a2.T) / np.sqrt((n1 - 1) * (n2 - 1))  # [n1, n2]
    tr_covmean = np.linalg.svd(cross, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + tr1 + tr2 - 2.0 * tr_covmean)
