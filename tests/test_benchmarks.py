"""Smoke tests of benchmarks/training.py: the real script, tiny settings."""

import importlib.util
import os
import re
import subprocess
import sys

import keras
import pytest

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "benchmarks",
    "training.py",
)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own TensorFlow worker: run it once, under tensorflow",
)
def test_training_benchmark_quick_prints_ratio_and_step_rows():
    done = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--backends", "tensorflow"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    ratio = re.search(
        r"^Overhead ratio \(tensorflow\): (\d+\.\d+)x  (PASS|over)", out, re.M
    )
    assert ratio, out
    assert 0.2 < float(ratio.group(1)) < 5.0, out
    # One step-time row per workload, with positive ms/step and samples/s.
    for model in ("mlp", "lenet5"):
        row = re.search(
            rf"^tensorflow +{model} \(\w+\) +(\d+) +(\d+\.\d+) +(\d+) ", out, re.M
        )
        assert row, out
        params, ms_per_step, samples_per_s = row.groups()
        assert int(params) > 10_000
        assert float(ms_per_step) > 0 and int(samples_per_s) > 0
    # Quick settings really are used (512 samples, batch 32 -> 16 steps).
    assert "(512 samples)" in out
    assert re.search(r"^tensorflow +mlp .* 16$", out, re.M), out


def test_training_benchmark_reports_missing_backend(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("benchmark_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(module._BACKEND_PACKAGES, "jax", "kerasdl_no_such_package")
    started = []
    monkeypatch.setattr(module.subprocess, "run", lambda *a, **k: started.append(a))

    assert module.main(["--backends", "jax", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert started == []  # no worker for a backend that is not installed
    assert "Overhead ratio (jax): not installed" in out
    for model in ("mlp", "lenet5"):
        assert re.search(rf"^jax +{model} +not installed", out, re.M), out
