"""seq2seq builder and decoding: greedy, beam search, attention matrices, plots."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.generation import (
    Seq2SeqDecoder,
    beam_search,
    beam_search_fn,
    greedy_decode,
    greedy_search,
    sequence_log_probs,
)
from kerasdl.models.seq2seq import seq2seq
from kerasdl.viz import plot_attention

SOURCE = np.array(
    [[3, 4, 5, 6, 0, 0], [7, 3, 3, 0, 0, 0], [5, 6, 7, 3, 4, 5]], dtype="int32"
)
START, END = 1, 2


def _model(**kwargs):
    hp = dict(source_vocab_size=8, target_vocab_size=9, embedding_dim=6, units=8)
    return seq2seq(**{**hp, **kwargs})


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(7)
    return _model(attention="bahdanau", cell="gru", bidirectional=True)


@pytest.fixture(scope="module")
def decoder(model):
    return Seq2SeqDecoder(model)


def test_graph_layers_and_output():
    m = _model(attention="luong", luong_score="dot")
    names = [layer.name for layer in m.layers]
    for name in (
        "source_tokens", "target_input_tokens", "source_mask", "source_embedding",
        "encoder", "target_embedding", "decoder", "attention", "attention_concat",
        "attention_projection", "logits",
    ):  # fmt: skip
        assert name in names
    assert [t.name for t in m.inputs] == ["source_tokens", "target_input_tokens"]
    assert tuple(m.output.shape) == (None, None, 9)
    plain = _model(attention=None)
    assert "attention" not in [layer.name for layer in plain.layers]
    # Attention adds the scoring weights and the Luong projection.
    assert m.count_params() > plain.count_params()


def test_padding_in_the_source_changes_nothing(model):
    """Extra padding columns are masked: same logits."""
    dec_in = np.array([[1, 3, 4]] * 3, "int32")
    padded = np.concatenate([SOURCE, np.zeros((3, 3), "int32")], 1)
    a = keras.ops.convert_to_numpy(model([SOURCE, dec_in]))
    b = keras.ops.convert_to_numpy(model([padded, dec_in]))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_builder_errors():
    with pytest.raises(ValueError, match="attention='transformer'"):
        _model(attention="transformer")
    with pytest.raises(ValueError, match="cell='rnn'"):
        _model(cell="rnn")
    with pytest.raises(ValueError, match="units=7 with bidirectional"):
        _model(units=7, bidirectional=True)
    with pytest.raises(ValueError, match="luong_score"):
        _model(luong_score="concat")
    with pytest.raises(ValueError, match="not a kerasdl seq2seq model"):
        Seq2SeqDecoder(kerasdl.build("mlp", input_shape=(4,), hidden_units=[2]))


def test_greedy_attention_shape_rows_and_log_probs(model, decoder):
    result = decoder.greedy(SOURCE, START, END, max_length=5)
    batch, length = result.tokens.shape
    assert batch == 3 and 1 <= length <= 5
    assert result.attention.shape == (3, length, SOURCE.shape[1])
    for b in range(3):
        rows = result.attention[b, : result.lengths[b]]
        np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-5)
        assert np.all(rows[:, SOURCE[b] == 0] == 0.0)  # padded source columns
        assert np.all(result.attention[b, result.lengths[b] :] == 0.0)
        assert np.all(result.tokens[b, : result.lengths[b]] != 0)
    # Step-by-step decoding agrees with the teacher-forced training graph.
    np.testing.assert_allclose(
        sequence_log_probs(model, SOURCE, result.tokens, START),
        result.log_probs,
        atol=1e-4,
    )
    assert result.attention_matrix(0).shape == (result.lengths[0], SOURCE.shape[1])


def test_beam_width_one_equals_greedy(decoder):
    greedy = decoder.greedy(SOURCE, START, END, max_length=6)
    beam = decoder.beam_search(SOURCE, START, END, max_length=6, beam_width=1)
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_allclose(beam.log_probs, greedy.log_probs, atol=1e-5)
    np.testing.assert_allclose(beam.attention, greedy.attention, atol=1e-6)


def test_beam_search_scores_are_the_models_log_probs(model, decoder):
    beam = beam_search(decoder, SOURCE, START, END, max_length=6, beam_width=3)
    np.testing.assert_allclose(
        sequence_log_probs(model, SOURCE, beam.tokens, START), beam.log_probs, atol=1e-4
    )
    for b in range(3):
        np.testing.assert_allclose(
            beam.attention[b, : beam.lengths[b]].sum(-1), 1.0, atol=1e-5
        )


# A hand-built next-token table where greedy decoding is short-sighted:
# from <start>, "A" (0.55) beats "B" (0.45); after "B" the sequence ends with
# probability 0.9, but after "A" every continuation has at most 0.35, so the
# best sequence is "B <end>" (0.405) while greedy pays 0.35 per extra step.
PAD, A, B = 0, 3, 4
TABLE = np.full((5, 5), 1e-12)
TABLE[START, [A, B]] = [0.55, 0.45]
TABLE[A, [A, B, END]] = [0.35, 0.35, 0.30]
TABLE[B, [A, B, END]] = [0.05, 0.05, 0.90]
TABLE[END, END] = 1.0
TABLE[:, PAD] = 0.0


def _table_step(prev, states, rows):
    with np.errstate(divide="ignore"):
        log_probs = np.log(TABLE[prev])
    attention = np.tile([[0.25, 0.75]], (len(prev), 1))
    return log_probs, attention, states


def test_beam_search_beats_greedy_on_a_constructed_case():
    states = [np.zeros((1, 1))]
    greedy = greedy_search(_table_step, states, 1, START, END, max_length=5)
    assert greedy.tokens.tolist() == [[A, A, A, A, A]]  # never dares to end
    np.testing.assert_allclose(greedy.log_probs, np.log(0.55 * 0.35**4), rtol=1e-5)
    beam = beam_search_fn(_table_step, states, 1, START, END, 5, beam_width=2)
    assert beam.tokens.tolist() == [[B, END]]
    np.testing.assert_allclose(beam.log_probs, np.log(0.45 * 0.9), rtol=1e-5)
    assert beam.log_probs[0] > greedy.log_probs[0]
    assert beam.attention.shape == (1, 2, 2)
    one = beam_search_fn(_table_step, states, 1, START, END, 5, beam_width=1)
    np.testing.assert_array_equal(one.tokens, greedy.tokens)


def test_length_penalty_prefers_longer_outputs():
    # "B <end>" (p = 0.45 * 0.9 = 0.405) vs "A B <end>" (0.55 * 0.7 * 0.9 =
    # 0.3465): raw log-probability picks the short one; GNMT's penalty with
    # alpha=2 divides by ((5+2)/6)^2 = 1.36 and ((5+3)/6)^2 = 1.78, giving
    # -0.664 < -0.596, and picks the long one.
    table = TABLE.copy()
    table[A, [A, B, END]] = [0.05, 0.70, 0.25]

    def step(prev, states, rows):
        with np.errstate(divide="ignore"):
            return np.log(table[prev]), None, states

    states = [np.zeros((1, 1))]
    plain = beam_search_fn(step, states, 1, START, END, 6, beam_width=3)
    longer = beam_search_fn(step, states, 1, START, END, 6, 3, length_penalty=2.0)
    assert plain.tokens.tolist() == [[B, END]]
    assert longer.tokens.tolist() == [[A, B, END]]
    np.testing.assert_allclose(longer.log_probs, np.log(0.3465), rtol=1e-5)
    assert plain.attention is None
    assert longer.scores[0] == pytest.approx(
        longer.log_probs[0] / ((5 + longer.lengths[0]) / 6) ** 2, rel=1e-5
    )


def test_decoding_after_keras_round_trip(model, decoder, tmp_path):
    path = tmp_path / "s2s.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    a = decoder.beam_search(SOURCE, START, END, max_length=5, beam_width=2)
    b = beam_search(loaded, SOURCE, START, END, max_length=5, beam_width=2)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.attention, b.attention, atol=1e-5)


def test_model_without_attention_decodes():
    m = _model(attention=None, cell="lstm")
    g = greedy_decode(m, SOURCE, START, END, max_length=4)
    assert g.attention is None
    np.testing.assert_allclose(
        sequence_log_probs(m, SOURCE, g.tokens, START), g.log_probs, atol=1e-4
    )
    with pytest.raises(ValueError, match="no attention"):
        g.attention_matrix(0)


def test_decode_argument_errors(decoder):
    with pytest.raises(ValueError, match="beam_width=0"):
        decoder.beam_search(SOURCE, START, END, beam_width=0)
    with pytest.raises(ValueError, match="max_length=0"):
        decoder.greedy(SOURCE, START, END, max_length=0)
    with pytest.raises(ValueError, match="length_penalty=-1"):
        decoder.beam_search(SOURCE, START, END, length_penalty=-1.0)
    with pytest.raises(TypeError, match="Seq2SeqDecoder"):
        greedy_decode("model", SOURCE, START, END)


def test_plot_attention_writes_a_png(tmp_path):
    weights = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    path = plot_attention(weights, ["a", "b", "c"], ["x", "<end>"], tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert path == tmp_path / "a.png"
    with pytest.raises(ValueError, match="Labels do not match"):
        plot_attention(weights, ["a"], ["x", "y"], tmp_path / "b.png")


def test_evaluate_seq2seq_counts_real_steps_and_exact_matches():
    import dataclasses

    from kerasdl.data import tasks
    from kerasdl.generation import evaluate_seq2seq

    data = tasks.copy_task(6, max_length=5, seed=0)
    keras.utils.set_random_seed(0)
    m = _model(source_vocab_size=data.source_vocab_size,
               target_vocab_size=data.target_vocab_size, attention="luong")  # fmt: skip
    scores = evaluate_seq2seq(m, data)
    predicted = np.argmax(m.predict(data.inputs, verbose=0), axis=-1)
    hits = [
        predicted[i, t] == data.target[i, t]
        for i in range(len(data))
        for t in range(data.target.shape[1])
        if data.sample_weight[i, t] > 0
    ]
    assert scores["char_accuracy"] == pytest.approx(np.mean(hits))
    tokens = greedy_decode(m, data.source, START, END, data.target.shape[1]).tokens
    decoded = [data.decode_target(row) for row in tokens]
    assert scores["exact_match"] == np.mean(
        [d == t for d, t in zip(decoded, data.target_texts)]
    )
    # Targets equal to the model's own greedy outputs match exactly.
    own = dataclasses.replace(data, target_texts=decoded)
    assert evaluate_seq2seq(m, own)["exact_match"] == 1.0
