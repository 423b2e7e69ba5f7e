"""Knowledge distillation from a config, on `keras.distillation`.

`distill(teacher, student, x, y, config)` trains the student with Keras'
`Distiller`: the loss is

    (1 - alpha) * hard_loss(y, student)
    + alpha * (logits_weight * T^2 * KL(softmax(t / T) || softmax(s / T))
               + sum_f weight_f * mse(teacher_f, P_f(student_f)))

where t and s are the teacher's and student's logits, T the temperature
(Hinton et al. 2015), and each feature term compares an intermediate layer
of the teacher with one of the student (FitNets, Romero et al. 2015). When
the two layers differ in width only (last axis), P_f is a learned linear
projection (no bias) of the student's features, trained with the student
and discarded afterwards; otherwise P_f is the identity.

Models that end in softmax are handled: their probabilities p are turned
into log-probabilities log p, which equal the logits up to a per-row
constant, so the tempered softmax (and the KD loss) is the same.

Config keys (dict, YAML file path or `DistillationConfig`):

    temperature: 3.0        # T > 0
    alpha: null             # weight of the distillation part in [0, 1];
                            # null: 0.5 with labels y, 1.0 without
    logits_weight: 1.0      # weight of the logits KD term (0: features only)
    features:               # optional intermediate-feature terms
      - {teacher_layer: t_hidden, student_layer: s_hidden, weight: 1.0}
    epochs: 10
    batch_size: 32
    optimizer: adam         # name or {name: ..., <args>}, as the Trainer's
    learning_rate: null     # float or schedule ({name: cosine, ...}), as the
                            # Trainer's; null: the optimizer's default
    from_logits: auto       # auto (softmax output -> probabilities), true, false
    verbose: 0              # Keras fit progress output (0, 1, 2)

Example:
>>> student, history = distill(teacher, student, x_train, y_train,
...                            {"temperature": 4, "alpha": 0.9, "epochs": 30},
...                            validation_data=(x_val, y_val))
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any

import keras
import numpy as np

from kerasdl._checks import closest
from kerasdl._io import read_yaml
from kerasdl.training.optimizers import OPTIMIZER_NAMES, make_optimizer

__all__ = ["DistillationConfig", "build_distiller", "distill", "load_config"]

logger = logging.getLogger(__name__)

_FEATURE_KEYS = ("teacher_layer", "student_layer", "weight")


@dataclasses.dataclass
class DistillationConfig:
    """Settings of `distill`; the module docstring shows them as YAML."""

    temperature: float = 3.0  # softmax temperature T applied to both models
    alpha: float | None = None  # distillation weight; None: 0.5 with y, 1 without
    logits_weight: float = 1.0  # weight of the T^2 * KL logits term
    features: list = dataclasses.field(default_factory=list)  # feature terms
    epochs: int = 10  # passes over x
    batch_size: int = 32  # samples per step
    optimizer: Any = "adam"  # optimizer name or config dict
    # float or schedule mapping (the Trainer's); None: the optimizer's default
    learning_rate: float | dict | None = None
    from_logits: Any = "auto"  # "auto", True (logits) or False (probabilities)
    verbose: int = 0  # Keras fit verbosity

    def to_dict(self) -> dict:
        """The config as a plain dict (YAML/JSON-serializable)."""
        return dataclasses.asdict(self)


def _fail(key: str, value, accepted: str, hint: str = ""):
    raise ValueError(
        f"Invalid distillation config value {key}={value!r}: expected {accepted}.{hint}"
    )


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_optimizer(cfg: DistillationConfig) -> None:
    """Checks optimizer and learning rate in the Trainer's own vocabulary.

    The same names, arguments and schedules as `TrainingConfig.optimizer`
    (built by `make_optimizer` in both places), so a distillation config
    reads like every other training config.
    """
    from kerasdl.training import TrainingConfig

    optimizer = cfg.optimizer
    if isinstance(optimizer, str):
        optimizer = {"name": optimizer}
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("name"), str):
        _fail(
            "optimizer",
            cfg.optimizer,
            "an optimizer name or a mapping with a 'name': one of "
            + ", ".join(OPTIMIZER_NAMES),
        )
    if "learning_rate" in optimizer and cfg.learning_rate is not None:
        raise ValueError(
            "Distillation config gives the learning rate twice: "
            "'learning_rate' and 'optimizer.learning_rate'; give one."
        )
    if cfg.learning_rate is not None:
        optimizer = {**optimizer, "learning_rate": cfg.learning_rate}
    try:
        TrainingConfig(optimizer=optimizer)
    except ValueError as error:
        _fail(
            "optimizer",
            cfg.optimizer,
            "an optimizer config as the Trainer takes it",
            f" {error}",
        )


def load_config(config=None) -> DistillationConfig:
    """Validates a distillation config.

    Args:
        config: None (defaults), a dict, a `DistillationConfig`, or the path
            of a YAML file holding the dict. "lr" is accepted as an alias of
            "learning_rate".

    Returns:
        DistillationConfig with every value checked.

    Raises:
        ValueError: naming the key, the value received and what is accepted.
    """
    if config is None:
        data: dict = {}
    elif isinstance(config, DistillationConfig):
        data = config.to_dict()
    elif isinstance(config, (str, os.PathLike)):
        data = read_yaml(config) or {}
    elif isinstance(config, dict):
        data = dict(config)
    else:
        raise ValueError(
            f"Invalid distillation config of type {type(config).__name__}: "
            "expected a dict, a YAML file path or a DistillationConfig."
        )
    if not isinstance(data, dict):
        _fail("config", data, "a mapping")
    if "lr" in data:
        if "learning_rate" in data:
            raise ValueError(
                "Distillation config gives both 'lr' and 'learning_rate'; give one."
            )
        data["learning_rate"] = data.pop("lr")
    accepted = [f.name for f in dataclasses.fields(DistillationConfig)]
    for key in data:
        if key not in accepted:
            raise ValueError(
                f"Unknown distillation config key {key!r}.{closest(str(key), accepted)} "
                f"Accepted keys: {', '.join(accepted)}."
            )
    cfg = DistillationConfig(**data)

    if not _number(cfg.temperature) or cfg.temperature <= 0:
        _fail("temperature", cfg.temperature, "a number > 0")
    if cfg.alpha is not None and (not _number(cfg.alpha) or not 0 <= cfg.alpha <= 1):
        _fail("alpha", cfg.alpha, "a number in [0, 1] or null")
    if not _number(cfg.logits_weight) or cfg.logits_weight < 0:
        _fail("logits_weight", cfg.logits_weight, "a number >= 0")
    for key in ("epochs", "batch_size"):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(key, value, "an integer >= 1")
    if (
        cfg.learning_rate is not None
        and not isinstance(cfg.learning_rate, dict)
        and (not _number(cfg.learning_rate) or cfg.learning_rate <= 0)
    ):
        _fail(
            "learning_rate",
            cfg.learning_rate,
            "a number > 0, a schedule mapping ({name: cosine, ...}) or null",
        )
    if cfg.from_logits not in ("auto", True, False):
        _fail("from_logits", cfg.from_logits, "'auto', true or false")
    if cfg.verbose not in (0, 1, 2, "auto"):
        _fail("verbose", cfg.verbose, "0, 1, 2 or 'auto'")
    _check_optimizer(cfg)
    if not isinstance(cfg.features, list):
        _fail(
            "features", cfg.features, "a list of {teacher_layer, student_layer, weight}"
        )
    features = []
    for i, entry in enumerate(cfg.features):
        where = f"features[{i}]"
        if not isinstance(entry, dict):
            _fail(where, entry, "a mapping with teacher_layer, student_layer, weight")
        for key in entry:
            if key not in _FEATURE_KEYS:
                raise ValueError(
                    f"Unknown distillation config key '{where}.{key}'."
                    f"{closest(str(key), _FEATURE_KEYS)} Accepted keys: "
                    f"{', '.join(_FEATURE_KEYS)}."
                )
        for key in ("teacher_layer", "student_layer"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                _fail(f"{where}.{key}", entry.get(key), "a layer name")
        weight = entry.get("weight", 1.0)
        if not _number(weight) or weight < 0:
            _fail(f"{where}.weight", weight, "a number >= 0")
        features.append({**entry, "weight": float(weight)})
    cfg.features = features
    return cfg


# ----------------------------------------------------------------- losses
def _outputs_probabilities(model) -> bool:
    """True if the model's output layer ends in a softmax."""
    layer = model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _as_logits(outputs, from_logits: bool):
    if from_logits:
        return outputs
    # log p = logits - logsumexp(logits): the same tempered softmax.
    return keras.ops.log(keras.ops.clip(outputs, 1e-7, 1.0))


