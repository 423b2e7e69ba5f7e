"""Shared heads: every family builds its backbone and attaches one of these.

As keras-hub separates a Backbone from its Task, a kerasdl builder makes the
features and hands them to a head here; no family writes its own pooling,
dropout or output layer. Layer names are arguments (with the names the
families have always used as defaults), so pruning and export by layer name,
and the parameter counts checked against keras.applications, are unchanged.

Heads:
    classification_head: pooling (None/"avg"/"max"/"flatten"), dropout and a
        Dense classifier, with keras.applications' `include_top` semantics;
        `ClassificationHead` validates those hyperparameters once and finishes
        the model.
    dense_head: optional dropout and a Dense output, per example or per step.
    regression_head: `dense_head` with linear outputs.
    tagging_head: a Dense classifier applied at every time step.
    language_model_head: vocabulary logits at every position.
    pixel_classification_head: a 1x1 convolution classifying every pixel.

The task a registered model declares (`register_model(..., task=...)`) is
recorded on the built model by `kerasdl.registry.build_model`; a head built
without its classifier records "features" instead. The Trainer picks its
default loss and metrics from the task.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from kerasdl._checks import check_bool, check_choice, check_int, check_rate
from kerasdl.models._common import check_activation_or_softmax, load_weights
from kerasdl.models._hparams import Arg
from kerasdl.models.layout import DATA_FORMAT, channel_axis
from kerasdl.registry import set_task

__all__ = [
    "CLASSIFIER_ARGS",
    "LOCAL_WEIGHTS",
    "POOLINGS",
    "ClassificationHead",
    "check_head_args",
    "classification_head",
    "dense_head",
    "finish_model",
    "language_model_head",
    "pixel_activation",
    "pixel_classification_head",
    "pool",
    "regression_head",
    "tagging_head",
]

POOLINGS = (None, "avg", "max", "flatten")


def finish_model(inputs, outputs, name: str, weights: str | None = None):
    """Wraps inputs and head outputs in a functional model and loads weights.

    Args:
        inputs: KerasTensor or list of them.
        outputs: KerasTensor or nest of them (the head's output).
        name: str. Model name.
        weights: str or None. Path of a local weights file (never downloaded).
    """
    return load_weights(keras.Model(inputs, outputs, name=name), weights)


# ---------------------------------------------------------------- pooling
_POOL_LAYERS = {
    # rank of the features -> (average, max) global pooling layers
    3: (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D),
    4: (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D),
    5: (layers.GlobalAveragePooling3D, layers.GlobalMaxPooling3D),
}


def pool(x, pooling: str | None, default: str | None = None):
    """Global pooling of a feature map over its spatial (or time) axes.

    Args:
        x: KerasTensor. Features of rank 3 (sequences), 4 (images) or 5; rank
            2 features are returned unchanged.
        pooling: None, "avg", "max" or "flatten".
        default: None or "avg". What `pooling=None` means (keras.applications
            averages when it adds the classifier, keeps the map otherwise).

    Returns:
        The pooled features: "avg_pool", "max_pool" or "flatten" layer.
    """
    check_choice("pooling", pooling, POOLINGS)
    pooling = pooling or default
    if len(x.shape) <= 2 or pooling is None:
        return x
    if pooling == "flatten":
        return layers.Flatten(name="flatten")(x)
    average, maximum = _POOL_LAYERS[len(x.shape)]
    if pooling == "max":
        return maximum(name="max_pool")(x)
    return average(name="avg_pool")(x)


def _dropout(x, rate: float, name: str, arg: str = "dropout"):
    if check_rate(arg, rate) > 0:
        x = layers.Dropout(rate, name=name)(x)
    return x


# ---------------------------------------------------------------- heads
def classification_head(
    x,
    *,
    include_top: bool,
    num_classes: int,
    pooling: str | None,
    classifier_activation: str | None,
    dropout: float = 0.0,
    name: str = "predictions",
    dropout_name: str = "top_dropout",
    kernel_initializer="glorot_uniform",
    kernel_regularizer=None,
):
    """Pooling, optional dropout, and the classifier (keras.applications).

    With `include_top=True` the features are pooled (`pooling`, default global
    average) and a Dense classifier is added. With `include_top=False` the
    feature map is returned, pooled only if `pooling` is given: exactly
    keras.applications' behaviour.

    Args:
        x: KerasTensor. Feature map of rank 3-5, or rank-2 features.
        include_top: bool. Add the classifier.
        num_classes: int. Classifier width.
        pooling: None, "avg", "max" or "flatten".
        classifier_activation: str or None. Activation of the classifier.
        dropout: float. Dropout rate before the classifier.
        name: str. Name of the classifier layer.
        dropout_name: str. Name of the dropout layer.
        kernel_initializer: str or keras initializer. For the classifier.
        kernel_regularizer: keras regularizer or None. For the classifier.

    Returns:
        KerasTensor: class scores (include_top) or the (pooled) features.

    Example:
    >>> x = keras.Input((8, 8, 16))
    >>> classification_head(x, include_top=True, num_classes=3, pooling="max",
    ...                     classifier_activation="softmax").shape
    (None, 3)
    """
    check_bool("include_top", include_top)
    check_rate("dropout", dropout)
    if include_top:  # the classifier's arguments matter only when it is built
        check_int("num_classes", num_classes, minimum=1)
        if classifier_activation is not None:
            check_activation_or_softmax(classifier_activation)
    x = pool(x, pooling, default="avg" if include_top else None)
    if not include_top:
        return x
    return dense_head(
        x,
        num_classes,
        activation=classifier_activation,
        dropout=dropout,
        name=name,
        dropout_name=dropout_name,
        dropout_arg="dropout",
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )


def dense_head(
    x,
    units: int,
    *,
    activation: str | None = None,
    dropout: float = 0.0,
    name: str = "predictions",
    dropout_name: str = "head_dropout",
    dropout_arg: str = "head_dropout",
    kernel_initializer="glorot_uniform",
    kernel_regularizer=None,
):
    """Optional dropout and a Dense output layer of `units` values.

    On pooled features (batch, features) it gives one output vector per
    example; on sequences (batch, steps, features) the Dense layer applies
    at every step (a padding mask on the input reaches the output).

    Args:
        x: KerasTensor. Features.
        units: int. Output width.
        activation: str or None. Output activation (None: linear).
        dropout: float. Dropout rate before the output layer.
        name: str. Name of the output layer.
        dropout_name: str. Name of the dropout layer.
        dropout_arg: str. Argument name used in errors about `dropout`.
        kernel_initializer: str or keras initializer. For the output layer.
        kernel_regularizer: keras regularizer or None. For the output layer.
    """
    x = _dropout(x, dropout, dropout_name, arg=dropout_arg)
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )(x)


def regression_head(x, num_outputs: int, *, activation: str | None = None, **kwargs):
    """Real-valued outputs: `dense_head` with `num_outputs` linear units.

    Args:
        x: KerasTensor. Features.
        num_outputs: int. Number of outputs.
        activation: str or None. Output activation (None: linear, for MSE).
        **kwargs: `dense_head` options (dropout, name, dropout_name, ...).
    """
    check_int("num_outputs", num_outputs, minimum=1)
    return dense_head(x, num_outputs, activation=activation, **kwargs)


def tagging_head(
    x, num_classes: int, *, classifier_activation: str | None = "softmax", **kwargs
):
    """A classifier at every time step: (batch, steps, num_classes).

    Args:
        x: KerasTensor. Sequence features (batch, steps, features); a padding
            mask on them reaches the output, so padded steps stay out of the
            loss and metrics.
        num_classes: int. Number of tags.
        classifier_activation: str or None. Per-step activation.
        **kwargs: `dense_head` options (dropout, name, dropout_name, ...).
    """
    check_int("num_classes", num_classes, minimum=1)
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    return dense_head(x, num_classes, activation=classifier_activation, **kwargs)


def language_model_head(
    x,
    vocabulary_size: int,
    *,
    name: str = "logits",
    use_bias: bool = True,
    kernel_initializer="glorot_uniform",
    dtype=None,
):
    """Vocabulary logits at every position: (batch, steps, vocabulary_size).

    Args:
        x: KerasTensor. Hidden states (batch, steps, hidden).
        vocabulary_size: int. Output width.
        name: str. Name of the projection layer.
        use_bias: bool. Bias on the projection.
        kernel_initializer: str or keras initializer. For the projection.
        dtype: dtype policy or None. E.g. "float32" to keep logits in full
            precision under mixed precision.
    """
    check_int("vocabulary_size", vocabulary_size, minimum=1)
    return layers.Dense(
        vocabulary_size,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=name,
        dtype=dtype,
    )(x)


def pixel_classification_head(
    x,
    num_classes: int,
    *,
    activation: str | None,
    dropout: float = 0.0,
    name: str = "predictions",
    dropout_name: str = "top_dropout",
    kernel_initializer="glorot_uniform",
):
    """Optional dropout and a 1x1 convolution classifying every pixel.

    Args:
        x: KerasTensor. Features (batch, height, width, channels), or
            (batch, channels, height, width) when built channels_first.
        num_classes: int. Number of classes (1 for a binary mask).
        activation: str or None. Per-pixel activation.
        dropout: float. Dropout rate before the classifier.
        name: str. Name of the convolution.
        dropout_name: str. Name of the dropout layer.
        kernel_initializer: str or keras initializer. For the convolution.
    """
    check_int("num_classes", num_classes, minimum=1)
    x = _dropout(x, dropout, dropout_name)
    # Conv2D's activation works on the last axis: a channels_first softmax
    # over the classes is a layer of its own.
    across_channels = activation == "softmax" and channel_axis() != -1
    x = layers.Conv2D(
        num_classes,
        1,
        activation=None if across_channels else activation,
        kernel_initializer=kernel_initializer,
        name=name,
    )(x)
    if across_channels:
        x = pixel_activation(x, activation, f"{name}_softmax")
    return x


def pixel_activation(x, activation: str | None, name: str):
    """Per-pixel activation layer; softmax runs over the class (channel) axis.

    Args:
        x: KerasTensor. Per-pixel class scores.
        activation: str or None. Activation (None: linear).
        name: str. Name of the layer.
    """
    if activation == "softmax" and channel_axis() != -1:
        return layers.Softmax(axis=channel_axis(), name=name)(x)
    return layers.Activation(activation or "linear", name=name)(x)


# ---------------------------------------------------------------- validation
def check_head_args(
    include_top, num_classes, pooling, classifier_activation, dropout=0.0
):
    """Validates the classification head hyperparameters (before building)."""
    check_bool("include_top", include_top)
    check_int("num_classes", num_classes, minimum=1)
    check_choice("pooling", pooling, POOLINGS)
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    check_rate("dropout", dropout)


#: The classifier-head arguments of a CNN builder, in signature order, as
#: `builder_args` tables (a builder may reword one by passing it again).
CLASSIFIER_ARGS = {
    "num_classes": Arg(1000, "int. Number of classes of the classifier."),
    "include_top": Arg(True, "bool. Add global pooling and the Dense classifier."),
    "pooling": Arg(
        None, 'str or None. None, "avg", "max" or "flatten" feature pooling.'
    ),
    "classifier_activation": Arg(
        "softmax", "str or None. Activation of the classifier."
    ),
    "dropout": Arg(0.0, "float. Dropout rate before the classifier."),
}
#: The last arguments of an image builder: a local weights file, data_format.
LOCAL_WEIGHTS = {
    "weights": Arg(None, "str or None. Path of a local weights file to load."),
    **DATA_FORMAT,
}


@dataclasses.dataclass(frozen=True)
class ClassificationHead:
    """A classification head's hyperparameters, validated once.

    A builder makes one at the top (so a bad value fails before any layer is
    built) and calls `model` at the end with its backbone's features.

    Attributes:
        include_top: bool. Add the classifier.
        num_classes: int. Classifier width.
        pooling: None, "avg", "max" or "flatten".
        classifier_activation: str or None. Activation of the classifier.
        dropout: float. Dropout rate before the classifier.
    """

    include_top: bool
    num_classes: int
    pooling: str | None = None
    classifier_activation: str | None = "softmax"
    dropout: float = 0.0

    def __post_init__(self):
        check_head_args(
            self.include_top,
            self.num_classes,
            self.pooling,
            self.classifier_activation,
            self.dropout,
        )

    @classmethod
    def from_hp(cls, hp: dict) -> ClassificationHead:
        """The head from a `builder_args` builder's hyperparameters `hp` (the
        dict holds one entry per field, under the field's name)."""
        return cls(**{field.name: hp[field.name] for field in dataclasses.fields(cls)})

    def __call__(self, x, **overrides):
        """Applies the head to features `x` (see `classification_head`).

        `overrides` replace fields or name layers, e.g. `dropout=0.0` where
        the family already applied its dropout in the hidden layers.
        """
        return classification_head(x, **{**dataclasses.asdict(self), **overrides})

    def model(self, inputs, x, name: str, weights: str | None = None, **overrides):
        """Attaches the head to `x` and returns the finished functional model.

        Without its classifier (`include_top=False`) the model outputs
        features and records the task "features", so the Trainer asks for an
        explicit loss instead of assuming one.
        """
        model = finish_model(inputs, self(x, **overrides), name, weights)
        return model if self.include_top else set_task(model, "features")
