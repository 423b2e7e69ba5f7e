"""Export: Keras models to verified SavedModel, TFLite, ONNX and .keras files.

`export` writes the requested formats plus a manifest.json into one folder,
runs every file with the runtime an app would use (LiteRT, ONNX Runtime,
TensorFlow, Keras) and compares it with the model. It works from any
backend: JAX and PyTorch models are converted in a TensorFlow subprocess.

Example:
>>> import kerasdl
>>> manifest = kerasdl.export(
...     model, "savedmodels/mlp", formats=("tflite", "tflite_int8", "onnx"),
...     representative_data=x_train[:300], labels=class_names)
>>> manifest["files"]["tflite_int8"]["bytes"]

Formats are objects in `FORMATS` (name -> `ExportFormat`); open a written
file once and run it many times:
>>> runner = FORMATS["tflite_int8"].open("savedmodels/mlp/model_int8.tflite")
>>> (probs,) = runner.run([x_test[:8]])
"""

from kerasdl.exporters.base import ExportFormat, Runner
from kerasdl.exporters.exporter import export
from kerasdl.exporters.formats import (
    FORMATS,
    check_formats,
    get_format,
    register,
    unregister,
)
from kerasdl.exporters.manifest import read_manifest
from kerasdl.exporters.tflite import needed_tf_ops
from kerasdl.exporters.verify import VerificationError, compare_outputs, run_file

__all__ = [
    "FORMATS",
    "ExportFormat",
    "Runner",
    "VerificationError",
    "check_formats",
    "compare_outputs",
    "export",
    "get_format",
    "needed_tf_ops",
    "read_manifest",
    "register",
    "run_file",
    "unregister",
]
