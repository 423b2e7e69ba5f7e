"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

One builder, `densenet`, registered as "densenet121", "densenet169" and
"densenet201". With default hyperparameters each equals keras.applications'
model of the same name (parameter count and layer names), so weights saved
from keras.applications load by name. The paper's knobs are exposed: growth
rate k, compression theta (DenseNet-C), the bottleneck width (DenseNet-B,
4k by default) and the dropout after each convolution.
"""

from __future__ import annotations

from keras import layers

from kerasdl._checks import check_int, check_rate
from kerasdl.models._common import (
    TINY_IMAGE,
    activation_layer,
    channel_bn,
    check_conv_style,
    check_int_list,
    concat_channels,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args
from kerasdl.models.heads import CLASSIFIER_ARGS, LOCAL_WEIGHTS, ClassificationHead
from kerasdl.models.layout import channels, image_builder
from kerasdl.registry import register_model

__all__ = ["densenet"]

_BN_EPSILON = 1.001e-5  # keras.applications' value, so its weights load as is

PRESETS = {
    "densenet121": [6, 12, 24, 16],
    "densenet169": [6, 12, 32, 32],
    "densenet201": [6, 12, 48, 32],
}


def _norm_act(x, name, cfg):
    """BN -> activation (DenseNet's pre-activation order)."""
    if cfg["batch_norm"]:
        x = channel_bn(x, f"{name}_bn", epsilon=_BN_EPSILON)
    return activation_layer(cfg["activation"], name=f"{name}_{cfg['activation']}")(x)


def _conv(x, filters, kernel_size, name, cfg, strides=1, padding="valid"):
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not cfg["batch_norm"],  # BN's beta makes a bias redundant
        kernel_initializer=cfg["kernel_initializer"],
        name=f"{name}_conv",
    )(x)
    if cfg["block_dropout"] > 0:
        x = layers.Dropout(cfg["block_dropout"], name=f"{name}_dropout")(x)
    return x


def _dense_layer(x, name, cfg):
    """One composite layer H_l; its k new maps are concatenated to its input."""
    y = x
    if cfg["bottleneck"]:
        # DenseNet-B: a 1x1 conv to bottleneck*k maps before the 3x3 conv.
        y = _norm_act(y, f"{name}_0", cfg)
        y = _conv(y, cfg["bottleneck"] * cfg["growth_rate"], 1, f"{name}_1", cfg)
    y = _norm_act(y, f"{name}_1", cfg)
    y = _conv(y, cfg["growth_rate"], 3, f"{name}_2", cfg, padding="same")
    # (H, W, C) + (H, W, k) -> (H, W, C + k)
    return concat_channels([x, y], f"{name}_concat")


def _transition(x, name, cfg):
    """BN-act-1x1 conv to floor(theta * C) maps, then 2x2 average pooling."""
    filters = int(channels(x) * cfg["compression"])
    x = _norm_act(x, name, cfg)
    x = _conv(x, max(filters, 1), 1, name, cfg)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


