"""The detector exports to TFLite and decodes to the same detections."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import detection

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="export converts in-process on TensorFlow; other backends use a subprocess",
)


def test_tflite_outputs_decode_to_the_same_detections_as_keras(tmp_path):
    model = kerasdl.build(
        "fcos",
        input_shape=(32, 32, 3),
        num_classes=2,
        filters=(4, 8, 8),
        head_filters=8,
        head_convs=1,
    )
    # Spread the freshly initialized weights so that scores and boxes vary
    # from location to location (no near-ties for NMS to break either way).
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:
        w.assign(keras.ops.convert_to_numpy(w) + rng.normal(0, 0.3, w.shape))
    model.get_layer("class_logits").bias.assign(np.zeros(2, "float32"))
    images = rng.random((6, 32, 32, 3)).astype("float32")
    report = detection.export_detector(
        model,
        tmp_path / "fcos",
        images,
        stride=4,
        num_classes=2,
        score_threshold=0.3,
        image_shape=(32, 32),
    )
    assert report["manifest"]["files"]["tflite"]["verification"]["passed"]
    assert report["detections"] >= 6, report["detections"]
    assert report["agreement"] == 1.0 and report["max_abs_diff"] < 1e-3
    # The check can fail: shifted boxes or other scores do not agree.
    keras_dets = detection.decode_predictions(
        keras.ops.convert_to_numpy(model(images)), 4, 2, score_threshold=0.3
    )
    shifted = [{**d, "boxes": d["boxes"] + 1.0} for d in keras_dets]
    assert detection.detections_agree(keras_dets, shifted) == 0.0
