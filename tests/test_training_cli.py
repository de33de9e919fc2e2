"""run_training.py: --dry-run output, and invalid combinations refused with one ``error:`` line
and exit code 2 before any work."""

import json
import os
import subprocess
import sys

import pytest
from training_helpers import ROOT, env_for_child, make_dataset

import run_training


def test_dry_run_prints_config_and_the_official_schedule():
    cmd = [sys.executable, "run_training.py", "--dry-run", "--preset", "paper1024", "--gpus", "8"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env_for_child(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    head, table = text.split("schedule (", 1)
    resolved = json.loads(head)
    assert resolved["config"]["G"]["img_resolution"] == 1024
    assert resolved["config"]["training"]["adam_epsilon"] == 1e-8
    assert resolved["options"]["gpus"] == 8
    rows = [line.split() for line in table.splitlines()[2:]]
    assert rows[0] == ["0-600", "stable", "8", "256", "0.001", "140"]
    assert rows[1] == ["600-1200", "fade", "16", "128", "0.001", "120"]
    assert rows[-1] == ["8400-25000", "stable", "1024", "32", "0.003", "20"]
    assert not os.path.exists(os.path.join(ROOT, "runs", "paper1024"))


def test_dry_run_default_is_the_mnist_demo(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(run_training, "tune_host_allocator", lambda: calls.append(1))
    assert run_training.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"preset": "mnist32"' in out and "stable" in out and "fade" in out
    assert calls == [1]  # the host allocator is set up before TensorFlow runs anything


@pytest.fixture(scope="module")
def rgb16(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("cli") / "rgb16", res=16, channels=3, num=16)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--kimg", "-1"], "--kimg"),
        (["--bogus-flag"], "unrecognized arguments"),
        (["--strategy", "tpu"], "--strategy"),
        (["--resume", "/no/such/checkpoint"], "--resume"),
        (["--data", "/no/such/dataset"], "not a directory"),
        (["--batch", "6", "--dry-run"], "minibatch 6"),
        (["--preset", "paper1024", "--gpus", "3", "--dry-run"], "1, 2, 4, 8"),
        (["--metrics", "fid_nonsense"], "unknown metric"),
        (["--gpus", "2"], "--gpus 2 but"),  # this machine has one replica
    ],
)
def test_invalid_arguments_are_refused_with_one_line(args, message, capsys, tmp_path):
    outdir = tmp_path / "never"
    assert run_training.main([*args, "--outdir", str(outdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not outdir.exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--preset", "tiny", "--resolution", "32"], "resolution"),  # dataset is 16^2
        (["--preset", "mnist32", "--resolution", "16"], "channel"),  # dataset is RGB
        (["--preset", "tiny"], "OK"),  # control: the valid combination passes validation
    ],
)
def test_dataset_mismatches_are_refused(args, message, rgb16, capsys, tmp_path):
    outdir = tmp_path / "never"
    code = run_training.main(["--data", rgb16, *args, "--outdir", str(outdir), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    if message == "OK":
        assert code == 0 and not err
        return
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not outdir.exists()


def test_strategy_and_loss_lists_match_the_modules():
    from training.distribute import STRATEGIES
    from training.losses import LOSSES

    assert run_training.STRATEGIES == STRATEGIES and run_training.LOSSES == LOSSES


def test_resume_into_a_run_with_another_architecture_is_refused(rgb16, capsys, tmp_path):
    from stylegan_tf.config import get_preset
    from training import outputs

    outdir = tmp_path / "old"
    (outdir / "checkpoints").mkdir(parents=True)
    (outdir / "checkpoints" / "ckpt-1.index").write_text("")
    other = get_preset("tiny").replace(G={"z_dim": 8})
    outputs.write_json_atomic(str(outdir / "training_options.json"), {"config": other.to_dict()})
    assert run_training.main(["--data", rgb16, "--preset", "tiny", "--outdir", str(outdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different G configuration" in err[0]
    assert (
        run_training.main(
            ["--data", rgb16, "--preset", "tiny", "--outdir", str(outdir), "--resume", "none"]
        )
        == 2
    )
    assert "already holds a run" in capsys.readouterr().err
