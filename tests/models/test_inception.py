"""Tests of kerasdl.models.inception (GoogLeNet and Inception v3)."""

import keras
import numpy as np
import pytest
from keras import layers

import kerasdl.models  # noqa: F401  registers every family
from kerasdl.layers import LocalResponseNormalization
from kerasdl.models.inception import googlenet, inception_v3
from kerasdl.registry import build_model, get_entry, list_models

# GoogLeNet, Szegedy et al. 2014, Table 1, typed again here so the count below
# does not depend on the builder's copy: (input maps, #1x1, #3x3 reduce, #3x3,
# #5x5 reduce, #5x5, pool proj) for modules 3a, 3b, 4a-4e, 5a, 5b.
TABLE_1 = [
    (192, 64, 96, 128, 16, 32, 32),
    (256, 128, 128, 192, 32, 96, 64),
    (480, 192, 96, 208, 16, 48, 64),
    (512, 160, 112, 224, 24, 64, 64),
    (512, 128, 128, 256, 24, 64, 64),
    (512, 112, 144, 288, 32, 64, 64),
    (528, 256, 160, 320, 32, 128, 128),
    (832, 256, 160, 320, 32, 128, 128),
    (832, 384, 192, 384, 48, 128, 128),
]


def _conv(cin, cout, k, bias):
    return k * k * cin * cout + (cout if bias else 0)


def _googlenet_count(k5, bias, bn):
    """Trainable parameters of the Table 1 network (bn adds gamma and beta)."""
    extra = (lambda c: 2 * c) if bn else (lambda c: 0)
    total = 0
    for cin, cout, k in ((3, 64, 7), (64, 64, 1), (64, 192, 3)):  # stem
        total += _conv(cin, cout, k, bias) + extra(cout)
    for cin, a, b_red, b, c_red, c, d in TABLE_1:
        for i, o, k in (
            (cin, a, 1),
            (cin, b_red, 1),
            (b_red, b, 3),
            (cin, c_red, 1),
            (c_red, c, k5),
            (cin, d, 1),
        ):
            total += _conv(i, o, k, bias) + extra(o)
    return total + 1024 * 1000 + 1000  # linear classifier


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_googlenet_matches_paper_table_1():
    # Paper layout, convs with biases (as in the reference BVLC Caffe model):
    # 6,998,552 parameters, the paper's "about 6.8M" (Table 1 sums kilo-units
    # and omits biases).
    assert _googlenet_count(k5=5, bias=True, bn=False) == 6_998_552
    model = build_model("googlenet")
    assert model.name == "googlenet"
    assert model.count_params() == 6_998_552
    assert not any(isinstance(x, layers.BatchNormalization) for x in model.layers)
    assert model.get_layer("inception_3a_5x5").kernel.shape == (5, 5, 16, 32)


def test_googlenet_matches_torchvision_layout():
    # torchvision.models.googlenet(aux_logits=False): conv-BN (no conv bias)
    # and a 3x3 kernel in the "5x5" branch; its documented num_params is
    # 6,624,904 (Keras adds the BN moving statistics as non-trainable).
    assert _googlenet_count(k5=3, bias=False, bn=True) == 6_624_904
    model = googlenet(batch_norm=True, branch5x5_kernel=3)
    assert _trainable(model) == 6_624_904
    # With torchvision's two auxiliary heads (aux_logits=True): 13,004,888.
    model = googlenet(batch_norm=True, branch5x5_kernel=3, aux_logits=True)
    assert _trainable(model) == 13_004_888


def test_googlenet_map_sizes_follow_table_1():
    model = googlenet()
    shape = lambda name: model.get_layer(name).output.shape  # noqa: E731
    assert shape("conv1_7x7_s2_relu") == (None, 112, 112, 64)
    assert shape("pool2_3x3_s2") == (None, 28, 28, 192)
    assert shape("inception_3a_output") == (None, 28, 28, 256)
    assert shape("inception_3b_output") == (None, 28, 28, 480)
    assert shape("inception_4a_output") == (None, 14, 14, 512)
    assert shape("inception_4e_output") == (None, 14, 14, 832)
    assert shape("inception_5b_output") == (None, 7, 7, 1024)
    assert model.get_layer("top_dropout").rate == 0.4


