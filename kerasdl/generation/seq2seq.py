"""Decoding for kerasdl's seq2seq RNNs: greedy, beam search, scoring.

`Seq2SeqDecoder` rebuilds a one-step model from a trained `seq2seq` model's
layers (found by the names `kerasdl.models.seq2seq` exports), so it also
works on a model loaded from a `.keras` file, on every backend; the search
itself (`kerasdl.generation.search`) is shared with the other model
families.

Example:
>>> result = greedy_decode(model, source_tokens, start_id=1, end_id=2)
>>> result.tokens, result.attention_matrix(0)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from kerasdl._backend import inference_outputs
from kerasdl.generation.search import (
    DecodeResult,
    beam_search_fn,
    greedy_search,
    log_softmax,
)
from kerasdl.models.seq2seq import (
    SEQ2SEQ_ATTENTION,
    SEQ2SEQ_ATTENTION_CONCAT,
    SEQ2SEQ_ATTENTION_PROJECTION,
    SEQ2SEQ_DECODER,
    SEQ2SEQ_ENCODER,
    SEQ2SEQ_ENCODER_STATES,
    SEQ2SEQ_LOGITS,
    SEQ2SEQ_SOURCE_EMBEDDING,
    SEQ2SEQ_TARGET_EMBEDDING,
)

__all__ = [
    "DecodeResult",
    "Seq2SeqDecoder",
    "beam_search",
    "evaluate_seq2seq",
    "greedy_decode",
    "sequence_log_probs",
]


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
            SEQ2SEQ_SOURCE_EMBEDDING,
            SEQ2SEQ_ENCODER,
            SEQ2SEQ_TARGET_EMBEDDING,
            SEQ2SEQ_DECODER,
            SEQ2SEQ_LOGITS,
        }
        missing = sorted(required - names)
        if missing:
            raise ValueError(
                f"Model {model.name!r} is not a kerasdl seq2seq model: no layer "
                f"{missing}. Build it with kerasdl.build('seq2seq', ...)."
            )
        decoder_rnn = model.get_layer(SEQ2SEQ_DECODER)
        self.cell = decoder_rnn.cell
        self.units = decoder_rnn.units
        self.has_attention = SEQ2SEQ_ATTENTION in names
        self._build_encoder(names)
        self._build_step()

    def _build_encoder(self, names):
        model = self.model
        encoder = model.get_layer(SEQ2SEQ_ENCODER)
        encoder_outputs = encoder.output[0]
        if isinstance(encoder, layers.Bidirectional):
            states = [
                model.get_layer(n).output for n in SEQ2SEQ_ENCODER_STATES if n in names
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
        y = model.get_layer(SEQ2SEQ_TARGET_EMBEDDING)(prev)
        outputs = model.get_layer(SEQ2SEQ_DECODER)(y, *states)
        h, new_states = outputs[0], list(outputs[1:])
        weights_out = []
        if self.has_attention:
            attention = model.get_layer(SEQ2SEQ_ATTENTION)
            context, weights = attention(h, memory, value_mask=source_mask)
            x = model.get_layer(SEQ2SEQ_ATTENTION_CONCAT)([context, h])
            h = model.get_layer(SEQ2SEQ_ATTENTION_PROJECTION)(x)
            weights_out = [weights]
        logits = model.get_layer(SEQ2SEQ_LOGITS)(h)
        self.step_model = keras.Model(
            [prev, memory, source_mask, *states],
            [logits, *weights_out, *new_states],
            name="seq2seq_step",
        )

    # -- numpy-level helpers
    def encode(self, source_tokens):
        """Runs the encoder: returns (memory, source_mask, states) as NumPy."""
        source = np.asarray(source_tokens, dtype=np.int32)
        outputs = inference_outputs(self.encoder_model, source)
        return outputs[0], source != 0, outputs[1:]

    def step(self, prev_tokens, memory, source_mask, states):
        """One decoder step: (log_probs (N, V), attention (N, Ts) or None, states)."""
        prev = np.asarray(prev_tokens, dtype=np.int32).reshape(-1, 1)
        outputs = inference_outputs(
            self.step_model, [prev, memory, source_mask, *states]
        )
        log_probs = log_softmax(np.asarray(outputs[0])[:, 0])
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
    log_probs = log_softmax(keras.ops.convert_to_numpy(logits))
    picked = np.take_along_axis(log_probs, target[..., None], -1)[..., 0]
    return (picked * (target != 0)).sum(axis=1)


def evaluate_seq2seq(model, data, max_length: int | None = None) -> dict:
    """Teacher-forced character accuracy and greedy exact match on a dataset.

    Args:
        model: keras.Model from `seq2seq`.
        data: `kerasdl.data.tasks.Seq2SeqData` (e.g. the test split of
            `date_splits`).
        max_length: int or None. Longest greedy output (end token included);
            None: the data's target length.

    Returns:
        dict: "char_accuracy" (argmax of the teacher-forced logits against
        the target on real, non-padding steps) and "exact_match" (fraction of
        greedy decodings equal to the target text).
    """
    predicted = np.argmax(model.predict(data.inputs, verbose=0), axis=-1)
    real = data.sample_weight > 0
    char_accuracy = float(np.mean(predicted[real] == data.target[real]))
    steps = data.target.shape[1] if max_length is None else max_length
    tokens = greedy_decode(model, data.source, data.start_id, data.end_id, steps).tokens
    decoded = [data.decode_target(row) for row in tokens]
    exact = float(np.mean([d == t for d, t in zip(decoded, data.target_texts)]))
    return {"char_accuracy": char_accuracy, "exact_match": exact}
