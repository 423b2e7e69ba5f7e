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
    dense_stack,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import (
    ClassificationHead,
    finish_model,
    pixel_classification_head,
)
from kerasdl.models.layout import DATA_FORMAT, channel_axis, image_builder
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
def _fc_top(inputs, x, hp, head, name, units, template, **block_kwargs):
    """The fully connected top of LeNet-5 and AlexNet, numbered from 6 (F6;
    fc6, fc7): with include_top, flatten and one `dense_block` per width in
    `units` (the builder's activation, dropout and kernels), then the
    classifier, without dropout of its own (the blocks applied it); returns
    the model `name`."""
    if hp["include_top"]:
        x = layers.Flatten(name="flatten")(x)
        x = dense_stack(
            x,
            units,
            template,
            start=6,
            activation=hp["activation"],
            dropout=hp["dropout"],
            kernel_initializer=hp["kernel_initializer"],
            **block_kwargs,
        )
    return head.model(inputs, x, name, hp["weights"], dropout=0.0)


def _top_args(top: str, feature_map: str) -> dict[str, Arg]:
    """The arguments that end every builder here (kernels, head, weights):
    `top` names the layers that include_top adds before the classifier and
    `feature_map` the output without them."""
    return {
        "kernel_initializer": Arg(
            "glorot_uniform",
            'str. Initializer of all kernels ("glorot_uniform", "he_normal", '
            'aliases "he", "xavier", ...).',
        ),
        "include_top": Arg(
            True,
            f"bool. Add {top} and the classifier; if False the model outputs the "
            f"{feature_map} feature map.",
        ),
        "pooling": Arg(
            None,
            f'str or None. With include_top=False: None ({feature_map} map), "avg", '
            '"max" or "flatten".',
        ),
        "classifier_activation": Arg(
            "softmax",
            'str or None. Activation of the classifier ("softmax", None for '
            "logits, ...).",
        ),
        "weights": Arg(
            None, "str or None. Path of a local weights file to load; never downloaded."
        ),
        **DATA_FORMAT,
    }


_RAISES = "ValueError: if a hyperparameter is invalid or the input is too small."

# AlexNet's and VGG's fully connected layers.
_FC_ACTIVATION = Arg(
    "relu",
    'str. Activation of every conv and fc layer ("relu", "leaky_relu", "gelu", '
    '"swish", "tanh", "sigmoid", ...).',
)


