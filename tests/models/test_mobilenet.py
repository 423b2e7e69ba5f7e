"""Tests of the MobileNet v1 and v2 builders."""

import keras
import numpy as np
import pytest

from kerasdl.models.mobilenet import make_divisible, mobilenet, mobilenet_v2
from kerasdl.registry import build_model, get_entry, list_models
from tests.conftest import random_inputs

TINY = {"input_shape": (32, 32, 3), "num_classes": 3}


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def body_names(model):
    """Layer names except the input, which keras.applications auto-names."""
    return {
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    }


# ---------------------------------------------------------------- registry
def test_registered_names():
    assert list_models(family="mobilenet") == ["mobilenet", "mobilenet_v2"]
    assert get_entry("mobilenet").builder is mobilenet
    assert get_entry("mobilenet_v2").builder is mobilenet_v2
    model = build_model("mobilenet_v2", **TINY, alpha=0.35)
    assert model.name == "mobilenet_v2"
    assert model.output_shape == (None, 3)


# ---------------------------------------------------------------- counts
@pytest.mark.parametrize(
    ("alpha", "depth_multiplier", "expected"),
    [
        (1.0, 1, 4_253_864),  # keras.applications.MobileNet, 224x224x3, 1000
        (0.5, 1, 1_342_536),
        (0.25, 1, 475_544),
        (1.0, 2, 7_457_928),
    ],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_mobilenet_v1_params_match_keras_applications(
    alpha, depth_multiplier, expected
):
    model = mobilenet(alpha=alpha, depth_multiplier=depth_multiplier)
    reference = keras.applications.MobileNet(
        alpha=alpha, depth_multiplier=depth_multiplier, weights=None
    )
    assert model.count_params() == reference.count_params() == expected


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [
        (1.0, 3_538_984),  # keras.applications.MobileNetV2, 224x224x3, 1000
        (0.35, 1_691_208),
        (1.4, 6_156_712),  # alpha > 1 also widens the last conv (1792)
    ],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_mobilenet_v2_params_match_keras_applications(alpha, expected):
    model = mobilenet_v2(alpha=alpha)
    reference = keras.applications.MobileNetV2(alpha=alpha, weights=None)
    assert model.count_params() == reference.count_params() == expected


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_layer_names_match_keras_applications():
    # Heads differ in naming only (keras' v1 uses a 1x1 conv "conv_preds").
    for ours, theirs in (
        (mobilenet(include_top=False), keras.applications.MobileNet),
        (mobilenet_v2(include_top=False), keras.applications.MobileNetV2),
    ):
        reference = theirs(include_top=False, weights=None)
        assert body_names(ours) == body_names(reference)
        for name in ("conv_pw_13", "Conv_1"):
            if name in body_names(ours):
                assert (
                    ours.get_layer(name).get_config()["filters"]
                    == (reference.get_layer(name).get_config()["filters"])
                )


def test_make_divisible():
    assert make_divisible(32 * 0.35) == 16  # 8 would be < 0.9 * 11.2
    assert make_divisible(12) == 16  # ties round up
    assert make_divisible(3) == 8  # never below the divisor
    assert make_divisible(1792.0) == 1792
    assert make_divisible(1280 * 1.3) == 1664
    assert make_divisible(100, divisor=16) == 96  # 96 >= 0.9 * 100


# ---------------------------------------------------------------- behaviour
def test_mobilenet_v1_structure_at_32px():
    model = mobilenet(**TINY, alpha=0.25, include_top=False)
    # Five stride-2 stages: 32 -> 1; last block has int(1024 * 0.25) filters.
    assert model.output_shape == (None, 1, 1, 256)
    assert len(layers_of(model, keras.layers.DepthwiseConv2D)) == 13
    assert len(layers_of(model, keras.layers.ZeroPadding2D)) == 4


def test_mobilenet_v2_residuals_and_linear_bottleneck():
    model = mobilenet_v2(**TINY, alpha=0.35)
    adds = [layer.name for layer in layers_of(model, keras.layers.Add)]
    # Identity shortcuts in every stride-1 repeat of a stage (10 of 17 blocks).
    assert adds == [f"block_{i}_add" for i in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)]
    # Linear bottleneck: no activation after any projection.
    names = [layer.name for layer in model.layers]
    for i, name in enumerate(names):
        if name.endswith("project_BN") and i + 1 < len(names):
            assert not names[i + 1].endswith("relu"), name


