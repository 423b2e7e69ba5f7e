"""ResNets: v1 (He et al. 2015), v2 pre-activation (He et al. 2016), CIFAR.

All three builders follow keras.applications' layout and layer names
("conv1_conv", "conv2_block1_1_conv", ..., "predictions"), so ResNet50/101/152
and ResNet50V2/101V2/152V2 match keras.applications layer for layer and in
parameter count. ResNet-18/34 (basic blocks, absent from keras.applications)
and the CIFAR ResNets use the same naming scheme.

Registered names:
    resnet18, resnet34, resnet50, resnet101, resnet152 (family "resnet"),
    resnet18v2, ..., resnet152v2 (family "resnet_v2"),
    resnet20, resnet32, resnet44, resnet56, resnet110 (family "resnet_cifar").
"""

from __future__ import annotations

from typing import NamedTuple

from keras import layers

from kerasdl._checks import check_bool, check_choice, check_int
from kerasdl.layers.channel_padding import ChannelPadding
from kerasdl.models._common import (
    TINY_IMAGE,
    activation_layer,
    check_conv_style,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import ClassificationHead
from kerasdl.models.layout import DATA_FORMAT, channel_axis, channels, image_builder
from kerasdl.registry import register_model

__all__ = ["resnet_cifar", "resnet_v1", "resnet_v2"]

_BN_EPSILON = 1.001e-5  # keras.applications' value

# depth -> (residual block, blocks per stage conv2..conv5)
_IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
_CIFAR_DEPTHS = (20, 32, 44, 56, 110)


class _Style(NamedTuple):
    """Per-model layer options shared by every block."""

    activation: str
    batch_norm: bool
    use_bias: bool
    initializer: str


# ---------------------------------------------------------------- validation
def _check_dilation(value) -> tuple[bool, bool, bool]:
    if value is None:
        return (False, False, False)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(isinstance(v, bool) for v in value)
    ):
        raise ValueError(
            f"Invalid replace_stride_with_dilation={value!r}: expected None or "
            "3 booleans, one per stage conv3, conv4, conv5 (e.g. "
            "[False, True, True] for output stride 8)."
        )
    return tuple(value)


def _check_style(hp: dict) -> _Style:
    """The checks every ResNet builder makes on its hyperparameters `hp`;
    returns the blocks' layer options."""
    check_int("base_filters", hp["base_filters"], minimum=1)
    initializer = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"], hp["weights"]
    )
    return _Style(
        activation=hp["activation"],
        batch_norm=hp["batch_norm"],
        use_bias=check_bool("use_bias", hp["use_bias"]),
        initializer=initializer,
    )


# ---------------------------------------------------------------- layers
def _stem_pool(x):
    """The ImageNet stem's 3x3/2 max pool ("pool1_pad", "pool1_pool")."""
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _conv(
    x,
    filters,
    kernel_size,
    name,
    style,
    *,
    strides=1,
    dilation=1,
    use_bias=None,
    explicit_pad=False,
):
    """Conv2D "{name}_conv", zero-padded by "{name}_pad" when strided.

    Strided convolutions pad symmetrically (as the papers and torchvision do)
    rather than with TensorFlow's asymmetric "same" padding.
    """
    pad = dilation * (kernel_size - 1) // 2
    padding = "same" if pad else "valid"
    if pad and (strides > 1 or explicit_pad):
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        use_bias=style.use_bias if use_bias is None else use_bias,
        kernel_initializer=style.initializer,
        name=f"{name}_conv",
    )(x)


def _bn(x, name, style, force=False):
    if not (style.batch_norm or force):
        return x
    return layers.BatchNormalization(
        axis=channel_axis(), epsilon=_BN_EPSILON, name=f"{name}_bn"
    )(x)


def _act(x, name, style):
    return activation_layer(style.activation, name=name)(x)


def _conv_bn_act(x, filters, kernel_size, name, style, **conv_kwargs):
    """`_conv` -> "{name}_bn" (if batch_norm) -> "{name}_{activation}"."""
    x = _conv(x, filters, kernel_size, name, style, **conv_kwargs)
    x = _bn(x, name, style)
    return _act(x, f"{name}_{style.activation}", style)


