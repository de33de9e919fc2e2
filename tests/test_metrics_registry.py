"""The metric registry, `compute_metrics` (the training loop's entry) and the command line."""

import json
import os

import numpy as np
import pytest

from metrics import cache, compute_metrics, get_metric, list_metrics, registry, run_metrics
from metrics.metric_utils import ArrayDataset, MetricOptions
from metrics.ppl import compute_ppl
from stylegan_tf import files


def test_names_and_patterns():
    for name in ("fid50k", "fid50k_full", "fid10k", "fid3k_full", "kid50k_full", "kid1k"):
        assert get_metric(name).name == name
    assert "50000 fakes vs the first 50000 reals" in get_metric("fid50k").description
    assert "all reals" in get_metric("fid7k_full").description
    for name in ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend", "ls"):
        assert name in list_metrics() and get_metric(name).name == name
    assert "fid{N}k" in list_metrics()
    for bad in ("fid0k", "fidk", "fid10", "fid10k_ful", "ppl_xend", "FID50k"):
        with pytest.raises(ValueError, match="unknown metric"):
            get_metric(bad)


class TinyBankG:
    z_dim, c_dim, img_resolution, img_channels = 4, 0, 8, 3

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="random"):
        return self.rng.uniform(-1, 1, (len(z), 8, 8, 3)).astype(np.float32)


class MeanDetector:
    cache_id = "mean-detector"

    def __call__(self, images):
        x = images.astype(np.float64)
        return np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3)), x[..., 0].mean((1, 2))], 1)


def test_compute_metrics_record():
    reals = np.random.RandomState(0).randint(0, 256, (1500, 8, 8, 3)).astype(np.uint8)
    record = compute_metrics(
        TinyBankG(0),
        ArrayDataset(reals),
        "fid1k,fid1k_full",
        cache_dir=False,
        verbose=False,
        detector=MeanDetector(),
        batch_size=64,
        snapshot="network-snapshot-000010.keras",
    )
    assert set(record["results"]) == {"fid1k", "fid1k_full"}
    assert record["metrics"] == ["fid1k", "fid1k_full"]
    assert record["snapshot"] == "network-snapshot-000010.keras" and record["total_time"] >= 0
    # Uniform noise fakes vs uniform uint8 reals: the same distribution up to sampling noise.
    assert 0 <= record["results"]["fid1k"] < 5.0
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metrics(TinyBankG(0), reals, ["fid1k", "nope"])


def test_append_jsonl_and_cache_files(tmp_path):
    path = tmp_path / "m.jsonl"
    files.append_jsonl(str(path), {"a": 1})
    files.append_jsonl(str(path), {"b": 2})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"b": 2}]
    f1 = cache.cache_file(str(tmp_path), "stats", {"num": 1, "mirror": False}, "ffhq")
    f2 = cache.cache_file(str(tmp_path), "stats", {"mirror": False, "num": 1}, "ffhq")
    f3 = cache.cache_file(str(tmp_path), "stats", {"mirror": True, "num": 1}, "ffhq")
    assert f1 == f2 != f3 and f1.endswith("-stats-ffhq.npz")
    cache.save_npz_atomic(f1, mu=np.arange(3.0))
    np.testing.assert_array_equal(cache.load_npz(f1)["mu"], np.arange(3.0))
    assert cache.load_npz(f3) is None
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []


def test_command_line(tmp_path, monkeypatch, capsys, tiny_generator):
    G = tiny_generator(img_resolution=32)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    G.save(str(run_dir / "network-snapshot-000004.keras"))
    (run_dir / "training_options.json").write_text(json.dumps({"training": {"mirror_augment": 1}}))
    # A short PPL: --num 4 pairs instead of the official 100k.
    args = ["--network", str(run_dir), "--metrics", "ppl_wend", "--batch", "4", "--quiet"]
    args += ["--num", "4"]
    assert run_metrics.main(args) == 0
    assert (
        run_metrics.main(args[:1] + [str(run_dir / "network-snapshot-000004.keras")] + args[2:])
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("network-snapshot-000004.keras") == 2 and "ppl_wend" in out
    lines = (run_dir / "metric-ppl_wend.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 and records[0]["results"]["ppl_wend"] > 0
    assert records[0]["mirror"] is True  # from training_options.json
    assert records[0]["num"] == 4
    # the same 4 pairs computed directly (same seed 0, batch 4)
    direct = compute_ppl(MetricOptions(G=G, batch_size=4, verbose=False), "w", "end", 4)
    assert records[0]["results"]["ppl_wend"] == pytest.approx(direct["ppl"], rel=1e-4)
    assert records[0]["network"].endswith("network-snapshot-000004.keras")
    assert run_metrics.main(["--network", str(run_dir), "--metrics", "fid5"]) == 2
    with pytest.raises(FileNotFoundError):
        run_metrics.load_network(str(tmp_path / "missing.keras"))
    # A run directory loads its newest snapshot (through stylegan_tf.loading).
    G2, snapshot, found_run = run_metrics.load_network(str(run_dir))
    assert run_metrics.main(["--network", str(run_dir), "--metrics", "fid1k", "--num", "2000"]) == 2
    assert snapshot.endswith("network-snapshot-000004.keras") and found_run == str(run_dir)
    np.testing.assert_array_equal(G2.mapping.weights[0].numpy(), G.mapping.weights[0].numpy())


def test_num_sets_the_count_of_unnamed_metrics_only():
    assert get_metric("ppl_wend").resolve_num() == 100_000  # official default
    assert get_metric("ppl_zfull").resolve_num(1000) == 1000
    assert get_metric("ls").resolve_num() == 200_000
    assert get_metric("fid50k").resolve_num() == 50_000
    assert get_metric("fid1k").resolve_num(1000) == 1000
    with pytest.raises(ValueError, match="fid50k is defined by 50,000 images; for 1,000 use fid1k"):
        get_metric("fid50k").resolve_num(1000)
    with pytest.raises(ValueError, match="kid{N}k"):
        get_metric("kid10k_full").resolve_num(1500)
    with pytest.raises(ValueError, match="num must be"):
        get_metric("ppl_wend").resolve_num(0)
    seen = {}

    def fake_ls(opts, num_samples, num_keep):
        seen.update(num_samples=num_samples, num_keep=num_keep)
        return {"ls_z": 1.0, "ls_w": 1.0}

    import metrics.linear_separability as ls_module

    original, ls_module.compute_ls = ls_module.compute_ls, fake_ls
    try:
        record = registry.calc_metric("ls", MetricOptions(verbose=False), num=1000)
    finally:
        ls_module.compute_ls = original
    assert seen == {"num_samples": 1000, "num_keep": 500} and record["num"] == 1000
    reals = np.random.RandomState(0).randint(0, 256, (1000, 8, 8, 3)).astype(np.uint8)
    out = compute_metrics(TinyBankG(0), ArrayDataset(reals), "fid1k", num=1000, cache_dir=False,
                          verbose=False, detector=MeanDetector(), batch_size=250)  # fmt: skip
    assert set(out["results"]) == {"fid1k"}
