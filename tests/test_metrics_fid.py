"""FID on real data (scikit-image's LFW subset) through the metric pipeline, caching, uint8.

The LFW subset has 100 face crops (rows 0-99) and 100 non-face crops (rows 100-199), 25x25
gray. Sets of 30 images keep the Inception cost down (~0.1-0.3 s per image on 2 CPU cores);
with 30 samples in 2048 dimensions the Fréchet distance is computed exactly in sample space
(`frechet_distance_from_features`), and `compute_fid` itself is also run end to end.
"""

import os

import numpy as np
import pytest
import skimage.data

from metrics.fid import compute_fid
from metrics.frechet import frechet_distance_from_features
from metrics.metric_utils import (
    ArrayDataset,
    MetricOptions,
    fake_features,
    iterate_fakes,
    real_features,
)
from stylegan_tf.images import to_uint8, to_uint8_tf

N = 30


class BankG:
    """A duck-typed generator that returns the images of a bank, in order (as [-1, 1] floats)."""

    def __init__(self, images_uint8):
        self.bank = images_uint8.astype(np.float32) / 127.5 - 1.0  # exact inverse of uint8
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = 4, 0, 4, 1
        self.img_resolution, self.img_channels = self.bank.shape[1], self.bank.shape[3]
        self.pos = 0

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="random"):
        assert truncation_psi == 1.0 and noise_mode == "random"  # official FID fakes
        idx = (self.pos + np.arange(len(z))) % len(self.bank)
        self.pos += len(z)
        return self.bank[idx]


@pytest.fixture(scope="module")
def lfw():
    data = skimage.data.lfw_subset()  # [200, 25, 25] float in [0, 1]
    images = np.clip(np.rint(data * 255), 0, 255).astype(np.uint8)[..., None]
    noise = np.random.RandomState(0).randint(0, 256, (N, 25, 25, 1)).astype(np.uint8)
    return {
        "faces": images[:N],
        "other_faces": images[N : 2 * N],
        "non_faces": images[100 : 100 + N],
        "noise": noise,
    }


@pytest.fixture(scope="module")
def features(lfw, tmp_path_factory):
    # Reals through real_features (dataset reader path), fakes through fake_features (G path).
    cache_dir = str(tmp_path_factory.mktemp("cache"))
    out = {}
    reals = ArrayDataset(lfw["faces"], name="lfw-faces")
    for name in ("other_faces", "non_faces", "noise"):
        opts = MetricOptions(
            G=BankG(lfw[name]), dataset=reals, cache_dir=cache_dir, batch_size=2, verbose=False
        )
        if "reals" not in out:
            out["reals"] = real_features(opts, N, kind="features")["features"]
        out[name] = fake_features(opts, N)
    return out


def test_fid_orders_faces_non_faces_noise(features):
    fid = {
        k: frechet_distance_from_features(features["reals"], features[k])
        for k in ("other_faces", "non_faces", "noise")
    }
    print(f"FID vs {N} LFW faces:", fid)
    assert 0 < fid["other_faces"] < fid["non_faces"] < fid["noise"], fid


def test_fid_of_a_set_with_itself_is_zero(features, lfw):
    assert abs(frechet_distance_from_features(features["reals"], features["reals"])) < 1e-6
    # The fakes path (float [-1, 1] -> official uint8 conversion) reproduces the reals exactly,
    # so a generator that outputs the real images gets the reals' features (cheap detector).
    detector = MeanColorDetector()
    opts = MetricOptions(G=BankG(lfw["faces"]), verbose=False, detector=detector, batch_size=7)
    expected = detector(lfw["faces"]).astype(np.float32)
    np.testing.assert_array_equal(fake_features(opts, N), expected)


class MeanColorDetector:
    """A cheap 6-d detector (per-image channel mean and std of a 2x2 grid) for pipeline tests."""

    cache_id = "mean-color-test-detector"

    def __init__(self):
        self.calls = 0

    def __call__(self, images):
        self.calls += len(images)
        x = images.astype(np.float64)
        h = x.shape[1] // 2
        quads = [x[:, :h, :h], x[:, :h, h:], x[:, h:, :h], x[:, h:, h:]]
        return np.stack([q.mean(axis=(1, 2, 3)) for q in quads] + [x.std(axis=(1, 2, 3))], 1)


def test_compute_fid_end_to_end_with_cache(lfw, tmp_path):
    detector = MeanColorDetector()
    faces = np.concatenate([lfw["faces"], lfw["other_faces"]])  # 2N reals, the first N used
    reals = ArrayDataset(faces, name="lfw-faces")
    opts = MetricOptions(
        G=BankG(lfw["non_faces"]),
        dataset=reals,
        cache_dir=str(tmp_path),
        batch_size=8,
        verbose=False,
        detector=detector,
    )
    first = compute_fid(opts, N)
    assert detector.calls == 2 * N  # reals + fakes
    expected = frechet_distance_from_features(detector(lfw["faces"]), detector(lfw["non_faces"]))
    assert first["fid"] == pytest.approx(expected, rel=1e-6)
    assert first["num_reals"] == N and first["num_fakes"] == N
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith("-stats-lfw-faces.npz")

    detector.calls = 0
    opts.G = BankG(lfw["non_faces"])
    assert compute_fid(opts, N)["fid"] == pytest.approx(first["fid"], rel=1e-12)
    assert detector.calls == N  # reals came from the cache
    # Other options -> other cache entries (mirror, all reals).
    opts.G, opts.mirror = BankG(lfw["non_faces"]), True
    compute_fid(opts, N)
    opts.G, opts.mirror = BankG(lfw["non_faces"]), False
    full = compute_fid(opts, N, full=True)
    assert full["num_reals"] == 2 * N
    assert len(os.listdir(tmp_path)) == 3


