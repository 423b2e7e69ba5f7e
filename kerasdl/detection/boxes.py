"""Boxes of an FCOS-style detector: target assignment, decoding and NMS.

Boxes are (x_min, y_min, x_max, y_max) in pixels of the input image, a
pixel (row i, column j) covering [j, j + 1) x [i, i + 1). The detector
(`kerasdl.models.detection.fcos`) predicts, at every location of its output
grid (centre ((j + 0.5) * stride, (i + 0.5) * stride)), one logit per class,
four raw distances to the box sides and a centre-ness logit; one location's
channels are laid out as

    [class logits (num_classes) | left, top, right, bottom (4) | centre-ness (1)]

in the model output and in the targets made by `encode_targets` (there the
class part is one-hot, the distances are in units of the stride and the last
channel is the centre-ness target). Everything here is NumPy, so it decodes
the outputs of any backend and of exported (TFLite, ONNX) files alike.
"""

from __future__ import annotations

import numpy as np

from kerasdl._checks import check_float, check_int

__all__ = [
    "box_iou",
    "decode_predictions",
    "encode_targets",
    "location_centres",
    "non_max_suppression",
]


def location_centres(grid_height: int, grid_width: int, stride: int) -> np.ndarray:
    """Pixel centres (x, y) of the output locations, shape (H, W, 2)."""
    ys = (np.arange(grid_height, dtype="float32") + 0.5) * stride
    xs = (np.arange(grid_width, dtype="float32") + 0.5) * stride
    grid_x, grid_y = np.meshgrid(xs, ys)
    return np.stack([grid_x, grid_y], axis=-1)


def _valid_objects(boxes, classes, num_classes: int, index: int):
    """The real objects of one image: classes >= 0 (padding rows are -1)."""
    boxes = np.asarray(boxes, dtype="float32").reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    if len(boxes) != len(classes):
        raise ValueError(
            f"Image {index}: {len(boxes)} boxes but {len(classes)} classes; "
            "expected one class per box (padding rows have class -1)."
        )
    keep = classes >= 0
    boxes, classes = boxes[keep], classes[keep].astype("int64")
    if np.any(classes >= num_classes):
        raise ValueError(
            f"Image {index}: class ids {sorted(set(classes.tolist()))} out of "
            f"range; expected 0..{num_classes - 1} (or -1 for padding)."
        )
    if np.any(boxes[:, 2:] <= boxes[:, :2]):
        raise ValueError(
            f"Image {index}: boxes must have x_max > x_min and y_max > y_min; "
            f"received {boxes.tolist()}."
        )
    return boxes, classes


