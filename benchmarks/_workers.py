"""One benchmark worker per Keras backend, each in its own process.

A backend is chosen once per process (KERAS_BACKEND), so a benchmark that
compares backends side by side runs `SCRIPT --worker ...` once per backend and
reads the JSON line the worker prints after `JSON_MARKER`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

JSON_MARKER = "BENCHMARK_JSON "
# Keras backend -> the package whose absence makes it "not installed".
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


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
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # torch's busy-waiting OpenMP threads are much slower on shared cores.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (repo_root, os.environ.get("PYTHONPATH")) if p
    )
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith(JSON_MARKER):
            return json.loads(line[len(JSON_MARKER) :])
    stderr = [line for line in done.stderr.splitlines() if line.strip()]
    return {
        "error": "failed: " + (stderr[-1] if stderr else f"exit code {done.returncode}")
    }
