"""Pieces every builder shares: validation, inputs, activations, heads, weights.

Builders stay thin by calling these; no family copies its own head.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import keras
from keras import layers

from kerasdl.registry import closest

ACTIVATIONS = (
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "mish",
    "tanh",
    "sigmoid",
    "softplus",
    "linear",
)
INITIALIZERS = {
    "he_normal": "he_normal",
    "he_uniform": "he_uniform",
    "he": "he_normal",
    "glorot_uniform": "glorot_uniform",
    "glorot_normal": "glorot_normal",
    "glorot": "glorot_uniform",
    "xavier": "glorot_uniform",
    "lecun_normal": "lecun_normal",
    "lecun_uniform": "lecun_uniform",
    "random_normal": "random_normal",
    "truncated_normal": "truncated_normal",
    "orthogonal": "orthogonal",
    "zeros": "zeros",
}
POOLINGS = (None, "avg", "max", "flatten")


# ---------------------------------------------------------------- validation
def check_choice(arg: str, value, choices: Iterable) -> Any:
    """Returns `value` if it is one of `choices`, else raises a ValueError."""
    choices = list(choices)
    if value in choices:
        return value
    hint = closest(value, [c for c in choices if isinstance(c, str)])
    raise ValueError(
        f"Invalid {arg}={value!r}.{hint} Accepted: "
        f"{', '.join(repr(c) for c in choices)}."
    )


def check_int(arg: str, value, minimum: int = 1) -> int:
    """Returns `value` if it is an int >= minimum, else raises a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Invalid {arg}={value!r}: expected an integer >= {minimum}.")
    return value


def check_float(
    arg: str, value, low: float = 0.0, high: float = 1.0, high_inclusive: bool = False
) -> float:
    """Returns `value` if it is a number in [low, high) (or [low, high])."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(
            f"Invalid {arg}={value!r}: expected a number in [{low}, {high}{bracket}."
        )
    return float(value)


def check_bool(arg: str, value) -> bool:
    """Returns `value` if it is a bool, else raises a ValueError."""
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {arg}={value!r}: expected a bool (True or False).")
    return value


def check_int_list(arg: str, value, minimum: int = 1) -> list[int]:
    """Returns `value` as a list of ints >= minimum, else raises a ValueError."""
    values = (
        [value] if isinstance(value, int) and not isinstance(value, bool) else value
    )
    if (
        not isinstance(values, (list, tuple))
        or not values
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum
            for v in values
        )
    ):
        raise ValueError(
            f"Invalid {arg}={value!r}: expected a non-empty list of integers "
            f">= {minimum}."
        )
    return list(values)


def check_activation(value: str, arg: str = "activation") -> str:
    """Validates an activation name (see `ACTIVATIONS`)."""
    return check_choice(arg, value, ACTIVATIONS)


def check_initializer(value: str, arg: str = "kernel_initializer") -> str:
    """Maps an initializer alias ("he", "glorot", ...) to its Keras name."""
    return INITIALIZERS[check_choice(arg, value, INITIALIZERS)]


def check_input_shape(
    input_shape,
    rank: int | None = 3,
    min_size: int | None = None,
    arg: str = "input_shape",
) -> tuple:
    """Validates an input shape (without batch dimension) and returns a tuple.

    Args:
        input_shape: tuple/list of ints (None allowed for spatial dims).
        rank: int or None. Required number of dimensions.
        min_size: int or None. Smallest allowed spatial size.
        arg: str. Argument name used in errors.
    """
    if not isinstance(input_shape, (list, tuple)) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
        for d in input_shape
    ):
        raise ValueError(
            f"Invalid {arg}={input_shape!r}: expected a tuple of positive "
            "integers (None allowed), without the batch dimension."
        )
    if rank is not None and len(input_shape) != rank:
        raise ValueError(
            f"Invalid {arg}={tuple(input_shape)!r}: expected {rank} dimensions"
            + (" (height, width, channels)." if rank == 3 else ".")
        )
    if min_size is not None:
        spatial = input_shape[:-1] if rank and rank > 1 else input_shape
        small = [d for d in spatial if d is not None and d < min_size]
        if small:
            raise ValueError(
                f"Invalid {arg}={tuple(input_shape)!r}: spatial sizes must be at "
                f"least {min_size} for this architecture."
            )
    return tuple(input_shape)


# ---------------------------------------------------------------- building
def make_input(
    input_shape, rank: int | None = 3, min_size: int | None = None, name: str = "input"
):
    """Validates `input_shape` and returns a `keras.Input`."""
    shape = check_input_shape(input_shape, rank=rank, min_size=min_size)
    return keras.Input(shape=shape, name=name)


def correct_pad(x, kernel_size: int):
    """Padding that makes a valid stride-2 conv match TF's "same" output size."""
    height, width = x.shape[1], x.shape[2]
    adjust = (1, 1) if height is None else (1 - height % 2, 1 - width % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def activation_layer(activation: str, name: str | None = None):
    """Returns a Keras layer applying `activation` (validated)."""
    check_activation(activation)
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2, name=name)
    return layers.Activation(activation, name=name)


