"""manifest.json: what an app needs to load and feed an exported model.

The manifest records the model (name, backend it was trained on, library
versions), its input and output tensors, the caller's preprocessing, labels
and metrics (passed through unchanged), and for every file its path, size,
gzipped size, tensor names, int8 quantization parameters and verification
result.
"""

from __future__ import annotations

import datetime
import gzip
import importlib.metadata
import os
import platform

# `to_json` is the json default of the ground floor, kept under its old name.
from kerasdl._io import json_default as to_json
from kerasdl._io import read_json, write_json_atomic

__all__ = [
    "MANIFEST",
    "MANIFEST_VERSION",
    "build_manifest",
    "file_sizes",
    "read_manifest",
    "to_json",
    "write_manifest",
]

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

# Packages whose versions decide how the files were produced and run.
_PACKAGES = ("keras", "tensorflow", "tf2onnx", "onnxruntime", "ai-edge-litert")


def _versions() -> dict:
    """Versions of kerasdl, Python and the export stack (None if absent)."""

    # Read from the installed metadata, not `kerasdl.__version__`: importing
    # the package root from here would make export depend on the top floor.
    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    found = {"kerasdl": version("kerasdl"), "python": platform.python_version()}
    found.update((name, version(name)) for name in _PACKAGES)
    return found


def file_sizes(path: str) -> tuple[int, int]:
    """Bytes on disk and gzip-compressed bytes of a file or a folder's files.

    Args:
        path: str. A file, or a folder (its files are summed).

    Returns:
        (bytes, gzip_bytes): sizes as written and as an app download would
        ship them compressed.

    Example:
    >>> raw, zipped = file_sizes("model_int8.tflite")
    """
    if os.path.isdir(path):
        paths = [
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in sorted(names)
        ]
    else:
        paths = [path]
    raw = zipped = 0
    for file in paths:
        with open(file, "rb") as f:
            data = f.read()
        raw += len(data)
        zipped += len(gzip.compress(data, compresslevel=6, mtime=0))
    return raw, zipped


def _tensor_specs(tensors, names) -> list[dict]:
    """[{"name", "shape", "dtype"}] for Keras tensors (None = free dimension)."""
    return [
        {
            "name": name,
            "shape": [None if d is None else int(d) for d in t.shape],
            "dtype": str(t.dtype),
        }
        for t, name in zip(tensors, names, strict=True)
    ]


def build_manifest(
    *,
    model,
    backend: str,
    input_names: list[str],
    output_names: list[str],
    files: dict,
    preprocessing=None,
    labels=None,
    metrics=None,
    samples: dict,
    reference: dict | None = None,
) -> dict:
    """Assembles the manifest dict (see the module docstring for the fields).

    Args:
        model: keras.Model. The exported model.
        backend: str. The Keras backend the model was trained on.
        input_names: list of str. Input names inside the exported files.
        output_names: list of str. The model's output names.
        files: dict. Per format: path, sizes, tensors, verification.
        preprocessing: JSON-serializable or None. Passed through.
        labels: sequence of str or None. Class names.
        metrics: JSON-serializable or None. Passed through.
        samples: dict. {"count", "source"} of the verification inputs.
        reference: dict or None. Statistics of typical inputs and outputs
            (`kerasdl.exporters.statistics.reference_statistics`), which a
            server compares live traffic with to detect drift.

    Returns:
        dict: the manifest, JSON-serializable.

    Example:
    >>> manifest = build_manifest(model=model, backend="jax", ...)
    """
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": model.name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "backend": backend,
        "versions": _versions(),
        "parameters": int(model.count_params()),
        "inputs": _tensor_specs(model.inputs, input_names),
        "outputs": _tensor_specs(model.outputs, output_names),
        "preprocessing": preprocessing,
        "labels": None if labels is None else list(labels),
        "metrics": metrics,
        "verification_samples": samples,
        "reference": reference,
        "files": files,
    }


def write_manifest(directory: str, manifest: dict) -> str:
    """Writes manifest.json into `directory` atomically (temp file, rename).

    Args:
        directory: str. An existing folder.
        manifest: dict. JSON-serializable (numpy values are converted).

    Returns:
        str: the path of manifest.json.

    Example:
    >>> write_manifest("savedmodels/mlp", manifest)
    'savedmodels/mlp/manifest.json'
    """
    path = os.path.join(directory, MANIFEST)
    write_json_atomic(path, manifest, indent=2)
    return path


def read_manifest(directory: str) -> dict:
    """Reads the manifest.json of an export directory.

    Args:
        directory: str. A folder written by `kerasdl.exporters.export`.

    Returns:
        dict: the manifest.

    Raises:
        ValueError: if `directory` holds no manifest.json.

    Example:
    >>> read_manifest("savedmodels/lenet5")["files"]["tflite_int8"]["bytes"]
    """
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(
            f"No {MANIFEST} in directory {directory!r}; export a model there "
            "with kerasdl.exporters.export first."
        )
    return read_json(path)
