"""Metric factory, plus the classification metrics Keras lacks.

`make_metrics` turns config values (names, or dicts with a "name" and
arguments) into Keras metric objects, picking the variant the labels need
(binary, integer or one-hot). Keras' own classes are used wherever they fit;
kerasdl adds:

- `F1Score`, `Precision`, `Recall`: per-class counts that accept integer or
  one-hot labels (Keras' `F1Score` needs one-hot targets, its `Precision`
  and `Recall` are binary), averaged "macro", "micro" or "weighted" the way
  `sklearn.metrics` averages them.
- `SparseAUC`: `keras.metrics.AUC` (one-vs-rest, micro-averaged) on integer
  labels.

All are registered under package "kerasdl" and survive a `.keras` round trip.

Example:
>>> metrics = make_metrics(["accuracy", "f1"], num_classes=10)
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
...               metrics=metrics)
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from kerasdl._checks import check_bool, check_float, check_int, closest
from kerasdl.training._named import split_named

__all__ = [
    "METRIC_NAMES",
    "F1Score",
    "Precision",
    "Recall",
    "SparseAUC",
    "make_metrics",
]


def _check_num_classes(value, minimum: int, accepted: str = "") -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"`num_classes` must be an integer >= {minimum}{accepted}; received "
            f"num_classes={value!r}."
        )


class _ClassCounts(keras.metrics.Metric):
    """Per-class true/false positive and false negative counts.

    Integer labels of shape (...,) or (..., 1), or one-hot labels of shape
    (..., num_classes), against scores of shape (..., num_classes) (the
    argmax is the prediction). With `num_classes=1`, binary: labels are 0/1
    and a score above `threshold` predicts 1; the counts are then kept for
    the two classes (0, 1).
    """

    _AVERAGES = ("binary", "macro", "micro", "weighted")
    _NAME = "class_counts"  # default metric name, set by each subclass

    def __init__(
        self,
        num_classes: int,
        average: str | None = None,
        threshold: float = 0.5,
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name or self._NAME, dtype=dtype)
        _check_num_classes(num_classes, 1, " (1 for a single sigmoid output)")
        if average is None:
            average = "binary" if num_classes == 1 else "macro"
        if average not in self._AVERAGES:
            raise ValueError(
                f"Unknown average={average!r}.{closest(average, self._AVERAGES)} "
                f"Accepted: {', '.join(self._AVERAGES)}."
            )
        if average == "binary" and num_classes != 1:
            raise ValueError(
                "average='binary' needs num_classes=1 (a single sigmoid output); "
                f"received num_classes={num_classes}."
            )
        self.num_classes = int(num_classes)
        self.average = average
        self.threshold = check_float("threshold", threshold)
        self._direction = "up"  # lets callbacks in mode="auto" maximize it
        size = max(self.num_classes, 2)
        self.true_positives = self.add_variable(
            shape=(size,), initializer="zeros", dtype=self.dtype, name="true_positives"
        )
        self.false_positives = self.add_variable(
            shape=(size,), initializer="zeros", dtype=self.dtype, name="false_positives"
        )
        self.false_negatives = self.add_variable(
            shape=(size,), initializer="zeros", dtype=self.dtype, name="false_negatives"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.convert_to_tensor(y_true)
        size = max(self.num_classes, 2)
        if self.num_classes == 1:
            predicted = ops.cast(ops.greater(y_pred, self.threshold), "int32")
            actual = ops.cast(ops.greater(ops.cast(y_true, self.dtype), 0.5), "int32")
        else:
            predicted = ops.argmax(y_pred, axis=-1)
            one_hot_labels = (
                len(y_true.shape) == len(y_pred.shape)
                and y_true.shape[-1] == self.num_classes
            )
            if one_hot_labels:
                actual = ops.argmax(y_true, axis=-1)
            else:
                actual = ops.cast(y_true, "int32")
        predicted = ops.one_hot(ops.reshape(predicted, (-1,)), size, dtype=self.dtype)
        actual = ops.one_hot(ops.reshape(actual, (-1,)), size, dtype=self.dtype)
        if sample_weight is not None:
            # One weight per prediction.
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
            predicted = predicted * weight
        hits = ops.sum(predicted * actual, axis=0)
        self.true_positives.assign_add(hits)
        self.false_positives.assign_add(ops.sum(predicted, axis=0) - hits)
        if sample_weight is not None:
            actual = actual * weight
        self.false_negatives.assign_add(ops.sum(actual, axis=0) - hits)

    def _scores(self, tp, fp, fn):
        raise NotImplementedError

    def result(self):
        tp, fp, fn = (
            ops.convert_to_tensor(v)
            for v in (self.true_positives, self.false_positives, self.false_negatives)
        )
        if self.average == "binary":
            return self._scores(tp[1], fp[1], fn[1])
        if self.average == "micro":
            return self._scores(ops.sum(tp), ops.sum(fp), ops.sum(fn))
        scores = self._scores(tp, fp, fn)
        if self.average == "weighted":
            support = tp + fn
            return ops.divide_no_nan(ops.sum(scores * support), ops.sum(support))
        # macro, over the classes seen in the labels or the predictions, as
        # sklearn does with labels=None.
        present = ops.cast(tp + fp + fn > 0, self.dtype)
        return ops.divide_no_nan(ops.sum(scores * present), ops.sum(present))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "average": self.average,
                "threshold": self.threshold,
            }
        )
        return config


_CLASS_COUNTS_ARGS = """Args:
        num_classes: int. Number of classes; 1 for a single sigmoid output.
        average: str or None. "macro" (unweighted mean over the classes seen
            in labels or predictions, as sklearn with labels=None), "micro"
            (from the summed counts), "weighted" (mean weighted by the
            number of true samples per class) or "binary" (the positive
            class; only with num_classes=1). None: "binary" for
            num_classes=1, else "macro".
        threshold: float. Decision threshold on the score when num_classes=1.
        name: str or None. Name of the metric (None: the class's default).
        dtype: str or None. Dtype of the counts and the result.

    Raises:
        ValueError: for an invalid `num_classes` or `average`."""


def _class_counts_doc(cls):
    # The three count metrics take the same arguments: one Args section.
    cls.__doc__ = cls.__doc__.replace("{args}", _CLASS_COUNTS_ARGS)
    return cls


@keras.saving.register_keras_serializable(package="kerasdl")
@_class_counts_doc
class Precision(_ClassCounts):
    """Precision, tp / (tp + fp), on integer or one-hot labels.

    Classes never predicted score 0 (sklearn's zero_division=0).

    {args}

    Example:
    >>> metric = Precision(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (0.5 + 0 + 1) / 3
    0.5
    """

    _NAME = "precision"

    def _scores(self, tp, fp, fn):
        return ops.divide_no_nan(tp, tp + fp)


@keras.saving.register_keras_serializable(package="kerasdl")
@_class_counts_doc
class Recall(_ClassCounts):
    """Recall, tp / (tp + fn), on integer or one-hot labels.

    {args}

    Example:
    >>> metric = Recall(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (1 + 0 + 1) / 3
    0.6666667
    """

    _NAME = "recall"

    def _scores(self, tp, fp, fn):
        return ops.divide_no_nan(tp, tp + fn)


@keras.saving.register_keras_serializable(package="kerasdl")
@_class_counts_doc
class F1Score(_ClassCounts):
    """F1 score, 2 tp / (2 tp + fp + fn), on integer or one-hot labels.

    Unlike `keras.metrics.F1Score`, the labels may be integers, and the
    default average is "macro", matching `sklearn.metrics.f1_score`.

    {args}

    Example:
    >>> metric = F1Score(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (2/3 + 0 + 1) / 3
    0.5555556
    """

    _NAME = "f1"

    def _scores(self, tp, fp, fn):
        return ops.divide_no_nan(2.0 * tp, 2.0 * tp + fp + fn)


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseAUC(keras.metrics.AUC):
    """`keras.metrics.AUC` for integer labels against per-class scores.

    The labels are one-hot encoded to `num_classes` columns; with the default
    `multi_label=False` the area is that of the pooled one-vs-rest decisions
    (sklearn's `roc_auc_score(one_hot.ravel(), scores.ravel())`).

    Args:
        num_classes: int. Number of classes (>= 2).
        **kwargs: Arguments of `keras.metrics.AUC` (num_thresholds, curve,
            from_logits, name, ...).

    Raises:
        ValueError: if `num_classes` < 2.

    Example:
    >>> metric = SparseAUC(num_classes=3)
    >>> metric.update_state([0, 2], [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    """

    def __init__(self, num_classes: int, **kwargs):
        _check_num_classes(num_classes, 2)
        kwargs.setdefault("name", "auc")
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
        y_true = ops.one_hot(ops.cast(y_true, "int32"), self.num_classes)
        if sample_weight is not None:
            # One weight per sample, repeated for each of its class columns.
            sample_weight = ops.convert_to_tensor(sample_weight, dtype=self.dtype)
            if len(sample_weight.shape) == len(y_true.shape) - 1:
                sample_weight = ops.expand_dims(sample_weight, -1)
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


_METRIC_KEYS: dict[str, dict[str, Any]] = {
    "accuracy": {"threshold": 0.5},
    "precision": {"average": None, "threshold": 0.5},
    "recall": {"average": None, "threshold": 0.5},
    "f1": {"average": None, "threshold": 0.5},
    "auc": {"num_thresholds": 200, "curve": "ROC", "from_logits": False},
    "top_k_accuracy": {"k": 5},
    "mae": {},
    "mse": {},
}
_METRIC_ALIASES = {
    "acc": "accuracy",
    "f1_score": "f1",
    "top_k": "top_k_accuracy",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
}
_NEEDS_NUM_CLASSES = ("precision", "recall", "f1", "auc", "top_k_accuracy")

#: Names accepted by `make_metrics` (aliases included).
METRIC_NAMES: tuple[str, ...] = tuple(sorted([*_METRIC_KEYS, *_METRIC_ALIASES]))


def make_metrics(
    names: list, num_classes: int | None = None, sparse: bool = True
) -> list[keras.metrics.Metric]:
    """Builds metrics for `model.compile` from names or config dicts.

    The variant is picked from the task: `num_classes=1` means one sigmoid
    output with 0/1 labels; otherwise `sparse` says whether labels are
    integers (True) or one-hot (False).

    - "accuracy" / "acc": BinaryAccuracy (`threshold`) for num_classes=1,
      else SparseCategoricalAccuracy or CategoricalAccuracy. Always named
      "accuracy" in the logs.
    - "precision", "recall", "f1" / "f1_score": kerasdl `Precision`,
      `Recall`, `F1Score` (`average`, `threshold`; integer or one-hot labels).
    - "auc": `keras.metrics.AUC` (`num_thresholds`, `curve`, `from_logits`),
      or kerasdl `SparseAUC` for integer labels of more than one class.
    - "top_k_accuracy" / "top_k": Sparse/TopKCategoricalAccuracy (`k`=5,
      must be < num_classes), named "top{k}_accuracy".
    - "mae", "mse": mean absolute / squared error.

    Args:
        names: list of str or dict. Metric names, or dicts with "name" and
            the keys above.
        num_classes: int or None. Number of classes (1 for a sigmoid output);
            needed by precision, recall, f1, auc and top_k_accuracy. None
            with "accuracy" means multi-class.
        sparse: bool. Integer labels (True) or one-hot labels (False).

    Returns:
        list of keras.metrics.Metric, in the order given.

    Raises:
        ValueError: for an unknown name or key, a missing `num_classes`, an
            out-of-range value, or two metrics with the same name.

    Example:
    >>> make_metrics(["accuracy", {"name": "top_k_accuracy", "k": 3}, "f1"],
    ...              num_classes=10)
    """
    if isinstance(names, (str, dict)) or not isinstance(names, (list, tuple)):
        raise ValueError(
            f"`names` must be a list of metric names or dicts; received {names!r}."
        )
    if num_classes is not None:
        _check_num_classes(num_classes, 1, " or None")
    sparse = check_bool("sparse", sparse)
    metrics = [_make_metric(entry, num_classes, sparse) for entry in names]
    seen = set()
    for metric in metrics:
        if metric.name in seen:
            raise ValueError(f"Metric name {metric.name!r} appears twice in {names!r}.")
        seen.add(metric.name)
    return metrics


def _make_metric(entry, num_classes, sparse):
    name, params = split_named(entry, _METRIC_KEYS, _METRIC_ALIASES, "metric")
    if name in _NEEDS_NUM_CLASSES and num_classes is None:
        raise ValueError(
            f"Metric {name!r} needs num_classes (1 for a single sigmoid "
            "output); received num_classes=None."
        )
    binary = num_classes == 1
    if name == "accuracy":
        if binary:
            threshold = check_float("threshold", params["threshold"])
            return keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold)
        if sparse:
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    if name in ("precision", "recall", "f1"):
        cls = {"precision": Precision, "recall": Recall, "f1": F1Score}[name]
        return cls(
            num_classes, average=params["average"], threshold=params["threshold"]
        )
    if name == "auc":
        kwargs = {
            "num_thresholds": check_int("num_thresholds", params["num_thresholds"], 2),
            "curve": params["curve"],
            "from_logits": check_bool("from_logits", params["from_logits"]),
            "name": "auc",
        }
        if kwargs["curve"] not in ("ROC", "PR"):
            raise ValueError(
                f"`curve` must be 'ROC' or 'PR'; received curve={kwargs['curve']!r}."
            )
        if sparse and not binary:
            return SparseAUC(num_classes, **kwargs)
        return keras.metrics.AUC(**kwargs)
    if name == "top_k_accuracy":
        k = check_int("k", params["k"], 1)
        if k >= num_classes:
            raise ValueError(
                f"top_k_accuracy needs k < num_classes (otherwise it is always "
                f"1); received k={k}, num_classes={num_classes}."
            )
        cls = (
            keras.metrics.SparseTopKCategoricalAccuracy
            if sparse
            else keras.metrics.TopKCategoricalAccuracy
        )
        return cls(k=k, name=f"top{k}_accuracy")
    if name == "mae":
        return keras.metrics.MeanAbsoluteError(name="mae")
    return keras.metrics.MeanSquaredError(name="mse")
