"""Classic convolutional networks: LeNet-5, AlexNet, VGG and a dilated context net.

Each builder follows its paper's layer sizes, so the default parameter counts
equal the published ones (see the builders' docstrings), and adds the
curriculum's switches (activation, batch_norm, dropout, initializer) around it.
"""

from __future__ import annotations

from keras import layers

from kerasdl._checks import check_bool, check_choice, check_float, check_int
from kerasdl.layers.local_response_normalization import LocalResponseNormalization
from kerasdl.models._common import (
    TINY_IMAGE,
    activation_layer,
    check_conv_style,
    check_int_list,
    dense_block,
    dense_stack,
    make_input,
)
from kerasdl.models.heads import (
    ClassificationHead,
    finish_model,
    pixel_classification_head,
)
from kerasdl.models.layout import channel_axis, image_builder
from kerasdl.registry import register_model

__all__ = ["alexnet", "dilated_cnn", "lenet5", "vgg"]

# Convolutions per block for each VGG depth (Simonyan & Zisserman, Table 1):
# configurations A (11), B (13), D (16) and E (19) without LRN or 1x1 convs.
VGG_BLOCKS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_FILTERS = (64, 128, 256, 512, 512)
# AlexNet (single tower): (filters, kernel, stride) of conv1..conv5.
ALEXNET_CONVS = ((96, 11, 4), (256, 5, 1), (384, 3, 1), (384, 3, 1), (256, 3, 1))
# Smallest AlexNet input: conv1 (11, stride 4, valid) must leave 15 px so
# that the three 3x3/2 max-pools leave 7, 3 and 1 px.
ALEXNET_MIN_SIZE = 67


