"""MobileNet v1 and v2: depthwise separable convolutions for mobile vision.

- "mobilenet": Howard et al. 2017, "MobileNets: Efficient Convolutional Neural
  Networks for Mobile Vision Applications" (arXiv:1704.04861).
- "mobilenet_v2": Sandler et al. 2018, "MobileNetV2: Inverted Residuals and
  Linear Bottlenecks" (arXiv:1801.04381).

Layer names and widths follow keras.applications (MobileNet, MobileNetV2), so
parameter counts match at the same input size and number of classes. The
classifier is kerasdl's shared head ("avg_pool", "top_dropout",
"predictions"); keras.applications' MobileNet v1 uses an equivalent 1x1
convolution there, which has the same number of parameters.
"""

from __future__ import annotations

from keras import layers

from kerasdl.models._common import (
    TINY_IMAGE,
    check_conv_style,
    check_float,
    check_int,
    conv_bn_act,
    correct_pad,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import ClassificationHead
from kerasdl.models.layout import DATA_FORMAT, channels, image_builder
from kerasdl.registry import register_model

__all__ = ["make_divisible", "mobilenet", "mobilenet_v2"]

# (pointwise filters, stride) of the 13 depthwise separable blocks (Table 1).
_V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

# (expansion t, output channels c, repeats n, first stride s): Table 2 of v2.
_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# keras.applications' MobileNetV2 batch-norm settings (the TF-Slim ones).
_V2_BN = {"epsilon": 1e-3, "momentum": 0.999}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None):
    """Rounds a channel count to the nearest multiple of `divisor`.

    The result never drops more than 10% below `value`, as in the MobileNetV2
    reference code (and keras.applications' `_make_divisible`).

    Args:
        value: float. Unrounded channel count (e.g. 32 * alpha).
        divisor: int. The multiple to round to.
        min_value: int or None. Smallest result; defaults to `divisor`.

    Returns:
        int. The rounded channel count.

    Example:
    >>> make_divisible(32 * 0.35)
    16
    """
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def _start(hp: dict):
    """Both MobileNets: checks, the input, and `conv_bn_act`'s shared arguments
    from the builder's hyperparameters `hp`."""
    init = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"], hp["weights"]
    )
    unit = {
        "activation": hp["activation"],
        "batch_norm": hp["batch_norm"],
        "init": init,
    }
    return make_input(hp["input_shape"], min_size=32), unit


# The arguments that both MobileNets take (default and Args line each).
_IMAGE = {
    "input_shape": Arg(
        (224, 224, 3), "tuple. Input (height, width, channels); sides >= 32."
    ),
    "num_classes": Arg(1000, "int. Number of classes of the classifier."),
}
_TAIL = {
    "batch_norm": Arg(
        True,
        "bool. Batch normalization after every convolution; without it the "
        "convolutions get biases.",
    ),
    "kernel_initializer": Arg(
        "glorot_uniform", "str. Initializer of the convolution kernels."
    ),
    "include_top": Arg(True, "bool. Add the pooling, dropout and classifier head."),
    "pooling": Arg(
        None, 'str or None. None, "avg", "max" or "flatten" (Keras semantics).'
    ),
    "classifier_activation": Arg(
        "softmax", "str or None. Activation of the classifier."
    ),
    "weights": Arg(None, "str or None. None or the path of a local weights file."),
    **DATA_FORMAT,
}


@image_builder
@builder_args(
    _IMAGE,
    {
        "alpha": Arg(
            1.0,
            "float. Width multiplier: every layer gets int(filters * alpha) filters "
            "(1.0, 0.75, 0.5, 0.25 in the paper).",
        ),
        "depth_multiplier": Arg(
            1,
            "int. Channel multiplier of the depthwise convolutions (called "
            "resolution multiplier in keras.applications' docs).",
        ),
        "dropout": Arg(
            1e-3, "float. Dropout rate before the classifier (1e-3 as in Keras)."
        ),
        "activation": Arg(
            "relu6", 'str. Activation after every convolution ("relu6" as Keras).'
        ),
    },
    _TAIL,
    sections=builder_sections("mobilenet"),
)
def mobilenet(hp):
    """MobileNet v1 (Howard et al. 2017): 13 depthwise separable conv blocks.

    Each block is a 3x3 depthwise convolution and a 1x1 pointwise convolution,
    each followed by batch normalization and ReLU6. Layer names match
    keras.applications.MobileNet ("conv1", "conv_dw_1", "conv_pw_1_bn", ...).

    Args:
        {args}

    Example:
    >>> model = kerasdl.build("mobilenet", input_shape=(32, 32, 3), alpha=0.5,
    ...                       num_classes=10)
    """
    # int(32 * alpha) filters in the stem: at least one.
    hp["alpha"] = check_float("alpha", hp["alpha"], minimum=1 / 32)
    check_int("depth_multiplier", hp["depth_multiplier"], minimum=1)
    head = ClassificationHead.from_hp(hp)
    inputs, unit = _start(hp)
    names = ("conv1", "conv1_bn", "conv1_relu")
    x = conv_bn_act(
        inputs, int(32 * hp["alpha"]), 3, names, strides=2, padding="same", **unit
    )

    for block_id, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        if stride == 2:
            # TF-style asymmetric padding: pad bottom/right, then a valid conv.
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        dw, pw = f"conv_dw_{block_id}", f"conv_pw_{block_id}"
        names = (dw, f"{dw}_bn", f"{dw}_relu")
        x = conv_bn_act(
            x,
            None,
            3,
            names,
            strides=stride,
            depth_multiplier=hp["depth_multiplier"],
            **unit,
        )
        names = (pw, f"{pw}_bn", f"{pw}_relu")
        x = conv_bn_act(x, int(filters * hp["alpha"]), 1, names, **unit)

    return head.model(inputs, x, "mobilenet", hp["weights"])