class _LogitsKD(keras.distillation.LogitsDistillation):
    """Keras' LogitsDistillation (T^2-scaled KL) on logits or probabilities."""

    def __init__(self, temperature, teacher_from_logits, student_from_logits):
        # A KLDivergence *instance*: Keras softmaxes and scales by T^2 only
        # for an instance; the string "kl_divergence" (its default) resolves
        # to a plain function and gets raw logits.
        super().__init__(temperature=temperature, loss=keras.losses.KLDivergence())
        self.teacher_from_logits = teacher_from_logits
        self.student_from_logits = student_from_logits

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return super().compute_loss(
            _as_logits(teacher_outputs, self.teacher_from_logits),
            _as_logits(student_outputs, self.student_from_logits),
            **kwargs,
        )


class _ProjectedFeatures(keras.distillation.FeatureDistillation):
    """Keras' FeatureDistillation (MSE) with an optional student projection."""

    def __init__(self, teacher_layer, student_layer, projection=None):
        super().__init__(
            loss="mse",
            teacher_layer_name=teacher_layer,
            student_layer_name=student_layer,
        )
        self.projection = projection

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        if self.projection is not None:
            student_outputs = self.projection(student_outputs)
        return super().compute_loss(teacher_outputs, student_outputs, **kwargs)


