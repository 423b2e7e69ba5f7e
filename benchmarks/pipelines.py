"""Benchmark: fit throughput of ResNet-20 from each kind of input, per backend.

ResNet-20 (kerasdl's `resnet20`, 0.27M parameters) trains on 8,192 seeded
CIFAR-shaped images (32x32x3, 10 classes) at batch 128 from:

- `numpy`: the arrays themselves (`model.fit(x, y, shuffle=True)`);
- `tf.data`: `kerasdl.data.make_pipeline(loader="tf_data")`, with and
  without `prefetch` (kerasdl's default: on);
- `PyDataset`: `kerasdl.data.make_pipeline(loader="py_dataset")`;

each with `steps_per_execution` 1 (kerasdl's default) and 8 where the backend
runs several steps per call (TensorFlow and JAX; Keras' torch trainer runs
one). Each backend runs in a worker process of its own; within a worker the
arms are interleaved over `--rounds` rounds, and each arm's figure is the
images per second of its second epoch (the first one traces and compiles),
median over rounds. The output ends with what the measurement says about
kerasdl's defaults (prefetch on, steps_per_execution 1): each alternative's
throughput as a ratio to the default's, per backend.

Usage:
    python benchmarks/pipelines.py                  # ~15 min on 2 CPUs
    python benchmarks/pipelines.py --quick          # smoke test: 256 images, TF
    python benchmarks/pipelines.py --backends jax --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The worker runner next to this script (benchmarks/ is sys.path[0]).
import _workers
import numpy as np

SEED = 0
BATCH = 128
DEFAULT = ("tf.data", True, 1)  # (source, prefetch, steps_per_execution)
# (source, prefetch, steps_per_execution); prefetch only applies to tf.data.
ARMS = (
    ("numpy", None, 1),
    ("numpy", None, 8),
    ("tf.data", True, 1),
    ("tf.data", True, 8),
    ("tf.data", False, 1),
    ("PyDataset", None, 1),
    ("PyDataset", None, 8),
)


def _label(arm) -> str:
    source, prefetch, steps = arm
    fetch = {True: " +prefetch", False: " no prefetch", None: ""}[prefetch]
    return f"{source}{fetch}, spe {steps}"


def _epoch_timer():
    """A Keras callback recording the wall time of each epoch in `.seconds`."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _fit_throughput(arm, x, y) -> float:
    """Images per second of the second epoch of a fresh model."""
    import keras

    import kerasdl
    from kerasdl.data import make_pipeline

    source, prefetch, steps = arm
    keras.utils.set_random_seed(SEED)
    model = kerasdl.build("resnet20", input_shape=x.shape[1:], num_classes=10)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=steps,
    )
    timer = _epoch_timer()
    if source == "numpy":
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=True, verbose=0,
                  callbacks=[timer])  # fmt: skip
    else:
        loader = "tf_data" if source == "tf.data" else "py_dataset"
        data = make_pipeline(x, y, batch_size=BATCH, seed=SEED, loader=loader,
                             prefetch=bool(prefetch))  # fmt: skip
        model.fit(data, epochs=2, verbose=0, callbacks=[timer])
    return len(x) / timer.seconds[1]


def _runs(steps_per_execution: int) -> bool:
    """Whether this backend runs `steps_per_execution` steps per call."""
    from kerasdl import _backend

    try:
        _backend.check_steps_per_execution(steps_per_execution)
    except ValueError:
        return False
    return True


def _worker(args) -> dict:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(args.images, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, args.images).astype("int32")
    arms = [a for a in ARMS if _runs(a[2])]
    rates = {_label(a): [] for a in arms}
    for _ in range(args.rounds):
        for arm in arms:
            rates[_label(arm)].append(_fit_throughput(arm, x, y))
    return {"rates": rates}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images, TF, 1 round")
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=2)
    _workers.add_backends_argument(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _workers.emit(_worker(args))
        return 0
    if args.quick:
        args.images, args.rounds, args.backends = 256, 1, ["tensorflow"]
    worker_args = ["--images", str(args.images), "--rounds", str(args.rounds)]
    results = {
        backend: _workers.run_worker(__file__, backend, worker_args, timeout=3600)
        for backend in args.backends
    }
    default = _label(DEFAULT)
    print(f"ResNet-20 fit throughput, {args.images} images of 32x32x3, batch {BATCH}, "
          f"images/s of the second epoch, median of {args.rounds} round(s)")  # fmt: skip
    print(f"{'backend':<11} {'input':<28} {'images/s':>9} {'x default':>9}")
    for backend, result in results.items():
        if "error" in result:
            print(f"{backend:<11} failed: {result['error']}")
            continue
        rates = {k: statistics.median(v) for k, v in result["rates"].items()}
        for label, rate in rates.items():
            print(
                f"{backend:<11} {label:<28} {rate:>9.1f} {rate / rates[default]:>9.3f}"
            )
    print(f"\nkerasdl's defaults ({default}) against each alternative, per backend:")
    for backend, result in results.items():
        if "error" in result:
            continue
        rates = {k: statistics.median(v) for k, v in result["rates"].items()}
        best = max(rates, key=rates.get)
        gain = rates[best] / rates[default]
        if best == default:
            verdict = "the default is the fastest measured"
        else:
            verdict = f"fastest: {best} at {gain:.3f}x the default"
            if gain < 1.05:
                verdict += " (within 5%: noise on this machine; the default stays)"
        print(f"{backend:<11} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