@image_builder
@builder_args(
    {
        "blocks": Arg(
            (6, 12, 24, 16), "list of int. Dense layers in each dense block."
        ),
        "growth_rate": Arg(
            32, "int. k, feature maps each dense layer adds (stem has 2k)."
        ),
        "compression": Arg(
            0.5, "float. theta in (0, 1], transition output / input maps."
        ),
        "bottleneck": Arg(
            4, "int. 1x1 bottleneck width in multiples of k; 0 disables it."
        ),
        "input_shape": Arg(
            (224, 224, 3),
            "tuple. Input (height, width, channels); 32x32+ for 4 blocks.",
        ),
    },
    CLASSIFIER_ARGS,
    {
        "block_dropout": Arg(
            0.0, "float. Dropout after each conv (paper: 0.2 without aug)."
        ),
        "activation": Arg("relu", "str. Activation of every BN-activation-conv unit."),
        "batch_norm": Arg(
            True, "bool. Use BatchNormalization (off: convs get biases)."
        ),
        "kernel_initializer": Arg(
            "glorot_uniform", "str. Initializer of the conv kernels."
        ),
    },
    LOCAL_WEIGHTS,
)
def densenet(hp):
    """DenseNet-BC for ImageNet-style inputs (Huang et al. 2017).

    A 7x7/2 stem conv with 2k filters and a 3x3/2 max pool, then dense blocks
    separated by transition layers. Layer names follow keras.applications
    ("conv2_block1_1_conv", "pool2_conv", "bn", ...).

    Args:
        {args}

    Returns:
        A functional `keras.Model` named "densenet<depth>", where depth counts
        conv and dense layers (121 for blocks (6, 12, 24, 16)).

    Raises:
        ValueError: if a hyperparameter is out of range or of the wrong type.

    Example:
    >>> model = kerasdl.build("densenet121", input_shape=(64, 64, 3),
    ...                       num_classes=10)
    >>> model.get_layer("conv5_block16_concat").output.shape
    (None, 2, 2, 1024)
    """
    hp["blocks"] = check_int_list("blocks", hp["blocks"])
    check_int("growth_rate", hp["growth_rate"], minimum=1)
    valid = isinstance(hp["compression"], (int, float)) and not isinstance(
        hp["compression"], bool
    )
    if not valid or not 0 < hp["compression"] <= 1:
        raise ValueError(
            f"Invalid compression={hp['compression']!r}: expected a number in (0, 1]."
        )
    check_int("bottleneck", hp["bottleneck"], minimum=0)
    head = ClassificationHead.from_hp(hp)
    check_rate("block_dropout", hp["block_dropout"])
    if not isinstance(hp["batch_norm"], bool):
        raise ValueError(f"Invalid batch_norm={hp['batch_norm']!r}: expected a bool.")
    cfg = {
        "growth_rate": hp["growth_rate"],
        "compression": float(hp["compression"]),
        "bottleneck": hp["bottleneck"],
        "block_dropout": float(hp["block_dropout"]),
        "activation": hp["activation"],
        "batch_norm": hp["batch_norm"],
        "kernel_initializer": check_conv_style(
            hp["activation"], hp["batch_norm"], hp["kernel_initializer"], hp["weights"]
        ),
    }
    # Stem /4, then /2 per transition: 32 px for four blocks (keras.applications).
    inputs = make_input(hp["input_shape"], min_size=4 * 2 ** (len(hp["blocks"]) - 1))

    # Stem: (224, 224, 3) -> (56, 56, 2k)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(
        2 * hp["growth_rate"],
        7,
        strides=2,
        use_bias=not hp["batch_norm"],
        kernel_initializer=cfg["kernel_initializer"],
        name="conv1_conv",
    )(x)
    if hp["batch_norm"]:
        x = channel_bn(x, "conv1_bn", epsilon=_BN_EPSILON)
    x = activation_layer(hp["activation"], name=f"conv1_{hp['activation']}")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)

    for stage, num_layers in enumerate(hp["blocks"], start=2):
        for i in range(1, num_layers + 1):
            x = _dense_layer(x, f"conv{stage}_block{i}", cfg)
        if stage < len(hp["blocks"]) + 1:
            x = _transition(x, f"pool{stage}", cfg)

    # Final BN-act: the blocks are pre-activation, so their output is raw.
    if hp["batch_norm"]:
        x = channel_bn(x, "bn", epsilon=_BN_EPSILON)
    x = activation_layer(hp["activation"], name=hp["activation"])(x)
    convs_per_layer = 2 if hp["bottleneck"] else 1
    depth = 1 + convs_per_layer * sum(hp["blocks"]) + (len(hp["blocks"]) - 1) + 1
    return head.model(inputs, x, f"densenet{depth}", hp["weights"])


for _name, _blocks in PRESETS.items():
    register_model(
        _name,
        densenet,
        family="densenet",
        description=(
            f"DenseNet-{_name[8:]} (Huang et al. 2017), blocks {_blocks}, "
            "keras.applications layout."
        ),
        presets={"blocks": list(_blocks)},
        # Test variant: two layers per dense block and a 4x narrower growth
        # rate (the full graph is built by the parameter-count tests).
        tiny={**TINY_IMAGE, "growth_rate": 8, "blocks": [2, 2, 2, 2]},
    )