def test_fid_caps_reals_at_dataset_size(lfw):
    opts = MetricOptions(
        G=BankG(lfw["faces"]),
        dataset=ArrayDataset(lfw["faces"][:10]),
        cache_dir=False,
        verbose=False,
        detector=MeanColorDetector(),
    )
    result = compute_fid(opts, 20)
    assert result["num_reals"] == 10 and result["num_fakes"] == 20


def test_to_uint8_is_the_official_conversion():
    x = np.array([-2.0, -1.0, -0.999, -1 / 255, 0.0, 0.5, 0.99607843, 1.0, 3.0], np.float32)
    got = np.asarray(to_uint8_tf(x))
    expected = np.clip(np.floor(x.astype(np.float64) * 127.5 + 127.5 + 0.5), 0, 255)
    np.testing.assert_array_equal(got, expected.astype(np.uint8))
    assert got.dtype == np.uint8
    v = np.arange(256, dtype=np.float32)  # uint8 -> [-1, 1] -> uint8 round trips exactly
    np.testing.assert_array_equal(np.asarray(to_uint8_tf(v / 127.5 - 1)), v)


def test_to_uint8_numpy_and_tf_give_the_same_bytes():
    # One conversion per backend: both must agree everywhere, also on the edges and at infinity.
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-3, 3, 20000), np.arange(-1.01, 1.01, 1 / 8192), [np.inf, -np.inf]]
    ).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(to_uint8_tf(x)), to_uint8(x))


def test_mirror_flips_about_half_of_the_reals(lfw):
    ds = ArrayDataset(lfw["faces"])
    plain = np.concatenate(list(ds.iterate_reals(None, N, 16)))
    mirrored = np.concatenate(list(ds.iterate_reals(None, N, 16, mirror=True)))
    flipped = np.all(mirrored == plain[:, :, ::-1], axis=(1, 2, 3))
    same = np.all(mirrored == plain, axis=(1, 2, 3))
    assert np.all(flipped | same) and 5 < flipped.sum() < N - 5


def test_reals_from_a_dataset_directory(tmp_path):
    # The project's reader (datasets.open_dataset) through a path, with mirroring and caching.
    import datasets

    path = str(tmp_path / "lfw16")
    datasets.create_dataset("builtin:lfw-faces", path, 16, shuffle=False, progress=False, workers=1)
    ds = datasets.open_dataset(path)
    detector = MeanColorDetector()
    G = BankG(np.zeros((4, 16, 16, 1), np.uint8))
    opts = MetricOptions(
        G=G, dataset=path, cache_dir=str(tmp_path / "cache"), verbose=False, detector=detector
    )
    stats = real_features(opts, 50, kind="features")
    first50 = np.concatenate(list(ds.iterate_reals(16, 50, 50)))
    np.testing.assert_array_equal(stats["features"], detector(first50).astype(np.float32))
    assert detector.calls == 100
    real_features(opts, 50, kind="features")
    assert detector.calls == 100  # cached under the dataset path
    opts.mirror = True
    mirrored = real_features(opts, 50, kind="features")["features"]
    assert detector.calls == 150 and not np.array_equal(mirrored, stats["features"])
    assert len(os.listdir(tmp_path / "cache")) == 2


def test_fakes_from_a_keras_generator(tiny_generator):
    G = tiny_generator()
    opts = MetricOptions(G=G, batch_size=4, seed=1, verbose=False)
    batches = list(iterate_fakes(opts, 10))
    assert [b.shape for b in batches] == [(4, 16, 16, 3), (4, 16, 16, 3), (2, 16, 16, 3)]
    assert all(b.dtype == np.uint8 for b in batches)
    # Same latents as iterate_fakes draws (seed 1), constant noise: the official conversion.
    z = np.random.default_rng(1).standard_normal([4, G.z_dim]).astype(np.float32)
    expected = np.asarray(to_uint8_tf(G(z, noise_mode="none")))
    opts_none = MetricOptions(G=_NoNoise(G), batch_size=4, seed=1, verbose=False)
    np.testing.assert_array_equal(next(iterate_fakes(opts_none, 4)), expected)


class _NoNoise:
    """Wraps a generator so that the metric's noise_mode='random' call runs without noise."""

    def __init__(self, G):
        self.G = G
        self.z_dim, self.c_dim, self.img_resolution = G.z_dim, G.c_dim, G.img_resolution

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="random"):
        return self.G(z, c, truncation_psi=truncation_psi, noise_mode="none")
