"""Tests of the loss factory and losses (kerasdl/training/losses.py)."""

import math

import keras
import numpy as np
import pytest

from kerasdl.training.losses import (
    LOSS_NAMES,
    SparseCategoricalCrossentropy,
    SparseCategoricalFocalCrossentropy,
    make_loss,
)


def _np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


def _loss(loss, y_true, y_pred, sample_weight=None):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, "float32")
    return float(_np(loss(y_true, y_pred, sample_weight=sample_weight)))


# ------------------------------------------------------------------ losses
def test_make_loss_builds_keras_losses_with_arguments():
    assert isinstance(make_loss("mse"), keras.losses.MeanSquaredError)
    assert isinstance(make_loss("mean_absolute_error"), keras.losses.MeanAbsoluteError)
    huber = make_loss({"name": "huber", "delta": 0.5})
    assert isinstance(huber, keras.losses.Huber)
    bce = make_loss(
        {"name": "binary_crossentropy", "from_logits": True, "label_smoothing": 0.1}
    )
    assert isinstance(bce, keras.losses.BinaryCrossentropy)
    assert bce.get_config()["from_logits"] is True
    assert bce.get_config()["label_smoothing"] == 0.1
    plain_sparse = make_loss({"name": "sparse_categorical_crossentropy"})
    assert isinstance(plain_sparse, keras.losses.SparseCategoricalCrossentropy)
    smoothed = make_loss(
        {"name": "sparse_categorical_crossentropy", "label_smoothing": 0.1}
    )
    assert isinstance(smoothed, SparseCategoricalCrossentropy)
    focal = make_loss({"name": "categorical_focal", "gamma": 3.0, "alpha": 0.5})
    assert isinstance(focal, keras.losses.CategoricalFocalCrossentropy)
    assert (focal.gamma, focal.alpha) == (3.0, 0.5)
    assert isinstance(
        make_loss("binary_focal_crossentropy"), keras.losses.BinaryFocalCrossentropy
    )
    assert isinstance(
        make_loss("sparse_categorical_focal"), SparseCategoricalFocalCrossentropy
    )
    assert "huber" in LOSS_NAMES and "sparse_categorical_focal" in LOSS_NAMES


def test_regression_loss_values():
    y_true, y_pred = [[0.0], [0.0], [0.0]], [[0.5], [2.0], [-3.0]]
    assert _loss(make_loss("mse"), y_true, y_pred) == pytest.approx((0.25 + 4 + 9) / 3)
    assert _loss(make_loss("mae"), y_true, y_pred) == pytest.approx(5.5 / 3)
    # delta=1: 0.5 * 0.25, 1 * (2 - 0.5), 1 * (3 - 0.5).
    huber = make_loss("huber")
    assert _loss(huber, y_true, y_pred) == pytest.approx((0.125 + 1.5 + 2.5) / 3)
    # delta=2: 0.5 * 0.25, 0.5 * 4, 2 * (3 - 1).
    huber2 = make_loss({"name": "huber", "delta": 2.0})
    assert _loss(huber2, y_true, y_pred) == pytest.approx((0.125 + 2 + 4) / 3)


def test_label_smoothing_value():
    probs = [[0.7, 0.2, 0.1]]
    # Smoothing 0.3 over 3 classes: target [0.8, 0.1, 0.1].
    expected = -(0.8 * math.log(0.7) + 0.1 * math.log(0.2) + 0.1 * math.log(0.1))
    sparse = make_loss(
        {"name": "sparse_categorical_crossentropy", "label_smoothing": 0.3}
    )
    categorical = make_loss(
        {"name": "categorical_crossentropy", "label_smoothing": 0.3}
    )
    assert _loss(sparse, [0], probs) == pytest.approx(expected, rel=1e-5)
    assert _loss(sparse, [[0]], probs) == pytest.approx(expected, rel=1e-5)
    assert _loss(categorical, [[1, 0, 0]], probs) == pytest.approx(expected, rel=1e-5)
    logits = make_loss(
        {
            "name": "sparse_categorical_crossentropy",
            "label_smoothing": 0.3,
            "from_logits": True,
        }
    )
    assert _loss(logits, [0], np.log(probs)) == pytest.approx(expected, rel=1e-5)
    unsmoothed = make_loss("sparse_categorical_crossentropy")
    assert _loss(unsmoothed, [0], probs) == pytest.approx(-math.log(0.7), rel=1e-5)
    # Binary: target 1 becomes 1 - 0.2 / 2 = 0.9.
    bce = make_loss({"name": "binary_crossentropy", "label_smoothing": 0.2})
    expected_bce = -(0.9 * math.log(0.8) + 0.1 * math.log(0.2))
    assert _loss(bce, [[1.0]], [[0.8]]) == pytest.approx(expected_bce, rel=1e-5)