def _inverted_residual(
    x, *, expansion, stride, filters, block_id, activation, batch_norm, init
):
    """One MobileNetV2 block: 1x1 expand, 3x3 depthwise, linear 1x1 project."""
    inputs = x
    in_channels = channels(x)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    unit = {"batch_norm": batch_norm, "init": init, "bn_kwargs": _V2_BN}

    def names(role):
        return (f"{prefix}{role}", f"{prefix}{role}_BN", f"{prefix}{role}_relu")

    if block_id:  # the first block (expansion 1) has no expansion conv
        x = conv_bn_act(
            x,
            expansion * in_channels,
            1,
            names("expand"),
            activation=activation,
            **unit,
        )
    if stride == 2:
        x = layers.ZeroPadding2D(correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = conv_bn_act(
        x, None, 3, names("depthwise"), strides=stride, activation=activation, **unit
    )
    # Linear bottleneck: no activation after the projection.
    x = conv_bn_act(x, filters, 1, names("project"), activation=None, **unit)
    if in_channels == filters and stride == 1:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
    return x


@image_builder
@builder_args(
    _IMAGE,
    {
        "alpha": Arg(
            1.0,
            "float. Width multiplier; block widths are rounded to multiples of 8 and "
            "the last conv is widened only when alpha > 1 (as in Keras).",
        ),
        "dropout": Arg(
            0.0, "float. Dropout rate before the classifier (Keras has none)."
        ),
        "activation": Arg(
            "relu6", "str. Activation after the expansion and depthwise convs."
        ),
    },
    _TAIL,
    sections=builder_sections("mobilenet_v2"),
)
def mobilenet_v2(hp):
    """MobileNetV2 (Sandler et al. 2018): inverted residuals, linear bottlenecks.

    17 inverted residual blocks (1x1 expansion, 3x3 depthwise, linear 1x1
    projection, identity shortcut when shapes allow) between a stride-2 stem
    and a 1x1 conv to 1280 channels. Layer names match
    keras.applications.MobileNetV2 ("Conv1", "block_1_expand", "out_relu", ...).

    Args:
        {args}

    Example:
    >>> model = kerasdl.build("mobilenet_v2", input_shape=(32, 32, 3),
    ...                       alpha=0.35, num_classes=10)
    """
    # widths are rounded up to >= 8
    hp["alpha"] = check_float("alpha", hp["alpha"], minimum=0, min_inclusive=False)
    head = ClassificationHead.from_hp(hp)
    inputs, unit = _start(hp)
    unit["bn_kwargs"] = _V2_BN
    names = ("Conv1", "bn_Conv1", "Conv1_relu")
    x = conv_bn_act(
        inputs,
        make_divisible(32 * hp["alpha"], 8),
        3,
        names,
        strides=2,
        padding="same",
        **unit,
    )

    block_id = 0
    for expansion, width, repeats, first_stride in _V2_STAGES:
        filters = make_divisible(int(width * hp["alpha"]), 8)
        for i in range(repeats):
            x = _inverted_residual(
                x,
                expansion=expansion,
                stride=first_stride if i == 0 else 1,
                filters=filters,
                block_id=block_id,
                activation=hp["activation"],
                batch_norm=hp["batch_norm"],
                init=unit["init"],
            )
            block_id += 1

    # The paper widens, but never narrows, the last conv with alpha.
    last_filters = make_divisible(1280 * hp["alpha"], 8) if hp["alpha"] > 1.0 else 1280
    names = ("Conv_1", "Conv_1_bn", "out_relu")
    x = conv_bn_act(x, last_filters, 1, names, padding="valid", **unit)

    return head.model(inputs, x, "mobilenet_v2", hp["weights"])


register_model(
    "mobilenet",
    mobilenet,
    family="mobilenet",
    tiny={**TINY_IMAGE, "alpha": 0.25},
)
register_model(
    "mobilenet_v2",
    mobilenet_v2,
    family="mobilenet",
    tiny={**TINY_IMAGE, "alpha": 0.35},
)
