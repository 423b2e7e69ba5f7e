"""Drift of live traffic from the manifest's reference statistics.

A `DriftMonitor` keeps a sliding window of the last instances a model
version served (reduced per feature as export reduced its reference data,
`kerasdl.exporters.statistics.feature_values`) and of its predictions, and
compares them with the manifest's "reference" entry:

- population stability index (PSI) per feature, on the reference's decile
  bins: sum((live - ref) * ln(live / ref)); 0.1-0.2 is a moderate shift,
  above 0.2 a significant one (the usual credit-scoring reading);
- Kolmogorov-Smirnov statistic per feature: the largest gap between the
  live empirical CDF and the reference CDF (interpolated from its stored
  percentiles);
- PSI of the predicted-class distribution (classifiers) or of the top score.

Drift is flagged when any feature's PSI or KS, or the prediction PSI,
crosses its threshold, and only once the window holds `min_samples`.

Example:
>>> monitor = DriftMonitor(manifest["reference"], window=500)
>>> monitor.add([x_batch], [probs])
>>> monitor.report()["drift"]
False
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from kerasdl._checks import check_float, check_int
from kerasdl.exporters.statistics import (
    feature_values,
    histogram,
    prediction_summary,
)

__all__ = ["DriftMonitor", "ks_statistic", "psi"]

# Floor of a bin fraction in PSI: an empty bin would make it infinite.
_EPSILON = 1e-4


def psi(reference, live) -> float:
    """Population stability index between two lists of bin fractions.

    Example:
    >>> psi([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    ref = np.maximum(np.asarray(reference, dtype=np.float64), _EPSILON)
    new = np.maximum(np.asarray(live, dtype=np.float64), _EPSILON)
    return float(np.sum((new - ref) * np.log(new / ref)))


def ks_statistic(quantiles, values) -> float:
    """Largest |F_live - F_ref|, F_ref interpolated from its 101 percentiles.

    Example:
    >>> ks_statistic(np.linspace(0, 1, 101), np.random.rand(1000)) < 0.1
    True
    """
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = np.linspace(0.0, 1.0, len(quantiles))
    values = np.sort(np.asarray(values, dtype=np.float64))
    points = np.unique(np.concatenate([values, quantiles]))
    live = np.searchsorted(values, points, side="right") / len(values)
    # A flat stretch of percentiles (a value shared by many samples) is a
    # jump of the reference CDF: take its top, as for the live one.
    unique, last = np.unique(quantiles[::-1], return_index=True)
    top = levels[::-1][last]
    ref = np.interp(points, unique, top, left=0.0, right=1.0)
    return float(np.max(np.abs(live - ref)))


class DriftMonitor:
    """A window of live inputs and predictions, compared with a reference.

    Args:
        reference: dict. The manifest's "reference" entry.
        window: int. Instances kept (the most recent).
        min_samples: int. Instances needed before drift is judged.
        psi_threshold: float. Feature PSI above it marks drift.
        ks_threshold: float. Feature KS statistic above it marks drift.
        prediction_threshold: float. Prediction PSI above it marks drift.
    """

    def __init__(
        self,
        reference: dict,
        window: int = 500,
        min_samples: int = 30,
        psi_threshold: float = 0.2,
        ks_threshold: float = 0.2,
        prediction_threshold: float = 0.2,
    ):
        self.reference = reference
        self.window = check_int("window", window, minimum=1)
        self.min_samples = check_int("min_samples", min_samples, minimum=1)
        self.thresholds = {
            "psi": check_float("psi_threshold", psi_threshold, minimum=0.0),
            "ks": check_float("ks_threshold", ks_threshold, minimum=0.0),
            "prediction_psi": check_float(
                "prediction_threshold", prediction_threshold, minimum=0.0
            ),
        }
        self._lock = threading.Lock()
        self._inputs = [
            collections.deque(maxlen=window) for _ in reference.get("inputs", [])
        ]
        self._scores = collections.deque(maxlen=window)
        self._classes = collections.deque(maxlen=window)

    def add(self, inputs, outputs) -> None:
        """Adds a batch: one array per model input and the model's outputs."""
        reduced = []
        for batch in inputs:
            for sample in np.asarray(batch):
                reduced.append(feature_values(sample[None])[1])
        n = len(inputs[0])
        classes, scores = prediction_summary(outputs[0])
        with self._lock:
            for i, deque in enumerate(self._inputs):
                deque.extend(reduced[i * n : (i + 1) * n])
            if classes is not None:
                self._classes.extend(classes.tolist())
            self._scores.extend(scores.tolist())

    def __len__(self) -> int:
        return len(self._scores)

    def report(self) -> dict:
        """Drift figures of the current window.

        Returns:
            dict: {"window": instances held, "min_samples", "thresholds",
            "ready": enough samples, "drift": bool, "inputs": [{"name",
            "features": [{"psi", "ks", "drift"}]}], "prediction": {"psi",
            "class_fractions" (live), "drift"}}.
        """
        with self._lock:
            windows = [list(d) for d in self._inputs]
            scores = list(self._scores)
            classes = list(self._classes)
        ready = len(scores) >= self.min_samples
        result = {
            "window": len(scores),
            "min_samples": self.min_samples,
            "thresholds": dict(self.thresholds),
            "ready": ready,
            "drift": False,
            "inputs": [],
            "prediction": None,
        }
        if not ready:
            return result
        for entry, rows in zip(self.reference.get("inputs", []), windows, strict=True):
            values = np.concatenate(rows)
            features = []
            for j, ref in enumerate(entry["features"]):
                column = values[:, j]
                item = {
                    "psi": psi(ref["fractions"], histogram(column, ref["edges"])),
                    "ks": ks_statistic(ref["quantiles"], column),
                    "live_mean": float(np.mean(column)),
                    "reference_mean": ref["mean"],
                }
                item["drift"] = bool(
                    item["psi"] > self.thresholds["psi"]
                    or item["ks"] > self.thresholds["ks"]
                )
                features.append(item)
            result["inputs"].append({"name": entry["name"], "features": features})
        outputs = self.reference.get("outputs") or [{}]
        ref_out = outputs[0]
        prediction = {}
        if "class_fractions" in ref_out and classes:
            live = np.bincount(classes, minlength=len(ref_out["class_fractions"]))
            live = (live / len(classes)).tolist()
            prediction["class_fractions"] = live
            prediction["psi"] = psi(ref_out["class_fractions"], live)
        elif "score" in ref_out:
            score = ref_out["score"]
            prediction["psi"] = psi(
                score["fractions"], histogram(np.asarray(scores), score["edges"])
            )
        if prediction:
            prediction["drift"] = bool(
                prediction["psi"] > self.thresholds["prediction_psi"]
            )
            result["prediction"] = prediction
        result["drift"] = bool(
            any(f["drift"] for e in result["inputs"] for f in e["features"])
            or (prediction.get("drift", False))
        )
        return result