def _conv_bn_act(
    x,
    filters,
    kernel_size,
    *,
    name,
    activation,
    batch_norm,
    kernel_initializer,
    strides=1,
    padding="same",
    dilation_rate=1,
    bn_momentum=0.99,
):
    """Conv2D `name` -> [BatchNormalization `name_bn`] -> activation `name_act`."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        kernel_initializer=kernel_initializer,
        name=name,
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(
            axis=channel_axis(), momentum=bn_momentum, name=f"{name}_bn"
        )(x)
    return activation_layer(activation, name=f"{name}_act")(x)


def _subsample(x, kind, name):
    pool = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
    return pool(pool_size=2, strides=2, name=name)(x)


# --------------------------------------------------------------------- LeNet-5
@image_builder
def lenet5(
    input_shape=(32, 32, 1),
    num_classes=10,
    activation="tanh",
    subsampling="avg",
    c1_padding="valid",
    batch_norm=False,
    batch_norm_momentum=0.9,
    dropout=0.0,
    kernel_initializer="glorot_uniform",
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    weights=None,
    data_format: str | None = None,
):
    """LeNet-5 (LeCun et al. 1998) with a fully connected C3 layer.

    Layers: C1 conv 6@5x5 -> S2 2x2 subsampling -> C3 conv 16@5x5 -> S4 2x2
    subsampling -> C5 conv 120@5x5 -> F6 Dense 84 -> Dense `num_classes`. On
    32x32x1 with 10 classes this has 61,706 parameters (C1 156, C3 2,416,
    C5 48,120, F6 10,164, output 850). Departures from the paper, all
    standard: C3 connects to all six S2 maps (the paper's sparse table has
    1,516 weights), subsampling has no trainable coefficient, the activation
    is plain tanh (not 1.7159 tanh(2x/3)) and the output layer is a Dense
    softmax instead of Euclidean RBF units.

    Args:
        input_shape: tuple. (height, width, channels); at least 32x32 with
            c1_padding="valid", 28x28 with "same".
        num_classes: int. Number of classes.
        activation: str. Activation after every conv layer and F6 ("tanh" as in
            the paper, "relu", "leaky_relu", "gelu", "swish", "sigmoid", ...).
        subsampling: str. S2/S4 pooling: "avg" (paper) or "max".
        c1_padding: str. C1 padding: "valid" (paper, for 32x32 input) or "same"
            (28x28 MNIST digits reach C5 with the same 5x5 maps and counts).
        batch_norm: bool. BatchNormalization before every activation (C1, C3,
            C5, F6).
        batch_norm_momentum: float in [0, 1). Momentum of the batch-norm
            moving statistics. 0.9 (not Keras' 0.99) so they settle within
            the few hundred steps of a small dataset: on the digits (23
            batches of 64 per epoch) 10 epochs reached 51.8% test accuracy
            with 0.99, the moving variance still weighted by its start.
        dropout: float. Dropout rate after F6, in [0, 1).
        kernel_initializer: str. Initializer of all kernels ("glorot_uniform",
            "he_normal", aliases "he", "xavier", ...).
        include_top: bool. Add F6 and the classifier; if False the model outputs
            the C5 feature map.
        pooling: str or None. With include_top=False: None (C5 map), "avg",
            "max" or "flatten".
        classifier_activation: str or None. Activation of the output layer
            ("softmax", None for logits, ...).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Returns:
        A functional `keras.Model` named "lenet5".

    Raises:
        ValueError: if a hyperparameter is invalid or the input is too small.

    Example:
    >>> model = lenet5()
    >>> model.count_params()
    61706
    >>> lenet5(input_shape=(28, 28, 1), c1_padding="same").count_params()
    61706
    """
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    check_choice("subsampling", subsampling, ("avg", "max"))
    check_choice("c1_padding", c1_padding, ("valid", "same"))
    check_float(
        "batch_norm_momentum", batch_norm_momentum, 0.0, 1.0, max_inclusive=False
    )
    kernel_initializer = check_conv_style(activation, batch_norm, kernel_initializer)
    block = dict(
        activation=activation,
        batch_norm=batch_norm,
        bn_momentum=batch_norm_momentum,
        kernel_initializer=kernel_initializer,
        padding="valid",
    )

    min_size = 32 if c1_padding == "valid" else 28
    inputs = make_input(input_shape, rank=3, min_size=min_size)
    x = _conv_bn_act(inputs, 6, 5, name="c1", **{**block, "padding": c1_padding})
    x = _subsample(x, subsampling, "s2")
    x = _conv_bn_act(x, 16, 5, name="c3", **block)
    x = _subsample(x, subsampling, "s4")
    x = _conv_bn_act(x, 120, 5, name="c5", **block)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = dense_block(
            x,
            84,
            "f6",
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            bn_momentum=batch_norm_momentum,
            kernel_initializer=kernel_initializer,
        )
    return head.model(inputs, x, "lenet5", weights, dropout=0.0)


# --------------------------------------------------------------------- AlexNet
@image_builder
def alexnet(
    input_shape=(227, 227, 3),
    num_classes=1000,
    lrn=True,
    fc_units=4096,
    dropout=0.5,
    activation="relu",
    batch_norm=False,
    kernel_initializer="glorot_uniform",
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    weights=None,
    data_format: str | None = None,
):
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012), single-tower version.

    conv1 96@11x11/4 -> [LRN] -> maxpool 3x3/2 -> conv2 256@5x5 -> [LRN] ->
    maxpool -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> maxpool ->
    fc6 -> fc7 (each followed by dropout) -> classifier. The paper's two GPU
    towers are merged into one, as in the commonly cited single-tower model:
    62,378,344 parameters for 227x227x3 input and 1000 classes.

    Args:
        input_shape: tuple. (height, width, channels); at least 67x67 (the
            smallest size the strides and three 3x3/2 pools leave 1 px of).
        num_classes: int. Number of classes.
        lrn: bool. Local response normalization after conv1 and conv2 (paper:
            n=5, k=2, alpha=1e-4, beta=0.75).
        fc_units: int. Width of fc6 and fc7 (4096 in the paper).
        dropout: float. Dropout rate after fc6 and fc7 (0.5 in the paper).
        activation: str. Activation of every conv and fc layer ("relu",
            "leaky_relu", "gelu", "swish", "tanh", "sigmoid", ...).
        batch_norm: bool. BatchNormalization between each conv and its
            activation (the modern replacement for LRN; see `lrn`).
        kernel_initializer: str. Initializer of all kernels ("glorot_uniform",
            "he_normal", aliases "he", "xavier", ...).
        include_top: bool. Add fc6, fc7 and the classifier; if False the model
            outputs the pool5 feature map.
        pooling: str or None. With include_top=False: None (pool5 map), "avg",
            "max" or "flatten".
        classifier_activation: str or None. Activation of the classifier
            ("softmax", None for logits, ...).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Returns:
        A functional `keras.Model` named "alexnet".

    Raises:
        ValueError: if a hyperparameter is invalid or the input is too small.

    Example:
    >>> alexnet().count_params()
    62378344
    >>> tiny = alexnet(input_shape=(67, 67, 3), num_classes=3, fc_units=32)
    """
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    check_bool("lrn", lrn)
    check_int("fc_units", fc_units, minimum=1)
    kernel_initializer = check_conv_style(activation, batch_norm, kernel_initializer)

    inputs = make_input(input_shape, rank=3, min_size=ALEXNET_MIN_SIZE)
    x = inputs
    for i, (filters, kernel_size, strides) in enumerate(ALEXNET_CONVS, start=1):
        x = _conv_bn_act(
            x,
            filters,
            kernel_size,
            strides=strides,
            padding="valid" if i == 1 else "same",
            name=f"conv{i}",
            activation=activation,
            batch_norm=batch_norm,
            kernel_initializer=kernel_initializer,
        )
        if lrn and i <= 2:
            x = LocalResponseNormalization(
                depth_radius=2,
                bias=2.0,
                alpha=1e-4,
                beta=0.75,
                axis=channel_axis(),
                name=f"conv{i}_lrn",
            )(x)
        if i in (1, 2, 5):
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = dense_stack(
            x,
            (fc_units, fc_units),
            "fc{i}",
            start=6,
            activation=activation,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
        )
    return head.model(inputs, x, "alexnet", weights, dropout=0.0)


# ------------------------------------------------------------------------- VGG
@image_builder
def vgg(
    depth=16,
    input_shape=(224, 224, 3),
    num_classes=1000,
    block_filters=VGG_FILTERS,
    fc_units=4096,
    dropout=0.5,
    activation="relu",
    batch_norm=False,
    kernel_initializer="glorot_uniform",
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    weights=None,
    data_format: str | None = None,
):
    """VGG (Simonyan & Zisserman 2015), configurations A, B, D and E.

    Five blocks of 3x3 convolutions (64, 128, 256, 512, 512 filters) each ended
    by a 2x2 max-pool, then fc1, fc2 and the classifier. Layer names are
    keras.applications' ("block1_conv1", ..., "block5_pool", "flatten",
    "fc1", "fc2", "predictions"); with dropout=0 and batch_norm=False the
    layer list is exactly keras.applications VGG16/VGG19. Parameters at
    224x224x3 and 1000 classes: VGG-11 132,863,336, VGG-13 133,047,848,
    VGG-16 138,357,544, VGG-19 143,667,240.

    Args:
        depth: int. 11, 13, 16 or 19 (configurations A, B, D, E).
        input_shape: tuple. (height, width, channels); at least 32x32.
        num_classes: int. Number of classes.
        block_filters: list of 5 int. Filters of the convs in each block (paper:
            64, 128, 256, 512, 512; smaller widths give CIFAR-size VGGs).
        fc_units: int. Width of fc1 and fc2 (4096 in the paper).
        dropout: float. Dropout rate after fc1 and fc2 (0.5 in the paper;
            keras.applications has none).
        activation: str. Activation of every conv and fc layer ("relu",
            "leaky_relu", "gelu", "swish", "tanh", "sigmoid", ...).
        batch_norm: bool. VGG-BN: BatchNormalization ("blockB_convC_bn") between
            each conv and its activation ("blockB_convC_act"); conv biases are
            kept, as in torchvision's vgg*_bn.
        kernel_initializer: str. Initializer of all kernels ("glorot_uniform"
            as keras.applications, "he_normal", aliases "he", "xavier", ...).
        include_top: bool. Add fc1, fc2 and the classifier; if False the model
            outputs the block5_pool feature map.
        pooling: str or None. With include_top=False: None (4D block5_pool
            output), "avg" or "max" (global pooling, 2D output), or "flatten".
        classifier_activation: str or None. Activation of the classifier
            ("softmax", None for logits, ...).
        weights: str or None. Path of a local weights file to load (e.g. one
            saved from keras.applications VGG16); never downloaded.

    Returns:
        A functional `keras.Model` named "vgg11", "vgg13", "vgg16" or "vgg19".

    Raises:
        ValueError: if a hyperparameter is invalid or the input is too small.

    Example:
    >>> vgg(depth=16).count_params()
    138357544
    >>> kerasdl.build("vgg11", input_shape=(32, 32, 3), num_classes=10)
    """
    check_choice("depth", depth, VGG_BLOCKS)
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    block_filters = check_int_list("block_filters", block_filters)
    if len(block_filters) != len(VGG_FILTERS):
        raise ValueError(
            f"Invalid block_filters={block_filters!r}: expected 5 integers, one "
            f"per block (default {list(VGG_FILTERS)})."
        )
    check_int("fc_units", fc_units, minimum=1)
    kernel_initializer = check_conv_style(activation, batch_norm, kernel_initializer)

    inputs = make_input(input_shape, rank=3, min_size=32)
    x = inputs
    for b, (convs, filters) in enumerate(
        zip(VGG_BLOCKS[depth], block_filters, strict=True), 1
    ):
        for c in range(1, convs + 1):
            name = f"block{b}_conv{c}"
            if batch_norm:
                x = _conv_bn_act(
                    x,
                    filters,
                    3,
                    name=name,
                    activation=activation,
                    batch_norm=True,
                    kernel_initializer=kernel_initializer,
                )
            else:
                # One layer with a fused activation, as keras.applications.
                x = layers.Conv2D(
                    filters,
                    3,
                    padding="same",
                    activation=activation,
                    kernel_initializer=kernel_initializer,
                    name=name,
                )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for name in ("fc1", "fc2"):
            x = layers.Dense(
                fc_units,
                activation=activation,
                kernel_initializer=kernel_initializer,
                name=name,
            )(x)
            if dropout > 0:
                x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return head.model(inputs, x, f"vgg{depth}", weights, dropout=0.0)


# ---------------------------------------------------------- dilated context net
@image_builder
def dilated_cnn(
    input_shape=(None, None, 3),
    num_classes=21,
    filters=64,
    dilation_rates=(1, 1, 2, 4, 8, 16, 1),
    activation="relu",
    batch_norm=False,
    dropout=0.0,
    kernel_initializer="he_normal",
    include_top=True,
    pooling=None,
    classifier_activation="softmax",
    weights=None,
    data_format: str | None = None,
):
    """Context aggregation module of Yu & Koltun 2016 as a dense-prediction net.

    A stack of 3x3 convolutions with padding "same" and the given dilation
    rates ("context1", "context2", ...; paper: 1, 1, 2, 4, 8, 16, 1), then a
    1x1 convolution "predictions" that classifies every pixel (the paper's
    layer 8). The output has the input's height and width; the task is
    segmentation. The receptive field grows exponentially with depth: it is
    1 + 2 * sum(dilation_rates) pixels wide, 67x67 for the paper's rates.
    The paper's basic module keeps `filters` equal to its C input channels
    (a front-end's class scores); here the input may be any image. The
    paper's identity initialization is not provided.

    Args:
        input_shape: tuple. (height, width, channels); None allows any size.
        num_classes: int. Number of classes scored per pixel.
        filters: int or list of int. Width of every context layer, or one width
            per layer (the paper's large module: 2C, 2C, 4C, 8C, 16C, 32C, 32C).
        dilation_rates: list of int. Dilation of each 3x3 layer; its length is
            the depth.
        activation: str. Activation after each context layer ("relu" as the
            paper, "linear", "leaky_relu", "gelu", ...).
        batch_norm: bool. BatchNormalization between each conv and activation.
        dropout: float. Dropout rate before the per-pixel classifier.
        kernel_initializer: str. Initializer of all kernels ("he_normal",
            "glorot_uniform", aliases "he", "xavier", ...).
        include_top: bool. Add the 1x1 per-pixel classifier; if False the model
            outputs the last context feature map.
        pooling: str or None. With include_top=False: None (feature map),
            "avg", "max" or "flatten" (to use the net as an image encoder).
        classifier_activation: str or None. Per-pixel activation of the
            classifier ("softmax" over the last axis, None for logits, ...).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Returns:
        A functional `keras.Model` named "dilated_cnn", output (batch, height,
        width, num_classes) with include_top=True.

    Raises:
        ValueError: if a hyperparameter is invalid.

    Example:
    >>> model = dilated_cnn(input_shape=(64, 64, 3), num_classes=5, filters=8)
    >>> model.output_shape
    (None, 64, 64, 5)
    """
    head = ClassificationHead(
        include_top, num_classes, pooling, classifier_activation, dropout
    )
    dilation_rates = check_int_list("dilation_rates", dilation_rates)
    widths = check_int_list("filters", filters)
    if len(widths) == 1:
        widths = widths * len(dilation_rates)
    elif len(widths) != len(dilation_rates):
        raise ValueError(
            f"Invalid filters={filters!r}: expected one integer or one per "
            f"dilation rate ({len(dilation_rates)}, from "
            f"dilation_rates={dilation_rates!r})."
        )
    kernel_initializer = check_conv_style(activation, batch_norm, kernel_initializer)

    inputs = make_input(input_shape, rank=3)
    x = inputs
    for i, (width, rate) in enumerate(
        zip(widths, dilation_rates, strict=True), start=1
    ):
        x = _conv_bn_act(
            x,
            width,
            3,
            dilation_rate=rate,
            name=f"context{i}",
            activation=activation,
            batch_norm=batch_norm,
            kernel_initializer=kernel_initializer,
        )
    if include_top:  # a class per pixel, not per image
        outputs = pixel_classification_head(
            x,
            num_classes,
            activation=classifier_activation,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
        )
    else:
        outputs = head(x)
    return finish_model(inputs, outputs, "dilated_cnn", weights)


# -------------------------------------------------------------------- registry
register_model(
    "lenet5",
    lenet5,
    family="classic_cnn",
    tiny={"input_shape": (32, 32, 1), "num_classes": 3},
)
register_model(
    "alexnet",
    alexnet,
    family="classic_cnn",
    tiny={
        "input_shape": (ALEXNET_MIN_SIZE, ALEXNET_MIN_SIZE, 3),
        "num_classes": 3,
        "fc_units": 16,
    },
)
for _depth, _config in ((11, "A"), (13, "B"), (16, "D"), (19, "E")):
    register_model(
        f"vgg{_depth}",
        vgg,
        family="classic_cnn",
        description=f"VGG-{_depth} (Simonyan & Zisserman 2015, configuration "
        f"{_config}).",
        presets={"depth": _depth},
        tiny={**TINY_IMAGE, "block_filters": (8, 8, 16, 16, 16), "fc_units": 16},
    )
register_model(
    "dilated_cnn",
    dilated_cnn,
    family="classic_cnn",
    tiny={"input_shape": (16, 16, 3), "num_classes": 3, "filters": 4},
    task="segmentation",
)