@image_builder
@builder_args(
    {
        "input_shape": Arg(
            (32, 32, 1),
            'tuple. (height, width, channels); at least 32x32 with c1_padding="valid", '
            '28x28 with "same".',
        ),
        "num_classes": Arg(10, "int. Number of classes."),
        "activation": Arg(
            "tanh",
            'str. Activation after every conv layer and F6 ("tanh" as in the paper, '
            '"relu", "leaky_relu", "gelu", "swish", "sigmoid", ...).',
        ),
        "subsampling": Arg("avg", 'str. S2/S4 pooling: "avg" (paper) or "max".'),
        "c1_padding": Arg(
            "valid",
            'str. C1 padding: "valid" (paper, for 32x32 input) or "same" (28x28 MNIST '
            "digits reach C5 with the same 5x5 maps and counts).",
        ),
        "batch_norm": Arg(
            False, "bool. BatchNormalization before every activation (C1, C3, C5, F6)."
        ),
        "batch_norm_momentum": Arg(
            0.9,
            "float in [0, 1). Momentum of the batch-norm moving statistics. 0.9 (not "
            "Keras' 0.99) so they settle within the few hundred steps of a small "
            "dataset: on the digits (23 batches of 64 per epoch) 10 epochs reached "
            "51.8% test accuracy with 0.99, the moving variance still weighted by its "
            "start.",
        ),
        "dropout": Arg(0.0, "float. Dropout rate after F6, in [0, 1)."),
    },
    _top_args("F6", "C5"),
    classifier_activation=Arg(
        "softmax",
        'str or None. Activation of the output layer ("softmax", None for logits, '
        "...).",
    ),
    sections=builder_sections("lenet5", _RAISES),
)
def lenet5(hp):
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
        {args}

    Example:
    >>> model = lenet5()
    >>> model.count_params()
    61706
    >>> lenet5(input_shape=(28, 28, 1), c1_padding="same").count_params()
    61706
    """
    head = ClassificationHead.from_hp(hp)
    check_choice("subsampling", hp["subsampling"], ("avg", "max"))
    check_choice("c1_padding", hp["c1_padding"], ("valid", "same"))
    check_float(
        "batch_norm_momentum", hp["batch_norm_momentum"], 0.0, 1.0, max_inclusive=False
    )
    hp["kernel_initializer"] = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"]
    )
    block = dict(
        activation=hp["activation"],
        batch_norm=hp["batch_norm"],
        bn_momentum=hp["batch_norm_momentum"],
        kernel_initializer=hp["kernel_initializer"],
        padding="valid",
    )

    min_size = 32 if hp["c1_padding"] == "valid" else 28
    inputs = make_input(hp["input_shape"], rank=3, min_size=min_size)
    x = _conv_bn_act(inputs, 6, 5, name="c1", **{**block, "padding": hp["c1_padding"]})
    x = _subsample(x, hp["subsampling"], "s2")
    x = _conv_bn_act(x, 16, 5, name="c3", **block)
    x = _subsample(x, hp["subsampling"], "s4")
    x = _conv_bn_act(x, 120, 5, name="c5", **block)
    return _fc_top(
        inputs,
        x,
        hp,
        head,
        "lenet5",
        (84,),
        "f{i}",
        batch_norm=hp["batch_norm"],
        bn_momentum=hp["batch_norm_momentum"],
    )


# --------------------------------------------------------------------- AlexNet
@image_builder
@builder_args(
    {
        "input_shape": Arg(
            (227, 227, 3),
            "tuple. (height, width, channels); at least 67x67 (the smallest size the "
            "strides and three 3x3/2 pools leave 1 px of).",
        ),
        "num_classes": Arg(1000, "int. Number of classes."),
        "lrn": Arg(
            True,
            "bool. Local response normalization after conv1 and conv2 (paper: n=5, "
            "k=2, alpha=1e-4, beta=0.75).",
        ),
        "fc_units": Arg(4096, "int. Width of fc6 and fc7 (4096 in the paper)."),
        "dropout": Arg(
            0.5, "float. Dropout rate after fc6 and fc7 (0.5 in the paper)."
        ),
        "activation": _FC_ACTIVATION,
        "batch_norm": Arg(
            False,
            "bool. BatchNormalization between each conv and its activation (the "
            "modern replacement for LRN; see `lrn`).",
        ),
    },
    _top_args("fc6, fc7", "pool5"),
    sections=builder_sections("alexnet", _RAISES),
)
def alexnet(hp):
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012), single-tower version.

    conv1 96@11x11/4 -> [LRN] -> maxpool 3x3/2 -> conv2 256@5x5 -> [LRN] ->
    maxpool -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> maxpool ->
    fc6 -> fc7 (each followed by dropout) -> classifier. The paper's two GPU
    towers are merged into one, as in the commonly cited single-tower model:
    62,378,344 parameters for 227x227x3 input and 1000 classes.

    Args:
        {args}

    Example:
    >>> alexnet().count_params()
    62378344
    >>> tiny = alexnet(input_shape=(67, 67, 3), num_classes=3, fc_units=32)
    """
    head = ClassificationHead.from_hp(hp)
    check_bool("lrn", hp["lrn"])
    check_int("fc_units", hp["fc_units"], minimum=1)
    hp["kernel_initializer"] = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"]
    )

    inputs = make_input(hp["input_shape"], rank=3, min_size=ALEXNET_MIN_SIZE)
    x = inputs
    for i, (filters, kernel_size, strides) in enumerate(ALEXNET_CONVS, start=1):
        x = _conv_bn_act(
            x,
            filters,
            kernel_size,
            strides=strides,
            padding="valid" if i == 1 else "same",
            name=f"conv{i}",
            activation=hp["activation"],
            batch_norm=hp["batch_norm"],
            kernel_initializer=hp["kernel_initializer"],
        )
        if hp["lrn"] and i <= 2:
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
    return _fc_top(inputs, x, hp, head, "alexnet", (hp["fc_units"],) * 2, "fc{i}")


