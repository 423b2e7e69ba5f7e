"""The explicit-gate cells equal Keras' SimpleRNN, LSTM and GRU given the same weights."""

import keras
import numpy as np
import pytest

from kerasdl.layers import BasicGRUCell, BasicLSTMCell, BasicRNNCell

PAIRS = [
    (BasicRNNCell, keras.layers.SimpleRNN),
    (BasicLSTMCell, keras.layers.LSTM),
    (BasicGRUCell, keras.layers.GRU),
]
IDS = ["rnn", "lstm", "gru"]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _x(seed=0, shape=(2, 5, 3)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _pair(cell_cls, keras_cls, units=4, **rnn_kwargs):
    """A Keras layer and the same layer built from the basic cell, same weights."""
    reference = keras_cls(units, **rnn_kwargs)
    reference.build((None, 5, 3))
    # Random biases too (Keras starts them at 0/1), so a wrong bias slice shows.
    rng = np.random.default_rng(7)
    reference.set_weights(
        [w + 0.3 * rng.standard_normal(w.shape) for w in reference.get_weights()]
    )
    mine = keras.layers.RNN(cell_cls(units), **rnn_kwargs)
    mine.build((None, 5, 3))
    mine.set_weights(reference.get_weights())
    return reference, mine


@pytest.mark.parametrize("cell_cls, keras_cls", PAIRS, ids=IDS)
def test_basic_cell_matches_keras_layer(cell_cls, keras_cls):
    reference, mine = _pair(
        cell_cls, keras_cls, return_sequences=True, return_state=True
    )
    # Same weight names and shapes: Keras' weights load unchanged.
    assert [w.path.split("/")[-1] for w in mine.weights] == [
        w.path.split("/")[-1] for w in reference.weights
    ]
    assert [tuple(w.shape) for w in mine.weights] == [
        tuple(w.shape) for w in reference.weights
    ]
    x = _x(seed=1)
    expected, got = reference(x), mine(x)
    assert len(expected) == len(got)  # sequence + states (h, or h and c)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(_np(g), _np(e), rtol=1e-5, atol=1e-5)
    sequence, h = _np(got[0]), _np(got[1])
    assert sequence.shape == (2, 5, 4)
    # return_sequences=False returns the last step, which is the state h.
    np.testing.assert_allclose(sequence[:, -1], h, rtol=1e-6, atol=1e-6)


def test_basic_cell_matches_keras_with_mask_and_backwards():
    # Masking and direction are the RNN wrapper's job; one cell shows they
    # reach the explicit cell exactly as they reach Keras' own.
    reference, mine = _pair(
        BasicLSTMCell, keras.layers.LSTM, return_sequences=True, go_backwards=True
    )
    x = _x(seed=2)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    np.testing.assert_allclose(
        _np(mine(x, mask=mask)), _np(reference(x, mask=mask)), rtol=1e-5, atol=1e-5
    )


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_lstm_cell_follows_the_gate_equations():
    """One step by hand with NumPy: i, f, g, o in Keras' column order."""
    units, x = 3, _x(seed=3, shape=(2, 1, 4))[:, 0]
    cell = BasicLSTMCell(units)
    h0 = _x(seed=4, shape=(2, units, 1))[..., 0]
    c0 = _x(seed=5, shape=(2, units, 1))[..., 0]
    cell.build(x.shape)
    rng = np.random.default_rng(6)
    cell.set_weights([rng.standard_normal(w.shape) for w in cell.get_weights()])
    W, U, b = cell.get_weights()
    z = x @ W + h0 @ U + b
    i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
    c = _sigmoid(f) * c0 + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    out, (h1, c1) = cell(x, [h0, c0])
    np.testing.assert_allclose(_np(out), h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(h1), h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(c1), c, rtol=1e-5, atol=1e-5)


def test_gru_cell_follows_the_gate_equations():
    """reset_after=True: r multiplies (h U_h + b'_h), not h."""
    units, x = 3, _x(seed=3, shape=(2, 1, 4))[:, 0]
    cell = BasicGRUCell(units)
    h0 = _x(seed=4, shape=(2, units, 1))[..., 0]
    cell.build(x.shape)
    rng = np.random.default_rng(6)
    cell.set_weights([rng.standard_normal(w.shape) for w in cell.get_weights()])
    W, U, b = cell.get_weights()
    assert b.shape == (2, 3 * units)
    xw, hu = x @ W + b[0], h0 @ U + b[1]
    blk = [slice(k * units, (k + 1) * units) for k in range(3)]
    z = _sigmoid(xw[:, blk[0]] + hu[:, blk[0]])
    r = _sigmoid(xw[:, blk[1]] + hu[:, blk[1]])
    n = np.tanh(xw[:, blk[2]] + r * hu[:, blk[2]])
    expected = z * h0 + (1 - z) * n
    out, _ = cell(x, [h0])
    np.testing.assert_allclose(_np(out), expected, rtol=1e-5, atol=1e-5)


def test_lstm_forget_bias_starts_at_one():
    cell = BasicLSTMCell(3)
    cell.build((None, 2))
    bias = _np(cell.bias)
    np.testing.assert_array_equal(bias[3:6], np.ones(3))
    np.testing.assert_array_equal(np.delete(bias, range(3, 6)), np.zeros(9))
    plain = BasicLSTMCell(3, unit_forget_bias=False)
    plain.build((None, 2))
    np.testing.assert_array_equal(_np(plain.bias), np.zeros(12))


def test_cells_without_bias_match_keras():
    reference, mine = (
        keras.layers.LSTM(4, use_bias=False),
        keras.layers.RNN(BasicLSTMCell(4, use_bias=False)),
    )
    x = _x()
    reference.build(x.shape), mine.build(x.shape)
    assert len(mine.weights) == 2
    mine.set_weights(reference.get_weights())
    np.testing.assert_allclose(_np(mine(x)), _np(reference(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell_cls", [c for c, _ in PAIRS], ids=IDS)
def test_cell_model_survives_keras_save_and_load(cell_cls, tmp_path):
    inputs = keras.Input((5, 3))
    outputs = keras.layers.RNN(cell_cls(4, activation="tanh"), name="rnn")(inputs)
    model = keras.Model(inputs, outputs)
    clone = keras.layers.RNN.from_config(model.get_layer("rnn").get_config())
    assert type(clone.cell) is cell_cls and clone.cell.units == 4
    path = tmp_path / "cell.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _x()
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("units", [0, -3, 2.5, True, None])
def test_invalid_units_are_refused(units):
    with pytest.raises(ValueError, match="units"):
        BasicLSTMCell(units)
