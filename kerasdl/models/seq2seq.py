"""Encoder-decoder RNNs (Sutskever et al. 2014; Cho et al. 2014) with attention.

The training model is functional and uses teacher forcing:
`[source_tokens (B, Ts), target_input_tokens (B, Tt)] -> logits (B, Tt, V)`,
where the decoder input is the target shifted right behind a start token.
Id 0 pads, in both vocabularies; embeddings mask it, so padded source
positions get zero attention and padded target steps carry no loss.

Graph (layer names in quotes):

    source -> "source_embedding" -> "encoder" (LSTM/GRU, or a
        Bidirectional one whose states are joined by "encoder_state_h"/"_c")
    decoder input -> "target_embedding" -> "decoder" (`DecoderRNN`, started
        from the encoder's final state)
    with attention: "attention"(decoder outputs, encoder outputs) ->
        "attention_concat" [context; h] -> "attention_projection" (tanh)
    -> "logits"

Attention follows Luong et al. 2015: each decoder output h_t queries the
encoder outputs and the "attentional state" tanh(W_c [c_t; h_t]) predicts the
next token; attention="bahdanau" scores with Bahdanau's additive network,
"luong" with Luong's multiplicative "general" (or "dot") score. (Bahdanau's
original feeds c_t into the recurrence instead; the post-RNN form keeps the
graph functional, serializable and decodable step by step.)

Decoding lives in `kerasdl.generation.seq2seq` (`Seq2SeqDecoder`,
`greedy_decode`, `beam_search`): it rebuilds a one-step model from the
trained layers, found by the `SEQ2SEQ_*` layer names exported here, so it
also works on a model loaded from a `.keras` file. `kerasdl.viz.plot_attention`
draws the (target x source) attention matrix.
"""

from __future__ import annotations

import logging

import keras
from keras import layers

from kerasdl.layers.seq2seq_attention import (
    BahdanauAttention,
    DecoderRNN,
    LuongAttention,
)
from kerasdl.layers.transformer import PaddingMask
from kerasdl.models._common import (
    check_bool,
    check_choice,
    check_int,
    check_rate,
)
from kerasdl.models.heads import finish_model, language_model_head
from kerasdl.registry import register_model

__all__ = [
    "SEQ2SEQ_ATTENTION",
    "SEQ2SEQ_ATTENTION_CONCAT",
    "SEQ2SEQ_ATTENTION_PROJECTION",
    "SEQ2SEQ_DECODER",
    "SEQ2SEQ_ENCODER",
    "SEQ2SEQ_ENCODER_STATES",
    "SEQ2SEQ_LOGITS",
    "SEQ2SEQ_SOURCE_EMBEDDING",
    "SEQ2SEQ_TARGET_EMBEDDING",
    "seq2seq",
]

# Layer names that decoding (kerasdl.generation.seq2seq) looks layers up by.
SEQ2SEQ_SOURCE_EMBEDDING = "source_embedding"
SEQ2SEQ_ENCODER = "encoder"
# The joined (forward; backward) final states of a bidirectional encoder.
SEQ2SEQ_ENCODER_STATES = ("encoder_state_h", "encoder_state_c")
SEQ2SEQ_TARGET_EMBEDDING = "target_embedding"
SEQ2SEQ_DECODER = "decoder"
SEQ2SEQ_ATTENTION = "attention"
SEQ2SEQ_ATTENTION_CONCAT = "attention_concat"
SEQ2SEQ_ATTENTION_PROJECTION = "attention_projection"
SEQ2SEQ_LOGITS = "logits"

logger = logging.getLogger(__name__)

ATTENTIONS = ("bahdanau", "luong", None)
CELLS = ("lstm", "gru")
LUONG_SCORES = ("general", "dot")


