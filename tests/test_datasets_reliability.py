"""Trusted data and a tool that cleans up after itself (issue 10, items 4, 8, 9).

1. A shard cut at a record boundary, or inside a record, is refused on open with one line naming
   it (manifest: byte sizes; official layout: framing, shapes and record counts), also by
   ``run_training.py``.
2. ``verify=True`` / ``--verify-data`` checks sha256 sums (official layout: record checksums).
3. A read error while training names the damaged shard, as one line from ``run_training.py``.
4. SIGTERM of ``dataset_tool create`` removes its temporary folder; a second create into the
   same ``--dest`` is refused naming the first one's PID; SIGKILL leftovers are removed by the
   next run with a message.
5. One-line errors for unwritable ``--dest`` and a damaged manifest.
6. Conversions of alpha and 16-bit images never allocate float64 copies of the image.
7. Records are serialized deterministically (the same bytes in every process).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import datasets
import run_training
from datasets import imaging
from datasets.dataset_tool import create_dataset, main
from tests.dataset_helpers import ROOT, error_lines, rng_image, run_tool, write_official_dataset

N = 12


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tool-made dataset (3 shards per resolution, 8x8 RGB) and its manifest."""
    root = tmp_path_factory.mktemp("made")
    np.save(root / "x.npy", rng_image(0, N * 8, 8, 3).reshape(N, 8, 8, 3))
    dest = root / "ds"
    manifest = create_dataset(str(root / "x.npy"), str(dest), 8, shards=3, progress=False)
    return dest, manifest


def _copy(src, dst):
    os.makedirs(dst)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
            g.write(f.read())
    return dst


def _record_size(path):
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0] + 16


def _cut(path, kind):
    data = open(path, "rb").read()
    keep = len(data) - _record_size(path) if kind == "boundary" else len(data) - 5
    with open(path, "wb") as f:
        f.write(data[:keep])


def _flip(path, offset=None):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2 if offset is None else offset] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))


def _one_line(stderr, *needles):
    lines = error_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# 1. Cut shards -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["boundary", "inside"])
def test_cut_shard_is_refused_on_open_naming_it(made, tmp_path, kind, capsys):
    src, manifest = made
    ds = _copy(src, tmp_path / "ds")
    shard = str(ds / manifest["shards"]["8"]["shards"][1]["file"])
    _cut(shard, kind)
    with pytest.raises(datasets.DatasetError, match="bytes, the manifest says") as e:
        datasets.open_dataset(ds)
    assert e.value.subject == shard
    # run_training refuses it before anything is written (the check runs on --dry-run too).
    outdir = tmp_path / "run"
    args = ["--data", str(ds), "--preset", "tiny", "--resolution", "8", "--dry-run"]
    assert run_training.main([*args, "--outdir", str(outdir)]) == 2
    _one_line(capsys.readouterr().err, shard, "bytes")
    assert not outdir.exists()


@pytest.mark.parametrize("kind", ["boundary", "inside"])
def test_official_layout_cut_file_is_refused_naming_it(tmp_path, kind):
    images = rng_image(1, 5 * 16, 16, 3).reshape(5, 16, 16, 3)
    write_official_dataset(str(tmp_path / "cars"), images)
    assert datasets.open_dataset(tmp_path / "cars").num_images == 5  # control
    top = str(tmp_path / "cars" / "cars-r04.tfrecords")
    _cut(top, kind)
    want = "other resolutions hold 5" if kind == "boundary" else "ends inside record 4"
    with pytest.raises(datasets.DatasetError, match=want) as e:
        datasets.open_dataset(tmp_path / "cars")
    assert e.value.subject == top


def test_official_layout_records_of_the_wrong_size_are_refused(tmp_path):
    write_official_dataset(str(tmp_path / "d"), rng_image(2, 3 * 8, 8, 1).reshape(3, 8, 8, 1))
    write_official_dataset(str(tmp_path / "e"), rng_image(3, 3 * 16, 16, 1).reshape(3, 16, 16, 1))
    path, other = str(tmp_path / "d" / "d-r03.tfrecords"), str(tmp_path / "e" / "e-r04.tfrecords")
    with open(path, "rb") as f, open(other, "rb") as g:
        data, extra = f.read(), g.read()[: _record_size(other)]
    with open(path, "wb") as f:  # a 16x16 record appended to the 8x8 file
        f.write(data + extra)
    want = (
        f"record 3 holds {_record_size(other) - 16} bytes, record 0 holds {_record_size(path) - 16}"
    )
    with pytest.raises(datasets.DatasetError, match=want) as e:
        datasets.open_dataset(tmp_path / "d")
    assert e.value.subject == path


