"""Anomaly detection with autoencoders and VAEs: scores, thresholds, AUROC/AUPRC.

A model trained on normal data only reconstructs normal inputs well; what
it reconstructs badly (or, for a VAE, finds improbable) is flagged:

- `anomaly_scores(model, x, method)`: per-sample reconstruction error
  ("reconstruction", any autoencoder or VAE; mean squared error or binary
  cross-entropy per pixel) or negative ELBO ("elbo", a VAE; nats).
- `choose_threshold(scores, labels=None, method)`: from validation data,
  the `percentile` of the normal scores (no anomalies needed), or the
  threshold of best F1 (labels needed).
- `roc_auc`, `average_precision` (area under the precision-recall curve),
  `precision_recall_f1`: NumPy, no scikit-learn needed.
- `Detector`: a model, a scoring method and a threshold, with `score`,
  `predict` and `evaluate`.
- `inject_anomalies` and `series_windows`: a series with injected spikes
  and level shifts, cut into windows labelled by whether they hold one
  (the time-series demonstration on a statsmodels series).

Example:
>>> ae = kerasdl.build("conv_autoencoder", image_shape=(16, 16, 1))
>>> ae.compile(optimizer="adam"); ae.fit(normal_train, epochs=20)
>>> detector = Detector.fit(ae, normal_val, method="reconstruction")
>>> detector.evaluate(test_images, test_is_anomaly)
{'auroc': 0.97, 'auprc': 0.9, 'precision': ..., 'recall': ..., 'f1': ...}
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasdl._checks import check_choice, check_float, check_int, invalid

__all__ = [
    "SCORE_METHODS",
    "THRESHOLD_METHODS",
    "Detector",
    "anomaly_scores",
    "average_precision",
    "choose_threshold",
    "inject_anomalies",
    "precision_recall_f1",
    "roc_auc",
    "series_windows",
]

SCORE_METHODS = ("reconstruction", "elbo")
THRESHOLD_METHODS = ("percentile", "f1")
RECONSTRUCTION_ERRORS = ("mse", "binary_crossentropy")


def _binary_labels(labels, n=None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or (n is not None and len(labels) != n):
        raise invalid(
            "labels", f"array of shape {labels.shape}", f"shape ({n},), 1 = anomaly"
        )
    if not np.isin(labels, (0, 1)).all():
        raise invalid(
            "labels", sorted(set(labels.tolist()))[:5], "0 (normal) or 1 (anomaly)"
        )
    return labels.astype(bool)


def _scores(scores) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 1 or not np.isfinite(scores).all():
        raise invalid(
            "scores", f"array of shape {scores.shape}", "a 1-D array of finite numbers"
        )
    return scores


# ------------------------------------------------------------ scores
def anomaly_scores(
    model, x, method="reconstruction", error="mse", seed=0
) -> np.ndarray:
    """Per-sample anomaly scores: higher means more anomalous.

    Args:
        model: a kerasdl Autoencoder or VAE (or any Keras model mapping x to
            its reconstruction, for method="reconstruction").
        x: array (n, ...). Inputs shaped like the model's input.
        method: str. "reconstruction" (error between x and the model's
            reconstruction) or "elbo" (negative ELBO in nats; a VAE).
        error: str. Reconstruction error: "mse" or "binary_crossentropy"
            (mean over every non-batch axis).
        seed: int. Seed of the VAE's z sample for method="elbo".

    Returns:
        np.ndarray (n,).
    """
    check_choice("method", method, SCORE_METHODS)
    check_choice("error", error, RECONSTRUCTION_ERRORS)
    x = np.asarray(x, "float32")
    if method == "elbo":
        if not hasattr(model, "elbo"):
            raise invalid(
                "method",
                method,
                f"'reconstruction' for a {type(model).__name__} (no ELBO)",
            )
        return -np.asarray(model.elbo(x, seed=seed), np.float64)
    if hasattr(model, "reconstruct"):
        x_hat = model.reconstruct(x)
    else:
        x_hat = np.asarray(model.predict(x, batch_size=256, verbose=0))
    x_flat = x.reshape(len(x), -1).astype(np.float64)
    r_flat = np.asarray(x_hat, np.float64).reshape(len(x), -1)
    if error == "mse":
        return np.mean((x_flat - r_flat) ** 2, axis=1)
    p = np.clip(r_flat, 1e-7, 1 - 1e-7)
    return -np.mean(x_flat * np.log(p) + (1 - x_flat) * np.log(1 - p), axis=1)


# ------------------------------------------------------------ metrics
def roc_auc(labels, scores) -> float:
    """Area under the ROC curve: P(score of an anomaly > score of a normal),
    ties counting one half (the Mann-Whitney U statistic).

    Args:
        labels: array (n,) of 0 (normal) / 1 (anomaly).
        scores: array (n,). Higher = more anomalous.

    Returns:
        float in [0, 1].
    """
    scores = _scores(scores)
    labels = _binary_labels(labels, len(scores))
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise invalid(
            "labels",
            f"{positives} anomalies and {negatives} normals",
            "both classes present",
        )
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        ranks[order[start : start + count]] = start + (count + 1) / 2.0
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def average_precision(labels, scores) -> float:
    """Area under the precision-recall curve as average precision:
    sum over thresholds of (recall step) x precision, as scikit-learn's.

    Args:
        labels: array (n,) of 0 / 1.
        scores: array (n,). Higher = more anomalous.

    Returns:
        float in [0, 1].
    """
    scores = _scores(scores)
    labels = _binary_labels(labels, len(scores))
    positives = int(labels.sum())
    if positives == 0:
        raise invalid("labels", "no anomalies", "at least one label 1")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # One point per distinct threshold (the last index of each score run).
    last = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(scores) - 1]
    true_pos = np.cumsum(sorted_labels)[last]
    precision = true_pos / (last + 1)
    recall = true_pos / positives
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


def precision_recall_f1(labels, predictions) -> dict:
    """Precision, recall and F1 of binary predictions (1 = anomaly)."""
    labels = _binary_labels(labels)
    predictions = _binary_labels(predictions, len(labels))
    tp = int(np.sum(labels & predictions))
    fp = int(np.sum(~labels & predictions))
    fn = int(np.sum(labels & ~predictions))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def choose_threshold(
    scores, labels=None, method="percentile", percentile=95.0
) -> float:
    """A score threshold chosen on validation data (score > threshold = anomaly).

    Args:
        scores: array (n,). Validation scores.
        labels: array (n,) of 0/1, or None. Needed for method="f1"; for
            "percentile" only the normal samples' scores are used when given.
        method: str. "percentile" (of the normal scores) or "f1" (the
            threshold with the best F1 on the labelled validation data).
        percentile: float in (0, 100). For method="percentile".

    Returns:
        float.
    """
    check_choice("method", method, THRESHOLD_METHODS)
    scores = _scores(scores)
    if method == "percentile":
        percentile = check_float(
            "percentile",
            percentile,
            0.0,
            100.0,
            min_inclusive=False,
            max_inclusive=False,
        )
        normal = (
            scores if labels is None else scores[~_binary_labels(labels, len(scores))]
        )
        return float(np.percentile(normal, percentile))
    if labels is None:
        raise invalid("labels", None, "validation labels (0/1) for method='f1'")
    labels = _binary_labels(labels, len(scores))
    candidates = np.unique(scores)
    # Thresholds between consecutive distinct scores, and below the lowest.
    cuts = np.r_[candidates[0] - 1.0, (candidates[:-1] + candidates[1:]) / 2.0]
    best, best_f1 = cuts[0], -1.0
    for cut in cuts:
        f1 = precision_recall_f1(labels, scores > cut)["f1"]
        if f1 > best_f1:
            best, best_f1 = cut, f1
    return float(best)


@dataclasses.dataclass
class Detector:
    """A trained model, how it scores, and the threshold that flags anomalies.

    Attributes:
        model: the autoencoder or VAE.
        method: str. "reconstruction" or "elbo".
        threshold: float. Scores above it are anomalies.
        error: str. Reconstruction error for method="reconstruction".
    """

    model: object
    method: str
    threshold: float
    error: str = "mse"

    @classmethod
    def fit(
        cls,
        model,
        x_val,
        labels_val=None,
        method="reconstruction",
        threshold="percentile",
        percentile=95.0,
        error="mse",
    ) -> Detector:
        """Chooses the threshold on validation data (see `choose_threshold`)."""
        scores = anomaly_scores(model, x_val, method, error)
        cut = choose_threshold(scores, labels_val, threshold, percentile)
        return cls(model, method, cut, error)

    def score(self, x) -> np.ndarray:
        """Anomaly scores of `x`."""
        return anomaly_scores(self.model, x, self.method, self.error)

    def predict(self, x) -> np.ndarray:
        """1 for anomalies, 0 for normal samples."""
        return (self.score(x) > self.threshold).astype("int32")

    def evaluate(self, x, labels) -> dict:
        """AUROC, AUPRC, and precision/recall/F1 at the threshold."""
        scores = self.score(x)
        return {
            "auroc": roc_auc(labels, scores),
            "auprc": average_precision(labels, scores),
            **precision_recall_f1(labels, scores > self.threshold),
        }


# ------------------------------------------------------------ time series
def inject_anomalies(values, count=10, magnitude=4.0, width=3, seed=0):
    """Adds `count` anomalies to a 1-D series: spikes and short level shifts.

    Each anomaly spans `width` steps and moves the values by `magnitude`
    times the series' step-to-step standard deviation (sign at random);
    even-numbered ones are single-step spikes, odd ones hold for `width`.

    Args:
        values: array (T,). The series.
        count: int. Anomalies to inject (kept apart by at least 2 * width).
        magnitude: float. Size in units of std(diff(values)).
        width: int. Steps of a level shift.
        seed: int. Seed of positions and signs.

    Returns:
        (values with anomalies, labels (T,) with 1 on anomalous steps).
    """
    values = np.asarray(values, np.float64).copy()
    count = check_int("count", count, minimum=1)
    width = check_int("width", width, minimum=1)
    magnitude = check_float("magnitude", magnitude, minimum=0.0)
    if len(values) < 4 * width * count:
        raise invalid(
            "count",
            count,
            f"at most {len(values) // (4 * width)} for {len(values)} steps",
        )
    rng = np.random.default_rng(seed)
    scale = magnitude * np.std(np.diff(values))
    labels = np.zeros(len(values), "int32")
    slots = rng.choice(len(values) // (2 * width) - 2, count, replace=False) + 1
    for i, slot in enumerate(sorted(slots)):
        start = int(slot) * 2 * width
        span = 1 if i % 2 == 0 else width
        values[start : start + span] += scale * rng.choice([-1.0, 1.0])
        labels[start : start + span] = 1
    return values.astype("float32"), labels


def series_windows(values, labels, window, stride=1):
    """Windows of a series, each labelled 1 when it holds an anomalous step.

    Each window holds the first differences of its values, divided by the
    series' standard deviation of differences: the detector sees the shape
    of the movement, not the level (trend and season stay normal).

    Args:
        values: array (T,).
        labels: array (T,) of 0/1.
        window: int. Steps per window.
        stride: int. Steps between window starts.

    Returns:
        (windows (n, window - 1), labels (n,)).
    """
    values = np.asarray(values, np.float64)
    labels = np.asarray(labels)
    window = check_int("window", window, minimum=3, maximum=len(values))
    stride = check_int("stride", stride, minimum=1)
    starts = np.arange(0, len(values) - window + 1, stride)
    idx = starts[:, None] + np.arange(window)[None, :]
    diffs = np.diff(values[idx], axis=1)
    scale = np.std(np.diff(values)) or 1.0
    windows = (diffs / scale).astype("float32")
    return windows, labels[idx].max(axis=1).astype("int32")
