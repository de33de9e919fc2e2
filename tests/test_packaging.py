"""Packaging: every console script declared in setup.cfg resolves to the command line's main()."""

import configparser
import importlib
import inspect
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = {
    "stylegan-train": "run_training:main",
    "stylegan-dataset": "datasets.dataset_tool:main",
    "stylegan-export": "stylegan_tf.export_cli:main",
    "stylegan-generate": "stylegan_tf.generate:main",
    "stylegan-project": "stylegan_tf.project:main",
    "stylegan-import": "stylegan_tf.import_official:main",
    "stylegan-metrics": "metrics.run_metrics:main",
}


def console_scripts() -> dict:
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=")) for line in lines)


def test_console_scripts_are_the_main_tools():
    assert console_scripts() == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_console_script_resolves_to_a_main_that_takes_argv(name, capsys):
    module, attr = console_scripts()[name].split(":")
    main = getattr(importlib.import_module(module), attr)
    assert callable(main)
    assert list(inspect.signature(main).parameters) == ["argv"]
    # The console script calls sys.exit(main()); with --help each prints its usage, status 0
    # (argparse raises SystemExit(0), the dataset tool returns 0).
    try:
        status = main(["--help"])
    except SystemExit as e:
        status = e.code
    assert status == 0
    assert "usage:" in capsys.readouterr().out
