"""COCO mAP through pycocotools on hand-made boxes with known answers."""

import numpy as np
import pytest

from kerasdl import detection

pytestmark = pytest.mark.one_backend


def _dets(boxes, scores, classes):
    return {
        "boxes": np.asarray(boxes, "float32").reshape(-1, 4),
        "scores": np.asarray(scores, "float32"),
        "classes": np.asarray(classes, "int64"),
    }


def test_perfect_detections_score_one():
    gt = np.array([[[2, 2, 12, 12], [20, 20, 30, 34]]], "float32")
    classes = np.array([[0, 1]])
    found = [_dets(gt[0], [0.9, 0.8], [0, 1])]
    result = detection.coco_map(found, gt, classes, num_classes=2)
    assert result == pytest.approx({"map50": 1.0, "map": 1.0, "map75": 1.0})


def test_half_recall_gives_51_of_101_recall_points():
    # Two objects of one class; the best detection finds one, the second
    # detection is a false positive and the other object is missed. COCO
    # interpolates precision at 101 recall points 0, 0.01, ..., 1: precision
    # 1 up to recall 0.5 (51 points), then 0: AP = 51 / 101.
    gt = np.array([[[0, 0, 10, 10], [40, 40, 50, 50]]], "float32")
    found = [_dets([[0, 0, 10, 10], [20, 0, 30, 10]], [0.9, 0.8], [0, 0])]
    result = detection.coco_map(found, gt, np.array([[0, 0]]), num_classes=1)
    assert result["map50"] == pytest.approx(51 / 101)
    assert result["map"] == pytest.approx(51 / 101)


def test_a_box_of_iou_072_counts_at_five_of_ten_thresholds():
    # IoU(pred, gt) = 72 / 100 (a 10 x 10 box against 10 x 7.2 inside it):
    # a match at thresholds 0.50..0.70, a miss at 0.75..0.95: mAP = 0.5.
    gt = np.array([[[0, 0, 10, 10]]], "float32")
    found = [_dets([[0, 0, 10, 7.2]], [0.9], [0])]
    np.testing.assert_allclose(detection.box_iou(found[0]["boxes"], gt[0]), 0.72, 1e-6)
    result = detection.coco_map(found, gt, np.array([[0]]), num_classes=1)
    assert result["map50"] == pytest.approx(1.0)
    assert result["map75"] == pytest.approx(0.0)
    assert result["map"] == pytest.approx(0.5)


def test_wrong_class_and_no_detections_score_zero_and_padding_is_ignored():
    gt = np.array([[[0, 0, 10, 10], [0, 0, 0, 0]]], "float32")
    classes = np.array([[0, -1]])
    wrong = detection.coco_map([_dets([[0, 0, 10, 10]], [0.9], [1])], gt, classes, 2)
    empty = detection.coco_map([_dets(np.zeros((0, 4)), [], [])], gt, classes, 2)
    assert wrong["map50"] == 0.0 and empty["map50"] == 0.0
    with pytest.raises(ValueError, match="one entry per image"):
        detection.coco_map([], gt, classes, 2)
