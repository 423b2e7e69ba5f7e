"""DetectionLoss on every backend: known values, masking, fit and save."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import detection


def _target():
    return detection.encode_targets([[[4, 4, 20, 28]]], [[1]], (8, 8), 4, 2)


def _perfect_logits(y, margin=30.0):
    logits = np.where(y[..., :2] > 0, margin, -margin)
    distances = np.log(np.maximum(y[..., 2:6], 1e-6))
    positive = y[..., :2].max(-1, keepdims=True) > 0
    c = np.clip(y[..., 6:], 1e-6, 1 - 1e-6)
    centre = np.log(c / (1 - c))
    return np.concatenate([logits, distances, np.where(positive, centre, 0)], -1)


def _numpy(terms):
    return {k: keras.ops.convert_to_numpy(v) for k, v in terms.items()}


def test_perfect_predictions_leave_only_the_centreness_entropy():
    y = _target()
    loss = detection.DetectionLoss(num_classes=2)
    terms = _numpy(loss.terms(y, _perfect_logits(y).astype("float32")))
    np.testing.assert_allclose(terms["classification"], 0.0, atol=1e-6)
    np.testing.assert_allclose(terms["box"], 0.0, atol=1e-5)
    # Centre-ness BCE at its minimum: the entropy of the soft targets.
    c = y[..., 6][y[..., :2].max(-1) > 0]
    entropy = -(c * np.log(c) + (1 - c) * np.log(1 - c)).mean()
    np.testing.assert_allclose(terms["centerness"], entropy, rtol=1e-4)


def test_focal_and_giou_terms_match_hand_computed_values():
    y = _target()
    positives = int(y[..., :2].max(-1).sum())
    pred = np.zeros(y.shape, "float32")  # p = 0.5 everywhere, unit boxes
    terms = _numpy(detection.DetectionLoss(num_classes=2).terms(y, pred))
    # Focal loss at p = 0.5: alpha_t * 0.25 * log 2 per class and location.
    n_pos_entries = positives  # one positive class entry per positive location
    n_neg_entries = y.shape[1] * y.shape[2] * 2 - n_pos_entries
    focal = (0.25 * n_pos_entries + 0.75 * n_neg_entries) * 0.25 * np.log(2)
    np.testing.assert_allclose(terms["classification"], focal / positives, rtol=1e-5)
    # Unit boxes (distances exp(0) = 1) inside the target boxes: GIoU = IoU =
    # 4 / area of the target box; the enclosing box is the target box.
    d = y[..., 2:6][y[..., :2].max(-1) > 0]
    giou = 4 / ((d[:, 0] + d[:, 2]) * (d[:, 1] + d[:, 3]))
    np.testing.assert_allclose(terms["box"], (1 - giou).mean(), rtol=1e-5)


def test_images_without_objects_give_a_finite_loss_and_gradient():
    y = np.zeros((2, 4, 4, 7), "float32")
    pred = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=y.shape))
    value = keras.ops.convert_to_numpy(detection.DetectionLoss(2)(y, pred))
    assert np.isfinite(value) and value > 0


def test_fcos_trains_with_the_loss_in_fit_and_saves(tmp_path):
    model = kerasdl.build(
        "fcos",
        input_shape=(32, 32, 3),
        num_classes=2,
        filters=(4, 8, 8),
        head_filters=8,
        head_convs=1,
    )
    assert model.output_shape == (None, 8, 8, 7)
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = np.concatenate([_target()] * 4)
    model.compile(keras.optimizers.Adam(0.01), loss=detection.DetectionLoss(2))
    history = model.fit(x, y, epochs=4, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]
    model.save(tmp_path / "fcos.keras")
    loaded = keras.saving.load_model(tmp_path / "fcos.keras")
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )


def test_loss_and_builder_refuse_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        detection.DetectionLoss(num_classes=0)
    with pytest.raises(ValueError, match=r"num_classes \+ 5 = 7 channels"):
        detection.DetectionLoss(2)(np.zeros((1, 2, 2, 7)), np.zeros((1, 2, 2, 6)))
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* len\\(filters\\) = 8"):
        kerasdl.build("fcos", input_shape=(36, 36, 3), filters=(4, 8, 8))
    with pytest.raises(ValueError, match="feature_level"):
        kerasdl.build("fcos", filters=(4, 8), feature_level=3)
