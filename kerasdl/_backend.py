"""Everything in kerasdl that differs per Keras backend, in one place.

Callers ask for what they need (`to_numpy`, `input_gradients`,
`apply_gradients_step`, ...) and never test the backend name themselves; a
scan test (tests/test_keras_compat.py) fails when a module other than this
one compares the backend name. Each function works on TensorFlow, JAX and
PyTorch, and tests/test_backend.py runs it on all three.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = [
    "name",
    "to_numpy",
]

TENSORFLOW = "tensorflow"
JAX = "jax"
TORCH = "torch"


def name() -> str:
    """The active Keras backend's name, for reports and error messages.

    Do not branch on it outside this module: add a function here instead.
    """
    return keras.backend.backend()


def to_numpy(x) -> np.ndarray:
    """A backend tensor (or array-like) as a NumPy array on the host."""
    return np.asarray(keras.ops.convert_to_numpy(x))
