"""T5-style text-to-text encoder-decoder (Raffel et al. 2020).

Differences from the original Transformer, all as in T5 v1.0:
- one token embedding shared by encoder, decoder and (tied) output layer;
- no absolute positions: a bucketed relative position bias
  (`RelativePositionBias`), computed once per stack and added to the
  self-attention logits of every block of that stack (bidirectional
  buckets in the encoder, causal ones in the decoder);
- pre-norm blocks with T5's LayerNorm (RMS: scale only, no mean, no bias),
  no biases anywhere, unscaled attention logits, ReLU feed-forward;
- the tied output layer scales the decoder states by `hidden_dim ** -0.5`.

The defaults are t5-small: 60,506,624 parameters, equal to keras-hub's
`T5Backbone(..., use_gated_activation=False, tie_embedding_weights=True)`.
Inputs "encoder_token_ids" and "decoder_token_ids" `(batch, seq)` int32
(id 0 is padding in the encoder); output decoder logits
`(batch, dec_seq, vocabulary_size)`. Layer names, exported as the `T5_*`
constants (cached decoding in `kerasdl.generation` finds the layers by
them): "token_embedding", "encoder_padding_mask", "encoder_position_bias",
"encoder_block{i}", "encoder_final_norm", "decoder_position_bias",
"decoder_block{i}", "decoder_final_norm", "lm_head".
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl._checks import check_sizes
from kerasdl.layers.transformer import (
    PaddingMask,
    RelativePositionBias,
    TiedLMHead,
    TokenEmbedding,
    block_stack,
    check_stack_args,
)
from kerasdl.models._common import check_bool, check_float, check_int
from kerasdl.models._hparams import builder_sections, doc_sections
from kerasdl.models.heads import finish_model, language_model_head
from kerasdl.registry import register_model

__all__ = [
    "T5_DECODER_BLOCK_PREFIX",
    "T5_DECODER_FINAL_NORM",
    "T5_DECODER_INPUT",
    "T5_DECODER_POSITION_BIAS",
    "T5_EMBEDDING",
    "T5_ENCODER_BLOCK_PREFIX",
    "T5_ENCODER_FINAL_NORM",
    "T5_ENCODER_INPUT",
    "T5_ENCODER_PADDING_MASK",
    "T5_ENCODER_POSITION_BIAS",
    "T5_HEAD",
    "t5",
]

# Layer names; block i (from 1) of a stack is f"{prefix}{i}".
T5_ENCODER_INPUT = "encoder_token_ids"
T5_DECODER_INPUT = "decoder_token_ids"
T5_EMBEDDING = "token_embedding"
T5_ENCODER_PADDING_MASK = "encoder_padding_mask"
T5_ENCODER_POSITION_BIAS = "encoder_position_bias"
T5_ENCODER_BLOCK_PREFIX = "encoder_block"
T5_ENCODER_FINAL_NORM = "encoder_final_norm"
T5_DECODER_POSITION_BIAS = "decoder_position_bias"
T5_DECODER_BLOCK_PREFIX = "decoder_block"
T5_DECODER_FINAL_NORM = "decoder_final_norm"
T5_HEAD = "lm_head"


@doc_sections(builder_sections("t5"))
def t5(
    vocabulary_size=32128,
    num_layers=6,
    num_decoder_layers=None,
    num_heads=8,
    hidden_dim=512,
    key_value_dim=None,
    intermediate_dim=2048,
    dropout=0.1,
    activation="relu",
    layer_norm_epsilon=1e-6,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    tie_embeddings=True,
    weights=None,
):
    """T5-style encoder-decoder with relative position bias; t5-small.

    Args:
        vocabulary_size: int. Number of tokens (32128 for T5's SentencePiece
            vocabulary, padded).
        num_layers: int. Number of encoder blocks (and decoder blocks unless
            num_decoder_layers is given).
        num_decoder_layers: int or None. Number of decoder blocks; None uses
            num_layers.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Model width (d_model).
        key_value_dim: int or None. Size of each head (d_kv); None uses
            hidden_dim // num_heads.
        intermediate_dim: int. Width of the feed-forward layers (d_ff).
        dropout: float. Dropout rate on embeddings, residual branches,
            attention probabilities and inside the feed-forward layers.
        activation: str. Feed-forward activation: "relu" (T5 v1.0), "gelu",
            "gelu_approximate", "silu", "swish" or "tanh".
        layer_norm_epsilon: float. Epsilon of the RMS normalization layers.
        relative_attention_num_buckets: int. Relative position buckets.
        relative_attention_max_distance: int. Distance at which the
            logarithmic buckets end.
        tie_embeddings: bool. Use the shared token embedding (scaled by
            hidden_dim ** -0.5) as output layer, as T5 v1.0 does; False adds a
            separate Dense layer (T5 v1.1).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Example:
    >>> model = t5(vocabulary_size=100, num_layers=2, num_heads=2,
    ...            hidden_dim=16, intermediate_dim=32)
    >>> ids = np.ones((1, 8), "int32")
    >>> model([ids, ids[:, :5]]).shape
    (1, 5, 100)
    """
    check_sizes(
        vocabulary_size=vocabulary_size,
        relative_attention_num_buckets=relative_attention_num_buckets,
        relative_attention_max_distance=relative_attention_max_distance,
    )
    if num_decoder_layers is not None:
        check_int("num_decoder_layers", num_decoder_layers, minimum=1)
    block_args = check_stack_args(
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout,
        activation,
        key_value_dim=key_value_dim,
    )
    check_float("layer_norm_epsilon", layer_norm_epsilon, 0.0, 1.0, max_inclusive=False)
    check_bool("tie_embeddings", tie_embeddings)
    # T5 (mesh-tensorflow) initialization: N(0, 1) embeddings, and kernels
    # that absorb the missing 1/sqrt(d) scaling of the attention logits.
    kernel_init = keras.initializers.VarianceScaling(
        scale=1.0, mode="fan_in", distribution="truncated_normal"
    )
    block_args.update(
        norm_first=True,
        layer_norm_epsilon=layer_norm_epsilon,
        normalization="rms_norm",
        use_bias=False,
        attention_scale=False,
        kernel_initializer=kernel_init,
    )
    bias_args = {
        "num_heads": num_heads,
        "num_buckets": relative_attention_num_buckets,
        "max_distance": relative_attention_max_distance,
    }

    encoder_ids = keras.Input(shape=(None,), dtype="int32", name=T5_ENCODER_INPUT)
    decoder_ids = keras.Input(shape=(None,), dtype="int32", name=T5_DECODER_INPUT)
    encoder_mask = PaddingMask(name=T5_ENCODER_PADDING_MASK)(encoder_ids)
    embedded = TokenEmbedding(
        vocabulary_size,
        hidden_dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
        return_table=tie_embeddings,
        name=T5_EMBEDDING,
    )([encoder_ids, decoder_ids])
    x, y = embedded[0], embedded[1]

    # Encoder.
    x = layers.Dropout(dropout, name="encoder_embedding_dropout")(x)
    encoder_bias = RelativePositionBias(
        bidirectional=True, name=T5_ENCODER_POSITION_BIAS, **bias_args
    )(x)
    x = block_stack(
        x,
        num_layers,
        T5_ENCODER_BLOCK_PREFIX,
        block_args,
        padding_mask=encoder_mask,
        position_bias=encoder_bias,
    )
    x = layers.RMSNormalization(epsilon=layer_norm_epsilon, name=T5_ENCODER_FINAL_NORM)(
        x
    )
    x = layers.Dropout(dropout, name="encoder_output_dropout")(x)

    # Decoder.
    y = layers.Dropout(dropout, name="decoder_embedding_dropout")(y)
    decoder_bias = RelativePositionBias(
        bidirectional=False, name=T5_DECODER_POSITION_BIAS, **bias_args
    )(y)
    y = block_stack(
        y,
        num_decoder_layers or num_layers,
        T5_DECODER_BLOCK_PREFIX,
        block_args,
        x,
        decoder=True,
        encoder_padding_mask=encoder_mask,
        self_position_bias=decoder_bias,
    )
    y = layers.RMSNormalization(epsilon=layer_norm_epsilon, name=T5_DECODER_FINAL_NORM)(
        y
    )
    y = layers.Dropout(dropout, name="decoder_output_dropout")(y)
    if tie_embeddings:
        logits = TiedLMHead(logit_scale=hidden_dim**-0.5, name=T5_HEAD)(
            [y, embedded[2]]
        )
    else:
        logits = language_model_head(y, vocabulary_size, use_bias=False, name=T5_HEAD)
    return finish_model([encoder_ids, decoder_ids], logits, "t5", weights)


register_model(
    "t5",
    t5,
    family="transformer",
    tiny={
        "vocabulary_size": 32,
        "num_layers": 2,
        "num_heads": 2,
        "hidden_dim": 16,
        "intermediate_dim": 32,
        "dropout": 0.0,
        "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 16,
    },
    task="language_modeling",
)
