"""Attention for encoder-decoder RNNs: Bahdanau (additive) and Luong (multiplicative).

Both layers take decoder states as queries (B, Tq, Dq) and encoder outputs as
values (B, Ts, Dv), and return `(context, weights)`:

- context: (B, Tq, Dv), the weighted average of the values for each query;
- weights: (B, Tq, Ts), the attention distribution over source positions
  (each row sums to 1; padded source positions get exactly 0).

A rank-2 query (B, Dq), one decoding step, gives (B, Dv) and (B, Ts).

The source padding mask comes from `value_mask` (B, Ts), True for real
tokens; when the values carry a Keras mask (encoder after an
`Embedding(mask_zero=True)`), Keras passes it in automatically.

`DecoderRNN` is the decoder's recurrent layer: an LSTM or GRU whose initial
state comes in as positional tensors (so a functional graph, its spec and
the one-step inference model all call it the same way) and which returns
the output sequence followed by the final state(s).

References: Bahdanau, Cho & Bengio 2015, "Neural machine translation by
jointly learning to align and translate"; Luong, Pham & Manning 2015,
"Effective approaches to attention-based neural machine translation".
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int, check_rate
from kerasdl.layers._config import InitConfig

__all__ = ["BahdanauAttention", "DecoderRNN", "LuongAttention"]

LUONG_SCORES = ("dot", "general")
RNN_CELLS = ("lstm", "gru")


class _SeqAttention(keras.layers.Layer):
    """Shared part: masking, softmax, weighted sum, rank-2 queries."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _scores(self, query, value):  # (B, Tq, Dq), (B, Ts, Dv) -> (B, Tq, Ts)
        raise NotImplementedError

    def call(self, query, value, value_mask=None):
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
        scores = self._scores(query, value)  # (B, Tq, Ts)
        # The softmax runs in float32 so a large negative fill for padded
        # positions stays finite under mixed precision and becomes exactly 0.
        scores = ops.cast(scores, "float32")
        if value_mask is not None:
            keep = ops.expand_dims(ops.cast(value_mask, "bool"), 1)  # (B, 1, Ts)
            scores = ops.where(keep, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        if value_mask is not None:
            weights = ops.where(keep, weights, ops.zeros_like(weights))
        weights = ops.cast(weights, self.compute_dtype)
        context = ops.matmul(weights, ops.cast(value, self.compute_dtype))
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, inputs, previous_mask=None):
        # The outputs are per query step: they keep the query's mask.
        return [previous_mask, previous_mask]

    def compute_output_shape(self, query_shape, value_shape):
        if len(query_shape) == 2:
            return (query_shape[0], value_shape[-1]), (query_shape[0], value_shape[1])
        return (
            (*query_shape[:2], value_shape[-1]),
            (*query_shape[:2], value_shape[1]),
        )


