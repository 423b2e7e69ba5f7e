"""Tests of the EfficientNet B0-B7 builders and the compound-scaling helpers."""

import keras
import numpy as np
import pytest

from kerasdl.models import efficientnet as effnet
from kerasdl.models.efficientnet import (
    VARIANTS,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b7,
    round_filters,
    round_repeats,
)
from kerasdl.registry import build_model, get_entry, list_models
from tests.conftest import random_inputs

TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "width_coefficient": 0.25}


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def block_names(model):
    """Block prefixes ("block1a", "block2b", ...) in graph order."""
    return [
        layer.name[: -len("_project_conv")]
        for layer in model.layers
        if layer.name.endswith("_project_conv")
    ]


def comparable_names(model):
    # keras.applications auto-names its input and preprocessing layers.
    skip = (keras.layers.InputLayer, keras.layers.Rescaling, keras.layers.Normalization)
    return {layer.name for layer in model.layers if not isinstance(layer, skip)}


# ---------------------------------------------------------------- registry
def test_registered_names_and_defaults():
    names = [f"efficientnet_b{i}" for i in range(8)]
    assert list_models(family="efficientnet") == names
    assert get_entry("efficientnet_b7").builder is efficientnet_b7
    for name, (width, depth, resolution, dropout) in zip(
        names, VARIANTS.values(), strict=True
    ):
        hparams = get_entry(name).hyperparameters()
        assert hparams["input_shape"]["default"] == (resolution, resolution, 3)
        assert hparams["width_coefficient"]["default"] == width
        assert hparams["depth_coefficient"]["default"] == depth
        assert hparams["dropout"]["default"] == dropout
    assert VARIANTS["b7"] == (2.0, 3.1, 600, 0.5)


# ---------------------------------------------------------------- scaling
def test_round_filters():
    assert round_filters(32, 1.0) == 32
    assert round_filters(32, 1.1) == 32  # 35.2 -> nearest multiple of 8
    assert round_filters(1280, 2.0) == 2560
    assert round_filters(320, 1.8) == 576
    assert round_filters(16, 1.8) == 32  # 28.8 -> 32 (ties round up)
    assert round_filters(40, 1.4) == 56
    assert round_filters(4, 1.0) == 8  # never below the divisor
    # Rounding must not lose more than 10%: 20 -> 16 would, so 32.
    assert round_filters(20, 1.0, depth_divisor=16) == 32


def test_round_repeats():
    assert round_repeats(1, 1.0) == 1
    assert round_repeats(2, 1.1) == 3  # always rounds up
    assert round_repeats(4, 3.1) == 13
    assert round_repeats(3, 2.6) == 8
    # Blocks per variant: B0 has 16 MBConv blocks, B7 55.
    repeats = (1, 2, 2, 3, 3, 4, 1)
    totals = [sum(round_repeats(r, v[1]) for r in repeats) for v in VARIANTS.values()]
    assert totals == [16, 23, 23, 26, 32, 39, 45, 55]


# ---------------------------------------------------------------- counts
# keras.applications.EfficientNetB0..B7 (keras 3.15), weights=None, default
# resolution, 1000 classes; Rescaling + Normalization included (7 weights).
PARAMS = {
    "b0": 5_330_571,
    "b1": 7_856_239,
    "b2": 9_177_569,
    "b3": 12_320_535,
    "b4": 19_466_823,
    "b5": 30_562_527,
    "b6": 43_265_143,
    "b7": 66_658_687,
}


@pytest.mark.parametrize("variant", list(PARAMS))
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_params_match_keras_applications(variant):
    model = getattr(effnet, f"efficientnet_{variant}")()
    reference = getattr(keras.applications, f"EfficientNet{variant.upper()}")(
        weights=None
    )
    assert model.input_shape == reference.input_shape
    assert model.count_params() == reference.count_params() == PARAMS[variant]


