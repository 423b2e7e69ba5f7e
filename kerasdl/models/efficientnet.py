"""EfficientNet B0-B7: MBConv blocks scaled in width, depth and resolution.

Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks" (arXiv:1905.11946). B0 stacks MBConv blocks (1x1 expansion,
depthwise conv, squeeze-and-excitation, linear 1x1 projection, drop-connect on
the shortcut) with swish activations; B1-B7 scale its width (channels) and
depth (blocks per stage) by compound coefficients and raise the input
resolution.

Layer names, widths, depths and the input preprocessing (Rescaling and
Normalization layers) follow keras.applications.EfficientNetB0..B7, so
parameter counts match at each variant's default resolution and 1000 classes.
Each registered variant ("efficientnet_b0".."efficientnet_b7") turns its
coefficients, resolution and dropout into defaults that can be overridden, as
keras-hub's EfficientNet presets do; `round_filters` and `round_repeats` are
the compound-scaling rules.
"""

from __future__ import annotations

import math

from keras import layers

from kerasdl.models._common import (
    TINY_IMAGE,
    check_activation,
    check_bool,
    check_float,
    check_initializer,
    check_int,
    check_rate,
    check_weights,
    conv_bn_act,
    correct_pad,
    make_input,
)
from kerasdl.models.heads import ClassificationHead
from kerasdl.models.layout import channel_axis, image_builder, is_channels_first
from kerasdl.registry import register_model

__all__ = [
    "VARIANTS",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "round_filters",
    "round_repeats",
]

# Variant: (width_coefficient, depth_coefficient, resolution, dropout), from
# the paper's compound scaling as published in keras.applications.
VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}

# B0's stages (Table 1): kernel, repeats, filters in, filters out,
# expansion ratio, first stride.
_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)

# keras.applications' initializers: He-style fan-out scaling for convolutions.
_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}


def round_filters(filters: int, width_coefficient: float, depth_divisor: int = 8):
    """Scales a channel count by the width coefficient, rounded to the divisor.

    Rounds to the nearest multiple of `depth_divisor` (at least one divisor)
    and never drops more than 10% below the scaled value.

    Args:
        filters: int. Channel count of EfficientNet-B0.
        width_coefficient: float. Width scaling coefficient (B7: 2.0).
        depth_divisor: int. Channel counts are multiples of this.

    Returns:
        int. The scaled channel count.

    Example:
    >>> round_filters(32, 1.1)
    32
    >>> round_filters(1280, 2.0)
    2560
    """
    scaled = filters * width_coefficient
    new_filters = max(
        depth_divisor, int(scaled + depth_divisor / 2) // depth_divisor * depth_divisor
    )
    if new_filters < 0.9 * scaled:
        new_filters += depth_divisor
    return int(new_filters)


def round_repeats(repeats: int, depth_coefficient: float) -> int:
    """Scales a stage's number of blocks by the depth coefficient, rounding up.

    Args:
        repeats: int. Blocks in the stage of EfficientNet-B0.
        depth_coefficient: float. Depth scaling coefficient (B7: 3.1).

    Returns:
        int. ceil(depth_coefficient * repeats).

    Example:
    >>> round_repeats(4, 3.1)
    13
    """
    return math.ceil(depth_coefficient * repeats)


