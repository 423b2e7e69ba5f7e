"""Tests of kerasdl.models.densenet (DenseNet-121/169/201)."""

import keras
import numpy as np
import pytest
from keras import layers

import kerasdl.models  # noqa: F401  registers every family
from kerasdl.models.densenet import densenet
from kerasdl.registry import build_model, get_entry, list_models

SMALL = {"input_shape": (32, 32, 3), "num_classes": 3}


@pytest.mark.parametrize(
    "name, reference, expected",
    [
        ("densenet121", "DenseNet121", 8_062_504),
        ("densenet169", "DenseNet169", 14_307_880),
        ("densenet201", "DenseNet201", 20_242_984),
    ],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_parameter_count_and_layer_names_match_keras_applications(
    name, reference, expected
):
    model = build_model(name)
    ref = getattr(keras.applications, reference)(weights=None)
    assert model.name == name
    assert model.count_params() == ref.count_params() == expected
    ours = {layer.name for layer in model.layers}
    theirs = {layer.name for layer in ref.layers}
    # keras.applications leaves the input and the two paddings auto-named.
    assert ours - theirs == {"input", "conv1_pad", "pool1_pad"}
    assert len(theirs - ours) == 3


def test_keras_applications_weights_load_and_give_same_outputs():
    model = build_model("densenet121", include_top=False, input_shape=(32, 32, 3))
    ref = keras.applications.DenseNet121(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    model.set_weights(ref.get_weights())
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x, training=False)),
        keras.ops.convert_to_numpy(ref(x, training=False)),
        atol=1e-5,
    )


def test_registry_names_and_presets():
    assert list_models(family="densenet") == [
        "densenet121",
        "densenet169",
        "densenet201",
    ]
    assert get_entry("densenet169").presets == {"blocks": [6, 12, 32, 32]}
    with pytest.raises(ValueError, match="fixed to"):
        build_model("densenet121", blocks=[1, 1, 1, 1])


def test_growth_compression_and_bottleneck_set_channel_counts():
    # Stem 2k = 8 maps; block of 2 layers adds 2k -> 16; theta = 0.5 -> 8.
    model = densenet(blocks=[2, 2], growth_rate=4, **SMALL)
    shape = lambda name: model.get_layer(name).output.shape  # noqa: E731
    assert shape("conv1_conv")[-1] == 8
    assert shape("conv2_block1_1_conv")[-1] == 16  # bottleneck 4k
    assert shape("conv2_block1_2_conv")[-1] == 4  # k new maps per layer
    assert shape("conv2_block2_concat")[-1] == 16
    assert shape("pool2_conv")[-1] == 8
    assert shape("conv3_block2_concat")[-1] == 16
    assert model.name == "densenet11"  # 1 + 2 * 4 + 1 transition + 1 classifier

    no_compression = densenet(blocks=[2, 2], growth_rate=4, compression=1.0, **SMALL)
    assert no_compression.get_layer("pool2_conv").output.shape[-1] == 16

    plain = densenet(blocks=[2, 2], growth_rate=4, bottleneck=0, **SMALL)
    names = [layer.name for layer in plain.layers]
    assert not any(n.endswith("_1_conv") for n in names)
    assert "conv2_block1_2_conv" in names
    assert plain.name == "densenet7"


def test_parameter_count_by_hand():
    # blocks=[1], k=2, bottleneck=0, no classifier: stem conv 7*7*3*4 = 588,
    # BN on 4 maps (4 params each, moving stats included) = 16; the dense
    # layer: BN 16 + 3x3 conv 3*3*4*2 = 72; final BN on 6 maps = 24.
    model = densenet(blocks=[1], growth_rate=2, bottleneck=0, include_top=False)
    assert model.count_params() == 588 + 16 + 16 + 72 + 24
    assert model.output.shape == (None, 56, 56, 6)