def seq2seq(
    source_vocab_size=64,
    target_vocab_size=64,
    embedding_dim=64,
    units=128,
    cell="lstm",
    attention="bahdanau",
    attention_units=None,
    luong_score="general",
    bidirectional=False,
    dropout=0.0,
    source_length=None,
    target_length=None,
    weights=None,
):
    """Encoder-decoder RNN with optional attention, trained by teacher forcing.

    Inputs are `source_tokens` (B, Ts) and `target_input_tokens` (B, Tt),
    int32 ids with 0 as padding; the decoder input is the target sequence
    shifted right behind a start token. The output is the logits (B, Tt,
    target_vocab_size) of the next target token at every step (train with
    `SparseCategoricalCrossentropy(from_logits=True)`; padded steps are
    masked). Decode with `greedy_decode` or `beam_search`.

    Args:
        source_vocab_size: int. Number of source token ids (padding 0 included).
        target_vocab_size: int. Number of target token ids (padding 0 included).
        embedding_dim: int. Size of the source and target embeddings.
        units: int. State size of the encoder and the decoder (a bidirectional
            encoder uses units // 2 per direction, so units must be even).
        cell: str. Recurrent cell of encoder and decoder: "lstm" or "gru".
        attention: str or None. "bahdanau" (additive scores), "luong"
            (multiplicative scores) or None (the decoder sees only the
            encoder's final state, as in Sutskever et al. 2014).
        attention_units: int or None. Hidden size of the Bahdanau scoring
            network (default: units).
        luong_score: str. Luong score: "general" (q . W k) or "dot" (q . k).
        bidirectional: bool. Bidirectional encoder; forward and backward
            final states are concatenated to start the decoder.
        dropout: float. Dropout on the embeddings and before the logits, in [0, 1).
        source_length: int or None. Fixed source length (None: any).
        target_length: int or None. Fixed decoder length (None: any).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Returns:
        A functional `keras.Model` named "seq2seq" with inputs
        [source_tokens, target_input_tokens] and per-step logits.

    Raises:
        ValueError: if a hyperparameter is invalid.

    Example:
    >>> model = seq2seq(source_vocab_size=40, target_vocab_size=16, units=64)
    >>> model.output.shape
    (None, None, 16)
    """
    check_int("source_vocab_size", source_vocab_size, minimum=2)
    check_int("target_vocab_size", target_vocab_size, minimum=3)
    check_int("embedding_dim", embedding_dim, minimum=1)
    check_int("units", units, minimum=1)
    check_choice("cell", cell, CELLS)
    check_choice("attention", attention, ATTENTIONS)
    if attention_units is not None:
        check_int("attention_units", attention_units, minimum=1)
    check_choice("luong_score", luong_score, LUONG_SCORES)
    check_bool("bidirectional", bidirectional)
    if bidirectional and units % 2:
        raise ValueError(
            f"Invalid units={units!r} with bidirectional=True: expected an even "
            "number (units // 2 per direction)."
        )
    check_rate("dropout", dropout)
    check_int("source_length", source_length, minimum=1, allow_none=True)
    check_int("target_length", target_length, minimum=1, allow_none=True)

    source = keras.Input((source_length,), dtype="int32", name="source_tokens")
    # Input names sort in positional order: YAML specs store inputs sorted.
    target_in = keras.Input((target_length,), dtype="int32", name="target_input_tokens")

    # The encoder skips source padding through the Embedding's Keras mask
    # (a spec leaves the mask out; the rebuilt Embedding makes it again); the
    # attention gets it explicitly from a layer, so the spec records it.
    # Layers with several tensor inputs are called by keyword, as a spec
    # rebuild calls them, so both graphs list their nodes in the same order.
    x = layers.Embedding(
        source_vocab_size,
        embedding_dim,
        mask_zero=True,
        name=SEQ2SEQ_SOURCE_EMBEDDING,
    )(source)
    if dropout > 0:
        x = layers.Dropout(dropout, name="source_dropout")(x)
    rnn_class = layers.LSTM if cell == "lstm" else layers.GRU
    if bidirectional:
        outputs = layers.Bidirectional(
            # Named: an auto-generated name ("gru_3") would differ per build.
            rnn_class(
                units // 2,
                return_sequences=True,
                return_state=True,
                name="encoder_rnn",
            ),
            name=SEQ2SEQ_ENCODER,
        )(x)
        encoder_outputs, states = outputs[0], outputs[1:]
        half = len(states) // 2  # forward states, then backward states
        names = SEQ2SEQ_ENCODER_STATES[:half]
        states = [
            layers.Concatenate(name=name)([states[i], states[half + i]])
            for i, name in enumerate(names)
        ]
    else:
        outputs = rnn_class(
            units, return_sequences=True, return_state=True, name=SEQ2SEQ_ENCODER
        )(x)
        encoder_outputs, states = outputs[0], list(outputs[1:])

    # The decoder needs no mask: padding only follows the end token, and
    # steps never see later ones. Weight the loss with (target != 0) instead.
    y = layers.Embedding(
        target_vocab_size, embedding_dim, name=SEQ2SEQ_TARGET_EMBEDDING
    )(target_in)
    if dropout > 0:
        y = layers.Dropout(dropout, name="target_dropout")(y)
    state_inputs = dict(zip(("state_h", "state_c"), states))
    decoder_outputs = DecoderRNN(cell, units, name=SEQ2SEQ_DECODER)(
        sequences=y, **state_inputs
    )[0]
    h = decoder_outputs
    if attention is not None:
        source_mask = PaddingMask(0, name="source_mask")(source)
        if attention == "bahdanau":
            layer = BahdanauAttention(attention_units or units, name=SEQ2SEQ_ATTENTION)
        else:
            layer = LuongAttention(luong_score, name=SEQ2SEQ_ATTENTION)
        context, _ = layer(
            query=decoder_outputs, value=encoder_outputs, value_mask=source_mask
        )
        # Luong's attentional state: tanh(W_c [context; h]).
        h = layers.Concatenate(name=SEQ2SEQ_ATTENTION_CONCAT)(
            [context, decoder_outputs]
        )
        h = layers.Dense(units, activation="tanh", name=SEQ2SEQ_ATTENTION_PROJECTION)(h)
    if dropout > 0:
        h = layers.Dropout(dropout, name="output_dropout")(h)
    logits = language_model_head(h, target_vocab_size, name=SEQ2SEQ_LOGITS)
    return finish_model([source, target_in], logits, "seq2seq", weights)


# Tiny variants for the registry sweep; seq2seq_luong's also covers a
# bidirectional LSTM encoder.
_TINY = {"source_vocab_size": 6, "target_vocab_size": 7, "embedding_dim": 4, "units": 6}
_VARIANTS = (  # (name, description, presets, extra tiny arguments)
    ("seq2seq", None, None, {}),
    (
        "seq2seq_bahdanau",
        "Bidirectional GRU encoder-decoder with additive (Bahdanau) attention.",
        {"attention": "bahdanau", "cell": "gru", "bidirectional": True},
        {},
    ),
    (
        "seq2seq_luong",
        "LSTM encoder-decoder with multiplicative (Luong) attention.",
        {"attention": "luong", "cell": "lstm"},
        {"bidirectional": True},
    ),
    (
        "seq2seq_rnn",
        "LSTM encoder-decoder without attention (Sutskever et al. 2014).",
        {"attention": None},
        {},
    ),
)
for _name, _description, _presets, _extra in _VARIANTS:
    register_model(
        _name,
        seq2seq,
        family="seq2seq",
        description=_description,
        presets=_presets,
        tiny={**_TINY, **_extra},
        task="seq2seq",
    )
