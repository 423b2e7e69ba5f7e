"""ONNX files: written by Keras' own exporter on TensorFlow, run by ONNX Runtime.

`tf2onnx.convert.from_keras` does not accept Keras 3 models;
`model.export(format="onnx")` on the TensorFlow backend traces the model's
inference function and converts that with tf2onnx, which works.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

__all__ = ["onnx_io", "run_onnx", "write_onnx"]

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
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "write_onnx needs the TensorFlow backend; the backend is "
            f"{keras.backend.backend()!r}. Use kerasdl.exporters.export, which "
            "converts in a TensorFlow subprocess."
        )
    with warnings.catch_warnings():
        # Keras' tf2onnx shim probes the removed np.object alias.
        warnings.filterwarnings(
            "ignore", message=".*np.object.*", category=FutureWarning
        )
        model.export(str(path), format="onnx", verbose=False)
    logger.info("wrote %s", path)


def _session(path: str):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_io(path: str) -> dict:
    """Input and output tensors of an ONNX file.

    Returns:
        dict: {"inputs": [...], "outputs": [...]}, each entry {"name",
        "shape" (None for a free dimension), "dtype"}.

    Example:
    >>> onnx_io("model.onnx")["inputs"][0]["name"]
    'image'
    """
    session = _session(path)

    def entry(arg):
        shape = [d if isinstance(d, int) else None for d in arg.shape]
        dtype = np.dtype(_ORT_DTYPES.get(arg.type, np.float32)).name
        return {"name": arg.name, "shape": shape, "dtype": dtype}

    return {
        "inputs": [entry(a) for a in session.get_inputs()],
        "outputs": [entry(a) for a in session.get_outputs()],
    }


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
    session = _session(path)
    args = session.get_inputs()
    if len(args) != len(inputs):
        raise ValueError(
            f"{path} has {len(args)} input(s) {[a.name for a in args]}; "
            f"received {len(inputs)}."
        )
    by_name = dict(zip(input_names, inputs, strict=True))
    if set(by_name) != {a.name for a in args}:
        by_name = {a.name: array for a, array in zip(args, inputs, strict=True)}
    feed = {
        a.name: np.asarray(by_name[a.name]).astype(
            _ORT_DTYPES.get(a.type, np.float32), copy=False
        )
        for a in args
    }
    return [np.asarray(out) for out in session.run(None, feed)]
