"""Perceptual path length: the metric against a direct numpy re-computation of the formula."""

import numpy as np
import pytest

from metrics.metric_utils import MetricOptions
from metrics.ppl import compute_ppl, crop_face, filtered_mean, get_lpips, slerp

EPS = 1e-4


@pytest.fixture(scope="module")
def G(tiny_generator):
    return tiny_generator(img_resolution=32, seed=1)


def _np_normalize(v):
    return v / np.sqrt(np.sum(v * v, axis=-1, keepdims=True))


def _np_slerp(a, b, t):
    a, b = _np_normalize(a), _np_normalize(b)
    d = np.sum(a * b, axis=-1, keepdims=True)
    p = t * np.arccos(d)
    c = _np_normalize(b - d * a)
    return _np_normalize(a * np.cos(p) + c * np.sin(p))


def _np_ppl_distances(G, space, sampling, num_samples, batch, seed):
    """The official PPL formula written out in numpy (G and LPIPS called eagerly)."""
    lpips = get_lpips(None)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(0, num_samples, batch):
        lat = rng.standard_normal([2 * batch, G.z_dim]).astype(np.float32)
        t = rng.uniform(0.0, 1.0 if sampling == "full" else 0.0, size=[batch]).astype(np.float32)
        noise = [rng.standard_normal(s).astype(np.float32) for s in G.synthesis.noise_shapes(batch)]
        if space == "w":
            dlat = np.asarray(G.mapping(lat))
            d0, d1 = dlat[0::2], dlat[1::2]
            tt = t[:, None, None]
            ws = np.concatenate([d0 + (d1 - d0) * tt, d0 + (d1 - d0) * (tt + EPS)])
        else:
            z0, z1 = lat[0::2], lat[1::2]
            tt = t[:, None]
            z = np.concatenate([_np_slerp(z0, z1, tt), _np_slerp(z0, z1, tt + EPS)])
            ws = np.asarray(G.mapping(z.astype(np.float32)))
        images = np.asarray(G.synthesis(ws, noise=[np.concatenate([x, x]) for x in noise]))
        c = images.shape[1] // 8
        images = images[:, 3 * c : 7 * c, 2 * c : 6 * c, :]  # official face crop
        images = (images + 1) * (255 / 2)  # official [0, 255] VGG input ...
        x = images / 127.5 - 1  # ... which LPIPS takes in [-1, 1]
        out.append(np.asarray(lpips([x[:batch], x[batch:]])) / EPS**2)
    return np.concatenate(out)[:num_samples]


@pytest.mark.parametrize("space,sampling", [("w", "full"), ("z", "end")])
def test_ppl_matches_numpy_recomputation(G, space, sampling):
    opts = MetricOptions(G=G, batch_size=4, seed=3, verbose=False)
    result = compute_ppl(opts, space, sampling, num_samples=10, return_distances=True)
    distances = result["distances"]
    assert distances.shape == (10,) and np.all(distances > 0)
    expected = _np_ppl_distances(G, space, sampling, 10, 4, seed=3)
    # float32 images differ by ~eps between the endpoints, so compiled vs eager rounding
    # changes the distances by up to ~0.5% (measured); a wrong formula changes them by far more.
    np.testing.assert_allclose(distances, expected, rtol=1e-2)
    # Same distances -> the official filter (percentiles 1 'lower' / 99 'higher') and mean.
    lo, hi = (
        np.percentile(distances, 1, method="lower"),
        np.percentile(distances, 99, method="higher"),
    )
    kept = distances[(distances >= lo) & (distances <= hi)]
    assert result["ppl"] == pytest.approx(float(np.mean(kept)), rel=1e-12)


def test_noise_is_shared_within_pairs(G):
    # With eps -> 0 the two endpoints become the same image only if they share the noise.
    opts = MetricOptions(G=G, batch_size=4, seed=0, verbose=False)
    d = compute_ppl(opts, "w", "end", num_samples=4, epsilon=1e-4, return_distances=True)
    small = compute_ppl(opts, "w", "end", num_samples=4, epsilon=1e-2, return_distances=True)
    # distance / eps^2 is a second-order quantity: roughly independent of eps when noise is
    # shared (it would scale with 1/eps^2 otherwise).
    ratio = np.median(d["distances"] / small["distances"])
    assert 0.2 < ratio < 5


def test_filtered_mean_drops_percentile_tails():
    rnd = np.random.RandomState(0)
    d = np.concatenate([rnd.uniform(1, 2, 996), [1e6, 1e7, -5.0, -6.0]])
    lo, hi = np.sort(d)[9], np.sort(d)[-10]  # 1st / 99th percentile of 1000 values
    expected = d[(d >= lo) & (d <= hi)].mean()
    assert filtered_mean(d) == pytest.approx(expected)
    assert 1 < filtered_mean(d) < 2


def test_slerp_matches_numpy_and_endpoints():
    rnd = np.random.RandomState(1)
    a, b = rnd.randn(5, 7).astype(np.float32), rnd.randn(5, 7).astype(np.float32)
    t = rnd.uniform(0, 1, (5, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(slerp(a, b, t)), _np_slerp(a, b, t), atol=1e-5)
    np.testing.assert_allclose(np.asarray(slerp(a, b, 0 * t)), _np_normalize(a), atol=1e-5)
    np.testing.assert_allclose(np.asarray(slerp(a, b, 0 * t + 1)), _np_normalize(b), atol=1e-5)


def test_face_crop_and_downsample():
    img = np.arange(1024 * 1024, dtype=np.float32).reshape(1, 1024, 1024, 1)
    got = np.asarray(crop_face(img))
    crop = img[:, 384:896, 256:768, :]  # c = 128: rows 3c..7c, columns 2c..6c
    expected = crop.reshape(1, 256, 2, 256, 2, 1).mean(axis=(2, 4))
    assert got.shape == (1, 256, 256, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    small = np.zeros((2, 64, 64, 3), np.float32)
    assert np.asarray(crop_face(small)).shape == (2, 32, 32, 3)


def test_rejects_bad_arguments(G):
    class Tiny:
        img_resolution, z_dim, c_dim = 16, 4, 0

    with pytest.raises(ValueError, match="img_resolution >= 32"):
        compute_ppl(MetricOptions(G=Tiny(), verbose=False), "w", "end", num_samples=2)
    with pytest.raises(ValueError, match="space"):
        compute_ppl(MetricOptions(G=G, verbose=False), "x", "end")
    with pytest.raises(ValueError, match="sampling"):
        compute_ppl(MetricOptions(G=G, verbose=False), "w", "mid")