class _Distiller(keras.distillation.Distiller):
    """Keras' Distiller that also trains the feature projections."""

    def __init__(self, *args, projections=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Attribute assignment tracks the layers, so their variables are in
        # trainable_variables and the optimizer updates them with the student.
        self.projections = list(projections)


def _layer(model, name: str, role: str, key: str):
    try:
        return model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"Invalid distillation config value {key}={name!r}: the {role} "
            f"model {model.name!r} has no such layer.{closest(name, names)} "
            f"Its layers: {', '.join(names)}."
        ) from None


def _feature_loss(teacher, student, index: int, entry: dict):
    key = f"features[{index}]"
    t_layer = _layer(teacher, entry["teacher_layer"], "teacher", f"{key}.teacher_layer")
    s_layer = _layer(student, entry["student_layer"], "student", f"{key}.student_layer")
    t_shape = tuple(t_layer.output.shape)
    s_shape = tuple(s_layer.output.shape)
    if len(t_shape) != len(s_shape) or any(
        a is not None and b is not None and a != b
        for a, b in zip(t_shape[:-1], s_shape[:-1])
    ):
        raise ValueError(
            f"Distillation config {key}: teacher layer {t_layer.name!r} outputs "
            f"{t_shape} and student layer {s_layer.name!r} outputs {s_shape}; "
            "feature distillation needs shapes that differ at most in the last "
            "axis (then a learned linear projection maps the student's width "
            "to the teacher's)."
        )
    projection = None
    if t_shape[-1] != s_shape[-1]:
        projection = keras.layers.Dense(
            t_shape[-1], use_bias=False, name=f"feature_projection_{index}"
        )
        projection.build(s_shape)
    return _ProjectedFeatures(t_layer.name, s_layer.name, projection), projection


def _label_kind(y, student) -> str:
    """ "sparse" for one class id per row, "categorical" for one-hot rows."""
    y_shape = np.shape(y)
    out_shape = tuple(student.outputs[0].shape)
    if len(out_shape) < 2 or out_shape[-1] is None or out_shape[-1] < 2:
        raise ValueError(
            f"distill needs a classifier student with class scores on the last "
            f"axis; the student outputs {out_shape}."
        )
    if len(y_shape) == len(out_shape) and y_shape[-1] == out_shape[-1]:
        return "categorical"
    if len(y_shape) == len(out_shape) - 1 or (
        len(y_shape) == len(out_shape) and y_shape[-1] == 1
    ):
        return "sparse"
    raise ValueError(
        f"Labels y of shape {y_shape} do not match the student's output "
        f"{out_shape}: expected class ids of shape {out_shape[:-1]} or one-hot "
        f"rows of shape {out_shape}."
    )