def test_mobilenet_v2_batch_norm_settings_match_keras():
    bn = mobilenet_v2(**TINY).get_layer("block_3_expand_BN")
    assert bn.momentum == 0.999 and bn.epsilon == 1e-3


@pytest.mark.parametrize("builder", [mobilenet, mobilenet_v2])
def test_batch_norm_false_removes_bn_and_adds_biases(builder):
    model = builder(**TINY, batch_norm=False)
    assert not layers_of(model, keras.layers.BatchNormalization)
    convs = layers_of(model, keras.layers.Conv2D)  # DepthwiseConv2D included
    assert convs and all(conv.use_bias for conv in convs)
    model(random_inputs(model))


@pytest.mark.parametrize("builder", [mobilenet, mobilenet_v2])
def test_activation_option_replaces_relu6(builder):
    default = builder(**TINY)
    model = builder(**TINY, activation="gelu")
    acts = [
        layer.get_config()["activation"]
        for layer in layers_of(model, keras.layers.Activation)
    ]
    assert acts and set(acts) == {"gelu"}
    default_acts = {
        layer.get_config()["activation"]
        for layer in layers_of(default, keras.layers.Activation)
    }
    assert default_acts == {"relu6"}


def test_dropout_head_and_pooling():
    model = mobilenet(**TINY, alpha=0.5)
    assert model.get_layer("top_dropout").rate == pytest.approx(1e-3)
    assert model.get_layer("predictions").units == 3
    probs = keras.ops.convert_to_numpy(model(random_inputs(model)))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)

    pooled = mobilenet_v2(**TINY, include_top=False, pooling="max")
    assert pooled.output_shape == (None, 1280)
    assert "max_pool" in body_names(pooled)
    assert not any("dropout" in n for n in body_names(mobilenet_v2(**TINY)))


def test_kernel_initializer_option():
    model = mobilenet(**TINY, alpha=0.25, kernel_initializer="he")
    init = model.get_layer("conv_pw_1").get_config()["kernel_initializer"]
    assert init["class_name"] == "HeNormal"
    dw = model.get_layer("conv_dw_1").get_config()["depthwise_initializer"]
    assert dw["class_name"] == "HeNormal"


def test_weights_from_local_file(tmp_path):
    model = mobilenet_v2(**TINY, alpha=0.35)
    path = str(tmp_path / "mobilenet_v2.weights.h5")
    model.save_weights(path)
    loaded = mobilenet_v2(**TINY, alpha=0.35, weights=path)
    x = random_inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-6,
    )


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("builder", "kwargs", "match"),
    [
        (mobilenet, {"alpha": 0}, r"Invalid alpha=0: expected a number >= 0.03125"),
        (mobilenet, {"alpha": "wide"}, r"Invalid alpha='wide'"),
        (mobilenet, {"alpha": 0.03}, r"Invalid alpha=0.03: expected a number >= "),
        (mobilenet_v2, {"alpha": -1.0}, r"Invalid alpha=-1.0: expected a number > 0"),
        (mobilenet, {"depth_multiplier": 0}, r"Invalid depth_multiplier=0"),
        (mobilenet, {"depth_multiplier": 1.5}, r"Invalid depth_multiplier=1.5"),
        (mobilenet, {"activation": "relu7"}, r"Invalid activation='relu7'"),
        (mobilenet_v2, {"batch_norm": "yes"}, r"Invalid batch_norm='yes'"),
        (mobilenet, {"kernel_initializer": "he_normall"}, r"Did you mean"),
        (mobilenet_v2, {"pooling": "mean"}, r"Invalid pooling='mean'"),
        (mobilenet, {"dropout": 1.0}, r"Invalid dropout=1.0"),
        (mobilenet_v2, {"num_classes": 0}, r"Invalid num_classes=0"),
        (mobilenet, {"input_shape": (16, 16, 3)}, r"at least 32"),
        (mobilenet_v2, {"weights": "imagenet"}, r"kerasdl never downloads"),
    ],
)
def test_invalid_hyperparameters(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**{**TINY, **kwargs})
