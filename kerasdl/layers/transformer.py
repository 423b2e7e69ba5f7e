"""Transformer building blocks: attention, encoder and decoder blocks, embeddings.

The attention layer is kerasdl's own rather than `keras.layers.MultiHeadAttention`
because the models here need what Keras' layer does not expose: rotary
position embedding of queries and keys, an additive position bias on the
logits (T5), unscaled logits (T5) and a key/value cache for autoregressive
decoding that processes one token per step. Its projections are plain
`keras.layers.Dense` sublayers (query, key, value, attention_output) with
the same parameter counts as Keras' layer, so `Model.quantize` and LoRA
reach them.

Masks follow one convention everywhere: True (or 1) means "may attend".
A padding mask is `(batch, seq)`; an attention mask is `(batch, q, k)`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasdl._checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_rate,
    check_sizes,
)
from kerasdl.layers._config import InitConfig
from kerasdl.layers.position import RotaryEmbedding

__all__ = [
    "FFN_ACTIVATIONS",
    "PaddingMask",
    "RelativePositionBias",
    "TiedLMHead",
    "TokenEmbedding",
    "TransformerAttention",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "block_stack",
    "check_stack_args",
]

# Feed-forward activations; "gelu" is the exact (erf) GELU of BERT,
# "gelu_approximate" the tanh approximation of GPT-2.
FFN_ACTIVATIONS = ("gelu", "gelu_approximate", "relu", "silu", "swish", "tanh")
NORMALIZATIONS = ("layer_norm", "rms_norm")
_NEG_INF = -1e9


def _apply_activation(name, x):
    if name == "gelu_approximate":
        return keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)(x)


def _normalization(kind, epsilon, name, dtype):
    if kind == "rms_norm":
        # T5's "LayerNorm": scale only, no mean subtraction, no bias.
        return keras.layers.RMSNormalization(epsilon=epsilon, name=name, dtype=dtype)
    return keras.layers.LayerNormalization(epsilon=epsilon, name=name, dtype=dtype)


def _check_wavelength(value):
    return check_float(
        "rotary_max_wavelength", value, allow_none=True, minimum=0, min_inclusive=False
    )


def _fresh(initializer):
    # A fresh initializer object per sublayer (seeded ones must not repeat).
    return keras.initializers.get(keras.initializers.serialize(initializer))


def _dense(layer, units, name):
    # A projection sublayer with the owner's bias choice, initializer, dtype.
    return keras.layers.Dense(
        units,
        use_bias=layer.use_bias,
        kernel_initializer=_fresh(layer.kernel_initializer),
        name=name,
        dtype=layer.dtype_policy,
    )


# --------------------------------------------------------------------- masks
@keras.saving.register_keras_serializable(package="kerasdl")
class PaddingMask(InitConfig, keras.layers.Layer):
    """Marks real tokens: `token_ids != pad_id` as a boolean `(batch, seq)`.

    Args:
        pad_id: int. The padding token id.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Example:
    >>> PaddingMask()(np.array([[5, 2, 0]]))  # [[True, True, False]]
    """

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = check_int("pad_id", pad_id, minimum=0)

    def call(self, token_ids):
        return ops.not_equal(token_ids, self.pad_id)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")


def causal_mask(query_length, key_length, query_offset=0):
    """Boolean `(query_length, key_length)`: key j visible to query i iff j <= i.

    `query_offset` is the absolute position of the first query (the cache
    index in cached decoding).
    """
    q = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(
        query_offset, "int32"
    )
    k = ops.arange(key_length, dtype="int32")[None, :]
    return ops.greater_equal(q, k)


# ----------------------------------------------------------------- attention
@keras.saving.register_keras_serializable(package="kerasdl")
class TransformerAttention(InitConfig, keras.layers.Layer):
    """Multi-head dot-product attention with masks, position bias and a cache.

    `softmax(q k^T * scale + position_bias + mask) v` per head, for
    self-attention (`value=None`) or cross-attention (`value` = the other
    sequence).

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int or None. Size of each head; None uses
            `hidden_dim // num_heads`.
        use_bias: bool. Biases in the four projections (False in T5).
        dropout: float. Dropout rate on the attention probabilities.
        scale: bool. Multiply the logits by `1 / sqrt(key_dim)` (True in
            BERT/GPT; False in T5, whose initialization absorbs it).
        rotary_max_wavelength: float or None. Apply rotary position
            embedding with this base to queries and keys; None disables it.
        kernel_initializer: str. Initializer of the projection kernels.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        query: `(batch, q, hidden)`.
        value: `(batch, k, dim)` or None for self-attention.
        key_padding_mask: `(batch, k)`, True for real keys.
        attention_mask: `(batch, q, k)`, True where attention is allowed.
        use_causal_mask: bool. Query i sees keys j <= i.
        position_bias: additive, broadcastable to `(batch, heads, q, k)`.
        cache: `(batch, 2, max_len, heads, key_dim)` keys and values of the
            previous steps (self-attention only); with `cache_index`.
        cache_index: int or scalar tensor. Position of the first query.
        training: bool.

    Returns:
        `(batch, q, hidden)`; with a cache, `(output, updated_cache)`.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int | None = None,
        use_bias: bool = True,
        dropout: float = 0.0,
        scale: bool = True,
        rotary_max_wavelength: float | None = None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.key_dim = check_int("key_dim", key_dim, allow_none=True, minimum=1)
        self.use_bias = check_bool("use_bias", use_bias)
        self.dropout = check_rate("dropout", dropout)
        self.scale = check_bool("scale", scale)
        self.rotary_max_wavelength = _check_wavelength(rotary_max_wavelength)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, value_shape=None):
        hidden = query_shape[-1]
        value_dim = hidden if value_shape is None else value_shape[-1]
        if self.key_dim is None and hidden % self.num_heads:
            raise ValueError(
                f"Hidden size {hidden} is not divisible by num_heads="
                f"{self.num_heads}; pass key_dim explicitly."
            )
        self.head_dim = self.key_dim or hidden // self.num_heads
        if self.rotary_max_wavelength is not None and self.head_dim % 2:
            raise ValueError(
                f"Rotary embedding needs an even head size; received "
                f"key_dim={self.head_dim}."
            )
        width = self.num_heads * self.head_dim
        self.query_dense = _dense(self, width, "query")
        self.key_dense = _dense(self, width, "key")
        self.value_dense = _dense(self, width, "value")
        self.output_dense = _dense(self, hidden, "attention_output")
        self.query_dense.build(tuple(query_shape))
        self.key_dense.build((None, None, value_dim))
        self.value_dense.build((None, None, value_dim))
        self.output_dense.build((None, None, width))
        self.rotary = (
            RotaryEmbedding(self.rotary_max_wavelength, dtype=self.dtype_policy)
            if self.rotary_max_wavelength is not None
            else None
        )
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def _split_heads(self, x):
        # (batch, seq, heads * d) -> (batch, seq, heads, d)
        return ops.reshape(x, (ops.shape(x)[0], -1, self.num_heads, self.head_dim))

    def call(
        self,
        query,
        value=None,
        key_padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        position_bias=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        source = query if value is None else value
        q = self._split_heads(self.query_dense(query))
        k = self._split_heads(self.key_dense(source))
        v = self._split_heads(self.value_dense(source))
        start = 0 if cache_index is None else cache_index
        if self.rotary is not None:
            q = self.rotary(q, start_index=start)
            k = self.rotary(k, start_index=start)
        if cache is not None:
            if value is not None or cache_index is None:
                raise ValueError(
                    "A key/value cache needs self-attention (value=None) and a "
                    f"cache_index; received value={'given' if value is not None else None}, "
                    f"cache_index={cache_index!r}."
                )
            k = ops.slice_update(cache[:, 0], (0, start, 0, 0), k)
            v = ops.slice_update(cache[:, 1], (0, start, 0, 0), v)
            cache = ops.stack([k, v], axis=1)

        mask = self._mask(
            ops.shape(q)[1],
            ops.shape(k)[1],
            key_padding_mask,
            attention_mask,
            use_causal_mask or cache is not None,
            start,
        )
        probs = self._probabilities(q, k, mask, position_bias)
        probs = self.dropout_layer(probs, training=training)
        out = ops.einsum("bhqk,bkhd->bqhd", probs, v)
        out = ops.reshape(out, (ops.shape(out)[0], -1, self.num_heads * self.head_dim))
        out = self.output_dense(out)
        return out if cache is None else (out, cache)

    def _probabilities(self, q, k, mask, position_bias):
        """(batch, heads, q, k) attention probabilities of split heads."""
        # Logits and softmax in float32 for stability.
        logits = ops.einsum("bqhd,bkhd->bhqk", q, k)
        logits = ops.cast(logits, "float32")
        if self.scale:
            logits = logits * (1.0 / math.sqrt(self.head_dim))
        if position_bias is not None:
            logits = logits + ops.cast(position_bias, "float32")
        if mask is not None:
            logits = ops.where(mask, logits, _NEG_INF)
        # Explicit softmax: keras.ops.softmax warns on a single key (the
        # first step of decoding), which is a valid case here.
        logits = logits - ops.max(logits, axis=-1, keepdims=True)
        weights = ops.exp(logits)
        probs = weights / ops.sum(weights, axis=-1, keepdims=True)
        return ops.cast(probs, self.compute_dtype)

    def attention_probabilities(
        self,
        query,
        value=None,
        key_padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        position_bias=None,
    ):
        """The attention weights `call` uses (before dropout), for inspection.

        Same arguments as `call` (no cache); used by
        `kerasdl.explain.attention` to draw attention maps.

        Returns:
            `(batch, heads, q, k)` probabilities; each row sums to 1.
        """
        source = query if value is None else value
        q = self._split_heads(self.query_dense(query))
        k = self._split_heads(self.key_dense(source))
        if self.rotary is not None:
            q = self.rotary(q, start_index=0)
            k = self.rotary(k, start_index=0)
        mask = self._mask(
            ops.shape(q)[1],
            ops.shape(k)[1],
            key_padding_mask,
            attention_mask,
            use_causal_mask,
            0,
        )
        return self._probabilities(q, k, mask, position_bias)

    @staticmethod
    def _mask(q_len, k_len, key_padding_mask, attention_mask, causal, offset):
        # Combined boolean mask broadcastable to (batch, heads, q, k).
        mask = None

        def both(a, b):
            return b if a is None else ops.logical_and(a, b)

        if key_padding_mask is not None:
            mask = ops.cast(key_padding_mask, "bool")[:, None, None, :]
        if attention_mask is not None:
            mask = both(mask, ops.cast(attention_mask, "bool")[:, None, :, :])
        if causal:
            mask = both(mask, causal_mask(q_len, k_len, offset)[None, None])
        return mask

    def compute_output_spec(self, query, value=None, cache=None, **kwargs):
        out = keras.KerasTensor(query.shape, dtype=self.compute_dtype)
        if cache is None:
            return out
        return out, keras.KerasTensor(cache.shape, dtype=cache.dtype)


# ------------------------------------------------------------------- blocks
class _BlockBase(InitConfig, keras.layers.Layer):
    """Shared configuration and feed-forward part of the two blocks."""

    def __init__(
        self,
        num_heads: int,
        intermediate_dim: int,
        hidden_dim: int | None = None,
        key_dim: int | None = None,
        dropout: float = 0.0,
        attention_dropout: float | None = None,
        activation: str = "gelu",
        norm_first: bool = False,
        layer_norm_epsilon: float = 1e-5,
        normalization: str = "layer_norm",
        use_bias: bool = True,
        attention_scale: bool = True,
        rotary_max_wavelength: float | None = None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.intermediate_dim = check_int(
            "intermediate_dim", intermediate_dim, minimum=1
        )
        self.hidden_dim = check_int(
            "hidden_dim", hidden_dim, allow_none=True, minimum=1
        )
        self.key_dim = check_int("key_dim", key_dim, allow_none=True, minimum=1)
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = (
            self.dropout
            if attention_dropout is None
            else check_rate("attention_dropout", attention_dropout)
        )
        self.activation = check_choice("activation", activation, FFN_ACTIVATIONS)
        self.norm_first = check_bool("norm_first", norm_first)
        self.layer_norm_epsilon = check_float(
            "layer_norm_epsilon", layer_norm_epsilon, minimum=0, min_inclusive=False
        )
        self.normalization = check_choice(
            "normalization", normalization, NORMALIZATIONS
        )
        self.use_bias = check_bool("use_bias", use_bias)
        self.attention_scale = check_bool("attention_scale", attention_scale)
        self.rotary_max_wavelength = _check_wavelength(rotary_max_wavelength)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _check_hidden(self, shape):
        hidden = shape[-1]
        if hidden is None:
            raise ValueError(
                f"{type(self).__name__} needs a known hidden size; received "
                f"input shape {tuple(shape)!r}."
            )
        if self.hidden_dim is not None and hidden != self.hidden_dim:
            raise ValueError(
                f"{type(self).__name__}(hidden_dim={self.hidden_dim}) received "
                f"inputs of hidden size {hidden}."
            )
        return hidden

    def _attention(self, name, query_shape, value_shape=None):
        layer = TransformerAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            use_bias=self.use_bias,
            dropout=self.attention_dropout,
            scale=self.attention_scale,
            rotary_max_wavelength=(
                self.rotary_max_wavelength if value_shape is None else None
            ),
            kernel_initializer=_fresh(self.kernel_initializer),
            name=name,
            dtype=self.dtype_policy,
        )
        layer.build(tuple(query_shape), None if value_shape is None else value_shape)
        return layer

    def _norm(self, name, shape):
        layer = _normalization(
            self.normalization, self.layer_norm_epsilon, name, self.dtype_policy
        )
        layer.build(tuple(shape))
        return layer

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, name=name, dtype=self.dtype_policy)

    def _build_ffn(self, shape, hidden):
        self.ffn_intermediate = _dense(self, self.intermediate_dim, "ffn_intermediate")
        self.ffn_output = _dense(self, hidden, "ffn_output")
        self.ffn_intermediate.build(tuple(shape))
        self.ffn_output.build((*shape[:-1], self.intermediate_dim))
        self.ffn_norm = self._norm("ffn_norm", shape)
        self.ffn_dropout = self._dropout("ffn_dropout")
        # T5 also drops out inside the feed-forward network.
        self.ffn_inner_dropout = self._dropout("ffn_inner_dropout")

    def _build_attention(self, kind, shape, value_shape=None):
        # Sublayers "<kind>_attention", "<kind>_attention_norm" and
        # "<kind>_attention_dropout" (kind "self" or "cross"), in this order.
        prefix = f"{kind}_attention"
        setattr(self, prefix, self._attention(prefix, shape, value_shape))
        setattr(self, f"{prefix}_norm", self._norm(f"{prefix}_norm", shape))
        setattr(self, f"{prefix}_dropout", self._dropout(f"{prefix}_dropout"))

    def _attention_residual(self, kind, x, attend, training):
        norm = getattr(self, f"{kind}_attention_norm")
        dropout = getattr(self, f"{kind}_attention_dropout")
        return self._residual(x, norm, dropout, attend, training)

    def _residual(self, x, norm, dropout, fn, training):
        # Pre-norm: x + f(norm(x)); post-norm (original, BERT): norm(x + f(x)).
        y = norm(x) if self.norm_first else x
        y = dropout(fn(y), training=training)
        x = x + y
        return x if self.norm_first else norm(x)

    def _ffn(self, x, training):
        def fn(y):
            y = _apply_activation(self.activation, self.ffn_intermediate(y))
            y = self.ffn_inner_dropout(y, training=training)
            return self.ffn_output(y)

        return self._residual(x, self.ffn_norm, self.ffn_dropout, fn, training)

    def compute_output_spec(self, inputs, *args, **kwargs):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="kerasdl")