# ------------------------------------------------------------------------- VGG
@image_builder
@builder_args(
    {
        "depth": Arg(16, "int. 11, 13, 16 or 19 (configurations A, B, D, E)."),
        "input_shape": Arg(
            (224, 224, 3), "tuple. (height, width, channels); at least 32x32."
        ),
        "num_classes": Arg(1000, "int. Number of classes."),
        "block_filters": Arg(
            VGG_FILTERS,
            "list of 5 int. Filters of the convs in each block (paper: 64, 128, 256, "
            "512, 512; smaller widths give CIFAR-size VGGs).",
        ),
        "fc_units": Arg(4096, "int. Width of fc1 and fc2 (4096 in the paper)."),
        "dropout": Arg(
            0.5,
            "float. Dropout rate after fc1 and fc2 (0.5 in the paper; "
            "keras.applications has none).",
        ),
        "activation": _FC_ACTIVATION,
        "batch_norm": Arg(
            False,
            'bool. VGG-BN: BatchNormalization ("blockB_convC_bn") between each conv '
            'and its activation ("blockB_convC_act"); conv biases are kept, as in '
            "torchvision's vgg*_bn.",
        ),
    },
    _top_args("fc1, fc2", "block5_pool"),
    kernel_initializer=Arg(
        "glorot_uniform",
        'str. Initializer of all kernels ("glorot_uniform" as keras.applications, '
        '"he_normal", aliases "he", "xavier", ...).',
    ),
    pooling=Arg(
        None,
        "str or None. With include_top=False: None (4D block5_pool output), "
        '"avg" or "max" (global pooling, 2D output), or "flatten".',
    ),
    weights=Arg(
        None,
        "str or None. Path of a local weights file to load (e.g. one saved from "
        "keras.applications VGG16); never downloaded.",
    ),
)
def vgg(hp):
    """VGG (Simonyan & Zisserman 2015), configurations A, B, D and E.

    Five blocks of 3x3 convolutions (64, 128, 256, 512, 512 filters) each ended
    by a 2x2 max-pool, then fc1, fc2 and the classifier. Layer names are
    keras.applications' ("block1_conv1", ..., "block5_pool", "flatten",
    "fc1", "fc2", "predictions"); with dropout=0 and batch_norm=False the
    layer list is exactly keras.applications VGG16/VGG19. Parameters at
    224x224x3 and 1000 classes: VGG-11 132,863,336, VGG-13 133,047,848,
    VGG-16 138,357,544, VGG-19 143,667,240.

    Args:
        {args}

    Returns:
        A functional `keras.Model` named "vgg11", "vgg13", "vgg16" or "vgg19".

    Raises:
        ValueError: if a hyperparameter is invalid or the input is too small.

    Example:
    >>> vgg(depth=16).count_params()
    138357544
    >>> kerasdl.build("vgg11", input_shape=(32, 32, 3), num_classes=10)
    """
    check_choice("depth", hp["depth"], VGG_BLOCKS)
    head = ClassificationHead.from_hp(hp)
    hp["block_filters"] = check_int_list("block_filters", hp["block_filters"])
    if len(hp["block_filters"]) != len(VGG_FILTERS):
        raise ValueError(
            f"Invalid block_filters={hp['block_filters']!r}: expected 5 integers, one "
            f"per block (default {list(VGG_FILTERS)})."
        )
    check_int("fc_units", hp["fc_units"], minimum=1)
    hp["kernel_initializer"] = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"]
    )

    inputs = make_input(hp["input_shape"], rank=3, min_size=32)
    x = inputs
    for b, (convs, filters) in enumerate(
        zip(VGG_BLOCKS[hp["depth"]], hp["block_filters"], strict=True), 1
    ):
        for c in range(1, convs + 1):
            name = f"block{b}_conv{c}"
            if hp["batch_norm"]:
                x = _conv_bn_act(
                    x,
                    filters,
                    3,
                    name=name,
                    activation=hp["activation"],
                    batch_norm=True,
                    kernel_initializer=hp["kernel_initializer"],
                )
            else:
                # One layer with a fused activation, as keras.applications.
                x = layers.Conv2D(
                    filters,
                    3,
                    padding="same",
                    activation=hp["activation"],
                    kernel_initializer=hp["kernel_initializer"],
                    name=name,
                )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if hp["include_top"]:
        x = layers.Flatten(name="flatten")(x)
        for name in ("fc1", "fc2"):
            x = layers.Dense(
                hp["fc_units"],
                activation=hp["activation"],
                kernel_initializer=hp["kernel_initializer"],
                name=name,
            )(x)
            if hp["dropout"] > 0:
                x = layers.Dropout(hp["dropout"], name=f"{name}_dropout")(x)
    return head.model(inputs, x, f"vgg{hp['depth']}", hp["weights"], dropout=0.0)