def test_batch_norm_off_removes_bn_and_adds_conv_biases():
    model = densenet(blocks=[2, 2], growth_rate=4, batch_norm=False, **SMALL)
    assert not any(isinstance(x, layers.BatchNormalization) for x in model.layers)
    convs = [x for x in model.layers if isinstance(x, layers.Conv2D)]
    assert convs and all(conv.use_bias for conv in convs)


def test_activation_initializer_and_dropout_options():
    model = densenet(
        blocks=[2, 2],
        growth_rate=4,
        activation="gelu",
        kernel_initializer="he",
        block_dropout=0.2,
        dropout=0.3,
        **SMALL,
    )
    acts = [x for x in model.layers if isinstance(x, layers.Activation)]
    assert acts and all(x.activation.__name__ == "gelu" for x in acts)
    assert "conv1_gelu" in [x.name for x in model.layers]
    conv = model.get_layer("conv2_block1_1_conv")
    assert conv.kernel_initializer.__class__.__name__ == "HeNormal"
    drops = [x for x in model.layers if isinstance(x, layers.Dropout)]
    convs = [x for x in model.layers if isinstance(x, layers.Conv2D)]
    # One dropout after every conv but the stem, plus the top dropout.
    assert len(drops) == len(convs) - 1 + 1
    assert model.get_layer("top_dropout").rate == 0.3


def test_head_options():
    # 32 px: stem 16, pool1 8, pool2 4; maps: 8 + 4 = 12 -> 6, then 6 + 4 = 10.
    features = densenet(blocks=[1, 1], growth_rate=4, include_top=False, **SMALL)
    assert features.output.shape == (None, 4, 4, 10)
    pooled = densenet(
        blocks=[1, 1], growth_rate=4, include_top=False, pooling="max", **SMALL
    )
    assert pooled.output.shape == (None, 10)
    assert isinstance(pooled.layers[-1], layers.GlobalMaxPooling2D)
    logits = densenet(blocks=[1, 1], growth_rate=4, classifier_activation=None, **SMALL)
    assert logits.get_layer("predictions").activation.__name__ == "linear"


def test_tiny_instance_forward():
    model = get_entry("densenet121").build_tiny()
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_weights_from_local_file(tmp_path):
    model = densenet(blocks=[1, 1], growth_rate=4, **SMALL)
    path = str(tmp_path / "d.weights.h5")
    model.save_weights(path)
    loaded = densenet(blocks=[1, 1], growth_rate=4, weights=path, **SMALL)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"compression": 0}, r"Invalid compression=0: expected a number in \(0, 1\]"),
        ({"compression": 1.5}, r"Invalid compression=1.5"),
        ({"growth_rate": 0}, r"Invalid growth_rate=0"),
        ({"bottleneck": -1}, r"Invalid bottleneck=-1"),
        ({"blocks": []}, r"Invalid blocks=\[\]"),
        ({"blocks": [2, 0]}, r"Invalid blocks=\[2, 0\]"),
        ({"block_dropout": 1.0}, r"Invalid block_dropout=1.0"),
        ({"activation": "rleu"}, r"Invalid activation='rleu'.*'relu'"),
        ({"batch_norm": "yes"}, r"Invalid batch_norm='yes'"),
        ({"kernel_initializer": "foo"}, r"Invalid kernel_initializer='foo'"),
        ({"pooling": "mean"}, r"Invalid pooling='mean'"),
        ({"input_shape": (7, 7, 3)}, r"at least 8"),  # two blocks: 4 * 2
        ({"blocks": [1] * 4, "input_shape": (31, 31, 3)}, r"at least 32"),
        ({"blocks": [1] * 5, "input_shape": (32, 32, 3)}, r"at least 64"),
        ({"weights": "imagenet"}, r"Invalid weights='imagenet'.*never downloads"),
    ],
)
def test_invalid_hyperparameters_raise(kwargs, message):
    hparams = {"blocks": [1, 1], "growth_rate": 4, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=message):
        densenet(**hparams)
