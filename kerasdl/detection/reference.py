"""keras-hub's RetinaNet, built from its config as the reference detector."""

from __future__ import annotations

from kerasdl._checks import check_int

__all__ = ["RETINANET_RESNET50_FPN", "retinanet"]

# The architecture of keras-hub's preset "retinanet_resnet50_fpn_coco"
# (ResNet-50 v1 with bottleneck blocks, FPN levels P3..P7 from C5, 91 COCO
# category ids); keras-hub's preset metadata gives it 34,121,239 parameters.
RETINANET_RESNET50_FPN = {
    "encoder": {
        "input_conv_filters": [64],
        "input_conv_kernel_sizes": [7],
        "stackwise_num_filters": [64, 128, 256, 512],
        "stackwise_num_blocks": [3, 4, 6, 3],
        "stackwise_num_strides": [1, 2, 2, 2],
        "block_type": "bottleneck_block",
        "use_pre_activation": False,
    },
    "backbone": {"min_level": 3, "max_level": 7, "use_p5": False},
    "num_classes": 91,
    "published_parameters": 34_121_239,
}


def retinanet(num_classes: int = 91, encoder: dict | None = None, **backbone):
    """Builds keras-hub's RetinaNetObjectDetector from a config, without weights.

    Nothing is downloaded: the ResNet encoder, the feature pyramid and the
    heads are created from hyperparameters (by default those of the preset
    "retinanet_resnet50_fpn_coco", `RETINANET_RESNET50_FPN`), so its
    parameter count and outputs can be compared with kerasdl's `fcos`.

    Args:
        num_classes: int. Object classes of the classification head.
        encoder: dict or None. `keras_hub.models.ResNetBackbone` arguments;
            default: ResNet-50's.
        **backbone: `keras_hub.models.RetinaNetBackbone` arguments
            (min_level, max_level, use_p5); default: the preset's.

    Returns:
        keras_hub.models.RetinaNetObjectDetector. Called on images (N, H, W,
        3) it returns {"bbox_regression": (N, anchors, 4), "cls_logits":
        (N, anchors, num_classes)}.

    Raises:
        ValueError: if keras-hub is not installed.

    Example:
    >>> model = retinanet()
    >>> model.count_params()
    34121239
    """
    num_classes = check_int("num_classes", num_classes, minimum=1)
    try:
        import keras_hub
    except ImportError:
        raise ValueError(
            "retinanet needs keras-hub (pip install 'keras-hub==0.32.*', or the "
            "kerasdl[hub] extra)."
        ) from None
    image_shape = (None, None, 3)
    image_encoder = keras_hub.models.ResNetBackbone(
        **(RETINANET_RESNET50_FPN["encoder"] if encoder is None else encoder),
        image_shape=image_shape,
    )
    retina_backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=image_encoder,
        **{**RETINANET_RESNET50_FPN["backbone"], **backbone},
        image_shape=image_shape,
    )
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=retina_backbone, num_classes=num_classes
    )
