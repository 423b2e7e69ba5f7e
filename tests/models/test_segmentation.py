"""Tests of the segmentation builders: U-Net and FCN-32s/16s/8s."""

import keras
import numpy as np
import pytest

from kerasdl.models.segmentation import BilinearUpsamplingInitializer, fcn, unet
from kerasdl.registry import get_entry, list_models

TINY_UNET = {"input_shape": (32, 32, 3), "num_classes": 3, "base_filters": 4}
TINY_FCN = {
    "input_shape": (64, 64, 3),
    "num_classes": 3,
    "backbone_filters": 4,
    "fc_filters": 16,
}


def names(model):
    return [layer.name for layer in model.layers]


def of_type(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def predict(model, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, *model.input_shape[1:])).astype("float32")
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_registered():
    assert list_models(family="segmentation") == ["fcn", "unet"]
    assert get_entry("unet").task == "segmentation"
    assert get_entry("fcn").task == "segmentation"


# ---------------------------------------------------------------- U-Net
def test_unet_paper_parameter_count():
    # Hand count, 1 input channel, 2 classes, 3x3 convs with bias, 2x2 up-convs:
    # conv(i, o) = 9*i*o + o; up(i, o) = 4*i*o + o.
    # encoder: conv(1,64)+conv(64,64) = 37,568; conv(64,128)+conv(128,128)
    #   = 221,440; 128->256: 885,248; 256->512: 3,539,968      -> 4,684,224
    # bottleneck: conv(512,1024)+conv(1024,1024)                -> 14,157,824
    # decoder: up(1024,512)+conv(1024,512)+conv(512,512) = 9,176,576;
    #   256: 2,294,528; 128: 573,824; 64: 143,552            -> 12,188,480
    # 1x1 classifier: 64*2 + 2 = 130.  Total: 31,030,658.
    model = unet(input_shape=(256, 256, 1), num_classes=2)
    assert model.count_params() == 31_030_658
    assert model.output_shape == (None, 256, 256, 2)
    # No batch normalization in the paper.
    assert not of_type(model, keras.layers.BatchNormalization)
    assert len(of_type(model, keras.layers.Conv2DTranspose)) == 4


def test_unet_batch_norm_adds_three_params_per_channel():
    # Each BN adds gamma, beta, mean, variance (4f) and removes the conv bias (f);
    # the 18 3x3 convs have 2*(64+128+256+512)*2 + 2*1024 = 5,888 channels.
    model = unet(input_shape=(256, 256, 1), num_classes=2, batch_norm=True)
    assert model.count_params() == 31_030_658 + 3 * 5_888
    assert len(of_type(model, keras.layers.BatchNormalization)) == 18


def test_unet_valid_padding_matches_paper_sizes():
    # Fig. 1 of the paper: a 572x572 tile gives a 388x388 segmentation map.
    model = unet(
        input_shape=(572, 572, 1), num_classes=2, padding="valid", base_filters=2
    )
    assert model.output_shape == (None, 388, 388, 2)
    # Skips are center-cropped: level 1 from 568 to 392 pixels.
    assert model.get_layer("dec1_crop").output.shape[1:3] == (392, 392)


def test_unet_bilinear_upsampling_keeps_parameter_count():
    transpose = unet(**TINY_UNET)
    bilinear = unet(**TINY_UNET, upsampling="bilinear")
    assert bilinear.count_params() == transpose.count_params()
    assert not of_type(bilinear, keras.layers.Conv2DTranspose)
    assert len(of_type(bilinear, keras.layers.UpSampling2D)) == 4


def test_unet_depth_and_dropout_options():
    model = unet(**TINY_UNET, depth=2, dropout=0.0)
    assert "bottleneck_dropout" not in names(model)
    assert "enc3_conv1" not in names(model)
    assert model.get_layer("bottleneck_conv1").output.shape[1:] == (8, 8, 16)
    assert "bottleneck_dropout" in names(unet(**TINY_UNET, depth=2))


def test_unet_output_activation():
    probs = predict(unet(**TINY_UNET))
    assert probs.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    binary = unet(**{**TINY_UNET, "num_classes": 1})
    assert binary.get_layer("predictions").activation.__name__ == "sigmoid"
    mask = predict(binary)
    assert mask.shape == (2, 32, 32, 1) and mask.min() > 0 and mask.max() < 1
    logits = unet(**TINY_UNET, classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"


def test_unet_input_size_validation():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 16; received 100"):
        unet(input_shape=(100, 96, 3))
    unet(input_shape=(100, 96, 3), depth=2, base_filters=2)  # 100 % 4 == 0
    with pytest.raises(ValueError, match=r"padding='valid'.*572 for depth=4"):
        unet(input_shape=(570, 572, 1), padding="valid")
    with pytest.raises(ValueError, match="static height and width"):
        unet(input_shape=(None, None, 1), padding="valid")
    assert unet(**{**TINY_UNET, "input_shape": (None, None, 3)}).output_shape == (
        None,
        None,
        None,
        3,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"upsampling": "nearest"}, "Invalid upsampling='nearest'"),
        ({"padding": "causal"}, "Invalid padding='causal'"),
        ({"depth": 0}, "Invalid depth=0"),
        ({"batch_norm": "yes"}, "Invalid batch_norm='yes'"),
        ({"dropout": 1.5}, r"Invalid dropout=1.5"),
        ({"classifier_activation": "softmaxx"}, "Invalid classifier_activation"),
        ({"weights": "missing.weights.h5"}, "never downloads"),
    ],
)
def test_unet_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        unet(**{**TINY_UNET, **kwargs})


