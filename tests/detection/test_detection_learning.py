"""The detector learns the rendered shapes: mAP@0.5 at least 0.80 (slow, TF)."""

import time

import keras
import pytest

import kerasdl
from kerasdl import detection


@pytest.mark.slow
@pytest.mark.one_backend
def test_fcos_reaches_map50_of_080_on_the_shapes_test_set():
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    data = detection.shapes_detection(num_train=1000, num_val=0, num_test=300, seed=0)
    model = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
    history = detection.fit_detector(model, *data.train, epochs=8, batch_size=16)
    result = detection.evaluate_detector(model, *data.test)
    seconds = time.perf_counter() - started
    print(
        f"fcos shapes: mAP@0.5 {result['map50']:.3f}, mAP@[.5:.95] "
        f"{result['map']:.3f}, loss {history.history['loss'][-1]:.3f}, {seconds:.0f} s"
    )
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert result["map50"] >= 0.80, result["map50"]
    assert result["map"] >= 0.40, result["map"]
