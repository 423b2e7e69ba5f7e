"""Benchmark: how long the command line takes to answer.

Times, in fresh processes (the way a user runs them), the median wall time of

- `kerasdl --help` and `kerasdl list` (the launcher kerasdl_cli: argparse and
  kerasdl/model_index.json, no Keras import),
- `python -c "import kerasdl"` (registers every family: Keras and its
  backend are imported),
- `kerasdl info lenet5` (a command that needs the registry),

and prints them side by side. Not a test: machines are noisy; the test
(tests/test_cli.py) checks instead that --help and list import neither Keras
nor TensorFlow.

Usage:
    python benchmarks/cli.py               # 5 runs each
    python benchmarks/cli.py --repeats 3
    python benchmarks/cli.py --quick       # one run of --help and list only
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = [
    sys.executable,
    "-c",
    "import sys, kerasdl_cli; sys.exit(kerasdl_cli.main())",
]

CASES = {
    "kerasdl --help": [*LAUNCHER, "--help"],
    "kerasdl list": [*LAUNCHER, "list"],
    "import kerasdl": [sys.executable, "-c", "import kerasdl"],
    "kerasdl info lenet5": [*LAUNCHER, "info", "lenet5"],
}


def _time(argv: list[str], repeats: int) -> list[float]:
    env = {
        **os.environ,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    cases = dict(list(CASES.items())[:2]) if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    print(
        f"{'command':<22} {'median s':>9} {'min s':>7} {'max s':>7}  ({repeats} runs)"
    )
    for label, command in cases.items():
        times = _time(command, repeats)
        print(
            f"{label:<22} {statistics.median(times):>9.2f} "
            f"{min(times):>7.2f} {max(times):>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
