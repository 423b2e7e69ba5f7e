"""Pieces every builder shares: validation, inputs, activations, weights.

Builders stay thin by calling these; heads live in `kerasdl.models.heads`.
"""

from __future__ import annotations

import contextlib
import os
from types import MappingProxyType

import keras
from keras import layers

# The argument checks are the ground floor's; builders import them from here
# or from kerasdl._checks alike.
from kerasdl._checks import (  # noqa: F401 (re-exported)
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_rate,
    is_shape,
)
from kerasdl.models.layout import channel_axis, is_channels_first, spatial_shape

# The axes of an image input without batch dimension, by is_channels_first().
_IMAGE_AXES = {
    False: ("height", "width", "channels"),
    True: ("channels", "height", "width"),
}

# The input of every image family's tiny test variant (registry `tiny`):
# 32x32 RGB images, three classes. Read-only; spread it into a new dict.
TINY_IMAGE = MappingProxyType({"input_shape": (32, 32, 3), "num_classes": 3})

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


# ---------------------------------------------------------------- validation
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
    if not is_shape(input_shape):
        raise ValueError(
            f"Invalid {arg}={input_shape!r}: expected a tuple of positive "
            "integers (None allowed), without the batch dimension."
        )
    if rank is not None and len(input_shape) != rank:
        raise ValueError(
            f"Invalid {arg}={tuple(input_shape)!r}: expected {rank} dimensions"
            + (
                f" ({', '.join(_IMAGE_AXES[is_channels_first()])})."
                if rank == 3
                else "."
            )
        )
    if min_size is not None:
        spatial = spatial_shape(input_shape) if rank and rank > 1 else input_shape
        small = [d for d in spatial if d is not None and d < min_size]
        if small:
            raise ValueError(
                f"Invalid {arg}={tuple(input_shape)!r}: spatial sizes must be at "
                f"least {min_size} for this architecture."
            )
    return tuple(input_shape)


def check_conv_style(activation, batch_norm, kernel_initializer, weights=None) -> str:
    """Checks the hyperparameters every CNN builder shares, before building.

    Args:
        activation: str. Hidden activation (see `ACTIVATIONS`).
        batch_norm: bool. Batch normalization switch.
        kernel_initializer: str. Initializer name or alias.
        weights: str or None. Local weights file (checked to exist).

    Returns:
        str. The Keras name of the initializer.
    """
    check_activation(activation)
    check_bool("batch_norm", batch_norm)
    check_weights(weights)
    return check_initializer(kernel_initializer)


# ---------------------------------------------------------------- building
def make_input(
    input_shape, rank: int | None = 3, min_size: int | None = None, name: str = "input"
):
    """Validates `input_shape` and returns a `keras.Input`."""
    shape = check_input_shape(input_shape, rank=rank, min_size=min_size)
    return keras.Input(shape=shape, name=name)


def correct_pad(x, kernel_size: int):
    """Padding that makes a valid stride-2 conv match TF's "same" output size."""
    height, width = spatial_shape(x.shape[1:])
    adjust = (1, 1) if height is None else (1 - height % 2, 1 - width % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def activation_layer(activation: str, name: str | None = None):
    """Returns a Keras layer applying `activation` (validated)."""
    check_activation(activation)
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2, name=name)
    return layers.Activation(activation, name=name)


def channel_bn(x, name: str, **kwargs):
    """BatchNormalization over the channel axis of the current layout."""
    return layers.BatchNormalization(axis=channel_axis(), name=name, **kwargs)(x)


def concat_channels(tensors, name: str):
    """Concatenates feature maps along the channel axis of the current layout."""
    return layers.Concatenate(axis=channel_axis(), name=name)(tensors)


def conv_bn_act(
    x,
    filters: int | None,
    kernel_size: int,
    names: tuple,
    *,
    activation: str | None,
    batch_norm: bool,
    init: str,
    strides: int = 1,
    padding: str | None = None,
    bn_kwargs: dict | None = None,
    **conv_kwargs,
):
    """Conv2D (DepthwiseConv2D when `filters` is None) -> [BN] -> [activation].

    The convolution has a bias only without batch normalization, and pads
    "same" unless strided ("valid", after the caller's explicit padding),
    as keras.applications' MobileNets and EfficientNets do.

    Args:
        x: KerasTensor. Input feature map.
        filters: int or None. Output channels; None for a depthwise conv.
        kernel_size: int. Kernel size.
        names: tuple of str. Names of the convolution, the batch
            normalization and the activation layers.
        activation: str or None. Activation; None for a linear output.
        batch_norm: bool. Batch normalization after the convolution.
        init: str. Kernel initializer.
        strides: int. Convolution strides.
        padding: str or None. Overrides the "same"/"valid" choice.
        bn_kwargs: dict or None. BatchNormalization arguments (epsilon, ...).
        **conv_kwargs: Further convolution arguments (depth_multiplier, ...).
    """
    if padding is None:
        padding = "same" if strides == 1 else "valid"
    common = {
        "strides": strides,
        "padding": padding,
        "use_bias": not batch_norm,
        "name": names[0],
        **conv_kwargs,
    }
    if filters is None:
        x = layers.DepthwiseConv2D(kernel_size, depthwise_initializer=init, **common)(x)
    else:
        x = layers.Conv2D(filters, kernel_size, kernel_initializer=init, **common)(x)
    if batch_norm:
        x = channel_bn(x, names[1], **(bn_kwargs or {}))
    if activation is not None:
        x = activation_layer(activation, name=names[2])(x)
    return x


