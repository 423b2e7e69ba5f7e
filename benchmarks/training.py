"""Benchmark: `Trainer` overhead and per-backend step times.

Measures, in one run, and prints side by side:

1. Trainer overhead. `kerasdl.training.Trainer(config).fit(model, x, y)`
   against plain `model.compile(...)` + `model.fit(...)` on the same MLP
   (`kerasdl.build("mlp", input_shape=(40,), hidden_units=[256, 256],
   num_classes=10)`), the same MNIST-1D data, epochs, optimizer (Adam,
   1e-3), loss, metric, batch size and seed, `verbose=0`, and no run
   directory (no file I/O) unless `--run-dir` asks for one. Each repeat
   builds a fresh model outside the timer; the timer covers what a user
   waits for: compile (or `Trainer(config)` + its compile) and fit. The time
   spent outside the training loop (before the `on_train_begin` hook and
   after `on_train_end`) is reported too: it is where the Trainer's own work
   lies, and it is far less noisy than the loop. A third, diagnostic arm,
   "plain+cb", is the plain run with the callbacks the Trainer adds by
   default (LearningRateLogger, TerminateOnNaN), so the cost of those
   callbacks can be told from the Trainer's own. Runs are interleaved and
   the order rotates every round (plain, plain+cb, trainer; then plain+cb,
   trainer, plain; ...) so drift in machine load hits every arm alike; round
   0 is a warm-up reported separately; the ratio is median(trainer) /
   median(plain) over the other rounds. Every arm seeds the same way, so
   their final losses should match: the table says whether they do (a
   check that the comparison is like for like).
2. Step times per backend. `model.fit` of the MLP on MNIST-1D and of LeNet-5
   on the digits at 32x32, timed per epoch with an epoch-level callback (no
   per-batch hook, so asynchronous dispatch stays on); the first epoch
   (tracing/compilation) is reported separately; ms/step is the median of
   the remaining epochs divided by the steps per epoch.

The Keras backend is fixed per process, so each backend runs in a worker
subprocess (`KERAS_BACKEND=<b> python benchmarks/training.py --worker ...`)
that prints its measurements as one JSON line; this driver never imports
Keras. A backend whose package is missing gets a "not installed" row.

Usage:
    python benchmarks/training.py                   # all backends, defaults
    python benchmarks/training.py --backends tensorflow jax --repeats 7
    python benchmarks/training.py --quick           # seconds: smoke test
    python benchmarks/training.py --run-dir /tmp/runs   # Trainer with file I/O

The overhead target is at most 1.03x; going over it prints a note, not a
failing exit code (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
# Package that must be importable for each Keras backend.
_BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
OVERHEAD_TARGET = 1.03
# OpenMP threads that busy-wait make torch about 50x slower (4.6 -> 250 ms per
# MLP step, measured here) as soon as another process competes for the two
# cores; passive waiting avoids that. The workers get it unless the caller's
# environment sets OMP_WAIT_POLICY itself.
OMP_WAIT_POLICY = "PASSIVE"
_JSON_MARKER = "KERASDL_BENCH_JSON:"
SEED = 0
LEARNING_RATE = 1e-3
LOSS = "sparse_categorical_crossentropy"

# Step-time workloads: name -> (dataset, load options, builder, build options).
WORKLOADS = {
    "mlp": (
        "mnist1d",
        {"flatten": True},
        "mlp",
        {"input_shape": (40,), "hidden_units": [256, 256], "num_classes": 10},
    ),
    "lenet5": (
        "digits",
        {"image_size": 32},
        "lenet5",
        {"input_shape": (32, 32, 1), "num_classes": 10},
    ),
}
_QUICK = {"repeats": 2, "epochs": 1, "samples": 512}


# ------------------------------------------------------------------ worker
def _load(dataset: str, options: dict, samples: int | None):
    import kerasdl.data

    data = kerasdl.data.load(dataset, **options)
    x, y = data.x_train, data.y_train
    if samples is not None:
        x, y = x[:samples], y[:samples]
    return x, y


def _build(name: str, options: dict):
    import kerasdl

    return kerasdl.build(name, **options)


def _loop_marks():
    """A callback noting when the training loop starts and ends.

    It has train-level hooks only, so it changes nothing in the loop (batch
    hooks would turn asynchronous dispatch off); every arm gets one.
    """
    import keras

    class LoopMarks(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.begin = time.perf_counter()

        def on_train_end(self, logs=None):
            self.end = time.perf_counter()

    return LoopMarks()


def _result(start: float, marks, history) -> tuple[float, float, float]:
    """(total seconds, seconds outside the training loop, final loss)."""
    total = time.perf_counter() - start
    outside = total - (marks.end - marks.begin)
    return total, outside, float(history.history["loss"][-1])


def _plain_run(x, y, epochs: int, batch_size: int, with_callbacks: bool):
    """Builds a fresh MLP, then times compile + fit.

    Returns:
        tuple: (total seconds, seconds outside the training loop, loss).

    `with_callbacks` adds the callbacks that `Trainer` adds by default
    (LearningRateLogger, TerminateOnNaN): the diagnostic "plain+cb" arm,
    which tells the cost of those callbacks from the Trainer's own.
    """
    import keras

    from kerasdl.training import LearningRateLogger, TerminateOnNaN

    _, _, builder, options = WORKLOADS["mlp"]
    keras.utils.set_random_seed(SEED)
    model = _build(builder, options)
    gc.collect()
    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)  # as Trainer.fit does before training
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=LOSS,
        metrics=["accuracy"],
    )
    marks = _loop_marks()
    callbacks = [marks]
    if with_callbacks:
        callbacks += [LearningRateLogger(), TerminateOnNaN()]
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        shuffle=True,
        callbacks=callbacks,
    )
    return _result(start, marks, history)


def _trainer_run(x, y, epochs: int, batch_size: int, run_dir: str | None):
    """Builds a fresh MLP, then times Trainer(config).fit.

    Returns:
        tuple: (total seconds, seconds outside the training loop, loss).
    """
    import keras

    from kerasdl.training import Trainer

    _, _, builder, options = WORKLOADS["mlp"]
    config = {
        "seed": SEED,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": {"name": "adam", "learning_rate": LEARNING_RATE},
        "loss": LOSS,
        "metrics": ["accuracy"],
        "shuffle": True,
        "verbose": 0,
        "run_dir": run_dir,
    }
    keras.utils.set_random_seed(SEED)
    model = _build(builder, options)
    gc.collect()
    start = time.perf_counter()
    marks = _loop_marks()
    history = Trainer(config).fit(model, x, y, callbacks=[marks])
    return _result(start, marks, history)


ARMS = ("plain", "plain_cb", "trainer")


def _measure_overhead(args, backend: str) -> dict:
    dataset, load_options, _, _ = WORKLOADS["mlp"]
    x, y = _load(dataset, load_options, args.samples)
    seconds = {arm: [] for arm in ARMS}
    outside = {arm: [] for arm in ARMS}
    losses = {arm: [] for arm in ARMS}
    for i in range(args.repeats + 1):  # round 0 is the warm-up
        run_dir = None
        if args.run_dir is not None:
            run_dir = os.path.join(args.run_dir, backend, f"run{i}")
        # Rotate the order every round so no arm always runs first or last.
        shift = i % len(ARMS)
        for arm in ARMS[shift:] + ARMS[:shift]:
            if arm == "trainer":
                t, t_out, loss = _trainer_run(
                    x, y, args.epochs, args.batch_size, run_dir
                )
            else:
                t, t_out, loss = _plain_run(
                    x, y, args.epochs, args.batch_size, arm == "plain_cb"
                )
            seconds[arm].append(t)
            outside[arm].append(t_out)
            losses[arm].append(loss)
    return {
        "samples": len(x),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        **{f"warmup_{arm}_s": seconds[arm][0] for arm in ARMS},
        **{f"{arm}_s": seconds[arm][1:] for arm in ARMS},
        **{f"{arm}_outside_s": outside[arm][1:] for arm in ARMS},
        "final_loss": losses["trainer"][-1],
        # Every arm seeds alike: equal losses show the runs are like for like.
        "max_loss_difference": max(
            abs(a - b) for arm in ARMS for a, b in zip(losses[arm], losses["plain"])
        ),
    }


def _measure_steps(args) -> list[dict]:
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall time per epoch; epoch hooks only, so dispatch stays async."""

        def __init__(self):
            super().__init__()
            self.seconds = []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    rows = []
    for name, (dataset, load_options, builder, options) in WORKLOADS.items():
        x, y = _load(dataset, load_options, args.samples)
        keras.utils.set_random_seed(SEED)
        model = _build(builder, options)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
            loss=LOSS,
            metrics=["accuracy"],
        )
        timer = EpochTimer()
        gc.collect()
        model.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=args.repeats + 1,
            verbose=0,
            callbacks=[timer],
        )
        rows.append(
            {
                "model": name,
                "dataset": dataset,
                "params": int(model.count_params()),
                "samples": len(x),
                "batch_size": args.batch_size,
                "steps_per_epoch": math.ceil(len(x) / args.batch_size),
                "first_epoch_s": timer.seconds[0],
                "epoch_s": timer.seconds[1:],
            }
        )
    return rows


