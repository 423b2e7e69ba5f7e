"""Vision Transformer: structure, keras-hub equivalence, parameter counts."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.vit import vit

TINY = dict(
    input_shape=(8, 8, 3),
    patch_size=4,
    hidden_dim=8,
    num_layers=2,
    num_heads=2,
    mlp_dim=16,
    num_classes=3,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _count(hidden, layers, mlp, patch=16, size=224, classes=1000):
    """ViT parameters by hand: patch conv, class token, positions, blocks, head."""
    tokens = (size // patch) ** 2 + 1
    block = (
        4 * (hidden * hidden + hidden) + 4 * hidden + 2 * hidden * mlp + mlp + hidden
    )
    return (
        patch * patch * 3 * hidden
        + hidden
        + hidden
        + tokens * hidden
        + layers * block
        + 2 * hidden
        + hidden * classes
        + classes
    )


def test_layer_names_and_shapes():
    model = vit(**TINY)
    names = [layer.name for layer in model.layers]
    assert names == [
        "input",
        "patch_embedding",
        "class_token",
        "position_embedding",
        "encoder_block1",
        "encoder_block2",
        "encoder_norm",
        "class_token_pool",
        "predictions",
    ]
    assert model.get_layer("position_embedding").output.shape == (None, 5, 8)
    probs = _np(model(np.zeros((2, 8, 8, 3), "float32")))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_headless_variants():
    tokens = vit(**{**TINY, "include_top": False, "pooling": None})
    assert tokens.output_shape == (None, 5, 8)
    gap = vit(**{**TINY, "class_token": False, "pooling": "avg"})
    assert gap.get_layer("position_embedding").output.shape == (None, 4, 8)
    assert "class_token" not in [layer.name for layer in gap.layers]
    assert gap.output_shape == (None, 3)


def test_size_gives_defaults_and_explicit_dimensions_replace_them():
    model = kerasdl.build("vit_tiny", input_shape=(32, 32, 3), num_layers=1)
    block = model.get_layer("encoder_block1")
    assert block.num_heads == 3 and block.intermediate_dim == 768
    # 16 x 16 patches of a 32 x 32 image: 4 patch tokens and the class token.
    assert model.get_layer("encoder_norm").output.shape == (None, 5, 192)
    assert [n for n in (la.name for la in model.layers) if "block" in n] == [
        "encoder_block1"
    ]
    info = kerasdl.model_info("vit_b16")
    assert info["presets"] == {"size": "base", "patch_size": 16}


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"input_shape": (10, 8, 3)}, "multiples of the patch size"),
        ({"hidden_dim": 9}, "divisible by num_heads"),
        ({"class_token": False}, "pooling='token' with class_token=False"),
        ({"pooling": None}, "pooling=None with include_top=True"),
        ({"size": "giant"}, "size='giant'"),
        ({"dropout": 1.5}, "dropout=1.5"),
    ],
)
def test_invalid_hyperparameters(hparams, message):
    with pytest.raises(ValueError, match=message):
        vit(**{**TINY, **hparams})


def _copy_hub_weights(hub_classifier, model):
    """Copies keras-hub ViT weights into the kerasdl graph (reshaping heads)."""
    backbone = hub_classifier.backbone
    embed = backbone.get_layer("vit_patching_and_embedding")
    ours = model.get_layer("patch_embedding").projection
    ours.set_weights(embed.patch_embedding.get_weights())
    model.get_layer("class_token").set_weights([_np(embed.class_token)])
    model.get_layer("position_embedding").set_weights(
        embed.position_embedding.get_weights()
    )
    encoder = backbone.get_layer("vit_encoder")
    for i, hub_block in enumerate(encoder.encoder_layers, start=1):
        block = model.get_layer(f"encoder_block{i}")
        block.self_attention_norm.set_weights(hub_block.layer_norm_1.get_weights())
        block.ffn_norm.set_weights(hub_block.layer_norm_2.get_weights())
        mha, attention = hub_block.mha, block.self_attention
        for src, dst in (
            (mha._query_dense, attention.query_dense),
            (mha._key_dense, attention.key_dense),
            (mha._value_dense, attention.value_dense),
        ):
            kernel, bias = src.get_weights()  # (D, heads, d), (heads, d)
            dst.set_weights([kernel.reshape(kernel.shape[0], -1), bias.reshape(-1)])
        kernel, bias = mha._output_dense.get_weights()  # (heads, d, D), (D,)
        attention.output_dense.set_weights([kernel.reshape(-1, kernel.shape[-1]), bias])
        block.ffn_intermediate.set_weights(hub_block.mlp.dense_1.get_weights())
        block.ffn_output.set_weights(hub_block.mlp.dense_2.get_weights())
    model.get_layer("encoder_norm").set_weights(encoder.layer_norm.get_weights())
    model.get_layer("predictions").set_weights(
        hub_classifier.output_dense.get_weights()
    )


def test_outputs_equal_keras_hub_vit_with_copied_weights():
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(8, 8, 3),
        patch_size=4,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
    )
    reference = keras_hub.models.ViTImageClassifier(
        backbone, num_classes=3, activation="softmax", compile=False
    )
    model = vit(**TINY)
    assert model.count_params() == reference.count_params()
    _copy_hub_weights(reference, model)
    images = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    expected = _np(reference(images))
    np.testing.assert_allclose(_np(model(images)), expected, rtol=1e-4, atol=1e-5)
    assert np.abs(expected - expected.mean()).max() > 1e-3  # not a constant


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_vit_b16_param_count_equals_keras_hub_and_paper():
    """Both with the 1000-class head and backbone only (TensorFlow pass)."""
    import keras_hub

    published = 86_567_656  # ViT-B/16 at 224x224, 1000 classes
    model = kerasdl.build("vit_b16")
    assert model.count_params() == published == _count(768, 12, 3072)

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(224, 224, 3),
        patch_size=16,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        mlp_dim=3072,
    )
    head = keras_hub.models.ViTImageClassifier(
        backbone, num_classes=1000, compile=False
    )
    assert head.count_params() == published
    # Backbone only: everything before the classifier (768 * 1000 + 1000).
    ours = sum(la.count_params() for la in model.layers if la.name != "predictions")
    assert ours == backbone.count_params() == published - 769_000


@pytest.mark.parametrize(
    "name, expected",
    [("vit_tiny", 5_717_416), ("vit_small", 22_050_664)],
)
def test_param_count_published(name, expected):
    # timm's vit_tiny_patch16_224 and vit_small_patch16_224 (DeiT-Ti/S sizes).
    model = kerasdl.build(name)
    assert model.count_params() == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, expected",
    [("vit_b32", 88_224_232), ("vit_l16", 304_326_632)],
)
def test_large_param_count(name, expected):
    # timm's vit_base_patch32_224 and vit_large_patch16_224.
    model = kerasdl.build(name)
    hidden, layers, mlp = (768, 12, 3072) if name == "vit_b32" else (1024, 24, 4096)
    patch = 32 if name == "vit_b32" else 16
    assert model.count_params() == expected == _count(hidden, layers, mlp, patch)
