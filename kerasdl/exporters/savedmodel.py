"""SavedModel and .keras files: writing them and running them back.

Writing a SavedModel needs the TensorFlow backend (kerasdl converts models
from other backends in a TensorFlow subprocess); running one needs only the
TensorFlow package. `.keras` files are written and run on any backend.
"""

from __future__ import annotations

import logging
import os

import numpy as np

__all__ = [
    "SIGNATURE",
    "run_keras",
    "run_model",
    "run_saved_model",
    "write_keras",
    "write_saved_model",
]

logger = logging.getLogger(__name__)

SIGNATURE = "serving_default"


def _input_structure(model):
    """The structure (tensor, list or dict) that `model` is called with."""
    try:
        return model.input
    except (AttributeError, ValueError):
        # Sequential models keep no input structure; they take one tensor.
        return model.inputs[0] if len(model.inputs) == 1 else list(model.inputs)


def run_model(
    model, inputs: list[np.ndarray], batch_size: int = 64
) -> list[np.ndarray]:
    """Runs a Keras model in inference mode; returns its outputs as arrays.

    Args:
        model: keras.Model. Any backend.
        inputs: list of np.ndarray. One array per entry of `model.inputs`.
        batch_size: int. Samples per forward pass.

    Returns:
        list of np.ndarray: the flat outputs, in `model.outputs` order.

    Example:
    >>> (probs,) = run_model(model, [x])
    """
    import keras

    structure = _input_structure(model)
    chunks = []
    for start in range(0, len(inputs[0]), batch_size):
        feed = [np.asarray(a[start : start + batch_size]) for a in inputs]
        outputs = model(keras.tree.pack_sequence_as(structure, feed), training=False)
        chunks.append(
            [
                np.asarray(keras.ops.convert_to_numpy(t))
                for t in keras.tree.flatten(outputs)
            ]
        )
    return [np.concatenate(parts, axis=0) for parts in zip(*chunks, strict=True)]


def write_saved_model(model, path: str) -> None:
    """Exports `model`'s inference function as a TensorFlow SavedModel.

    Args:
        model: keras.Model. Must live on the TensorFlow backend.
        path: str. Folder to create.

    Raises:
        ValueError: if the Keras backend is not TensorFlow.

    Example:
    >>> write_saved_model(model, "export/saved_model")
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "write_saved_model needs the TensorFlow backend; the backend is "
            f"{keras.backend.backend()!r}. Use kerasdl.exporters.export, which "
            "converts in a TensorFlow subprocess."
        )
    model.export(str(path), format="tf_saved_model", verbose=False)
    logger.info("wrote SavedModel %s", path)


def write_keras(model, path: str) -> None:
    """Saves `model` as a native .keras archive (any backend).

    Args:
        model: keras.Model. Its layers must be serializable.
        path: str. The .keras file to write.

    Example:
    >>> write_keras(model, "export/model.keras")
    """
    model.save(str(path))
    logger.info("wrote %s", path)


def run_keras(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Loads a .keras file (without its training config) and runs it.

    Args:
        path: str. The .keras file.
        inputs: list of np.ndarray. One batch per model input.

    Returns:
        list of np.ndarray: the outputs in model order.

    Example:
    >>> (probs,) = run_keras("model.keras", [x])
    """
    import keras

    model = keras.saving.load_model(str(path), compile=False)
    return run_model(model, inputs)


def run_saved_model(
    path: str, inputs: list[np.ndarray], input_names: list[str]
) -> list[np.ndarray]:
    """Runs the "serving_default" signature of a SavedModel.

    Args:
        path: str. The SavedModel folder.
        inputs: list of np.ndarray. One batch per model input.
        input_names: list of str. The signature input name of each array.

    Returns:
        list of np.ndarray: the outputs, ordered "output_0", "output_1", ...

    Raises:
        ValueError: if the signature's inputs do not match `input_names`.

    Example:
    >>> (probs,) = run_saved_model("saved_model", [x], ["image"])
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(os.fspath(path))
    signature = loaded.signatures[SIGNATURE]
    specs = signature.structured_input_signature[1]
    if set(specs) != set(input_names):
        raise ValueError(
            f"SavedModel {path} has inputs {sorted(specs)}; received "
            f"input_names {list(input_names)}."
        )
    feed = {
        name: tf.constant(np.asarray(array), dtype=specs[name].dtype)
        for name, array in zip(input_names, inputs, strict=True)
    }
    results = signature(**feed)
    keys = sorted(results, key=lambda k: (len(k), k))  # output_2 < output_10
    return [results[key].numpy() for key in keys]