def dense_block(
    x,
    units: int,
    name: str,
    *,
    activation: str,
    dropout: float = 0.0,
    batch_norm: bool = False,
    bn_momentum: float = 0.99,
    act_name: str | None = None,
    dropout_name: str | None = None,
    **dense_kwargs,
):
    """Dense -> [BatchNormalization] -> activation -> [Dropout].

    Layers are "{name}", "{name}_bn", "{name}_act" and "{name}_dropout"
    unless `act_name`/`dropout_name` name them otherwise.

    Args:
        x: KerasTensor. Input features.
        units: int. Width of the Dense layer.
        name: str. Name of the Dense layer and prefix of the others.
        activation: str. Hidden activation (validated).
        dropout: float. Dropout rate after the activation (none when 0).
        batch_norm: bool. Batch normalization between Dense and activation.
        bn_momentum: float. Momentum of its moving statistics (Keras' 0.99).
        act_name: str or None. Name of the activation layer.
        dropout_name: str or None. Name of the dropout layer.
        **dense_kwargs: Further `keras.layers.Dense` arguments
            (kernel_initializer, kernel_regularizer, ...).
    """
    x = layers.Dense(units, name=name, **dense_kwargs)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    x = activation_layer(activation, name=act_name or f"{name}_act")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=dropout_name or f"{name}_dropout")(x)
    return x


def dense_stack(
    x,
    units,
    name: str,
    *,
    start: int = 1,
    act_name: str | None = None,
    dropout_name: str | None = None,
    **block_kwargs,
):
    """One `dense_block` per width in `units`, numbered from `start`.

    Args:
        x: KerasTensor. Input features.
        units: list of int. Width of each Dense layer, input to output.
        name: str. Name template of the Dense layers, with "{i}" for the
            block number ("dense{i}" -> "dense1", "dense2", ...).
        start: int. Number of the first block.
        act_name: str or None. Template of the activation layers' names
            (default: dense_block's "{name}_act").
        dropout_name: str or None. Template of the dropout layers' names.
        **block_kwargs: Further `dense_block` arguments (activation,
            dropout, batch_norm, kernel_initializer, ...).
    """
    for i, width in enumerate(units, start=start):
        x = dense_block(
            x,
            width,
            name.format(i=i),
            act_name=act_name and act_name.format(i=i),
            dropout_name=dropout_name and dropout_name.format(i=i),
            **block_kwargs,
        )
    return x


def check_activation_or_softmax(value: str) -> str:
    """Validates a classifier activation: softmax or any hidden activation."""
    return check_choice("classifier_activation", value, ("softmax", None) + ACTIVATIONS)


def leaf_layers(model) -> list:
    """Layers in graph order, nested sub-models expanded in place.

    Unlike `kerasdl._keras_compat.flatten_layers` this walks `model.layers`
    only (the graph's nodes), so layers held inside custom layers stay whole.
    """
    leaves = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves.extend(leaf_layers(layer))
        else:
            leaves.append(layer)
    return leaves


@contextlib.contextmanager
def dtype_policy_scope(policy):
    """Makes `policy` Keras' global dtype policy inside a `with` block.

    Layers read the global policy when they are constructed, so a model
    built inside the block computes under `policy`. The previous policy is
    restored on exit, also when the block raises.

    Args:
        policy: str or keras.DTypePolicy, e.g. "mixed_float16".

    Yields:
        keras.DTypePolicy: the active policy.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield keras.config.dtype_policy()
    finally:
        keras.config.set_dtype_policy(previous)


def float32_under_mixed():
    """The `dtype` of a layer whose outputs must stay float32.

    Layers that produce a model's outputs (images, scores, distribution
    parameters that a loss reads) keep float32 under a mixed global policy,
    so outputs and losses are computed in float32 (a float16 log-likelihood
    or softmax loses precision or overflows).

    Returns:
        "float32" when the global dtype policy is mixed (its compute dtype
        differs from its variable dtype); None otherwise (the layer follows
        the global policy, as any other layer).
    """
    policy = keras.config.dtype_policy()
    return "float32" if policy.compute_dtype != policy.variable_dtype else None


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
