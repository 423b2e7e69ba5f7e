"""The registry of export formats: name -> format object, and format-name checks.

Each format is an `ExportFormat` object (see `kerasdl.exporters.base`) that
writes its file, opens it with its runtime and says how it is verified.
Export, verification and the compression report look formats up here and
call the object; none of them branches on a format's name.

Example:
>>> FORMATS["tflite_int8"].filename
'model_int8.tflite'
>>> check_formats(["tflite", "onnx"])
['tflite', 'onnx']
"""

from __future__ import annotations

from kerasdl._checks import closest
from kerasdl.exporters.base import ExportFormat
from kerasdl.exporters.keras_file import KERAS
from kerasdl.exporters.onnx import ONNX
from kerasdl.exporters.savedmodel import SAVED_MODEL
from kerasdl.exporters.tflite import TFLITE, TFLITE_DYNAMIC, TFLITE_FP16, TFLITE_INT8

__all__ = [
    "FORMATS",
    "check_formats",
    "get_format",
    "register",
    "unregister",
    "validate_formats",
]

# name -> format object, in the order the manifest and error messages list them.
FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        SAVED_MODEL,
        TFLITE,
        TFLITE_FP16,
        TFLITE_DYNAMIC,
        TFLITE_INT8,
        ONNX,
        KERAS,
    )
}


def register(fmt: ExportFormat, *, replace: bool = False) -> ExportFormat:
    """Adds a format object to `FORMATS`, so export and verification accept it.

    Args:
        fmt: ExportFormat. Its `name` becomes the format name.
        replace: bool. Allow replacing a registered format of the same name.

    Returns:
        ExportFormat: `fmt`.

    Raises:
        ValueError: if `fmt` is not an ExportFormat, has no name or file
            name, or its name (or file name) is taken and `replace` is False.

    Example:
    >>> register(NpzWeightsFormat())
    """
    if not isinstance(fmt, ExportFormat):
        raise ValueError(
            f"fmt must be an ExportFormat instance; received {type(fmt).__name__}."
        )
    if not fmt.name or not isinstance(fmt.name, str) or not fmt.filename:
        raise ValueError(
            f"format {fmt!r} needs a non-empty name and filename; received "
            f"name={fmt.name!r}, filename={fmt.filename!r}."
        )
    if not replace:
        if fmt.name in FORMATS:
            raise ValueError(
                f"Export format {fmt.name!r} is already registered; pass "
                "replace=True to replace it."
            )
        taken = {f.filename: n for n, f in FORMATS.items()}
        if fmt.filename in taken:
            raise ValueError(
                f"Export format {fmt.name!r} writes {fmt.filename!r}, the file of "
                f"format {taken[fmt.filename]!r}; choose another filename."
            )
    FORMATS[fmt.name] = fmt
    return fmt


def unregister(name: str) -> ExportFormat:
    """Removes a format from `FORMATS` and returns it.

    Raises:
        ValueError: if `name` is not registered.
    """
    return FORMATS.pop(get_format(name).name)


def get_format(name: str) -> ExportFormat:
    """The format object registered as `name`.

    Raises:
        ValueError: for an unknown name (with the closest and the accepted ones).

    Example:
    >>> get_format("onnx").runtime
    'onnxruntime'
    """
    if isinstance(name, str) and name in FORMATS:
        return FORMATS[name]
    hint = closest(name, FORMATS)
    raise ValueError(
        f"Unknown export format {name!r}.{hint} Accepted: {', '.join(FORMATS)}."
    )


def check_formats(formats) -> list[str]:
    """Normalizes `formats` to a list of known format names, order kept.

    Cheap (imports no converter or runtime): config validation calls it
    before any data is loaded or any epoch runs.

    Args:
        formats: str or sequence of str. One format name or several.

    Returns:
        list of str: the names, duplicates removed.

    Raises:
        ValueError: if `formats` is empty, not strings, or names an unknown
            format (with the closest known name and the accepted ones).

    Example:
    >>> check_formats("tflite")
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
            hint = closest(name, FORMATS)
            raise ValueError(
                f"Unknown export format {name!r} in formats.{hint} "
                f"Accepted: {', '.join(FORMATS)}."
            )
        if name not in result:
            result.append(name)
    return result


# The name export has always used; the same function.
validate_formats = check_formats
