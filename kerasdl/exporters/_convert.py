"""TensorFlow-side conversion: a Keras model to SavedModel, TFLite and ONNX files.

This is the one place where export depends on the backend. The converters
(TFLite, tf2onnx) consume TensorFlow graphs, so:

- on the TensorFlow backend, `convert` runs in-process on the model itself;
- on JAX or PyTorch, the model is saved as .keras and this module runs as
  `python -m kerasdl.exporters._convert job.json` with KERAS_BACKEND=tensorflow,
  loads the file there and converts it (`convert_in_subprocess`). The
  subprocess also runs the SavedModel on the sample inputs; the calling
  process compares those outputs with the model's.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys

import numpy as np

from kerasdl._io import read_json, write_json_atomic
from kerasdl._memory import release_freed_memory
from kerasdl.exporters.formats import FORMATS
from kerasdl.exporters.savedmodel import SAVED_MODEL, run_saved_model

logger = logging.getLogger(__name__)

_ERRORS = {"ValueError": ValueError, "RuntimeError": RuntimeError}


# Options of the TensorFlow-made formats and their defaults (see `convert`).
OPTIONS = {"int8_io": False, "per_channel": True, "strip_tensor_names": False}


def _with_defaults(options: dict) -> dict:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(
            f"Unknown conversion options {unknown}; accepted: {sorted(OPTIONS)}."
        )
    return {**OPTIONS, **options}


def convert(
    model,
    out_dir: str,
    formats: list[str],
    scratch: str,
    representative: list[np.ndarray] | None = None,
    **options,
) -> dict:
    """Writes the TensorFlow-made formats of `model` into `out_dir`.

    Args:
        model: keras.Model on the TensorFlow backend.
        out_dir: str. Folder that receives the files, named by each
            format's `filename`.
        formats: list of str. Names of formats with `needs_tensorflow`
            ("saved_model", "tflite*", "onnx").
        scratch: str. Folder for the intermediate SavedModel when formats
            convert from one (`from_saved_model`) but "saved_model" itself
            is not requested.
        representative: list of np.ndarray or None. Calibration samples, one
            array per input (needed for "tflite_int8").
        **options: The formats' options (`OPTIONS`, defaults there):
            int8_io (bool or "uint8": int8 or uint8 inputs and outputs for
            "tflite_int8"), per_channel (bool: per-channel or per-tensor
            weight scales for "tflite_int8"), strip_tensor_names (bool: empty
            the intermediate tensor names of TFLite files).

    Returns:
        dict: {"input_names": [...]}, the input names inside the files.

    Raises:
        ValueError: if the model needs ops with no TFLite builtin kernel.
        RuntimeError: if a converter fails otherwise.
    """
    options = _with_defaults(options)
    input_names = [t.name for t in model.inputs]
    requested = [FORMATS[name] for name in formats]
    # One SavedModel serves every format that converts from one: the
    # requested "saved_model" file itself, or a scratch copy.
    saved_model = None
    if SAVED_MODEL in requested or any(f.from_saved_model for f in requested):
        if SAVED_MODEL in requested:
            saved_model = os.path.join(out_dir, SAVED_MODEL.filename)
        else:
            saved_model = os.path.join(scratch, "saved_model")
        SAVED_MODEL.write(model, saved_model)
    # Each converter frees what it allocated, but glibc keeps the pages: trim
    # after each, so the call peaks at its largest conversion, not their sum.
    release_freed_memory()
    # Formats that convert from the SavedModel first, the others after.
    ordered = sorted(requested, key=lambda f: not f.from_saved_model)
    for fmt in ordered:
        if fmt is SAVED_MODEL:
            continue
        fmt.write(
            model,
            os.path.join(out_dir, fmt.filename),
            saved_model=saved_model,
            input_names=input_names,
            representative=representative,
            model_name=model.name,
            **options,
        )
        release_freed_memory()
    return {"input_names": input_names}


def _save_arrays(path: str, arrays: list[np.ndarray] | None) -> str | None:
    if arrays is None:
        return None
    np.savez(path, *arrays)
    return path


def _load_arrays(path: str | None) -> list[np.ndarray] | None:
    if path is None:
        return None
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def convert_in_subprocess(
    keras_file: str,
    out_dir: str,
    formats: list[str],
    scratch: str,
    representative: list[np.ndarray] | None = None,
    sample_inputs: list[np.ndarray] | None = None,
    imports: list[str] = (),
    **options,
) -> dict:
    """Runs `convert` on a .keras file in a TensorFlow-backend subprocess.

    Args:
        keras_file: str. The model saved as .keras.
        out_dir, formats, scratch, representative, **options: as in
            `convert`.
        sample_inputs: list of np.ndarray or None. When "saved_model" is
            written, the subprocess runs it on these and returns the outputs.
        imports: list of str. Modules to import first, so that custom layer
            classes are registered before the file is loaded.

    Returns:
        dict: {"input_names": [...], "saved_model_outputs": [...] or None}.

    Raises:
        ValueError, RuntimeError: as `convert` raises them in the subprocess;
            RuntimeError with the subprocess' stderr when it crashes.
    """
    job = {
        "model": keras_file,
        "out_dir": out_dir,
        "formats": list(formats),
        "scratch": scratch,
        "representative": _save_arrays(
            os.path.join(scratch, "representative.npz"), representative
        ),
        "samples": _save_arrays(os.path.join(scratch, "samples.npz"), sample_inputs),
        "options": _with_defaults(options),
        "imports": list(imports),
        "result": os.path.join(scratch, "result.json"),
    }
    job_path = os.path.join(scratch, "job.json")
    with open(job_path, "w", encoding="utf-8") as f:
        json.dump(job, f)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The child sees the modules this process sees (custom layers, tests).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    logger.info("converting %s with TensorFlow in a subprocess", keras_file)
    proc = subprocess.run(
        [sys.executable, "-m", "kerasdl.exporters._convert", job_path],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    logger.debug("conversion subprocess stderr:\n%s", proc.stderr)
    if not os.path.isfile(job["result"]):
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise RuntimeError(
            f"The TensorFlow conversion subprocess exited with code "
            f"{proc.returncode} before reporting a result:\n{tail}"
        )
    result = read_json(job["result"])
    if not result["ok"]:
        raise _ERRORS.get(result["error"], RuntimeError)(result["message"])
    result["saved_model_outputs"] = _load_arrays(result.get("saved_model_outputs"))
    return result


def _run_job(job: dict) -> dict:
    import keras

    from kerasdl import _backend

    _backend.require_tensorflow(
        "The conversion subprocess needs KERAS_BACKEND=tensorflow; it "
        "runs on {backend}.",
        RuntimeError,
    )
    for module in job["imports"]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise RuntimeError(
                f"Could not import module {module!r}, which defines layers of "
                f"the model, in the TensorFlow conversion subprocess: {error}"
            ) from error
    model = keras.saving.load_model(job["model"], compile=False)
    result = convert(
        model,
        job["out_dir"],
        job["formats"],
        job["scratch"],
        representative=_load_arrays(job["representative"]),
        **job["options"],
    )
    samples = _load_arrays(job["samples"])
    result["saved_model_outputs"] = None
    if samples is not None and SAVED_MODEL.name in job["formats"]:
        outputs = run_saved_model(
            os.path.join(job["out_dir"], SAVED_MODEL.filename),
            samples,
            result["input_names"],
        )
        result["saved_model_outputs"] = _save_arrays(
            os.path.join(job["scratch"], "saved_model_outputs.npz"), outputs
        )
    return result


def main(argv: list[str] | None = None) -> int:
    """Subprocess entry point: `python -m kerasdl.exporters._convert job.json`."""
    argv = sys.argv[1:] if argv is None else argv
    job = read_json(argv[0])
    try:
        result = {"ok": True, **_run_job(job)}
    except (ValueError, RuntimeError) as error:
        result = {"ok": False, "error": type(error).__name__, "message": str(error)}
    write_json_atomic(job["result"], result, indent=None)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
