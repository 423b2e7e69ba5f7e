"""Benchmark: ResNet-20 train step time, channels_first vs channels_last.

Keras on PyTorch runs convolutions in torch's NCHW layout: a channels_last
(NHWC) model is transposed around every convolution, a channels_first one is
not. This script measures what that costs on one backend (PyTorch by
default): `kerasdl.build("resnet20", data_format=...)` at batch 128 on
CIFAR-shaped random images, SGD with momentum, `train_on_batch` steps.

Both arms hold the same initial weights (a channels_first model takes the
channels_last one's weights as they are) and see the same images
(transposed), so their first losses agree: the table says whether they do.
Rounds are interleaved and the arm order alternates each round, so drift in
machine load hits both alike; each round times `--steps` steps per arm after
`--warmup` untimed ones, and the verdict is the median over rounds of the
per-round ratio channels_first / channels_last (below 1: channels_first is
faster).

Usage:
    python benchmarks/layouts.py                     # PyTorch, defaults
    python benchmarks/layouts.py --backend jax --rounds 7
    python benchmarks/layouts.py --quick             # seconds: smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

LAYOUTS = ("channels_last", "channels_first")


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backend", default="torch", choices=("torch", "tensorflow", "jax")
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=32, help="image side (px)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per arm")
    parser.add_argument(
        "--quick", action="store_true", help="batch 4, 8 px, 2 rounds of 1 step"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.size = 4, 8
        args.rounds, args.steps, args.warmup = 2, 1, 1
    return args


def _models(args):
    import keras

    import kerasdl

    models = {}
    for layout in LAYOUTS:
        side = args.size
        shape = (3, side, side) if layout == "channels_first" else (side, side, 3)
        keras.utils.set_random_seed(0)
        model = kerasdl.build(
            "resnet20", input_shape=shape, num_classes=10, data_format=layout
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss="sparse_categorical_crossentropy",
        )
        models[layout] = model
    # Same initial weights: kernels have the same shape in both layouts.
    models["channels_first"].set_weights(models["channels_last"].get_weights())
    return models


def _data(args):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, args.size, args.size, 3), dtype="float32")
    y = rng.integers(0, 10, args.batch_size)
    return {
        "channels_last": (x, y),
        "channels_first": (np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y),
    }


def _time_steps(model, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps * 1000.0


def measure(args) -> dict:
    """Interleaved rounds of both arms; returns ms/step per round and arm."""
    models, data = _models(args), _data(args)
    first_loss = {
        layout: float(models[layout].test_on_batch(*data[layout])) for layout in LAYOUTS
    }
    for layout in LAYOUTS:  # tracing and allocator warm-up
        _time_steps(models[layout], *data[layout], args.warmup)
    times = {layout: [] for layout in LAYOUTS}
    for round_ in range(args.rounds):
        order = LAYOUTS if round_ % 2 == 0 else LAYOUTS[::-1]
        for layout in order:
            times[layout].append(_time_steps(models[layout], *data[layout], args.steps))
    return {"first_loss": first_loss, "times": times}


def report(result: dict, args, backend: str, version: str) -> str:
    times = result["times"]
    ratios = [
        first / last
        for first, last in zip(
            times["channels_first"], times["channels_last"], strict=True
        )
    ]
    ratio = statistics.median(ratios)
    lines = [
        f"ResNet-20 train step, {backend} {version}, batch {args.batch_size}, "
        f"{args.size}x{args.size}x3, {args.rounds} interleaved rounds of "
        f"{args.steps} steps ({platform.machine()}, {os.cpu_count()} CPUs)",
        "",
        f"{'layout':<16}{'ms/step':>10}{'images/s':>10}{'first loss':>12}",
    ]
    for layout in LAYOUTS:
        ms = statistics.median(times[layout])
        lines.append(
            f"{layout:<16}{ms:>10.1f}{args.batch_size / ms * 1000:>10.0f}"
            f"{result['first_loss'][layout]:>12.5f}"
        )
    same = abs(
        result["first_loss"]["channels_first"] - result["first_loss"]["channels_last"]
    ) <= 1e-4 * max(1.0, abs(result["first_loss"]["channels_last"]))
    lines += [
        "",
        "Per-round ratios channels_first/channels_last: "
        + ", ".join(f"{r:.3f}" for r in ratios),
        f"Median ratio channels_first/channels_last ({backend}): {ratio:.3f}x",
        "First losses agree (same weights, same images): " + ("yes" if same else "NO"),
        "channels_first is "
        + ("faster" if ratio < 1.0 else "slower")
        + f" on {backend} here by {abs(1.0 - ratio) * 100:.1f}%"
        + (
            " (within noise: spread of the per-round ratios overlaps 1)"
            if min(ratios) <= 1.0 <= max(ratios)
            else ""
        )
        + ".",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse(argv)
    # The Keras backend is fixed when keras is first imported.
    os.environ["KERAS_BACKEND"] = args.backend
    # OpenMP's busy waiting makes torch many times slower whenever another
    # process competes for the cores (see benchmarks/README.md, training.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import keras

    backend = keras.backend.backend()
    module = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}[backend]
    version = getattr(sys.modules.get(module) or __import__(module), "__version__", "")
    print(report(measure(args), args, backend, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
