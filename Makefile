# One-command entry points (see README.md). Everything installs into .venv.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install quickstart test test-fast lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a range would pull several GB of CUDA wheels.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

quickstart: install
	$(VENV)/bin/kerasdl quickstart

test: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/test.sh

test-fast: install
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2

lint: install
	$(VENV)/bin/ruff check kerasdl tests recipes benchmarks
	$(VENV)/bin/ruff format --check kerasdl tests recipes benchmarks

format: install
	$(VENV)/bin/ruff format kerasdl tests recipes benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
