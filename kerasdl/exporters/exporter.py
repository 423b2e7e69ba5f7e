"""`export`: a Keras model to verified deployment files plus a manifest."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np

from kerasdl._checks import check_choice
from kerasdl._io import scratch_folder, staged_folder
from kerasdl._memory import release_freed_memory
from kerasdl.exporters.base import output_names as _output_names
from kerasdl.exporters.formats import FORMATS, check_formats
from kerasdl.exporters.keras_file import KERAS, run_model
from kerasdl.exporters.manifest import (
    MANIFEST,
    build_manifest,
    file_sizes,
    to_json,
    write_manifest,
)
from kerasdl.exporters.savedmodel import SAVED_MODEL
from kerasdl.exporters.statistics import reference_statistics
from kerasdl.exporters.tflite import TFLITE, TFLITE_DYNAMIC, dynamic_range_slowdown
from kerasdl.exporters.verify import VerificationError, compare_outputs, run_file
from kerasdl.models.layout import to_channels_last, to_nhwc

__all__ = ["export"]

logger = logging.getLogger(__name__)

# Calibration samples used for int8 (TFLite's guidance: a few hundred).
MAX_CALIBRATION_SAMPLES = 300
# Verification batch when samples come from representative_data or are random.
VERIFICATION_SAMPLES = 32
# At most this many of the caller's sample_inputs are used (a stream may be endless).
MAX_SAMPLE_INPUTS = 1024
RANDOM_SAMPLES = 8
# Free non-batch dimensions (e.g. sequence length) of random sample inputs.
FREE_DIMENSION = 8
# Samples per compiled forward pass of the Keras model for the reference
# outputs: TensorFlow's oneDNN kernels keep memory per batch shape for the
# rest of the process (on a 160x160 MobileNetV2 ~0.5 GB at 64, 0.18 GB at
# 16, 0.11 GB at 8, no slower on CPU).
REFERENCE_BATCH = 8
# At most this many test_data samples are run through every file, in batches.
MAX_TEST_SAMPLES = 10000
TEST_BATCH = 256
# What export does when a file fails verification.
ON_FAILURE = ("raise", "keep_passing")


def _check_model(model):
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(
            f"model must be a keras.Model; received {type(model).__name__}."
        )
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"model {model.name!r} has no defined inputs. Export needs a "
            "Functional or Sequential model built on keras.Input (or a built "
            "Sequential)."
        )


def _input_names(model) -> list[str]:
    return [t.name for t in model.inputs]


def _batches(data, n_inputs: int, names: list[str], arg: str):
    """Yields lists of arrays (one per input) from the accepted data forms."""
    if isinstance(data, dict):
        yield [data[name] for name in names] if set(data) >= set(names) else None
        return
    if (
        isinstance(data, (list, tuple))
        and len(data) == n_inputs
        and all(hasattr(a, "shape") and len(a.shape) > 0 for a in data)
    ):
        yield list(data)
        return
    if hasattr(data, "shape") and not isinstance(data, (list, tuple, dict)):
        yield [data] if n_inputs == 1 else None
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise ValueError(
            f"{arg} must be an array, a list or dict of arrays (one per model "
            f"input), or an iterable of batches; received {type(data).__name__}."
        ) from None
    for batch in iterator:
        if isinstance(batch, dict):
            yield [batch.get(name) for name in names]
            continue
        if isinstance(batch, (list, tuple)):
            # model.fit form (x, y[, w]): keep x.
            first = batch[0] if batch else None
            if n_inputs == 1 or isinstance(first, (list, tuple, dict)):
                batch = first
        if isinstance(batch, dict):
            yield [batch.get(name) for name in names]
        elif n_inputs == 1:
            yield [batch]
        else:
            yield list(batch) if isinstance(batch, (list, tuple)) else None


def _as_arrays(data, model, arg: str, limit: int | None = None) -> list[np.ndarray]:
    """Normalizes input data to one float/int array per model input."""
    names = _input_names(model)
    chunks = [[] for _ in names]
    count = 0
    for batch in _batches(data, len(names), names, arg):
        if batch is None or len(batch) != len(names) or any(b is None for b in batch):
            raise ValueError(
                f"{arg} does not provide the model's {len(names)} input(s) "
                f"{names}; give an array per input (a list in this order or a "
                "dict keyed by these names)."
            )
        arrays = [np.asarray(b) for b in batch]
        for i, array in enumerate(arrays):
            chunks[i].append(array)
        count += len(arrays[0]) if arrays[0].ndim else 1
        if limit is not None and count >= limit:
            break
    if count == 0:
        raise ValueError(f"{arg} holds no samples; received {type(data).__name__}.")
    arrays = []
    for name, tensor, parts in zip(names, model.inputs, chunks, strict=True):
        expected = tuple(tensor.shape)
        for part in parts:
            shape = part.shape
            if len(shape) != len(expected) or any(
                e is not None and e != s
                for e, s in zip(expected[1:], shape[1:], strict=True)
            ):
                raise ValueError(
                    f"{arg} input {name!r} has shape {shape}; the model expects "
                    f"{expected} (None: any size)."
                )
        array = np.concatenate(parts, axis=0)[:limit]
        arrays.append(array.astype(str(tensor.dtype), copy=False))
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(
            f"{arg} has different sample counts per input: "
            f"{ {n: len(a) for n, a in zip(names, arrays, strict=True)} }."
        )
    return arrays


def _random_inputs(model, batch: int = RANDOM_SAMPLES) -> list[np.ndarray]:
    """Seeded inputs in the model's shapes: N(0, 1) floats, {0, 1} integers."""
    rng = np.random.default_rng(0)
    arrays = []
    for tensor in model.inputs:
        shape = (batch, *[FREE_DIMENSION if d is None else d for d in tensor.shape[1:]])
        dtype = np.dtype(str(tensor.dtype))
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            arrays.append(rng.integers(0, 2, shape).astype(dtype))
    return arrays


