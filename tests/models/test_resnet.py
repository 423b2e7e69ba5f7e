"""Tests of the ResNet builders (v1, v2, CIFAR) and the ChannelPadding layer."""

import keras
import numpy as np
import pytest

from kerasdl.layers import ChannelPadding
from kerasdl.models.resnet import resnet_cifar, resnet_v1, resnet_v2
from kerasdl.registry import build_model, get_entry, list_models

TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "base_filters": 8}


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer_types(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# ---------------------------------------------------------------- registry
def test_registered_names_and_families():
    assert list_models("resnet*", family="resnet") == [
        "resnet101",
        "resnet152",
        "resnet18",
        "resnet34",
        "resnet50",
    ]
    assert list_models("resnet*v2") == [
        "resnet101v2",
        "resnet152v2",
        "resnet18v2",
        "resnet34v2",
        "resnet50v2",
    ]
    assert list_models(family="resnet_cifar") == [
        "resnet110",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
    ]
    assert get_entry("resnet50").presets == {"depth": 50}
    assert get_entry("resnet56").builder is resnet_cifar


def test_build_by_name_uses_preset_depth():
    model = build_model("resnet34", **TINY)
    assert model.name == "resnet34"
    # 3 + 4 + 6 + 3 basic blocks.
    assert (
        len([n for n in (ly.name for ly in model.layers) if n.endswith("_add")]) == 16
    )
    with pytest.raises(ValueError, match="fixed to 34"):
        build_model("resnet34", depth=50)


# ---------------------------------------------------------------- counts
# keras.applications at 224x224x3, 1000 classes: (v1 name, count, v2 name, count).
KERAS_APPLICATIONS = {
    50: ("ResNet50", 25_636_712, "ResNet50V2", 25_613_800),
    101: ("ResNet101", 44_707_176, "ResNet101V2", 44_675_560),
    152: ("ResNet152", 60_419_944, "ResNet152V2", 60_380_648),
}


@pytest.mark.parametrize("depth", [50, 101, 152])
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_counts_equal_keras_applications_figures(depth):
    _, v1_count, _, v2_count = KERAS_APPLICATIONS[depth]
    assert resnet_v1(depth=depth).count_params() == v1_count
    assert resnet_v2(depth=depth).count_params() == v2_count


def _live_reference_check(depth):
    v1_name, v1_count, v2_name, v2_count = KERAS_APPLICATIONS[depth]
    for ours, name, count in (
        (resnet_v1, v1_name, v1_count),
        (resnet_v2, v2_name, v2_count),
    ):
        reference = getattr(keras.applications, name)(weights=None)
        model = ours(depth=depth)
        assert model.count_params() == reference.count_params() == count
        assert trainable(model) == trainable(reference)


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_resnet50_counts_equal_keras_applications_models():
    _live_reference_check(50)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [101, 152])
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_deep_counts_equal_keras_applications_models(depth):
    # 101/152 differ from 50 only in blocks per stage; ~20 s each on 2 CPUs.
    _live_reference_check(depth)


