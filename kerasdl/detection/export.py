"""Exporting a detector to TFLite with its box decoding verified."""

from __future__ import annotations

import os

import keras
import numpy as np

from kerasdl._checks import check_float
from kerasdl.detection.boxes import decode_predictions
from kerasdl.exporters import FORMATS, export

__all__ = ["detections_agree", "export_detector"]


def detections_agree(
    reference, other, box_tolerance: float = 0.5, score_tolerance: float = 1e-3
) -> float:
    """Fraction of images whose two detection lists are the same detections.

    Two lists agree when they have as many detections, with the same
    classes in the same order, boxes within `box_tolerance` pixels and
    scores within `score_tolerance`.

    Args:
        reference, other: lists (one per image) of {"boxes", "scores",
            "classes"}, as `decode_predictions` returns.
        box_tolerance: float. Largest accepted box coordinate difference.
        score_tolerance: float. Largest accepted score difference.

    Returns:
        float in [0, 1].
    """
    if len(reference) != len(other):
        raise ValueError(
            f"detections_agree: {len(reference)} reference images but "
            f"{len(other)} other images; expected as many."
        )
    check_float("box_tolerance", box_tolerance, minimum=0.0)
    check_float("score_tolerance", score_tolerance, minimum=0.0)
    same = 0
    for a, b in zip(reference, other, strict=True):
        same += bool(
            len(a["classes"]) == len(b["classes"])
            and np.array_equal(a["classes"], b["classes"])
            and np.allclose(a["boxes"], b["boxes"], rtol=0, atol=box_tolerance)
            and np.allclose(a["scores"], b["scores"], rtol=0, atol=score_tolerance)
        )
    return same / max(len(reference), 1)


def export_detector(
    model, directory, images, stride: int, num_classes: int, **decode_options
) -> dict:
    """Exports a detector to float TFLite and checks the decoded detections.

    The file is written and verified by `kerasdl.export` (raw outputs
    against Keras); then the decoding and NMS of `decode_predictions` run on
    the TFLite outputs and on the Keras outputs for `images`, and the
    detections are compared image by image (`detections_agree`).

    Args:
        model: keras.Model. An `fcos` detector (any backend).
        directory: str or PathLike. Export folder.
        images: array (N, H, W, 3). Images to verify on (up to 1024).
        stride: int. The detector's output stride.
        num_classes: int. The detector's classes.
        **decode_options: Further `decode_predictions` arguments
            (score_threshold, iou_threshold, max_detections, image_shape).

    Returns:
        {"path": the .tflite file, "bytes": its size, "agreement": fraction
        of images with the same detections, "max_abs_diff": largest raw
        output difference, "detections": number of Keras detections,
        "manifest": the export manifest}.

    Example:
    >>> report = export_detector(model, "savedmodels/fcos", x_test[:64], 4, 3)
    >>> report["agreement"]
    1.0
    """
    images = np.asarray(images, dtype="float32")
    manifest = export(model, directory, formats=("tflite",), sample_inputs=images)
    entry = manifest["files"]["tflite"]
    path = os.path.join(os.fspath(directory), entry["path"])
    (lite,) = FORMATS["tflite"].open(path).run([images])
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    found = decode_predictions(lite, stride, num_classes, **decode_options)
    reference = decode_predictions(expected, stride, num_classes, **decode_options)
    return {
        "path": path,
        "bytes": entry["bytes"],
        "agreement": detections_agree(reference, found),
        "max_abs_diff": float(np.max(np.abs(lite - expected))),
        "detections": int(sum(len(d["classes"]) for d in reference)),
        "manifest": manifest,
    }
