"""PeakMemory: sampled RSS of this process, and the peak of ended children."""

import subprocess
import sys

import numpy as np
import pytest

from kerasdl._memory import PeakMemory, rss_bytes

MB = 1 << 20


@pytest.mark.one_backend
def test_peak_memory_sees_a_freed_allocation_and_a_child_process():
    assert rss_bytes() > 10 * MB
    with PeakMemory() as peak:
        block = np.ones(200 * MB, dtype=np.uint8)  # touched: resident
        del block
    assert peak.growth_bytes >= 150 * MB, peak.growth_bytes
    assert peak.process_bytes == peak.start_bytes + peak.growth_bytes
    assert peak.source.startswith("process RSS")
    with PeakMemory() as child:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; b = bytearray(400 * 2**20); "
                "b[::4096] = b'x' * len(b[::4096]); time.sleep(0.05)",
            ],
            check=True,
        )
    assert child.children_bytes >= 400 * MB, child.children_bytes
    assert child.peak_bytes == max(child.process_bytes, child.children_bytes)
    assert child.growth_bytes < 100 * MB  # the child's memory is not ours
    # The child's own peak, not this process's RSS inherited at its fork.
    with PeakMemory() as small:
        ballast = np.ones(600 * MB, dtype=np.uint8)
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.05)"])
        del ballast
    assert small.process_bytes >= 600 * MB
    assert 0 < small.children_bytes < 100 * MB, small.children_bytes