def _weight_layout(model):
    # keras.applications leaves the v2 subsampling shortcuts unnamed.
    return [
        (layer.name, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers
        if layer.weights
    ]


@pytest.mark.parametrize(
    "ours, reference",
    [(resnet_v1, "ResNet50"), (resnet_v2, "ResNet50V2")],
)
def test_resnet50_same_layers_and_outputs_as_keras_applications(ours, reference):
    ref = getattr(keras.applications, reference)(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    model = ours(depth=50, include_top=False, input_shape=(32, 32, 3))
    assert _weight_layout(model) == _weight_layout(ref)
    named = {ly.name for ly in model.layers[1:]}
    ref_named = {ly.name for ly in ref.layers[1:] if "max_pooling2d" not in ly.name}
    assert ref_named <= named
    # Same weights give the same features (paddings and strides agree).
    model.set_weights(ref.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(ref(x)),
        rtol=1e-4,
        atol=1e-4,
    )


# torchvision (no conv biases; BN moving statistics are buffers, not parameters):
# resnet18 11,689,512, resnet34 21,797,672, resnet50 25,557,032,
# resnet101 44,549,160, resnet152 60,192,808
# (https://pytorch.org/vision/stable/models.html, "Params" column).
TORCHVISION = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_v1_without_bias_matches_torchvision(depth):
    model = resnet_v1(depth=depth, use_bias=False)
    assert trainable(model) == TORCHVISION[depth]


def test_v1_basic_counts_with_keras_conventions():
    # Default use_bias=True adds one bias per conv filter (ResNet-18: conv1 64
    # + conv2 4*64 + conv3 5*128 + conv4 5*256 + conv5 5*512 = 4,800, the 5th
    # conv being the projection); count_params adds BN moving statistics.
    r18 = resnet_v1(depth=18)
    r34 = resnet_v1(depth=34)
    assert (trainable(r18), r18.count_params()) == (11_694_312, 11_703_912)
    assert (trainable(r34), r34.count_params()) == (21_806_184, 21_823_208)
    assert trainable(r18) - TORCHVISION[18] == 4_800
    assert trainable(r34) - TORCHVISION[34] == 8_512


def test_v2_basic_counts():
    assert resnet_v2(depth=18).count_params() == 11_698_408
    assert resnet_v2(depth=34).count_params() == 21_815_848


# He et al. 2015, Table 6 ("# params") and the widely used reference
# implementation github.com/akamaster/pytorch_resnet_cifar10 (option A, no conv
# biases, BN gamma/beta counted): trainable parameters.
CIFAR = {
    20: (269_722, 0.27),
    32: (464_154, 0.46),
    44: (658_586, 0.66),
    56: (853_018, 0.85),
    110: (1_727_962, 1.7),
}


@pytest.mark.parametrize("depth", sorted(CIFAR))
def test_cifar_option_a_counts_match_paper(depth):
    exact, paper_millions = CIFAR[depth]
    model = build_model(f"resnet{depth}")
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)
    assert trainable(model) == exact
    digits = 1 if depth == 110 else 2
    assert round(exact / 1e6, digits) == paper_millions
    # Keras also counts the moving mean/variance: 2 per BN channel,
    # BN channels = 16 + 3 stages * 2n blocks' convs (16 + 32 + 64 filters).
    n = (depth - 2) // 6
    assert model.count_params() == exact + 2 * (16 + 2 * n * (16 + 32 + 64))


def test_cifar_option_a_is_parameter_free_and_option_b_projects():
    a = resnet_cifar(depth=20)
    b = resnet_cifar(depth=20, shortcut="B")
    assert [ly.name for ly in layer_types(a, ChannelPadding)] == [
        "conv3_block1_0_pad",
        "conv4_block1_0_pad",
    ]
    assert not [ly for ly in a.layers if ly.name.endswith("_0_conv")]
    assert [ly.name for ly in b.layers if ly.name.endswith("_0_conv")] == [
        "conv3_block1_0_conv",
        "conv4_block1_0_conv",
    ]
    assert not layer_types(b, ChannelPadding)
    # 1x1 projections 16->32 and 32->64 plus their BN (gamma, beta).
    assert trainable(b) - trainable(a) == 16 * 32 + 32 * 64 + 2 * (32 + 64)
    assert trainable(b) == 272_474


# ---------------------------------------------------------------- options
def test_batch_norm_false_removes_bn_and_adds_biases():
    model = resnet_cifar(depth=20, batch_norm=False)
    assert not layer_types(model, keras.layers.BatchNormalization)
    convs = layer_types(model, keras.layers.Conv2D)
    assert len(convs) == 19 and all(c.use_bias for c in convs)
    assert all(not c.use_bias for c in layer_types(resnet_cifar(), keras.layers.Conv2D))
    v1 = resnet_v1(depth=18, batch_norm=False, **TINY)
    assert not layer_types(v1, keras.layers.BatchNormalization)


def test_activation_and_initializer_options():
    model = resnet_v1(depth=18, activation="gelu", kernel_initializer="he", **TINY)
    acts = layer_types(model, keras.layers.Activation)
    assert acts and {a.get_config()["activation"] for a in acts} == {"gelu"}
    names = {ly.name for ly in model.layers}
    assert {"conv1_gelu", "conv2_block1_1_gelu", "conv2_block1_out"} <= names
    assert not any(name.endswith("_relu") for name in names)
    for conv in layer_types(model, keras.layers.Conv2D):
        assert conv.kernel_initializer.__class__.__name__ == "HeNormal"
    cifar = resnet_cifar(activation="leaky_relu")
    assert len(layer_types(cifar, keras.layers.LeakyReLU)) == 19
    default = resnet_cifar()
    for conv in layer_types(default, keras.layers.Conv2D):
        assert conv.kernel_initializer.__class__.__name__ == "HeNormal"
    v2 = resnet_v2(depth=18, activation="swish", **TINY)
    assert "post_swish" in {ly.name for ly in v2.layers}


def test_dropout_and_pooling_heads():
    model = resnet_cifar(dropout=0.3)
    assert model.get_layer("top_dropout").rate == pytest.approx(0.3)
    assert model.get_layer("predictions").units == 10
    features = resnet_v1(depth=50, include_top=False, **TINY)
    assert features.output_shape == (None, 1, 1, 32 * 8)  # 4 * 8 * base_filters
    pooled = resnet_v2(depth=50, include_top=False, pooling="max", **TINY)
    assert pooled.output_shape == (None, 256)
    assert pooled.layers[-1].name == "max_pool"
    logits = resnet_cifar(classifier_activation=None, num_classes=7)
    assert logits.get_layer("predictions").get_config()["activation"] == "linear"


@pytest.mark.parametrize(
    "dilate, size, rates",
    [
        ((False, False, False), 2, (1, 1)),
        ((False, False, True), 4, (1, 2)),
        ((False, True, True), 8, (2, 4)),
    ],
)
def test_replace_stride_with_dilation_output_stride(dilate, size, rates):
    # 64 px input: output stride 32 -> 2x2, 16 -> 4x4, 8 -> 8x8.
    model = resnet_v1(
        depth=50,
        input_shape=(64, 64, 3),
        include_top=False,
        base_filters=8,
        replace_stride_with_dilation=dilate,
    )
    assert model.output_shape == (None, size, size, 256)
    # torchvision: a dilated stage's first 3x3 keeps the previous dilation.
    assert model.get_layer("conv4_block2_2_conv").dilation_rate == (rates[0],) * 2
    assert model.get_layer("conv5_block1_2_conv").dilation_rate == (rates[0],) * 2
    assert model.get_layer("conv5_block2_2_conv").dilation_rate == (rates[1],) * 2
    plain = resnet_v1(
        depth=50, input_shape=(64, 64, 3), include_top=False, base_filters=8
    )
    assert model.count_params() == plain.count_params()


def test_dilation_on_basic_blocks():
    model = resnet_v1(
        depth=18,
        input_shape=(64, 64, 3),
        include_top=False,
        base_filters=8,
        replace_stride_with_dilation=[False, False, True],
    )
    assert model.output_shape == (None, 4, 4, 64)
    assert model.get_layer("conv5_block1_1_conv").dilation_rate == (1, 1)
    assert model.get_layer("conv5_block1_2_conv").dilation_rate == (2, 2)


def test_tiny_forward_and_train_step():
    model = build_model("resnet20", input_shape=(16, 16, 3), num_classes=3)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    probs = keras.ops.convert_to_numpy(model(x))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(x, np.eye(3, dtype="float32")[[0, 1]])
    changed = [
        not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    ]
    assert any(changed)


def test_graph_rules():
    for model in (
        resnet_v1(depth=18, **TINY),
        resnet_v2(depth=50, **TINY),
        resnet_cifar(depth=20),
    ):
        names = [ly.name for ly in model.layers]
        assert len(names) == len(set(names))
        assert not any(isinstance(ly, keras.Model) for ly in model.layers)
        assert not layer_types(model, keras.layers.Lambda)
        assert all(len(ly._inbound_nodes) == 1 for ly in model.layers)


def test_weights_round_trip(tmp_path):
    source = resnet_cifar(depth=8, input_shape=(16, 16, 3), num_classes=3)
    path = str(tmp_path / "r8.weights.h5")
    source.save_weights(path)
    loaded = resnet_cifar(depth=8, input_shape=(16, 16, 3), num_classes=3, weights=path)
    for a, b in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip_with_channel_padding():
    model = resnet_cifar(depth=8, input_shape=(16, 16, 3), num_classes=3)
    clone = keras.Model.from_config(model.get_config())
    assert isinstance(clone.get_layer("conv3_block1_0_pad"), ChannelPadding)
    assert clone.get_layer("conv3_block1_0_pad").padding == (8, 8)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (resnet_v1, {"depth": 19}, r"Invalid depth=19\. Accepted: 18, 34, 50"),
        (resnet_v2, {"depth": "50"}, r"Invalid depth='50'"),
        (resnet_cifar, {"depth": 21}, r"Invalid depth=21: expected 6n\+2"),
        (resnet_cifar, {"depth": 2}, r"Invalid depth=2: expected 6n\+2"),
        (resnet_cifar, {"shortcut": "C"}, r"Invalid shortcut='C'.*'A', 'B'"),
        (resnet_v1, {"batch_norm": "yes"}, r"Invalid batch_norm='yes'"),
        (resnet_v1, {"use_bias": 1}, r"Invalid use_bias=1"),
        (resnet_cifar, {"activation": "rellu"}, r"Invalid activation='rellu'"),
        (
            resnet_v2,
            {"kernel_initializer": "kaiming"},
            r"Invalid kernel_initializer='kaiming'",
        ),
        (resnet_v1, {"base_filters": 0}, r"Invalid base_filters=0"),
        (
            resnet_v1,
            {"replace_stride_with_dilation": [True, True]},
            r"Invalid replace_stride_with_dilation=\[True, True\]",
        ),
        (resnet_v1, {"pooling": "mean"}, r"Invalid pooling='mean'"),
        (resnet_cifar, {"dropout": 1.5}, r"Invalid dropout=1\.5"),
        (resnet_v1, {"input_shape": (16, 16, 3)}, r"at least 32"),
        (resnet_cifar, {"weights": "/no/such/file.h5"}, r"Invalid weights="),
    ],
)
def test_invalid_hyperparameters(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


# ---------------------------------------------------------------- layer
def test_channel_padding_values_and_config():
    layer = ChannelPadding((1, 2), name="pad")
    x = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) + 1
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 1:4], x)
    assert not y[..., 0].any() and not y[..., 4:].any()
    assert layer.compute_output_shape((None, 2, 2, 3)) == (None, 2, 2, 6)
    clone = ChannelPadding.from_config(layer.get_config())
    assert clone.padding == (1, 2) and clone.axis == -1
    assert ChannelPadding(4).padding == (4, 4)
    with pytest.raises(ValueError, match=r"Invalid padding=-1"):
        ChannelPadding(-1)