def classification_head(
    x,
    *,
    include_top: bool,
    num_classes: int,
    pooling: str | None,
    classifier_activation: str | None,
    dropout: float = 0.0,
    name: str = "predictions",
    kernel_regularizer=None,
):
    """Shared head: pooling, optional dropout, and the classifier.

    With `include_top=True` the features are pooled (`pooling`, default global
    average) and a Dense classifier is added. With `include_top=False` the
    feature map is returned, pooled only if `pooling` is given: exactly
    keras.applications' behaviour.

    Args:
        x: KerasTensor. Rank-4 feature map (or rank-2 features).
        include_top: bool. Add the classifier.
        num_classes: int. Classifier width.
        pooling: None, "avg", "max" or "flatten".
        classifier_activation: str or None. Activation of the classifier.
        dropout: float. Dropout rate before the classifier.
        name: str. Name of the classifier layer.
        kernel_regularizer: keras regularizer or None. For the classifier.
    """
    check_choice("pooling", pooling, POOLINGS)
    if not isinstance(include_top, bool):
        raise ValueError(f"Invalid include_top={include_top!r}: expected a bool.")
    check_float("dropout", dropout)
    if include_top:
        check_int("num_classes", num_classes)
        if classifier_activation is not None:
            check_activation_or_softmax(classifier_activation)
    if len(x.shape) > 2:
        if pooling == "max":
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        elif pooling == "flatten":
            x = layers.Flatten(name="flatten")(x)
        elif pooling == "avg" or include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if not include_top:
        return x
    if dropout > 0:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    return layers.Dense(
        num_classes,
        activation=classifier_activation,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )(x)


def check_activation_or_softmax(value: str) -> str:
    """Validates a classifier activation: softmax or any hidden activation."""
    return check_choice("classifier_activation", value, ("softmax", None) + ACTIVATIONS)


def load_weights(model, weights: str | None, arg: str = "weights"):
    """Loads weights from a local file; never downloads.

    Args:
        model: keras.Model to load into.
        weights: None or a path to a `.weights.h5` / `.keras` file.

    Raises:
        ValueError: if `weights` is not None and not an existing local file.
    """
    if weights is None:
        return model
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise ValueError(
            f"Invalid {arg}={weights!r}: expected None or the path of a local "
            "weights file (.weights.h5 or .keras). kerasdl never downloads "
            "weights; place the file locally and pass its path."
        )
    path = os.fspath(weights)
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        model.set_weights(source.get_weights())
    else:
        model.load_weights(path)
    return model


def check_weights(weights, arg: str = "weights") -> None:
    """Fails before building when `weights` is neither None nor a local file."""
    if weights is not None and not (
        isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)
    ):
        load_weights(None, weights, arg=arg)  # raises the descriptive ValueError


def check_head_args(
    include_top, num_classes, pooling, classifier_activation, dropout=0.0
):
    """Validates the common head hyperparameters before any layer is built."""
    if not isinstance(include_top, bool):
        raise ValueError(f"Invalid include_top={include_top!r}: expected a bool.")
    check_int("num_classes", num_classes)
    check_choice("pooling", pooling, POOLINGS)
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    check_float("dropout", dropout)