def build_distiller(teacher, student, config=None, y=None):
    """A compiled `keras.distillation.Distiller` for a config (see `distill`).

    Args:
        teacher: keras.Model. Trained classifier (functional or sequential
            when features are used).
        student: keras.Model. Student with the teacher's input and output
            shapes.
        config: dict, YAML path, DistillationConfig or None.
        y: array or None. Labels, used only to choose the hard-label loss
            (class ids or one-hot) and the default alpha.

    Returns:
        The compiled distiller; `distiller.student` is `student`.
    """
    cfg = load_config(config)
    alpha = cfg.alpha if cfg.alpha is not None else (0.5 if y is not None else 1.0)
    if y is None and alpha < 1.0:
        raise ValueError(
            f"Invalid distillation config value alpha={alpha}: without labels y "
            "the hard-label loss cannot be computed; use alpha=1.0 (pure "
            "distillation) or pass y."
        )
    if cfg.from_logits == "auto":
        teacher_logits = not _outputs_probabilities(teacher)
        student_logits = not _outputs_probabilities(student)
    else:
        teacher_logits = student_logits = cfg.from_logits

    losses, weights, projections = [], [], []
    if cfg.logits_weight > 0:
        losses.append(_LogitsKD(cfg.temperature, teacher_logits, student_logits))
        weights.append(cfg.logits_weight)
    for index, entry in enumerate(cfg.features):
        loss, projection = _feature_loss(teacher, student, index, entry)
        losses.append(loss)
        weights.append(entry["weight"])
        if projection is not None:
            projections.append(projection)
    if not losses:
        raise ValueError(
            "Distillation config has nothing to distill: logits_weight=0 and "
            "no features. Set logits_weight > 0 or add features."
        )

    distiller = _Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=losses,
        distillation_loss_weights=weights,
        student_loss_weight=1.0 - alpha,
        projections=projections,
    )
    kind = _label_kind(y, student) if y is not None else "sparse"
    if kind == "sparse":
        hard = keras.losses.SparseCategoricalCrossentropy(from_logits=student_logits)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    else:
        hard = keras.losses.CategoricalCrossentropy(from_logits=student_logits)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    optimizer = make_optimizer(cfg.optimizer, learning_rate=cfg.learning_rate)
    distiller.compile(
        optimizer=optimizer,
        loss=hard,
        metrics=[accuracy] if y is not None else None,
    )
    return distiller


def distill(
    teacher, student, x, y=None, config=None, validation_data=None, callbacks=None
):
    """Trains `student` to mimic `teacher` (knowledge distillation).

    The teacher is frozen during training (its `trainable` flag is restored
    afterwards); the student is trained in place and returned.

    Args:
        teacher: keras.Model. Trained classifier.
        student: keras.Model. Smaller model with the same input and output
            shapes.
        x: array (or list of arrays for several inputs). Training inputs.
        y: array or None. Class ids or one-hot labels; None trains on the
            teacher's outputs alone (alpha must then be 1).
        config: dict, YAML file path, DistillationConfig or None. Keys in
            the module docstring.
        validation_data: tuple (x_val, y_val) or None.
        callbacks: list of keras callbacks or None.

    Returns:
        tuple (student, history): the trained student (the same object) and
        the Keras History; its history dict has "loss" (total),
        "student_loss" (hard labels), "distillation_loss", "accuracy" (with
        labels) and their "val_" versions.

    Raises:
        ValueError: for an invalid config (naming the key), unknown layer
            names, feature shapes that cannot be matched, labels that do not
            fit the student, or teacher/student shape mismatches.

    Example:
    >>> student, history = distill(teacher, student, x, y,
    ...     {"temperature": 4, "alpha": 0.9, "epochs": 20,
    ...      "features": [{"teacher_layer": "t_h2", "student_layer": "s_h1",
    ...                    "weight": 0.5}]})
    """
    cfg = load_config(config)
    teacher_trainable = teacher.trainable
    try:
        distiller = build_distiller(teacher, student, cfg, y)
        history = distiller.fit(
            x,
            y,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=cfg.verbose,
        )
    finally:
        teacher.trainable = teacher_trainable
    final = {k: v[-1] for k, v in history.history.items() if v and math.isfinite(v[-1])}
    logger.info("Distillation finished after %d epochs: %s", cfg.epochs, final)
    return student, history