def _check_test_data(test_data, model):
    """(x arrays, integer labels) from test_data=(x_test, y_test), or None."""
    if test_data is None:
        return None
    if not (isinstance(test_data, (list, tuple)) and len(test_data) == 2):
        raise ValueError(
            "test_data must be a pair (x_test, y_test); received "
            f"{type(test_data).__name__} {test_data!r:.80}."
        )
    shapes = [tuple(t.shape) for t in model.outputs]
    classes = shapes[0][-1] if len(shapes) == 1 else None
    if classes is None or classes < 2:
        raise ValueError(
            "test_data measures each file's classification accuracy and needs "
            f"one output with a class axis; model {model.name!r} has outputs "
            f"{shapes}. Pass metrics=... instead."
        )
    x = _as_arrays(test_data[0], model, "test_data[0]", MAX_TEST_SAMPLES)
    y = np.asarray(test_data[1])
    if y.ndim == 2 and y.shape[-1] == classes:  # one-hot
        y = np.argmax(y, axis=-1)
    elif y.ndim == 2 and y.shape[-1] == 1:
        y = y[:, 0]
    count = len(x[0])
    if y.ndim != 1 or len(y) < count or y.dtype.kind not in "iuf":
        raise ValueError(
            f"test_data[1] must hold one class index (or one-hot row) per "
            f"sample of test_data[0] ({count}); received shape {y.shape}, "
            f"dtype {y.dtype}."
        )
    return x, y[:count].astype(np.int64)


def _test_accuracy(fmt: str, path: str, input_names, test) -> float:
    """Accuracy of one exported file, run by its own runtime, on test_data."""
    x, y = test
    predictions = []
    with FORMATS[fmt].open(path, input_names) as runner:
        for start in range(0, len(y), TEST_BATCH):
            (probs,) = runner.run([a[start : start + TEST_BATCH] for a in x])
            predictions.append(np.argmax(probs, axis=-1))
    return float(np.mean(np.concatenate(predictions) == y))


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _check_json(value, arg: str):
    try:
        json.dumps(value, default=to_json)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{arg} must be JSON-serializable (it is written into {MANIFEST}); "
            f"received {value!r}: {error}."
        ) from None


def _check_labels(labels, model):
    if labels is None:
        return None
    received = labels
    if hasattr(labels, "__iter__") and not isinstance(labels, str):
        labels = list(labels)  # also a generator or numpy array of names
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(
            f"labels must be a sequence of strings; received {received!r}."
        )
    if len(model.outputs) == 1:
        classes = model.outputs[0].shape[-1]
        if classes is not None and classes >= 2 and classes != len(labels):
            raise ValueError(
                f"labels has {len(labels)} entries; model {model.name!r} outputs "
                f"{classes} classes."
            )
    return labels