# 2. Checksums --------------------------------------------------------------------------------


def test_verify_checks_sha256_and_official_record_checksums(made, tmp_path, capsys):
    src, manifest = made
    ds = _copy(src, tmp_path / "ds")
    shard = str(ds / manifest["shards"]["4"]["shards"][2]["file"])
    _flip(shard)
    datasets.open_dataset(ds)  # same size: the cheap check passes
    with pytest.raises(datasets.DatasetError, match="sha256 differs") as e:
        datasets.open_dataset(ds, verify=True)
    assert e.value.subject == shard
    args = ["--data", str(ds), "--preset", "tiny", "--resolution", "8", "--dry-run"]
    assert run_training.main([*args, "--outdir", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert run_training.main([*args, "--outdir", str(tmp_path / "r"), "--verify-data"]) == 2
    _one_line(capsys.readouterr().err, shard, "sha256")

    write_official_dataset(str(tmp_path / "off"), rng_image(4, 4 * 8, 8, 3).reshape(4, 8, 8, 3))
    top = str(tmp_path / "off" / "off-r03.tfrecords")
    _flip(top, offset=_record_size(top) + 40)  # inside record 1's data
    datasets.open_dataset(tmp_path / "off")
    with pytest.raises(datasets.DatasetError, match="record 1 is damaged") as e:
        datasets.open_dataset(tmp_path / "off", verify=True)
    assert e.value.subject == top
    assert main(["info", str(tmp_path / "off"), "--verify"]) == 1
    _one_line(capsys.readouterr().err, top, "damaged")


# 3. Read errors while training ----------------------------------------------------------------


def test_read_error_while_iterating_names_the_shard(made, tmp_path):
    src, manifest = made
    ds_path = _copy(src, tmp_path / "ds")
    shard = str(ds_path / manifest["shards"]["8"]["shards"][1]["file"])
    ds = datasets.open_dataset(ds_path)
    _flip(shard)  # damaged after opening (a flaky disk)
    it = iter(ds.make_dataset(8, 4, shuffle=False, repeat=False))
    with pytest.raises(datasets.DatasetError, match="is damaged") as e:
        for _ in range(N):
            ds.next_batch(it, 8)
    assert e.value.subject == shard


def test_run_training_names_a_shard_damaged_during_training(tmp_path):
    # A real run (tiny preset, 16^2): the first batch read hits the damaged record.
    np.save(tmp_path / "x.npy", rng_image(5, 8 * 16, 16, 3).reshape(8, 16, 16, 3))
    manifest = create_dataset(str(tmp_path / "x.npy"), str(tmp_path / "ds"), 16, progress=False)
    shard = str(tmp_path / "ds" / manifest["shards"]["16"]["shards"][0]["file"])
    _flip(shard, offset=_record_size(shard) * 3 + 100)  # record 3's pixels, size unchanged
    proc = subprocess.run(
        [sys.executable, "run_training.py", "--data", str(tmp_path / "ds"), "--preset", "tiny",
         "--outdir", str(tmp_path / "run"), "--kimg", "0.1", "--no-export"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    _one_line(proc.stderr, shard, "record 3 is damaged")


# 4. The dataset tool: SIGTERM, lock, SIGKILL leftovers -----------------------------------------


def _blocking_source(tmp_path):
    """A folder whose only image is a FIFO: the tool blocks reading it, with its temporary
    folder in place, until the test lets it go."""
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "a.png")
    return src


def _start_blocked(src, dest):
    proc = subprocess.Popen(
        [sys.executable, "-m", "datasets.dataset_tool", "create", "--source", str(src),
         "--dest", str(dest), "--resolution", "8", "--channels", "3", "--workers", "1"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    fifo = str(src / "a.png")
    deadline = time.monotonic() + 120
    while True:  # opening the FIFO's write end succeeds once the tool has it open for reading
        assert proc.poll() is None, proc.communicate()
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline, "the tool never opened the image"
            time.sleep(0.1)
    return proc, writer  # keep ``writer`` open: the tool now blocks reading the image


def _temps(parent):
    return sorted(p for p in os.listdir(parent) if ".tmp-" in p)


def test_sigterm_removes_the_temporary_folder_and_dest_is_locked(tmp_path):
    dest = tmp_path / "out" / "ds"
    proc, writer = _start_blocked(_blocking_source(tmp_path), dest)
    try:
        assert len(_temps(tmp_path / "out")) == 1
        other = tmp_path / "other"
        other.mkdir()
        Image.fromarray(rng_image(0, 8, 8, 3)).save(other / "b.png")
        second = run_tool(
            "create", "--source", str(other), "--dest", str(dest), "--resolution", "8"
        )
        assert second.returncode == 2, second.stderr
        _one_line(second.stderr, "--dest", str(dest), f"PID {proc.pid}")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    _one_line(stderr, "SIGTERM")
    assert not (tmp_path / "out").exists()  # the folder it created, its lock file, its temp: gone


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path, capsys):
    src = _blocking_source(tmp_path)
    dest = tmp_path / "ds"
    proc, writer = _start_blocked(src, dest)
    proc.kill()
    proc.communicate(timeout=60)
    os.close(writer)
    left = _temps(tmp_path)
    assert len(left) == 1 and f"-{proc.pid}-" in left[0]
    os.remove(src / "a.png")
    Image.fromarray(rng_image(1, 8, 8, 3)).save(src / "a.png")
    assert main(["create", "--source", str(src), "--dest", str(dest), "--resolution", "8"]) == 0
    assert f"removed {tmp_path / left[0]}, left behind by process {proc.pid}" in (
        capsys.readouterr().err
    )
    assert _temps(tmp_path) == [] and (dest / "dataset.json").is_file()


# 5. One-line errors for paths ------------------------------------------------------------------


def test_unwritable_dest_and_damaged_manifest_are_one_line(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8), np.uint8))
    (tmp_path / "afile").write_text("not a folder")
    dest = tmp_path / "afile" / "sub" / "ds"
    args = ["create", "--source", str(tmp_path / "x.npy"), "--dest", str(dest), "--resolution", "8"]
    assert main(args) == 2
    _one_line(capsys.readouterr().err, "--dest", str(dest))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "dataset.json").write_text("{not json")
    for cmd in (["info", str(tmp_path / "bad")], ["info", str(tmp_path / "bad"), "--verify"]):
        assert main(cmd) == 1
        _one_line(capsys.readouterr().err, str(tmp_path / "bad" / "dataset.json"), "manifest")


# 6. Memory-lean conversion ---------------------------------------------------------------------


def test_exact_integer_forms_of_the_conversion_rules():
    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([c, c, c, a], -1).astype(np.uint8)  # every (colour, alpha) pair
    want = np.rint(c.astype(np.float64) * a / 255.0).astype(np.uint8)
    got = imaging.to_uint8(Image.fromarray(rgba), 3)
    np.testing.assert_array_equal(got, np.repeat(want[..., None], 3, -1))
    v = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # every 16-bit value
    want = np.rint(v / 257.0).astype(np.uint8)[..., None]
    np.testing.assert_array_equal(imaging.to_uint8(Image.fromarray(v), 1), want)
    np.testing.assert_array_equal(np.asarray(imaging.array_to_image(v))[..., None], want)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "I;16", "uint16 array"])
