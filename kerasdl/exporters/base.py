"""What every export format is: a writer and a runner of one kind of file.

A format object (`ExportFormat`) knows its name, the file (or folder) name it
writes inside an export directory, how to write it from a Keras model, and
how to open a written file with the runtime an app would use. `open` returns
a `Runner`: load once, then `run` many times (what verification, the
compression report and a model server need), plus `io_details` (tensor
names, shapes, dtypes, int8 scale and zero point) and `latency`.

Adding a format is one new module: subclass `ExportFormat` (and `Runner`),
then `kerasdl.exporters.formats.register(MyFormat())`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from kerasdl._checks import check_named

__all__ = [
    "MIN_WARMUP_RUNS",
    "ExportFormat",
    "Runner",
    "load_source",
    "model_io",
    "time_calls",
]

# Untimed runs before the timed ones (JIT compilation, caches, allocation).
MIN_WARMUP_RUNS = 3


def time_calls(call, runs: int) -> tuple[float, float]:
    """Median and 95th-percentile wall time of `call()`, in milliseconds.

    Args:
        call: callable without arguments. One inference.
        runs: int. Timed calls, after max(3, runs // 10) untimed ones.

    Returns:
        (p50_ms, p95_ms).

    Example:
    >>> p50, p95 = time_calls(lambda: runner.run([x]), runs=50)
    """
    for _ in range(max(MIN_WARMUP_RUNS, runs // 10)):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def keras_export(model, path, keras_format: str, writer: str) -> None:
    """`model.export(path, format=keras_format)` here, on the TensorFlow backend.

    Args:
        model: keras.Model. Must live on the TensorFlow backend.
        path: str. What to write.
        keras_format: str. Keras' export format ("onnx", "tf_saved_model").
        writer: str. The public writer's name, for the error.

    Raises:
        ValueError: if the Keras backend is not TensorFlow (then
            `kerasdl.exporters.export` converts in a TensorFlow subprocess).
    """
    from kerasdl import _backend

    _backend.require_tensorflow(
        f"{writer} needs the TensorFlow backend; the backend is "
        "{backend}. Use kerasdl.exporters.export, which "
        "converts in a TensorFlow subprocess."
    )
    model.export(str(path), format=keras_format, verbose=False)


def load_source(source):
    """A Keras model from `source`: the model itself or a .keras file's path."""
    if isinstance(source, (str, os.PathLike)):
        import keras

        return keras.saving.load_model(os.fspath(source), compile=False)
    return source


def _tensor_entry(name: str, tensor) -> dict:
    shape = [None if d is None else int(d) for d in tensor.shape]
    return {"name": name, "shape": shape, "dtype": str(tensor.dtype)}


def model_io(model, input_names: list[str], output_names: list[str]) -> dict:
    """{"inputs": [...], "outputs": [...]} of a Keras model's tensors.

    Each entry is {"name", "shape" (None for a free dimension), "dtype"}, as
    `Runner.io_details` returns them.
    """
    return {
        "inputs": [
            _tensor_entry(n, t) for n, t in zip(input_names, model.inputs, strict=True)
        ],
        "outputs": [
            _tensor_entry(n, t)
            for n, t in zip(output_names, model.outputs, strict=True)
        ],
    }


def output_names(model) -> list[str]:
    """The model's output names, or "output_0", "output_1", ... without them."""
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return list(names)
    return [f"output_{i}" for i in range(len(model.outputs))]


class Runner:
    """An exported file opened with its runtime, ready to run many times.

    Subclasses load the file in `__init__` (the expensive part) and implement
    `run`, `io_details` and `_timed_call`. A runner is not thread-safe (a
    LiteRT interpreter is not): a server keeps one per worker or serializes
    the calls.

    Attributes:
        format: ExportFormat. The format of the file.
        path: str. The file or folder.
    """

    def __init__(self, fmt: ExportFormat, path):
        self.format = fmt
        self.path = os.fspath(path)

    def run(self, inputs) -> list[np.ndarray]:
        """Runs the file on a batch.

        Args:
            inputs: list of np.ndarray (one batch per input, in the order of
                the `input_names` the runner was opened with, else the
                file's own order) or dict {input name: array}.

        Returns:
            list of np.ndarray: the outputs in model order, as floats where
            the file quantized them.
        """
        raise NotImplementedError

    def io_details(self) -> dict:
        """The file's tensors: {"inputs": [...], "outputs": [...]}.

        Each entry is {"name", "shape" (None for a free dimension), "dtype"},
        plus "scale" and "zero_point" for quantized tensors (real = scale *
        (q - zero_point)).
        """
        raise NotImplementedError

    def _timed_call(self, inputs):
        """Returns a no-argument callable that runs one prepared inference."""
        raise NotImplementedError

    def latency(self, inputs, runs: int = 50) -> tuple[float, float]:
        """Median and 95th-percentile latency on `inputs`, in milliseconds.

        Inputs are prepared (converted, quantized) outside the timer, as an
        app would feed them.

        Args:
            inputs: as in `run`; usually a batch of one.
            runs: int. Timed runs, after a few untimed warm-up runs.

        Returns:
            (p50_ms, p95_ms).
        """
        return time_calls(self._timed_call(inputs), runs)

    def _ordered(self, inputs, names: list[str]) -> list:
        """`inputs` as a list in `names` order (a dict is looked up by name)."""
        if isinstance(inputs, dict):
            return check_named(
                "inputs", inputs, names, "array", where=f" of {self.path}"
            )
        return list(inputs)

    def close(self) -> None:
        """Releases the runtime (the runner is unusable afterwards)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ExportFormat:
    """One kind of exported file. Subclass it to add a format.

    Class attributes (set by subclasses):
        name: str. The format name users pass in `formats`.
        filename: str. The file (or folder) name inside an export directory.
        description: str. One line, written into the manifest.
        runtime: str. The package that runs the file (for the manifest).
        tolerance: float. Float formats: the largest accepted
            max|file - keras| / max(1, max|keras|).
        quantized: bool. True: judged by class agreement with Keras (and a
            loose relative error without a class axis) instead of
            `tolerance`.
        needs_tensorflow: bool. `write` needs a model on the TensorFlow
            backend; `kerasdl.exporters.export` converts models from other
            backends in a TensorFlow subprocess for these formats.
        needs_representative_data: bool. `write` needs calibration data.
        from_saved_model: bool. `write` converts from a SavedModel (the
            exporter writes one SavedModel and passes it as `saved_model=`).
        quantized_io: bool. Accepts int8/uint8 input and output tensors
            (`int8_io`).
        model_writer: staticmethod or None. For a format written from the
            loaded model by one function `(model, path)`, that function, and
            the default `write` calls it; other formats override `write`.
    """

    name: str = ""
    filename: str = ""
    description: str = ""
    runtime: str = ""
    tolerance: float = 1e-4
    quantized: bool = False
    needs_tensorflow: bool = False
    needs_representative_data: bool = False
    from_saved_model: bool = False
    quantized_io: bool = False
    model_writer = None

    @property
    def suffix(self) -> str:
        """The file name's extension (e.g. ".tflite"), "" for a folder."""
        return os.path.splitext(self.filename)[1]

    def write(self, source, path, **options) -> None:
        """Writes the file.

        Args:
            source: keras.Model, or the path of a .keras file (loaded first).
            path: str. The file (or folder) to write.
            **options: format options; each format takes the ones it uses
                and ignores the others (representative, input_names,
                int8_io, per_channel, strip_tensor_names, saved_model,
                model_name).
        """
        if self.model_writer is None:
            raise NotImplementedError
        self.model_writer(load_source(source), path)

    def open(self, path, input_names=None, **options) -> Runner:
        """Opens a written file with its runtime.

        Args:
            path: str. The file (or folder).
            input_names: list of str or None. The names the caller's input
                arrays go by, in `run`'s list order; None: the file's own.
            **options: runtime options, e.g. num_threads (CPU threads of
                LiteRT and ONNX Runtime; None: the runtime's default).

        Returns:
            Runner: call `run` as often as needed.
        """
        raise NotImplementedError

    def manifest_io(self, path, model, input_names: list[str]) -> dict:
        """The "inputs"/"outputs" entries of the manifest for a written file.

        Default: what the file itself reports (`Runner.io_details`).
        """
        runner = self.open(path, input_names)
        try:
            return runner.io_details()
        finally:
            runner.close()

    def manifest_options(self, options: dict) -> dict:
        """Export options recorded in this format's manifest entry."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.filename}>"
