"""Single-stage anchor-free object detection: an FCOS-style detector.

- "fcos": Tian et al. 2019, "FCOS: Fully Convolutional One-Stage Object
  Detection" (arXiv:1904.01355), reduced to one output level: a small CNN
  backbone whose stages halve the resolution, a top-down pathway (FPN, Lin et
  al. 2017) that fuses them down to the output stride, and two head towers,
  one for the classes and one for the box and its centre-ness.

The model's one output, named "predictions", is a plain tensor of shape
(batch, H / stride, W / stride, num_classes + 5): for every location of the
output grid, `num_classes` class logits (sigmoid, one per class), 4 raw box
distances (left, top, right, bottom: `exp(raw) * stride` pixels from the
location's centre) and one centre-ness logit. Keeping it one tensor lets
`model.fit`, `.keras` files and TFLite export treat the detector as any other
model; target assignment, the loss, box decoding, non-maximum suppression
and mAP live in `kerasdl.detection`.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from kerasdl._checks import check_float
from kerasdl.models._common import (
    check_bool,
    check_initializer,
    check_int,
    check_int_list,
    conv_bn_act,
    make_input,
)
from kerasdl.models.heads import finish_model
from kerasdl.registry import register_model

__all__ = ["fcos", "output_stride"]


def output_stride(filters, feature_level: int) -> int:
    """Pixels per output location of an `fcos` model: 2 ** feature_level.

    Args:
        filters: list of int. The backbone's filters per stage.
        feature_level: int. The stage the head reads (1 = first stage).
    """
    stages = len(check_int_list("filters", filters))
    check_int("feature_level", feature_level, minimum=1, maximum=stages)
    return 2**feature_level


def fcos(
    input_shape=(64, 64, 3),
    num_classes: int = 3,
    filters=(16, 32, 64, 96),
    feature_level: int = 2,
    head_filters: int = 48,
    head_convs: int = 2,
    batch_norm: bool = True,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    prior_probability: float = 0.01,
    weights: str | None = None,
):
    """FCOS-style anchor-free detector: class, box and centre-ness per location.

    Args:
        input_shape: tuple. (height, width, channels); height and width
            divisible by 2 ** len(filters).
        num_classes: int. Object classes (background is not a class).
        filters: list of int. Channels of the backbone stages; each stage
            halves the resolution (a stride-2 and a stride-1 3x3 conv).
        feature_level: int. Backbone stage the head reads after the top-down
            fusion (1 = first stage): output stride 2 ** feature_level.
        head_filters: int. Channels of the FPN and of both head towers.
        head_convs: int. 3x3 convs in each head tower before its outputs.
        batch_norm: bool. Batch normalization after every conv of the
            backbone and the towers.
        activation: str. Activation of the backbone and the towers.
        kernel_initializer: str. Initializer of every conv kernel.
        prior_probability: float in (0, 1). Initial foreground probability
            of the class outputs (their bias, as in RetinaNet and FCOS), so
            that the many background locations do not swamp early training.
        weights: str or None. Path of a local weights file.

    Returns:
        keras.Model with one output "predictions" of shape
        (batch, H / stride, W / stride, num_classes + 5).

    Example:
    >>> model = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
    >>> model.output_shape
    (None, 16, 16, 8)
    """
    filters = check_int_list("filters", filters)
    stride = output_stride(filters, feature_level)
    check_int("num_classes", num_classes, minimum=1)
    check_int("head_filters", head_filters, minimum=1)
    check_int("head_convs", head_convs, minimum=0)
    check_bool("batch_norm", batch_norm)
    check_float("prior_probability", prior_probability, minimum=1e-6, maximum=0.5)
    init = check_initializer(kernel_initializer)
    inputs = make_input(input_shape, rank=3, min_size=2 ** len(filters))
    for axis, size in zip(("height", "width"), inputs.shape[1:3], strict=True):
        if size is not None and size % 2 ** len(filters):
            raise ValueError(
                f"Invalid input_shape={tuple(input_shape)!r}: the {axis} ({size}) "
                f"must be divisible by 2 ** len(filters) = {2 ** len(filters)}."
            )
    unit = {"activation": activation, "batch_norm": batch_norm, "init": init}

    # Backbone: stage s (1-based) has stride 2 ** s.
    x = inputs
    stages = []
    for s, width in enumerate(filters, start=1):
        x = conv_bn_act(
            x, width, 3, _names(f"stage{s}_down"), strides=2, padding="same", **unit
        )
        x = conv_bn_act(x, width, 3, _names(f"stage{s}_conv"), **unit)
        stages.append(x)

    # Top-down pathway from the deepest stage to the head's level.
    p = layers.Conv2D(head_filters, 1, name=f"fpn_lateral{len(filters)}")(stages[-1])
    for s in range(len(filters) - 1, feature_level - 1, -1):
        p = layers.UpSampling2D(2, interpolation="nearest", name=f"fpn_up{s}")(p)
        lateral = layers.Conv2D(head_filters, 1, name=f"fpn_lateral{s}")(stages[s - 1])
        p = layers.Add(name=f"fpn_add{s}")([p, lateral])
    p = conv_bn_act(p, head_filters, 3, _names("fpn_smooth"), **unit)

    cls, reg = p, p
    for i in range(1, head_convs + 1):
        cls = conv_bn_act(cls, head_filters, 3, _names(f"cls_tower{i}"), **unit)
        reg = conv_bn_act(reg, head_filters, 3, _names(f"box_tower{i}"), **unit)
    bias = -math.log((1 - prior_probability) / prior_probability)
    class_logits = layers.Conv2D(
        num_classes,
        3,
        padding="same",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        bias_initializer=keras.initializers.Constant(bias),
        name="class_logits",
    )(cls)
    box = layers.Conv2D(
        4,
        3,
        padding="same",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name="box_distances",
    )(reg)
    centerness = layers.Conv2D(
        1,
        3,
        padding="same",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name="centerness",
    )(reg)
    outputs = layers.Concatenate(name="predictions")([class_logits, box, centerness])
    model = finish_model(inputs, outputs, name=f"fcos_s{stride}", weights=weights)
    return model


def _names(prefix: str) -> tuple[str, str, str]:
    return (prefix, f"{prefix}_bn", f"{prefix}_act")


# The detector outputs are not one task's prediction that the Trainer could
# pick a default loss for: `kerasdl.detection.DetectionLoss` is passed
# explicitly ("features" makes the Trainer ask for it).
register_model(
    "fcos",
    fcos,
    family="detection",
    task="features",
    tiny={
        "input_shape": (32, 32, 3),
        "num_classes": 2,
        "filters": (4, 8, 8),
        "head_filters": 8,
        "head_convs": 1,
    },
)
