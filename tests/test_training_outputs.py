"""A short run through the command line, then everything it leaves behind: training_options.json,
stats.jsonl, TensorBoard scalars and images, PNG grids, .keras snapshots, checkpoints, and
stylegan_tf.loading.load_generator on each of them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from training_helpers import ROOT, env_for_child, make_dataset

from stylegan_tf.config import Config

TAGS = [
    "Loss/G", "Loss/D", "Loss/R1", "Progress/resolution", "Progress/alpha", "Progress/kimg",
    "Timing/sec_per_kimg", "Timing/img_per_sec", "LR/G", "LR/D", "Resources/peak_memory_mb",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("outputs")
    data = make_dataset(base / "tiny16", res=16, channels=3, num=64)
    outdir = base / "run"
    cmd = [
        sys.executable, os.path.join(ROOT, "run_training.py"), "--data", data, "--preset", "tiny",
        "--kimg", "0.45", "--snapshot-ticks", "2", "--seed", "3", "--outdir", str(outdir),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env_for_child(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return {"dir": str(outdir), "stdout": proc.stdout, "data": data}


def test_training_options_json_holds_the_resolved_config(run):
    with open(os.path.join(run["dir"], "training_options.json")) as f:
        opts = json.load(f)
    cfg = Config.from_dict(opts["config"])
    assert cfg.G.img_resolution == 16 and cfg.training.seed == 3
    assert cfg.schedule.total_kimg == 0.45
    assert opts["options"]["preset"] == "tiny" and opts["options"]["data"] == run["data"]


def test_progress_lines_and_stats_jsonl(run):
    lines = [x for x in run["stdout"].splitlines() if x.startswith("tick ")]
    assert len(lines) >= 3
    for word in ("kimg", "res", "alpha", "G ", "D ", "R1", "img/s", "sec/kimg", "ETA"):
        assert word in lines[-1]
    with open(os.path.join(run["dir"], "stats.jsonl")) as f:
        stats = [json.loads(x) for x in f]
    assert [s["tick"] for s in stats] == list(range(1, len(stats) + 1))
    assert stats[-1]["kimg"] >= 0.45
    assert stats[0]["Progress/resolution"] < 16 and stats[-1]["Progress/resolution"] == 16
    assert all(np.isfinite(s["Loss/D"]) for s in stats)
    # Speed counts training only: the compile time of a new stage is logged on its own and left
    # out of sec/kimg and img/s (tick 1 compiles the 4^2 and 8^2 steps).
    assert stats[0]["Timing/compile_sec"] > 0
    for s in stats:
        kimg = s["kimg"] - (stats[s["tick"] - 2]["kimg"] if s["tick"] > 1 else 0)
        train = s["Timing/sec_per_tick"] - s["Timing/compile_sec"]
        assert s["Timing/sec_per_kimg"] == pytest.approx(train / kimg, rel=1e-9)
        assert s["Timing/img_per_sec"] == pytest.approx(kimg * 1000 / train, rel=1e-9)


def test_tensorboard_events_hold_scalars_and_images(run):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        run["dir"], size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0}
    )
    acc.Reload()
    tags = acc.Tags()
    found = set(tags["tensors"]) | set(tags["scalars"])
    missing = [t for t in TAGS if t not in found]
    assert not missing, (missing, sorted(found))
    images = set(tags["tensors"]) | set(tags["images"])
    assert "Images/fakes" in images and "Images/reals" in images
    kimg = [e.step for e in acc.Tensors("Progress/kimg")]
    assert len(kimg) >= 3 and kimg == sorted(kimg)
    fakes = acc.Tensors("Images/fakes")
    assert len(fakes) >= 4  # the initial grid + one per tick


def test_png_grids_snapshots_and_checkpoints(run):
    names = os.listdir(run["dir"])
    with open(os.path.join(run["dir"], "stats.jsonl")) as f:
        nimg = [round(json.loads(x)["kimg"] * 1000) for x in f]
    # Every tick of this run (0.2 kimg, 0.45 in all) ends within the first kimg: each still has
    # its own grid, named by the images seen, and the names sort in training order.
    assert len(nimg) == 3 and nimg[-1] < 1000
    grids = sorted(n for n in names if n.startswith("fakes"))
    assert grids == ["fakes000000.000.png"] + [f"fakes000000.{n:03d}.png" for n in nimg]
    snaps = sorted(n for n in names if n.startswith("network-snapshot-") and n.endswith(".keras"))
    # Snapshots at tick 1, every 2 ticks, and at the end.
    assert snaps == [f"network-snapshot-000000.{n:03d}.keras" for n in nimg]
    hidden = [n for n in names if n.startswith(".")]
    assert "reals.png" in names and hidden == [".stylegan_tf.lock"]  # the lock; no temp files
    ckpts = os.listdir(os.path.join(run["dir"], "checkpoints"))
    assert "checkpoint" in ckpts and any(n.endswith(".index") for n in ckpts)
    from PIL import Image

    with Image.open(os.path.join(run["dir"], "reals.png")) as im:
        assert im.size[0] % 16 == 0 and im.size[0] >= 16 * 7


def test_load_generator_from_snapshot_run_dir_and_checkpoint(run):
    from stylegan_tf.loading import load_generator

    snaps = sorted(n for n in os.listdir(run["dir"]) if n.endswith(".keras"))
    from_snapshot = load_generator(os.path.join(run["dir"], snaps[-1]))
    from_run = load_generator(run["dir"])
    ckpt_dir = os.path.join(run["dir"], "checkpoints")
    from_ckpt = load_generator(ckpt_dir)
    g_raw = load_generator(ckpt_dir, which="G")
    z = np.random.RandomState(0).randn(2, from_run.z_dim).astype(np.float32)
    out = [
        np.asarray(G(z, noise_mode="const")) for G in (from_snapshot, from_run, from_ckpt, g_raw)
    ]
    assert out[0].shape == (2, 16, 16, 3)
    # The final snapshot and the final checkpoint hold the same G_ema; G is a different network.
    np.testing.assert_allclose(out[0], out[1])
    np.testing.assert_allclose(out[1], out[2], rtol=1e-5, atol=1e-5)
    assert not np.allclose(out[2], out[3])
    with pytest.raises(FileNotFoundError):
        load_generator(os.path.join(run["dir"], "nothing-here"))


def test_saved_model_of_g_ema(run):
    path = os.path.join(run["dir"], "saved_model")
    if not os.path.isdir(path):
        pytest.skip(
            "stylegan_tf.export is not importable in this checkout: " + run["stdout"][-300:]
        )
    import tensorflow as tf

    model = tf.saved_model.load(path)
    assert "serving_default" in model.signatures


def test_metrics_at_snapshots_are_logged(tmp_path, monkeypatch):
    # The loop calls metrics.compute_metrics(G, dataset, [name], ...) once per metric at each
    # network snapshot and logs metric-<name>.jsonl and TensorBoard Metrics/<result>.
    import metrics
    from training import outputs
    from training.loop import _run_metrics

    calls = []

    def fake_compute(G, dataset, names, **kw):
        calls.append((names, kw["mirror"], kw["num_gpus"], kw["snapshot"]))
        return {"results": {names[0]: 12.5}, "metrics": names, "total_time": 0.1}

    monkeypatch.setattr(metrics, "compute_metrics", fake_compute)
    log = outputs.RunLog(str(tmp_path), print_fn=lambda *a, **k: None)
    snap = str(tmp_path / "network-snapshot-000012.keras")
    _run_metrics(("fid1k", "kid1k"), snap, object(), object(), log, 12_000, lambda *a: None,
                 mirror=True, num_gpus=2)  # fmt: skip
    log.close()
    assert [c[0] for c in calls] == [["fid1k"], ["kid1k"]]
    assert calls[0][1:] == (True, 2, snap)
    rec = json.loads(open(tmp_path / "metric-fid1k.jsonl").read())
    assert rec["results"] == {"fid1k": 12.5} and rec["kimg"] == 12.0
    assert rec["snapshot"] == "network-snapshot-000012.keras"
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    assert "Metrics/fid1k" in acc.Tags()["tensors"] and "Metrics/kid1k" in acc.Tags()["tensors"]