# ---------------------------------------------------------------- FCN
@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_fcn_output_size_equals_input_size(variant):
    model = fcn(variant=variant, **TINY_FCN)
    assert model.name == f"fcn{variant}"
    assert model.output_shape == (None, 64, 64, 3)
    probs = predict(model)
    assert probs.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_fcn_skip_fusions_per_variant():
    fcn8 = names(fcn(variant="8s", **TINY_FCN))
    for layer in ("score_pool4", "fuse_pool4", "score_pool3", "fuse_pool3"):
        assert layer in fcn8
    assert [n for n in fcn8 if n.startswith("upscore")] == [
        "upscore2",
        "upscore_pool4",
        "upscore8",
    ]
    fcn16 = names(fcn(variant="16s", **TINY_FCN))
    assert "score_pool4" in fcn16 and "score_pool3" not in fcn16
    fcn32 = names(fcn(variant="32s", **TINY_FCN))
    assert not [n for n in fcn32 if n.startswith(("score_pool", "fuse"))]
    # Fusions add scores of the same resolution: pool4 at stride 16.
    model = fcn(variant="8s", **TINY_FCN)
    assert model.get_layer("fuse_pool4").output.shape[1:] == (4, 4, 3)
    assert model.get_layer("fuse_pool3").output.shape[1:] == (8, 8, 3)


def test_fcn8s_full_size_parameter_count():
    # Hand count at 21 classes (PASCAL VOC), as Caffe's voc-fcn8s:
    # VGG16 conv blocks 14,714,688 (= keras.applications VGG16, no top)
    # fc6 7*7*512*4096 + 4096 = 102,764,544;  fc7 4096*4096 + 4096 = 16,781,312
    # score_fr 4096*21 + 21 = 86,037; score_pool4 512*21 + 21 = 10,773;
    # score_pool3 256*21 + 21 = 5,397; bias-free deconvs upscore2 and
    # upscore_pool4 4*4*21*21 = 7,056 each, upscore8 16*16*21*21 = 112,896.
    # Total 134,489,759: the paper's "134M" for FCN-VGG16 (Table 1).
    model = fcn(variant="8s")
    assert model.count_params() == 134_489_759
    vgg16 = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(224, 224, 3)
    )
    encoder = sum(
        model.get_layer(layer.name).count_params()
        for layer in vgg16.layers
        if layer.weights
    )
    assert encoder == vgg16.count_params() == 14_714_688


def test_fcn_variant_parameter_differences():
    # 16s drops score_pool3, upscore_pool4 and upscore8 and upsamples 16x with
    # a 32x32 kernel; 32s drops the pool4 branch and upsamples 32x (64x64).
    k = 3
    n8 = fcn(variant="8s", **TINY_FCN).count_params()
    n16 = fcn(variant="16s", **TINY_FCN).count_params()
    n32 = fcn(variant="32s", **TINY_FCN).count_params()
    pool3_scores = 16 * k + k  # backbone_filters=4: pool3 has 16 channels
    assert n8 - n16 == pool3_scores + 16 * k * k + 256 * k * k - 1024 * k * k
    pool4_scores = 32 * k + k
    assert n16 - n32 == pool4_scores + 16 * k * k + 1024 * k * k - 4096 * k * k


def test_fcn_bilinear_upsampling_has_no_upsampling_parameters():
    transpose = fcn(variant="8s", **TINY_FCN)
    bilinear = fcn(variant="8s", upsampling="bilinear", **TINY_FCN)
    assert not of_type(bilinear, keras.layers.Conv2DTranspose)
    k = 3
    assert transpose.count_params() - bilinear.count_params() == (
        2 * 4 * 4 * k * k + 16 * 16 * k * k
    )
    assert bilinear.output_shape == (None, 64, 64, 3)


def test_bilinear_initializer_upsamples_each_channel():
    layer = keras.layers.Conv2DTranspose(
        2,
        4,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsamplingInitializer(),
    )
    x = np.zeros((1, 4, 4, 2), "float32")
    x[..., 0] = 1.0  # constant map in channel 0 only
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (1, 8, 8, 2)
    np.testing.assert_allclose(y[0, 1:-1, 1:-1, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[..., 1], 0.0)  # channels are not mixed


def test_fcn_save_load_round_trip(tmp_path):
    model = fcn(variant="16s", **TINY_FCN)
    path = str(tmp_path / "fcn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    kernel = loaded.get_layer("upscore2").kernel
    assert isinstance(
        loaded.get_layer("upscore2").kernel_initializer,
        BilinearUpsamplingInitializer,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(kernel),
        keras.ops.convert_to_numpy(model.get_layer("upscore2").kernel),
    )
    np.testing.assert_allclose(predict(loaded), predict(model), atol=1e-5)


def test_fcn_batch_norm_and_backbone_depth():
    model = fcn(**TINY_FCN, batch_norm=True, backbone_depth=11)
    bn = [n for n in names(model) if n.endswith("_bn")]
    # VGG-11 has 8 convolutions, plus fc6 and fc7.
    assert len(bn) == 10 and "fc6_bn" in bn
    assert "block1_conv2" not in names(model)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "4s"}, "Invalid variant='4s'"),
        ({"input_shape": (48, 64, 3)}, "height must be divisible by 32"),
        ({"backbone_depth": 18}, "Invalid backbone_depth=18"),
        ({"fc_filters": 0}, "Invalid fc_filters=0"),
        ({"upsampling": "nearest"}, "Invalid upsampling='nearest'"),
        ({"weights": "imagenet"}, "never downloads"),
    ],
)
def test_fcn_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fcn(**{**TINY_FCN, **kwargs})
