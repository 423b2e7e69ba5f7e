"""Shared fixtures. The backend comes from KERAS_BACKEND (CI runs all three)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# torch's busy-waiting OpenMP threads are ~50x slower when workers share cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    # free_memory=False: skips a gc.collect() that costs ~1 s per test.
    keras.backend.clear_session(free_memory=False)


# Whole modules whose subject does not depend on the Keras backend: argument
# and config validation, YAML/JSON files, the import graph and source scans,
# the command line's parsing and messages, and data loaders that return NumPy.
ONE_BACKEND_MODULES = frozenset(
    {
        "test_architecture.py",
        "test_checks.py",
        "test_cli.py",
        "test_config.py",
        "test_data_datasets.py",
        "test_data_keras_cache.py",
        "test_data_mnist5k.py",
        "test_data_sources.py",
        "test_data_text.py",
        "test_data_timeseries.py",
        "test_graphs.py",
        "test_io.py",
        "test_keras_compat.py",
        "test_registry.py",
    }
)


def _one_backend(item) -> bool:
    return (
        item.get_closest_marker("one_backend") is not None
        or item.path.name in ONE_BACKEND_MODULES
    )


def pytest_collection_modifyitems(config, items):
    """Run tests marked `one_backend` (or in ONE_BACKEND_MODULES) on
    TensorFlow only.

    Their subject (a file format, a config check, a recipe's plumbing) does not
    depend on the Keras backend, so running them three times only costs CI
    time. They are deselected, not skipped, on the other backends.
    """
    if keras.backend.backend() == "tensorflow":
        return
    kept, dropped = [], []
    for item in items:
        (dropped if _one_backend(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def random_inputs(model, batch=2, seed=0):
    """Random inputs matching every input of `model`.

    Float inputs are standard normal; integer inputs (token ids) are drawn
    from [1, 4), so any vocabulary of 4 or more accepts them and none is the
    padding id 0.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (batch, *(d if d is not None else 8 for d in t.shape[1:]))
        if "int" in str(t.dtype):
            arrays.append(rng.integers(1, 4, size=shape).astype(str(t.dtype)))
        else:
            arrays.append(rng.standard_normal(shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays
