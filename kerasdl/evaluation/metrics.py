"""Classification metrics from labels and predicted probabilities (NumPy only).

Accuracy, the confusion matrix, per-class precision/recall/F1, one-vs-rest
ROC and precision-recall curves with their areas, and calibration (the
reliability diagram's bins and the expected calibration error). The
definitions follow scikit-learn's (tests compare them), without importing it.
"""

from __future__ import annotations

import numpy as np

from kerasdl._checks import check_int

__all__ = [
    "calibration",
    "check_predictions",
    "classification_metrics",
    "confident_errors",
    "confusion_matrix",
    "curves",
]


def check_predictions(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    """(labels as int64 (n,), probabilities as float64 (n, classes)), checked.

    Raises:
        ValueError: naming the array whose shape or values are wrong.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(
            f"Invalid probabilities of shape {probs.shape}: expected (samples, "
            "classes) with at least 2 classes."
        )
    if y_true.ndim == 2 and y_true.shape == probs.shape:  # one-hot labels
        y_true = np.argmax(y_true, axis=1)
    if y_true.shape != (len(probs),) or not np.issubdtype(y_true.dtype, np.integer):
        raise ValueError(
            f"Invalid labels of shape {y_true.shape} and dtype {y_true.dtype}: "
            f"expected {len(probs)} integer class indices (or one-hot rows)."
        )
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= probs.shape[1]):
        raise ValueError(
            f"Invalid labels: values {int(y_true.min())}..{int(y_true.max())} do "
            f"not fit the model's {probs.shape[1]} classes."
        )
    return y_true.astype(np.int64), probs


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def _ratio(numerator, denominator):
    # 0 where the denominator is 0 (scikit-learn's zero_division=0).
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_metrics(y_true, probs) -> dict:
    """Accuracy, confusion matrix, per-class and averaged precision/recall/F1.

    Args:
        y_true: array (n,) of class indices, or one-hot (n, classes).
        probs: array (n, classes). Predicted probabilities (or scores).

    Returns:
        dict with "accuracy", "confusion_matrix" (list of lists),
        "precision", "recall", "f1", "support" (lists, one per class), and
        "macro" / "weighted" averages {"precision", "recall", "f1"}.
    """
    y_true, probs = check_predictions(y_true, probs)
    num_classes = probs.shape[1]
    y_pred = np.argmax(probs, axis=1)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positives = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    precision = _ratio(true_positives, matrix.sum(axis=0))
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    weights = support / max(support.sum(), 1)
    return {
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else 0.0,
        "confusion_matrix": matrix.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "macro": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
        },
        "weighted": {
            "precision": float(weights @ precision),
            "recall": float(weights @ recall),
            "f1": float(weights @ f1),
        },
    }


def _binary_curve(positive: np.ndarray, scores: np.ndarray):
    """False and true positive counts at each distinct threshold (descending)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(positive)[last]
    false_positives = 1 + last - true_positives
    return false_positives, true_positives, scores[last]


def curves(y_true, probs) -> list[dict]:
    """One-vs-rest ROC and precision-recall curves, one dict per class.

    Returns:
        list of {"fpr", "tpr", "roc_auc", "precision", "recall",
        "average_precision"} (curves as NumPy arrays; the areas are None
        for a class with no positive or no negative example).
    """
    y_true, probs = check_predictions(y_true, probs)
    out = []
    for c in range(probs.shape[1]):
        positive = (y_true == c).astype(np.int64)
        fps, tps, _ = _binary_curve(positive, probs[:, c])
        n_pos, n_neg = int(positive.sum()), int(len(positive) - positive.sum())
        fpr = np.r_[0.0, fps / n_neg] if n_neg else np.r_[0.0, fps * 0.0]
        tpr = np.r_[0.0, tps / n_pos] if n_pos else np.r_[0.0, tps * 0.0]
        precision = tps / (tps + fps)
        recall = tps / n_pos if n_pos else tps * 0.0
        # Average precision: sum over thresholds of (R_n - R_{n-1}) * P_n.
        average_precision = (
            float(np.sum(np.diff(np.r_[0.0, recall]) * precision)) if n_pos else None
        )
        out.append(
            {
                "fpr": fpr,
                "tpr": tpr,
                "roc_auc": float(np.trapezoid(tpr, fpr)) if n_pos and n_neg else None,
                "precision": np.r_[1.0, precision],
                "recall": np.r_[0.0, recall],
                "average_precision": average_precision,
            }
        )
    return out


def calibration(y_true, probs, bins: int = 10) -> dict:
    """Reliability of the top-class confidence, in equal-width bins.

    Args:
        y_true: array (n,) of class indices (or one-hot).
        probs: array (n, classes).
        bins: int. Bins over [0, 1].

    Returns:
        dict: "ece" (expected calibration error: the count-weighted mean
        |accuracy - confidence| over the bins) and "bins", a list of
        {"lower", "upper", "count", "confidence", "accuracy"} (the means of
        the bin's examples; None for an empty bin).
    """
    bins = check_int("bins", bins, minimum=1)
    y_true, probs = check_predictions(y_true, probs)
    confidence = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edges[i], edges[i + 1]]; a confidence of 0 goes in bin 0.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        entry = {
            "lower": float(edges[i]),
            "upper": float(edges[i + 1]),
            "count": count,
            "confidence": None,
            "accuracy": None,
        }
        if count:
            entry["confidence"] = float(confidence[members].mean())
            entry["accuracy"] = float(correct[members].mean())
            ece += count / len(y_true) * abs(entry["accuracy"] - entry["confidence"])
        table.append(entry)
    return {"ece": float(ece), "bins": table}


def confident_errors(y_true, probs, count: int = 8) -> list[dict]:
    """The misclassified examples the model was most confident about.

    Returns:
        list of {"index", "true", "predicted", "confidence"}, most
        confident first (at most `count`).
    """
    count = check_int("count", count, minimum=0)
    y_true, probs = check_predictions(y_true, probs)
    y_pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:count]
    return [
        {
            "index": int(i),
            "true": int(y_true[i]),
            "predicted": int(y_pred[i]),
            "confidence": float(probs[i, y_pred[i]]),
        }
        for i in order
    ]