class TransformerEncoderBlock(_BlockBase):
    """Transformer encoder block: self-attention and a feed-forward network.

    Post-norm (`norm_first=False`, Vaswani et al. 2017 and BERT):
    `x = norm(x + drop(attn(x)))`, `x = norm(x + drop(ffn(x)))`.
    Pre-norm (`norm_first=True`, GPT-2, ViT, T5):
    `x = x + drop(attn(norm(x)))`, `x = x + drop(ffn(norm(x)))`.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Width of the feed-forward hidden layer.
        hidden_dim: int or None. Expected hidden size of the inputs (checked
            at build); None accepts the input's size.
        key_dim: int or None. Size per head; None uses hidden // num_heads.
        dropout: float. Dropout rate on the residual branches.
        attention_dropout: float or None. Dropout on attention
            probabilities; None uses `dropout`.
        activation: str. Feed-forward activation, one of `FFN_ACTIVATIONS`.
        norm_first: bool. Pre-norm (True) or post-norm (False).
        layer_norm_epsilon: float. Epsilon of the normalization layers.
        normalization: str. "layer_norm" or "rms_norm" (T5's LayerNorm).
        use_bias: bool. Biases in attention and feed-forward projections.
        attention_scale: bool. Scale logits by 1/sqrt(key_dim).
        rotary_max_wavelength: float or None. Rotary position embedding base;
            None disables RoPE.
        kernel_initializer: str. Initializer of all kernels.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, seq, hidden)`.
        padding_mask: `(batch, seq)`, True for real tokens; padded keys are
            not attended to.
        attention_mask: `(batch, seq, seq)`, True where attention is allowed.
        position_bias: additive attention bias `(1 or batch, heads, seq, seq)`.
        training: bool.

    Example:
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    >>> block(keras.ops.ones((2, 5, 16))).shape
    (2, 5, 16)
    """

    def build(self, inputs_shape):
        hidden = self._check_hidden(inputs_shape)
        self._build_attention("self", inputs_shape)
        self._build_ffn(inputs_shape, hidden)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        position_bias=None,
        training=None,
    ):
        def attend(y):
            return self.self_attention(
                y,
                key_padding_mask=padding_mask,
                attention_mask=attention_mask,
                position_bias=position_bias,
                training=training,
            )

        x = self._attention_residual("self", inputs, attend, training)
        return self._ffn(x, training)


