"""Loss and metric factories, plus the few losses and metrics Keras lacks.

`make_loss` and `make_metrics` turn config values (names, or dicts with a
"name" and arguments) into Keras loss and metric objects. Keras' own classes
are used wherever they fit; kerasdl adds what integer-labelled
classification needs and Keras does not have:

- `SparseCategoricalCrossentropy`: Keras' sparse cross-entropy has no
  `label_smoothing`; this one does.
- `SparseCategoricalFocalCrossentropy`: focal loss on integer labels.
- `F1Score`, `Precision`, `Recall`: per-class counts that accept integer or
  one-hot labels (Keras' `F1Score` needs one-hot targets, its `Precision`
  and `Recall` are binary), averaged "macro", "micro" or "weighted" the way
  `sklearn.metrics` averages them.
- `SparseAUC`: `keras.metrics.AUC` (one-vs-rest, micro-averaged) on integer
  labels.

All are registered under package "kerasdl" and survive a `.keras` round trip.

Example:
>>> loss = make_loss({"name": "sparse_categorical_crossentropy",
...                   "label_smoothing": 0.1})
>>> metrics = make_metrics(["accuracy", "f1"], num_classes=10)
>>> model.compile(optimizer="adam", loss=loss, metrics=metrics)
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from kerasdl.registry import closest

__all__ = [
    "LOSS_NAMES",
    "METRIC_NAMES",
    "F1Score",
    "Precision",
    "Recall",
    "SparseAUC",
    "SparseCategoricalCrossentropy",
    "SparseCategoricalFocalCrossentropy",
    "make_loss",
    "make_metrics",
]


# ------------------------------------------------------------------ losses
def _sparse_to_one_hot(y_true, y_pred):
    """Integer labels of shape (...,) or (..., 1) -> one-hot like y_pred."""
    num_classes = y_pred.shape[-1]
    if num_classes is None:
        raise ValueError(
            "Sparse losses need a known number of classes (last axis of "
            f"y_pred); received y_pred.shape={y_pred.shape}."
        )
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    labels = ops.cast(y_true, "int32")
    return ops.one_hot(labels, num_classes, dtype=y_pred.dtype)


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels, with label smoothing.

    Same value as `keras.losses.CategoricalCrossentropy` on the one-hot
    labels: with smoothing `s` over `C` classes the target is
    `one_hot * (1 - s) + s / C`.

    Args:
        from_logits: bool. Whether `y_pred` are logits rather than
            probabilities.
        label_smoothing: float. In [0, 1).
        reduction: str or None. Keras loss reduction.
        name: str. Name of the loss.
        dtype: str or None. Compute dtype.

    Raises:
        ValueError: if `label_smoothing` is outside [0, 1).

    Example:
    >>> loss = SparseCategoricalCrossentropy(label_smoothing=0.1)
    >>> loss([1], [[0.7, 0.2, 0.1]])  # -(0.0333 log 0.7 + 0.9333 log 0.2 + ...)
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        one_hot = _sparse_to_one_hot(y_true, y_pred)
        return keras.losses.categorical_crossentropy(
            one_hot,
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}
        )
        return config


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseCategoricalFocalCrossentropy(keras.losses.Loss):
    """Focal loss (Lin et al. 2017) on integer labels.

    Same value as `keras.losses.CategoricalFocalCrossentropy` on the one-hot
    labels: `-alpha * (1 - p_y) ** gamma * log(p_y)` per sample.

    Args:
        alpha: float. Weighting factor.
        gamma: float. Focusing parameter, >= 0 (0 gives alpha * CE).
        from_logits: bool. Whether `y_pred` are logits.
        label_smoothing: float. In [0, 1).
        reduction: str or None. Keras loss reduction.
        name: str. Name of the loss.
        dtype: str or None. Compute dtype.

    Raises:
        ValueError: for an argument out of range.

    Example:
    >>> loss = SparseCategoricalFocalCrossentropy(gamma=2.0)
    >>> loss([0], [[0.9, 0.1]])  # 0.25 * 0.1**2 * -log(0.9)
    """

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = _check_number("alpha", alpha, 0.0)
        self.gamma = _check_number("gamma", gamma, 0.0)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        one_hot = _sparse_to_one_hot(y_true, y_pred)
        return keras.losses.categorical_focal_crossentropy(
            one_hot,
            y_pred,
            alpha=self.alpha,
            gamma=self.gamma,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
            }
        )
        return config


_REDUCTION = {"reduction": "sum_over_batch_size"}
_CE = {"from_logits": False, "label_smoothing": 0.0, **_REDUCTION}
_FOCAL = {"alpha": 0.25, "gamma": 2.0, **_CE}

# name -> accepted keys with their defaults.
_LOSS_KEYS: dict[str, dict[str, Any]] = {
    "mse": dict(_REDUCTION),
    "mae": dict(_REDUCTION),
    "huber": {"delta": 1.0, **_REDUCTION},
    "binary_crossentropy": dict(_CE),
    "categorical_crossentropy": dict(_CE),
    "sparse_categorical_crossentropy": {"ignore_class": None, **_CE},
    "binary_focal_crossentropy": {"apply_class_balancing": False, **_FOCAL},
    "categorical_focal_crossentropy": dict(_FOCAL),
    "sparse_categorical_focal_crossentropy": dict(_FOCAL),
}
_LOSS_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "binary_focal": "binary_focal_crossentropy",
    "categorical_focal": "categorical_focal_crossentropy",
    "sparse_categorical_focal": "sparse_categorical_focal_crossentropy",
}

#: Names accepted by `make_loss` (aliases included).
LOSS_NAMES: tuple[str, ...] = tuple(sorted([*_LOSS_KEYS, *_LOSS_ALIASES]))


def make_loss(config) -> keras.losses.Loss:
    """Builds a loss from a name or a config dict.

    Names and keys (every loss also takes `reduction`):

    - "mse" / "mean_squared_error", "mae" / "mean_absolute_error".
    - "huber": `delta`=1.0.
    - "binary_crossentropy", "categorical_crossentropy": `from_logits`=False,
      `label_smoothing`=0.0.
    - "sparse_categorical_crossentropy": the same plus `ignore_class`=None
      (Keras' loss; kerasdl's `SparseCategoricalCrossentropy` when
      `label_smoothing` > 0, which cannot be combined with `ignore_class`).
    - "binary_focal_crossentropy": `gamma`=2.0, `alpha`=0.25,
      `apply_class_balancing`=False (alpha is used only when True, as in
      Keras), `from_logits`, `label_smoothing`.
    - "categorical_focal_crossentropy" and
      "sparse_categorical_focal_crossentropy": `gamma`=2.0, `alpha`=0.25,
      `from_logits`, `label_smoothing`.

    Args:
        config: str or dict. A loss name, or a dict with "name" and keys.

    Returns:
        keras.losses.Loss.

    Raises:
        ValueError: for an unknown name or key, or a value out of range.

    Example:
    >>> make_loss({"name": "huber", "delta": 0.5})
    >>> make_loss({"name": "binary_focal_crossentropy", "gamma": 3.0})
    """
    name, params = _split(config, _LOSS_KEYS, _LOSS_ALIASES, "loss")
    reduction = params.pop("reduction")
    if "label_smoothing" in params:
        params["label_smoothing"] = _check_smoothing(params["label_smoothing"])
    if "from_logits" in params:
        params["from_logits"] = _check_bool("from_logits", params["from_logits"])
    for key in ("gamma", "alpha"):
        if key in params:
            params[key] = _check_number(key, params[key], 0.0)
    if "alpha" in params and params["alpha"] > 1.0:
        raise ValueError(
            f"`alpha` must be in [0, 1]; received alpha={params['alpha']}."
        )
    common = {"reduction": reduction, "name": name}

    if name == "mse":
        return keras.losses.MeanSquaredError(**common)
    if name == "mae":
        return keras.losses.MeanAbsoluteError(**common)
    if name == "huber":
        delta = _check_number("delta", params["delta"], 0.0, strict=True)
        return keras.losses.Huber(delta=delta, **common)
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(**params, **common)
    if name == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(**params, **common)
    if name == "sparse_categorical_crossentropy":
        ignore_class = params.pop("ignore_class")
        if params["label_smoothing"] == 0.0:
            return keras.losses.SparseCategoricalCrossentropy(
                from_logits=params["from_logits"], ignore_class=ignore_class, **common
            )
        if ignore_class is not None:
            raise ValueError(
                "`ignore_class` cannot be combined with label smoothing; received "
                f"ignore_class={ignore_class!r}, "
                f"label_smoothing={params['label_smoothing']}."
            )
        return SparseCategoricalCrossentropy(**params, **common)
    if name == "binary_focal_crossentropy":
        params["apply_class_balancing"] = _check_bool(
            "apply_class_balancing", params["apply_class_balancing"]
        )
        return keras.losses.BinaryFocalCrossentropy(**params, **common)
    if name == "categorical_focal_crossentropy":
        return keras.losses.CategoricalFocalCrossentropy(**params, **common)
    return SparseCategoricalFocalCrossentropy(**params, **common)


# ----------------------------------------------------------------- metrics
class _ClassCounts(keras.metrics.Metric):
    """Per-class true/false positive and false negative counts.

    Integer labels of shape (...,) or (..., 1), or one-hot labels of shape
    (..., num_classes), against scores of shape (..., num_classes) (the
    argmax is the prediction). With `num_classes=1`, binary: labels are 0/1
    and a score above `threshold` predicts 1; the counts are then kept for
    the two classes (0, 1).
    """

    _AVERAGES = ("binary", "macro", "micro", "weighted")

    def __init__(
        self,
        num_classes: int,
        average: str | None = None,
        threshold: float = 0.5,
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1
        ):
            raise ValueError(
                "`num_classes` must be an integer >= 1 (1 for a single sigmoid "
                f"output); received num_classes={num_classes!r}."
            )
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
        self.threshold = _check_number("threshold", threshold)
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


@keras.saving.register_keras_serializable(package="kerasdl")
class Precision(_ClassCounts):
    """Precision, tp / (tp + fp), on integer or one-hot labels.

    Classes never predicted score 0 (sklearn's zero_division=0).

    Args:
        num_classes: int. Number of classes; 1 for a single sigmoid output.
        average: str or None. "macro" (unweighted mean over the classes seen
            in labels or predictions, as sklearn with labels=None), "micro"
            (from the summed counts), "weighted" (mean weighted by the
            number of true samples per class) or "binary" (the positive
            class; only with num_classes=1). None: "binary" for
            num_classes=1, else "macro".
        threshold: float. Decision threshold on the score when num_classes=1.
        name: str. Name of the metric.
        dtype: str or None. Dtype of the counts and the result.

    Raises:
        ValueError: for an invalid `num_classes` or `average`.

    Example:
    >>> metric = Precision(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (0.5 + 0 + 1) / 3
    0.5
    """

    def __init__(
        self, num_classes, average=None, threshold=0.5, name="precision", dtype=None
    ):
        super().__init__(num_classes, average, threshold, name=name, dtype=dtype)

    def _scores(self, tp, fp, fn):
        return ops.divide_no_nan(tp, tp + fp)


@keras.saving.register_keras_serializable(package="kerasdl")
class Recall(_ClassCounts):
    """Recall, tp / (tp + fn), on integer or one-hot labels.

    Args:
        num_classes: int. Number of classes; 1 for a single sigmoid output.
        average: str or None. "macro" (unweighted mean over the classes seen
            in labels or predictions, as sklearn with labels=None), "micro"
            (from the summed counts), "weighted" (mean weighted by the
            number of true samples per class) or "binary" (the positive
            class; only with num_classes=1). None: "binary" for
            num_classes=1, else "macro".
        threshold: float. Decision threshold on the score when num_classes=1.
        name: str. Name of the metric.
        dtype: str or None. Dtype of the counts and the result.

    Raises:
        ValueError: for an invalid `num_classes` or `average`.

    Example:
    >>> metric = Recall(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (1 + 0 + 1) / 3
    0.6666667
    """

    def __init__(
        self, num_classes, average=None, threshold=0.5, name="recall", dtype=None
    ):
        super().__init__(num_classes, average, threshold, name=name, dtype=dtype)

    def _scores(self, tp, fp, fn):
        return ops.divide_no_nan(tp, tp + fn)


@keras.saving.register_keras_serializable(package="kerasdl")
class F1Score(_ClassCounts):
    """F1 score, 2 tp / (2 tp + fp + fn), on integer or one-hot labels.

    Unlike `keras.metrics.F1Score`, the labels may be integers, and the
    default average is "macro", matching `sklearn.metrics.f1_score`.

    Args:
        num_classes: int. Number of classes; 1 for a single sigmoid output.
        average: str or None. "macro" (unweighted mean over the classes seen
            in labels or predictions, as sklearn with labels=None), "micro"
            (from the summed counts), "weighted" (mean weighted by the
            number of true samples per class) or "binary" (the positive
            class; only with num_classes=1). None: "binary" for
            num_classes=1, else "macro".
        threshold: float. Decision threshold on the score when num_classes=1.
        name: str. Name of the metric.
        dtype: str or None. Dtype of the counts and the result.

    Raises:
        ValueError: for an invalid `num_classes` or `average`.

    Example:
    >>> metric = F1Score(num_classes=3)
    >>> metric.update_state([0, 1, 2], [[.8, .1, .1], [.7, .2, .1], [0, 0, 1]])
    >>> float(metric.result())  # (2/3 + 0 + 1) / 3
    0.5555556
    """

    def __init__(self, num_classes, average=None, threshold=0.5, name="f1", dtype=None):
        super().__init__(num_classes, average, threshold, name=name, dtype=dtype)

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
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, numbers.Integral)
            or num_classes < 2
        ):
            raise ValueError(
                "`num_classes` must be an integer >= 2; received "
                f"num_classes={num_classes!r}."
            )
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
    if num_classes is not None and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 1
    ):
        raise ValueError(
            "`num_classes` must be an integer >= 1 or None; received "
            f"num_classes={num_classes!r}."
        )
    sparse = _check_bool("sparse", sparse)
    metrics = [_make_metric(entry, num_classes, sparse) for entry in names]
    seen = set()
    for metric in metrics:
        if metric.name in seen:
            raise ValueError(f"Metric name {metric.name!r} appears twice in {names!r}.")
        seen.add(metric.name)
    return metrics


def _make_metric(entry, num_classes, sparse):
    name, params = _split(entry, _METRIC_KEYS, _METRIC_ALIASES, "metric")
    if name in _NEEDS_NUM_CLASSES and num_classes is None:
        raise ValueError(
            f"Metric {name!r} needs num_classes (1 for a single sigmoid "
            "output); received num_classes=None."
        )
    binary = num_classes == 1
    if name == "accuracy":
        if binary:
            threshold = _check_number("threshold", params["threshold"])
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
            "num_thresholds": _check_int("num_thresholds", params["num_thresholds"], 2),
            "curve": params["curve"],
            "from_logits": _check_bool("from_logits", params["from_logits"]),
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
        k = _check_int("k", params["k"], 1)
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


# ----------------------------------------------------------------- helpers
def _split(config, keys: dict, aliases: dict, kind: str) -> tuple[str, dict]:
    """Validates a name or {"name", ...} dict; returns (name, params)."""
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(
            f"A {kind} must be a name or a dict with a 'name'; received "
            f"{config!r}. Accepted names: {', '.join(sorted([*keys, *aliases]))}."
        )
    raw_name = config["name"]
    name = aliases.get(raw_name.lower(), raw_name.lower())
    if name not in keys:
        options = sorted([*keys, *aliases])
        raise ValueError(
            f"Unknown {kind} name={raw_name!r}.{closest(raw_name.lower(), options)} "
            f"Accepted: {', '.join(options)}."
        )
    accepted = keys[name]
    params = {k: v for k, v in config.items() if k != "name"}
    for key in params:
        if key not in accepted:
            listed = ", ".join(accepted) if accepted else "none"
            raise ValueError(
                f"Unknown key {key!r} for {kind} {name!r}."
                f"{closest(key, accepted)} Accepted: {listed}."
            )
    return name, {**accepted, **params}


def _check_number(key: str, value, minimum: float | None = None, strict=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{key}` must be a number; received {key}={value!r}.")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(
            f"`{key}` must be {relation} {minimum}; received {key}={value!r}."
        )
    return float(value)


def _check_int(key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{key}` must be an integer; received {key}={value!r}.")
    if value < minimum:
        raise ValueError(f"`{key}` must be >= {minimum}; received {key}={value!r}.")
    return int(value)


def _check_bool(key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"`{key}` must be true or false; received {key}={value!r}.")
    return value


def _check_smoothing(value) -> float:
    value = _check_number("label_smoothing", value, 0.0)
    if value >= 1.0:
        raise ValueError(
            f"`label_smoothing` must be in [0, 1); received label_smoothing={value}."
        )
    return value
