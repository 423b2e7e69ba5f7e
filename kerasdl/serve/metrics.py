"""Prometheus metrics of the model server, in the text exposition format.

Hand-written (counters, gauges and histograms with labels, thread-safe) so
the server needs no client library; `/metrics` returns `Metrics.render()`.

Example:
>>> metrics = Metrics()
>>> metrics.inc("kerasdl_requests_total", {"model": "lenet5", "code": "200"})
>>> metrics.observe("kerasdl_batch_size", 4, {"model": "lenet5"})
>>> "kerasdl_batch_size_bucket" in metrics.render()
True
"""

from __future__ import annotations

import bisect
import threading

__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS", "Metrics"]

# Seconds: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# Instances per model call.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

_HELP = {
    "kerasdl_requests_total": ("counter", "Requests by model, version and code."),
    "kerasdl_errors_total": ("counter", "Error responses by kind."),
    "kerasdl_instances_total": ("counter", "Instances predicted."),
    "kerasdl_request_latency_seconds": (
        "histogram",
        "Predict request latency, from arrival to response.",
    ),
    "kerasdl_batch_size": ("histogram", "Instances per model call (batching)."),
    "kerasdl_ab_weight": ("gauge", "A/B traffic weight of each version."),
    "kerasdl_versions_loaded": ("gauge", "Versions loaded per model."),
    "kerasdl_drift_psi": ("gauge", "Population stability index per feature."),
    "kerasdl_drift_ks": ("gauge", "Kolmogorov-Smirnov statistic per feature."),
    "kerasdl_drift_prediction_psi": (
        "gauge",
        "PSI of the predicted-class distribution.",
    ),
    "kerasdl_drift_detected": ("gauge", "1 when a drift threshold is crossed."),
    "kerasdl_drift_window": ("gauge", "Instances in the live drift window."),
}

_BUCKETS = {
    "kerasdl_request_latency_seconds": LATENCY_BUCKETS,
    "kerasdl_batch_size": BATCH_BUCKETS,
}


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict, extra: tuple = ()) -> str:
    items = [*sorted(labels.items()), *extra]
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


class Metrics:
    """Counters, gauges and histograms keyed by name and label set."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple, float]] = {}
        self._histograms: dict[str, dict[tuple, list]] = {}

    def inc(self, name: str, labels: dict | None = None, value: float = 1) -> None:
        """Adds `value` to a counter."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0) + value

    def set(self, name: str, value: float, labels: dict | None = None) -> None:
        """Sets a gauge."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._values.setdefault(name, {})[key] = value

    def clear(self, name: str) -> None:
        """Drops every series of a gauge (before setting the current ones)."""
        with self._lock:
            self._values.pop(name, None)

    def observe(self, name: str, value: float, labels: dict | None = None) -> None:
        """Records one observation in a histogram."""
        buckets = _BUCKETS[name]
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            series = self._histograms.setdefault(name, {})
            state = series.get(key)
            if state is None:
                state = series[key] = [[0] * (len(buckets) + 1), 0.0, 0]
            state[0][bisect.bisect_left(buckets, value)] += 1
            state[1] += value
            state[2] += 1

    def value(self, name: str, labels: dict | None = None) -> float:
        """A counter's or gauge's value (0 when never set); histograms: count."""
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            if name in self._histograms:
                return self._histograms[name].get(key, [None, 0.0, 0])[2]
            return self._values.get(name, {}).get(key, 0)

    def render(self) -> str:
        """Everything in the Prometheus text format (version 0.0.4)."""
        lines = []
        with self._lock:
            names = sorted({*self._values, *self._histograms})
            for name in names:
                kind, text = _HELP.get(name, ("untyped", name))
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for key, value in sorted(self._values.get(name, {}).items()):
                    lines.append(f"{name}{_labels(dict(key))} {_number(value)}")
                for key, (counts, total, count) in sorted(
                    self._histograms.get(name, {}).items()
                ):
                    labels = dict(key)
                    cumulative = 0
                    for bound, n in zip(
                        (*_BUCKETS[name], float("inf")), counts, strict=True
                    ):
                        cumulative += n
                        le = (("le", _number(bound)),)
                        lines.append(f"{name}_bucket{_labels(labels, le)} {cumulative}")
                    lines.append(f"{name}_sum{_labels(labels)} {_number(total)}")
                    lines.append(f"{name}_count{_labels(labels)} {count}")
        return "\n".join(lines) + "\n"
