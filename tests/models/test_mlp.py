"""Tests of the perceptron and MLP builders (kerasdl/models/mlp.py)."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.mlp import mlp, perceptron


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _layer_types(model, cls):
    return [layer.name for layer in model.layers if isinstance(layer, cls)]


# ------------------------------------------------------------------ perceptron
def test_perceptron_is_one_dense_layer_on_the_flat_input():
    model = perceptron(input_shape=(28, 28), num_classes=1)
    assert model.name == "perceptron"
    assert model.count_params() == 28 * 28 + 1
    assert [layer.name for layer in model.layers[1:]] == ["flatten", "predictions"]
    assert model.output_shape == (None, 1)


def test_perceptron_rank1_input_needs_no_flatten():
    model = perceptron(input_shape=(2,), num_classes=1)
    assert model.count_params() == 3
    assert not _layer_types(model, keras.layers.Flatten)


@pytest.mark.parametrize(
    "activation, fn",
    [
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("tanh", np.tanh),
        ("hard_sigmoid", lambda z: np.clip(z / 6 + 0.5, 0.0, 1.0)),
        (None, lambda z: z),
    ],
)
def test_perceptron_output_is_activation_of_affine_map(activation, fn):
    model = perceptron(
        input_shape=(3, 2), num_classes=2, classifier_activation=activation
    )
    x = np.random.default_rng(0).standard_normal((5, 3, 2)).astype("float32") * 3
    kernel, bias = model.get_layer("predictions").get_weights()
    expected = fn(x.reshape(5, 6) @ kernel + bias)
    np.testing.assert_allclose(_np(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_perceptron_separates_linearly_separable_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype("float32")
    y = (x @ np.array([1.0, -2.0]) + 0.3 > 0).astype("float32")[:, None]
    x += np.sign(y - 0.5) * 0.3 * np.array([1.0, -2.0]) / np.sqrt(5)  # margin
    model = perceptron(input_shape=(2,), num_classes=1)
    model.compile(
        optimizer=keras.optimizers.Adam(0.1),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=30, batch_size=50, verbose=0)
    assert history.history["accuracy"][-1] == 1.0


def test_perceptron_rejects_softmax_over_one_output():
    with pytest.raises(ValueError, match=r"softmax.*num_classes=1"):
        perceptron(num_classes=1, classifier_activation="softmax")


def test_perceptron_rejects_unknown_activation():
    with pytest.raises(ValueError, match=r"classifier_activation='step'.*Accepted"):
        perceptron(classifier_activation="step")


# ------------------------------------------------------------------------ mlp
def test_mlp_parameter_count_matches_formula():
    model = mlp(input_shape=(8, 8), hidden_units=[16, 8], num_classes=3)
    assert model.name == "mlp"
    # (64*16 + 16) + (16*8 + 8) + (8*3 + 3)
    assert model.count_params() == 1203
    assert model.output_shape == (None, 3)


def test_mlp_default_is_784_256_128_10():
    assert mlp().count_params() == (784 * 256 + 256) + (256 * 128 + 128) + 1290


def test_mlp_without_hidden_layers_is_logistic_regression():
    model = mlp(input_shape=(10,), hidden_units=[], num_classes=4)
    assert model.count_params() == 44
    assert [layer.name for layer in model.layers[1:]] == ["predictions"]


def test_mlp_flattens_any_rank():
    model = mlp(input_shape=(2, 3, 4), hidden_units=[5], num_classes=2)
    assert model.get_layer("dense1").kernel.shape == (24, 5)
    x = np.ones((2, 2, 3, 4), "float32")
    np.testing.assert_allclose(_np(model(x)).sum(axis=1), [1.0, 1.0], rtol=1e-5)


def test_mlp_batch_norm_switch():
    plain = mlp(input_shape=(8,), hidden_units=[16, 8], num_classes=3)
    assert not _layer_types(plain, keras.layers.BatchNormalization)
    bn = mlp(input_shape=(8,), hidden_units=[16, 8], num_classes=3, batch_norm=True)
    assert _layer_types(bn, keras.layers.BatchNormalization) == [
        "dense1_bn",
        "dense2_bn",
    ]
    # gamma, beta trainable; moving mean and variance not.
    trainable = sum(int(np.prod(w.shape)) for w in bn.trainable_weights)
    assert trainable == plain.count_params() + 2 * (16 + 8)
    assert bn.count_params() == plain.count_params() + 4 * (16 + 8)
    names = [layer.name for layer in bn.layers]
    assert names.index("dense1_bn") == names.index("dense1") + 1
    assert names.index("dense1_act") == names.index("dense1_bn") + 1


def test_mlp_dropout_after_every_hidden_layer():
    assert not _layer_types(mlp(hidden_units=[4, 4]), keras.layers.Dropout)
    model = mlp(hidden_units=[4, 4], dropout=0.3)
    dropouts = [model.get_layer(n) for n in _layer_types(model, keras.layers.Dropout)]
    assert [d.name for d in dropouts] == ["dense1_dropout", "dense2_dropout"]
    assert all(d.rate == 0.3 for d in dropouts)


def test_mlp_l2_regularizes_every_kernel():
    model = mlp(input_shape=(6,), hidden_units=[5, 4], num_classes=2, l2=0.01)
    names = ("dense1", "dense2", "predictions")
    kernels = [model.get_layer(n).get_weights()[0] for n in names]
    expected = 0.01 * sum(float(np.sum(k**2)) for k in kernels)
    losses = [float(_np(loss)) for loss in model.losses]
    assert len(losses) == 3
    np.testing.assert_allclose(sum(losses), expected, rtol=1e-5)
    assert not mlp(input_shape=(6,), hidden_units=[5, 4], num_classes=2).losses


def test_mlp_activation_and_initializer_options():
    model = mlp(hidden_units=[4], activation="gelu", kernel_initializer="he")
    assert model.get_layer("dense1_act").get_config()["activation"] == "gelu"
    init = model.get_layer("dense1").get_config()["kernel_initializer"]
    assert init["class_name"] == "HeNormal"
    leaky = mlp(hidden_units=[4], activation="leaky_relu")
    assert isinstance(leaky.get_layer("dense1_act"), keras.layers.LeakyReLU)


def test_mlp_include_top_false_outputs_last_hidden_features():
    model = mlp(input_shape=(8,), hidden_units=[16, 5], include_top=False)
    assert model.output_shape == (None, 5)
    assert "predictions" not in [layer.name for layer in model.layers]


def test_mlp_loads_local_weights(tmp_path):
    source = mlp(input_shape=(8,), hidden_units=[4], num_classes=2)
    path = str(tmp_path / "mlp.weights.h5")
    source.save_weights(path)
    loaded = mlp(input_shape=(8,), hidden_units=[4], num_classes=2, weights=path)
    x = np.random.default_rng(0).standard_normal((2, 8)).astype("float32")
    np.testing.assert_allclose(_np(loaded(x)), _np(source(x)), rtol=1e-6)
    with pytest.raises(ValueError, match="never downloads"):
        mlp(weights="imagenet")


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"hidden_units": [16, 0]}, r"hidden_units=\[16, 0\]: expected a list"),
        ({"hidden_units": 16}, r"hidden_units=16: expected a list"),
        ({"activation": "relux"}, r"activation='relux'\. Did you mean 'relu'"),
        ({"dropout": 1.0}, r"dropout=1\.0: expected a number in \[0\.0, 1\.0\)"),
        ({"l2": -0.1}, r"l2=-0\.1"),
        ({"batch_norm": "yes"}, r"batch_norm='yes': expected a bool \(True or False\)"),
        ({"num_classes": 0}, r"num_classes=0: expected an integer >= 1"),
        ({"kernel_initializer": "kaiming"}, r"kernel_initializer='kaiming'"),
        ({"input_shape": (0, 3)}, r"input_shape=\(0, 3\)"),
    ],
)
def test_mlp_rejects_invalid_hyperparameters(hparams, message):
    with pytest.raises(ValueError, match=message):
        mlp(**hparams)


def test_registered_in_family_mlp():
    assert {"mlp", "perceptron"} <= set(kerasdl.list_models(family="mlp"))
    model = kerasdl.build("mlp", input_shape=(4,), hidden_units=[3], num_classes=2)
    assert model.count_params() == (4 * 3 + 3) + (3 * 2 + 2)
