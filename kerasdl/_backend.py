"""Everything in kerasdl that differs per Keras backend, in one place.

Callers ask for what they need (`to_numpy`, `input_gradients`,
`apply_gradients_step`, ...) and never test the backend name themselves; a
scan test (tests/test_keras_compat.py) fails when a module other than this
one compares the backend name. Each function works on TensorFlow, JAX and
PyTorch, and tests/test_backend.py runs it on all three.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

__all__ = [
    "inference_outputs",
    "jit_per_model",
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


def inference_outputs(model, inputs) -> list[np.ndarray]:
    """Inference outputs of a multi-output model as NumPy, by the fastest path.

    Used by step-by-step decoders, which call a small model hundreds of
    times per sequence.

    Args:
        model: keras.Model with a list of outputs.
        inputs: its inputs (array or list of arrays).

    Returns:
        list of np.ndarray, one per output.
    """
    if keras.backend.backend() == TORCH:
        # predict_on_batch adds ~20 ms per call on torch; a no-grad call does not.
        import torch

        with torch.no_grad():
            outputs = model(inputs, training=False)
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    # Compiled once per input shape (jit on JAX, tf.function on TensorFlow):
    # 10-50x faster per step than eager calls.
    return [np.asarray(o) for o in model.predict_on_batch(inputs)]


# Compiled functions per model (weakly held: they go with the model).
_JIT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def jit_per_model(model, key: str, make_fn):
    """Returns `make_fn()`, jit-compiled and cached per model on JAX.

    JAX runs eager ops one compiled kernel at a time, which makes an
    op-by-op decoding loop very slow; jit-compiling the forward step fixes
    that. The functions close over the model's layers (weights enter as
    constants) and take fixed shapes, so one compilation serves every
    decoding step. TensorFlow and PyTorch run the step eagerly: for the
    small models kerasdl generates from, tracing a tf.function costs more
    than it saves.

    Args:
        model: object the compiled function belongs to (the cache key owner).
        key: str. Which function of that model.
        make_fn: callable returning the function to compile.

    Returns:
        callable.
    """
    if keras.backend.backend() != JAX:
        return make_fn()
    import jax

    cache = _JIT_CACHE.setdefault(model, {})
    if key not in cache:
        cache[key] = jax.jit(make_fn())
    return cache[key]
