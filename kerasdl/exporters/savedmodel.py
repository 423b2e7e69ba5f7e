"""The "saved_model" format: a TensorFlow SavedModel, written and run back.

Writing a SavedModel needs the TensorFlow backend (kerasdl converts models
from other backends in a TensorFlow subprocess); running one needs only the
TensorFlow package.
"""

from __future__ import annotations

import logging

import numpy as np

from kerasdl.exporters.base import (
    ExportFormat,
    Runner,
    keras_export,
    model_io,
)

__all__ = [
    "SAVED_MODEL",
    "SIGNATURE",
    "SavedModelFormat",
    "run_saved_model",
    "write_saved_model",
]

logger = logging.getLogger(__name__)

SIGNATURE = "serving_default"


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
    keras_export(model, path, "tf_saved_model", "write_saved_model")
    logger.info("wrote SavedModel %s", path)


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
    return SAVED_MODEL.open(path, input_names).run(inputs)


def _output_key(key: str):
    return (len(key), key)  # output_2 < output_10


class SavedModelRunner(Runner):
    """The "serving_default" signature of a SavedModel, loaded once."""

    def __init__(self, fmt, path, input_names=None):
        import tensorflow as tf

        super().__init__(fmt, path)
        self._tf = tf
        loaded = tf.saved_model.load(self.path)
        self._loaded = loaded  # the signature needs its object alive
        self._signature = loaded.signatures[SIGNATURE]
        self._specs = self._signature.structured_input_signature[1]
        if input_names is None:
            input_names = list(self._specs)
        elif set(self._specs) != set(input_names):
            raise ValueError(
                f"SavedModel {path} has inputs {sorted(self._specs)}; received "
                f"input_names {list(input_names)}."
            )
        self.input_names = list(input_names)

    def _feed(self, inputs, cast: bool = True) -> dict:
        tf = self._tf
        arrays = self._ordered(inputs, self.input_names)
        return {
            name: tf.constant(
                np.asarray(array), dtype=self._specs[name].dtype if cast else None
            )
            for name, array in zip(self.input_names, arrays, strict=True)
        }

    def run(self, inputs) -> list[np.ndarray]:
        results = self._signature(**self._feed(inputs))
        return [results[key].numpy() for key in sorted(results, key=_output_key)]

    def io_details(self) -> dict:
        def entry(name, spec):
            return {
                "name": name,
                "shape": [None if d is None else int(d) for d in spec.shape],
                "dtype": spec.dtype.name,
            }

        outputs = self._signature.structured_outputs
        return {
            "inputs": [entry(n, self._specs[n]) for n in self.input_names],
            "outputs": [entry(k, outputs[k]) for k in sorted(outputs, key=_output_key)],
        }

    def _timed_call(self, inputs):
        feed = self._feed(inputs, cast=False)
        return lambda: self._signature(**feed)


class SavedModelFormat(ExportFormat):
    """TensorFlow SavedModel with Keras' inference function as its signature."""

    name = "saved_model"
    filename = "saved_model"
    description = "TensorFlow SavedModel, serving signature 'serving_default'"
    runtime = "tensorflow"
    tolerance = 1e-4
    needs_tensorflow = True
    model_writer = staticmethod(write_saved_model)

    def open(self, path, input_names=None, **options) -> SavedModelRunner:
        return SavedModelRunner(self, path, input_names)

    def manifest_io(self, path, model, input_names) -> dict:
        # The signature names its outputs output_0, output_1, ...
        names = [f"output_{i}" for i in range(len(model.outputs))]
        return model_io(model, input_names, names)


SAVED_MODEL = SavedModelFormat()
