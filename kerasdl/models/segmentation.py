"""Semantic segmentation: per-pixel class scores of shape (H, W, num_classes).

- "unet": Ronneberger et al. 2015, "U-Net: Convolutional Networks for
  Biomedical Image Segmentation" (arXiv:1505.04597).
- "fcn": Long et al. 2015, "Fully Convolutional Networks for Semantic
  Segmentation" (arXiv:1411.4038), variants FCN-32s, FCN-16s and FCN-8s.

Both end in a layer named "predictions" whose activation is softmax over the
classes by default ("auto"), or a sigmoid when num_classes == 1 (binary masks).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from kerasdl.models._common import (
    TINY_IMAGE,
    activation_layer,
    channel_bn,
    check_activation_or_softmax,
    check_choice,
    check_conv_style,
    check_input_shape,
    check_int,
    check_rate,
    concat_channels,
)
from kerasdl.models.classic_cnn import VGG_BLOCKS, VGG_FILTERS
from kerasdl.models.heads import (
    finish_model,
    pixel_activation,
    pixel_classification_head,
)
from kerasdl.models.layout import image_builder, spatial_shape
from kerasdl.registry import register_model

__all__ = ["BilinearUpsamplingInitializer", "fcn", "unet"]

PADDINGS = ("same", "valid")
UPSAMPLINGS = ("transpose", "bilinear")


# ---------------------------------------------------------------- shared
def _output_activation(classifier_activation, num_classes: int):
    """Resolves "auto": softmax over classes, sigmoid for one binary class."""
    if classifier_activation == "auto":
        return "sigmoid" if num_classes == 1 else "softmax"
    return check_activation_or_softmax(classifier_activation)


def _check_classifier_activation(value) -> None:
    if value != "auto":
        check_activation_or_softmax(value)


@keras.saving.register_keras_serializable(package="kerasdl")
class BilinearUpsamplingInitializer(keras.initializers.Initializer):
    """Initializes a transposed-convolution kernel to bilinear interpolation.

    Channel i of the output copies channel i of the input, upsampled with a
    bilinear filter (FCN's initialization of its "deconvolution" layers); other
    channel pairs start at zero. Expects a kernel of shape
    (size, size, channels, channels), as `Conv2DTranspose` has.

    Example:
    >>> layers.Conv2DTranspose(
    ...     21, 4, strides=2, padding="same",
    ...     kernel_initializer=BilinearUpsamplingInitializer())
    """

    def __call__(self, shape, dtype=None):
        rows, cols, out_channels, in_channels = shape
        kernel = np.zeros(shape, dtype="float32")
        filt = np.outer(_bilinear_1d(rows), _bilinear_1d(cols))
        for i in range(min(out_channels, in_channels)):
            kernel[:, :, i, i] = filt
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {}


def _bilinear_1d(size: int) -> np.ndarray:
    # The 1-D bilinear (triangle) filter of Caffe/FCN's upsample_filt.
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    return 1.0 - np.abs(np.arange(size) - center) / factor


def _conv_unit(
    x, filters, prefix, index, *, padding, batch_norm, activation, init, kernel_size=3
):
    """conv -> (batch norm) -> activation, named {prefix}_conv{index}, ..."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        padding=padding,
        use_bias=not batch_norm,
        kernel_initializer=init,
        name=f"{prefix}_conv{index}",
    )(x)
    if batch_norm:
        x = channel_bn(x, f"{prefix}_bn{index}")
    return activation_layer(activation, name=f"{prefix}_act{index}")(x)


# ---------------------------------------------------------------- U-Net
def _unet_sizes(input_shape, depth: int, padding: str) -> None:
    """Checks that every pooling sees an even size and crops stay positive."""
    for axis, size in zip(("height", "width"), spatial_shape(input_shape), strict=True):
        if size is None:
            if padding == "valid":
                raise ValueError(
                    f"Invalid input_shape={tuple(input_shape)!r}: padding='valid' "
                    "needs a static height and width (the skip connections are "
                    "cropped to computed sizes)."
                )
            continue
        if padding == "same":
            if size % 2**depth:
                raise ValueError(
                    f"Invalid input_shape={tuple(input_shape)!r}: with "
                    f"padding='same' and depth={depth} the {axis} must be "
                    f"divisible by 2**depth = {2**depth}; received {size}."
                )
            continue
        # padding="valid": two unpadded 3x3 convs take 4 pixels per level.
        s = size
        ok = True
        for _ in range(depth):
            s -= 4
            if s < 2 or s % 2:
                ok = False
                break
            s //= 2
        s -= 4
        for _ in range(depth):
            s = 2 * s - 4
        if not ok or s < 1:
            raise ValueError(
                f"Invalid input_shape={tuple(input_shape)!r}: with padding='valid' "
                f"and depth={depth} the {axis} ({size}) must leave an even size "
                "before every pooling and a positive output size, e.g. 572 for "
                "depth=4 (output 388, as in the paper)."
            )