def test_conversion_allocates_no_float_copy_of_the_image(mode):
    rng = np.random.RandomState(0)
    if mode == "uint16 array":
        data = rng.randint(0, 65536, (1000, 1000, 3)).astype(np.uint16)
        convert = imaging.array_to_image
        out_bytes = data.size
    else:
        shape = {"RGBA": (1000, 1000, 4), "LA": (1000, 1000, 2), "I;16": (1000, 1000)}[mode]
        dtype = np.uint16 if mode == "I;16" else np.uint8
        data = Image.fromarray(
            rng.randint(0, 256 if dtype == np.uint8 else 65536, shape).astype(dtype)
        )
        data = data.convert("LA") if mode == "LA" else data
        convert = lambda img: imaging.to_uint8(img, 3 if mode != "I;16" else 1)  # noqa: E731
        out_bytes = 1000 * 1000 * (3 if mode != "I;16" else 1)
    tracemalloc.start()
    try:
        convert(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The output plus blocks of rows; the float64 version peaked at 6-24x the output.
    assert peak < 3 * out_bytes, peak / out_bytes


# 7. Deterministic records ----------------------------------------------------------------------


def test_records_are_serialized_deterministically(made):
    import tensorflow as tf

    src, manifest = made
    for entry in manifest["shards"]["8"]["shards"]:
        for record in tf.data.TFRecordDataset(str(src / entry["file"])):
            data = record.numpy()
            example = tf.train.Example.FromString(data)
            assert data == example.SerializeToString(deterministic=True)
            assert data.index(b"data") < data.index(b"shape")  # feature names in sorted order
    assert json.loads((src / "dataset.json").read_text())["num_images"] == N