@keras.saving.register_keras_serializable(package="kerasdl")
class TransformerDecoderBlock(_BlockBase):
    """Transformer decoder block: causal self-attention, cross-attention, FFN.

    Cross-attention is built when the block is first called with an
    `encoder_sequence` (encoder-decoder models such as T5); without one the
    block is a decoder-only (GPT) block. Residual/normalization order as in
    `TransformerEncoderBlock` (`norm_first`).

    Args:
        The same as `TransformerEncoderBlock`'s (both blocks share one
        constructor); `rotary_max_wavelength` applies to self-attention only.

    Call arguments:
        decoder_sequence: `(batch, seq, hidden)`.
        encoder_sequence: `(batch, enc_seq, enc_hidden)` or None.
        decoder_padding_mask: `(batch, seq)`, True for real tokens.
        encoder_padding_mask: `(batch, enc_seq)`, True for real tokens.
        self_position_bias: additive bias of self-attention logits.
        cache: `(batch, 2, max_len, heads, key_dim)` self-attention keys and
            values; the call then returns `(output, updated_cache)`.
        cache_index: int or scalar tensor. Position of the first token.
        training: bool.

    Example:
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> block(keras.ops.ones((2, 5, 16))).shape
    (2, 5, 16)
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        hidden = self._check_hidden(decoder_sequence_shape)
        shape = tuple(decoder_sequence_shape)
        self._build_attention("self", shape)
        self.has_cross_attention = encoder_sequence_shape is not None
        if self.has_cross_attention:
            self._build_attention("cross", shape, tuple(encoder_sequence_shape))
        self._build_ffn(shape, hidden)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_position_bias=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        if (encoder_sequence is not None) != self.has_cross_attention:
            raise ValueError(
                "TransformerDecoderBlock was built "
                + ("with" if self.has_cross_attention else "without")
                + " cross-attention; call it "
                + ("with" if self.has_cross_attention else "without")
                + " an encoder_sequence."
            )
        new_cache = []

        def self_attend(y):
            out = self.self_attention(
                y,
                key_padding_mask=decoder_padding_mask if cache is None else None,
                use_causal_mask=True,
                position_bias=self_position_bias,
                cache=cache,
                cache_index=cache_index,
                training=training,
            )
            if cache is not None:
                out, updated = out
                new_cache.append(updated)
            return out

        x = self._attention_residual("self", decoder_sequence, self_attend, training)
        if self.has_cross_attention:

            def cross_attend(y):
                return self.cross_attention(
                    y,
                    encoder_sequence,
                    key_padding_mask=encoder_padding_mask,
                    training=training,
                )

            x = self._attention_residual("cross", x, cross_attend, training)
        x = self._ffn(x, training)
        return x if cache is None else (x, new_cache[0])

    def compute_output_spec(self, decoder_sequence, *args, cache=None, **kwargs):
        out = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        if cache is None:
            return out
        return out, keras.KerasTensor(cache.shape, dtype=cache.dtype)


class _EmbeddingTable(InitConfig, keras.layers.Layer):
    """A layer whose weight is one "embeddings" table of `table_shape`."""

    def build(self, inputs_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=self.table_shape,
            initializer=self.embeddings_initializer,
        )


# ------------------------------------------------------- position bias (T5)
@keras.saving.register_keras_serializable(package="kerasdl")
class RelativePositionBias(_EmbeddingTable):
    """T5's bucketed relative position bias, shared by all blocks of a stack.

    The relative distance `key_pos - query_pos` is mapped to one of
    `num_buckets` buckets: exact buckets for small distances, logarithmic
    ones up to `max_distance`, and each bucket has a learned scalar per head
    (Raffel et al. 2020, section 2.1). The encoder uses bidirectional buckets
    (half for each sign), the decoder unidirectional ones.

    Args:
        num_heads: int. Number of attention heads.
        num_buckets: int. Number of buckets (32 in T5).
        max_distance: int. Distance beyond which all positions share the last
            bucket (128 in T5).
        bidirectional: bool. Distinguish keys before and after the query.
        embeddings_initializer: str. Initializer of the bias table.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, seq, hidden)`; only its length is used.

    Returns:
        `(1, num_heads, seq, seq)` additive attention bias.
    """

    def __init__(
        self,
        num_heads: int,
        num_buckets: int = 32,
        max_distance: int = 128,
        bidirectional: bool = True,
        embeddings_initializer="random_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.num_buckets = check_int("num_buckets", num_buckets, minimum=2)
        self.max_distance = check_int("max_distance", max_distance, minimum=2)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    @property
    def table_shape(self):
        return (self.num_buckets, self.num_heads)

    def bucket(self, relative_position):
        """Maps int32 distances `key_pos - query_pos` to bucket ids."""
        num_buckets = self.num_buckets
        buckets = ops.zeros_like(relative_position)
        if self.bidirectional:
            num_buckets //= 2
            buckets = buckets + ops.cast(relative_position > 0, "int32") * num_buckets
            distance = ops.abs(relative_position)
        else:
            distance = -ops.minimum(relative_position, 0)
        max_exact = num_buckets // 2
        is_small = distance < max_exact
        safe = ops.maximum(ops.cast(distance, "float32"), 1.0)
        large = max_exact + ops.cast(
            ops.log(safe / max_exact)
            / math.log(self.max_distance / max_exact)
            * (num_buckets - max_exact),
            "int32",
        )
        large = ops.minimum(large, num_buckets - 1)
        return buckets + ops.where(is_small, distance, large)

    def bias(self, query_length, key_length, query_offset=0):
        """Returns the `(1, heads, query_length, key_length)` bias."""
        q = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(
            query_offset, "int32"
        )
        k = ops.arange(key_length, dtype="int32")[None, :]
        buckets = self.bucket(k - q)  # (q, k)
        values = ops.take(ops.convert_to_tensor(self.embeddings), buckets, axis=0)
        return ops.transpose(values, (2, 0, 1))[None]  # (1, heads, q, k)

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        return ops.cast(self.bias(length, length), self.compute_dtype)

    def compute_output_spec(self, inputs):
        seq = inputs.shape[1]
        return keras.KerasTensor(
            (1, self.num_heads, seq, seq), dtype=self.compute_dtype
        )


# --------------------------------------------------------------- embeddings
@keras.saving.register_keras_serializable(package="kerasdl")
class TokenEmbedding(_EmbeddingTable):
    """A token embedding table shared by several token streams and the head.

    Functional graphs describe each layer once, so weight tying is written
    as data flow: the layer embeds one or several token tensors with one
    table and, with `return_table=True`, also outputs the table itself,
    which `TiedLMHead` uses as the output projection (GPT-2, T5 v1.0). T5
    embeds encoder and decoder tokens with one call: `[enc_ids, dec_ids]`.

    Args:
        vocab_size: int. Number of tokens.
        output_dim: int. Embedding size.
        embeddings_initializer: str. Initializer of the table.
        return_table: bool. Also output the `(vocab_size, output_dim)` table.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: int tensor `(batch, seq)` or a list of them.

    Returns:
        The embedded tensor(s), `(batch, seq, output_dim)` each, followed by
        the table when `return_table=True` (a list).

    Example:
    >>> emb = TokenEmbedding(100, 8, return_table=True)
    >>> x, table = emb(np.array([[1, 2, 3]]))  # (1, 3, 8), (100, 8)
    """

    def __init__(
        self,
        vocab_size: int,
        output_dim: int,
        embeddings_initializer="random_normal",
        return_table: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        self.output_dim = check_int("output_dim", output_dim, minimum=1)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.return_table = check_bool("return_table", return_table)

    @property
    def table_shape(self):
        return (self.vocab_size, self.output_dim)

    def embed(self, token_ids):
        """Embeds one int tensor of token ids."""
        table = ops.cast(ops.convert_to_tensor(self.embeddings), self.compute_dtype)
        return ops.take(table, ops.cast(token_ids, "int32"), axis=0)

    def call(self, inputs):
        many = isinstance(inputs, (list, tuple))
        outputs = [self.embed(t) for t in inputs] if many else [self.embed(inputs)]
        if self.return_table:
            outputs.append(
                ops.cast(ops.convert_to_tensor(self.embeddings), self.compute_dtype)
            )
        return outputs if len(outputs) > 1 else outputs[0]

    def compute_output_spec(self, inputs):
        many = isinstance(inputs, (list, tuple))
        outs = [
            keras.KerasTensor((*t.shape, self.output_dim), dtype=self.compute_dtype)
            for t in (inputs if many else [inputs])
        ]
        if self.return_table:
            outs.append(
                keras.KerasTensor(
                    (self.vocab_size, self.output_dim), dtype=self.compute_dtype
                )
            )
        return outs if len(outs) > 1 else outs[0]


@keras.saving.register_keras_serializable(package="kerasdl")
class TiedLMHead(InitConfig, keras.layers.Layer):
    """Language-model head tied to the input embedding: `s * x E^T (+ b)`.

    Args:
        logit_scale: float. Factor `s` applied to the hidden states first
            (1 for GPT-2; `hidden ** -0.5` for T5 v1.0).
        use_bias: bool. Add a learned per-token output bias `b` (BERT's
            masked-LM decoder has one).
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `[hidden_states (batch, seq, dim), table (vocab, dim)]`, the
            table from `TokenEmbedding(return_table=True)`.

    Returns:
        Logits `(batch, seq, vocab)`.
    """

    def __init__(self, logit_scale: float = 1.0, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.logit_scale = check_float(
            "logit_scale", logit_scale, minimum=0, min_inclusive=False
        )
        self.use_bias = check_bool("use_bias", use_bias)

    def build(self, inputs_shape):
        if not isinstance(inputs_shape, (list, tuple)) or len(inputs_shape) != 2:
            raise ValueError(
                "TiedLMHead takes [hidden_states, table]; received input "
                f"shapes {inputs_shape!r}."
            )
        vocab = inputs_shape[1][0]
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(vocab,), initializer="zeros"
            )

    def call(self, inputs):
        hidden, table = inputs
        if self.logit_scale != 1.0:
            hidden = hidden * self.logit_scale
        logits = ops.matmul(hidden, ops.transpose(ops.cast(table, hidden.dtype)))
        if self.use_bias:
            logits = logits + ops.cast(self.bias, logits.dtype)
        return logits

    def compute_output_spec(self, inputs):
        hidden, table = inputs
        return keras.KerasTensor(
            (*hidden.shape[:-1], table.shape[0]), dtype=self.compute_dtype
        )


# ------------------------------------------------------------------- stacks
def check_stack_args(
    num_layers, num_heads, hidden_dim, intermediate_dim, dropout, activation, **key_dim
) -> dict:
    """Checks the hyperparameters every Transformer builder shares.

    Args:
        num_layers: int. Number of blocks, >= 1.
        num_heads: int. Attention heads per block, >= 1, dividing hidden_dim.
        hidden_dim: int. Model width, >= 1.
        intermediate_dim: int. Feed-forward width, >= 1.
        dropout: float. A rate in [0, 1).
        activation: str. A feed-forward activation (`FFN_ACTIVATIONS`).
        **key_dim: For builders that offer a size per head, that one
            argument under the builder's name (T5: `key_value_dim=...`), an
            int or None; None (or no such argument) uses
            hidden_dim // num_heads, so num_heads must divide hidden_dim.

    Returns:
        dict: the blocks' constructor arguments among them (num_heads,
        intermediate_dim, dropout, activation, and key_dim when the builder
        offers it), for `block_stack`.

    Raises:
        ValueError: naming the first invalid argument and its value.
    """
    check_sizes(
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
    )
    if len(key_dim) > 1:
        raise TypeError(f"check_stack_args takes one size per head; got {key_dim!r}.")
    args = {}
    key_dim_arg, size = next(iter(key_dim.items()), (None, None))
    if key_dim_arg is not None:
        args["key_dim"] = size
    if size is not None:
        check_int(key_dim_arg, size, minimum=1)
    if size is None and hidden_dim % num_heads:
        given = "" if key_dim_arg is None else f" and {key_dim_arg}=None"
        hint = "" if key_dim_arg is None else f", or pass {key_dim_arg}"
        raise ValueError(
            f"Invalid hidden_dim={hidden_dim} with num_heads={num_heads}{given}: "
            f"hidden_dim must be divisible by num_heads{hint}."
        )
    return {
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        **args,
        "dropout": check_rate("dropout", dropout),
        "activation": check_choice("activation", activation, FFN_ACTIVATIONS),
    }


def block_stack(x, num_layers, prefix, block_args, *encoder, decoder=False, **masks):
    """Applies `num_layers` Transformer blocks built from one set of arguments.

    Every builder's encoder or decoder stack (BERT, GPT, T5, ViT, the
    forecaster) is this loop, so blocks are named and called one way.

    Args:
        x: The `(batch, seq, hidden)` input of the first block.
        num_layers: int. Number of blocks.
        prefix: str. Block i (from 1) is named f"{prefix}{i}".
        block_args: dict. Constructor arguments of every block.
        *encoder: The encoder output, for decoder blocks with cross-attention.
        decoder: bool. `TransformerDecoderBlock`s instead of encoder blocks.
        **masks: Call arguments of every block (padding masks, position
            bias); None values are left out of the call.

    Returns:
        The output of the last block.
    """
    block = TransformerDecoderBlock if decoder else TransformerEncoderBlock
    kwargs = {name: value for name, value in masks.items() if value is not None}
    for i in range(1, num_layers + 1):
        x = block(name=f"{prefix}{i}", **block_args)(x, *encoder, **kwargs)
    return x