def test_googlenet_aux_logits():
    model = googlenet(num_classes=10, aux_logits=True)
    assert model.output_names == [
        "predictions",
        "aux1_predictions",
        "aux2_predictions",
    ]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 10)] * 3
    # Paper heads with biases: conv 1x1 to 128, FC 2048 -> 1024, FC -> 10.
    head = lambda cin: cin * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 10 + 10  # noqa
    plain = googlenet(num_classes=10)
    assert model.count_params() == plain.count_params() + head(512) + head(528)
    assert model.get_layer("aux1_dropout").rate == 0.7
    with pytest.raises(ValueError, match="aux_logits=True with include_top=False"):
        googlenet(aux_logits=True, include_top=False)


def test_googlenet_aux_logits_small_input_trains():
    # Adaptive pooling keeps the heads' 4x4 grid even on 2x2 maps (32 px).
    model = googlenet(
        input_shape=(32, 32, 3), num_classes=3, aux_logits=True, depth_multiplier=0.25
    )
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 0, 1, 2])
    # An easy task: the class is the brightest colour channel.
    x = rng.random((6, 32, 32, 3), dtype="float32") * 0.2
    x[np.arange(6), :, :, y] += 1.0
    outputs = model(x[:2], training=False)
    assert [tuple(o.shape) for o in outputs] == [(2, 3)] * 3
    # All three heads train: the loss of every output goes down on a fixed
    # batch, and every head's classifier moves (the aux heads get gradients).
    heads = ["predictions", "aux1_predictions", "aux2_predictions"]
    before = {n: keras.ops.convert_to_numpy(model.get_layer(n).kernel) for n in heads}

    def losses():
        # Cross-entropy of each head in inference mode (no dropout).
        probs = [keras.ops.convert_to_numpy(p) for p in model(x, training=False)]
        return [float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-7))) for p in probs]

    model.compile(
        keras.optimizers.Adam(1e-3), loss=["sparse_categorical_crossentropy"] * 3
    )
    first = losses()
    model.fit(x, [y] * 3, batch_size=6, epochs=8, verbose=0)
    last = losses()
    assert all(b < a for a, b in zip(first, last)), (first, last)
    for name in heads:
        after = keras.ops.convert_to_numpy(model.get_layer(name).kernel)
        assert not np.allclose(after, before[name]), name


def test_googlenet_lrn_option():
    model = googlenet(input_shape=(32, 32, 3), num_classes=3, lrn=True)
    lrn = [x for x in model.layers if isinstance(x, LocalResponseNormalization)]
    assert [x.name for x in lrn] == ["pool1_norm1", "conv2_norm2"]
    # Caffe's local_size 5, alpha 1e-4 (divided by the window), k 1, beta 0.75.
    assert lrn[0].depth_radius == 2
    assert lrn[0].alpha == pytest.approx(2e-5)
    assert (lrn[0].bias, lrn[0].beta) == (1.0, 0.75)
    off = googlenet(input_shape=(32, 32, 3), num_classes=3)
    assert model.count_params() == off.count_params()
    assert not any(isinstance(x, LocalResponseNormalization) for x in off.layers)