def _layer_modules(model) -> list[str]:
    """Modules defining the model's non-Keras layer classes (imported by the
    conversion subprocess so that the .keras file can be deserialized)."""
    modules, seen, stack = set(), set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        module = type(layer).__module__
        if module != "keras" and not module.startswith("keras."):
            if module == "__main__":
                raise ValueError(
                    f"Layer class {type(layer).__name__!r} of model "
                    f"{model.name!r} is defined in __main__; the TensorFlow "
                    "conversion subprocess cannot import it. Move it into an "
                    "importable module and register it with "
                    "keras.saving.register_keras_serializable."
                )
            modules.add(module)
        stack.extend(getattr(layer, "layers", None) or [])
    return sorted(modules)


def _carry_over(directory: str, staging: str):
    """Copies files that export does not own (e.g. a compression report)."""
    owned = {*(f.filename for f in FORMATS.values()), MANIFEST}
    if not os.path.isdir(directory):
        return
    for entry in os.scandir(directory):
        if entry.name in owned:
            continue
        target = os.path.join(staging, entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, target, symlinks=True)
        else:
            shutil.copy2(entry.path, target, follow_symlinks=False)


def _write_files(model, staging, scratch, formats, representative, options, samples):
    """Writes every requested format into `staging`.

    `options` holds the conversion options (int8_io, per_channel,
    strip_tensor_names). Formats that need TensorFlow are converted
    together (in a subprocess off the TensorFlow backend, from a .keras
    file); the others are written here by their objects.

    Returns:
        (input_names, outputs): input names inside the files, and outputs
        already computed by the conversion subprocess ({format: arrays}).
    """
    from kerasdl import _backend

    in_process = _backend.is_tensorflow()  # else convert in a TF subprocess
    tf_formats = [f for f in formats if FORMATS[f].needs_tensorflow]
    if TFLITE_DYNAMIC.name in formats and TFLITE.name not in formats:
        # The float file that "tflite_dynamic" is timed against; moved to
        # `scratch` after conversion, so it is not published.
        tf_formats.append(TFLITE.name)
    input_names = _input_names(model)
    precomputed = {}
    keras_path = os.path.join(staging, KERAS.filename)
    if KERAS.name in formats or (tf_formats and not in_process):
        if KERAS.name not in formats:
            # The subprocess loads the model from this file.
            keras_path = os.path.join(scratch, KERAS.filename)
        KERAS.write(model, keras_path)
    for name in formats:
        fmt = FORMATS[name]
        if fmt is not KERAS and not fmt.needs_tensorflow:
            fmt.write(
                model,
                os.path.join(staging, fmt.filename),
                representative=representative,
                input_names=input_names,
                model_name=model.name,
                **options,
            )
    if not tf_formats:
        return input_names, precomputed
    from kerasdl.exporters import _convert

    if in_process:
        result = _convert.convert(
            model, staging, tf_formats, scratch, representative, **options
        )
    else:
        result = _convert.convert_in_subprocess(
            keras_path,
            staging,
            tf_formats,
            scratch,
            representative=representative,
            sample_inputs=samples,
            **options,
            imports=_layer_modules(model),
        )
        if result.get("saved_model_outputs") is not None:
            precomputed[SAVED_MODEL.name] = result["saved_model_outputs"]
    if TFLITE.name not in formats and TFLITE.name in tf_formats:
        os.replace(
            os.path.join(staging, TFLITE.filename),
            os.path.join(scratch, TFLITE.filename),
        )
    return result["input_names"], precomputed


def _time_dynamic_range(files, staging, scratch, samples, input_names) -> None:
    """Records tflite_dynamic's latency against float; warns when it is slower."""
    float_files = [
        os.path.join(folder, TFLITE.filename)
        for folder in (staging, scratch)
        if os.path.isfile(os.path.join(folder, TFLITE.filename))
    ]
    if not float_files:  # the float file failed verification and was left out
        return
    timing = dynamic_range_slowdown(
        os.path.join(staging, TFLITE_DYNAMIC.filename),
        float_files[0],
        samples,
        input_names,
    )
    entry = files[TFLITE_DYNAMIC.name]
    entry["latency_vs_float"] = timing
    if timing["ratio"] > 1.0:
        entry["warning"] = (
            f"tflite_dynamic ran at {timing['ratio']:.2f}x the float file's "
            "batch-1 latency here (one thread): its hybrid kernels dequantize "
            "int8 weights on every call, and some ops (depthwise convolutions) "
            "have no fast hybrid path. For a small file without the slowdown, "
            "use tflite_int8 (needs representative_data) or tflite_fp16."
        )
        logger.warning("%s", entry["warning"])