def _backend_version(backend: str) -> str:
    module = importlib.import_module(_BACKEND_PACKAGES[backend])
    return getattr(module, "__version__", "?")


def worker(args) -> int:
    """Measures the current backend and prints one JSON line."""
    import keras

    backend = keras.backend.backend()
    result = {
        "backend": backend,
        "keras": keras.__version__,
        "backend_version": _backend_version(backend),
        "overhead": _measure_overhead(args, backend),
        "steps": _measure_steps(args),
    }
    print(_JSON_MARKER + json.dumps(result), flush=True)
    return 0


# ------------------------------------------------------------------ driver
def _run_worker(backend: str, args) -> dict:
    """Runs one backend's worker; returns its result or {"error": reason}."""
    if importlib.util.find_spec(_BACKEND_PACKAGES[backend]) is None:
        return {"error": "not installed"}
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--repeats",
        str(args.repeats),
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
    ]
    if args.samples is not None:
        command += ["--samples", str(args.samples)]
    if args.run_dir is not None:
        command += ["--run-dir", args.run_dir]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (repo_root, os.environ.get("PYTHONPATH")) if p
    )
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith(_JSON_MARKER):
            result = json.loads(line[len(_JSON_MARKER) :])
            result["wall_s"] = time.perf_counter() - start
            return result
    stderr = [line for line in done.stderr.splitlines() if line.strip()]
    last = stderr[-1] if stderr else f"exit code {done.returncode}"
    return {"error": f"failed: {last}"}


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[: len(header)]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _overhead_ratio(overhead: dict) -> float:
    return statistics.median(overhead["trainer_s"]) / statistics.median(
        overhead["plain_s"]
    )


