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
from kerasdl.models.heads import ClassificationHead
from kerasdl.models.layout import channel_axis, channels, image_builder
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


def _check_style(
    base_filters, activation, batch_norm, use_bias, kernel_initializer, weights
) -> _Style:
    """The checks every ResNet builder makes; returns the blocks' layer options."""
    check_int("base_filters", base_filters, minimum=1)
    initializer = check_conv_style(activation, batch_norm, kernel_initializer, weights)
    return _Style(
        activation=activation,
        batch_norm=batch_norm,
        use_bias=check_bool("use_bias", use_bias),
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
@image_builder
def resnet_v1(
    depth: int = 50,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    base_filters: int = 64,
    activation: str = "relu",
    batch_norm: bool = True,
    use_bias: bool = True,
    kernel_initializer: str = "glorot_uniform",
    replace_stride_with_dilation=(False, False, False),
    weights: str | None = None,
    data_format: str | None = None,
):
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
        depth: int. Number of weighted layers: 18, 34, 50, 101 or 152.
        input_shape: tuple. Input shape (height, width, channels); spatial
            sizes of at least 32, None allowed when include_top is False.
        num_classes: int. Number of classes of the classifier.
        include_top: bool. Add global pooling and the classifier.
        pooling: str or None. None, "avg", "max" or "flatten", as in
            keras.applications (with include_top=False, None returns the
            feature map).
        classifier_activation: str or None. Activation of the classifier;
            None returns logits.
        dropout: float. Dropout rate before the classifier.
        base_filters: int. Filters of the stem and first stage; each later
            stage doubles them (64 in the paper).
        activation: str. Hidden activation (relu, leaky_relu, gelu, swish,
            tanh, sigmoid, ...); layers are named "<block>_<activation>".
        batch_norm: bool. Batch normalization after every convolution.
        use_bias: bool. Biases in the convolutions (keras.applications: True;
            torchvision: False).
        kernel_initializer: str. Initializer of the convolution kernels.
        replace_stride_with_dilation: tuple. Three booleans for stages conv3,
            conv4 and conv5: replace the stage's stride 2 by dilated 3x3
            convolutions as torchvision does (output stride 16 or 8 instead
            of 32, same parameters). torchvision accepts it for bottleneck
            depths only; basic blocks accept it here too.
        weights: str or None. Path of a local weights file, or None.

    Returns:
        A functional `keras.Model` named "resnet<depth>".

    Raises:
        ValueError: if a hyperparameter is invalid or the weights file is
            missing.

    Example:
    >>> model = resnet_v1(depth=50, input_shape=(224, 224, 3), num_classes=1000)
    >>> model.count_params()
    25636712
    """
    check_choice("depth", depth, tuple(_IMAGENET_DEPTHS))
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    dilate = _check_dilation(replace_stride_with_dilation)
    style = _check_style(
        base_filters, activation, batch_norm, use_bias, kernel_initializer, weights
    )
    inputs = make_input(input_shape, rank=3, min_size=32)

    block, stage_blocks = _IMAGENET_DEPTHS[depth]
    # The stem keeps a bias in keras.applications; here it follows use_bias.
    x = _conv_bn_act(inputs, base_filters, 7, "conv1", style, strides=2)
    x = _stem_pool(x)

    dilation = 1
    for stage, blocks in enumerate(stage_blocks):
        filters = base_filters * 2**stage
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

    return head.model(inputs, x, f"resnet{depth}", weights)


@image_builder
def resnet_v2(
    depth: int = 50,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    base_filters: int = 64,
    activation: str = "relu",
    kernel_initializer: str = "glorot_uniform",
    weights: str | None = None,
    data_format: str | None = None,
):
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
        depth: int. Number of weighted layers: 18, 34, 50, 101 or 152.
        input_shape: tuple. Input shape (height, width, channels); spatial
            sizes of at least 32, None allowed when include_top is False.
        num_classes: int. Number of classes of the classifier.
        include_top: bool. Add global pooling and the classifier.
        pooling: str or None. None, "avg", "max" or "flatten", as in
            keras.applications.
        classifier_activation: str or None. Activation of the classifier;
            None returns logits.
        dropout: float. Dropout rate before the classifier.
        base_filters: int. Filters of the stem and first stage; each later
            stage doubles them (64 in the paper).
        activation: str. Hidden activation (relu, leaky_relu, gelu, swish,
            tanh, sigmoid, ...); layers are named "<block>_<activation>".
        kernel_initializer: str. Initializer of the convolution kernels.
        weights: str or None. Path of a local weights file, or None.

    Returns:
        A functional `keras.Model` named "resnet<depth>v2".

    Raises:
        ValueError: if a hyperparameter is invalid or the weights file is
            missing.

    Example:
    >>> model = resnet_v2(depth=50)
    >>> model.count_params()
    25613800
    """
    check_choice("depth", depth, tuple(_IMAGENET_DEPTHS))
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    style = _check_style(
        base_filters, activation, True, False, kernel_initializer, weights
    )
    inputs = make_input(input_shape, rank=3, min_size=32)

    block, stage_blocks = _IMAGENET_DEPTHS[depth]
    x = _conv(inputs, base_filters, 7, "conv1", style, strides=2, use_bias=True)
    x = _stem_pool(x)

    apply_block = _bottleneck_v2 if block == "bottleneck" else _basic_v2
    last_stage = len(stage_blocks) - 1
    for stage, blocks in enumerate(stage_blocks):
        filters = base_filters * 2**stage
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
    return head.model(inputs, x, f"resnet{depth}v2", weights)


@image_builder
def resnet_cifar(
    depth: int = 20,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    dropout: float = 0.0,
    shortcut: str = "A",
    base_filters: int = 16,
    activation: str = "relu",
    batch_norm: bool = True,
    use_bias: bool | None = None,
    kernel_initializer: str = "he_normal",
    weights: str | None = None,
    data_format: str | None = None,
):
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
        depth: int. Number of weighted layers, 6n+2: 20, 32, 44, 56, 110, ...
        input_shape: tuple. Input shape (height, width, channels); spatial
            sizes of at least 8.
        num_classes: int. Number of classes of the classifier.
        include_top: bool. Add global pooling and the classifier.
        pooling: str or None. None, "avg", "max" or "flatten", as in
            keras.applications.
        classifier_activation: str or None. Activation of the classifier;
            None returns logits.
        dropout: float. Dropout rate before the classifier.
        shortcut: str. "A" (zero-padding identity, the paper's default) or
            "B" (1x1 projections where the shape changes).
        base_filters: int. Filters of the stem and first stage; the next two
            stages double them (16 in the paper).
        activation: str. Hidden activation (relu, leaky_relu, gelu, swish,
            tanh, sigmoid, ...); layers are named "<block>_<activation>".
        batch_norm: bool. Batch normalization after every convolution.
        use_bias: bool or None. Biases in the convolutions; None (default)
            adds them only when batch_norm is False.
        kernel_initializer: str. Initializer of the convolution kernels
            (he_normal as in the paper).
        weights: str or None. Path of a local weights file, or None.

    Returns:
        A functional `keras.Model` named "resnet<depth>".

    Raises:
        ValueError: if a hyperparameter is invalid or the weights file is
            missing.

    Example:
    >>> model = resnet_cifar(depth=20)
    >>> model.count_params()  # 269,722 trainable + BN moving statistics
    271098
    """
    check_int("depth", depth, minimum=1)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"Invalid depth={depth!r}: expected 6n+2 with n >= 1 "
            "(8, 14, 20, 32, 44, 56, 110, ...)."
        )
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    check_choice("shortcut", shortcut, ("A", "B"))
    batch_norm = check_bool("batch_norm", batch_norm)
    if use_bias is None:
        use_bias = not batch_norm
    style = _check_style(
        base_filters, activation, batch_norm, use_bias, kernel_initializer, weights
    )
    inputs = make_input(input_shape, rank=3, min_size=8)

    # (32, 32, 3) -> conv 3x3 -> (32, 32, 16); stages -> 32, 16, 8 pixels.
    x = _conv_bn_act(inputs, base_filters, 3, "conv1", style)
    blocks = (depth - 2) // 6
    for stage in range(3):
        filters = base_filters * 2**stage
        for index in range(1, blocks + 1):
            x = _basic_v1(
                x,
                filters,
                f"conv{stage + 2}_block{index}",
                style,
                strides=2 if stage > 0 and index == 1 else 1,
                shortcut=shortcut,
            )

    return head.model(inputs, x, f"resnet{depth}", weights)


# ---------------------------------------------------------------- registry
_TINY_IMAGENET = {**TINY_IMAGE, "base_filters": 8}
_TINY_CIFAR = dict(TINY_IMAGE)


def _tiny(base: dict, depth: int, test_depth: int) -> dict:
    # Test variants of the deepest models use a shallower depth with the same
    # block type; their full graphs are built by the parameter-count tests.
    return {**base, "depth": test_depth} if depth > test_depth else base


for _depth, (_block, _) in _IMAGENET_DEPTHS.items():
    register_model(
        f"resnet{_depth}",
        resnet_v1,
        family="resnet",
        description=f"ResNet-{_depth} v1 ({_block} blocks; He et al. 2015).",
        presets={"depth": _depth},
        tiny=_tiny(_TINY_IMAGENET, _depth, 50),
    )
    register_model(
        f"resnet{_depth}v2",
        resnet_v2,
        family="resnet_v2",
        description=(
            f"ResNet-{_depth} v2, pre-activation {_block} blocks (He et al. 2016)."
        ),
        presets={"depth": _depth},
        tiny=_tiny(_TINY_IMAGENET, _depth, 50),
    )
for _depth in _CIFAR_DEPTHS:
    register_model(
        f"resnet{_depth}",
        resnet_cifar,
        family="resnet_cifar",
        description=f"CIFAR ResNet-{_depth} (6n+2 layers; He et al. 2015, 4.2).",
        presets={"depth": _depth},
        tiny=_tiny(_TINY_CIFAR, _depth, 56),
    )
