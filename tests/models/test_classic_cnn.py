"""Tests of LeNet-5, AlexNet, VGG and the dilated context net (classic_cnn.py)."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.layers import LocalResponseNormalization
from kerasdl.models.classic_cnn import alexnet, dilated_cnn, lenet5, vgg


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _names_of(model, cls):
    return [layer.name for layer in model.layers if isinstance(layer, cls)]


def _params(model, name):
    return model.get_layer(name).count_params()


# --------------------------------------------------------------------- LeNet-5
def test_lenet5_parameter_count_per_layer():
    # LeCun et al. 1998 with a fully connected C3: C1 156, C3 2,416, C5 48,120,
    # F6 10,164 and a 10-way output of 850 (84 * 10 + 10) parameters.
    model = lenet5()
    assert model.name == "lenet5"
    assert model.count_params() == 61706
    counts = {n: _params(model, n) for n in ("c1", "c3", "c5", "f6", "predictions")}
    assert counts == {
        "c1": 156,
        "c3": 2416,
        "c5": 48120,
        "f6": 10164,
        "predictions": 850,
    }
    assert model.get_layer("c1").output.shape == (None, 28, 28, 6)
    assert model.get_layer("s4").output.shape == (None, 5, 5, 16)
    assert model.get_layer("c5").output.shape == (None, 1, 1, 120)


def test_lenet5_paper_defaults_tanh_and_average_subsampling():
    model = lenet5()
    assert model.get_layer("c1_act").get_config()["activation"] == "tanh"
    assert _names_of(model, keras.layers.AveragePooling2D) == ["s2", "s4"]
    assert not _names_of(model, keras.layers.MaxPooling2D)
    assert not _names_of(model, keras.layers.BatchNormalization)
    assert not _names_of(model, keras.layers.Dropout)


def test_lenet5_on_28x28_with_same_padding_keeps_the_count():
    model = lenet5(input_shape=(28, 28, 1), c1_padding="same")
    assert model.count_params() == 61706
    assert model.get_layer("c5").output.shape == (None, 1, 1, 120)
    with pytest.raises(ValueError, match="at least 32"):
        lenet5(input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="at least 28"):
        lenet5(input_shape=(27, 27, 1), c1_padding="same")


def test_lenet5_options():
    model = lenet5(
        num_classes=3,
        activation="relu",
        subsampling="max",
        batch_norm=True,
        dropout=0.25,
    )
    assert _names_of(model, keras.layers.MaxPooling2D) == ["s2", "s4"]
    assert _names_of(model, keras.layers.BatchNormalization) == [
        "c1_bn",
        "c3_bn",
        "c5_bn",
        "f6_bn",
    ]
    assert model.get_layer("f6_dropout").rate == 0.25
    assert model.get_layer("c3_act").get_config()["activation"] == "relu"
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(_np(model(x)).sum(axis=-1), [1.0, 1.0], rtol=1e-5)


def test_lenet5_larger_input_and_headless_features():
    model = lenet5(input_shape=(40, 40, 3), include_top=False)
    assert model.output_shape == (None, 3, 3, 120)
    pooled = lenet5(input_shape=(40, 40, 3), include_top=False, pooling="max")
    assert pooled.output_shape == (None, 120)
    # Same weights: the pooled features are the max of the feature map.
    pooled.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((2, 40, 40, 3)).astype("float32")
    np.testing.assert_allclose(
        _np(pooled(x)), _np(model(x)).max(axis=(1, 2)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"subsampling": "mean"}, r"subsampling='mean'.*Accepted: 'avg', 'max'"),
        ({"c1_padding": "full"}, r"c1_padding='full'"),
        ({"activation": "tahn"}, r"activation='tahn'\. Did you mean 'tanh'"),
        ({"input_shape": (32, 32)}, r"expected 3 dimensions"),
        ({"pooling": "sum"}, r"pooling='sum'"),
        ({"batch_norm_momentum": 1.0}, r"batch_norm_momentum"),
    ],
)
def test_lenet5_rejects_invalid_hyperparameters(hparams, message):
    with pytest.raises(ValueError, match=message):
        lenet5(**hparams)


def test_lenet5_batch_norm_momentum_is_set_for_small_datasets():
    model = lenet5(batch_norm=True)
    momenta = {
        layer.name: layer.momentum
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {"c1_bn": 0.9, "c3_bn": 0.9, "c5_bn": 0.9, "f6_bn": 0.9}
    custom = lenet5(batch_norm=True, batch_norm_momentum=0.99)
    assert custom.get_layer("f6_bn").momentum == 0.99


@pytest.mark.slow
def test_lenet5_with_batch_norm_learns_digits_in_a_short_run():
    # The README's run config shape, 10 epochs of 23 batches of 64: with
    # Keras' momentum 0.99 the moving statistics had not settled (51.8%).
    result = kerasdl.train(
        {
            "seed": 0,
            "data": {"name": "digits", "image_size": 32},
            "model": {"model": "lenet5", "activation": "relu", "batch_norm": True},
            "training": {
                "seed": 0,
                "epochs": 10,
                "batch_size": 64,
                "verbose": 0,
                "optimizer": {"name": "adam", "learning_rate": 0.002},
            },
        },
        export=False,
    )
    assert result.test_metrics["accuracy"] >= 0.97


# ---------------------------------------------- local response normalization
@pytest.mark.parametrize(
    "channels, depth_radius, bias, alpha, beta",
    [
        (96, 2, 2.0, 1e-4, 0.75),  # AlexNet
        (8, 5, 1.0, 1.0, 0.5),  # tf.nn defaults; window wider than channels
        (7, 0, 1.5, 0.3, 1.0),
        (3, 1, 0.5, 2.0, 0.6),
    ],
)
def test_lrn_matches_tensorflow(channels, depth_radius, bias, alpha, beta):
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(0).standard_normal((2, 5, 4, channels))
    x = (3 * x).astype("float32")
    args = dict(depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)
    expected = tf.nn.local_response_normalization(x, **args).numpy()
    got = _np(LocalResponseNormalization(**args)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_lrn_channels_first_axis():
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(1).standard_normal((2, 6, 3, 4)).astype("float32")
    expected = tf.nn.local_response_normalization(x, 1, 1.0, 0.5, 0.75).numpy()
    layer = LocalResponseNormalization(1, 1.0, 0.5, 0.75, axis=1)
    got = _np(layer(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), expected, rtol=1e-5)


def test_lrn_config_round_trip_and_validation():
    layer = LocalResponseNormalization(depth_radius=3, bias=1.0, alpha=0.1, beta=0.5)
    config = layer.get_config()
    clone = LocalResponseNormalization.from_config(config)
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta) == (
        3,
        1.0,
        0.1,
        0.5,
    )
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "kerasdl>LocalResponseNormalization"
    with pytest.raises(ValueError, match="depth_radius=-1"):
        LocalResponseNormalization(depth_radius=-1)
    with pytest.raises(ValueError, match="beta='x'"):
        LocalResponseNormalization(beta="x")


# --------------------------------------------------------------------- AlexNet
def test_alexnet_parameter_count_per_layer():
    # Single-tower AlexNet at 227x227x3 and 1000 classes: 62,378,344 parameters
    # (the commonly cited figure; conv 3,747,200 + fc 58,631,144).
    model = alexnet()
    assert model.name == "alexnet"
    assert model.count_params() == 62378344
    counts = [_params(model, f"conv{i}") for i in range(1, 6)]
    assert counts == [34944, 614656, 885120, 1327488, 884992]
    assert _params(model, "fc6") == 9216 * 4096 + 4096
    assert model.get_layer("conv1").output.shape == (None, 55, 55, 96)
    assert model.get_layer("pool5").output.shape == (None, 6, 6, 256)


def test_alexnet_paper_defaults_lrn_and_dropout():
    model = alexnet(input_shape=(67, 67, 3), num_classes=3, fc_units=8)
    lrn = _names_of(model, LocalResponseNormalization)
    assert lrn == ["conv1_lrn", "conv2_lrn"]
    config = model.get_layer("conv1_lrn").get_config()
    assert (config["depth_radius"], config["bias"]) == (2, 2.0)
    assert (config["alpha"], config["beta"]) == (1e-4, 0.75)
    dropouts = [model.get_layer(n) for n in _names_of(model, keras.layers.Dropout)]
    assert [(d.name, d.rate) for d in dropouts] == [
        ("fc6_dropout", 0.5),
        ("fc7_dropout", 0.5),
    ]
    # LRN sits between the ReLU and the pool, as in the paper.
    names = [layer.name for layer in model.layers]
    assert names.index("conv1_lrn") == names.index("conv1_act") + 1
    assert names.index("pool1") == names.index("conv1_lrn") + 1


def test_alexnet_options():
    model = alexnet(
        input_shape=(67, 67, 3),
        num_classes=3,
        fc_units=8,
        lrn=False,
        batch_norm=True,
        dropout=0.0,
        activation="gelu",
    )
    assert not _names_of(model, LocalResponseNormalization)
    assert not _names_of(model, keras.layers.Dropout)
    assert len(_names_of(model, keras.layers.BatchNormalization)) == 5
    assert model.get_layer("fc6").units == 8
    assert model.get_layer("fc7_act").get_config()["activation"] == "gelu"
    assert model.get_layer("pool5").output.shape == (None, 1, 1, 256)


def test_alexnet_minimum_input_size_is_67():
    alexnet(input_shape=(67, 67, 3), num_classes=2, fc_units=4)
    with pytest.raises(ValueError, match="at least 67"):
        alexnet(input_shape=(66, 66, 3), num_classes=2, fc_units=4)
    with pytest.raises(ValueError, match=r"fc_units=0: expected an integer >= 1"):
        alexnet(fc_units=0)


def test_alexnet_forward_is_finite():
    model = alexnet(input_shape=(67, 67, 3), num_classes=3, fc_units=8)
    x = np.random.default_rng(0).standard_normal((2, 67, 67, 3)).astype("float32")
    y = _np(model(x))
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.sum(axis=-1), [1.0, 1.0], rtol=1e-5)


# ------------------------------------------------------------------------- VGG
@pytest.mark.parametrize(
    "depth, expected",
    [
        # Published (Simonyan & Zisserman configurations A and B, torchvision
        # vgg11 and vgg13 model cards); 16 and 19 from keras.applications below.
        (11, 132863336),
        (13, 133047848),
        (16, 138357544),
        (19, 143667240),
    ],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_vgg_parameter_count(depth, expected):
    model = vgg(depth=depth)
    assert model.name == f"vgg{depth}"
    assert model.count_params() == expected


@pytest.mark.parametrize("depth", [16, 19])
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_vgg_matches_keras_applications(depth):
    from keras import applications

    reference = {16: applications.VGG16, 19: applications.VGG19}[depth](weights=None)
    model = vgg(depth=depth, dropout=0.0)
    assert model.count_params() == reference.count_params()
    assert [layer.name for layer in model.layers[1:]] == [
        layer.name for layer in reference.layers[1:]
    ]
    # The paper's dropout adds weightless layers only.
    assert kerasdl.build(f"vgg{depth}").count_params() == reference.count_params()


def test_vgg_headless_matches_keras_applications_and_loads_its_weights(tmp_path):
    from keras import applications

    reference = applications.VGG16(
        weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg"
    )
    path = str(tmp_path / "vgg16.weights.h5")
    reference.save_weights(path)
    model = vgg(
        depth=16,
        input_shape=(32, 32, 3),
        include_top=False,
        pooling="avg",
        weights=path,
    )
    assert model.output_shape == (None, 512)
    assert model.count_params() == reference.count_params() == 14714688
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(_np(model(x)), _np(reference(x)), rtol=1e-5, atol=1e-6)
    spatial = vgg(depth=11, input_shape=(64, 64, 3), include_top=False)
    assert spatial.output_shape == (None, 2, 2, 512)


@pytest.mark.parametrize(
    "depth, expected",
    [
        # torchvision vgg*_bn model cards (BatchNorm's running statistics are
        # buffers there, so only gamma and beta count).
        (11, 132868840),
        (13, 133053736),
        (16, 138365992),
        (19, 143678248),
    ],
)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_vgg_bn_trainable_count_matches_torchvision(depth, expected):
    model = vgg(depth=depth, batch_norm=True)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected
    bn = _names_of(model, keras.layers.BatchNormalization)
    assert bn[0] == "block1_conv1_bn"
    assert len(bn) == depth - 3
    assert model.get_layer("block1_conv1_act").get_config()["activation"] == "relu"


def test_vgg_options():
    model = vgg(
        depth=11,
        input_shape=(32, 32, 3),
        num_classes=4,
        block_filters=[4, 8, 8, 16, 16],
        fc_units=10,
        dropout=0.2,
        activation="gelu",
        kernel_initializer="he",
    )
    conv = model.get_layer("block3_conv2")
    assert conv.filters == 8
    assert conv.get_config()["activation"] == "gelu"
    assert conv.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert model.get_layer("fc2").units == 10
    assert model.get_layer("fc1_dropout").rate == 0.2
    assert model.output_shape == (None, 4)
    default = vgg(depth=11, input_shape=(32, 32, 3), block_filters=[4] * 5, fc_units=8)
    assert default.get_layer("fc2_dropout").rate == 0.5  # the paper's
    plain = vgg(
        depth=11,
        input_shape=(32, 32, 3),
        block_filters=[4] * 5,
        fc_units=8,
        dropout=0.0,
    )
    assert not _names_of(plain, keras.layers.Dropout)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: vgg(depth=17), r"Invalid depth=17\. Accepted: 11, 13, 16, 19\."),
        (lambda: vgg(input_shape=(16, 16, 3)), "at least 32"),
        (lambda: vgg(block_filters=[64, 128]), r"block_filters=\[64, 128\]"),
        (lambda: vgg(batch_norm=1), r"batch_norm=1: expected a bool \(True or False\)"),
        (lambda: kerasdl.build("vgg16", depth=11), "fixed to 16"),
    ],
)
def test_vgg_rejects_invalid_hyperparameters(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ dilated net
def test_dilated_cnn_output_keeps_input_size():
    model = dilated_cnn(input_shape=(21, 13, 3), num_classes=5, filters=4)
    assert model.output_shape == (None, 21, 13, 5)
    rates = [model.get_layer(f"context{i}").dilation_rate for i in range(1, 8)]
    assert rates == [(1, 1), (1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (1, 1)]
    x = np.random.default_rng(0).standard_normal((2, 21, 13, 3)).astype("float32")
    y = _np(model(x))
    assert y.shape == (2, 21, 13, 5)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones((2, 21, 13)), rtol=1e-5)
    flexible = dilated_cnn(filters=4, num_classes=2)
    assert flexible.output_shape == (None, None, None, 2)
    assert _np(flexible(x)).shape == (2, 21, 13, 2)


def _impulse_response(dilation_rates, size):
    """Response of a linear, positive-weight, bias-free net to a central impulse."""
    model = dilated_cnn(
        input_shape=(size, size, 1),
        num_classes=1,
        filters=2,
        dilation_rates=list(dilation_rates),
        activation="linear",
        classifier_activation=None,
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.0, w.shape) for w in model.get_weights()])
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(np.zeros(layer.bias.shape))
    x = np.zeros((1, size, size, 1), "float32")
    x[0, size // 2, size // 2, 0] = 1.0
    return _np(model(x))[0, :, :, 0]


@pytest.mark.parametrize(
    "dilation_rates, size",
    [
        ((1, 1, 2, 4, 8, 16, 1), 81),  # the paper's module: 67x67 field
        ((1, 2, 4), 21),  # 15x15
    ],
)
def test_dilated_cnn_receptive_field_from_an_impulse(dilation_rates, size):
    # With positive weights nothing cancels, so the impulse response is
    # non-zero exactly on the receptive field: a square of side
    # 1 + 2 * sum(rates) (kernel 3) centred on the impulse. Rates that
    # double from 1 fill that square without holes.
    response = _impulse_response(dilation_rates, size)
    center, half = size // 2, sum(dilation_rates)
    expected = np.zeros((size, size), bool)
    expected[center - half : center + half + 1, center - half : center + half + 1] = (
        True
    )
    np.testing.assert_array_equal(response > 0, expected)
    assert np.all(response[~expected] == 0)


def test_dilated_cnn_single_dilated_layer_sees_a_sparse_grid():
    # One 3x3 layer of rate 3 spans 7x7 pixels but reads only 9 of them
    # (the "gridding" that the paper's 1, 1, 2, 4, ... schedule avoids).
    response = _impulse_response((3,), 11)
    expected = np.zeros((11, 11), bool)
    expected[2:9:3, 2:9:3] = True
    np.testing.assert_array_equal(response > 0, expected)


def test_dilated_cnn_options():
    model = dilated_cnn(
        input_shape=(16, 16, 3),
        num_classes=3,
        filters=[2, 2, 4, 8],
        dilation_rates=[1, 2, 4, 1],
        batch_norm=True,
        dropout=0.1,
    )
    assert [model.get_layer(f"context{i}").filters for i in range(1, 5)] == [2, 2, 4, 8]
    assert len(_names_of(model, keras.layers.BatchNormalization)) == 4
    assert model.get_layer("top_dropout").rate == 0.1
    assert model.get_layer("predictions").kernel_size == (1, 1)
    headless = dilated_cnn(input_shape=(16, 16, 3), filters=4, include_top=False)
    assert headless.output_shape == (None, 16, 16, 4)
    pooled = dilated_cnn(filters=4, include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 4)


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"filters": [4, 4]}, r"filters=\[4, 4\]: expected one integer or one per"),
        ({"dilation_rates": [1, 0]}, r"dilation_rates=\[1, 0\]"),
        ({"filters": 0}, r"Invalid filters=.*integers >= 1"),
        ({"classifier_activation": "softmaxx"}, r"classifier_activation='softmaxx'"),
    ],
)
def test_dilated_cnn_rejects_invalid_hyperparameters(hparams, message):
    with pytest.raises(ValueError, match=message):
        dilated_cnn(**hparams)


# -------------------------------------------------------------------- registry
def test_registered_in_family_classic_cnn():
    names = set(kerasdl.list_models(family="classic_cnn"))
    expected = {"lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "dilated_cnn"}
    assert expected <= names
    assert kerasdl.list_models("vgg*") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert kerasdl.model_info("dilated_cnn")["task"] == "segmentation"
    assert kerasdl.model_info("vgg13")["presets"] == {"depth": 13}
    assert "configuration B" in kerasdl.model_info("vgg13")["description"]
