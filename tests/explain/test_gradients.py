"""kerasdl.explain's attributions are right, not only shaped right.

The data: noise images with one object (a filled square, a plus or an X,
which decides the class) at a random place, so the box that explains the
class is known. Every backend checks Grad-CAM and Grad-CAM++ on a CNN whose
weights are set by hand (template filters of the three shapes, so its answer
is known) and integrated gradients' completeness; the trained-CNN pointing
game runs once, slow-marked, on TensorFlow (training takes 20 s on JAX).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import explain
from tests.explain.shapes import (
    SIZE,
    pointing_game,
    shapes_dataset,
    template_cnn,
)


@pytest.fixture(scope="module")
def hand_set():
    model = template_cnn()
    x, y, boxes = shapes_dataset(60, seed=1)
    return model, x, y, boxes


def test_template_cnn_classifies_the_shapes(hand_set):
    model, x, y, _ = hand_set
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    assert accuracy >= 0.95


@pytest.mark.parametrize("method", [explain.grad_cam, explain.grad_cam_plus_plus])
def test_grad_cam_points_at_the_object(hand_set, method):
    model, x, y, boxes = hand_set
    heat = method(model, x, target=y)
    assert heat.shape == (len(x), SIZE, SIZE)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert pointing_game(heat, boxes) >= 0.9


def test_grad_cam_finds_the_last_conv_layer_or_a_named_one(hand_set):
    model = hand_set[0]
    assert explain.find_conv_layer(model).name == "templates"
    assert explain.find_conv_layer(model, "templates").name == "templates"
    with pytest.raises(ValueError, match="layer='scores'"):
        explain.find_conv_layer(model, "scores")
    with pytest.raises(ValueError, match="tempaltes.*templates"):
        explain.find_conv_layer(model, "tempaltes")


def test_integrated_gradients_completeness(hand_set):
    model, x, y, _ = hand_set
    x, y = x[:3], y[:3]
    # The max-pooled template CNN has kinks on the path: the trapezoid's
    # error falls as 1/steps (measured 0.75% at 128 steps, 0.37% at 256).
    attributions = explain.integrated_gradients(model, x, target=y, steps=256)
    rows = np.arange(len(x))
    difference = (
        model.predict(x, verbose=0)[rows, y]
        - model.predict(np.zeros_like(x), verbose=0)[rows, y]
    )
    total = attributions.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(total, difference, rtol=0.01)


def test_saliency_smoothgrad_occlusion_are_highest_on_the_object(hand_set):
    model, x, y, boxes = hand_set
    x, y, boxes = x[:10], y[:10], boxes[:10]
    # Gradient maps are noisy at single pixels; their peak still lies on
    # the object for nearly every image, and occlusion's (a patch hides
    # the object) always.
    assert pointing_game(explain.saliency(model, x, y), boxes) >= 0.8
    assert pointing_game(explain.smoothgrad(model, x, y, samples=8), boxes) >= 0.8
    heat = explain.occlusion(model, x, y, patch=4, stride=2)
    assert heat.shape == (10, SIZE, SIZE)
    assert pointing_game(heat, boxes) >= 0.9


@pytest.mark.one_backend
def test_errors_name_the_argument(hand_set):
    model, x, _, _ = hand_set
    with pytest.raises(ValueError, match="target classes"):
        explain.saliency(model, x[:2], target=7)
    with pytest.raises(ValueError, match="steps"):
        explain.integrated_gradients(model, x[:1], steps=0)
    with pytest.raises(ValueError, match="floating-point"):
        explain.saliency(model, x[:2].astype("int32"))
    subclassed = keras.Model()
    with pytest.raises(ValueError, match="functional or Sequential"):
        explain.find_conv_layer(subclassed)


@pytest.mark.slow
def test_trained_cnn_pointing_game():
    keras.utils.set_random_seed(0)
    x, y, _ = shapes_dataset(600)
    x_test, y_test, boxes = shapes_dataset(100, seed=1)
    # Bias-free convolutions: with biases the network learns a constant
    # "background" channel, and Grad-CAM then (correctly) highlights the
    # background for a class it recognizes by the absence of the others.
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(
                8, 3, padding="same", activation="relu", use_bias=False
            ),
            keras.layers.Conv2D(
                16, 3, padding="same", activation="relu", use_bias=False
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0)[1] >= 0.95
    for method in (explain.grad_cam, explain.grad_cam_plus_plus):
        assert pointing_game(method(model, x_test, target=y_test), boxes) >= 0.9
    attributions = explain.integrated_gradients(
        model, x_test[:4], y_test[:4], steps=128
    )
    rows = np.arange(4)
    difference = (
        model.predict(x_test[:4], verbose=0)[rows, y_test[:4]]
        - model.predict(np.zeros_like(x_test[:4]), verbose=0)[rows, y_test[:4]]
    )
    np.testing.assert_allclose(
        attributions.reshape(4, -1).sum(1), difference, rtol=0.01
    )


@pytest.mark.one_backend
def test_grad_cam_on_a_residual_network_keeps_the_shortcuts():
    # The head (feature map -> output) also takes the image, so a shortcut
    # that bypasses the chosen layer still sees its own input.
    from kerasdl.explain.gradients import _split

    model = kerasdl.build("resnet20", input_shape=(16, 16, 3), num_classes=4)
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
    x = keras.ops.convert_to_tensor(x)
    layer = explain.find_conv_layer(model)
    features, head = _split(model, layer)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(head([x, features(x)])),
        keras.ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )
    # A layer inside the last residual stage: the add after it needs the shortcut.
    inner = [lay.name for lay in model.layers if lay.name.endswith("_conv")][-1]
    assert inner == "conv4_block3_2_conv"  # followed by bn, then the add
    features, head = _split(model, model.get_layer(inner))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(head([x, features(x)])),
        keras.ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )
    assert explain.grad_cam(model, x, layer=inner).shape == (2, 16, 16)
