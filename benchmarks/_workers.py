"""One benchmark worker per Keras backend, each in its own process.

A backend is chosen once per process (KERAS_BACKEND), so a benchmark that
compares backends side by side runs `SCRIPT --worker ...` once per backend and
reads the JSON line the worker prints after `JSON_MARKER`.
"""

from __future__ import annotations

import os
import sys

from kerasdl import _backend

JSON_MARKER = "BENCHMARK_JSON "
# Keras backend -> the package whose absence makes it "not installed".
BACKEND_PACKAGES = _backend.BACKEND_PACKAGES


def add_backends_argument(parser) -> None:
    """`--backends`: which backends get a worker (default: all three)."""
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKEND_PACKAGES),
        choices=list(BACKEND_PACKAGES),
    )


def run_worker(script: str, backend: str, worker_args: list, timeout: float) -> dict:
    """Runs `script --worker *worker_args` with KERAS_BACKEND=backend.

    Returns:
        The worker's JSON result, or {"error": reason} when it timed out or
        failed (the last line of its stderr, or its exit code).
    """
    command = [sys.executable, os.path.abspath(script), "--worker", *worker_args]
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return _backend.run_json_worker(
        command, backend, JSON_MARKER, timeout, pythonpath=repo_root
    )


def emit(result: dict) -> None:
    """Prints a worker's result as the JSON line `run_worker` reads."""
    import json

    print(JSON_MARKER + json.dumps(result), flush=True)
