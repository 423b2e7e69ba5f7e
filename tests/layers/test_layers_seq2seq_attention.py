"""Bahdanau / Luong attention and DecoderRNN against NumPy references."""

import keras
import numpy as np
import pytest

from kerasdl.layers import BahdanauAttention, DecoderRNN, LuongAttention

RNG = np.random.default_rng(0)
QUERY = RNG.standard_normal((2, 3, 5)).astype("float32")
VALUE = RNG.standard_normal((2, 4, 6)).astype("float32")
MASK = np.array([[True, True, True, False], [True, True, False, False]])


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _softmax_masked(scores, mask):
    scores = np.where(mask[:, None, :], scores, -np.inf)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _bahdanau_reference(layer, query, value, mask):
    wq, wk, b, v = (_np(w) for w in layer.weights)
    hidden = (query @ wq)[:, :, None, :] + (value @ wk)[:, None, :, :] + b
    scores = np.tanh(hidden) @ v  # (B, Tq, Ts)
    weights = _softmax_masked(scores, mask)
    return weights @ value, weights


@pytest.mark.parametrize("with_mask", [True, False])
def test_bahdanau_matches_numpy(with_mask):
    layer = BahdanauAttention(7)
    mask = MASK if with_mask else np.ones_like(MASK)
    context, weights = layer(QUERY, VALUE, value_mask=mask if with_mask else None)
    ref_context, ref_weights = _bahdanau_reference(layer, QUERY, VALUE, mask)
    np.testing.assert_allclose(_np(weights), ref_weights, atol=1e-5)
    np.testing.assert_allclose(_np(context), ref_context, atol=1e-5)
    assert [w.shape for w in layer.weights] == [(5, 7), (6, 7), (7,), (7,)]


def test_masked_positions_get_exactly_zero_weight():
    for layer in (BahdanauAttention(4), LuongAttention("general")):
        _, weights = layer(QUERY, VALUE, value_mask=MASK)
        weights = _np(weights)
        assert np.all(weights[0, :, 3] == 0.0)
        assert np.all(weights[1, :, 2:] == 0.0)
        assert np.all(weights[MASK[:, None, :].repeat(3, 1)] > 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)


def test_keras_mask_of_the_values_is_used_automatically():
    tokens = np.array([[3, 1, 2, 0], [2, 2, 0, 0]])
    emb = keras.layers.Embedding(5, 6, mask_zero=True)
    layer = LuongAttention("dot")
    _, weights = layer(RNG.standard_normal((2, 3, 6)).astype("float32"), emb(tokens))
    weights = _np(weights)
    np.testing.assert_array_equal(weights[..., :][:, 0] > 0, tokens != 0)


@pytest.mark.parametrize("score,scale", [("general", False), ("dot", True)])
def test_luong_matches_numpy(score, scale):
    value = VALUE if score == "general" else VALUE[..., :5]
    layer = LuongAttention(score, scale=scale)
    context, weights = layer(QUERY, value, value_mask=MASK)
    q = QUERY @ _np(layer.weights[0]) if score == "general" else QUERY
    scores = q @ value.transpose(0, 2, 1)
    if scale:
        scores = scores / np.sqrt(value.shape[-1])
    ref = _softmax_masked(scores, MASK)
    np.testing.assert_allclose(_np(weights), ref, atol=1e-5)
    np.testing.assert_allclose(_np(context), ref @ value, atol=1e-5)
    assert len(layer.weights) == (1 if score == "general" else 0)


def test_single_step_query_equals_one_row_of_a_sequence_query():
    layer = BahdanauAttention(4)
    context, weights = layer(QUERY, VALUE, value_mask=MASK)
    c1, w1 = layer(QUERY[:, 1], VALUE, value_mask=MASK)
    assert tuple(c1.shape) == (2, 6) and tuple(w1.shape) == (2, 4)
    np.testing.assert_allclose(_np(w1), _np(weights)[:, 1], atol=1e-6)
    np.testing.assert_allclose(_np(c1), _np(context)[:, 1], atol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        BahdanauAttention(4, use_bias=False, name="att"),
        LuongAttention("general", name="att"),
    ],
)
def test_attention_config_and_keras_round_trip(layer, tmp_path):
    q = keras.Input((None, 5))
    v = keras.Input((None, 6))
    m = keras.Input((None,), dtype="bool")
    context, weights = layer(q, v, value_mask=m)
    model = keras.Model([q, v, m], [context, weights])
    assert layer.get_config()["name"] == "att"
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    path = tmp_path / "att.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model([QUERY, VALUE, MASK]), loaded([QUERY, VALUE, MASK])):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)


def test_attention_argument_errors():
    with pytest.raises(ValueError, match="units=0"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="score='concat'"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="same size"):
        LuongAttention("dot")(QUERY, VALUE)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_decoder_rnn_equals_keras_rnn_with_initial_state(cell):
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    states = [RNG.standard_normal((2, 4)).astype("float32") for _ in range(2)]
    layer = DecoderRNN(cell, 4)
    n = layer.num_states
    out = layer(x, *states[:n])
    assert len(out) == 1 + n
    reference = (keras.layers.LSTM if cell == "lstm" else keras.layers.GRU)(
        4, return_sequences=True, return_state=True
    )
    ref = reference(x, initial_state=states[:n])
    reference.set_weights(layer.get_weights())
    ref = reference(x, initial_state=states[:n])
    for a, b in zip(out, ref):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5)
    # Stepping one token at a time from the returned state gives the same outputs.
    step_states = states[:n]
    for t in range(5):
        step = layer(x[:, t : t + 1], *step_states)
        np.testing.assert_allclose(_np(step[0])[:, 0], _np(out[0])[:, t], atol=1e-5)
        step_states = step[1:]
    assert DecoderRNN.from_config(layer.get_config()).get_config() == layer.get_config()


def test_decoder_rnn_errors():
    with pytest.raises(ValueError, match="cell='rnn'"):
        DecoderRNN("rnn", 4)
    with pytest.raises(ValueError, match="dropout=1.5"):
        DecoderRNN("gru", 4, dropout=1.5)
    with pytest.raises(ValueError, match="state"):
        DecoderRNN("lstm", 4)(
            np.zeros((1, 2, 3), "float32"), np.zeros((1, 4), "float32")
        )