def test_googlenet_depth_multiplier_and_options():
    model = googlenet(
        input_shape=(32, 32, 3),
        num_classes=3,
        depth_multiplier=0.5,
        min_depth=16,
        activation="swish",
        kernel_initializer="he_normal",
    )
    assert model.get_layer("inception_3a_1x1").filters == 32  # 64 * 0.5
    assert model.get_layer("inception_3a_5x5_reduce").filters == 16  # 8 -> min
    assert model.get_layer("inception_5b_output").output.shape[-1] == 512
    assert "inception_3a_1x1_swish" in [x.name for x in model.layers]
    conv = model.get_layer("conv1_7x7_s2")
    assert conv.kernel_initializer.__class__.__name__ == "HeNormal"
    assert conv.use_bias


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_inception_v3_matches_keras_applications():
    model = build_model("inception_v3")
    ref = keras.applications.InceptionV3(weights=None)
    assert model.name == "inception_v3"
    assert model.count_params() == ref.count_params() == 23_851_784
    assert len(model.layers) == len(ref.layers)
    names = {layer.name for layer in model.layers}
    assert {f"mixed{i}" for i in range(11)} | {"mixed9_0", "mixed9_1"} <= names
    bns = [x for x in model.layers if isinstance(x, layers.BatchNormalization)]
    assert len(bns) == 94 and not any(bn.scale for bn in bns)


def test_inception_v3_loads_keras_applications_weights_at_minimum_size():
    model = inception_v3(input_shape=(75, 75, 3), include_top=False)
    ref = keras.applications.InceptionV3(
        weights=None, include_top=False, input_shape=(75, 75, 3)
    )
    model.set_weights(ref.get_weights())
    assert model.output.shape == (None, 1, 1, 2048)
    x = np.random.default_rng(0).random((2, 75, 75, 3), dtype="float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x, training=False)),
        keras.ops.convert_to_numpy(ref(x, training=False)),
        atol=1e-5,
    )


def test_inception_v3_map_sizes_and_options():
    model = inception_v3(include_top=False)
    shape = lambda name: model.get_layer(name).output.shape  # noqa: E731
    assert shape("stem_pool2") == (None, 35, 35, 192)
    assert shape("mixed2") == (None, 35, 35, 288)
    assert shape("mixed7") == (None, 17, 17, 768)
    assert shape("mixed10") == (None, 8, 8, 2048)
    plain = inception_v3(
        input_shape=(75, 75, 3),
        num_classes=3,
        batch_norm=False,
        depth_multiplier=0.25,
        pooling="avg",
        dropout=0.2,
    )
    assert not any(isinstance(x, layers.BatchNormalization) for x in plain.layers)
    assert plain.get_layer("stem_conv1_conv").use_bias
    assert plain.get_layer("mixed10").output.shape[-1] == 2048 // 4
    assert plain.get_layer("top_dropout").rate == 0.2


def test_registry_entries():
    assert list_models(family="inception") == ["googlenet", "inception_v3"]
    assert get_entry("inception_v3").tiny["input_shape"] == (75, 75, 3)
    assert get_entry("googlenet").tiny["input_shape"] == (32, 32, 3)


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (googlenet, {"input_shape": (31, 31, 3)}, r"at least 32"),
        (inception_v3, {"input_shape": (74, 74, 3)}, r"at least 75"),
        (googlenet, {"branch5x5_kernel": 7}, r"Invalid branch5x5_kernel=7.*5, 3"),
        (googlenet, {"aux_logits": 1}, r"Invalid aux_logits=1: expected a bool"),
        (googlenet, {"aux_dropout": 1.0}, r"Invalid aux_dropout=1.0"),
        (googlenet, {"lrn": "on"}, r"Invalid lrn='on'"),
        (googlenet, {"depth_multiplier": 0}, r"Invalid depth_multiplier=0: .*> 0"),
        (inception_v3, {"min_depth": 0}, r"Invalid min_depth=0"),
        (inception_v3, {"batch_norm": None}, r"Invalid batch_norm=None"),
        (inception_v3, {"activation": "relu7"}, r"Invalid activation='relu7'"),
        (inception_v3, {"num_classes": 0}, r"Invalid num_classes=0"),
        (inception_v3, {"kernel_initializer": "he_norm"}, r"kernel_initializer"),
        (inception_v3, {"weights": "/no/such.h5"}, r"Invalid weights='/no/such.h5'"),
    ],
)
def test_invalid_hyperparameters_raise(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)