# ---------------------------------------------------------- dilated context net
@image_builder
@builder_args(
    {
        "input_shape": Arg(
            (None, None, 3), "tuple. (height, width, channels); None allows any size."
        ),
        "num_classes": Arg(21, "int. Number of classes scored per pixel."),
        "filters": Arg(
            64,
            "int or list of int. Width of every context layer, or one width per layer "
            "(the paper's large module: 2C, 2C, 4C, 8C, 16C, 32C, 32C).",
        ),
        "dilation_rates": Arg(
            (1, 1, 2, 4, 8, 16, 1),
            "list of int. Dilation of each 3x3 layer; its length is the depth.",
        ),
        "activation": Arg(
            "relu",
            'str. Activation after each context layer ("relu" as the paper, '
            '"linear", "leaky_relu", "gelu", ...).',
        ),
        "batch_norm": Arg(
            False, "bool. BatchNormalization between each conv and activation."
        ),
        "dropout": Arg(0.0, "float. Dropout rate before the per-pixel classifier."),
    },
    _top_args("the 1x1 per-pixel", "last context"),
    kernel_initializer=Arg(
        "he_normal",
        'str. Initializer of all kernels ("he_normal", "glorot_uniform", aliases '
        '"he", "xavier", ...).',
    ),
    include_top=Arg(
        True,
        "bool. Add the 1x1 per-pixel classifier; if False the model outputs the "
        "last context feature map.",
    ),
    pooling=Arg(
        None,
        'str or None. With include_top=False: None (feature map), "avg", "max" or '
        '"flatten" (to use the net as an image encoder).',
    ),
    classifier_activation=Arg(
        "softmax",
        'str or None. Per-pixel activation of the classifier ("softmax" over the '
        "last axis, None for logits, ...).",
    ),
)
def dilated_cnn(hp):
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
        {args}

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
    head = ClassificationHead.from_hp(hp)
    hp["dilation_rates"] = check_int_list("dilation_rates", hp["dilation_rates"])
    widths = check_int_list("filters", hp["filters"])
    if len(widths) == 1:
        widths = widths * len(hp["dilation_rates"])
    elif len(widths) != len(hp["dilation_rates"]):
        raise ValueError(
            f"Invalid filters={hp['filters']!r}: expected one integer or one per "
            f"dilation rate ({len(hp['dilation_rates'])}, from "
            f"dilation_rates={hp['dilation_rates']!r})."
        )
    hp["kernel_initializer"] = check_conv_style(
        hp["activation"], hp["batch_norm"], hp["kernel_initializer"]
    )

    inputs = make_input(hp["input_shape"], rank=3)
    x = inputs
    for i, (width, rate) in enumerate(
        zip(widths, hp["dilation_rates"], strict=True), start=1
    ):
        x = _conv_bn_act(
            x,
            width,
            3,
            dilation_rate=rate,
            name=f"context{i}",
            activation=hp["activation"],
            batch_norm=hp["batch_norm"],
            kernel_initializer=hp["kernel_initializer"],
        )
    if hp["include_top"]:  # a class per pixel, not per image
        outputs = pixel_classification_head(
            x,
            hp["num_classes"],
            activation=hp["classifier_activation"],
            dropout=hp["dropout"],
            kernel_initializer=hp["kernel_initializer"],
        )
    else:
        outputs = head(x)
    return finish_model(inputs, outputs, "dilated_cnn", hp["weights"])


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
