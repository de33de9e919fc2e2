"""Shared pytest setup: quiet TensorFlow, deterministic seeds, tests run from the repo root, and
the shared tiny networks as fixtures."""

import os
import random
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SEED = 0

# Test files that take a minute or more in all (training subprocesses, full-size numerics, large
# module fixtures), longest first. `make test` hands whole files to its two pytest-xdist workers
# in collection order (`--dist loadfile --no-loadscope-reorder`: a module's fixtures are built
# once); starting with these keeps one worker from finishing a long file alone at the end.
LONG_FILES = (
    "test_training_resume.py",
    "test_training_distributed.py",
    "test_export.py",
    "test_training_outputs.py",
    "test_auto_config.py",
    "test_numerics_full_size.py",
    "test_training_reliability.py",
    "test_training_step.py",
    "test_networks_backends.py",
    "test_project.py",
    "test_metrics_fid.py",
    "test_cli_quiet.py",
)


def pytest_collection_modifyitems(items):
    """Run :data:`LONG_FILES` first, in that order; every other file keeps its place after them."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same seeds: Python's and numpy's global generators, and, if
    the test module imported Keras, Keras' and its backend's (``keras.utils.set_random_seed``).
    Keras is not imported here, so tests that do not need it stay free of TensorFlow."""
    random.seed(SEED)
    np.random.seed(SEED)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(SEED)


@pytest.fixture(scope="session")
def tiny_generator():
    """A factory of tiny ``networks.Generator``\\ s (``helpers.TINY_G``, 16^2, a few thousand
    parameters); keyword arguments override the config, e.g. ``tiny_generator(c_dim=3)``."""

    def make(**overrides):
        from helpers import TINY_G

        from networks import Generator

        return Generator(**{**TINY_G, **overrides})

    return make
