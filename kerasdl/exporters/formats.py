"""The export formats kerasdl writes, their file names and how they are checked."""

from __future__ import annotations

from kerasdl.registry import closest

__all__ = ["FORMATS", "QUANTIZED_FORMATS", "TFLITE_FORMATS", "validate_formats"]

# format -> file (or folder) name inside the export directory.
FORMATS: dict[str, str] = {
    "saved_model": "saved_model",
    "tflite": "model.tflite",
    "tflite_fp16": "model_fp16.tflite",
    "tflite_dynamic": "model_dynamic.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
    "keras": "model.keras",
}

# One line each, written into the manifest.
DESCRIPTIONS: dict[str, str] = {
    "saved_model": "TensorFlow SavedModel, serving signature 'serving_default'",
    "tflite": "TFLite float32, builtin ops only",
    "tflite_fp16": "TFLite with float16 weights, float32 compute, builtin ops only",
    "tflite_dynamic": "TFLite dynamic-range: int8 weights, float activations",
    "tflite_int8": "TFLite full-integer: int8 weights and activations",
    "onnx": "ONNX (converted by Keras' model.export on TensorFlow)",
    "keras": "Keras 3 native .keras archive",
}

TFLITE_FORMATS = ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8")
QUANTIZED_FORMATS = ("tflite_dynamic", "tflite_int8")
# Formats produced by TensorFlow (in-process on TF, in a subprocess otherwise).
TF_FORMATS = ("saved_model", *TFLITE_FORMATS, "onnx")


def validate_formats(formats) -> list[str]:
    """Normalizes `formats` to a list of known format names, order kept.

    Args:
        formats: str or sequence of str. One format name or several.

    Returns:
        list of str: the names, duplicates removed.

    Raises:
        ValueError: if `formats` is empty, not strings, or names an unknown
            format (with the closest known name and the accepted ones).

    Example:
    >>> validate_formats("tflite")
    ['tflite']
    """
    if isinstance(formats, str):
        formats = [formats]
    try:
        names = list(formats)
    except TypeError:
        raise ValueError(
            f"formats must be a format name or a sequence of them; received "
            f"{formats!r}. Accepted: {', '.join(FORMATS)}."
        ) from None
    if not names:
        raise ValueError(
            f"formats is empty; name at least one of: {', '.join(FORMATS)}."
        )
    result = []
    for name in names:
        if not isinstance(name, str) or name not in FORMATS:
            hint = closest(name, FORMATS) if isinstance(name, str) else ""
            raise ValueError(
                f"Unknown export format {name!r} in formats.{hint} "
                f"Accepted: {', '.join(FORMATS)}."
            )
        if name not in result:
            result.append(name)
    return result