def test_sparse_losses_equal_categorical_on_one_hot_sequences():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 4)).astype("float32")  # (batch, time, C)
    labels = rng.integers(0, 4, (2, 3))
    one_hot = np.eye(4, dtype="float32")[labels]
    weights = np.array([[1.0, 0.25, 0.0], [2.0, 1.0, 0.5]], "float32")
    pairs = [
        ("crossentropy", {"label_smoothing": 0.2, "from_logits": True}),
        ("focal_crossentropy", {"gamma": 1.5, "alpha": 0.4, "from_logits": True}),
    ]
    for suffix, args in pairs:
        sparse = make_loss({"name": f"sparse_categorical_{suffix}", **args})
        dense = make_loss({"name": f"categorical_{suffix}", **args})
        for sample_weight in (None, weights):
            np.testing.assert_allclose(
                _loss(sparse, labels, logits, sample_weight),
                _loss(dense, one_hot, logits, sample_weight),
                rtol=1e-5,
                err_msg=suffix,
            )


def test_focal_loss_values():
    # Binary, gamma 2: (1 - p_t)^2 * BCE; y=1, p=0.9 and y=0, p=0.2.
    a = 0.1**2 * -math.log(0.9)
    b = 0.2**2 * -math.log(0.8)
    y_true, y_pred = [[1.0], [0.0]], [[0.9], [0.2]]
    binary = make_loss({"name": "binary_focal_crossentropy", "gamma": 2.0})
    assert _loss(binary, y_true, y_pred) == pytest.approx((a + b) / 2, rel=1e-5)
    balanced = make_loss(
        {
            "name": "binary_focal_crossentropy",
            "gamma": 2.0,
            "alpha": 0.25,
            "apply_class_balancing": True,
        }
    )
    expected = (0.25 * a + 0.75 * b) / 2
    assert _loss(balanced, y_true, y_pred) == pytest.approx(expected, rel=1e-5)
    # Categorical: -alpha * (1 - p_y)^gamma * log(p_y), p_y = 0.7.
    probs = [[0.2, 0.7, 0.1]]
    expected = 0.25 * 0.3**2 * -math.log(0.7)
    categorical = make_loss({"name": "categorical_focal_crossentropy", "gamma": 2.0})
    sparse = make_loss({"name": "sparse_categorical_focal_crossentropy", "gamma": 2.0})
    assert _loss(categorical, [[0, 1, 0]], probs) == pytest.approx(expected, rel=1e-5)
    assert _loss(sparse, [1], probs) == pytest.approx(expected, rel=1e-5)
    # gamma = 0 is alpha-weighted cross-entropy.
    plain = make_loss({"name": "sparse_categorical_focal", "gamma": 0, "alpha": 1})
    assert _loss(plain, [1], probs) == pytest.approx(-math.log(0.7), rel=1e-5)


def test_kerasdl_losses_config_round_trip():
    for loss in (
        SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        SparseCategoricalFocalCrossentropy(alpha=0.5, gamma=1.0, label_smoothing=0.05),
    ):
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()
        y_pred = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 0.1]], "float32")
        assert _loss(restored, [2, 1], y_pred) == _loss(loss, [2, 1], y_pred)


BAD_LOSSES = [  # (config, message pattern)
    ("mse_loss", r"name='mse_loss'.*Accepted:"),
    ({"name": "huber", "delta": 0}, r"delta=0: expected a number > 0"),
    ({"name": "huber", "detla": 1.0}, r"'detla'.*'delta'"),
    ({"name": "mse", "from_logits": True}, r"'from_logits' for loss 'mse'"),
    (
        {"name": "categorical_crossentropy", "label_smoothing": 1.0},
        r"label_smoothing=1.0",
    ),
    ({"name": "binary_crossentropy", "from_logits": "yes"}, r"from_logits='yes'"),
    ({"name": "binary_focal_crossentropy", "gamma": -1}, r"gamma=-1"),
    ({"name": "categorical_focal_crossentropy", "alpha": 2.0}, r"alpha=2.0"),
    (
        {
            "name": "sparse_categorical_crossentropy",
            "label_smoothing": 0.1,
            "ignore_class": 0,
        },
        r"ignore_class.*label smoothing",
    ),
    (3, r"name or a dict"),
]


def test_make_loss_rejects_bad_configs():
    for config, match in BAD_LOSSES:
        with pytest.raises(ValueError, match=match):
            make_loss(config)
