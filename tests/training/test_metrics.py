"""Tests of the metric factory and metrics (kerasdl/training/metrics.py)."""

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from kerasdl.training.losses import SparseCategoricalCrossentropy, make_loss
from kerasdl.training.metrics import (
    F1Score,
    Precision,
    Recall,
    SparseAUC,
    make_metrics,
)


def _np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


def _metric(metric, y_true, y_pred, sample_weight=None):
    metric.update_state(
        np.asarray(y_true), np.asarray(y_pred, "float32"), sample_weight=sample_weight
    )
    return _np(metric.result())


# 5 classes: class 3 is never predicted, class 4 appears nowhere.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 0, 1, 2])
Y_PRED = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 0, 1, 0, 1, 2])
WEIGHTS = np.array([1, 2, 1, 1, 0.5, 1, 1, 3, 1, 1, 2, 1, 1, 0.5], "float32")


def _scores(labels, num_classes=5, seed=0):
    """Random softmax-like scores whose argmax is `labels`."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.0, 0.5, (len(labels), num_classes))
    scores[np.arange(len(labels)), labels] = 1.0
    return (scores / scores.sum(-1, keepdims=True)).astype("float32")


def test_make_metrics_picks_the_variant_for_the_labels():
    binary = make_metrics(["accuracy", "auc", "f1"], num_classes=1)
    assert isinstance(binary[0], keras.metrics.BinaryAccuracy)
    assert type(binary[1]) is keras.metrics.AUC
    assert isinstance(binary[2], F1Score) and binary[2].average == "binary"
    sparse = make_metrics(
        ["acc", "auc", {"name": "top_k_accuracy", "k": 3}, "precision", "recall"],
        num_classes=10,
    )
    assert isinstance(sparse[0], keras.metrics.SparseCategoricalAccuracy)
    assert isinstance(sparse[1], SparseAUC)
    assert isinstance(sparse[2], keras.metrics.SparseTopKCategoricalAccuracy)
    assert isinstance(sparse[3], Precision) and isinstance(sparse[4], Recall)
    assert [m.name for m in sparse] == [
        "accuracy",
        "auc",
        "top3_accuracy",
        "precision",
        "recall",
    ]
    one_hot = make_metrics(["accuracy", "auc", "top_k"], num_classes=10, sparse=False)
    assert isinstance(one_hot[0], keras.metrics.CategoricalAccuracy)
    assert type(one_hot[1]) is keras.metrics.AUC
    assert isinstance(one_hot[2], keras.metrics.TopKCategoricalAccuracy)
    assert one_hot[2].name == "top5_accuracy"
    regression = make_metrics(["mae", "mean_squared_error", "accuracy"])
    assert isinstance(regression[0], keras.metrics.MeanAbsoluteError)
    assert isinstance(regression[1], keras.metrics.MeanSquaredError)
    assert isinstance(regression[2], keras.metrics.SparseCategoricalAccuracy)


def test_f1_precision_recall_match_sklearn():
    scores = _scores(Y_PRED)
    one_hot = np.eye(5, dtype="float32")[Y_TRUE]
    for average in ("macro", "micro", "weighted"):
        for cls, reference in (
            (F1Score, skm.f1_score),
            (Precision, skm.precision_score),
            (Recall, skm.recall_score),
        ):
            label = f"{cls.__name__} {average}"
            expected = reference(Y_TRUE, Y_PRED, average=average, zero_division=0)
            # In two batches, with integer labels of shape (n,) and (n, 1).
            metric = cls(num_classes=5, average=average)
            metric.update_state(Y_TRUE[:6], scores[:6])
            got = _metric(metric, Y_TRUE[6:, None], scores[6:])
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=label)
            # One-hot labels give the same value.
            got = _metric(cls(num_classes=5, average=average), one_hot, scores)
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=label)
            # Sample weights.
            expected = reference(
                Y_TRUE, Y_PRED, average=average, sample_weight=WEIGHTS, zero_division=0
            )
            metric = cls(num_classes=5, average=average)
            got = _metric(metric, Y_TRUE, scores, sample_weight=WEIGHTS)
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=label)
    # Fixed numbers: macro F1 over the 4 classes present, of which class 3 is
    # never predicted (F1 0).
    per_class = skm.f1_score(Y_TRUE, Y_PRED, average=None, labels=[0, 1, 2, 3])
    assert per_class[3] == 0.0
    got = _metric(F1Score(num_classes=5), Y_TRUE, scores)
    np.testing.assert_allclose(got, per_class.mean(), rtol=1e-6)


def test_binary_f1_precision_recall_match_sklearn():
    y_true = np.array([1, 0, 1, 1, 0, 0, 1, 0], "float32")
    probs = np.array([0.9, 0.6, 0.4, 0.8, 0.1, 0.3, 0.7, 0.55], "float32")[:, None]
    y_pred = (probs[:, 0] > 0.5).astype(int)  # tp=3, fp=2, fn=1
    metrics = make_metrics(["f1", "precision", "recall"], num_classes=1)
    for metric, expected in zip(metrics, (6 / 9, 3 / 5, 3 / 4), strict=True):
        got = _metric(metric, y_true[:, None], probs)
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=metric.name)
    np.testing.assert_allclose(skm.f1_score(y_true, y_pred), 6 / 9)
    macro = F1Score(num_classes=1, average="macro")
    np.testing.assert_allclose(
        _metric(macro, y_true, probs),
        skm.f1_score(y_true, y_pred, average="macro"),
        rtol=1e-6,
    )
    strict = F1Score(num_classes=1, threshold=0.85)  # only 0.9: tp=1, fn=3
    np.testing.assert_allclose(_metric(strict, y_true, probs), 2 / 5, rtol=1e-6)


def test_class_count_metrics_reset_and_round_trip():
    metric = F1Score(num_classes=5, average="weighted", name="wf1")
    _metric(metric, Y_TRUE, _scores(Y_PRED))
    assert float(_np(metric.true_positives).sum()) == float((Y_TRUE == Y_PRED).sum())
    metric.reset_state()
    assert float(_np(metric.result())) == 0.0
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is F1Score
    assert restored.get_config() == metric.get_config()
    assert restored.get_config()["average"] == "weighted"


def test_auc_metrics_match_sklearn():
    y_true = np.array([1, 0, 1, 1, 0, 0, 1, 0], "float32")
    probs = np.array([0.9, 0.6, 0.4, 0.8, 0.1, 0.3, 0.7, 0.55], "float32")[:, None]
    [auc] = make_metrics([{"name": "auc", "num_thresholds": 1000}], num_classes=1)
    expected = skm.roc_auc_score(y_true, probs[:, 0])  # 13 / 16
    np.testing.assert_allclose(
        _metric(auc, y_true[:, None], probs), expected, atol=2e-3
    )

    labels = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    rng = np.random.default_rng(1)
    scores = rng.dirichlet(np.ones(3), size=8).astype("float32")
    one_hot = np.eye(3, dtype="float32")[labels]
    [sparse_auc] = make_metrics(
        [{"name": "auc", "num_thresholds": 1000}], num_classes=3
    )
    pooled = skm.roc_auc_score(one_hot.ravel(), scores.ravel())
    got = _metric(sparse_auc, labels, scores)
    np.testing.assert_allclose(got, pooled, atol=5e-3)
    reference = keras.metrics.AUC(num_thresholds=1000)
    np.testing.assert_allclose(got, _metric(reference, one_hot, scores), rtol=1e-6)
    weights = np.array([1, 0, 2, 1, 1, 0.5, 1, 3], "float32")
    weighted = SparseAUC(num_classes=3, num_thresholds=1000)
    got = _metric(weighted, labels[:, None], scores, sample_weight=weights)
    pooled = skm.roc_auc_score(
        one_hot.ravel(), scores.ravel(), sample_weight=np.repeat(weights, 3)
    )
    np.testing.assert_allclose(got, pooled, atol=5e-3)
    restored = keras.metrics.deserialize(keras.metrics.serialize(weighted))
    assert type(restored) is SparseAUC and restored.num_classes == 3


def test_top_k_accuracy_value():
    [top2] = make_metrics([{"name": "top_k_accuracy", "k": 2}], num_classes=4)
    scores = [[0.1, 0.5, 0.3, 0.1], [0.7, 0.1, 0.05, 0.15], [0.4, 0.3, 0.2, 0.1]]
    # Label 2 is second (hit), label 3 is second (hit), label 2 is third (miss).
    np.testing.assert_allclose(_metric(top2, [2, 3, 2], scores), 2 / 3, rtol=1e-6)


def test_metrics_inside_compiled_fit_and_keras_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 6)).astype("float32")
    y = (x[:, :4].argmax(-1)).astype("int32")  # 4 classes, learnable
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=make_loss(
            {"name": "sparse_categorical_crossentropy", "label_smoothing": 0.1}
        ),
        metrics=make_metrics(
            [
                "accuracy",
                "f1",
                "precision",
                "recall",
                "auc",
                {"name": "top_k_accuracy", "k": 2},
            ],
            num_classes=4,
        ),
    )
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    results = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    predicted = _np(model.predict(x, verbose=0)).argmax(-1)
    np.testing.assert_allclose(
        results["f1"], skm.f1_score(y, predicted, average="macro"), rtol=1e-5
    )
    np.testing.assert_allclose(
        results["precision"],
        skm.precision_score(y, predicted, average="macro", zero_division=0),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        results["accuracy"], skm.accuracy_score(y, predicted), rtol=1e-5
    )

    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, SparseCategoricalCrossentropy)
    reloaded = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for name in (
        "loss",
        "accuracy",
        "f1",
        "precision",
        "recall",
        "auc",
        "top2_accuracy",
    ):
        np.testing.assert_allclose(
            reloaded[name], results[name], rtol=1e-5, err_msg=name
        )


BAD_METRICS = [  # (names, num_classes, message pattern)
    (["acuracy"], 3, r"name='acuracy'.*'accuracy'"),
    (["f1"], None, r"'f1' needs num_classes"),
    ([{"name": "top_k_accuracy", "k": 5}], 5, r"k < num_classes.*k=5"),
    (["accuracy", "acc"], 3, r"'accuracy' appears twice"),
    ([{"name": "f1", "average": "samples"}], 3, r"average='samples'"),
    ([{"name": "f1", "average": "binary"}], 3, r"average='binary' needs num_classes=1"),
    ([{"name": "auc", "curve": "roc"}], 1, r"curve='roc'"),
    ([{"name": "mae", "k": 2}], 1, r"'k' for metric 'mae'.*Accepted: none"),
    ("accuracy", 3, r"list of metric names"),
    (["accuracy"], 0, r"num_classes=0"),
]


def test_make_metrics_rejects_bad_configs():
    for names, num_classes, match in BAD_METRICS:
        with pytest.raises(ValueError, match=match):
            make_metrics(names, num_classes=num_classes)
