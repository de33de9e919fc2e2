"""The paired comparison of benchmarks/bench_training.py: which options reach its workers, the
worker protocol over pipes, and the per-pair ratios it prints (no TensorFlow: the workers here
are tiny Python scripts speaking the same protocol)."""

import importlib.util
import os
import statistics
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_training_under_test", os.path.join(ROOT, "benchmarks", "bench_training.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_args_keep_only_the_workers_options(bench):
    argv = [
        "--compare", "/tmp/base", "--resolutions", "32", "--repeat=3", "--after-xla",
        "--json", "out.json", "--steps", "15", "--compare=/x", "--json=y", "--repeat", "2",
    ]  # fmt: skip
    assert bench._compare_args(argv) == ["--resolutions", "32", "--steps", "15"]


def _fake_worker(tmp_path, body):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_worker_protocol_skips_other_output_and_returns_replies(bench, tmp_path, capsys):
    cmd = _fake_worker(
        tmp_path,
        f"""
        import json, sys
        print("tracing...", flush=True)
        print({bench._REPLY!r} + json.dumps({{"description": "fake"}}), flush=True)
        for line in sys.stdin:
            kind, res = line.split()
            print("log line", flush=True)
            print({bench._REPLY!r} + json.dumps([kind, int(res)]), flush=True)
        """,
    )
    worker = bench._Worker(cmd)
    try:
        assert worker.read() == {"description": "fake"}
        assert worker.call("train", 32) == ["train", 32]
        assert worker.call("conv", 64) == ["conv", 64]
    finally:
        worker.close()
    assert worker.proc.returncode == 0
    out = capsys.readouterr().out
    assert "  | tracing..." in out and out.count("  | log line") == 2


def test_worker_that_dies_is_an_error_not_a_hang(bench, tmp_path):
    cmd = _fake_worker(tmp_path, "import sys; print('boom'); sys.exit(3)")
    worker = bench._Worker(cmd)
    with pytest.raises(RuntimeError, match="exited with code 3"):
        worker.read()


def test_print_pairs_reports_medians_and_per_pair_ratios(bench, capsys):
    before = [2.0, 1.0, 4.0, 3.0]
    after = [1.0, 1.0, 1.0, 2.0]  # per-pair speed-ups 2, 1, 4, 1.5
    info = {k: {"32": {"train_gflop_per_img": g}} for k, g in (("before", 12.0), ("after", 9.0))}
    bench._print_pairs(32, "train", {"before": before, "after": after}, 16, info)
    out = capsys.readouterr().out
    assert f"before {16 / statistics.median(before):.2f} img/s (12.000 GFLOP/img)" in out
    assert f"after {16 / statistics.median(after):.2f} img/s (9.000)" in out
    assert "over 4 pairs: median 1.75x, range 1.00-4.00x" in out

    bench._print_pairs(32, "conv", {"before": [0.05, 0.05], "after": [0.1, 0.1]}, 16, info)
    out = capsys.readouterr().out
    rate = bench._CONV_FLOP / 0.05 / 1e9
    assert f"before {rate:.1f}, after {rate / 2:.1f} GFLOP/s" in out
    assert "median 0.50x" in out
