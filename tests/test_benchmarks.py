"""Smoke test of benchmarks/training.py: the real script, tiny settings."""

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


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="runs the TensorFlow worker once; the backend loop covers the rest",
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
