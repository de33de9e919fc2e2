"""Every command line answers --help without importing TensorFlow, and TensorFlow's own log
lines are filtered unless --verbose (stylegan_tf.util.quiet_tensorflow)."""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIS = [
    ("path", "run_training.py"),
    ("module", "stylegan_tf.generate"),
    ("module", "stylegan_tf.export"),
    ("module", "stylegan_tf.import_official"),
    ("module", "metrics.run_metrics"),
    ("module", "datasets.dataset_tool"),
]
# absl / TensorFlow C++ log lines: "I0000 00:00:...", "W0000 ...", "E0000 ..."
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|cuda_|oneDNN")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "STYLEGAN_TF"))}
    env["PYTHONPATH"] = ROOT
    env.update(extra)
    return env


_RUN_HELP = """
import json, runpy, sys
kind, target = sys.argv[1], sys.argv[2]
sys.argv = [target, "--help"]
code = None
try:
    if kind == "path":
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


@pytest.mark.parametrize("kind,target", CLIS, ids=[t for _, t in CLIS])
def test_help_does_not_import_tensorflow(kind, target):
    proc = subprocess.run([sys.executable, "-c", _RUN_HELP, kind, target], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    state = json.loads(lines[-1])
    assert state["code"] in (0, None) and "usage:" in proc.stdout
    assert not state["tf"] and not state["keras"], f"{target} --help imported TensorFlow"


_ENTRY_HELP = """
import importlib, json, sys
module, attr = sys.argv[1].split(":")
code = None
try:  # what the installed console script does: from module import main; sys.exit(main())
    code = getattr(importlib.import_module(module), attr)(["--help"])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


def _console_scripts():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=")) for line in lines)


@pytest.mark.parametrize("script", sorted(_console_scripts()))
def test_installed_script_help_does_not_import_tensorflow(script):
    entry = _console_scripts()[script]
    proc = subprocess.run([sys.executable, "-c", _ENTRY_HELP, entry], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["code"] in (0, None) and "usage:" in proc.stdout
    assert not state["tf"] and not state["keras"], f"{script} ({entry}) --help imported TensorFlow"


_IMPORT_TF = """
import sys
import os
from stylegan_tf.util import import_tensorflow_quietly
tf = import_tensorflow_quietly(probe_devices=True, verbose=sys.argv[1] == "verbose")
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def test_tensorflow_log_lines_hidden_unless_verbose():
    def run(mode):
        proc = subprocess.run([sys.executable, "-c", _IMPORT_TF, mode], cwd=ROOT, env=_env(),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip(), proc.stderr

    level, err = run("quiet")
    assert level == "3"
    assert not [line for line in err.splitlines() if TF_LOG_LINE.search(line)], err
    level, _ = run("verbose")
    assert level != "3"  # --verbose leaves TensorFlow's logging as it is


def test_run_metrics_bad_network_is_one_line(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(os.urandom(256))
    cases = [
        (["--network", str(tmp_path / "missing.keras")], "does not exist"),
        (["--network", str(junk)], "cannot load --network"),
        (["--network", str(tmp_path)], "cannot load --network"),  # no snapshot in it
        (["--network", str(junk), "--metrics", "fid50k", "--num", "1000"], "fid1k"),
        (["--network", str(junk), "--metrics", "ppl_wend", "--num", "0"], "--num"),
        (["--network", str(junk), "--metrics", "nope"], "unknown metric"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "metrics.run_metrics", *args], cwd=ROOT,
                              env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (args, err)