def _verdict(ratio: float) -> str:
    if ratio <= OVERHEAD_TARGET:
        return f"PASS (target <= {OVERHEAD_TARGET:.2f}x)"
    return f"over target (target <= {OVERHEAD_TARGET:.2f}x)"


def report(results: dict[str, dict], args) -> str:
    """Formats the measurements of every backend as tables (a string)."""
    out = []
    first_ok = next((r for r in results.values() if "error" not in r), None)
    samples = first_ok["overhead"]["samples"] if first_ok else "?"
    out.append(
        f"1) Trainer overhead: Trainer(config).fit vs model.compile + model.fit\n"
        f"   mlp [256, 256] on mnist1d ({samples} samples), {args.epochs} "
        f"epoch(s), batch {args.batch_size}, Adam 1e-3, verbose=0, "
        f"run_dir={args.run_dir!r}\n"
        f"   seconds per compile+fit, median of {args.repeats} interleaved "
        f"repeats after 1 warm-up round; ratio = trainer / plain;\n"
        f"   plain+cb (diagnostic) = plain with the callbacks Trainer adds by "
        f"default\n   (LearningRateLogger, TerminateOnNaN), cb ratio = "
        f"plain+cb / plain;\n   outside loop = median time not spent in the "
        f"training loop (config, compile,\n   data adapter, callbacks set-up, "
        f"teardown): what Trainer adds is the t - p difference"
    )
    rows = []
    for backend, result in results.items():
        if "error" in result:
            rows.append([backend, result["error"], "", "", "", "", "", "", "", ""])
            continue
        o = result["overhead"]
        ratio = _overhead_ratio(o)
        medians = [statistics.median(o[f"{arm}_s"]) for arm in ARMS]
        rows.append(
            [
                backend,
                *(f"{m:.3f}" for m in medians),
                f"{ratio:.3f}x",
                f"{medians[1] / medians[0]:.3f}x",
                " / ".join(f"{min(o[f'{arm}_s']):.2f}" for arm in ARMS),
                " / ".join(
                    f"{1000 * statistics.median(o[f'{arm}_outside_s']):.0f}"
                    for arm in ARMS
                ),
                " / ".join(f"{o[f'warmup_{arm}_s']:.2f}" for arm in ARMS),
                f"{'yes' if o['max_loss_difference'] <= 1e-4 else 'NO'} "
                f"({o['max_loss_difference']:.0e})",
            ]
        )
    header = [
        "backend",
        "plain s",
        "plain+cb s",
        "trainer s",
        "ratio",
        "cb ratio",
        "min p/cb/t s",
        "outside loop p/cb/t ms",
        "warm-up p/cb/t s",
        "same loss",
    ]
    out.append(_format_table(header, rows))

    out.append(
        f"\n2) Step times: model.fit, batch {args.batch_size}, median of "
        f"{args.repeats} epochs after 1 warm-up epoch"
    )
    rows = []
    for backend, result in results.items():
        if "error" in result:
            for name in WORKLOADS:
                rows.append([backend, name, result["error"], "", "", "", ""])
            continue
        for step in result["steps"]:
            epoch = statistics.median(step["epoch_s"])
            rows.append(
                [
                    backend,
                    f"{step['model']} ({step['dataset']})",
                    f"{step['params']}",
                    f"{1000 * epoch / step['steps_per_epoch']:.3f}",
                    f"{step['samples'] / epoch:.0f}",
                    f"{step['first_epoch_s']:.2f}",
                    f"{step['steps_per_epoch']}",
                ]
            )
    header = [
        "backend",
        "model",
        "params",
        "ms/step",
        "samples/s",
        "first epoch s",
        "steps/epoch",
    ]
    out.append(_format_table(header, rows))

    out.append("")
    for backend, result in results.items():
        if "error" in result:
            out.append(f"Overhead ratio ({backend}): {result['error']}")
        else:
            ratio = _overhead_ratio(result["overhead"])
            out.append(f"Overhead ratio ({backend}): {ratio:.3f}x  {_verdict(ratio)}")
    return "\n".join(out)


