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
"""

from kerasdl.exporters.exporter import export
from kerasdl.exporters.formats import FORMATS
from kerasdl.exporters.manifest import read_manifest
from kerasdl.exporters.tflite import needed_tf_ops
from kerasdl.exporters.verify import VerificationError, compare_outputs, run_file

__all__ = [
    "FORMATS",
    "VerificationError",
    "compare_outputs",
    "export",
    "needed_tf_ops",
    "read_manifest",
    "run_file",
]
