# One-command entry points (see README.md). Everything installs into .venv.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install quickstart test test-fast lint format clean

install: $(VENV)/.installed

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The quickstart's own, light install: TensorFlow, the export runtimes, digits.
$(VENV)/.quickstart: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[quickstart]"
	touch $@

# Everything the tests need: the three backends, keras-hub, TFMOT, dev tools.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	# torch first and pinned: a range would pull several GB of CUDA wheels.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

quickstart: $(VENV)/.quickstart
	KERAS_BACKEND=tensorflow $(VENV)/bin/kerasdl quickstart

test: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/test.sh

test-fast: install
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2

lint: install
	$(VENV)/bin/ruff check kerasdl kerasdl_cli tests recipes benchmarks scripts
	$(VENV)/bin/ruff format --check kerasdl kerasdl_cli tests recipes benchmarks scripts

format: install
	$(VENV)/bin/ruff format kerasdl kerasdl_cli tests recipes benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache
