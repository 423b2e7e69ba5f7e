"""Inception networks: GoogLeNet (Inception v1) and Inception v3.

- "googlenet": Szegedy et al. 2014, "Going Deeper with Convolutions", the
  layout of the paper's Table 1 and Figure 3 (nine inception modules, true 5x5
  branches, convolutions with biases, global average pooling, 40% dropout),
  with the reference Caffe model's layer names ("inception_3a_1x1", ...).
  Options give the later variants: `batch_norm=True` (conv-BN-ReLU, as in
  torchvision), `branch5x5_kernel=3` (torchvision's 3x3 "5x5" branch), `lrn`
  (the paper's two LocalRespNorm layers) and `aux_logits` (the two auxiliary
  classifiers, as extra outputs).
- "inception_v3": Szegedy et al. 2016, "Rethinking the Inception Architecture
  for Computer Vision", equal to keras.applications InceptionV3 (parameter
  count and weight order; modules named "mixed0" ... "mixed10").

Both take TF-slim's `depth_multiplier` / `min_depth` to thin every conv.
"""

from __future__ import annotations

from keras import layers

from kerasdl._checks import check_bool, check_choice, check_float, check_int, check_rate
from kerasdl.layers.local_response_normalization import LocalResponseNormalization
from kerasdl.models._common import (
    TINY_IMAGE,
    activation_layer,
    channel_bn,
    check_conv_style,
    concat_channels,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import (
    CLASSIFIER_ARGS,
    LOCAL_WEIGHTS,
    ClassificationHead,
    finish_model,
)
from kerasdl.models.layout import channel_axis, image_builder
from kerasdl.registry import register_model

__all__ = ["googlenet", "inception_v3"]

GOOGLENET_MIN_SIZE = 32  # five stride-2 stages: 32 px leaves 1x1 before the head
INCEPTION_V3_MIN_SIZE = 75  # keras.applications' minimum: 1x1 after mixed8

# Paper, Table 1: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# The auxiliary classifiers sit on top of these modules (paper, Section 5).
_AUX_AFTER = {"4a": "aux1", "4d": "aux2"}
# Max pools with stride 2 follow these modules.
_POOL_AFTER = {"3b": "pool3_3x3_s2", "4e": "pool4_3x3_s2"}


def _check_common(hp: dict, **fixed):
    """Validates the options every conv unit uses (from the builder's
    hyperparameters `hp`); returns them as one dict with the builder's `fixed`
    ones (names and batch-norm settings)."""
    return {
        "activation": hp["activation"],
        "batch_norm": hp["batch_norm"],
        "kernel_initializer": check_conv_style(
            hp["activation"], hp["batch_norm"], hp["kernel_initializer"]
        ),
        "depth_multiplier": check_float(
            "depth_multiplier", hp["depth_multiplier"], minimum=0, min_inclusive=False
        ),
        "min_depth": check_int("min_depth", hp["min_depth"], minimum=1),
        **fixed,
    }


# The arguments that end both builders (default and Args line each).
_SCALING = {
    "depth_multiplier": Arg(1.0, "float. Scales every conv's filters (TF-slim)."),
    "min_depth": Arg(16, "int. Fewest filters a conv keeps when depth_multiplier < 1."),
}


def _depth(filters, cfg):
    """TF-slim's rule: thin a conv by depth_multiplier, never below min_depth."""
    if cfg["depth_multiplier"] == 1.0:
        return filters
    return max(int(filters * cfg["depth_multiplier"]), cfg["min_depth"])


def _conv_unit(x, filters, kernel_size, name, cfg, strides=1, padding="same"):
    """Conv (-> BN) -> activation; names: name[_conv], name_bn, name_<act>."""
    batch_norm = cfg["batch_norm"]
    x = layers.Conv2D(
        _depth(filters, cfg),
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not batch_norm,  # BN's offset makes a conv bias redundant
        kernel_initializer=cfg["kernel_initializer"],
        name=name + cfg["conv_suffix"],
    )(x)
    if batch_norm:
        x = channel_bn(
            x, f"{name}_bn", epsilon=cfg["bn_epsilon"], scale=cfg["bn_scale"]
        )
    return activation_layer(cfg["activation"], name=f"{name}_{cfg['activation']}")(x)


# ---------------------------------------------------------------- GoogLeNet
def _inception_module(x, name, widths, cfg):
    """Four parallel branches concatenated: 1x1, 3x3, 5x5 and pool projection."""
    n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj = widths
    prefix = f"inception_{name}"
    b1 = _conv_unit(x, n1x1, 1, f"{prefix}_1x1", cfg)
    b2 = _conv_unit(x, n3x3red, 1, f"{prefix}_3x3_reduce", cfg)
    b2 = _conv_unit(b2, n3x3, 3, f"{prefix}_3x3", cfg)
    b3 = _conv_unit(x, n5x5red, 1, f"{prefix}_5x5_reduce", cfg)
    b3 = _conv_unit(b3, n5x5, cfg["branch5x5_kernel"], f"{prefix}_5x5", cfg)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{prefix}_pool")(x)
    b4 = _conv_unit(b4, pool_proj, 1, f"{prefix}_pool_proj", cfg)
    return concat_channels([b1, b2, b3, b4], f"{prefix}_output")


def _aux_head(x, name, num_classes, classifier_activation, aux_dropout, cfg):
    """Auxiliary classifier (paper, Section 5): pool, 1x1 conv, FC, dropout, FC."""
    # The paper's 5x5/3 average pool gives 4x4 on the 14x14 map of a 224 input;
    # adaptive pooling gives 4x4 at any input size, as torchvision does.
    x = layers.AdaptiveAveragePooling2D(4, name=f"{name}_ave_pool")(x)
    x = _conv_unit(x, 128, 1, f"{name}_conv", cfg)
    x = layers.Flatten(name=f"{name}_flatten")(x)  # (4, 4, 128) -> (2048,)
    x = layers.Dense(
        1024, kernel_initializer=cfg["kernel_initializer"], name=f"{name}_fc"
    )(x)
    x = activation_layer(cfg["activation"], name=f"{name}_fc_{cfg['activation']}")(x)
    if aux_dropout > 0:
        x = layers.Dropout(aux_dropout, name=f"{name}_dropout")(x)
    return layers.Dense(
        num_classes, activation=classifier_activation, name=f"{name}_predictions"
    )(x)


@image_builder
@builder_args(
    {
        "input_shape": Arg(
            (224, 224, 3),
            "tuple. Input (height, width, channels), at least 32x32.",
        )
    },
    CLASSIFIER_ARGS,
    {
        "aux_logits": Arg(
            False, "bool. Add the two auxiliary classifiers as extra outputs."
        ),
        "aux_dropout": Arg(
            0.7, "float. Dropout rate in the auxiliary heads (paper: 0.7)."
        ),
        "lrn": Arg(
            False, "bool. Add the paper's local response normalization after the stem."
        ),
        "batch_norm": Arg(False, "bool. Conv-BN-activation units without conv biases."),
        "branch5x5_kernel": Arg(
            5, 'int. Kernel of the "5x5" branch: 5, or 3 (torchvision).'
        ),
        "activation": Arg(
            "relu", "str. Activation after every conv and auxiliary FC layer."
        ),
        "kernel_initializer": Arg(
            "glorot_uniform", "str. Initializer of the conv and FC kernels."
        ),
    },
    _SCALING,
    LOCAL_WEIGHTS,
    classifier_activation=Arg(
        "softmax", "str or None. Activation of the classifier(s)."
    ),
    dropout=Arg(0.4, "float. Dropout rate before the classifier (paper: 0.4)."),
)
def googlenet(hp):
    """GoogLeNet, the 22-layer Inception v1 of Szegedy et al. 2014.

    Stem (7x7/2 conv, max pool, 1x1 and 3x3 convs, max pool), inception
    modules 3a-3b, max pool, 4a-4e, max pool, 5a-5b, then global average
    pooling, dropout and the classifier. Max pools use "same" padding, which
    gives the paper's map sizes (112, 56, 28, 14, 7 for a 224 input).

    Args:
        {args}

    Returns:
        A functional `keras.Model` named "googlenet". With `aux_logits=True`
        its outputs are [predictions, aux1_predictions, aux2_predictions].

    Raises:
        ValueError: if a hyperparameter is invalid, or `aux_logits=True`
            with `include_top=False`.

    Example:
    >>> model = kerasdl.build("googlenet", input_shape=(64, 64, 3),
    ...                       num_classes=10, batch_norm=True)
    >>> model.get_layer("inception_5b_output").output.shape
    (None, 2, 2, 1024)
    """
    head = ClassificationHead.from_hp(hp)
    check_bool("aux_logits", hp["aux_logits"])
    check_rate("aux_dropout", hp["aux_dropout"])
    check_bool("lrn", hp["lrn"])
    check_choice("branch5x5_kernel", hp["branch5x5_kernel"], (5, 3))
    if hp["aux_logits"] and not hp["include_top"]:
        raise ValueError(
            "Invalid aux_logits=True with include_top=False: the auxiliary "
            "classifiers need the classifier; set include_top=True or "
            "aux_logits=False."
        )
    cfg = _check_common(
        hp,
        branch5x5_kernel=hp["branch5x5_kernel"],
        conv_suffix="",  # Caffe names: the conv is "inception_3a_1x1"
        bn_epsilon=1e-3,  # torchvision's BasicConv2d
        bn_scale=True,
    )
    inputs = make_input(hp["input_shape"], min_size=GOOGLENET_MIN_SIZE)

    # Stem: (224, 224, 3) -> (28, 28, 192)
    x = _conv_unit(inputs, 64, 7, "conv1_7x7_s2", cfg, strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    if hp["lrn"]:
        # Caffe's LRN (local_size 5, alpha 1e-4, k 1) divides alpha by the
        # window size; LocalResponseNormalization follows TF and does not.
        x = _lrn("pool1_norm1")(x)
    x = _conv_unit(x, 64, 1, "conv2_3x3_reduce", cfg)
    x = _conv_unit(x, 192, 3, "conv2_3x3", cfg)
    if hp["lrn"]:
        x = _lrn("conv2_norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)

    aux_outputs = []
    for name, widths in GOOGLENET_MODULES.items():
        x = _inception_module(x, name, widths, cfg)
        if hp["aux_logits"] and name in _AUX_AFTER:
            aux_outputs.append(
                _aux_head(
                    x,
                    _AUX_AFTER[name],
                    hp["num_classes"],
                    hp["classifier_activation"],
                    hp["aux_dropout"],
                    cfg,
                )
            )
        if name in _POOL_AFTER:
            x = layers.MaxPooling2D(
                3, strides=2, padding="same", name=_POOL_AFTER[name]
            )(x)

    x = head(x)
    outputs = [x, *aux_outputs] if hp["aux_logits"] else x
    return finish_model(inputs, outputs, "googlenet", hp["weights"])


def _lrn(name):
    return LocalResponseNormalization(
        depth_radius=2,
        bias=1.0,
        alpha=1e-4 / 5,
        beta=0.75,
        axis=channel_axis(),
        name=name,
    )


# ---------------------------------------------------------------- Inception v3
_concat = concat_channels


def _avg_pool_branch(x, filters, name, cfg):
    x = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return _conv_unit(x, filters, 1, f"{name}_pool_proj", cfg)


def _block_35(x, name, pool_filters, cfg):
    """Figure 5 module (35x35): 1x1, 5x5, double 3x3, pool branches."""
    b1 = _conv_unit(x, 64, 1, f"{name}_1x1", cfg)
    b2 = _conv_unit(x, 48, 1, f"{name}_5x5_1", cfg)
    b2 = _conv_unit(b2, 64, 5, f"{name}_5x5_2", cfg)
    b3 = _conv_unit(x, 64, 1, f"{name}_3x3dbl_1", cfg)
    b3 = _conv_unit(b3, 96, 3, f"{name}_3x3dbl_2", cfg)
    b3 = _conv_unit(b3, 96, 3, f"{name}_3x3dbl_3", cfg)
    b4 = _avg_pool_branch(x, pool_filters, name, cfg)
    return _concat([b1, b2, b3, b4], name)


def _reduction_a(x, name, cfg):
    """35x35 -> 17x17 grid reduction (Figure 10)."""
    b1 = _conv_unit(x, 384, 3, f"{name}_3x3", cfg, strides=2, padding="valid")
    b2 = _conv_unit(x, 64, 1, f"{name}_3x3dbl_1", cfg)
    b2 = _conv_unit(b2, 96, 3, f"{name}_3x3dbl_2", cfg)
    b2 = _conv_unit(b2, 96, 3, f"{name}_3x3dbl_3", cfg, strides=2, padding="valid")
    b3 = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b1, b2, b3], name)


def _block_17(x, name, width, cfg):
    """Figure 6 module (17x17): 7x7 convs factorized into 1x7 and 7x1."""
    b1 = _conv_unit(x, 192, 1, f"{name}_1x1", cfg)
    b2 = _conv_unit(x, width, 1, f"{name}_7x7_1", cfg)
    b2 = _conv_unit(b2, width, (1, 7), f"{name}_7x7_2", cfg)
    b2 = _conv_unit(b2, 192, (7, 1), f"{name}_7x7_3", cfg)
    b3 = _conv_unit(x, width, 1, f"{name}_7x7dbl_1", cfg)
    b3 = _conv_unit(b3, width, (7, 1), f"{name}_7x7dbl_2", cfg)
    b3 = _conv_unit(b3, width, (1, 7), f"{name}_7x7dbl_3", cfg)
    b3 = _conv_unit(b3, width, (7, 1), f"{name}_7x7dbl_4", cfg)
    b3 = _conv_unit(b3, 192, (1, 7), f"{name}_7x7dbl_5", cfg)
    b4 = _avg_pool_branch(x, 192, name, cfg)
    return _concat([b1, b2, b3, b4], name)


def _reduction_b(x, name, cfg):
    """17x17 -> 8x8 grid reduction."""
    b1 = _conv_unit(x, 192, 1, f"{name}_3x3_1", cfg)
    b1 = _conv_unit(b1, 320, 3, f"{name}_3x3_2", cfg, strides=2, padding="valid")
    b2 = _conv_unit(x, 192, 1, f"{name}_7x7x3_1", cfg)
    b2 = _conv_unit(b2, 192, (1, 7), f"{name}_7x7x3_2", cfg)
    b2 = _conv_unit(b2, 192, (7, 1), f"{name}_7x7x3_3", cfg)
    b2 = _conv_unit(b2, 192, 3, f"{name}_7x7x3_4", cfg, strides=2, padding="valid")
    b3 = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b1, b2, b3], name)


def _block_8(x, name, index, cfg):
    """Figure 7 module (8x8): expanded filter bank of 1x3 and 3x1 convs."""
    b1 = _conv_unit(x, 320, 1, f"{name}_1x1", cfg)
    b2 = _conv_unit(x, 384, 1, f"{name}_3x3_1", cfg)
    b2a = _conv_unit(b2, 384, (1, 3), f"{name}_3x3_2a", cfg)
    b2b = _conv_unit(b2, 384, (3, 1), f"{name}_3x3_2b", cfg)
    b2 = _concat([b2a, b2b], f"mixed9_{index}")  # keras.applications' name
    b3 = _conv_unit(x, 448, 1, f"{name}_3x3dbl_1", cfg)
    b3 = _conv_unit(b3, 384, 3, f"{name}_3x3dbl_2", cfg)
    b3a = _conv_unit(b3, 384, (1, 3), f"{name}_3x3dbl_3a", cfg)
    b3b = _conv_unit(b3, 384, (3, 1), f"{name}_3x3dbl_3b", cfg)
    b3 = _concat([b3a, b3b], f"{name}_3x3dbl")
    b4 = _avg_pool_branch(x, 192, name, cfg)
    return _concat([b1, b2, b3, b4], name)


@image_builder
@builder_args(
    {
        "input_shape": Arg(
            (299, 299, 3),
            "tuple. Input (height, width, channels), at least 75x75.",
        )
    },
    CLASSIFIER_ARGS,
    {
        "activation": Arg("relu", "str. Activation after every conv."),
        "batch_norm": Arg(
            True, "bool. Conv-BN-activation units (off: convs get biases)."
        ),
        "kernel_initializer": Arg(
            "glorot_uniform", "str. Initializer of the conv kernels."
        ),
    },
    _SCALING,
    LOCAL_WEIGHTS,
    sections=builder_sections(
        "inception_v3",
        "ValueError: if a hyperparameter is out of range or of the wrong type.",
    ),
)
def inception_v3(hp):
    """Inception v3 (Szegedy et al. 2016), the keras.applications layout.

    Stem of five convs and two max pools, three 35x35 modules (mixed0-2), a
    grid reduction (mixed3), four 17x17 modules (mixed4-7), a grid reduction
    (mixed8) and two 8x8 modules (mixed9-10). Convs are followed by
    BatchNormalization without scale (as in keras.applications). Layers of
    module "mixedN" are named "mixedN_<branch>_conv", "..._bn", "..._relu".

    Args:
        {args}

    Example:
    >>> model = kerasdl.build("inception_v3", input_shape=(75, 75, 3),
    ...                       num_classes=10)
    >>> model.get_layer("mixed10").output.shape
    (None, 1, 1, 2048)
    """
    head = ClassificationHead.from_hp(hp)
    cfg = _check_common(
        hp,
        conv_suffix="_conv",
        bn_epsilon=1e-3,  # keras.applications' (BatchNormalization default)
        bn_scale=False,  # keras.applications: a ReLU follows, so no gamma
    )
    inputs = make_input(hp["input_shape"], min_size=INCEPTION_V3_MIN_SIZE)

    # Stem: (299, 299, 3) -> (35, 35, 192)
    x = _conv_unit(inputs, 32, 3, "stem_conv1", cfg, strides=2, padding="valid")
    x = _conv_unit(x, 32, 3, "stem_conv2", cfg, padding="valid")
    x = _conv_unit(x, 64, 3, "stem_conv3", cfg)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x)
    x = _conv_unit(x, 80, 1, "stem_conv4", cfg, padding="valid")
    x = _conv_unit(x, 192, 3, "stem_conv5", cfg, padding="valid")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)

    x = _block_35(x, "mixed0", 32, cfg)  # (35, 35, 256)
    x = _block_35(x, "mixed1", 64, cfg)  # (35, 35, 288)
    x = _block_35(x, "mixed2", 64, cfg)  # (35, 35, 288)
    x = _reduction_a(x, "mixed3", cfg)  # (17, 17, 768)
    for i, width in enumerate((128, 160, 160, 192), start=4):
        x = _block_17(x, f"mixed{i}", width, cfg)  # (17, 17, 768)
    x = _reduction_b(x, "mixed8", cfg)  # (8, 8, 1280)
    x = _block_8(x, "mixed9", 0, cfg)  # (8, 8, 2048)
    x = _block_8(x, "mixed10", 1, cfg)  # (8, 8, 2048)

    return head.model(inputs, x, "inception_v3", hp["weights"])


for _builder, _description, _input_shape in (
    (
        googlenet,
        "GoogLeNet / Inception v1 (Szegedy et al. 2014), paper layout.",
        TINY_IMAGE["input_shape"],
    ),
    (
        inception_v3,
        "Inception v3 (Szegedy et al. 2016), keras.applications layout.",
        (INCEPTION_V3_MIN_SIZE, INCEPTION_V3_MIN_SIZE, 3),
    ),
):
    register_model(
        _builder.__name__,
        _builder,
        family="inception",
        description=_description,
        # depth_multiplier 0.25 thins every conv (TF-slim's knob); layers stay.
        tiny={**TINY_IMAGE, "input_shape": _input_shape, "depth_multiplier": 0.25},
    )
del _builder, _description, _input_shape
