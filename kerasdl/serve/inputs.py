"""Request payloads to model inputs: TF-Serving JSON and image uploads, checked.

Every problem with a request raises `RequestError` with an HTTP status in
the 4xx range, a kind (for the error metrics) and a message that names the
problem, the value received and what is accepted; the server turns it into
a JSON error response.

The checks come from the manifest: the model's input shapes and dtypes
("inputs"), and the accepted value range (the preprocessing record's
"input_range", or raw_range * scale + offset when it describes scaled raw
values). Uploaded images get the manifest's preprocessing: decoded to the
input's channels, resized to its height and width (`resize_bilinear`, as
the data loaders resize), then raw * scale + offset.
"""

from __future__ import annotations

import io

import numpy as np

from kerasdl.data._arrays import resize_bilinear

__all__ = ["RequestError", "decode_images", "input_range", "parse_json_inputs"]

# Largest decoded image accepted (pixels): guards against decompression bombs.
MAX_IMAGE_PIXELS = 4096 * 4096


class RequestError(Exception):
    """A bad request: its HTTP status (4xx), kind and message."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def input_range(preprocessing) -> tuple[float, float] | None:
    """The accepted (low, high) of model input values, or None (unchecked).

    From preprocessing["input_range"], else raw_range * scale + offset when
    the record has a raw range and scalar scale and offset.
    """
    if not isinstance(preprocessing, dict):
        return None
    explicit = preprocessing.get("input_range")
    if explicit is not None:
        low, high = explicit
        return float(low), float(high)
    raw = preprocessing.get("raw_range")
    scale = preprocessing.get("scale")
    offset = preprocessing.get("offset", 0.0)
    if raw is None or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (scale, offset)
    ):
        return None
    ends = sorted(float(r) * scale + offset for r in raw)
    return ends[0], ends[1]


def _as_array(value, spec: dict, where: str) -> np.ndarray:
    """One input's batch as an array of the spec's dtype, shape checked."""
    dtype = np.dtype(spec["dtype"])
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nesting
        raise RequestError(
            400, "bad_shape", f"{where} is not a rectangular array: {error}"
        ) from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise RequestError(
            400,
            "bad_dtype",
            f"{where} must hold numbers of dtype {dtype.name}; received values "
            f"of type {array.dtype.name if array.dtype != object else 'mixed'}.",
        )
    if array.dtype.kind == "b":
        raise RequestError(
            400,
            "bad_dtype",
            f"{where} must hold numbers ({dtype.name}); received booleans.",
        )
    if (
        dtype.kind in "iu"
        and array.dtype.kind == "f"
        and (not np.all(np.isfinite(array)) or np.any(array != np.round(array)))
    ):
        raise RequestError(
            400,
            "bad_dtype",
            f"{where} must hold integers ({dtype.name}); received non-integer numbers.",
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise RequestError(
            400,
            "not_finite",
            f"{where} holds NaN or infinite values; send finite numbers.",
        )
    expected = spec["shape"]
    shape = array.shape
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected[1:], shape[1:], strict=False)
    ):
        wanted = (
            "["
            + ", ".join(
                ["batch", *("any" if e is None else str(e) for e in expected[1:])]
            )
            + "]"
        )
        raise RequestError(
            400,
            "bad_shape",
            f"{where} has shape {list(shape)}; the model input "
            f"{spec['name']!r} takes shape {wanted}.",
        )
    if len(array) == 0:
        raise RequestError(400, "bad_shape", f"{where} holds no instances.")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise RequestError(
                400, "out_of_range", f"{where} holds values outside {dtype.name}."
            )
    return array.astype(dtype)


def check_range(arrays, specs, bounds) -> None:
    """Raises RequestError when a float input falls outside `bounds`."""
    if bounds is None:
        return
    low, high = bounds
    # A little slack: resizing and float rounding move values by an ulp.
    slack = 1e-3 * max(1.0, high - low)
    for array, spec in zip(arrays, specs, strict=True):
        if array.dtype.kind != "f":
            continue
        lo, hi = float(array.min()), float(array.max())
        if lo < low - slack or hi > high + slack:
            raise RequestError(
                400,
                "out_of_range",
                f"input {spec['name']!r} holds values in [{lo:g}, {hi:g}]; the "
                f"model takes values in [{low:g}, {high:g}] (its preprocessing).",
            )


def parse_json_inputs(payload, specs: list[dict], max_instances: int) -> list:
    """TF-Serving JSON ("instances" rows or "inputs" columns) to input arrays.

    Args:
        payload: the decoded JSON body.
        specs: list of dict. The manifest's "inputs" ({"name", "shape",
            "dtype"}).
        max_instances: int. Most instances accepted in one request.

    Returns:
        list of np.ndarray, one batch per input, in the specs' order.

    Raises:
        RequestError: for every malformed payload.
    """
    names = [s["name"] for s in specs]
    if not isinstance(payload, dict) or (
        ("instances" in payload) == ("inputs" in payload)
    ):
        raise RequestError(
            400,
            "bad_payload",
            'the JSON body must be an object with exactly one of "instances" '
            '(a list of rows) or "inputs" (columns); received '
            + (
                f"keys {sorted(payload)}"
                if isinstance(payload, dict)
                else type(payload).__name__
            )
            + ".",
        )
    if "instances" in payload:
        rows = payload["instances"]
        if not isinstance(rows, list):
            raise RequestError(
                400,
                "bad_payload",
                '"instances" must be a list of instances; '
                f"received {type(rows).__name__}.",
            )
        _check_count(len(rows), max_instances)
        if len(specs) == 1:
            columns = {names[0]: rows}
        else:
            if not all(isinstance(r, dict) for r in rows):
                raise RequestError(
                    400,
                    "bad_payload",
                    f"the model has inputs {names}: each "
                    "instance must be an object {input name: value}.",
                )
            columns = {n: [r.get(n) for r in rows] for n in names}
    else:
        data = payload["inputs"]
        if len(specs) == 1 and not isinstance(data, dict):
            columns = {names[0]: data}
        elif isinstance(data, dict):
            columns = data
        else:
            raise RequestError(
                400,
                "bad_payload",
                f'the model has inputs {names}: "inputs" must '
                "be an object {input name: batch}.",
            )
    missing = [n for n in names if n not in columns or columns[n] is None]
    unknown = sorted(set(columns) - set(names))
    if (missing or unknown) and not (len(specs) == 1 and len(columns) == 1):
        raise RequestError(
            400,
            "bad_payload",
            f"inputs must name the model's inputs {names}; "
            f"missing {missing}, unknown {unknown}.",
        )
    values = list(columns.values()) if len(specs) == 1 else [columns[n] for n in names]
    arrays = [
        _as_array(v, s, f"input {s['name']!r}")
        for v, s in zip(values, specs, strict=True)
    ]
    counts = {len(a) for a in arrays}
    if len(counts) != 1:
        raise RequestError(
            400,
            "bad_shape",
            f"inputs hold different numbers of instances: {sorted(counts)}.",
        )
    _check_count(len(arrays[0]), max_instances)
    return arrays


def _check_count(count: int, max_instances: int) -> None:
    if count > max_instances:
        raise RequestError(
            413,
            "too_many_instances",
            f"the request holds {count} instances; "
            f"at most {max_instances} are accepted per request.",
        )


def decode_images(
    files: list[tuple[str, bytes]], spec: dict, preprocessing
) -> np.ndarray:
    """Uploaded image files to one batch of model input, preprocessed.

    Args:
        files: list of (filename, bytes).
        spec: dict. The image input's manifest entry; shape (None, H, W, C)
            (or (None, H*W*C) for a "flat" layout with "flattened_from").
        preprocessing: dict or None. The manifest's record: "scale" and
            "offset" (scalars or one per channel); "flattened_from".

    Returns:
        np.ndarray: the batch, float32, in the input's shape.

    Raises:
        RequestError: for a file that is not an image, too large, or a
            model input that is not an image.
    """
    from PIL import Image, UnidentifiedImageError

    preprocessing = preprocessing if isinstance(preprocessing, dict) else {}
    shape = list(spec["shape"][1:])
    flat = preprocessing.get("flattened_from")
    if flat is not None:
        shape = list(flat["shape"])
    if len(shape) != 3 or shape[-1] not in (1, 3) or None in shape:
        raise RequestError(
            415,
            "not_an_image_model",
            f"input {spec['name']!r} has shape "
            f"{spec['shape']}: image uploads need an (H, W, 1) or (H, W, 3) input; "
            "send JSON instead.",
        )
    height, width, channels = shape
    images = []
    for filename, data in files:
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise RequestError(
                        413,
                        "image_too_large",
                        f"image {filename!r} has "
                        f"{image.width}x{image.height} pixels; at most "
                        f"{MAX_IMAGE_PIXELS} are accepted.",
                    )
                image = image.convert("L" if channels == 1 else "RGB")
                pixels = np.asarray(image, dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise RequestError(
                400, "bad_image", f"file {filename!r} is not a readable image: {error}"
            ) from None
        images.append(pixels.reshape(pixels.shape[0], pixels.shape[1], channels))
    batch = []
    for pixels in images:
        if pixels.shape[:2] != (height, width):
            pixels = resize_bilinear(pixels[None], (height, width))[0]
        batch.append(pixels)
    batch = np.stack(batch).astype(np.float32)
    scale = np.asarray(preprocessing.get("scale", 1.0), dtype=np.float32)
    offset = np.asarray(preprocessing.get("offset", 0.0), dtype=np.float32)
    batch = batch * scale + offset
    if flat is not None:
        batch = batch.reshape(len(batch), -1)
    return batch.astype(np.dtype(spec["dtype"]))
