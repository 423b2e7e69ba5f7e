"""Verification: run an exported file and compare it with the Keras model.

Float formats must match Keras within a tolerance scaled by the output
magnitude (`max_abs_error <= tolerance * max(1, max|reference|)`); quantized
formats are judged, output by output, by class agreement (the fraction of
samples whose argmax matches Keras) where the output has a class axis (last
dimension >= 2) and by a loose relative error (0.1) otherwise.

Agreement with a model whose outputs are the same for every sample proves
nothing (an untrained MobileNetV2 answers every random input alike), so a
file is never called verified against such degenerate reference outputs.
"""

from __future__ import annotations

import logging

import numpy as np

from kerasdl._checks import check_int
from kerasdl.exporters.formats import FORMATS

__all__ = ["VerificationError", "compare_outputs", "run_file"]

logger = logging.getLogger(__name__)

# Float formats' relative tolerance is each format object's `tolerance`.
# Quantized outputs without a class axis (regression, one logit): relative error.
QUANTIZED_TOLERANCE = 0.1
# Reference outputs whose spread across samples is below this fraction of
# their scale are constant: comparing against them verifies nothing.
DEGENERATE_SPREAD = 1e-6
# Samples per run of a file in `run_file`: its runtime holds one batch's
# activations at a time.
RUN_BATCH = 32


class VerificationError(ValueError):
    """An exported file's outputs differ from the Keras model's beyond tolerance."""


def run_file(
    fmt: str,
    path: str,
    inputs: list[np.ndarray],
    input_names: list[str],
    batch_size: int = RUN_BATCH,
) -> list[np.ndarray]:
    """Runs an exported file with the runtime of its format, in batches.

    The file is opened once and fed `batch_size` samples at a time: a
    runtime sized for the whole set (a LiteRT interpreter resized to 300
    calibration samples of a 160x160 MobileNetV2) would hold all of their
    activations at once. To run a file many times, open it once instead:
    `FORMATS[fmt].open(path, input_names)` returns a runner whose `run`
    takes the same inputs.

    Args:
        fmt: str. A key of `kerasdl.exporters.FORMATS`.
        path: str. The file or folder.
        inputs: list of np.ndarray. One array per model input, samples
            along axis 0.
        input_names: list of str. The input names inside the file.
        batch_size: int. Samples per run of the file.

    Returns:
        list of np.ndarray: the outputs in model order.

    Raises:
        ValueError: if `fmt` is unknown.

    Example:
    >>> (probs,) = run_file("tflite_int8", "model_int8.tflite", [x], ["image"])
    """
    spec = _format(fmt)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    # A dict (by input name) is run whole, as the runner takes it.
    count = len(inputs[0]) if isinstance(inputs, (list, tuple)) and inputs else 0
    with spec.open(path, input_names) as runner:
        if count <= batch_size:
            return runner.run(inputs)
        chunks = [
            runner.run([a[start : start + batch_size] for a in inputs])
            for start in range(0, count, batch_size)
        ]
    return [np.concatenate(parts, axis=0) for parts in zip(*chunks, strict=True)]


def _format(fmt: str):
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; accepted: {', '.join(FORMATS)}.")
    return FORMATS[fmt]


def _has_class_axis(reference: np.ndarray) -> bool:
    return reference.ndim >= 2 and reference.shape[-1] >= 2


def _unjudged(result: dict, criterion: str) -> dict:
    """A failed check whose errors could not be measured, and why."""
    result.update(
        max_abs_error=None,
        relative_error=None,
        class_agreement=None,
        criterion=criterion,
        passed=False,
    )
    return result


def _degenerate(reference: list[np.ndarray]) -> bool:
    """True when every output is the same for all samples (two or more)."""
    if not reference or any(np.ndim(r) == 0 or len(r) < 2 for r in reference):
        return False
    for ref in reference:
        ref = np.asarray(ref, dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
        if (
            float(np.max(np.abs(ref - ref[:1]), initial=0.0))
            > DEGENERATE_SPREAD * scale
        ):
            return False
    return True


def compare_outputs(
    fmt: str,
    outputs: list[np.ndarray],
    reference: list[np.ndarray],
    min_agreement: float = 0.9,
) -> dict:
    """Compares a file's outputs with the Keras model's and judges them.

    Args:
        fmt: str. The format the outputs come from (sets the criterion).
        outputs: list of np.ndarray. The file's outputs, in model order.
        reference: list of np.ndarray. The Keras model's outputs.
        min_agreement: float. For quantized formats ("tflite_dynamic",
            "tflite_int8"): the lowest accepted class agreement.

    Returns:
        dict: "runtime", "samples", "max_abs_error", "relative_error" (error
        over max(1, max|reference|)), "class_agreement" (lowest over outputs
        with a class axis, None without one), "criterion" (text) and
        "passed" (bool). Reference outputs that are the same for every
        sample never pass: the criterion then says to pass representative
        data (or to train the model first).

    Raises:
        ValueError: if `fmt` is unknown.

    Example:
    >>> compare_outputs("tflite", [y + 1e-7], [y])["passed"]
    True
    """
    spec = _format(fmt)
    result = {
        "runtime": spec.runtime,
        "samples": len(reference[0]) if reference else 0,
    }
    if len(outputs) != len(reference) or any(
        np.shape(o) != np.shape(r) for o, r in zip(outputs, reference, strict=True)
    ):
        return _unjudged(
            result,
            "output shapes equal to Keras' "
            f"{[list(np.shape(r)) for r in reference]}; received "
            f"{[list(np.shape(o)) for o in outputs]}",
        )
    if _degenerate(reference):
        return _unjudged(
            result,
            "reference outputs that differ between samples; the Keras model "
            f"gave the same outputs for all {result['samples']} samples, so "
            "agreement would prove nothing: pass representative data (real "
            "inputs) or export a trained model",
        )
    errors, relative, agreements, criteria, passed = [], [], [], [], True
    for out, ref in zip(outputs, reference, strict=True):
        out = np.asarray(out, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        error = float(np.max(np.abs(out - ref))) if ref.size else 0.0
        rel = error / max(1.0, float(np.max(np.abs(ref), initial=0.0)))
        errors.append(error)
        relative.append(rel)
        agreement = None
        if _has_class_axis(ref):
            same = np.argmax(out, axis=-1) == np.argmax(ref, axis=-1)
            agreement = float(np.mean(same))
            agreements.append(agreement)
        if not spec.quantized:
            criterion, ok = (
                f"relative_error <= {spec.tolerance}",
                rel <= spec.tolerance,
            )
        elif agreement is not None:
            criterion, ok = (
                f"class_agreement >= {min_agreement}",
                agreement >= min_agreement,
            )
        else:
            # No class axis (regression, a single logit): a loose error bound.
            criterion, ok = (
                f"relative_error <= {QUANTIZED_TOLERANCE}",
                rel <= QUANTIZED_TOLERANCE,
            )
        if criterion not in criteria:
            criteria.append(criterion)
        passed = passed and bool(ok)
    result["max_abs_error"] = max(errors)
    result["relative_error"] = max(relative)
    result["class_agreement"] = min(agreements) if agreements else None
    result["criterion"] = " and ".join(criteria)
    result["passed"] = bool(passed)
    return result
