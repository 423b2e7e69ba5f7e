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

Decoding (`Seq2SeqDecoder`, `greedy_decode`, `beam_search`) rebuilds a
one-step model from the trained layers by name, so it also works on a
model loaded from a `.keras` file, on every backend. `plot_attention` saves
the (target x source) attention matrix as a PNG.
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
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
    check_float,
    check_int,
    load_weights,
)
from kerasdl.registry import register_model

__all__ = [
    "DecodeResult",
    "Seq2SeqDecoder",
    "beam_search",
    "greedy_decode",
    "seq2seq",
    "sequence_log_probs",
]

logger = logging.getLogger(__name__)

ATTENTIONS = ("bahdanau", "luong", None)
CELLS = ("lstm", "gru")
LUONG_SCORES = ("general", "dot")


def _check_length(arg, value):
    if value is not None:
        check_int(arg, value)
    return value


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
    check_int("source_vocab_size", source_vocab_size, 2)
    check_int("target_vocab_size", target_vocab_size, 3)
    check_int("embedding_dim", embedding_dim)
    check_int("units", units)
    check_choice("cell", cell, CELLS)
    check_choice("attention", attention, ATTENTIONS)
    if attention_units is not None:
        check_int("attention_units", attention_units)
    check_choice("luong_score", luong_score, LUONG_SCORES)
    check_bool("bidirectional", bidirectional)
    if bidirectional and units % 2:
        raise ValueError(
            f"Invalid units={units!r} with bidirectional=True: expected an even "
            "number (units // 2 per direction)."
        )
    check_float("dropout", dropout)
    _check_length("source_length", source_length)
    _check_length("target_length", target_length)

    source = keras.Input((source_length,), dtype="int32", name="source_tokens")
    # Input names sort in positional order: YAML specs store inputs sorted.
    target_in = keras.Input((target_length,), dtype="int32", name="target_input_tokens")

    # The encoder skips source padding through the Embedding's Keras mask
    # (a spec leaves the mask out; the rebuilt Embedding makes it again); the
    # attention gets it explicitly from a layer, so the spec records it.
    # Layers with several tensor inputs are called by keyword, as a spec
    # rebuild calls them, so both graphs list their nodes in the same order.
    x = layers.Embedding(
        source_vocab_size, embedding_dim, mask_zero=True, name="source_embedding"
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
            name="encoder",
        )(x)
        encoder_outputs, states = outputs[0], outputs[1:]
        half = len(states) // 2  # forward states, then backward states
        names = ["encoder_state_h", "encoder_state_c"][:half]
        states = [
            layers.Concatenate(name=name)([states[i], states[half + i]])
            for i, name in enumerate(names)
        ]
    else:
        outputs = rnn_class(
            units, return_sequences=True, return_state=True, name="encoder"
        )(x)
        encoder_outputs, states = outputs[0], list(outputs[1:])

    # The decoder needs no mask: padding only follows the end token, and
    # steps never see later ones. Weight the loss with (target != 0) instead.
    y = layers.Embedding(target_vocab_size, embedding_dim, name="target_embedding")(
        target_in
    )
    if dropout > 0:
        y = layers.Dropout(dropout, name="target_dropout")(y)
    state_inputs = dict(zip(("state_h", "state_c"), states))
    decoder_outputs = DecoderRNN(cell, units, name="decoder")(
        sequences=y, **state_inputs
    )[0]
    h = decoder_outputs
    if attention is not None:
        source_mask = PaddingMask(0, name="source_mask")(source)
        if attention == "bahdanau":
            layer = BahdanauAttention(attention_units or units, name="attention")
        else:
            layer = LuongAttention(luong_score, name="attention")
        context, _ = layer(
            query=decoder_outputs, value=encoder_outputs, value_mask=source_mask
        )
        # Luong's attentional state: tanh(W_c [context; h]).
        h = layers.Concatenate(name="attention_concat")([context, decoder_outputs])
        h = layers.Dense(units, activation="tanh", name="attention_projection")(h)
    if dropout > 0:
        h = layers.Dropout(dropout, name="output_dropout")(h)
    logits = layers.Dense(target_vocab_size, name="logits")(h)
    model = keras.Model([source, target_in], logits, name="seq2seq")
    return load_weights(model, weights)


