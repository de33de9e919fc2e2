"""Tests of ``datasets.reader``: official and own layouts, pipelines, sharding, distribution."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import datasets
from datasets.dataset_tool import create_dataset
from datasets.errors import DatasetError
from tests.dataset_helpers import (
    id_images,
    image_ids,
    official_pyramid,
    read_resolution,
    rng_image,
    write_official_dataset,
)

N = 40  # id images in the shared datasets
CLASSES = 5


def _collect(ds):
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("official") / "faces")
    images = rng_image(0, 10 * 16, 16, 3).reshape(10, 16, 16, 3)
    labels = np.random.RandomState(1).randn(10, 4).astype(np.float32)
    write_official_dataset(folder, images, labels)
    return folder, images, labels


@pytest.fixture(scope="module")
def id_sets(tmp_path_factory):
    """The same N id images with class labels (id % 5): raw in 3 shards, raw in 1, png in 2."""
    root = tmp_path_factory.mktemp("ids")
    np.savez(root / "ids.npz", images=id_images(N, 16, 1), labels=np.arange(N) % CLASSES)
    out = {}
    for key, kw in {
        "raw3": dict(shards=3),
        "raw1": dict(shards=1),
        "png2": dict(shards=2, encoding="png"),
    }.items():
        create_dataset(str(root / "ids.npz"), str(root / key), 16, progress=False, **kw)
        out[key] = datasets.open_dataset(str(root / key))
    return out


def test_official_layout_is_read_with_the_same_pixels_and_labels(official):
    folder, images, labels = official
    ds = datasets.open_dataset(folder)
    assert (ds.resolution, ds.resolutions, ds.channels, ds.num_images) == (16, [4, 8, 16], 3, 10)
    assert (ds.label_dim, ds.encoding, ds.path, ds.name) == (4, "raw", folder, "faces")
    pyramids = [official_pyramid(img) for img in images]
    for res in ds.resolutions:
        got, got_labels = _collect(
            ds.make_dataset(res, 4, shuffle=False, repeat=False, drop_remainder=False)
        )
        assert got.dtype == np.uint8 and got.shape == (10, res, res, 3)
        np.testing.assert_array_equal(got, np.stack([p[res] for p in pyramids]))
        np.testing.assert_array_equal(got_labels, labels)
    batches = list(ds.iterate_reals(16, 7, 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), images[:7])


def test_official_layout_without_labels_gives_empty_label_batches(tmp_path):
    images = rng_image(2, 6 * 8, 8, 1).reshape(6, 8, 8, 1)
    write_official_dataset(str(tmp_path / "g"), images)
    ds = datasets.open_dataset(tmp_path / "g")
    assert ds.channels == 1 and ds.label_dim == 0
    x, y = next(iter(ds.make_dataset(8, 4, shuffle=False)))
    assert x.shape == (4, 8, 8, 1) and y.shape == (4, 0) and y.dtype == tf.float32
    np.testing.assert_array_equal(x.numpy(), images[:4])


def test_not_a_dataset_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}: not a dataset"):
        datasets.open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="nowhere: no such dataset folder"):
        datasets.open_dataset(tmp_path / "nowhere")


def test_own_layouts_match_the_written_records(id_sets):
    want = id_images(N, 16, 1)
    for key, ds in id_sets.items():
        assert ds.num_images == N and ds.label_dim == CLASSES and ds.resolutions == [4, 8, 16]
        assert ds.encoding == ("png" if key.startswith("png") else "raw")
        for res in (4, 16):
            got, labels = _collect(ds.make_dataset(res, 8, shuffle=False, repeat=False))
            np.testing.assert_array_equal(got, read_resolution(ds.path, ds.manifest, res))
            ids, flipped = image_ids(got)
            assert not flipped.any()
            np.testing.assert_array_equal(labels.argmax(1), ids % CLASSES)
        np.testing.assert_array_equal(np.concatenate(list(ds.iterate_reals(16, N, 16))), got)
        assert sorted(image_ids(got)[0]) == list(range(N))
        assert np.array_equal(got[image_ids(got)[0].argsort()], want)


def test_raw_decodes_the_same_one_by_one_and_batched(official, monkeypatch):
    from datasets import reader

    ds = datasets.open_dataset(official[0])
    batched = _collect(ds.make_dataset(16, 4, shuffle=False, repeat=False))
    monkeypatch.setattr(reader, "PER_RECORD_DECODE_FROM", 8)  # the large-RGB path at 16x16
    assert ds._per_record(16) and not ds._per_record(4)
    one_by_one = _collect(ds.make_dataset(16, 4, shuffle=False, repeat=False))
    np.testing.assert_array_equal(one_by_one[0], batched[0])
    np.testing.assert_array_equal(one_by_one[1], batched[1])
    np.testing.assert_array_equal(batched[0], official[1][:8])
    reals = np.concatenate(list(ds.iterate_reals(16, 10, 4)))
    np.testing.assert_array_equal(reals, official[1])


def test_shuffle_is_seeded_per_epoch_and_keeps_labels_aligned(id_sets):
    ds = id_sets["raw3"]

    def epochs(seed):
        it = iter(ds.make_dataset(16, 8, shuffle=True, repeat=True, seed=seed))
        out = []
        for _ in range(2):
            x = np.concatenate([next(it)[0].numpy() for _ in range(N // 8)])
            out.append(image_ids(x)[0])
        return out

    a, b = epochs(1), epochs(1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for epoch in a:
        assert sorted(epoch) == list(range(N))  # every image exactly once per epoch
    assert not np.array_equal(a[0], a[1])  # reshuffled
    assert not np.array_equal(a[0], epochs(2)[0])
    assert not np.array_equal(a[0], np.arange(N))
    for x, y in ds.make_dataset(16, 8, shuffle=True, seed=3).take(10):
        np.testing.assert_array_equal(y.numpy().argmax(1), image_ids(x.numpy())[0] % CLASSES)


def test_mirror_flips_whole_images_at_random_with_a_seed(id_sets):
    ds = id_sets["raw1"]
    want = id_images(N, 16, 1)

    def flips(seed):
        x, _ = _collect(ds.make_dataset(16, 8, shuffle=False, repeat=False, mirror=True, seed=seed))
        ids, flipped = image_ids(x)
        for img, i, f in zip(x, ids, flipped):
            np.testing.assert_array_equal(img, want[i][:, ::-1] if f else want[i])
        return flipped

    f1 = flips(5)
    assert 0.2 < f1.mean() < 0.8
    np.testing.assert_array_equal(f1, flips(5))
    assert not np.array_equal(f1, flips(6))
    reals = np.concatenate(list(ds.iterate_reals(16, 30, 8, mirror=True, seed=3)))
    ids, flipped = image_ids(reals)
    np.testing.assert_array_equal(flipped, np.random.RandomState(3).rand(30) < 0.5)
    np.testing.assert_array_equal(
        ids, image_ids(np.stack(read_resolution(ds.path, ds.manifest, 16)))[0][:30]
    )


def test_batches_remainder_and_argument_errors(id_sets):
    ds = id_sets["raw3"]
    sizes = [
        len(x) for x, _ in ds.make_dataset(4, 16, shuffle=False, repeat=False, drop_remainder=False)
    ]
    assert sizes == [16, 16, 8]
    sizes = [len(x) for x, _ in ds.make_dataset(4, 16, shuffle=False, repeat=False)]
    assert sizes == [16, 16]
    with pytest.raises(ValueError, match="resolution must be one of"):
        ds.make_dataset(32, 4)
    with pytest.raises(ValueError, match="batch_size"):
        ds.make_dataset(16, 0)
    with pytest.raises(ValueError, match="num must be"):
        ds.iterate_reals(16, N + 1)
    assert ds.default_shuffle_buffer(16) == N