# ---------------------------------------------------------------- v1 blocks
def _basic_v1(x, filters, name, style, *, strides=1, dilation=(1, 1), shortcut="B"):
    """Two 3x3 convolutions; stride in the first (He et al. 2015, Fig. 2)."""
    in_channels = channels(x)
    if strides != 1 or in_channels != filters:
        if shortcut == "A":
            # Identity, subsampled and zero-padded to the new width.
            short = x
            if strides > 1:
                short = layers.MaxPooling2D(1, strides=strides, name=f"{name}_0_pool")(
                    x
                )
            extra = filters - in_channels
            short = ChannelPadding(
                (extra // 2, extra - extra // 2),
                axis=channel_axis(),
                name=f"{name}_0_pad",
            )(short)
        else:
            short = _conv(x, filters, 1, f"{name}_0", style, strides=strides)
            short = _bn(short, f"{name}_0", style)
    else:
        short = x
    y = _conv_bn_act(
        x, filters, 3, f"{name}_1", style, strides=strides, dilation=dilation[0]
    )
    y = _conv(y, filters, 3, f"{name}_2", style, dilation=dilation[1])
    y = _bn(y, f"{name}_2", style)
    y = layers.Add(name=f"{name}_add")([short, y])
    return _act(y, f"{name}_out", style)


def _bottleneck_v1(x, filters, name, style, *, strides=1, dilation=1):
    """1x1 (strided, as keras.applications) -> 3x3 -> 1x1 with 4x filters."""
    out_channels = 4 * filters
    if strides != 1 or channels(x) != out_channels:
        short = _conv(x, out_channels, 1, f"{name}_0", style, strides=strides)
        short = _bn(short, f"{name}_0", style)
    else:
        short = x
    y = _conv_bn_act(x, filters, 1, f"{name}_1", style, strides=strides)
    y = _conv_bn_act(y, filters, 3, f"{name}_2", style, dilation=dilation)
    y = _conv(y, out_channels, 1, f"{name}_3", style)
    y = _bn(y, f"{name}_3", style)
    y = layers.Add(name=f"{name}_add")([short, y])
    return _act(y, f"{name}_out", style)


# ---------------------------------------------------------------- v2 blocks
# resnet_v2's style has batch_norm=True and use_bias=False: the inner
# convolutions have no bias and are always followed by BN and activation.
def _preact(x, name, style):
    x = _bn(x, f"{name}_preact", style, force=True)
    return _act(x, f"{name}_preact_{style.activation}", style)


def _v2_shortcut(x, preact, out_channels, name, style, strides):
    if channels(x) != out_channels:
        return _conv(
            preact, out_channels, 1, f"{name}_0", style, strides=strides, use_bias=True
        )
    if strides > 1:
        return layers.MaxPooling2D(1, strides=strides, name=f"{name}_0_pool")(x)
    return x


def _basic_v2(x, filters, name, style, *, strides=1):
    """Pre-activation basic block: BN-act-conv3x3-BN-act-conv3x3."""
    preact = _preact(x, name, style)
    short = _v2_shortcut(x, preact, filters, name, style, strides)
    y = _conv_bn_act(
        preact, filters, 3, f"{name}_1", style, strides=strides, explicit_pad=True
    )
    y = _conv(y, filters, 3, f"{name}_2", style, use_bias=True, explicit_pad=True)
    return layers.Add(name=f"{name}_out")([short, y])


def _bottleneck_v2(x, filters, name, style, *, strides=1):
    """Pre-activation bottleneck block, exactly keras.applications' v2 block."""
    out_channels = 4 * filters
    preact = _preact(x, name, style)
    short = _v2_shortcut(x, preact, out_channels, name, style, strides)
    y = _conv_bn_act(preact, filters, 1, f"{name}_1", style)
    y = _conv_bn_act(
        y, filters, 3, f"{name}_2", style, strides=strides, explicit_pad=True
    )
    y = _conv(y, out_channels, 1, f"{name}_3", style, use_bias=True)
    return layers.Add(name=f"{name}_out")([short, y])


# ---------------------------------------------------------------- builders
# The arguments that the three builders share (default and Args line each).
_IMAGENET = {
    "depth": Arg(50, "int. Number of weighted layers: 18, 34, 50, 101 or 152."),
    "input_shape": Arg(
        (224, 224, 3),
        "tuple. Input shape (height, width, channels); spatial sizes of at least "
        "32, None allowed when include_top is False.",
    ),
    "num_classes": Arg(1000, "int. Number of classes of the classifier."),
}
_POOLING_DOC = 'str or None. None, "avg", "max" or "flatten", as in keras.applications'
_HEAD = {
    "include_top": Arg(True, "bool. Add global pooling and the classifier."),
    "pooling": Arg(None, _POOLING_DOC + "."),
    "classifier_activation": Arg(
        "softmax", "str or None. Activation of the classifier; None returns logits."
    ),
    "dropout": Arg(0.0, "float. Dropout rate before the classifier."),
}
_STYLE = {
    "base_filters": Arg(
        64,
        "int. Filters of the stem and first stage; each later stage doubles them "
        "(64 in the paper).",
    ),
    "activation": Arg(
        "relu",
        "str. Hidden activation (relu, leaky_relu, gelu, swish, tanh, sigmoid, "
        '...); layers are named "<block>_<activation>".',
    ),
}
_KERNEL = {
    "kernel_initializer": Arg(
        "glorot_uniform", "str. Initializer of the convolution kernels."
    )
}


_RAISES = "ValueError: if a hyperparameter is invalid or the weights file is missing."
_WEIGHTS = {
    "weights": Arg(None, "str or None. Path of a local weights file, or None."),
    **DATA_FORMAT,
}


@image_builder
@builder_args(
    _IMAGENET,
    _HEAD,
    _STYLE,
    {
        "batch_norm": Arg(True, "bool. Batch normalization after every convolution."),
        "use_bias": Arg(
            True,
            "bool. Biases in the convolutions (keras.applications: True; "
            "torchvision: False).",
        ),
    },
    _KERNEL,
    {
        "replace_stride_with_dilation": Arg(
            (False, False, False),
            "tuple. Three booleans for stages conv3, conv4 and conv5: replace the "
            "stage's stride 2 by dilated 3x3 convolutions as torchvision does "
            "(output stride 16 or 8 instead of 32, same parameters). torchvision "
            "accepts it for bottleneck depths only; basic blocks accept it here too.",
        )
    },
    _WEIGHTS,
    pooling=Arg(
        None,
        _POOLING_DOC + " (with include_top=False, None returns the feature map).",
    ),
    sections=builder_sections("resnet<depth>", _RAISES),
)
def resnet_v1(hp):
    """ResNet v1 for ImageNet-style inputs (He et al. 2015).

    Depths 18 and 34 use basic blocks (two 3x3 convolutions, stride in the
    first, 1x1 projection shortcuts where the shape changes); 50, 101 and 152
    use bottleneck blocks exactly as keras.applications (stride in the first
    1x1 convolution, projection shortcut in every stage's first block), with
    the same layer names and, at the defaults, the same parameter counts:
    ResNet50 25,636,712, ResNet101 44,707,176, ResNet152 60,419,944.
    With `use_bias=False` the trainable parameters equal torchvision's models
    (resnet18 11,689,512, resnet34 21,797,672, resnet50 25,557,032, ...);
    Keras also counts BatchNormalization's moving mean and variance, which
    torchvision keeps as buffers.

    Args:
        {args}

    Example:
    >>> model = resnet_v1(depth=50, input_shape=(224, 224, 3), num_classes=1000)
    >>> model.count_params()
    25636712
    """
    check_choice("depth", hp["depth"], tuple(_IMAGENET_DEPTHS))
    head = ClassificationHead.from_hp(hp)
    dilate = _check_dilation(hp["replace_stride_with_dilation"])
    style = _check_style(hp)
    inputs = make_input(hp["input_shape"], rank=3, min_size=32)

    block, stage_blocks = _IMAGENET_DEPTHS[hp["depth"]]
    # The stem keeps a bias in keras.applications; here it follows use_bias.
    x = _conv_bn_act(inputs, hp["base_filters"], 7, "conv1", style, strides=2)
    x = _stem_pool(x)

    dilation = 1
    for stage, blocks in enumerate(stage_blocks):
        filters = hp["base_filters"] * 2**stage
        strides = 1 if stage == 0 else 2
        previous = dilation
        if stage > 0 and dilate[stage - 1]:
            # torchvision: the stage's first 3x3 keeps the previous dilation.
            dilation *= strides
            strides = 1
        for index in range(1, blocks + 1):
            name = f"conv{stage + 2}_block{index}"
            first = index == 1
            if block == "bottleneck":
                x = _bottleneck_v1(
                    x,
                    filters,
                    name,
                    style,
                    strides=strides if first else 1,
                    dilation=previous if first else dilation,
                )
            else:
                x = _basic_v1(
                    x,
                    filters,
                    name,
                    style,
                    strides=strides if first else 1,
                    dilation=(previous if first else dilation, dilation),
                )

    return head.model(inputs, x, f"resnet{hp['depth']}", hp["weights"])


@image_builder
@builder_args(
    _IMAGENET,
    _HEAD,
    _STYLE,
    _KERNEL,
    _WEIGHTS,
    sections=builder_sections("resnet<depth>v2", _RAISES),
)
def resnet_v2(hp):
    """ResNet v2 with pre-activation blocks (He et al. 2016).

    Follows keras.applications' ResNetV2 exactly for depths 50, 101 and 152
    (layer names, biases, stride in the last block of stages conv2-conv4,
    final "post_bn"/"post_relu"), so the parameter counts match:
    ResNet50V2 25,613,800, ResNet101V2 44,675,560, ResNet152V2 60,380,648.
    Depths 18 and 34 use pre-activation basic blocks (BN-act-conv3x3 twice,
    stride in the first convolution) under the same conventions. Batch
    normalization is part of the pre-activation design and always on (use
    `resnet_v1` for a `batch_norm` switch).

    Args:
        {args}

    Example:
    >>> model = resnet_v2(depth=50)
    >>> model.count_params()
    25613800
    """
    check_choice("depth", hp["depth"], tuple(_IMAGENET_DEPTHS))
    head = ClassificationHead.from_hp(hp)
    style = _check_style({**hp, "batch_norm": True, "use_bias": False})
    inputs = make_input(hp["input_shape"], rank=3, min_size=32)

    block, stage_blocks = _IMAGENET_DEPTHS[hp["depth"]]
    x = _conv(inputs, hp["base_filters"], 7, "conv1", style, strides=2, use_bias=True)
    x = _stem_pool(x)

    apply_block = _bottleneck_v2 if block == "bottleneck" else _basic_v2
    last_stage = len(stage_blocks) - 1
    for stage, blocks in enumerate(stage_blocks):
        filters = hp["base_filters"] * 2**stage
        # keras.applications (TF-slim): stages conv2-conv4 stride in their
        # last block, conv5 keeps its resolution.
        final_strides = 1 if stage == last_stage else 2
        for index in range(1, blocks + 1):
            x = apply_block(
                x,
                filters,
                f"conv{stage + 2}_block{index}",
                style,
                strides=final_strides if index == blocks else 1,
            )

    x = _bn(x, "post", style, force=True)
    x = _act(x, f"post_{style.activation}", style)
    return head.model(inputs, x, f"resnet{hp['depth']}v2", hp["weights"])


@image_builder
@builder_args(
    _IMAGENET,
    _HEAD,
    {
        "shortcut": Arg(
            "A",
            'str. "A" (zero-padding identity, the paper\'s default) or "B" (1x1 '
            "projections where the shape changes).",
        )
    },
    _STYLE,
    {
        "batch_norm": Arg(True, "bool. Batch normalization after every convolution."),
        "use_bias": Arg(
            None,
            "bool or None. Biases in the convolutions; None (default) adds them only "
            "when batch_norm is False.",
        ),
    },
    _KERNEL,
    _WEIGHTS,
    depth=Arg(20, "int. Number of weighted layers, 6n+2: 20, 32, 44, 56, 110, ..."),
    input_shape=Arg(
        (32, 32, 3),
        "tuple. Input shape (height, width, channels); spatial sizes of at least 8.",
    ),
    num_classes=Arg(10, "int. Number of classes of the classifier."),
    base_filters=Arg(
        16,
        "int. Filters of the stem and first stage; the next two stages double them "
        "(16 in the paper).",
    ),
    kernel_initializer=Arg(
        "he_normal",
        "str. Initializer of the convolution kernels (he_normal as in the paper).",
    ),
    sections=builder_sections("resnet<depth>", _RAISES),
)
def resnet_cifar(hp):
    """CIFAR ResNet with 6n+2 layers (He et al. 2015, section 4.2).

    A 3x3 stem with 16 filters, three stages of n basic blocks with 16, 32
    and 64 filters (the last two start with stride 2), global average pooling
    and the classifier. Shortcut option "A" (the paper's choice) is the
    identity, subsampled and zero-padded with new channels when a stage
    widens: parameter-free, giving the paper's Table 6 sizes (ResNet-20
    269,722 trainable parameters = 0.27M, ResNet-110 1,727,962 = 1.7M).
    Option "B" uses 1x1 projection convolutions (with batch normalization)
    there instead. Layer names follow keras.applications ("conv1_conv",
    "conv2_block1_1_conv", ..., "predictions").

    Args:
        {args}

    Example:
    >>> model = resnet_cifar(depth=20)
    >>> model.count_params()  # 269,722 trainable + BN moving statistics
    271098
    """
    check_int("depth", hp["depth"], minimum=1)
    if hp["depth"] < 8 or (hp["depth"] - 2) % 6:
        raise ValueError(
            f"Invalid depth={hp['depth']!r}: expected 6n+2 with n >= 1 "
            "(8, 14, 20, 32, 44, 56, 110, ...)."
        )
    head = ClassificationHead.from_hp(hp)
    check_choice("shortcut", hp["shortcut"], ("A", "B"))
    hp["batch_norm"] = check_bool("batch_norm", hp["batch_norm"])
    if hp["use_bias"] is None:
        hp["use_bias"] = not hp["batch_norm"]
    style = _check_style(hp)
    inputs = make_input(hp["input_shape"], rank=3, min_size=8)

    # (32, 32, 3) -> conv 3x3 -> (32, 32, 16); stages -> 32, 16, 8 pixels.
    x = _conv_bn_act(inputs, hp["base_filters"], 3, "conv1", style)
    blocks = (hp["depth"] - 2) // 6
    for stage in range(3):
        filters = hp["base_filters"] * 2**stage
        for index in range(1, blocks + 1):
            x = _basic_v1(
                x,
                filters,
                f"conv{stage + 2}_block{index}",
                style,
                strides=2 if stage > 0 and index == 1 else 1,
                shortcut=hp["shortcut"],
            )

    return head.model(inputs, x, f"resnet{hp['depth']}", hp["weights"])


# ---------------------------------------------------------------- registry
_TINY_IMAGENET = {**TINY_IMAGE, "base_filters": 8}
_TINY_CIFAR = dict(TINY_IMAGE)


def _tiny(base: dict, depth: int, test_depth: int) -> dict:
    # Test variants of the deepest models use a shallower depth with the same
    # block type; their full graphs are built by the parameter-count tests.
    return {**base, "depth": test_depth} if depth > test_depth else base


# name -> (builder, family, depth, description, tiny variant)
_RESNETS = {}
for _depth, (_block, _) in _IMAGENET_DEPTHS.items():
    _tiny_imagenet = _tiny(_TINY_IMAGENET, _depth, 50)
    _RESNETS[f"resnet{_depth}"] = (
        resnet_v1,
        "resnet",
        _depth,
        f"ResNet-{_depth} v1 ({_block} blocks; He et al. 2015).",
        _tiny_imagenet,
    )
    _RESNETS[f"resnet{_depth}v2"] = (
        resnet_v2,
        "resnet_v2",
        _depth,
        f"ResNet-{_depth} v2, pre-activation {_block} blocks (He et al. 2016).",
        _tiny_imagenet,
    )
for _depth in _CIFAR_DEPTHS:
    _RESNETS[f"resnet{_depth}"] = (
        resnet_cifar,
        "resnet_cifar",
        _depth,
        f"CIFAR ResNet-{_depth} (6n+2 layers; He et al. 2015, 4.2).",
        _tiny(_TINY_CIFAR, _depth, 56),
    )
for _name, (_builder, _family, _depth, _description, _tiny_hp) in _RESNETS.items():
    register_model(
        _name,
        _builder,
        family=_family,
        description=_description,
        presets={"depth": _depth},
        tiny=_tiny_hp,
    )
