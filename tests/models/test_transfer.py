"""Tests of transfer learning: backbones, blocks, freezing, the builders."""

import keras
import numpy as np
import pytest

from kerasdl.models.transfer import (
    application_names,
    backbone,
    block_of,
    blocks,
    freeze,
    keras_application,
    transfer,
    unfreeze,
)
from kerasdl.registry import build_model, get_entry

SMALL = (32, 32, 3)


def weights_of(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def value(model, layer, index=0):
    return keras.ops.convert_to_numpy(model.get_layer(layer).weights[index]).copy()


def train_step(model, seed=0):
    """One SGD step (lr 0.1) on random data with MSE against random targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, *model.input_shape[1:])).astype("float32")
    y = rng.random((4, *model.output_shape[1:])).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", run_eagerly=True)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32"))


def resnet_transfer(**kwargs):
    # kerasdl's CIFAR ResNet-20 (blocks conv2_block1 ... conv4_block3). Logits:
    # a softmax on the unnormalized features of a random frozen backbone can
    # saturate, and then one step leaves the head's kernel unchanged.
    return transfer(
        backbone="resnet20",
        input_shape=SMALL,
        num_classes=3,
        backbone_hparams={"base_filters": 8},
        classifier_activation=None,
        **kwargs,
    )


def mobilenet_transfer(**kwargs):
    return transfer(
        backbone="MobileNetV2",
        input_shape=SMALL,
        num_classes=3,
        backbone_hparams={"alpha": 0.35},
        **kwargs,
    )


# ---------------------------------------------------------------- blocks
@pytest.mark.parametrize(
    "name, block",
    [
        ("conv4_block6_2_conv", "conv4_block6"),  # ResNet
        ("conv5_block16_concat", "conv5_block16"),  # DenseNet
        ("block1_conv1", "block1"),  # VGG
        ("block5_pool", "block5"),
        ("block_12_depthwise_BN", "block_12"),  # MobileNetV2
        ("expanded_conv_project", "expanded_conv"),
        ("expanded_conv_3_expand", "expanded_conv_3"),  # MobileNetV3
        ("block6d_se_reduce", "block6d"),  # EfficientNet
        ("conv_dw_7_bn", "conv_pw_7"),  # MobileNet v1
        ("conv_pad_12", "conv_pw_12"),
        ("mixed3", "mixed3"),  # InceptionV3
        ("mixed9_1", None),  # a concat inside mixed10 (mixed9_0: inside mixed9)
        ("mixed_6a", "mixed_6a"),  # InceptionResNetV2
        ("block35_10_conv", "block35_10"),
        ("stage2_block1_conv1", "stage2_block1"),  # generic kerasdl
        ("convnext_tiny_stage_0_block_2_depthwise_conv", "stage_0_block_2"),
        ("inception4b_3x3", "inception4b"),  # GoogLeNet
        ("conv1_conv", None),  # stems, transitions and heads: no block
        ("pool3_conv", None),
        ("Conv_1", None),
        ("conv2d_12", None),
        ("predictions", None),
    ],
)
def test_block_of(name, block):
    assert block_of(name) == block


def test_blocks_of_keras_applications():
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=SMALL)
    assert blocks(vgg) == ["block1", "block2", "block3", "block4", "block5"]
    resnet = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=SMALL
    )
    assert blocks(resnet) == [
        f"conv{stage}_block{i}"
        for stage, n in ((2, 3), (3, 4), (4, 6), (5, 3))
        for i in range(1, n + 1)
    ]
    mobile = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=SMALL, alpha=0.35
    )
    assert blocks(mobile) == ["expanded_conv"] + [f"block_{i}" for i in range(1, 17)]


def test_blocks_of_kerasdl_backbones():
    # kerasdl's vgg, resnet and mobilenet families reuse keras.applications'
    # layer names, so their blocks read the same.
    assert blocks(backbone("vgg11", SMALL)) == [f"block{i}" for i in range(1, 6)]
    assert blocks(backbone("resnet18", SMALL)) == [
        f"conv{s}_block{i}" for s in (2, 3, 4, 5) for i in (1, 2)
    ]
    assert blocks(backbone("resnet20", SMALL)) == [
        f"conv{s}_block{i}" for s in (2, 3, 4) for i in (1, 2, 3)
    ]
    ours = backbone("mobilenet_v2", SMALL, alpha=0.35)
    assert blocks(ours) == blocks(backbone("MobileNetV2", SMALL, alpha=0.35))


def test_blocks_in_nested_models():
    inner = keras.applications.VGG16(include_top=False, weights=None, input_shape=SMALL)
    outer = keras.Sequential([inner, keras.layers.GlobalAveragePooling2D()])
    assert blocks(outer) == [f"block{i}" for i in range(1, 6)]


# ---------------------------------------------------------------- backbone()
def test_backbone_names_resolve_to_both_sources():
    assert backbone("ResNet50", SMALL).name == "resnet50"  # keras.applications
    assert backbone("resnet50", SMALL).name == "resnet50"  # kerasdl
    assert "ResNet50" in application_names() and "resnet50" not in application_names()
    # Case, "_" and "-" are ignored for keras.applications names.
    small = backbone("mobilenet_v3_small", SMALL, include_preprocessing=False)
    assert small.name == "MobileNetV3Small"
    # Headless: the output is the last feature map.
    assert backbone("vgg16", SMALL).output_shape == (None, 1, 1, 512)


def test_backbone_unknown_names_suggest_the_closest():
    with pytest.raises(ValueError, match=r"Unknown backbone 'ResNet5'\. Did you mean"):
        backbone("ResNet5", SMALL)
    with pytest.raises(ValueError, match="'EfficientNetB0'"):
        backbone("EfficentNetB0", SMALL)
    with pytest.raises(ValueError, match=r"'unet'.*not a backbone"):
        backbone("unet", SMALL)
    with pytest.raises(ValueError, match=r"Unknown hyperparameter 'alpah'.*'alpha'"):
        backbone("MobileNetV2", SMALL, alpah=0.35)


def test_backbone_refuses_downloads():
    message = r"never downloads weights.*~/\.keras/models/<file>\.h5"
    with pytest.raises(ValueError, match="weights='imagenet'.*" + message):
        backbone("MobileNetV2", SMALL, weights="imagenet")
    with pytest.raises(ValueError, match="weights='imagenet'"):
        backbone("resnet18", SMALL, weights="imagenet")
    with pytest.raises(ValueError, match="backbone_weights='imagenet'"):
        transfer(backbone="MobileNetV2", backbone_weights="imagenet")
    with pytest.raises(ValueError, match="weights='imagenet'"):
        keras_application(weights="imagenet")
    with pytest.raises(ValueError, match="no such local file"):
        backbone("MobileNetV2", SMALL, weights="/nonexistent/mobilenet_v2.h5")


@pytest.mark.parametrize(
    "name, hparams",
    [("MobileNetV2", {"alpha": 0.35}), ("mobilenet_v2", {"alpha": 0.35})],
)
def test_backbone_loads_local_weights(tmp_path, name, hparams):
    source = backbone(name, SMALL, **hparams)
    randomize(source)  # BN statistics included
    path = str(tmp_path / "backbone.weights.h5")
    source.save_weights(path)
    loaded = backbone(name, SMALL, weights=path, **hparams)
    assert len(loaded.weights) == len(source.weights) > 200
    for a, b in zip(weights_of(loaded), weights_of(source), strict=True):
        np.testing.assert_array_equal(a, b)


def test_backbone_loads_legacy_h5_like_keras_applications_files(tmp_path):
    # Files in ~/.keras/models are HDF5 files in Keras' legacy format.
    source = backbone("MobileNetV2", SMALL, alpha=0.35)
    randomize(source, seed=1)
    path = str(tmp_path / "mobilenet_v2_notop.h5")
    source.save(path)
    loaded = backbone("MobileNetV2", SMALL, weights=path, alpha=0.35)
    for a, b in zip(weights_of(loaded), weights_of(source), strict=True):
        np.testing.assert_array_equal(a, b)


def test_backbone_accepts_a_model():
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=SMALL)
    assert backbone(model) is model
    with pytest.raises(ValueError, match=r"input_shape=.*takes"):
        backbone(model, (64, 64, 3))


# ---------------------------------------------------------------- freezing
def test_freeze_freezes_everything():
    model = mobilenet_transfer(trainable_blocks=2)
    assert model.trainable_weights
    assert freeze(model) is model
    assert model.trainable_weights == []


def snapshot(model):
    return {
        "stem": value(model, "conv1_conv"),
        "frozen_conv": value(model, "conv4_block2_2_conv"),
        "frozen_bn_mean": value(model, "conv4_block2_2_bn", 2),
        "unfrozen_conv": value(model, "conv4_block3_1_conv"),
        "unfrozen_bn_gamma": value(model, "conv4_block3_1_bn", 0),
        "unfrozen_bn_mean": value(model, "conv4_block3_1_bn", 2),
        "head": value(model, "predictions"),
    }


def changed(before, after):
    return sorted(k for k in before if not np.array_equal(before[k], after[k]))


def test_unfreeze_trains_only_the_last_blocks_and_keeps_bn_statistics():
    model = unfreeze(resnet_transfer(), 1)
    assert not model.get_layer("conv4_block3_1_bn").trainable
    before = snapshot(model)
    train_step(model)
    # Frozen layers and every BatchNormalization (weights and moving
    # statistics: frozen BN runs in inference mode) are unchanged.
    assert changed(before, snapshot(model)) == ["head", "unfrozen_conv"]


def test_unfreeze_train_batch_norm_updates_statistics_of_unfrozen_blocks():
    model = unfreeze(resnet_transfer(), 1, train_batch_norm=True)
    before = snapshot(model)
    train_step(model)
    assert changed(before, snapshot(model)) == [
        "head",
        "unfrozen_bn_gamma",
        "unfrozen_bn_mean",
        "unfrozen_conv",
    ]


def test_unfreeze_extends_the_last_block_over_the_top_layers():
    model = unfreeze(mobilenet_transfer(), 1)
    trainable = {layer.name for layer in model.layers if layer.trainable}
    assert {"block_16_project", "Conv_1", "predictions"} <= trainable
    assert "block_15_project" not in trainable and "Conv_1_bn" not in trainable


def test_unfreeze_counts():
    model = mobilenet_transfer()
    n_blocks = len(blocks(model))
    trainable = [w.path for w in unfreeze(model, 0).trainable_weights]
    assert trainable == ["predictions/kernel", "predictions/bias"]
    unfreeze(model, n_blocks)  # everything, stem included; BN stays frozen
    assert model.get_layer("Conv1").trainable
    assert not model.get_layer("bn_Conv1").trainable
    assert all(
        layer.trainable
        for layer in model.layers
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    )
    with pytest.raises(ValueError, match="Invalid last_n_blocks=-1"):
        unfreeze(model, -1)
    lenet = build_model("lenet5", input_shape=(32, 32, 1), num_classes=3)
    with pytest.raises(ValueError, match="no block recognised"):
        unfreeze(lenet, 1)


def test_unfreeze_inception_block_includes_its_unnamed_convs():
    model = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(75, 75, 3)
    )
    unfreeze(model, 1)
    names = [layer.name for layer in model.layers]
    start = names.index("mixed9") + 1
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    trainable = [c.name for c in convs if c.trainable]
    expected = [c.name for c in convs if names.index(c.name) >= start]
    assert trainable == expected and len(expected) == 9  # mixed10's 9 convs


# ---------------------------------------------------------------- builders
def test_transfer_is_one_flat_graph_with_keras_parameter_count():
    model = mobilenet_transfer(trainable_blocks=0)
    assert model.name == "transfer"
    assert not [layer for layer in model.layers if isinstance(layer, keras.Model)]
    reference = keras.applications.MobileNetV2(
        input_shape=SMALL, alpha=0.35, weights=None, classes=3
    )
    # Same backbone and head (global average pool + dense) as keras.applications.
    assert model.count_params() == reference.count_params() == 414_051
    assert model.get_layer("block_16_project").output.shape[-1] == 112
    # trainable_blocks=0: only the classifier trains.
    trainable = [w.path for w in model.trainable_weights]
    assert trainable == ["predictions/kernel", "predictions/bias"]


def test_transfer_head_options():
    model = mobilenet_transfer(hidden_units=[8], pooling="max", dropout=0.0)
    assert model.get_layer("head_dense1").count_params() == 1280 * 8 + 8
    assert model.get_layer("predictions").count_params() == 8 * 3 + 3
    assert "max_pool" in [layer.name for layer in model.layers]
    assert "top_dropout" not in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="Invalid pooling=None"):
        mobilenet_transfer(pooling=None)
    with pytest.raises(ValueError, match="Invalid hidden_units"):
        mobilenet_transfer(hidden_units=[0])
    with pytest.raises(ValueError, match="'pooling' is set by the transfer builder"):
        transfer(backbone="MobileNetV2", backbone_hparams={"pooling": "avg"})


def test_transfer_loads_backbone_weights_from_a_local_file(tmp_path):
    source = backbone("mobilenet_v2", SMALL, alpha=0.35)
    randomize(source, seed=2)
    path = str(tmp_path / "mobilenet_v2_notop.weights.h5")
    source.save_weights(path)
    model = transfer(
        backbone="mobilenet_v2",
        input_shape=SMALL,
        num_classes=3,
        backbone_weights=path,
        backbone_hparams={"alpha": 0.35},
    )
    for layer in source.layers:
        for a, b in zip(
            layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_transfer_config_round_trip_keeps_trainable_flags():
    model = mobilenet_transfer(trainable_blocks=1)
    clone = keras.Model.from_config(model.get_config())
    assert [w.path for w in clone.trainable_weights] == [
        w.path for w in model.trainable_weights
    ]


def test_keras_application_builder():
    tiny = get_entry("keras_application").tiny
    model = build_model("keras_application", **tiny)
    reference = keras.applications.MobileNetV2(
        input_shape=SMALL, alpha=0.35, weights=None, classes=3
    )
    assert model.count_params() == reference.count_params()
    # Same layers (keras.applications' own graph, not wrapped or nested).
    assert [type(layer) for layer in model.layers] == [
        type(layer) for layer in reference.layers
    ]
    assert model.layers[-1].name == "predictions"
    assert keras_application("resnet_50", SMALL, 3).name == "resnet50"
    with pytest.raises(ValueError, match=r"application='ResNet49'.*'ResNet50'"):
        keras_application("ResNet49")
    with pytest.raises(ValueError, match=r"Unknown hyperparameter 'alfa'.*'alpha'"):
        keras_application(application_kwargs={"alfa": 1.0})
