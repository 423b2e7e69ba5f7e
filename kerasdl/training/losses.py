"""Loss factory, plus the few losses Keras lacks.

`make_loss` turns a config value (a name, or a dict with a "name" and
arguments) into a Keras loss object. Keras' own classes are used wherever
they fit; kerasdl adds what integer-labelled classification needs and Keras
does not have (metrics live in `kerasdl.training.metrics`):

- `SparseCategoricalCrossentropy`: Keras' sparse cross-entropy has no
  `label_smoothing`; this one does.
- `SparseCategoricalFocalCrossentropy`: focal loss on integer labels.

All are registered under package "kerasdl" and survive a `.keras` round trip.

Example:
>>> loss = make_loss({"name": "sparse_categorical_crossentropy",
...                   "label_smoothing": 0.1})
>>> model.compile(optimizer="adam", loss=loss)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasdl._checks import check_bool, check_float
from kerasdl.training._named import split_named

__all__ = [
    "LOSS_NAMES",
    "SparseCategoricalCrossentropy",
    "SparseCategoricalFocalCrossentropy",
    "make_loss",
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


class _SparseLoss(keras.losses.Loss):
    """Integer-label loss with `from_logits` and `label_smoothing` in its config.

    A subclass names the Keras loss function applied to the one-hot labels
    (`_dense_loss`) and any further arguments it takes (`_loss_options`).
    """

    _dense_loss = None  # keras.losses function of (one-hot y_true, y_pred)

    def __init__(self, from_logits, label_smoothing, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def _loss_options(self) -> dict[str, Any]:
        return {}

    def call(self, y_true, y_pred):
        return self._dense_loss(
            _sparse_to_one_hot(y_true, y_pred),
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
            **self._loss_options(),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}
        )
        return config


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseCategoricalCrossentropy(_SparseLoss):
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

    _dense_loss = staticmethod(keras.losses.categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(from_logits, label_smoothing, reduction, name, dtype)


@keras.saving.register_keras_serializable(package="kerasdl")
class SparseCategoricalFocalCrossentropy(_SparseLoss):
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

    _dense_loss = staticmethod(keras.losses.categorical_focal_crossentropy)

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
        super().__init__(from_logits, label_smoothing, reduction, name, dtype)
        self.alpha = check_float("alpha", alpha, 0.0)
        self.gamma = check_float("gamma", gamma, 0.0)

    def _loss_options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "gamma": self.gamma}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"alpha": self.alpha, "gamma": self.gamma})
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
    name, params = split_named(config, _LOSS_KEYS, _LOSS_ALIASES, "loss")
    reduction = params.pop("reduction")
    if "label_smoothing" in params:
        params["label_smoothing"] = _check_smoothing(params["label_smoothing"])
    if "from_logits" in params:
        params["from_logits"] = check_bool("from_logits", params["from_logits"])
    for key in ("gamma", "alpha"):
        if key in params:
            params[key] = check_float(key, params[key], 0.0)
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
        delta = check_float("delta", params["delta"], 0, min_inclusive=False)
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
        params["apply_class_balancing"] = check_bool(
            "apply_class_balancing", params["apply_class_balancing"]
        )
        return keras.losses.BinaryFocalCrossentropy(**params, **common)
    if name == "categorical_focal_crossentropy":
        return keras.losses.CategoricalFocalCrossentropy(**params, **common)
    return SparseCategoricalFocalCrossentropy(**params, **common)


# ----------------------------------------------------------------- helpers
def _check_smoothing(value) -> float:
    return check_float("label_smoothing", value, 0.0, 1.0, max_inclusive=False)