def export(
    model,
    directory,
    formats=("saved_model", "tflite", "onnx"),
    representative_data=None,
    labels=None,
    preprocessing=None,
    metrics=None,
    sample_inputs=None,
    int8_io: bool | str = False,
    *,
    per_channel: bool = True,
    strip_tensor_names: bool = False,
    min_agreement: float = 0.9,
    test_data=None,
    on_failure: str = "raise",
) -> dict:
    """Exports a Keras model to deployment files, runs each one, writes a manifest.

    Works on every backend: on TensorFlow the converters run in-process; on
    JAX and PyTorch the model is saved as .keras and converted in a
    TensorFlow-backend subprocess. TFLite files use builtin ops only, so they
    run on a plain mobile TFLite/LiteRT runtime. Each written file is run on
    sample inputs with its own runtime (LiteRT, ONNX Runtime, TensorFlow,
    Keras) and compared with the model. Everything is written into a
    temporary folder next to `directory` and moved into place only when all
    formats converted and verified; on failure `directory` is left as it was.
    A kill at any point leaves the old or the new folder: one killed between
    the two renames of the publish step leaves the old one beside the
    target, and the next export puts it back before it starts; staging and
    scratch folders of killed exports are removed by the next export. A
    `directory` that is a symlink is written through (it stays a link).
    Files in `directory` that export does not own (not a format file nor
    manifest.json) are kept; owned files of formats not requested are
    removed, so the manifest always describes the folder.
    A channels_first (NCHW) image model is exported as its channels_last copy
    with the same weights (`kerasdl.models.layout.to_channels_last`): every
    file, the "keras" one included, takes NHWC images as mobile runtimes
    expect; data arguments are given in the model's own layout (NCHW arrays
    are transposed).

    Args:
        model: keras.Model. A Functional or Sequential model, any backend.
        directory: str or os.PathLike. Export folder (e.g.
            "savedmodels/lenet5"); created if missing.
        formats: str or sequence of str. Any of "saved_model", "tflite"
            (float32), "tflite_fp16", "tflite_dynamic" (int8 weights),
            "tflite_int8" (full integer), "onnx", "keras", or a format
            added with `kerasdl.exporters.register`.
        representative_data: array, list/dict of arrays (one per input) or an
            iterable of batches (`x` or `(x, y)`, e.g. a tf.data.Dataset).
            Calibrates "tflite_int8" (up to 300 samples; required for it);
            unless `sample_inputs` is given, quantized formats are verified
            on all of these samples and the other formats on the first 32.
        labels: sequence of str or None. Class names, one per output class.
        preprocessing: JSON-serializable or None. How raw data becomes the
            model input (e.g. {"scale": 1/255}); passed through.
        metrics: JSON-serializable or None. Evaluation results; passed through.
        sample_inputs: array, list/dict of arrays or iterable of batches (as
            `representative_data`), or None. Verification inputs (up to
            1024); default: the first 32 samples of `representative_data`,
            else 8 seeded random samples (N(0, 1) floats, {0, 1} integers).
        int8_io: bool or str. With "tflite_int8": True (or "int8") for int8
            input and output tensors, "uint8" for uint8 ones (e.g. camera
            pixels), instead of float32 ones; their scale and zero point go
            into the manifest (real = scale * (q - zero_point)).
        per_channel: bool. With "tflite_int8": one weight scale per output
            channel of convolution kernels (default, TFLite's own), or one
            per tensor (False): smaller files, usually slightly less
            accurate; recorded in the manifest.
        strip_tensor_names: bool. TFLite files: empty the names of
            intermediate tensors (debug strings from the fused TensorFlow op
            names, ~2 kB on LeNet-5); inputs, outputs and the signature keep
            theirs. Recorded in the manifest.
        min_agreement: float in [0, 1]. Lowest accepted class agreement
            (fraction of samples whose argmax matches Keras) for
            "tflite_dynamic" and "tflite_int8".
        test_data: (x_test, y_test) or None. Held-out data with class
            indices (or one-hot rows); every file is run on it (up to 10,000
            samples) with its own runtime and its "test_accuracy" goes into
            the manifest, next to the Keras model's ("test").
        on_failure: str. "raise" (default): a file that fails verification
            fails the export, nothing is written, and the error lists the
            files that passed too. "keep_passing": the files that passed are
            written, the failed ones are left out and listed with their
            numbers under the manifest's "failed" (a warning is logged);
            raises still if no file passed.

    Returns:
        dict: the manifest, also written to `directory/manifest.json`; its
        "files" maps each format to path, bytes, gzip_bytes, inputs/outputs
        (with int8 scale/zero_point) and verification numbers.

    Raises:
        ValueError: before anything is written, for an unknown format, a
            missing `representative_data` for "tflite_int8", malformed data,
            labels or metadata; during conversion, for a model that needs
            TensorFlow ops with no TFLite builtin kernel (the message names
            them). `VerificationError` (a ValueError) if a file's outputs
            differ from the model's beyond tolerance (its `results` maps
            every format to its verification numbers).
        RuntimeError: if a converter fails for another reason.

    Example:
    >>> model = kerasdl.build("lenet5", input_shape=(32, 32, 1), num_classes=10)
    >>> manifest = kerasdl.export(
    ...     model, "savedmodels/lenet5", formats=["tflite", "tflite_int8"],
    ...     representative_data=x_train[:200])
    >>> manifest["files"]["tflite_int8"]["verification"]["class_agreement"]
    1.0
    """
    from kerasdl import _backend

    # Everything that can be checked is checked before anything is written.
    formats = check_formats(formats)
    _check_model(model)
    # Mobile runtimes (LiteRT, ONNX Runtime's mobile kernels) take NHWC: a
    # channels_first model is exported as its channels_last copy with the
    # same weights (rebuilt rather than wrapped in transposes, which would
    # stay in the file around every convolution), and data given in the
    # model's own NCHW layout is transposed to match.
    nhwc = to_channels_last(model)
    if nhwc is not model:
        logger.info("%s is channels_first; its files take NHWC inputs.", model.name)
        model, representative_data, sample_inputs, test_data = (
            nhwc,
            to_nhwc(representative_data),
            to_nhwc(sample_inputs),
            to_nhwc(test_data),
        )
    if not (isinstance(int8_io, bool) or int8_io in ("int8", "uint8")):
        raise ValueError(
            f"int8_io must be True, False, 'int8' or 'uint8'; received {int8_io!r}."
        )
    int8_io = True if int8_io == "int8" else int8_io
    if int8_io and not any(FORMATS[f].quantized_io for f in formats):
        takes = " or ".join(repr(n) for n, f in FORMATS.items() if f.quantized_io)
        raise ValueError(
            f"int8_io={int8_io!r} applies to the {takes} format; formats are {formats}."
        )
    if not isinstance(strip_tensor_names, bool):
        raise ValueError(
            "strip_tensor_names must be True or False; received "
            f"{strip_tensor_names!r}."
        )
    if not isinstance(per_channel, bool):
        raise ValueError(
            f"per_channel must be True or False; received {per_channel!r}."
        )
    if not 0.0 <= float(min_agreement) <= 1.0:
        raise ValueError(
            f"min_agreement must be in [0, 1]; received {min_agreement!r}."
        )
    check_choice("on_failure", on_failure, ON_FAILURE)
    test = _check_test_data(test_data, model)
    calibrated = [f for f in formats if FORMATS[f].needs_representative_data]
    if calibrated and representative_data is None:
        others = [n for n, f in FORMATS.items() if not f.needs_representative_data]
        raise ValueError(
            f"Format {calibrated[0]!r} needs representative_data (a few hundred "
            "typical inputs) to calibrate activation ranges; received None. "
            f"Formats that need none: {', '.join(others)}."
        )
    representative = None
    if representative_data is not None:
        representative = _as_arrays(
            representative_data, model, "representative_data", MAX_CALIBRATION_SAMPLES
        )
    if sample_inputs is not None:
        samples = _as_arrays(sample_inputs, model, "sample_inputs", MAX_SAMPLE_INPUTS)
        source = "sample_inputs"
    elif representative is not None:
        samples = [a[:VERIFICATION_SAMPLES] for a in representative]
        source = "representative_data"
    else:
        samples = _random_inputs(model)
        source = "random"
    labels = _check_labels(labels, model)
    _check_json(preprocessing, "preprocessing")
    _check_json(metrics, "metrics")
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(
            f"directory {directory!r} exists and is not a folder; give a folder path."
        )
    backend = _backend.name()
    if not _backend.is_tensorflow() and any(
        FORMATS[f].needs_tensorflow for f in formats
    ):
        _layer_modules(model)  # fails early on layers defined in __main__

    reference = run_model(model, samples, batch_size=REFERENCE_BATCH)
    # Quantized files are judged by class agreement, a fraction: on the
    # calibration set (a few hundred real inputs) rather than a handful of
    # samples, where one borderline input moves it by several percent.
    quantized_samples, quantized_reference = samples, reference
    if sample_inputs is None and representative is not None:
        quantized_samples = representative
        quantized_reference = run_model(
            model, representative, batch_size=REFERENCE_BATCH
        )
    # The forward passes' activations (~0.7 GB of MobileNetV2 on PyTorch)
    # go back before the conversions (and, off TensorFlow, the TensorFlow
    # import that saving the .keras file triggers) add theirs.
    release_freed_memory()
    with (
        staged_folder(directory, tag="export") as staging,
        # Beside the target, so the next export removes it after a kill.
        scratch_folder(directory) as scratch,
    ):
        options = {
            "int8_io": int8_io,
            "per_channel": per_channel,
            "strip_tensor_names": strip_tensor_names,
        }
        input_names, precomputed = _write_files(
            model, staging, scratch, formats, representative, options, samples
        )
        files, failures = {}, []
        for fmt in formats:
            spec = FORMATS[fmt]
            path = os.path.join(staging, spec.filename)
            inputs, expected = samples, reference
            if spec.quantized:
                inputs, expected = quantized_samples, quantized_reference
            outputs = precomputed.get(fmt)
            if outputs is None:
                outputs = run_file(fmt, path, inputs, input_names)
            check = compare_outputs(fmt, outputs, expected, min_agreement)
            logger.info("verified %s: %s", fmt, check)
            if not check["passed"]:
                failures.append(
                    f"{fmt}: max_abs_error={check['max_abs_error']}, "
                    f"relative_error={check['relative_error']}, "
                    f"class_agreement={check['class_agreement']}; "
                    f"required {check['criterion']}"
                )
            size, gzipped = file_sizes(path)
            files[fmt] = {
                "path": spec.filename,
                "description": spec.description,
                "bytes": size,
                "gzip_bytes": gzipped,
                **spec.manifest_io(path, model, input_names),
                **spec.manifest_options(options),
                "verification": check,
            }
            if test is not None:
                # A file run in the conversion subprocess (SavedModel off the
                # TensorFlow backend) cannot be opened here.
                files[fmt]["test_accuracy"] = (
                    None
                    if fmt in precomputed
                    else _test_accuracy(fmt, path, input_names, test)
                )
            # The file's runtime (interpreter, session, loaded SavedModel)
            # is closed: its pages go back before the next one opens.
            release_freed_memory()
        passed = [f for f in formats if files[f]["verification"]["passed"]]
        failed = {}
        if failures and (on_failure == "raise" or not passed):
            error = VerificationError(
                f"Exported files of model {model.name!r} differ from the "
                f"Keras model on their {source} samples: "
                + "; ".join(failures)
                + f". Passed: {', '.join(passed) or 'none'}. Nothing was "
                "written. For quantized formats, lower min_agreement or give "
                "more representative_data; on_failure='keep_passing' writes "
                "the files that passed."
            )
            error.results = {f: files[f]["verification"] for f in formats}
            raise error
        if failures:
            logger.warning(
                "export of %s: left out %s (failed verification: %s); kept %s",
                model.name,
                ", ".join(f for f in formats if f not in passed),
                "; ".join(failures),
                ", ".join(passed),
            )
            for fmt in formats:
                if fmt not in passed:
                    _remove(os.path.join(staging, FORMATS[fmt].filename))
                    failed[fmt] = files.pop(fmt)
        if TFLITE_DYNAMIC.name in files:
            _time_dynamic_range(files, staging, scratch, samples, input_names)
        manifest = build_manifest(
            model=model,
            backend=backend,
            input_names=input_names,
            output_names=_output_names(model),
            files=files,
            preprocessing=preprocessing,
            labels=labels,
            metrics=metrics,
            samples={"count": len(samples[0]), "source": source},
            reference=reference_statistics(
                quantized_samples,
                quantized_reference,
                input_names,
                _output_names(model),
                # The quantized formats' samples: the whole representative
                # set when there is one (more typical traffic than 32).
                "representative_data"
                if quantized_samples is representative
                else source,
            ),
        )
        if test is not None:
            probs = run_model(model, test[0])[0]
            manifest["test"] = {
                "samples": len(test[1]),
                "keras_accuracy": float(np.mean(np.argmax(probs, axis=-1) == test[1])),
            }
        if failed:
            manifest["failed"] = failed
        write_manifest(staging, manifest)
        _carry_over(directory, staging)
    logger.info("exported %s to %s: %s", model.name, directory, ", ".join(formats))
    return manifest
