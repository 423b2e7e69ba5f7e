"""The TFLite formats: float32, float16 weights, dynamic range and full integer.

Conversion (builtin ops only) needs TensorFlow and starts from a SavedModel;
running needs only `ai_edge_litert` (the successor of the deprecated
`tf.lite.Interpreter`), so files are checked with the runtime a mobile app
ships.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from kerasdl import _keras_compat
from kerasdl.exporters.base import ExportFormat, Runner, load_source

__all__ = [
    "TFLITE",
    "TFLITE_DYNAMIC",
    "TFLITE_FP16",
    "TFLITE_INT8",
    "TFLiteFormat",
    "convert_tflite",
    "dynamic_range_slowdown",
    "needed_tf_ops",
    "run_tflite",
    "tflite_io",
]

logger = logging.getLogger(__name__)

_NOT_BUILTIN = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_OP_LIST = re.compile(r"(?:TF Select ops|Flex ops|Custom ops):\s*([^\n]+)")
# fused["Cumprod:", "functional_1/lambda_1/Cumprod@__inference..."]
_OP_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)@')


def needed_tf_ops(message: str) -> tuple[list[str], list[str]]:
    """Parses a TFLite converter error for TensorFlow ops with no builtin kernel.

    Args:
        message: str. The converter's error text.

    Returns:
        (ops, places): sorted op names (e.g. ["Cumprod", "Erf"]) and the
        graph paths where they occur (e.g. ["functional/lambda/Cumprod"]);
        both empty when the failure has another cause.

    Example:
    >>> needed_tf_ops("... TF Select ops: Cumprod, Erf\\n")[0]
    ['Cumprod', 'Erf']
    """
    ops = set(_NOT_BUILTIN.findall(message))
    for line in _OP_LIST.findall(message):
        ops.update(op.strip() for op in line.split(",") if op.strip())
    places = sorted({path for op, path in _OP_LOCATION.findall(message) if op in ops})
    return sorted(ops), places


def _calibration_data(representative, input_names):
    """A representative_dataset callable: one sample per step, keyed by name."""

    def generate():
        for i in range(len(representative[0])):
            yield {
                name: array[i : i + 1]
                for name, array in zip(input_names, representative, strict=True)
            }

    return generate


def convert_tflite(
    saved_model_dir: str,
    kind: str,
    input_names: list[str],
    representative: list[np.ndarray] | None = None,
    int8_io: bool | str = False,
    model_name: str = "model",
    per_channel: bool = True,
    strip_tensor_names: bool = False,
) -> bytes:
    """Converts a SavedModel to a TFLite flatbuffer using builtin ops only.

    Needs the TensorFlow package (any Keras backend in this process).

    Args:
        saved_model_dir: str. A SavedModel with a "serving_default" signature.
        kind: str. "tflite" (float32), "tflite_fp16" (float16 weights),
            "tflite_dynamic" (int8 weights, float activations) or
            "tflite_int8" (full integer, needs `representative`).
        input_names: list of str. Signature input names, in the order of
            `representative`'s arrays.
        representative: list of np.ndarray or None. One array per input, the
            calibration samples along axis 0 (for "tflite_int8").
        int8_io: bool or "uint8". For "tflite_int8": int8 (True) or uint8
            ("uint8") input and output tensors instead of float32 ones.
        model_name: str. Used in error messages.
        per_channel: bool. For "tflite_int8": one weight scale per output
            channel of convolution kernels (TFLite's default). False gives
            one scale per tensor: no float32 scale and int64 zero point per
            output channel of every weight and bias tensor (24 bytes a
            channel: 17 kB of ResNet-20's 308 kB file, 410 kB of
            MobileNetV2's 2.7 MB), no faster, and less accurate where
            channel ranges differ widely (depthwise convolutions).
        strip_tensor_names: bool. Empty the names of intermediate tensors
            (debug strings made of the fused TensorFlow op names, about 2 kB
            on LeNet-5). Input and output tensors and the signature keep
            theirs, so apps and interpreters address the file as before.

    Returns:
        bytes: the .tflite file content.

    Raises:
        ValueError: if `kind` is unknown, "tflite_int8" lacks calibration
            data, or the model needs TensorFlow ops that TFLite has no builtin
            kernel for (Flex / select-TF or custom ops); the message names them.
        RuntimeError: if the converter fails for another reason.

    Example:
    >>> data = convert_tflite("saved_model", "tflite_dynamic", ["image"])
    """
    import tensorflow as tf

    if kind not in _RECIPES:
        raise ValueError(f"Unknown TFLite kind {kind!r}; accepted: {tuple(_RECIPES)}.")
    fmt = _RECIPES[kind]
    if fmt.needs_representative_data and (
        representative is None or len(representative[0]) == 0
    ):
        raise ValueError(
            f"{kind} needs representative_data to calibrate activation "
            "ranges; received none."
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    fmt.configure(
        converter,
        representative=representative,
        input_names=input_names,
        int8_io=int8_io,
        per_channel=per_channel,
    )
    try:
        content = converter.convert()
    except Exception as error:  # the converter raises its own ConverterError
        message = str(error)
        needed, places = needed_tf_ops(message)
        if needed:
            where = f" (at {', '.join(places)})" if places else ""
            raise ValueError(
                f"Model {model_name!r} cannot be exported as {kind!r}: it needs "
                f"the TensorFlow op(s) {', '.join(needed)}{where}, which have no "
                "TFLite builtin kernel (they exist only as Flex/select-TF or "
                "custom ops), so the file could not run on a mobile TFLite "
                "runtime. Replace the layers that use them, or export "
                "'saved_model' or 'onnx' instead."
            ) from error
        first = next(
            (line.strip() for line in message.splitlines() if "error" in line),
            message.strip()[:500],
        )
        hint = (
            " Some op may lack an int8 kernel; try 'tflite_dynamic'."
            if kind == "tflite_int8"
            else ""
        )
        raise RuntimeError(
            f"TFLite conversion of model {model_name!r} to {kind!r} failed: "
            f"{first}.{hint}"
        ) from error
    return _strip_tensor_names(content) if strip_tensor_names else content


def _strip_tensor_names(content: bytes) -> bytes:
    """Empties intermediate tensor names; I/O tensors and signatures keep theirs."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for subgraph in model.subgraphs:
        keep = {int(i) for i in subgraph.inputs} | {int(i) for i in subgraph.outputs}
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep:
                tensor.name = ""
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _output_order(name: str):
    # Signature outputs are "output_0", "output_1", ...: sort numerically.
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, -1)


def _io_entry(name: str, detail: dict) -> dict:
    entry = {
        "name": name,
        "shape": [
            None if d < 0 else int(d)
            for d in detail.get("shape_signature", detail["shape"])
        ],
        "dtype": np.dtype(detail["dtype"]).name,
    }
    scale, zero_point = detail["quantization"]
    if scale:
        entry["scale"] = float(scale)
        entry["zero_point"] = int(zero_point)
    return entry


def tflite_io(path: str) -> dict:
    """Input and output tensors of a .tflite file, with int8 quantization.

    Args:
        path: str. The .tflite file.

    Returns:
        dict: {"inputs": [...], "outputs": [...]}, each entry {"name",
        "shape" (None for a free dimension), "dtype"} plus "scale" and
        "zero_point" for quantized tensors (real = scale * (q - zero_point)).

    Example:
    >>> tflite_io("model_int8.tflite")["inputs"][0]["dtype"]
    'int8'
    """
    return TFLiteRunner(TFLITE, path).io_details()


def _quantize(array: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if scale and np.issubdtype(dtype, np.integer) and array.dtype.kind == "f":
        info = np.iinfo(dtype)
        quantized = np.round(array / scale + zero_point)
        return np.clip(quantized, info.min, info.max).astype(dtype)
    return array.astype(dtype, copy=False)


def _dequantize(array: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if scale and np.issubdtype(array.dtype, np.integer):
        return (array.astype(np.float32) - zero_point) * np.float32(scale)
    return array


def run_tflite(
    path: str, inputs: list[np.ndarray], input_names: list[str]
) -> list[np.ndarray]:
    """Runs a .tflite file with the LiteRT interpreter on a batch of inputs.

    Float inputs of an int8-I/O model are quantized, and int8 outputs
    dequantized, with each tensor's own scale and zero point.

    Args:
        path: str. The .tflite file.
        inputs: list of np.ndarray. One batch per model input.
        input_names: list of str. The signature input name of each array.

    Returns:
        list of np.ndarray: the outputs, in model order, as floats where the
        file quantized them.

    Raises:
        ValueError: if the file's inputs do not match `input_names`.

    Example:
    >>> (probs,) = run_tflite("model.tflite", [x], ["image"])
    """
    return TFLiteRunner(TFLITE, path, input_names).run(inputs)


class TFLiteRunner(Runner):
    """A .tflite file in the LiteRT interpreter, loaded once.

    Float inputs of an int8-I/O file are quantized, and int8 outputs
    dequantized, with each tensor's own scale and zero point.
    """

    def __init__(self, fmt, path, input_names=None, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(fmt, path)
        self._num_threads = num_threads
        self._interpreter = Interpreter(model_path=self.path, num_threads=num_threads)
        self._runner = self._interpreter.get_signature_runner()
        self._details = self._runner.get_input_details()
        self._out_details = self._runner.get_output_details()
        self.input_names = self._resolve(input_names)

    def _resolve(self, input_names) -> list[str]:
        """Maps the caller's names to the file's (a single input by position)."""
        details = self._details
        if input_names is None:
            return list(details)
        names = list(input_names)
        if set(names) == set(details):
            return names
        if len(details) != len(names):
            raise ValueError(
                f"{self.path} has inputs {sorted(details)}; received "
                f"{len(names)} input(s) named {names}."
            )
        if len(names) == 1:
            return list(details)
        raise ValueError(
            f"{self.path} has inputs {sorted(details)}; input_names {names} "
            "do not match them."
        )

    def run(self, inputs) -> list[np.ndarray]:
        arrays = self._ordered(inputs, self.input_names)
        feed = {
            name: _quantize(np.asarray(array), self._details[name])
            for name, array in zip(self.input_names, arrays, strict=True)
        }
        results = self._runner(**feed)
        return [
            _dequantize(np.asarray(results[name]), self._out_details[name])
            for name in sorted(results, key=_output_order)
        ]

    def io_details(self) -> dict:
        return {
            "inputs": [_io_entry(n, self._details[n]) for n in self._details],
            "outputs": [
                _io_entry(name, self._out_details[name])
                for name in sorted(self._out_details, key=_output_order)
            ],
        }

    def _timed_call(self, inputs):
        """Set inputs, invoke, read outputs, on an interpreter of its own."""
        from ai_edge_litert.interpreter import Interpreter

        # A fresh interpreter: one that has handed out a signature runner
        # refuses resize_tensor_input.
        interpreter = Interpreter(model_path=self.path, num_threads=self._num_threads)
        arrays = self._ordered(inputs, self.input_names)
        indices = {n: d["index"] for n, d in self._details.items()}
        outputs = [d["index"] for d in self._out_details.values()]
        for name, array in zip(self.input_names, arrays, strict=True):
            interpreter.resize_tensor_input(indices[name], list(np.shape(array)))
        interpreter.allocate_tensors()
        # An app feeds int8 inputs to an int8-I/O file: quantize outside the timer.
        feed = [
            (indices[name], _quantize(np.asarray(array), self._details[name]))
            for name, array in zip(self.input_names, arrays, strict=True)
        ]

        def call():
            for index, value in feed:
                interpreter.set_tensor(index, value)
            interpreter.invoke()
            for index in outputs:
                interpreter.get_tensor(index)

        return call

    def close(self) -> None:
        self._runner = self._interpreter = None


class TFLiteFormat(ExportFormat):
    """One TFLite conversion recipe; every one converts with builtin ops only.

    Attributes:
        optimize: bool. Converter optimizations on (weight quantization).
        float16: bool. float16 weights.
    """

    needs_tensorflow = True
    from_saved_model = True
    runtime = "ai_edge_litert"
    optimize = False
    float16 = False

    def __init__(self, name, filename, description, **attributes):
        self.name = name
        self.filename = filename
        self.description = description
        for key, value in attributes.items():
            if not hasattr(type(self), key):
                raise TypeError(f"TFLiteFormat has no attribute {key!r}.")
            setattr(self, key, value)

    def configure(
        self, converter, representative, input_names, int8_io, per_channel
    ) -> None:
        """Sets this recipe's options on a `tf.lite.TFLiteConverter`."""
        import tensorflow as tf

        if self.optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.float16:
            converter.target_spec.supported_types = [tf.float16]
        if not self.needs_representative_data:
            return
        converter.representative_dataset = _calibration_data(
            representative, input_names
        )
        # Int8 kernels only: a float fallback would not be full-integer.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not per_channel:
            _keras_compat.disable_per_channel(converter)
        if int8_io and self.quantized_io:
            io_type = tf.uint8 if int8_io == "uint8" else tf.int8
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type

    def write(
        self,
        source,
        path,
        *,
        saved_model=None,
        representative=None,
        int8_io=False,
        per_channel=True,
        strip_tensor_names=False,
        **options,
    ) -> None:
        """Converts to a .tflite file (see `convert_tflite` for the options).

        `saved_model` is a SavedModel of `source` already written (the
        exporter shares one among the TFLite formats); without it one is
        written into a temporary folder first.
        """
        import tempfile

        from kerasdl.exporters.savedmodel import write_saved_model

        model = load_source(source)
        with tempfile.TemporaryDirectory(prefix="kerasdl-tflite-") as scratch:
            if saved_model is None:
                saved_model = os.path.join(scratch, "saved_model")
                write_saved_model(model, saved_model)
            content = convert_tflite(
                saved_model,
                self.name,
                options.get("input_names") or [t.name for t in model.inputs],
                representative=representative,
                int8_io=int8_io,
                model_name=options.get("model_name", model.name),
                per_channel=per_channel,
                strip_tensor_names=strip_tensor_names,
            )
        with open(path, "wb") as f:
            f.write(content)
        logger.info("wrote %s (%d bytes)", path, len(content))

    def open(self, path, input_names=None, num_threads=None, **options):
        return TFLiteRunner(self, path, input_names, num_threads=num_threads)

    def manifest_options(self, options: dict) -> dict:
        recorded = {}
        if self.needs_representative_data:
            recorded["int8_io"] = options["int8_io"]
            recorded["per_channel"] = options["per_channel"]
        recorded["strip_tensor_names"] = options["strip_tensor_names"]
        return recorded


def dynamic_range_slowdown(
    dynamic_path: str,
    float_path: str,
    inputs: list[np.ndarray],
    input_names: list[str],
    rounds: int = 3,
    runs: int = 20,
) -> dict:
    """Batch-1 latency of a "tflite_dynamic" file against its float32 file.

    Dynamic-range files keep float activations and dequantize int8 weights
    in hybrid kernels: faster than float on large dense and convolution
    layers, slower where a kernel has no hybrid path (depthwise
    convolutions: 1.9x on MobileNetV2). Both files run with one thread, in
    interleaved rounds, so machine noise hits both alike.

    Args:
        dynamic_path: str. The "tflite_dynamic" file.
        float_path: str. The "tflite" (float32) file of the same model.
        inputs: list of np.ndarray. One sample batch per input (the first
            sample is used).
        input_names: list of str. Signature input names, in `inputs` order.
        rounds: int. Interleaved rounds; the ratio is their median.
        runs: int. Timed calls per file and round.

    Returns:
        dict: "ratio" (median over rounds of dynamic p50 / float p50),
        "dynamic_p50_ms", "float_p50_ms" (medians over rounds), "threads".
    """
    sample = [np.asarray(a[:1]) for a in inputs]
    runners = [
        TFLiteRunner(TFLITE, path, input_names, num_threads=1)
        for path in (dynamic_path, float_path)
    ]
    p50s = [[], []]
    for _ in range(rounds):
        for times, runner in zip(p50s, runners, strict=True):
            times.append(runner.latency(sample, runs=runs)[0])
    ratio = float(np.median([d / f for d, f in zip(*p50s, strict=True)]))
    return {
        "ratio": round(ratio, 3),
        "dynamic_p50_ms": round(float(np.median(p50s[0])), 4),
        "float_p50_ms": round(float(np.median(p50s[1])), 4),
        "threads": 1,
    }


TFLITE = TFLiteFormat(
    "tflite", "model.tflite", "TFLite float32, builtin ops only", tolerance=1e-4
)
TFLITE_FP16 = TFLiteFormat(
    "tflite_fp16",
    "model_fp16.tflite",
    "TFLite with float16 weights, float32 compute, builtin ops only",
    tolerance=1e-2,
    optimize=True,
    float16=True,
)
TFLITE_DYNAMIC = TFLiteFormat(
    "tflite_dynamic",
    "model_dynamic.tflite",
    "TFLite dynamic-range: int8 weights, float activations",
    quantized=True,
    optimize=True,
)
TFLITE_INT8 = TFLiteFormat(
    "tflite_int8",
    "model_int8.tflite",
    "TFLite full-integer: int8 weights and activations",
    quantized=True,
    optimize=True,
    needs_representative_data=True,
    quantized_io=True,
)
# Converter recipes by format name.
_RECIPES = {f.name: f for f in (TFLITE, TFLITE_FP16, TFLITE_DYNAMIC, TFLITE_INT8)}