def encode_targets(
    boxes,
    classes,
    grid_shape: tuple[int, int],
    stride: int,
    num_classes: int,
    centre_radius: float = 1.5,
) -> np.ndarray:
    """FCOS target assignment: the training targets of a batch of images.

    A location is positive for an object when its centre lies inside the
    box and within `centre_radius` strides of the box centre (FCOS's centre
    sampling); a location claimed by several objects takes the smallest one.
    Its targets are the one-hot class, the distances to the four box sides
    in strides and the centre-ness sqrt(min(l, r) / max(l, r) * min(t, b) /
    max(t, b)); negative locations are all zeros.

    Args:
        boxes: array (N, max_objects, 4), or a list of (n_i, 4) arrays.
            Pixel boxes (x_min, y_min, x_max, y_max); rows whose class is -1
            are padding.
        classes: array (N, max_objects) or a list of (n_i,) arrays. Class
            ids in [0, num_classes), -1 for padding.
        grid_shape: (int, int). The model's output grid (height, width).
        stride: int. Pixels per output location.
        num_classes: int. Classes of the detector.
        centre_radius: float. Centre-sampling radius in strides.

    Returns:
        float32 array (N, H, W, num_classes + 5), the `y` of `model.fit`.

    Example:
    >>> y = encode_targets([[[8, 8, 24, 24]]], [[1]], (16, 16), 4, 3)
    >>> y.shape
    (1, 16, 16, 8)
    """
    height = check_int("grid_shape[0]", grid_shape[0], minimum=1)
    width = check_int("grid_shape[1]", grid_shape[1], minimum=1)
    stride = check_int("stride", stride, minimum=1)
    num_classes = check_int("num_classes", num_classes, minimum=1)
    centre_radius = check_float("centre_radius", centre_radius, minimum=0.0)
    if len(boxes) != len(classes):
        raise ValueError(
            f"boxes has {len(boxes)} images but classes has {len(classes)}; "
            "expected one entry per image."
        )
    centres = location_centres(height, width, stride).reshape(-1, 1, 2)
    targets = np.zeros((len(boxes), height * width, num_classes + 5), "float32")
    for n, (image_boxes, image_classes) in enumerate(zip(boxes, classes, strict=True)):
        obj_boxes, obj_classes = _valid_objects(
            image_boxes, image_classes, num_classes, n
        )
        if not len(obj_boxes):
            continue
        # Distances from every location (rows) to every box's sides (columns).
        left = centres[..., 0] - obj_boxes[:, 0]
        top = centres[..., 1] - obj_boxes[:, 1]
        right = obj_boxes[:, 2] - centres[..., 0]
        bottom = obj_boxes[:, 3] - centres[..., 1]
        sides = np.stack([left, top, right, bottom], axis=-1)  # (HW, K, 4)
        inside = sides.min(axis=-1) > 0
        box_centre = (obj_boxes[:, :2] + obj_boxes[:, 2:]) / 2
        near = np.abs(centres - box_centre).max(axis=-1) < centre_radius * stride
        area = np.prod(obj_boxes[:, 2:] - obj_boxes[:, :2], axis=-1)
        claimed = np.where(inside & near, area, np.inf)
        owner = claimed.argmin(axis=-1)
        positive = np.isfinite(claimed.min(axis=-1))
        rows = np.nonzero(positive)[0]
        d = sides[rows, owner[rows]]  # (P, 4) pixels, all > 0
        lr = np.minimum(d[:, 0], d[:, 2]) / np.maximum(d[:, 0], d[:, 2])
        tb = np.minimum(d[:, 1], d[:, 3]) / np.maximum(d[:, 1], d[:, 3])
        targets[n, rows, obj_classes[owner[rows]]] = 1.0
        targets[n, rows, num_classes : num_classes + 4] = d / stride
        targets[n, rows, num_classes + 4] = np.sqrt(lr * tb)
    return targets.reshape(len(boxes), height, width, num_classes + 5)


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every pair, shape (len(a), len(b))."""
    a = np.asarray(boxes_a, dtype="float64").reshape(-1, 1, 4)
    b = np.asarray(boxes_b, dtype="float64").reshape(1, -1, 4)
    low = np.maximum(a[..., :2], b[..., :2])
    high = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=-1)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=-1)
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def non_max_suppression(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, highest score first.

    A box is dropped when it overlaps a kept, higher-scoring box with IoU
    above `iou_threshold`. Apply it per class (as `decode_predictions` does)
    for class-aware suppression.

    Args:
        boxes: array (n, 4). Pixel boxes (x_min, y_min, x_max, y_max).
        scores: array (n,).
        iou_threshold: float in [0, 1].

    Returns:
        int64 array of indices into `boxes`.
    """
    iou_threshold = check_float("iou_threshold", iou_threshold, 0.0, 1.0)
    boxes = np.asarray(boxes, dtype="float64").reshape(-1, 4)
    scores = np.asarray(scores, dtype="float64").reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(
            f"non_max_suppression: {len(boxes)} boxes but {len(scores)} scores; "
            "expected one score per box."
        )
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        best = order[0]
        keep.append(best)
        if len(order) == 1:
            break
        overlap = box_iou(boxes[best], boxes[order[1:]])[0]
        order = order[1:][overlap <= iou_threshold]
    return np.asarray(keep, dtype="int64")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def decode_predictions(
    predictions,
    stride: int,
    num_classes: int,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
    image_shape: tuple[int, int] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Turns detector outputs into boxes, scores and classes per image.

    A location's score for a class is sqrt(sigmoid(class logit) *
    sigmoid(centre-ness logit)) (FCOS: centre-ness demotes boxes predicted
    far from an object's centre); its box is the location centre minus /
    plus exp(raw distance) * stride. Scores below `score_threshold` are
    dropped, then NMS runs per class and the best `max_detections` remain.

    Args:
        predictions: array (N, H, W, num_classes + 5). Model outputs (Keras,
            TFLite or ONNX), any backend's tensor or NumPy.
        stride: int. Pixels per output location
            (`kerasdl.models.detection.output_stride`).
        num_classes: int. Classes of the detector.
        score_threshold: float in [0, 1].
        iou_threshold: float in [0, 1]. NMS overlap threshold.
        max_detections: int. Detections kept per image.
        image_shape: (height, width) or None. Clip boxes to the image.

    Returns:
        list (one per image) of {"boxes": (k, 4), "scores": (k,),
        "classes": (k,)} NumPy arrays, sorted by decreasing score.
    """
    stride = check_int("stride", stride, minimum=1)
    num_classes = check_int("num_classes", num_classes, minimum=1)
    score_threshold = check_float("score_threshold", score_threshold, 0.0, 1.0)
    max_detections = check_int("max_detections", max_detections, minimum=1)
    predictions = np.asarray(predictions, dtype="float32")
    if predictions.ndim != 4 or predictions.shape[-1] != num_classes + 5:
        raise ValueError(
            f"predictions must have shape (N, H, W, num_classes + 5 = "
            f"{num_classes + 5}); received shape {predictions.shape}."
        )
    _, height, width, _ = predictions.shape
    centres = location_centres(height, width, stride).reshape(-1, 2)
    results = []
    for image in predictions.reshape(len(predictions), height * width, -1):
        scores = np.sqrt(
            _sigmoid(image[:, :num_classes]) * _sigmoid(image[:, -1:])
        )  # (HW, C)
        distances = np.exp(np.clip(image[:, num_classes : num_classes + 4], -10, 10))
        distances *= stride
        boxes = np.concatenate(
            [centres - distances[:, :2], centres + distances[:, 2:]], axis=-1
        )
        if image_shape is not None:
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, image_shape[1])
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, image_shape[0])
        kept_boxes, kept_scores, kept_classes = [], [], []
        for c in range(num_classes):
            candidates = np.nonzero(scores[:, c] > score_threshold)[0]
            if not len(candidates):
                continue
            keep = candidates[
                non_max_suppression(
                    boxes[candidates], scores[candidates, c], iou_threshold
                )
            ]
            kept_boxes.append(boxes[keep])
            kept_scores.append(scores[keep, c])
            kept_classes.append(np.full(len(keep), c, dtype="int64"))
        if kept_boxes:
            all_scores = np.concatenate(kept_scores)
            best = np.argsort(-all_scores, kind="stable")[:max_detections]
            results.append(
                {
                    "boxes": np.concatenate(kept_boxes)[best],
                    "scores": all_scores[best],
                    "classes": np.concatenate(kept_classes)[best],
                }
            )
        else:
            results.append(
                {
                    "boxes": np.zeros((0, 4), "float32"),
                    "scores": np.zeros((0,), "float32"),
                    "classes": np.zeros((0,), "int64"),
                }
            )
    return results