@image_builder
def unet(
    input_shape=(256, 256, 1),
    num_classes: int = 2,
    depth: int = 4,
    base_filters: int = 64,
    padding: str = "same",
    batch_norm: bool = False,
    dropout: float = 0.5,
    upsampling: str = "transpose",
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    classifier_activation: str | None = "auto",
    weights: str | None = None,
    data_format: str | None = None,
):
    """U-Net (Ronneberger et al. 2015): encoder-decoder with skip connections.

    A contracting path of `depth` levels (two 3x3 convolutions, then 2x2 max
    pooling; the filters double at every level from `base_filters`), a
    bottleneck, and an expanding path that upsamples by 2 with a 2x2
    up-convolution halving the filters, concatenates the encoder features of
    the same level and applies two 3x3 convolutions. A 1x1 convolution maps
    the features to per-pixel class scores. With padding="valid" (the paper's
    setting) the encoder features are center-cropped before concatenation and
    the output is smaller than the input (572 -> 388 for depth=4).

    Layer names: "enc{i}_conv{j}", "enc{i}_pool", "bottleneck_conv{j}",
    "bottleneck_dropout", "dec{i}_upconv", "dec{i}_concat", "dec{i}_conv{j}",
    "predictions".

    Args:
        input_shape: tuple. Input (height, width, channels); with "same" padding
            height and width must be divisible by 2**depth.
        num_classes: int. Classes per pixel; 1 gives a sigmoid binary mask.
        depth: int. Number of down-sampling steps (4 in the paper).
        base_filters: int. Filters of the first level (64 in the paper).
        padding: str. "same" (output size = input size) or "valid" (paper).
        batch_norm: bool. Batch normalization after every 3x3 convolution
            (not in the paper); the convolutions then have no bias.
        dropout: float. Dropout rate after the bottleneck (end of the
            contracting path, as in the paper); 0 disables it.
        upsampling: str. "transpose" (the paper's 2x2 up-convolution, a
            Conv2DTranspose) or "bilinear" (bilinear upsampling then a 2x2
            convolution; same parameter count).
        activation: str. Activation after every 3x3 convolution.
        kernel_initializer: str. Kernel initializer (the paper's Gaussian with
            std sqrt(2/N) is "he_normal").
        classifier_activation: str or None. "auto" (softmax, or sigmoid when
            num_classes == 1), None for logits, or an activation name.
        weights: str or None. None or the path of a local weights file.

    Returns:
        keras.Model named "unet" with output shape (H', W', num_classes).

    Raises:
        ValueError: if a hyperparameter is invalid or the input size does not
            fit the depth and padding (the message names it).

    Example:
    >>> model = kerasdl.build("unet", input_shape=(64, 64, 3), num_classes=4,
    ...                       base_filters=16, depth=3)
    >>> model.output_shape
    (None, 64, 64, 4)
    """
    check_int("num_classes", num_classes, minimum=1)
    check_int("depth", depth, minimum=1)
    check_int("base_filters", base_filters, minimum=1)
    check_choice("padding", padding, PADDINGS)
    check_rate("dropout", dropout)
    check_choice("upsampling", upsampling, UPSAMPLINGS)
    init = check_conv_style(activation, batch_norm, kernel_initializer, weights)
    _check_classifier_activation(classifier_activation)
    shape = check_input_shape(input_shape, rank=3)
    _unet_sizes(shape, depth, padding)

    unit = dict(
        padding=padding, batch_norm=batch_norm, activation=activation, init=init
    )
    inputs = keras.Input(shape=shape, name="input")
    x = inputs
    skips = []
    for level in range(1, depth + 1):
        filters = base_filters * 2 ** (level - 1)
        x = _conv_unit(x, filters, f"enc{level}", 1, **unit)
        x = _conv_unit(x, filters, f"enc{level}", 2, **unit)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)

    x = _conv_unit(x, base_filters * 2**depth, "bottleneck", 1, **unit)
    x = _conv_unit(x, base_filters * 2**depth, "bottleneck", 2, **unit)
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)

    for level in range(depth, 0, -1):
        filters = base_filters * 2 ** (level - 1)
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(
                filters,
                2,
                strides=2,
                kernel_initializer=init,
                name=f"dec{level}_upconv",
            )(x)
        else:
            x = layers.UpSampling2D(
                2, interpolation="bilinear", name=f"dec{level}_upsample"
            )(x)
            x = layers.Conv2D(
                filters,
                2,
                padding="same",
                kernel_initializer=init,
                name=f"dec{level}_upconv",
            )(x)
        skip = skips[level - 1]
        if padding == "valid":
            # (H, W) of the skip exceed the upsampled map: center-crop them.
            crop = []
            for s_skip, s_up in zip(
                spatial_shape(skip.shape[1:]), spatial_shape(x.shape[1:]), strict=True
            ):
                extra = s_skip - s_up
                crop.append((extra // 2, extra - extra // 2))
            skip = layers.Cropping2D(tuple(crop), name=f"dec{level}_crop")(skip)
        x = concat_channels([skip, x], f"dec{level}_concat")
        x = _conv_unit(x, filters, f"dec{level}", 1, **unit)
        x = _conv_unit(x, filters, f"dec{level}", 2, **unit)

    activation = _output_activation(classifier_activation, num_classes)
    outputs = pixel_classification_head(
        x, num_classes, activation=activation, kernel_initializer=init
    )
    return finish_model(inputs, outputs, "unet", weights)


# ---------------------------------------------------------------- FCN
FCN_VARIANTS = ("32s", "16s", "8s")


@image_builder
def fcn(
    variant: str = "8s",
    input_shape=(224, 224, 3),
    num_classes: int = 21,
    backbone_depth: int = 16,
    backbone_filters: int = 64,
    fc_filters: int = 4096,
    dropout: float = 0.5,
    upsampling: str = "transpose",
    batch_norm: bool = False,
    activation: str = "relu",
    kernel_initializer: str = "glorot_uniform",
    classifier_activation: str | None = "auto",
    weights: str | None = None,
    data_format: str | None = None,
):
    """Fully convolutional network (Long et al. 2015): FCN-32s, -16s and -8s.

    A VGG encoder (five blocks of 3x3 convolutions, keras.applications layer
    names "block1_conv1" ... "block5_pool", configurations of kerasdl's
    `vgg`), its fully connected layers recast as convolutions ("fc6": 7x7,
    "fc7": 1x1, each followed by dropout), a 1x1 class scorer ("score_fr") and
    upsampling back to the input size. FCN-32s upsamples the stride-32 scores
    32x ("upscore32"). FCN-16s upsamples them 2x ("upscore2"), adds the
    scores of pool4 ("score_pool4", "fuse_pool4") and upsamples 16x
    ("upscore16"). FCN-8s also upsamples that 2x ("upscore_pool4"), adds
    the scores of pool3 ("score_pool3", "fuse_pool3") and upsamples 8x
    ("upscore8"). Transposed convolutions have no bias and start as bilinear
    interpolation, as in the paper; padding is "same" instead of the paper's
    100-pixel padding and crops, so the output size equals the input size.
    `backbone_filters` and `fc_filters` shrink the network for small
    experiments (64 and 4096 reproduce the paper; about 134M parameters).

    Args:
        variant: str. "32s", "16s" or "8s" (output stride before upsampling).
        input_shape: tuple. Input (height, width, channels); height and width
            must be divisible by 32.
        num_classes: int. Classes per pixel (21 for PASCAL VOC); 1 gives a
            sigmoid binary mask.
        backbone_depth: int. VGG configuration: 11, 13, 16 (paper) or 19.
        backbone_filters: int. Filters of the first VGG block (64 in VGG); the
            blocks have 1x, 2x, 4x, 8x and 8x this.
        fc_filters: int. Filters of fc6 and fc7 (4096 in VGG).
        dropout: float. Dropout rate after fc6 and fc7 (0.5 in the paper).
        upsampling: str. "transpose" (learned, bilinear-initialized
            transposed convolutions, as in the paper) or "bilinear" (fixed
            bilinear upsampling without parameters).
        batch_norm: bool. Batch normalization after every convolution of the
            encoder and fc6/fc7 (not in the paper).
        activation: str. Activation of the encoder convolutions and fc6/fc7.
        kernel_initializer: str. Initializer of the convolution kernels.
        classifier_activation: str or None. "auto" (softmax, or sigmoid when
            num_classes == 1), None for logits, or an activation name.
        weights: str or None. None or the path of a local weights file.

    Returns:
        keras.Model named "fcn8s", "fcn16s" or "fcn32s", with output shape
        (H, W, num_classes).

    Raises:
        ValueError: if a hyperparameter is invalid or the input size is not
            divisible by 32 (the message names it).

    Example:
    >>> model = kerasdl.build("fcn", variant="16s", input_shape=(64, 64, 3),
    ...                       num_classes=5, backbone_filters=8, fc_filters=64)
    >>> model.output_shape
    (None, 64, 64, 5)
    """
    check_choice("variant", variant, FCN_VARIANTS)
    check_int("num_classes", num_classes, minimum=1)
    check_choice("backbone_depth", backbone_depth, VGG_BLOCKS)
    check_int("backbone_filters", backbone_filters, minimum=1)
    check_int("fc_filters", fc_filters, minimum=1)
    check_rate("dropout", dropout)
    check_choice("upsampling", upsampling, UPSAMPLINGS)
    init = check_conv_style(activation, batch_norm, kernel_initializer, weights)
    _check_classifier_activation(classifier_activation)
    shape = check_input_shape(input_shape, rank=3)
    for axis, size in zip(("height", "width"), spatial_shape(shape), strict=True):
        if size is not None and size % 32:
            raise ValueError(
                f"Invalid input_shape={shape!r}: the {axis} must be divisible by "
                f"32 (the encoder's output stride); received {size}."
            )

    unit = dict(batch_norm=batch_norm, activation=activation, init=init)
    inputs = keras.Input(shape=shape, name="input")
    x = inputs
    pools = {}
    scale = backbone_filters / VGG_FILTERS[0]
    for b, (convs, filters) in enumerate(
        zip(VGG_BLOCKS[backbone_depth], VGG_FILTERS, strict=True), 1
    ):
        for c in range(1, convs + 1):
            x = _vgg_conv(x, round(filters * scale), 3, f"block{b}_conv{c}", **unit)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
        pools[b] = x

    # fc6/fc7 of VGG as convolutions: the classifier slides over the image.
    x = _vgg_conv(x, fc_filters, 7, "fc6", **unit)
    if dropout > 0:
        x = layers.Dropout(dropout, name="fc6_dropout")(x)
    x = _vgg_conv(x, fc_filters, 1, "fc7", **unit)
    if dropout > 0:
        x = layers.Dropout(dropout, name="fc7_dropout")(x)
    score = layers.Conv2D(num_classes, 1, kernel_initializer=init, name="score_fr")(
        x
    )  # (H/32, W/32, classes)

    def up(t, factor, name):
        if upsampling == "bilinear":
            return layers.UpSampling2D(factor, interpolation="bilinear", name=name)(t)
        return layers.Conv2DTranspose(
            num_classes,
            2 * factor,
            strides=factor,
            padding="same",
            use_bias=False,
            kernel_initializer=BilinearUpsamplingInitializer(),
            name=name,
        )(t)

    def fuse(t, pool, name):
        skip = layers.Conv2D(
            num_classes, 1, kernel_initializer=init, name=f"score_{name}"
        )(pool)
        return layers.Add(name=f"fuse_{name}")([t, skip])

    if variant == "32s":
        x = up(score, 32, "upscore32")
    else:
        x = fuse(up(score, 2, "upscore2"), pools[4], "pool4")  # (H/16, W/16)
        if variant == "16s":
            x = up(x, 16, "upscore16")
        else:
            x = fuse(up(x, 2, "upscore_pool4"), pools[3], "pool3")  # (H/8, W/8)
            x = up(x, 8, "upscore8")
    final = _output_activation(classifier_activation, num_classes)
    outputs = pixel_activation(x, final, "predictions")
    return finish_model(inputs, outputs, f"fcn{variant}", weights)


def _vgg_conv(x, filters, kernel_size, name, *, batch_norm, activation, init):
    """VGG naming: fused "name" conv, or "name" -> "name_bn" -> "name_act"."""
    if not batch_norm:
        return layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            activation=activation,  # fused, as kerasdl's and Keras' VGG
            kernel_initializer=init,
            name=name,
        )(x)
    x = layers.Conv2D(
        filters, kernel_size, padding="same", kernel_initializer=init, name=name
    )(x)
    x = channel_bn(x, f"{name}_bn")
    return activation_layer(activation, name=f"{name}_act")(x)


# ---------------------------------------------------------------- registry
for _builder, _tiny in (
    (unet, {"depth": 2, "base_filters": 4}),
    (fcn, {"backbone_filters": 4, "fc_filters": 16}),
):
    register_model(
        _builder.__name__,
        _builder,
        family="segmentation",
        task="segmentation",
        tiny={**TINY_IMAGE, **_tiny},
    )
del _builder, _tiny
