"""ViT layers: patch embedding, class token, token pooling (values, configs)."""

import keras
import numpy as np
import pytest

from kerasdl.layers.vit import ClassToken, PatchEmbedding, TokenPooling


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_patch_embedding_projects_each_patch_in_row_major_order():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 8, 12, 3)).astype("float32")
    layer = PatchEmbedding(patch_size=4, hidden_dim=5)
    tokens = _np(layer(images))
    assert tokens.shape == (2, 6, 5)  # (8/4) * (12/4) patches

    kernel = _np(layer.projection.kernel).reshape(4 * 4 * 3, 5)
    bias = _np(layer.projection.bias)
    # Patch (r, c) flattened (row, col, channel) is token r * 3 + c.
    for r in range(2):
        for c in range(3):
            patch = images[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4, :].reshape(2, -1)
            np.testing.assert_allclose(
                tokens[:, r * 3 + c], patch @ kernel + bias, rtol=1e-5, atol=1e-5
            )
    assert layer.count_params() == 4 * 4 * 3 * 5 + 5


def test_patch_embedding_rectangular_patches_and_no_bias():
    layer = PatchEmbedding(patch_size=(2, 4), hidden_dim=3, use_bias=False)
    assert layer(np.zeros((1, 4, 8, 1), "float32")).shape == (1, 4, 3)
    assert layer.count_params() == 2 * 4 * 1 * 3


def test_patch_embedding_rejects_sizes_that_are_not_multiples():
    with pytest.raises(ValueError, match="width 10 is not a multiple"):
        PatchEmbedding(patch_size=4, hidden_dim=8)(np.zeros((1, 8, 10, 3), "float32"))
    with pytest.raises(ValueError, match="patch_size=0"):
        PatchEmbedding(patch_size=0)
    with pytest.raises(ValueError, match="hidden_dim=-1"):
        PatchEmbedding(patch_size=2, hidden_dim=-1)


def test_class_token_is_prepended_and_shared():
    tokens = np.random.default_rng(1).standard_normal((3, 4, 6)).astype("float32")
    layer = ClassToken(initializer="random_normal")
    out = _np(layer(tokens))
    assert out.shape == (3, 5, 6)
    token = _np(layer.token)[0, 0]
    assert np.abs(token).sum() > 0
    for i in range(3):
        np.testing.assert_allclose(out[i, 0], token)
    np.testing.assert_allclose(out[:, 1:], tokens)


def test_class_token_receives_gradient_from_its_position_only():
    layer = ClassToken()
    model = keras.Sequential(
        [keras.Input((4, 6)), layer, TokenPooling("token"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = _np(layer.token).copy()
    model.train_on_batch(np.zeros((2, 4, 6), "float32"), np.ones((2, 1), "float32"))
    assert not np.allclose(_np(layer.token), before)


def test_token_pooling_modes():
    x = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    np.testing.assert_allclose(_np(TokenPooling("token")(x)), x[:, 0])
    np.testing.assert_allclose(_np(TokenPooling("token", index=2)(x)), x[:, 2])
    np.testing.assert_allclose(_np(TokenPooling("avg")(x)), x.mean(axis=1))
    np.testing.assert_allclose(
        _np(TokenPooling("avg", num_prefix_tokens=1)(x)), x[:, 1:].mean(axis=1)
    )
    with pytest.raises(ValueError, match="mode='max'"):
        TokenPooling("max")
    with pytest.raises(ValueError, match="index=4"):
        TokenPooling("token", index=4)(x)


@pytest.mark.parametrize(
    "layer",
    [
        PatchEmbedding(patch_size=(2, 4), hidden_dim=3, use_bias=False),
        ClassToken(initializer="random_normal"),
        TokenPooling("avg", num_prefix_tokens=1),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"kerasdl>{type(layer).__name__}"


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((4, 4, 1))
    x = PatchEmbedding(2, 6, name="patches")(inputs)
    x = ClassToken(initializer="random_normal", name="cls")(x)
    outputs = TokenPooling("token", name="pool")(x)
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(2).standard_normal((2, 4, 4, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(images)), _np(model(images)), atol=1e-6)
