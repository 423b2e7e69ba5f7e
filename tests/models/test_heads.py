"""Tests of the shared heads (kerasdl/models/heads.py) and of the task a model
declares, which chooses the Trainer's default loss."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.heads import (
    ClassificationHead,
    classification_head,
    dense_head,
    finish_model,
    language_model_head,
    pixel_classification_head,
    pool,
    tagging_head,
)
from kerasdl.registry import TASKS, get_task, register_model, set_task
from kerasdl.training import Trainer

QUIET = {"verbose": 0, "batch_size": 8, "epochs": 1}


def _features(shape, seed=0):
    return np.random.default_rng(seed).standard_normal((2, *shape)).astype("float32")


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _run(inputs, outputs, x, training=False):
    return _numpy(keras.Model(inputs, outputs)(x, training=training))


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize(
    ("shape", "pooling", "reduce"),
    [
        ((4, 5, 3), "max", lambda a: a.max(axis=(1, 2))),
        ((4, 5, 3), "avg", lambda a: a.mean(axis=(1, 2))),
        ((4, 5, 3), "flatten", lambda a: a.reshape(len(a), -1)),
        ((6, 3), "max", lambda a: a.max(axis=1)),
        ((6, 3), "avg", lambda a: a.mean(axis=1)),
    ],
)
def test_pooling_reduces_as_named(shape, pooling, reduce):
    # A per-family head copy once shipped a "max" that averaged: check values.
    x = _features(shape)
    inputs = keras.Input(shape)
    out = classification_head(
        inputs,
        include_top=False,
        num_classes=3,
        pooling=pooling,
        classifier_activation=None,
    )
    np.testing.assert_allclose(_run(inputs, out, x), reduce(x), rtol=1e-5, atol=1e-6)
    assert pool(inputs, pooling).shape == out.shape


def test_include_top_semantics_match_keras_applications():
    inputs = keras.Input((4, 4, 8))
    # Without the classifier and without pooling: the feature map itself.
    kept = classification_head(
        inputs,
        include_top=False,
        num_classes=3,
        pooling=None,
        classifier_activation="softmax",
    )
    assert kept is inputs
    # With the classifier, pooling=None means global average pooling.
    model = ClassificationHead(True, 3, None, "softmax").model(inputs, inputs, "m")
    assert [layer.name for layer in model.layers[1:]] == ["avg_pool", "predictions"]
    x = _features((4, 4, 8))
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = x.mean(axis=(1, 2)) @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_head_layer_names_and_parameter_count():
    inputs = keras.Input((4, 4, 8))
    head = ClassificationHead(True, 5, "max", "softmax", dropout=0.3)
    model = head.model(inputs, inputs, "named")
    assert [layer.name for layer in model.layers[1:]] == [
        "max_pool",
        "top_dropout",
        "predictions",
    ]
    assert model.count_params() == 8 * 5 + 5
    assert get_task(model) is None  # the registry records the entry's task
    backbone = ClassificationHead(False, 5, "avg").model(inputs, inputs, "bb")
    assert get_task(backbone) == "features"


def test_head_dropout_acts_only_in_training():
    inputs = keras.Input((16,))
    out = dense_head(inputs, 16, dropout=0.5)
    model = keras.Model(inputs, out)
    kernel, bias = model.get_layer("predictions").get_weights()
    x = np.ones((4, 16), "float32")
    inference = _numpy(model(x, training=False))
    np.testing.assert_allclose(inference, x @ kernel + bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_numpy(model(x, training=False)), inference)
    dropped = _numpy(model(x, training=True))
    assert not np.allclose(dropped, inference)


def test_sequence_heads_apply_at_every_step():
    inputs = keras.Input((5, 4))
    tags = tagging_head(inputs, 3)
    logits = language_model_head(inputs, 11)
    assert tags.shape == (None, 5, 3) and logits.shape == (None, 5, 11)
    x = _features((5, 4))
    model = keras.Model(inputs, tags)
    kernel, bias = model.get_layer("predictions").get_weights()
    z = x @ kernel + bias
    expected = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)
    pixels = keras.Input((6, 6, 4))
    assert pixel_classification_head(pixels, 2, activation=None).shape == (
        None,
        6,
        6,
        2,
    )


def test_head_arguments_are_checked_with_their_names():
    inputs = keras.Input((4, 4, 3))
    with pytest.raises(ValueError, match="pooling"):
        ClassificationHead(True, 3, "maximum")
    with pytest.raises(ValueError, match="num_classes"):
        ClassificationHead(True, 0)
    with pytest.raises(ValueError, match="head_dropout"):
        dense_head(inputs, 2, dropout=1.5)
    with pytest.raises(ValueError, match="task"):
        set_task(finish_model(inputs, inputs, "m"), "classifcation")


# ------------------------------------------------------------------ tasks
def test_every_registered_model_declares_a_known_task():
    for name in kerasdl.list_models():
        assert kerasdl.model_info(name)["task"] in TASKS, name
    assert kerasdl.model_info("rnn_tagger")["task"] == "tagging"
    assert kerasdl.model_info("lstm_forecaster")["task"] == "forecasting"


def test_register_model_rejects_an_unknown_task():
    with pytest.raises(ValueError, match="task"):
        register_model("never_registered", lambda: None, family="x", task="guess")


def test_build_records_the_task_on_the_model():
    model = kerasdl.build("rnn_regressor", input_shape=(4, 2))
    assert get_task(model) == "regression"
    model = kerasdl.build("mlp", input_shape=(6,), num_classes=3)
    assert get_task(model) == "classification"


def _data(n=16, features=6, classes=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, features)).astype("float32")
    return x, rng.integers(0, classes, n).astype("int32")


def test_task_not_the_activation_chooses_the_default_loss():
    x, y = _data()

    def linear_model():
        inputs = keras.Input((6,))
        return keras.Model(inputs, keras.layers.Dense(3)(inputs))

    # Integer-valued targets on a linear 3-unit output: declared a
    # regression, it is trained with MSE, not with a classification loss.
    targets = np.round(x[:, :3]).astype("int32")
    trainer = Trainer(QUIET)
    trainer.fit(set_task(linear_model(), "regression"), x, targets)
    assert type(trainer.model.loss).__name__ == "MeanSquaredError"
    # The same output declared as a classifier: cross-entropy from logits.
    trainer = Trainer(QUIET)
    trainer.fit(set_task(linear_model(), "classification"), x, y)
    loss = trainer.model.loss
    assert type(loss).__name__ == "SparseCategoricalCrossentropy"
    assert loss.from_logits is True


def test_registry_models_get_their_task_loss():
    x, y = _data()
    trainer = Trainer(QUIET)
    logits = kerasdl.build(
        "mlp", input_shape=(6,), num_classes=3, classifier_activation=None
    )
    history = trainer.fit(logits, x, np.eye(3, dtype="float32")[y])
    assert type(trainer.model.loss).__name__ == "CategoricalCrossentropy"
    assert trainer.model.loss.from_logits is True
    assert "accuracy" in history.history
    trainer = Trainer(QUIET)
    trainer.fit({"model": "rnn_regressor", "input_shape": [6, 1]}, x[..., None], y)
    assert type(trainer.model.loss).__name__ == "MeanSquaredError"


def test_a_features_model_needs_an_explicit_loss():
    x, y = _data()
    inputs = keras.Input((6,))
    model = set_task(keras.Model(inputs, keras.layers.Dense(4)(inputs)), "features")
    with pytest.raises(ValueError, match="outputs features"):
        Trainer(QUIET).fit(model, x, y)


def test_task_survives_a_precision_rebuild():
    x, y = _data()
    trainer = Trainer({**QUIET, "precision": "mixed_bfloat16"})
    trainer.fit(
        kerasdl.build("rnn_regressor", input_shape=(6, 1)), x[..., None], y * 1.0
    )
    assert get_task(trainer.model) == "regression"
    assert type(trainer.model.loss).__name__ == "MeanSquaredError"
