"""The "onnx" format: written by Keras' own exporter on TensorFlow, run by ONNX Runtime.

`tf2onnx.convert.from_keras` does not accept Keras 3 models;
`model.export(format="onnx")` on the TensorFlow backend traces the model's
inference function and converts that with tf2onnx, which works.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from kerasdl import _keras_compat
from kerasdl.exporters.base import ExportFormat, Runner, keras_export

__all__ = ["ONNX", "OnnxFormat", "onnx_io", "run_onnx", "write_onnx"]

logger = logging.getLogger(__name__)

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def write_onnx(model, path: str) -> None:
    """Writes `model` as an ONNX file (TensorFlow backend, needs tf2onnx).

    Args:
        model: keras.Model. Must live on the TensorFlow backend.
        path: str. The .onnx file to write.

    Raises:
        ValueError: if the Keras backend is not TensorFlow.

    Example:
    >>> write_onnx(model, "export/model.onnx")
    """
    with warnings.catch_warnings(), _keras_compat.collect_between_onnx_passes():
        # Keras' tf2onnx shim probes the removed np.object alias.
        warnings.filterwarnings(
            "ignore", message=".*np.object.*", category=FutureWarning
        )
        keras_export(model, path, "onnx", "write_onnx")
    logger.info("wrote %s", path)


def onnx_io(path: str) -> dict:
    """Input and output tensors of an ONNX file.

    Returns:
        dict: {"inputs": [...], "outputs": [...]}, each entry {"name",
        "shape" (None for a free dimension), "dtype"}.

    Example:
    >>> onnx_io("model.onnx")["inputs"][0]["name"]
    'image'
    """
    return OnnxRunner(ONNX, path).io_details()


def run_onnx(
    path: str, inputs: list[np.ndarray], input_names: list[str]
) -> list[np.ndarray]:
    """Runs an ONNX file with ONNX Runtime (CPU) on a batch of inputs.

    Args:
        path: str. The .onnx file.
        inputs: list of np.ndarray. One batch per model input.
        input_names: list of str. The name of each array; when they do not
            match the file's input names, arrays are fed by position.

    Returns:
        list of np.ndarray: the outputs in the file's (= the model's) order.

    Raises:
        ValueError: if the number of inputs differs from the file's.

    Example:
    >>> (probs,) = run_onnx("model.onnx", [x], ["image"])
    """
    return OnnxRunner(ONNX, path, input_names).run(inputs)


class OnnxRunner(Runner):
    """An ONNX file in an ONNX Runtime CPU session, created once.

    Arrays are fed by name when the caller's input names match the file's,
    else by position.
    """

    def __init__(self, fmt, path, input_names=None, num_threads=None):
        import onnxruntime

        super().__init__(fmt, path)
        options = None
        if num_threads:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = num_threads
        self._session = onnxruntime.InferenceSession(
            self.path, options, providers=["CPUExecutionProvider"]
        )
        self._args = self._session.get_inputs()
        names = [a.name for a in self._args]
        self.input_names = names if input_names is None else list(input_names)

    def _feed(self, inputs) -> dict:
        arrays = self._ordered(inputs, self.input_names)
        args = self._args
        if len(args) != len(arrays):
            raise ValueError(
                f"{self.path} has {len(args)} input(s) {[a.name for a in args]}; "
                f"received {len(arrays)}."
            )
        by_name = dict(zip(self.input_names, arrays, strict=True))
        if set(by_name) != {a.name for a in args}:
            by_name = {a.name: array for a, array in zip(args, arrays, strict=True)}
        return {
            a.name: np.asarray(by_name[a.name]).astype(
                _ORT_DTYPES.get(a.type, np.float32), copy=False
            )
            for a in args
        }

    def run(self, inputs) -> list[np.ndarray]:
        return [np.asarray(out) for out in self._session.run(None, self._feed(inputs))]

    def io_details(self) -> dict:
        def entry(arg):
            shape = [d if isinstance(d, int) else None for d in arg.shape]
            dtype = np.dtype(_ORT_DTYPES.get(arg.type, np.float32)).name
            return {"name": arg.name, "shape": shape, "dtype": dtype}

        return {
            "inputs": [entry(a) for a in self._args],
            "outputs": [entry(a) for a in self._session.get_outputs()],
        }

    def _timed_call(self, inputs):
        feed = self._feed(inputs)
        return lambda: self._session.run(None, feed)

    def close(self) -> None:
        self._session = None


class OnnxFormat(ExportFormat):
    """ONNX, converted from the TensorFlow graph by Keras' `model.export`."""

    name = "onnx"
    filename = "model.onnx"
    description = "ONNX (converted by Keras' model.export on TensorFlow)"
    runtime = "onnxruntime"
    tolerance = 1e-4
    needs_tensorflow = True
    model_writer = staticmethod(write_onnx)

    def open(self, path, input_names=None, num_threads=None, **options):
        return OnnxRunner(self, path, input_names, num_threads=num_threads)


ONNX = OnnxFormat()
