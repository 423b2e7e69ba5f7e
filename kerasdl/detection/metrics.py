"""COCO mean average precision with the reference implementation, pycocotools."""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

__all__ = ["coco_map"]

logger = logging.getLogger(__name__)


def _coco_api():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ValueError(
            "coco_map needs pycocotools (pip install pycocotools, or the "
            "kerasdl[dev] extra)."
        ) from None
    return COCO, COCOeval


def _xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def coco_map(detections, boxes, classes, num_classes: int) -> dict[str, float]:
    """mAP@0.5 and mAP@[.5:.95] of detections, computed by pycocotools.

    The ground truth and the detections are handed to pycocotools' COCOeval
    (bbox, 101-point interpolated precision, up to 100 detections per image),
    so the figures are those the COCO benchmark reports.

    Args:
        detections: list (one per image) of {"boxes": (k, 4) pixel boxes
            (x_min, y_min, x_max, y_max), "scores": (k,), "classes": (k,)},
            as `decode_predictions` returns.
        boxes: array (N, max_objects, 4) or list of (n_i, 4). Ground-truth
            boxes; rows whose class is -1 are padding.
        classes: array (N, max_objects) or list of (n_i,). Class ids, -1 for
            padding.
        num_classes: int. Classes of the detector (categories 0..n-1).

    Returns:
        {"map50": AP at IoU 0.5, "map": AP averaged over IoU 0.50:0.05:0.95,
        "map75": AP at IoU 0.75}, over the classes that have ground truth.

    Raises:
        ValueError: on mismatched lengths, or without any ground-truth box.

    Example:
    >>> coco_map(decode_predictions(model.predict(x), 4, 3), boxes, classes, 3)
    {'map50': 0.93, 'map': 0.61, 'map75': 0.7}
    """
    if not (len(detections) == len(boxes) == len(classes)):
        raise ValueError(
            f"coco_map needs one entry per image: received {len(detections)} "
            f"detections, {len(boxes)} box sets and {len(classes)} class sets."
        )
    COCO, COCOeval = _coco_api()
    images, annotations, results = [], [], []
    for image_id, (dets, gt_boxes, gt_classes) in enumerate(
        zip(detections, boxes, classes, strict=True), start=1
    ):
        images.append({"id": image_id})
        gt_boxes = np.asarray(gt_boxes, dtype="float64").reshape(-1, 4)
        for box, cls in zip(gt_boxes, np.asarray(gt_classes).reshape(-1), strict=True):
            if cls < 0:
                continue
            xywh = _xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
        for box, score, cls in zip(
            np.asarray(dets["boxes"]).reshape(-1, 4),
            np.asarray(dets["scores"]).reshape(-1),
            np.asarray(dets["classes"]).reshape(-1),
            strict=True,
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": _xywh(box),
                    "score": float(score),
                }
            )
    if not annotations:
        raise ValueError("coco_map needs at least one ground-truth box (class >= 0).")
    # pycocotools prints its progress and summary to stdout; a library does
    # not print, so it goes to the debug log.
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        truth = COCO()
        truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in range(num_classes)],
        }
        truth.createIndex()
        if results:
            predicted = truth.loadRes(results)
        else:
            predicted = COCO()
            predicted.dataset = {"images": images, "annotations": []}
            predicted.createIndex()
        evaluation = COCOeval(truth, predicted, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    logger.debug("pycocotools:\n%s", captured.getvalue())
    stats = [max(float(s), 0.0) for s in evaluation.stats[:3]]  # -1: no data
    return {"map50": stats[1], "map": stats[0], "map75": stats[2]}
