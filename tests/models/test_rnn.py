"""Tests of the recurrent classifiers, regressors and taggers (kerasdl/models/rnn.py)."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.rnn import rnn_classifier, rnn_regressor, rnn_tagger


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _names(model):
    return [layer.name for layer in model.layers]


def test_stacked_lstm_classifier_layer_names_and_param_count():
    model = kerasdl.build(
        "lstm_classifier", input_shape=(7, 3), units=[8, 4], num_classes=5
    )
    assert model.name == "lstm_classifier"
    assert _names(model) == ["input", "lstm1", "lstm2", "predictions"]
    # LSTM: 4 gates x (input kernel + recurrent kernel + bias).
    lstm1 = 4 * (3 * 8 + 8 * 8 + 8)
    lstm2 = 4 * (8 * 4 + 4 * 4 + 4)
    assert model.count_params() == lstm1 + lstm2 + 4 * 5 + 5
    assert model.output_shape == (None, 5)
    assert model.get_layer("lstm1").return_sequences
    assert not model.get_layer("lstm2").return_sequences


def test_gru_and_simple_rnn_param_counts():
    gru = kerasdl.build("gru_classifier", input_shape=(None, 2), units=6, num_classes=3)
    # Keras GRU (reset_after=True): separate input and recurrent biases.
    assert gru.count_params() == 3 * (2 * 6 + 6 * 6 + 2 * 6) + 6 * 3 + 3
    elman = kerasdl.build(
        "simple_rnn_classifier", input_shape=(None, 2), units=6, num_classes=3
    )
    assert elman.count_params() == (2 * 6 + 6 * 6 + 6) + 6 * 3 + 3


def test_bidirectional_merge_modes_set_the_feature_width():
    concat = rnn_classifier(input_shape=(5, 2), units=4, bidirectional=True)
    assert _names(concat)[1] == "bilstm1"
    assert concat.get_layer("predictions").kernel.shape == (8, 10)
    summed = rnn_classifier(
        input_shape=(5, 2), units=4, bidirectional=True, merge_mode="sum"
    )
    assert summed.get_layer("predictions").kernel.shape == (4, 10)
    layer = summed.get_layer("bilstm1")
    assert layer.merge_mode == "sum" and layer.backward_layer.go_backwards


def test_dropout_options_reach_every_recurrent_layer():
    model = rnn_regressor(
        input_shape=(5, 2),
        units=[4, 4],
        cell="gru",
        dropout=0.2,
        recurrent_dropout=0.1,
        head_dropout=0.3,
    )
    for name in ("gru1", "gru2"):
        config = model.get_layer(name).get_config()
        assert (config["dropout"], config["recurrent_dropout"]) == (0.2, 0.1)
    assert model.get_layer("head_dropout").rate == 0.3
    x = np.ones((4, 5, 2), "float32")
    # Dropout is active only in training mode.
    inference = _np(model(x))
    assert not np.allclose(_np(model(x, training=True)), inference)


def test_tagger_outputs_one_distribution_per_step():
    model = rnn_tagger(
        input_shape=(None,), vocab_size=20, num_classes=4, units=6, bidirectional=True
    )
    assert _names(model)[:3] == ["input", "embedding", "bilstm1"]
    ids = np.random.default_rng(0).integers(1, 20, size=(3, 9)).astype("int32")
    probs = _np(model(ids))
    assert probs.shape == (3, 9, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_mask_zero_makes_padding_invisible_to_the_classifier():
    # Average pooling over a masked sequence: both the LSTM (skips padded
    # steps) and the pooling (leaves them out of the mean) must honour the mask.
    model = rnn_classifier(
        input_shape=(None,),
        vocab_size=10,
        embedding_dim=4,
        units=5,
        mask_zero=True,
        pooling="avg",
        num_classes=3,
    )
    short = np.array([[3, 1, 4]], dtype="int32")
    padded = np.array([[3, 1, 4, 0, 0]], dtype="int32")
    np.testing.assert_allclose(
        _np(model(short)), _np(model(padded)), rtol=1e-5, atol=1e-6
    )


def test_masked_tagger_loss_ignores_padded_steps():
    model = rnn_tagger(
        input_shape=(5,), vocab_size=10, embedding_dim=4, units=4, mask_zero=True,
        num_classes=3, cell="gru",
    )  # fmt: skip
    model.compile(loss="sparse_categorical_crossentropy")
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]], dtype="int32")
    tags = np.array([[0, 1, 2, 0, 0], [2, 2, 1, 0, 1]], dtype="int32")
    changed = tags.copy()
    changed[0, 3:] = 2  # labels on padding steps
    loss = model.evaluate(ids, tags, verbose=0)
    assert model.evaluate(ids, changed, verbose=0) == pytest.approx(loss, rel=1e-6)
    changed[0, 0] = 2  # a label on a real step
    assert abs(model.evaluate(ids, changed, verbose=0) - loss) > 1e-4


@pytest.mark.parametrize("basic, fused", [("basic_lstm", "lstm"), ("basic_gru", "gru")])
def test_teaching_cells_compute_the_same_model_as_keras_layers(basic, fused):
    kwargs = {"input_shape": (6, 3), "units": [4, 3], "num_classes": 2}
    reference = rnn_classifier(cell=fused, **kwargs)
    explicit = rnn_classifier(cell=basic, **kwargs)
    assert explicit.count_params() == reference.count_params()
    explicit.set_weights(reference.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype("float32")
    np.testing.assert_allclose(
        _np(explicit(x)), _np(reference(x)), rtol=1e-5, atol=1e-5
    )


def test_float_input_masking_skips_all_zero_steps():
    model = rnn_regressor(input_shape=(None, 2), units=3, mask_zero=True)
    assert "masking" in _names(model)
    x = np.array([[[1.0, 2.0], [0.5, -1.0]]], "float32")
    padded = np.concatenate([x, np.zeros((1, 2, 2), "float32")], axis=1)
    np.testing.assert_allclose(_np(model(x)), _np(model(padded)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cell": "lstn"}, "Did you mean 'lstm'"),
        ({"units": []}, "units"),
        ({"units": [4, 0]}, "units"),
        ({"merge_mode": "max"}, "merge_mode"),
        ({"dropout": 1.0}, "dropout"),
        ({"cell": "basic_lstm", "recurrent_dropout": 0.2}, "teaching cells"),
        ({"pooling": "first"}, "pooling"),
        ({"input_shape": (5,)}, "input_shape"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"vocab_size": 50, "input_shape": (5, 2)}, "input_shape"),
        ({"bidirectional": "yes"}, "bidirectional"),
    ],
)
def test_invalid_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rnn_classifier(**kwargs)


def test_registry_names_fix_the_cell():
    assert set(kerasdl.list_models(family="rnn")) >= {
        "rnn_classifier",
        "rnn_regressor",
        "rnn_tagger",
        "simple_rnn_classifier",
        "lstm_classifier",
        "gru_classifier",
    }
    info = kerasdl.model_info("gru_classifier")
    assert info["presets"] == {"cell": "gru"} and "cell" not in info["hyperparameters"]
    assert kerasdl.model_info("rnn_regressor")["task"] == "regression"


def test_teaching_cells_work_where_the_readme_says():
    import pathlib
    import re

    from kerasdl.registry import get_entry

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r'`cell="basic_lstm"`[^.]*? in\s+(.*?)\s+swaps in', readme, re.S)
    assert found, "README no longer says where cell='basic_lstm' works"
    named = re.findall(r"`(\w+)`", found.group(1))
    assert named == ["rnn_classifier", "rnn_regressor", "rnn_tagger"], named
    for name in named:
        entry = get_entry(name)
        model = kerasdl.build(name, **{**entry.tiny, "cell": "basic_lstm"})
        shape = [2 if d is None else d for d in model.inputs[0].shape]
        x = np.ones(shape, dtype=model.inputs[0].dtype)  # ids or features
        cells = [
            type(layer.cell).__name__
            for layer in model.layers
            if hasattr(layer, "cell")
        ]
        assert "BasicLSTMCell" in cells, (name, cells)
        assert np.isfinite(_np(model(x))).all()
    # Every other registered model with a `cell` hyperparameter refuses the
    # teaching cells with the argument named (the README says so).
    for name in kerasdl.list_models():
        if name in named or "cell" not in kerasdl.model_info(name)["hyperparameters"]:
            continue
        entry = get_entry(name)
        with pytest.raises(ValueError, match="cell"):
            kerasdl.build(name, **{**entry.tiny, "cell": "basic_lstm"})
