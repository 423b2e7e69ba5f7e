"""Target assignment, decoding, NMS and the shapes dataset (NumPy: one backend)."""

import numpy as np
import pytest

from kerasdl import detection

pytestmark = pytest.mark.one_backend


def test_encode_targets_assigns_centre_locations_with_distances_and_centreness():
    # One 16x16 box at (8, 8)-(24, 24) on a 16x16 grid of stride 4.
    y = detection.encode_targets([[[8, 8, 24, 24]]], [[2]], (16, 16), 4, 3)
    positive = y[0, ..., :3].max(-1) > 0
    rows, cols = np.nonzero(positive)
    # Centre sampling: of the centres 10, 14, 18, 22 inside the box, those
    # less than 1.5 strides (6 px) from 16: 14 and 18 -> grid indices 3, 4.
    assert sorted(set(rows)) == [3, 4] and sorted(set(cols)) == [3, 4]
    assert np.all(y[0, positive, 2] == 1) and np.all(y[0, positive, :2] == 0)
    # Location (3, 3) has centre (14, 14): distances 6, 6, 10, 10 px = 1.5, 2.5 strides.
    np.testing.assert_allclose(y[0, 3, 3, 3:7], [1.5, 1.5, 2.5, 2.5])
    np.testing.assert_allclose(y[0, 3, 3, 7], 0.6, rtol=1e-6)  # sqrt(.6 * .6)
    assert np.all(y[0, ~positive] == 0)


def test_encode_targets_gives_shared_locations_to_the_smaller_box_and_skips_padding():
    boxes = [[[0, 0, 32, 32], [8, 8, 16, 16], [0, 0, 0, 0]]]
    y = detection.encode_targets(boxes, [[0, 1, -1]], (8, 8), 4, 2)
    # Location (2, 2) (centre (10, 10)) lies in both boxes: the small one wins.
    assert y[0, 2, 2, 1] == 1 and y[0, 2, 2, 0] == 0
    np.testing.assert_allclose(y[0, 2, 2, 2:6], [0.5, 0.5, 1.5, 1.5])
    assert y[0, 0, 0, 0] == 0  # corner of the big box: far from its centre


def test_encode_targets_refuses_bad_classes_and_boxes():
    with pytest.raises(
        ValueError, match=r"class ids \[3\] out of range; expected 0..2"
    ):
        detection.encode_targets([[[0, 0, 8, 8]]], [[3]], (4, 4), 4, 3)
    with pytest.raises(ValueError, match="x_max > x_min"):
        detection.encode_targets([[[8, 0, 8, 8]]], [[0]], (4, 4), 4, 3)
    with pytest.raises(ValueError, match="stride"):
        detection.encode_targets([[[0, 0, 8, 8]]], [[0]], (4, 4), 0, 3)


def test_decoding_an_encoded_target_gives_back_its_box():
    box = np.array([[12.0, 20.0, 40.0, 36.0]])
    y = detection.encode_targets([box], [[1]], (16, 16), 4, 2)
    # Turn targets into logits the detector would output for them.
    logits = np.full(y.shape, -20.0, "float32")
    positive = y[..., :2].max(-1) > 0
    logits[..., :2] = np.where(y[..., :2] > 0, 20.0, -20.0)
    logits[..., 2:6] = np.log(np.maximum(y[..., 2:6], 1e-6))
    logits[..., 6] = np.where(positive, 20.0, -20.0)
    (found,) = detection.decode_predictions(logits, 4, 2, iou_threshold=0.5)
    # Every positive location decodes to the same box: NMS keeps one.
    assert len(found["boxes"]) == 1 and found["classes"].tolist() == [1]
    np.testing.assert_allclose(found["boxes"][0], box[0], atol=1e-4)
    assert found["scores"][0] > 0.99


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]]
    scores = [0.8, 0.9, 0.5, 0.7]
    # IoU(1, 0) = 81 / 119 = 0.68; IoU(1, 3) = 72 / 118 = 0.61; IoU(0, 3) = 0.9.
    assert detection.non_max_suppression(boxes, scores, 0.5).tolist() == [1, 2]
    # At 0.65 box 1 suppresses box 0 only; box 3 survives (box 0, which it
    # overlaps most, is already gone).
    assert detection.non_max_suppression(boxes, scores, 0.65).tolist() == [1, 3, 2]
    assert detection.non_max_suppression(boxes, scores, 1.0).tolist() == [1, 0, 3, 2]
    with pytest.raises(ValueError, match="4 boxes but 3 scores"):
        detection.non_max_suppression(boxes, scores[:3])


def test_box_iou_of_known_pairs():
    iou = detection.box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0]])


def test_shapes_dataset_is_seeded_and_its_boxes_enclose_the_shapes():
    a = detection.shapes_detection(num_train=6, num_val=2, num_test=3, seed=3)
    b = detection.shapes_detection(num_train=6, num_val=2, num_test=3, seed=3)
    other = detection.shapes_detection(num_train=9, num_val=2, num_test=3, seed=3)
    for split_a, split_b in zip(a.train + a.test, b.train + b.test):
        np.testing.assert_array_equal(split_a, split_b)
    # The test split does not depend on the size of the training split.
    np.testing.assert_array_equal(a.test[0], other.test[0])
    images, boxes, classes = a.train
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert a.class_names == ("circle", "square", "triangle")
    for image, image_boxes, image_classes in zip(images, boxes, classes):
        real = image_classes >= 0
        assert 1 <= real.sum() <= 3 and np.all(image_classes[~real] == -1)
        side = image_boxes[real, 2] - image_boxes[real, 0]
        assert np.all((side >= 10) & (side <= 24))
        for box in image_boxes[real].astype(int):
            # The shape's colour differs from the background: the box holds
            # pixels far from the image's median colour.
            crop = image[box[1] : box[3], box[0] : box[2]]
            assert np.abs(crop - np.median(image, axis=(0, 1))).max() > 0.2
    with pytest.raises(ValueError, match="max_size"):
        detection.shapes_detection(min_size=20, max_size=10)
