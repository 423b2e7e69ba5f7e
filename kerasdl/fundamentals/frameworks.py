"""One model, three frameworks: the same training run on TensorFlow, JAX and PyTorch.

Keras 3 writes the model once; the backend runs it. To show that the
backends compute the same thing, every worker builds the same MLP, sets the
same initial weights (drawn by NumPy from one seed, not by the backend's own
random generator), feeds the same batches in the same order (no shuffling)
and takes the same SGD steps, so the loss curves agree up to float32
rounding. A backend is chosen once per process, so each runs in its own
(`compare_backends`).

Example:
>>> results = compare_backends(["tensorflow", "jax", "torch"], epochs=5)
>>> curve_differences(results)["jax"]  # max |loss_jax - loss_tf| per epoch
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_int
from kerasdl.fundamentals.experiments import small_digits
from kerasdl.spec import build
from kerasdl.training import Trainer

__all__ = [
    "compare_backends",
    "curve_differences",
    "numpy_initial_weights",
    "train_curve",
]

_MARKER = "KERASDL_FRAMEWORKS_JSON "
# The model every backend trains: small enough for seconds per epoch.
MODEL = {
    "model": "mlp",
    "input_shape": [8, 8, 1],
    "hidden_units": [32],
    "num_classes": 10,
}


def numpy_initial_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases drawn by NumPy, in weight order.

    The same on every backend (each backend's own random generator draws
    different numbers from the same seed).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim >= 2:
            fan_in, fan_out = int(np.prod(w.shape[:-1])), w.shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-limit, limit, w.shape).astype(w.dtype))
        else:
            weights.append(np.zeros_like(w))
    return weights


def _digest(weights) -> str:
    sha = hashlib.sha256()
    for w in weights:
        sha.update(np.ascontiguousarray(w).tobytes())
    return sha.hexdigest()[:16]


def train_curve(epochs=5, seed=0, learning_rate=0.1, batch_size=64) -> dict:
    """Trains `MODEL` on the digits under the active backend, deterministically.

    Args:
        epochs: int. Passes over the training set.
        seed: int. Seed of the NumPy initial weights.
        learning_rate: float. Plain SGD step.
        batch_size: int.

    Returns:
        dict: backend, loss (training loss per epoch), val_loss,
        test_accuracy, weights_sha256 (first 16 hex digits of the initial
        weights, identical across backends), seconds.
    """
    check_int("epochs", epochs, minimum=1)
    data = small_digits(seed=seed)
    model = build(MODEL)
    initial = numpy_initial_weights(model, seed)
    model.set_weights(initial)
    started = time.perf_counter()
    trainer = Trainer(
        {
            "seed": seed,
            "epochs": epochs,
            "batch_size": batch_size,
            "shuffle": False,
            "optimizer": {"name": "sgd", "learning_rate": learning_rate},
            "verbose": 0,
        }
    )
    history = trainer.fit(
        model, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val)
    ).history
    probabilities = _backend.to_numpy(model(data.x_test, training=False))
    return {
        "backend": _backend.name(),
        "loss": [float(v) for v in history["loss"]],
        "val_loss": [float(v) for v in history["val_loss"]],
        "test_accuracy": float(np.mean(probabilities.argmax(-1) == data.y_test)),
        "weights_sha256": _digest(initial),
        "seconds": time.perf_counter() - started,
    }


def compare_backends(backends=("tensorflow", "jax", "torch"), timeout=600, **kwargs):
    """Runs `train_curve` once per backend, each other backend in a fresh process.

    Args:
        backends: list of str. Keras backends to run.
        timeout: float. Seconds per worker.
        **kwargs: `train_curve` arguments (epochs, seed, learning_rate,
            batch_size), the same for every backend.

    Returns:
        dict. backend -> `train_curve`'s result, or {"error": reason}.
    """
    unknown = set(kwargs) - {"epochs", "seed", "learning_rate", "batch_size"}
    if unknown:
        raise ValueError(
            f"compare_backends got unknown train_curve arguments {sorted(unknown)}; "
            "accepted: epochs, seed, learning_rate, batch_size."
        )
    command = [sys.executable, "-m", __name__, "--worker", json.dumps(kwargs)]
    results = {}
    for backend in backends:
        if backend == _backend.name():
            # The active backend runs here: one process start saved.
            results[backend] = train_curve(**kwargs)
        else:
            results[backend] = _backend.run_json_worker(
                command, backend, _MARKER, timeout
            )
    return results


def curve_differences(results: dict, reference=None) -> dict:
    """Max |loss - reference loss| over epochs, per backend.

    Args:
        results: dict from `compare_backends`.
        reference: str or None. Backend compared against; default the first
            that ran.

    Returns:
        dict. backend -> float (0.0 for the reference; absent for a failed
        worker).
    """
    ran = {b: r for b, r in results.items() if "loss" in r}
    if not ran:
        return {}
    reference = reference or next(iter(ran))
    base = np.array(ran[reference]["loss"])
    return {
        backend: float(np.max(np.abs(np.array(r["loss"]) - base)))
        for backend, r in ran.items()
    }


def _worker(argv) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True, help="train_curve kwargs as JSON")
    args = parser.parse_args(argv)
    result = train_curve(**json.loads(args.worker))
    print(_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    _worker(sys.argv[1:])
