"""keras-hub's RetinaNet built offline from its config: the reference detector."""

import numpy as np
import pytest

import kerasdl
from kerasdl.detection import reference


@pytest.mark.one_backend
def test_retinanet_from_config_has_the_published_parameter_count_and_runs():
    model = reference.retinanet()
    published = reference.RETINANET_RESNET50_FPN["published_parameters"]
    assert model.count_params() == published == 34_121_239
    out = model(np.zeros((1, 64, 64, 3), "float32"))
    # P3..P7 of a 64x64 image: 8x8 + 4x4 + 2x2 + 1 + 1 locations, 9 anchors each.
    anchors = (64 + 16 + 4 + 1 + 1) * 9
    assert tuple(out["bbox_regression"].shape) == (1, anchors, 4)
    assert tuple(out["cls_logits"].shape) == (1, anchors, 91)
    # kerasdl's single-level detector is two orders of magnitude smaller.
    fcos = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
    assert fcos.count_params() < published / 50
