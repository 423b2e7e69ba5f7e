"""make_augmentation: config forms, validation, effect and seeding."""

import keras
import numpy as np
import pytest

from kerasdl.data import list_augmentations, make_augmentation

IMAGES = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")


def test_config_forms_build_the_keras_layers():
    aug = make_augmentation(
        [
            "flip",
            {"rotation": 0.1},
            {"name": "zoom", "factor": 0.2},
            {"crop": [12, 10]},
            {"translation": 0.125},
            {"contrast": 0.3},
            {"color_jitter": {"brightness_factor": 0.1}},
            {"mixup": 0.4},
            {"cutmix": None},
            {"rand_augment": {"num_ops": 3}},
        ],
        seed=10,
    )
    assert isinstance(aug, keras.Sequential)
    types = [type(layer) for layer in aug.layers]
    assert types == [
        keras.layers.RandomFlip,
        keras.layers.RandomRotation,
        keras.layers.RandomZoom,
        keras.layers.RandomCrop,
        keras.layers.RandomTranslation,
        keras.layers.RandomContrast,
        keras.layers.RandomColorJitter,
        keras.layers.MixUp,
        keras.layers.CutMix,
        keras.layers.RandAugment,
    ]
    flip, rot, zoom, crop, trans, contrast, jitter, mixup, _, rand = aug.layers
    assert flip.mode == "horizontal_and_vertical" and rot.factor == (-0.1, 0.1)
    assert zoom.height_factor == 0.2 and (crop.height, crop.width) == (12, 10)
    assert trans.height_factor == trans.width_factor == 0.125
    assert mixup.alpha == 0.4 and rand.num_ops == 3
    # Pixel ranges default to kerasdl's [0, 1] images.
    assert tuple(contrast.value_range) == (0.0, 1.0)
    assert tuple(jitter.value_range) == (0.0, 1.0)
    assert tuple(rand.value_range) == (0.0, 1.0)
    assert [layer.seed for layer in aug.layers] == list(range(10, 20))
    assert rot.name == "augmentation_1_rotation"

    as_dict = make_augmentation(
        {"flip": "horizontal", "rotation": False, "contrast": {"factor": 0.2}},
        value_range=(0, 255),
    )
    assert [type(layer).__name__ for layer in as_dict.layers] == [
        "RandomFlip",
        "RandomContrast",
    ]
    assert as_dict.layers[0].mode == "horizontal"
    assert tuple(as_dict.layers[1].value_range) == (0, 255)
    assert list_augmentations()["cutmix"] == "CutMix"


@pytest.mark.parametrize(
    "config, message",
    [
        (
            ["fip"],
            r"augmentation\[0\]: unknown augmentation 'fip'\. Did you mean 'flip'",
        ),
        (
            ["flip", {"rotation": {"facter": 0.1}}],
            r"augmentation\[1\] \(rotation\): unknown argument 'facter'\. Did you mean 'factor'",
        ),
        ([{"crop": {"height": 8}}], r"missing required argument\(s\) \['width'\]"),
        ([{"flip": "diagonal"}], r"augmentation\[0\] \(flip\): mode must be one of"),
        ([{"mixup": -1}], r"\(mixup\): alpha must be a number > 0; received alpha=-1"),
        (
            [{"rotation": "abc"}],
            r"augmentation\[0\] \(rotation\): .*Received: factor=abc",
        ),
        ([{"color_jitter": 0.2}], r"give the arguments as a dict"),
        ([{"flip": 1, "rotation": 2}], r"augmentation\[0\] must be a name"),
        ("flip", r"must be a list of entries or a dict"),
    ],
)
def test_invalid_configs_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        make_augmentation(config)


def test_random_in_training_identity_in_inference_and_seeded():
    config = ["flip", {"rotation": 0.2}]
    aug = make_augmentation(config, seed=1)
    train_out = keras.ops.convert_to_numpy(aug(IMAGES, training=True))
    assert train_out.shape == IMAGES.shape
    assert np.abs(train_out - IMAGES).mean() > 0.05
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(aug(IMAGES, training=False)), IMAGES
    )
    same = make_augmentation(config, seed=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(same(IMAGES, training=True)), train_out, atol=1e-6
    )
    other = make_augmentation(config, seed=2)
    assert not np.allclose(
        keras.ops.convert_to_numpy(other(IMAGES, training=True)), train_out
    )