@keras.saving.register_keras_serializable(package="kerasdl")
class BahdanauAttention(InitConfig, _SeqAttention):
    """Additive attention: score(q, k) = v . tanh(W_q q + W_k k + b).

    Args:
        units: int. Size of the hidden layer of the scoring network.
        use_bias: bool. Add the bias b inside the tanh.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call args:
        query: (B, Tq, Dq) or (B, Dq) decoder states.
        value: (B, Ts, Dv) encoder outputs (also the keys).
        value_mask: optional (B, Ts) bool, True for real source tokens.

    Returns:
        (context, weights): (B, Tq, Dv) and (B, Tq, Ts) (no Tq axis for a
        rank-2 query).

    Example:
    >>> attention = BahdanauAttention(16)
    >>> context, weights = attention(np.ones((2, 3, 8)), np.ones((2, 5, 6)))
    >>> context.shape, weights.shape
    ((2, 3, 6), (2, 3, 5))
    """

    def __init__(self, units: int, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        if not isinstance(use_bias, bool):
            raise ValueError(f"Invalid use_bias={use_bias!r}: expected a bool.")
        self.use_bias = use_bias

    def build(self, query_shape, value_shape):
        self.query_kernel = self.add_weight(
            name="query_kernel",
            shape=(query_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.key_kernel = self.add_weight(
            name="key_kernel",
            shape=(value_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            if self.use_bias
            else None
        )
        self.score_vector = self.add_weight(
            name="score_vector", shape=(self.units,), initializer="glorot_uniform"
        )

    def _scores(self, query, value):
        q = ops.matmul(query, self.query_kernel)  # (B, Tq, U)
        k = ops.matmul(value, self.key_kernel)  # (B, Ts, U)
        hidden = ops.expand_dims(q, 2) + ops.expand_dims(k, 1)  # (B, Tq, Ts, U)
        if self.bias is not None:
            hidden = hidden + self.bias
        return ops.sum(ops.tanh(hidden) * self.score_vector, axis=-1)


@keras.saving.register_keras_serializable(package="kerasdl")
class LuongAttention(InitConfig, _SeqAttention):
    """Multiplicative attention: "dot" q . k, or "general" q . W k.

    Args:
        score: str. "dot" (no weights; query and value sizes must match) or
            "general" (a learned bilinear form W of shape (Dq, Dv)).
        scale: bool. Divide scores by sqrt(Dv) (as in Transformers).
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call args:
        query: (B, Tq, Dq) or (B, Dq) decoder states.
        value: (B, Ts, Dv) encoder outputs (also the keys).
        value_mask: optional (B, Ts) bool, True for real source tokens.

    Returns:
        (context, weights): (B, Tq, Dv) and (B, Tq, Ts).

    Example:
    >>> context, weights = LuongAttention("dot")(np.ones((2, 3, 6)), np.ones((2, 5, 6)))
    >>> weights.shape
    (2, 3, 5)
    """

    def __init__(self, score: str = "general", scale: bool = False, **kwargs):
        super().__init__(**kwargs)
        if score not in LUONG_SCORES:
            raise ValueError(
                f"Invalid score={score!r}. Accepted: "
                f"{', '.join(repr(s) for s in LUONG_SCORES)}."
            )
        if not isinstance(scale, bool):
            raise ValueError(f"Invalid scale={scale!r}: expected a bool.")
        self.score = score
        self.scale = scale

    def build(self, query_shape, value_shape):
        if self.score == "dot":
            if query_shape[-1] != value_shape[-1]:
                raise ValueError(
                    "LuongAttention(score='dot') needs queries and values of "
                    f"the same size; received query size {query_shape[-1]} and "
                    f"value size {value_shape[-1]}. Use score='general'."
                )
            self.kernel = None
        else:
            self.kernel = self.add_weight(
                name="kernel",
                shape=(query_shape[-1], value_shape[-1]),
                initializer="glorot_uniform",
            )

    def _scores(self, query, value):
        if self.kernel is not None:
            query = ops.matmul(query, self.kernel)  # (B, Tq, Dv)
        scores = ops.matmul(query, ops.transpose(value, (0, 2, 1)))  # (B, Tq, Ts)
        if self.scale:
            scores = scores / ops.sqrt(ops.cast(ops.shape(value)[-1], scores.dtype))
        return scores


@keras.saving.register_keras_serializable(package="kerasdl")
class DecoderRNN(keras.layers.Layer):
    """An LSTM or GRU decoder whose initial state arrives as positional tensors.

    `DecoderRNN("lstm", 64)(x, h, c)` returns `[sequence, h, c]`;
    `DecoderRNN("gru", 64)(x, h)` returns `[sequence, h]`. The state tensors
    are ordinary inputs, so one layer serves the teacher-forced training
    graph (initial state from the encoder) and the one-step inference model
    (state from the previous step), with the same weights.

    Args:
        cell: str. "lstm" or "gru".
        units: int. State size.
        dropout: float. Dropout on the inputs, in [0, 1).
        recurrent_dropout: float. Dropout on the recurrent state, in [0, 1).
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).
    """

    def __init__(
        self,
        cell: str = "lstm",
        units: int = 128,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in RNN_CELLS:
            raise ValueError(
                f"Invalid cell={cell!r}. Accepted: "
                f"{', '.join(repr(c) for c in RNN_CELLS)}."
            )
        self.cell = cell
        self.units = check_int("units", units, minimum=1)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        rnn_class = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
        self.rnn = rnn_class(
            units,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            return_sequences=True,
            return_state=True,
            dtype=self.dtype_policy,
            name="rnn",
        )
        self.supports_masking = True

    @property
    def num_states(self) -> int:
        """int: 2 for an LSTM (h, c), 1 for a GRU (h)."""
        return 2 if self.cell == "lstm" else 1

    def build(self, sequences_shape, *state_shapes):
        self.rnn.build(sequences_shape)

    def call(
        self, sequences, state_h, state_c=None, sequences_mask=None, training=None
    ):
        states = [state_h] if self.cell == "gru" else [state_h, state_c]
        if any(s is None for s in states):
            raise ValueError(
                f"DecoderRNN(cell={self.cell!r}) needs {self.num_states} state "
                "tensor(s): (sequences, h, c) for an LSTM, (sequences, h) for a GRU."
            )
        return self.rnn(
            sequences, initial_state=states, mask=sequences_mask, training=training
        )

    def compute_mask(self, inputs, previous_mask=None):
        return [previous_mask] + [None] * self.num_states

    def compute_output_shape(self, sequences_shape, *state_shapes):
        batch = sequences_shape[0]
        return [(*sequences_shape[:2], self.units)] + [
            (batch, self.units)
        ] * self.num_states

    def get_config(self):
        return {
            **super().get_config(),
            "cell": self.cell,
            "units": self.units,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