# ---------------------------------------------------------------- decoding
@dataclasses.dataclass(frozen=True, eq=False)
class DecodeResult:
    """Decoded sequences.

    Attributes:
        tokens: np.ndarray int32 (B, L). Output ids, end token included, then
            zeros (padding).
        lengths: np.ndarray int32 (B,). Tokens per row, end token included.
        log_probs: np.ndarray float32 (B,). Sum of the log-probabilities of
            the tokens (end token included) under the model.
        scores: np.ndarray float32 (B,). The score used to rank hypotheses:
            log_probs divided by the length penalty (equals log_probs for
            greedy decoding and length_penalty=0).
        attention: np.ndarray float32 (B, L, Ts) or None. Attention weights
            of each output step over the source (rows of padded steps are
            0); None for a model without attention.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    scores: np.ndarray
    attention: np.ndarray | None

    def attention_matrix(self, index: int = 0, source_length: int | None = None):
        """(target x source) attention of one example, padded steps dropped."""
        if self.attention is None:
            raise ValueError("This model has no attention (attention=None).")
        matrix = self.attention[index, : self.lengths[index]]
        return matrix if source_length is None else matrix[:, :source_length]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Seq2SeqDecoder:
    """One-step inference models built from a trained `seq2seq` model.

    The encoder model maps source tokens to (encoder outputs, initial
    state); the step model maps (previous token, encoder outputs, source
    mask, state) to (next-token logits, attention weights, new state). Both
    reuse the trained layers (found by name), so the decoder follows further
    training and works on a model loaded from a `.keras` file.

    Args:
        model: keras.Model built by `seq2seq` (or loaded from one).

    Example:
    >>> decoder = Seq2SeqDecoder(model)
    >>> result = decoder.beam_search(source, start_id=1, end_id=2, beam_width=4)
    """

    def __init__(self, model):
        self.model = model
        names = {layer.name for layer in model.layers}
        required = {
            "source_embedding",
            "encoder",
            "target_embedding",
            "decoder",
            "logits",
        }
        missing = sorted(required - names)
        if missing:
            raise ValueError(
                f"Model {model.name!r} is not a kerasdl seq2seq model: no layer "
                f"{missing}. Build it with kerasdl.build('seq2seq', ...)."
            )
        decoder_rnn = model.get_layer("decoder")
        self.cell = decoder_rnn.cell
        self.units = decoder_rnn.units
        self.has_attention = "attention" in names
        self._build_encoder(names)
        self._build_step()

    def _build_encoder(self, names):
        model = self.model
        encoder = model.get_layer("encoder")
        encoder_outputs = encoder.output[0]
        if isinstance(encoder, layers.Bidirectional):
            states = [
                model.get_layer(n).output
                for n in ("encoder_state_h", "encoder_state_c")
                if n in names
            ]
        else:
            states = list(encoder.output[1:])
        self.encoder_model = keras.Model(
            model.inputs[0], [encoder_outputs, *states], name="seq2seq_encoder"
        )
        self.encoder_dim = encoder_outputs.shape[-1]

    def _build_step(self):
        model = self.model
        prev = keras.Input((1,), dtype="int32", name="previous_token")
        memory = keras.Input((None, self.encoder_dim), name="encoder_outputs")
        source_mask = keras.Input((None,), dtype="bool", name="source_mask")
        n_states = 2 if self.cell == "lstm" else 1
        states = [
            keras.Input((self.units,), name=f"state_{i}") for i in range(n_states)
        ]
        y = model.get_layer("target_embedding")(prev)
        outputs = model.get_layer("decoder")(y, *states)
        h, new_states = outputs[0], list(outputs[1:])
        weights_out = []
        if self.has_attention:
            attention = model.get_layer("attention")
            context, weights = attention(h, memory, value_mask=source_mask)
            x = model.get_layer("attention_concat")([context, h])
            h = model.get_layer("attention_projection")(x)
            weights_out = [weights]
        logits = model.get_layer("logits")(h)
        self.step_model = keras.Model(
            [prev, memory, source_mask, *states],
            [logits, *weights_out, *new_states],
            name="seq2seq_step",
        )

    # -- numpy-level helpers
    def encode(self, source_tokens):
        """Runs the encoder: returns (memory, source_mask, states) as NumPy."""
        source = np.asarray(source_tokens, dtype=np.int32)
        outputs = _predict(self.encoder_model, source)
        return outputs[0], source != 0, outputs[1:]

    def step(self, prev_tokens, memory, source_mask, states):
        """One decoder step: (log_probs (N, V), attention (N, Ts) or None, states)."""
        prev = np.asarray(prev_tokens, dtype=np.int32).reshape(-1, 1)
        outputs = _predict(self.step_model, [prev, memory, source_mask, *states])
        log_probs = _log_softmax(np.asarray(outputs[0])[:, 0])
        # Padding is never an output token.
        log_probs[:, 0] = -np.inf
        if self.has_attention:
            return log_probs, np.asarray(outputs[1])[:, 0], list(outputs[2:])
        return log_probs, None, list(outputs[1:])

    def step_fn(self, source_tokens):
        """Encodes `source_tokens`; returns (step function, initial state).

        The step function `(prev_tokens (N,), state, rows (N,)) -> (log_probs,
        attention, state)` decodes rows `rows` of the batch; it is what
        `greedy_search`/`beam_search_fn` drive.
        """
        memory, source_mask, states = self.encode(source_tokens)

        def fn(prev, state, rows):
            return self.step(prev, memory[rows], source_mask[rows], state)

        return fn, states

    def greedy(self, source_tokens, start_id: int, end_id: int, max_length: int = 32):
        """Greedy decoding; see `greedy_decode`."""
        fn, states = self.step_fn(source_tokens)
        return greedy_search(fn, states, len(states[0]), start_id, end_id, max_length)

    def beam_search(
        self,
        source_tokens,
        start_id: int,
        end_id: int,
        max_length: int = 32,
        beam_width: int = 4,
        length_penalty: float = 0.0,
    ):
        """Beam search; see `beam_search`."""
        fn, states = self.step_fn(source_tokens)
        return beam_search_fn(
            fn,
            states,
            len(states[0]),
            start_id,
            end_id,
            max_length,
            beam_width,
            length_penalty,
        )


def _predict(model, inputs) -> list[np.ndarray]:
    """Inference outputs as NumPy, by the fastest path of each backend."""
    if keras.backend.backend() == "torch":
        # predict_on_batch adds ~20 ms per call on torch; a no-grad call does not.
        import torch

        with torch.no_grad():
            outputs = model(inputs, training=False)
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    # Compiled once per input shape (jit on JAX, tf.function on TensorFlow):
    # 10-50x faster per step than eager calls.
    return [np.asarray(o) for o in model.predict_on_batch(inputs)]


def _check_decode_args(start_id, end_id, max_length):
    check_int("start_id", start_id, 0)
    check_int("end_id", end_id, 0)
    check_int("max_length", max_length)


def _finish(tokens, attention, log_probs, scores, lengths, has_attention):
    return DecodeResult(
        tokens=np.asarray(tokens, np.int32),
        lengths=np.asarray(lengths, np.int32),
        log_probs=np.asarray(log_probs, np.float32),
        scores=np.asarray(scores, np.float32),
        attention=np.asarray(attention, np.float32) if has_attention else None,
    )


def greedy_search(step_fn, states, batch: int, start_id, end_id, max_length):
    """Greedy decoding driven by a step function (see `Seq2SeqDecoder.step_fn`).

    Args:
        step_fn: callable (prev (N,), states, rows (N,)) -> (log_probs (N, V),
            attention (N, Ts) or None, states).
        states: list of np.ndarray (batch, ...). Initial decoder state.
        batch: int. Number of sequences.
        start_id: int. First decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).

    Returns:
        `DecodeResult`.
    """
    _check_decode_args(start_id, end_id, max_length)
    rows = np.arange(batch)
    prev = np.full(batch, start_id, np.int64)
    tokens = np.zeros((batch, max_length), np.int64)
    log_probs = np.zeros(batch)
    lengths = np.full(batch, max_length)
    done = np.zeros(batch, bool)
    attention_steps = []
    for t in range(max_length):
        step_log_probs, weights, states = step_fn(prev, states, rows)
        token = step_log_probs.argmax(axis=-1)
        token = np.where(done, 0, token)
        log_probs += np.where(done, 0.0, step_log_probs[rows, token])
        tokens[:, t] = token
        if weights is not None:
            attention_steps.append(np.where(done[:, None], 0.0, weights))
        newly = ~done & (token == end_id)
        lengths[newly] = t + 1
        done |= newly
        prev = np.where(done, end_id, token)
        if done.all():
            break
    length = int(lengths.max())
    attention = np.stack(attention_steps, 1)[:, :length] if attention_steps else None
    return _finish(
        tokens[:, :length],
        attention,
        log_probs,
        log_probs,
        lengths,
        attention is not None,
    )


def _penalty(length, alpha: float):
    # GNMT's length penalty (Wu et al. 2016): ((5 + |Y|) / 6) ** alpha.
    return ((5.0 + length) / 6.0) ** alpha


def beam_search_fn(
    step_fn,
    states,
    batch: int,
    start_id,
    end_id,
    max_length,
    beam_width=4,
    length_penalty=0.0,
):
    """Beam search driven by a step function (see `greedy_search`).

    Each step expands every live hypothesis by every token and keeps the
    2K best candidates: those ending with `end_id` among the top K join the
    finished pool, the K best others stay live. Hypotheses are ranked by
    log-probability / ((5 + length) / 6) ** length_penalty. The search stops
    when no live hypothesis can still beat the K-th finished one, or at
    `max_length` (live hypotheses then count as finished).

    Args:
        step_fn: callable (prev (N,), states, rows (N,)) -> (log_probs (N, V),
            attention (N, Ts) or None, states).
        states: list of np.ndarray (batch, ...). Initial decoder state.
        batch: int. Number of source sequences.
        start_id: int. First decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).
        beam_width: int. Hypotheses kept per sequence (1 is greedy decoding).
        length_penalty: float. GNMT alpha >= 0; 0 ranks by raw log-probability,
            larger values favour longer outputs.

    Returns:
        `DecodeResult` holding the best hypothesis of each sequence.
    """
    _check_decode_args(start_id, end_id, max_length)
    k = check_int("beam_width", beam_width)
    alpha = check_float("length_penalty", length_penalty, 0.0, float("inf"))
    rows = np.repeat(np.arange(batch), k)  # (B*K,) source row of each beam
    states = [np.repeat(s, k, axis=0) for s in states]
    scores = np.tile(np.r_[0.0, np.full(k - 1, -np.inf)], batch)  # (B*K,)
    prev = np.full(batch * k, start_id, np.int64)
    history = np.zeros((batch * k, 0), np.int64)
    attn_history = None
    finished: list[list[tuple]] = [[] for _ in range(batch)]  # (score, lp, toks, attn)

    for t in range(max_length):
        log_probs, weights, new_states = step_fn(prev, states, rows)
        vocab = log_probs.shape[-1]
        if weights is not None:
            step_attn = weights[:, None, :]
            attn_history = (
                step_attn
                if attn_history is None
                else np.concatenate([attn_history, step_attn], 1)
            )
        candidates = (scores[:, None] + log_probs).reshape(batch, k * vocab)
        order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * k]
        keep_beams = np.zeros((batch, k), np.int64)
        keep_tokens = np.zeros((batch, k), np.int64)
        keep_scores = np.full((batch, k), -np.inf)
        for b in range(batch):
            live = 0
            for rank, flat in enumerate(order[b]):
                score = candidates[b, flat]
                if not np.isfinite(score):
                    break
                beam, token = divmod(int(flat), vocab)
                source = b * k + beam
                if token == end_id:
                    if rank < k:
                        seq = np.r_[history[source], token]
                        attn = None if attn_history is None else attn_history[source]
                        finished[b].append(
                            (score / _penalty(t + 1, alpha), score, seq, attn)
                        )
                    continue
                if live < k:
                    keep_beams[b, live], keep_tokens[b, live] = source, token
                    keep_scores[b, live] = score
                    live += 1
                if live == k:
                    break
        index = keep_beams.reshape(-1)
        scores = keep_scores.reshape(-1)
        prev = keep_tokens.reshape(-1)
        history = np.concatenate([history[index], prev[:, None]], 1)
        states = [s[index] for s in new_states]
        if attn_history is not None:
            attn_history = attn_history[index]
        if _all_done(finished, scores.reshape(batch, k), k, t + 1, max_length, alpha):
            break
    else:
        # Out of steps: live hypotheses count as finished (no end token).
        for b in range(batch):
            for j in range(k):
                score = scores[b * k + j]
                if np.isfinite(score):
                    attn = None if attn_history is None else attn_history[b * k + j]
                    finished[b].append(
                        (
                            score / _penalty(max_length, alpha),
                            score,
                            history[b * k + j],
                            attn,
                        )
                    )

    best = [max(pool, key=lambda h: h[0]) for pool in finished]
    lengths = [len(h[2]) for h in best]
    length = max(lengths)
    tokens = np.zeros((batch, length), np.int64)
    has_attention = best[0][3] is not None
    attention = (
        np.zeros((batch, length, best[0][3].shape[-1])) if has_attention else None
    )
    for b, hyp in enumerate(best):
        tokens[b, : len(hyp[2])] = hyp[2]
        if has_attention:
            attention[b, : len(hyp[2])] = hyp[3][: len(hyp[2])]
    return _finish(
        tokens,
        attention,
        [h[1] for h in best],
        [h[0] for h in best],
        lengths,
        has_attention,
    )


def _all_done(finished, live_scores, k, length, max_length, alpha) -> bool:
    for pool, live in zip(finished, live_scores):
        best_live = live.max()
        if not np.isfinite(best_live):
            continue  # no live hypothesis left for this row
        if len(pool) < k:
            return False
        kth = sorted((h[0] for h in pool), reverse=True)[k - 1]
        # Log-probabilities only fall as a hypothesis grows; with alpha > 0 the
        # best normalized score it can still reach uses the longest length.
        bound = best_live / _penalty(max_length if alpha > 0 else length, alpha)
        if bound > kth:
            return False
    return True


def greedy_decode(
    model, source_tokens, start_id: int, end_id: int, max_length: int = 32
):
    """Greedy decoding: the most probable next token at every step.

    Args:
        model: keras.Model from `seq2seq`, or a `Seq2SeqDecoder`.
        source_tokens: int array (B, Ts), 0-padded.
        start_id: int. Start token fed as the first decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).

    Returns:
        `DecodeResult` (tokens (B, L), attention (B, L, Ts), log_probs, ...).
    """
    return _decoder(model).greedy(source_tokens, start_id, end_id, max_length)


def beam_search(
    model,
    source_tokens,
    start_id: int,
    end_id: int,
    max_length: int = 32,
    beam_width: int = 4,
    length_penalty: float = 0.0,
):
    """Beam search decoding (see `beam_search_fn` for the exact procedure).

    Args:
        model: keras.Model from `seq2seq`, or a `Seq2SeqDecoder`.
        source_tokens: int array (B, Ts), 0-padded.
        start_id: int. Start token fed as the first decoder input.
        end_id: int. Token that ends a sequence.
        max_length: int. Longest output (end token included).
        beam_width: int. Hypotheses kept per sequence; 1 equals greedy decoding.
        length_penalty: float. GNMT alpha >= 0 (0: rank by log-probability).

    Returns:
        `DecodeResult` with the best hypothesis per sequence.
    """
    return _decoder(model).beam_search(
        source_tokens, start_id, end_id, max_length, beam_width, length_penalty
    )


def _decoder(model) -> Seq2SeqDecoder:
    if isinstance(model, Seq2SeqDecoder):
        return model
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Expected a seq2seq keras.Model or a Seq2SeqDecoder; received "
            f"{type(model).__name__}."
        )
    return Seq2SeqDecoder(model)


def sequence_log_probs(model, source_tokens, target_tokens, start_id: int):
    """Log-probability of given outputs under the teacher-forced model.

    Args:
        model: keras.Model from `seq2seq`.
        source_tokens: int array (B, Ts).
        target_tokens: int array (B, L), 0-padded after each sequence's end.
        start_id: int. The start token.

    Returns:
        np.ndarray float64 (B,): sum over non-padding positions of
        log p(target_t | source, target_<t).
    """
    target = np.asarray(target_tokens, np.int64)
    decoder_input = np.concatenate(
        [np.full((len(target), 1), start_id), target[:, :-1]], 1
    ).astype(np.int32)
    logits = model([np.asarray(source_tokens, np.int32), decoder_input], training=False)
    log_probs = _log_softmax(keras.ops.convert_to_numpy(logits))
    picked = np.take_along_axis(log_probs, target[..., None], -1)[..., 0]
    return (picked * (target != 0)).sum(axis=1)


register_model(
    "seq2seq",
    seq2seq,
    family="seq2seq",
    tiny={
        "source_vocab_size": 6,
        "target_vocab_size": 7,
        "embedding_dim": 4,
        "units": 6,
    },
    task="seq2seq",
)
register_model(
    "seq2seq_bahdanau",
    seq2seq,
    family="seq2seq",
    description="Bidirectional GRU encoder-decoder with additive (Bahdanau) attention.",
    presets={"attention": "bahdanau", "cell": "gru", "bidirectional": True},
    tiny={
        "source_vocab_size": 6,
        "target_vocab_size": 7,
        "embedding_dim": 4,
        "units": 6,
    },
    task="seq2seq",
)
register_model(
    "seq2seq_luong",
    seq2seq,
    family="seq2seq",
    description="LSTM encoder-decoder with multiplicative (Luong) attention.",
    presets={"attention": "luong", "cell": "lstm"},
    tiny={
        "source_vocab_size": 6,
        "target_vocab_size": 7,
        "embedding_dim": 4,
        "units": 6,
        "bidirectional": True,
    },
    task="seq2seq",
)
register_model(
    "seq2seq_rnn",
    seq2seq,
    family="seq2seq",
    description="LSTM encoder-decoder without attention (Sutskever et al. 2014).",
    presets={"attention": None},
    tiny={
        "source_vocab_size": 6,
        "target_vocab_size": 7,
        "embedding_dim": 4,
        "units": 6,
    },
    task="seq2seq",
)