def _mbconv(
    x,
    *,
    name,
    filters_in,
    filters_out,
    kernel_size,
    strides,
    expand_ratio,
    se_ratio,
    drop_rate,
    activation,
    batch_norm,
    init,
):
    """MBConv: expand, depthwise conv, squeeze-and-excitation, linear project."""
    inputs = x
    filters = filters_in * expand_ratio
    unit = {"batch_norm": batch_norm, "init": init}
    if expand_ratio != 1:
        names = (f"{name}expand_conv", f"{name}expand_bn", f"{name}expand_activation")
        x = conv_bn_act(x, filters, 1, names, activation=activation, **unit)
    if strides == 2:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(
            x
        )
    names = (f"{name}dwconv", f"{name}bn", f"{name}activation")
    x = conv_bn_act(
        x, None, kernel_size, names, strides=strides, activation=activation, **unit
    )

    if se_ratio > 0:
        # Channel attention: gates sized from the block's input width.
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        # (filters,) -> a 1x1 map, as keras.applications (same layer names).
        target = (filters, 1, 1) if is_channels_first() else (1, 1, filters)
        se = layers.Reshape(target, name=f"{name}se_reshape")(se)
        se = layers.Conv2D(
            filters_se,
            1,
            padding="same",
            activation=activation,
            kernel_initializer=init,
            name=f"{name}se_reduce",
        )(se)
        se = layers.Conv2D(
            filters,
            1,
            padding="same",
            activation="sigmoid",
            kernel_initializer=init,
            name=f"{name}se_expand",
        )(se)
        x = layers.Multiply(name=f"{name}se_excite")([x, se])

    # Linear bottleneck: no activation after the projection.
    names = (f"{name}project_conv", f"{name}project_bn", None)
    x = conv_bn_act(x, filters_out, 1, names, activation=None, **unit)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            # Drop-connect (stochastic depth): drops the whole residual branch
            # per sample, hence one mask value per example.
            x = layers.Dropout(
                drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop"
            )(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def _build(
    *,
    model_name,
    width_coefficient,
    depth_coefficient,
    depth_divisor,
    input_shape,
    num_classes,
    dropout,
    drop_connect_rate,
    se_ratio,
    activation,
    batch_norm,
    kernel_initializer,
    include_preprocessing,
    include_top,
    pooling,
    classifier_activation,
    weights,
):
    width_coefficient = check_float(
        "width_coefficient", width_coefficient, minimum=0, min_inclusive=False
    )
    depth_coefficient = check_float(
        "depth_coefficient", depth_coefficient, minimum=0, min_inclusive=False
    )
    check_int("depth_divisor", depth_divisor, minimum=1)
    check_rate("drop_connect_rate", drop_connect_rate)
    check_float("se_ratio", se_ratio, 0.0, 1.0)
    check_activation(activation)
    check_bool("batch_norm", batch_norm)
    check_bool("include_preprocessing", include_preprocessing)
    init = (
        _CONV_INIT
        if kernel_initializer is None
        else check_initializer(kernel_initializer)
    )
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    check_weights(weights)

    def width(filters):
        return round_filters(filters, width_coefficient, depth_divisor)

    inputs = make_input(input_shape, min_size=32)
    x = inputs
    if include_preprocessing:
        # As keras.applications: inputs are pixels in [0, 255]. The
        # Normalization statistics are weights (mean 0, variance 1 until
        # weights are loaded or the layer is adapted).
        x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
        x = layers.Normalization(axis=channel_axis(), name="normalization")(x)

    unit = {"activation": activation, "batch_norm": batch_norm, "init": init}
    x = layers.ZeroPadding2D(correct_pad(x, 3), name="stem_conv_pad")(x)
    names = ("stem_conv", "stem_bn", "stem_activation")
    x = conv_bn_act(x, width(32), 3, names, strides=2, **unit)

    total = sum(round_repeats(stage[1], depth_coefficient) for stage in _STAGES)
    index = 0
    for stage_id, stage in enumerate(_STAGES, start=1):
        kernel_size, repeats, filters_in, filters_out, expand_ratio, stride = stage
        filters_in, filters_out = width(filters_in), width(filters_out)
        for j in range(round_repeats(repeats, depth_coefficient)):
            x = _mbconv(
                x,
                name=f"block{stage_id}{chr(ord('a') + j)}_",
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                kernel_size=kernel_size,
                strides=stride if j == 0 else 1,
                expand_ratio=expand_ratio,
                se_ratio=se_ratio,
                # Stochastic depth grows linearly with depth.
                drop_rate=drop_connect_rate * index / total,
                activation=activation,
                batch_norm=batch_norm,
                init=init,
            )
            index += 1

    x = conv_bn_act(x, width(1280), 1, ("top_conv", "top_bn", "top_activation"), **unit)

    return head.model(inputs, x, model_name, weights)


_COMMON_ARGS_DOC = """\
    num_classes: int. Number of classes of the classifier.
    include_top: bool. Add the pooling, dropout and classifier head.
    pooling: str or None. None, "avg", "max" or "flatten" (Keras semantics).
    classifier_activation: str or None. Activation of the classifier.
    drop_connect_rate: float. Drop-connect (stochastic depth) scale: block i \
of n drops its residual branch with rate drop_connect_rate * i / n.
    se_ratio: float. Squeeze-and-excitation width as a fraction of the block's \
input channels; 0 removes the SE modules.
    activation: str. Activation of the network ("swish" in the paper).
    batch_norm: bool. Batch normalization after every convolution; without \
it the convolutions get biases.
    kernel_initializer: str or None. Initializer of the convolution kernels; \
None uses keras.applications' fan-out variance scaling.
    include_preprocessing: bool. Start with Rescaling(1/255) and \
Normalization layers as keras.applications (inputs are pixels in [0, 255]).
    weights: str or None. None or the path of a local weights file.
"""


def _make_variant(variant: str):
    """Returns the builder of one variant: its coefficients become defaults."""
    default_width, default_depth, resolution, default_dropout = VARIANTS[variant]

    def builder(
        input_shape=(resolution, resolution, 3),
        num_classes: int = 1000,
        width_coefficient: float = default_width,
        depth_coefficient: float = default_depth,
        dropout: float = default_dropout,
        drop_connect_rate: float = 0.2,
        se_ratio: float = 0.25,
        activation: str = "swish",
        batch_norm: bool = True,
        kernel_initializer: str | None = None,
        include_preprocessing: bool = True,
        include_top: bool = True,
        pooling: str | None = None,
        classifier_activation: str | None = "softmax",
        weights: str | None = None,
        data_format: str | None = None,
    ):
        # image_builder builds in data_format's scope: _build reads the layout.
        return _build(
            model_name=f"efficientnet_{variant}",
            width_coefficient=width_coefficient,
            depth_coefficient=depth_coefficient,
            depth_divisor=8,
            input_shape=input_shape,
            num_classes=num_classes,
            dropout=dropout,
            drop_connect_rate=drop_connect_rate,
            se_ratio=se_ratio,
            activation=activation,
            batch_norm=batch_norm,
            kernel_initializer=kernel_initializer,
            include_preprocessing=include_preprocessing,
            include_top=include_top,
            pooling=pooling,
            classifier_activation=classifier_activation,
            weights=weights,
        )

    builder.__name__ = builder.__qualname__ = f"efficientnet_{variant}"
    builder.__doc__ = f"""EfficientNet-{variant.upper()} (Tan & Le 2019), \
width {default_width}, depth {default_depth}, {resolution}px.

MBConv blocks with squeeze-and-excitation, swish and drop-connect; layer names
as keras.applications.EfficientNet{variant.upper()} ("stem_conv",
"block1a_dwconv", "top_conv", ...).

Args:
    input_shape: tuple. Input (height, width, channels); sides >= 32 \
({resolution} is the variant's resolution).
    width_coefficient: float. Channel scaling of B0's widths ({default_width} \
for this variant), rounded by `round_filters`.
    depth_coefficient: float. Blocks-per-stage scaling of B0's depths \
({default_depth} for this variant), rounded up by `round_repeats`.
    dropout: float. Dropout rate before the classifier ({default_dropout} for \
this variant).
{_COMMON_ARGS_DOC}
Returns:
    keras.Model named "efficientnet_{variant}".

Raises:
    ValueError: if a hyperparameter is invalid (message names it).

Example:
>>> model = kerasdl.build("efficientnet_{variant}", input_shape=(32, 32, 3),
...                       num_classes=10)
"""
    # Wrapped last: image_builder adds data_format's line to this docstring.
    return image_builder(builder)


efficientnet_b0 = _make_variant("b0")
efficientnet_b1 = _make_variant("b1")
efficientnet_b2 = _make_variant("b2")
efficientnet_b3 = _make_variant("b3")
efficientnet_b4 = _make_variant("b4")
efficientnet_b5 = _make_variant("b5")
efficientnet_b6 = _make_variant("b6")
efficientnet_b7 = _make_variant("b7")

for _builder in (
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
):
    register_model(
        _builder.__name__,
        _builder,
        family="efficientnet",
        # Test variant: B0's depth (16 blocks) at a quarter of the width; each
        # variant's own depth is built by the parameter-count tests.
        tiny={**TINY_IMAGE, "width_coefficient": 0.25, "depth_coefficient": 1.0},
    )
del _builder
