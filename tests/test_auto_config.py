"""``--preset auto`` (stylegan_tf.config.auto_config and run_training.py --data without
--preset) and 1-channel networks, as the official code's ``num_channels=1``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from training_helpers import ROOT, env_for_child, make_dataset

import run_training
from stylegan_tf.config import MINIBATCH_BY_GPUS, auto_config, auto_minibatch_table, channels

# Official train.py (NVlabs/stylegan train.py L46-49): minibatch tables per GPU count, written
# out here independently of stylegan_tf.config.
OFFICIAL_MINIBATCH = {
    1: (4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    2: (8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    4: (16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    8: (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
}
OFFICIAL_LR = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}  # train.py L52, base 0.001


def test_gpu_config_is_the_paper_configuration():
    cfg, rows = auto_config(1024, 3, 0, replicas=8, gpu=True)
    assert (cfg.G.channel_base, cfg.G.channel_max, cfg.G.z_dim, cfg.G.w_dim) == (
        16384,
        512,
        512,
        512,
    )
    # official nf(stage) = min(8192 / 2**stage, 512) at the layers of resolution 2**(stage+1)
    for stage in range(1, 10):
        res = 2 ** (stage + 1)
        assert channels(res, cfg.G.channel_base, cfg.G.channel_max) == min(8192 // 2**stage, 512)
    assert cfg.G.mapping_layers == 8 and cfg.G.c_dim == 0 and cfg.G.img_channels == 3
    s = cfg.schedule
    assert (s.minibatch_base, s.minibatch_dict) == OFFICIAL_MINIBATCH[8]
    assert (s.lr_base, s.lr_dict) == (0.001, OFFICIAL_LR)
    assert (s.initial_resolution, s.total_kimg) == (8, 25000.0)
    assert (s.lod_training_kimg, s.lod_transition_kimg) == (600.0, 600.0)
    assert s.tick_kimg_dict[1024] == 20 and s.tick_kimg_dict[4] == 160
    assert cfg.training.g_smoothing_kimg == 10.0 and cfg.training.r1_gamma == 10.0
    assert {r[0] for r in rows} >= {"channels", "labels", "minibatch", "learning rate"}


@pytest.mark.parametrize("replicas", [1, 2, 4, 8])
def test_official_minibatch_table_per_replica_count(replicas):
    base, table, why = auto_minibatch_table(replicas)
    assert (base, table) == OFFICIAL_MINIBATCH[replicas] and "official" in why
    assert MINIBATCH_BY_GPUS[replicas] == OFFICIAL_MINIBATCH[replicas]


def test_other_replica_counts_scale_the_next_smaller_table():
    # 3 replicas: the official 2-GPU table x 3/2, multiples of 3 x 4 (whole mbstd groups)
    base, table, why = auto_minibatch_table(3)
    assert base == 12 and "2-GPU" in why
    assert table == {4: 384, 8: 384, 16: 192, 32: 96, 64: 48, 128: 24, 256: 12}
    base, table, _ = auto_minibatch_table(16)  # the 8-GPU table x 2
    assert base == 64 and table == {4: 1024, 8: 512, 16: 256, 32: 128, 64: 64}


def test_cpu_short_run_labels_and_grayscale():
    cfg, rows = auto_config(64, 1, 5, replicas=1, gpu=False, total_kimg=20)
    assert cfg.G.img_channels == cfg.D.img_channels == 1
    assert cfg.G.c_dim == cfg.D.c_dim == 5  # conditional because the dataset has labels
    assert cfg.G.channel_max < 512 and cfg.G.channel_base < 16384  # narrower on a CPU
    table = dict((r[0], r) for r in rows)
    assert "CPU" in table["channel_base / max"][2]
    # 3 growth phases 8 -> 64: every stable phase and fade-in 20 / 12 kimg, so the full
    # resolution is reached at 10 kimg, half the run
    s = cfg.schedule
    assert s.lod_training_kimg == s.lod_transition_kimg == pytest.approx(20 / 12)
    assert max(s.tick_kimg_dict.values()) <= 2.0 and cfg.training.g_smoothing_kimg == 2.0
    assert (s.minibatch_base, s.minibatch_dict) == OFFICIAL_MINIBATCH[1]
    default, _ = auto_config(64, 3, 0, gpu=False)
    assert default.schedule.total_kimg < 25000  # a CPU run without --kimg is not 25,000 kimg
    tiny, _ = auto_config(4, 3, 0)
    assert tiny.schedule.initial_resolution == 4


def test_auto_config_rejects_bad_dataset_properties():
    with pytest.raises(ValueError, match="img_channels"):
        auto_config(64, 2, 0)
    with pytest.raises(ValueError, match="resolution"):
        auto_config(48, 3, 0)


def test_one_channel_networks_have_official_shapes():
    """num_channels=1: ToRGB outputs 1 channel, FromRGB reads 1 (official weight shapes)."""
    from networks import Discriminator, Generator
    from networks.official import export_official_weights

    cfg, _ = auto_config(16, 1, 0, gpu=False, total_kimg=1)
    G, D = Generator.from_gconfig(cfg.G), Discriminator.from_dconfig(cfg.D)
    z = np.random.RandomState(0).randn(4, cfg.G.z_dim).astype("float32")
    img = np.asarray(G(z))
    assert img.shape == (4, 16, 16, 1) and np.isfinite(img).all()
    assert np.asarray(D(img)).shape == (4, 1)
    g_names = export_official_weights(G)
    d_names = export_official_weights(D)
    to_rgb = [v.shape for k, v in g_names.items() if "ToRGB" in k and k.endswith("weight")]
    from_rgb = [v.shape for k, v in d_names.items() if "FromRGB" in k and k.endswith("weight")]
    assert to_rgb and all(s[-1] == 1 for s in to_rgb)
    assert from_rgb and all(s[-2] == 1 for s in from_rgb)


def test_auto_without_data_is_a_usage_error(capsys, tmp_path):
    assert run_training.main(["--preset", "auto", "--outdir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --preset auto needs --data (it reads the dataset)"]


def test_dry_run_without_preset_uses_auto(tmp_path, capsys):
    data = make_dataset(tmp_path / "gray16", res=16, channels=1, num=8, labels=True)
    assert run_training.main(["--data", data, "--kimg", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "automatic configuration" in out and "(grayscale)" in out
    resolved = json.loads(out[out.index("{") : out.index("schedule (")])
    assert resolved["options"]["preset"] == "auto"
    assert resolved["config"]["G"]["img_channels"] == 1
    assert resolved["config"]["G"]["c_dim"] == 3  # 3 classes in make_dataset's labels
    rows = {r[0]: r for r in resolved["options"]["auto"]}
    assert rows["total kimg"][1:] == ["2", "--kimg"]
    # explicit flags still override the automatic choices
    assert run_training.main(["--data", data, "--batch", "8", "--dry-run"]) == 0
    resolved = json.loads((o := capsys.readouterr().out)[o.index("{") : o.index("schedule (")])
    assert resolved["config"]["schedule"]["minibatch_dict"] == {}
    assert resolved["config"]["schedule"]["minibatch_base"] == 8


def test_rerun_of_an_auto_run_keeps_its_configuration(tmp_path, capsys):
    """Resuming (--resume auto, checkpoints present) keeps the config the run started with,
    even if this machine would choose another one; --kimg still extends it."""
    data = make_dataset(tmp_path / "rgb8", res=8, channels=3, num=8)
    started, rows = auto_config(8, 3, 0, replicas=1, gpu=True, total_kimg=5)  # a GPU's widths
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    options = {"preset": "auto", "auto": [list(r) for r in rows]}
    (run / "training_options.json").write_text(
        json.dumps({"config": started.to_dict(), "options": options})
    )
    argv = ["--data", data, "--outdir", str(run), "--kimg", "7", "--dry-run"]
    assert run_training.main(argv) == 0
    out = capsys.readouterr().out
    resolved = json.loads(out[out.index("{") : out.index("schedule (")])["config"]
    assert resolved["G"] == started.to_dict()["G"] and resolved["D"] == started.to_dict()["D"]
    assert resolved["schedule"]["total_kimg"] == 7.0 and "(resumed)" in out


def _lfw_jpeg_folder(dest, num):
    """Real LFW face crops (scikit-image's lfw_subset, 25x25 gray) written as JPEG files."""
    import skimage
    from PIL import Image

    faces = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    os.makedirs(dest)
    for i, face in enumerate(faces[:num]):
        Image.fromarray(np.rint(face * 255).astype(np.uint8)).save(f"{dest}/face{i:03d}.jpg")
    return str(dest)


def test_end_to_end_lfw_folder_to_trained_run(tmp_path):
    """Folder of grayscale JPEG faces -> dataset tool (defaults) -> run_training.py --data DIR
    --kimg 1 without --preset -> an automatic 1-channel run, its generator and SavedModel."""
    src = _lfw_jpeg_folder(tmp_path / "faces", 100)
    data, run = str(tmp_path / "lfw16"), str(tmp_path / "run")
    env = env_for_child()
    tool = [sys.executable, "-m", "datasets.dataset_tool", "create"]
    proc = subprocess.run([*tool, "--source", src, "--dest", data, "--resolution", "16"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(data, "dataset.json")) as f:
        assert json.load(f)["channels"] == 1  # gray JPEGs give a 1-channel dataset by default
    cmd = [sys.executable, "run_training.py", "--data", data, "--kimg", "1", "--outdir", run]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "automatic configuration" in proc.stdout and "done: kimg" in proc.stdout
    with open(os.path.join(run, "training_options.json")) as f:
        saved = json.load(f)
    assert saved["options"]["preset"] == "auto"
    auto = {row[0]: row[1:] for row in saved["options"]["auto"]}
    assert auto["channels"] == ["1", "the dataset's (grayscale)"]
    assert auto["resolution"][0] == "16" and auto["total kimg"][0] == "1"
    assert auto["labels"][0].startswith("none")
    g = saved["config"]["G"]
    assert (g["img_channels"], g["img_resolution"], g["c_dim"]) == (1, 16, 0)

    import tensorflow as tf

    from stylegan_tf import generate

    out = tmp_path / "gen"
    assert generate.main(["--network", run, "--outdir", str(out), "--seeds", "0-1"]) == 0
    from PIL import Image

    with Image.open(out / "seed0000.png") as im:
        assert im.mode == "L" and im.size == (16, 16)
    served = tf.saved_model.load(os.path.join(run, "saved_model")).signatures["generate_from_seed"]
    images = served(seeds=tf.constant([0, 1], tf.int64), truncation_psi=tf.constant(0.7))
    assert tuple(images["images"].shape) == (2, 16, 16, 1)