def _parse(argv):
    parser = argparse.ArgumentParser(
        description="Trainer overhead and per-backend step times.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats (and timed epochs for step times) after warm-up "
        "[default 5; 2 with --quick]",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per fit in the overhead comparison [default 3; 1 with --quick]",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="use only this many training samples [default all; 512 with --quick]",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKENDS),
        choices=BACKENDS,
        metavar="BACKEND",
        help=f"backends to run, of {', '.join(BACKENDS)}",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="give the Trainer run directories under this folder (measures "
        "its file I/O too); default: no run directory, no files",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings for a smoke test"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per backend worker"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = _QUICK if args.quick else {"repeats": 5, "epochs": 3, "samples": None}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("repeats", "epochs", "batch_size", "samples"):
        value = getattr(args, key)
        if value is not None and value < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1; received {value}.")
    return args


def main(argv=None) -> int:
    """Runs the benchmark (or, with --worker, one backend's measurements)."""
    args = _parse(argv)
    if args.worker:
        return worker(args)
    print(
        f"kerasdl training benchmark: python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s), {platform.machine()}; repeats={args.repeats}, "
        f"epochs={args.epochs}, batch_size={args.batch_size}, "
        f"samples={args.samples or 'all'}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', OMP_WAIT_POLICY)}",
        flush=True,
    )
    results = {}
    for backend in args.backends:
        print(f"running {backend} ...", flush=True)
        results[backend] = _run_worker(backend, args)
        result = results[backend]
        if "error" in result:
            print(f"  {backend}: {result['error']}", flush=True)
        else:
            print(
                f"  {backend} {result['backend_version']} (keras {result['keras']}): "
                f"done in {result['wall_s']:.0f} s",
                flush=True,
            )
    print()
    print(report(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