@pytest.mark.parametrize(
    ("builder", "reference_name"),
    [(efficientnet_b0, "EfficientNetB0"), (efficientnet_b1, "EfficientNetB1")],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_layer_names_and_widths_match_keras_applications(builder, reference_name):
    model = builder()
    reference = getattr(keras.applications, reference_name)(weights=None)
    assert comparable_names(model) == comparable_names(reference)
    for name in ("stem_conv", "block1a_se_reduce", "block6d_expand_conv", "top_conv"):
        if name in comparable_names(model):
            assert model.get_layer(name).filters == reference.get_layer(name).filters
    # Drop-connect grows linearly with depth exactly as in keras.applications.
    for layer in layers_of(reference, keras.layers.Dropout):
        assert model.get_layer(layer.name).rate == pytest.approx(layer.rate)


# ---------------------------------------------------------------- behaviour
def test_b0_blocks_and_drop_connect():
    model = efficientnet_b0(**TINY)
    assert block_names(model) == [
        "block1a", "block2a", "block2b", "block3a", "block3b", "block4a",
        "block4b", "block4c", "block5a", "block5b", "block5c", "block6a",
        "block6b", "block6c", "block6d", "block7a",
    ]  # fmt: skip
    drops = layers_of(model, keras.layers.Dropout)
    # One drop-connect per residual block (the 9 repeats), plus the head.
    assert [d.name for d in drops][-1] == "top_dropout"
    assert len(drops) == 9 + 1
    block2b = model.get_layer("block2b_drop")
    assert block2b.rate == pytest.approx(0.2 * 2 / 16)
    # A whole residual branch is dropped per example.
    assert tuple(block2b.noise_shape) == (None, 1, 1, 1)

    none = efficientnet_b0(**TINY, drop_connect_rate=0.0, dropout=0.0)
    assert not layers_of(none, keras.layers.Dropout)


@pytest.mark.one_backend  # the block structure: the same on every backend
def test_b7_full_depth_at_32px():
    model = efficientnet_b7(**TINY, include_top=False)
    assert len(block_names(model)) == 55
    assert block_names(model)[-1] == "block7d"
    # 32 px / 32 = 1; top conv width round_filters(1280, 0.25) = 320.
    assert model.output_shape == (None, 1, 1, 320)


def test_squeeze_and_excitation():
    model = efficientnet_b0(**TINY)
    # SE width is a quarter of the block's *input* channels.
    expand = model.get_layer("block2a_expand_conv").filters
    assert model.get_layer("block2a_se_expand").filters == expand
    # block2a input: round_filters(16, 0.25) = 8 channels -> 2.
    assert model.get_layer("block2a_se_reduce").filters == 2
    assert len(layers_of(model, keras.layers.Multiply)) == 16

    plain = efficientnet_b0(**TINY, se_ratio=0.0)
    assert not layers_of(plain, keras.layers.Multiply)
    assert plain.count_params() < model.count_params()


def test_preprocessing_layers():
    full = efficientnet_b0()
    bare = efficientnet_b0(include_preprocessing=False)
    # Normalization holds mean (3), variance (3) and a count: 7 weights.
    assert full.count_params() - bare.count_params() == 7
    assert not layers_of(bare, keras.layers.Rescaling)
    assert full.get_layer("rescaling").scale == pytest.approx(1 / 255)


def test_width_and_depth_override_compound_scaling():
    wide = efficientnet_b0(**{**TINY, "width_coefficient": 2.0}, include_top=False)
    assert wide.get_layer("top_conv").filters == 2560
    assert len(block_names(wide)) == 16
    deep = efficientnet_b0(**TINY, depth_coefficient=2.0, include_top=False)
    assert len(block_names(deep)) == 2 + 4 + 4 + 6 + 6 + 8 + 2
    assert deep.get_layer("top_conv").filters == 320


def test_options_activation_batch_norm_initializer():
    model = efficientnet_b0(
        **TINY, activation="gelu", batch_norm=False, kernel_initializer="glorot"
    )
    assert not layers_of(model, keras.layers.BatchNormalization)
    assert all(conv.use_bias for conv in layers_of(model, keras.layers.Conv2D))
    acts = {
        layer.get_config()["activation"]
        for layer in layers_of(model, keras.layers.Activation)
    }
    assert acts == {"gelu"}
    init = model.get_layer("stem_conv").get_config()["kernel_initializer"]
    assert init["class_name"] == "GlorotUniform"
    default = efficientnet_b0(**TINY).get_layer("stem_conv")
    init = default.get_config()["kernel_initializer"]
    assert init["class_name"] == "VarianceScaling"
    assert init["config"]["mode"] == "fan_out"


def test_forward_train_and_pooling():
    model = build_model("efficientnet_b0", **TINY)
    assert model.name == "efficientnet_b0"
    x = random_inputs(model) * 255
    probs = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)

    features = efficientnet_b0(**TINY, include_top=False, pooling="avg")
    assert features.output_shape == (None, 320)
    assert "avg_pool" in comparable_names(features)


def test_weights_from_local_file(tmp_path):
    model = efficientnet_b0(**TINY)
    path = str(tmp_path / "b0.weights.h5")
    model.save_weights(path)
    loaded = efficientnet_b0(**TINY, weights=path)
    x = random_inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-5,
    )


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"width_coefficient": 0},
            r"Invalid width_coefficient=0: expected a number > 0",
        ),
        ({"depth_coefficient": -1.0}, r"Invalid depth_coefficient=-1.0"),
        ({"drop_connect_rate": 1.0}, r"Invalid drop_connect_rate=1.0"),
        ({"se_ratio": 1.5}, r"Invalid se_ratio=1.5"),
        ({"dropout": -0.1}, r"Invalid dropout=-0.1"),
        ({"activation": "swishh"}, r"Invalid activation='swishh'.*Did you mean"),
        ({"batch_norm": 1}, r"Invalid batch_norm=1: expected a bool"),
        ({"include_preprocessing": "yes"}, r"Invalid include_preprocessing='yes'"),
        ({"kernel_initializer": "fan_out"}, r"Invalid kernel_initializer='fan_out'"),
        ({"pooling": "sum"}, r"Invalid pooling='sum'"),
        ({"classifier_activation": "softmaxx"}, r"Invalid classifier_activation"),
        ({"input_shape": (31, 32, 3)}, r"at least 32"),
        ({"weights": "no/such/file.h5"}, r"Invalid weights='no/such/file.h5'"),
    ],
)
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        efficientnet_b0(**{**TINY, **kwargs})


def test_preset_names_reject_unknown_hyperparameters():
    with pytest.raises(ValueError, match="Unknown hyperparameter 'depth_divisor'"):
        build_model("efficientnet_b3", depth_divisor=4)
