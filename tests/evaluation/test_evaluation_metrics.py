"""kerasdl.evaluation.metrics agrees with scikit-learn (NumPy only: one backend)."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from kerasdl.evaluation import metrics

pytestmark = pytest.mark.one_backend


def _predictions(n=300, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2.0 * np.eye(classes)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs


def test_classification_metrics_match_sklearn():
    y, probs = _predictions()
    got = metrics.classification_metrics(y, probs)
    pred = probs.argmax(1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    np.testing.assert_array_equal(
        got["confusion_matrix"], skm.confusion_matrix(y, pred)
    )
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    np.testing.assert_allclose(got["precision"], p)
    np.testing.assert_allclose(got["recall"], r)
    np.testing.assert_allclose(got["f1"], f)
    np.testing.assert_array_equal(got["support"], s)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, pred, average=average, zero_division=0
        )
        assert got[average] == pytest.approx({"precision": p, "recall": r, "f1": f})


def test_a_class_never_predicted_scores_zero_like_sklearn():
    y = np.array([0, 0, 1, 2, 2])
    probs = np.eye(3)[[0, 0, 0, 2, 2]]
    got = metrics.classification_metrics(y, probs)
    p, r, f, _ = skm.precision_recall_fscore_support(
        y, probs.argmax(1), zero_division=0
    )
    np.testing.assert_allclose(got["precision"], p)
    np.testing.assert_allclose(got["recall"], r)
    np.testing.assert_allclose(got["f1"], f)


def test_roc_and_pr_curves_match_sklearn():
    y, probs = _predictions()
    # Ties in the scores exercise the distinct-threshold handling.
    probs = np.round(probs, 2)
    for c, entry in enumerate(metrics.curves(y, probs)):
        positive = (y == c).astype(int)
        assert entry["roc_auc"] == pytest.approx(
            skm.roc_auc_score(positive, probs[:, c])
        )
        assert entry["average_precision"] == pytest.approx(
            skm.average_precision_score(positive, probs[:, c])
        )
        fpr, tpr, _ = skm.roc_curve(positive, probs[:, c], drop_intermediate=False)
        np.testing.assert_allclose(entry["fpr"], fpr)
        np.testing.assert_allclose(entry["tpr"], tpr)


def test_calibration_bins_and_ece_match_sklearn():
    y, probs = _predictions(seed=1)
    got = metrics.calibration(y, probs, bins=10)
    confidence = probs.max(1)
    correct = (probs.argmax(1) == y).astype(int)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=10)
    filled = [b for b in got["bins"] if b["count"]]
    np.testing.assert_allclose([b["accuracy"] for b in filled], accuracy)
    np.testing.assert_allclose([b["confidence"] for b in filled], mean_confidence)
    counts = np.array([b["count"] for b in filled])
    expected = np.sum(counts / len(y) * np.abs(accuracy - mean_confidence))
    assert got["ece"] == pytest.approx(expected)
    assert sum(b["count"] for b in got["bins"]) == len(y)


def test_confident_errors_are_the_most_confident_wrong_ones():
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    got = metrics.confident_errors(y, probs, count=5)
    assert [e["index"] for e in got] == [1, 3]
    assert got[0] == {"index": 1, "true": 1, "predicted": 0, "confidence": 0.8}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="labels"):
        metrics.classification_metrics(np.array([0, 5]), np.eye(2))
    with pytest.raises(ValueError, match="probabilities"):
        metrics.classification_metrics(np.array([0]), np.ones(3))
    with pytest.raises(ValueError, match="bins"):
        metrics.calibration(np.array([0]), np.eye(2)[:1], bins=0)
