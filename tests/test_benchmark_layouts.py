"""Smoke test of benchmarks/layouts.py: the real script, tiny settings."""

import re

import keras
import pytest

from tests.test_benchmarks import _run_benchmark


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="spawns its own PyTorch process: run it once, under tensorflow",
)
@pytest.mark.one_backend
def test_layouts_benchmark_quick_prints_both_layouts_and_the_ratio():
    out = _run_benchmark(
        "layouts.py", "--quick", "--backend", "torch", timeout=300
    ).stdout
    for layout in ("channels_last", "channels_first"):
        row = re.search(rf"^{layout} +(\d+\.\d) +(\d+) +(\d+\.\d+)$", out, re.M)
        assert row, out
        assert float(row.group(1)) > 0, row.group(0)
    ratio = re.search(
        r"^Median ratio channels_first/channels_last \(torch\): (\d+\.\d+)x$",
        out,
        re.M,
    )
    assert ratio and 0.05 < float(ratio.group(1)) < 20, out
    # Same weights and images in both arms: the first losses agree.
    assert "First losses agree (same weights, same images): yes" in out, out
