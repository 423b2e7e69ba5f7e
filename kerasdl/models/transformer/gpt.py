"""GPT-style decoder-only language model (Radford et al. 2018, 2019).

Token embedding + position information, a stack of pre-norm causal
`TransformerDecoderBlock`s, a final LayerNorm and a language-model head
that is the transposed token embedding when `tie_embeddings=True` (GPT-2).
The defaults are GPT-2 small: 124,439,808 parameters.

Layer names, exported as the `GPT_*` constants (cached decoding in
`kerasdl.generation` finds the layers by them): "token_ids" (input),
"token_embedding", "position_embedding" (learned or sinusoidal; absent for
rotary), "embedding_dropout", "decoder_block{i}", "final_norm", "lm_head".
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl.layers.position import PositionEmbedding, SinusoidalPositionEncoding
from kerasdl.layers.transformer import (
    TiedLMHead,
    TokenEmbedding,
    block_stack,
    check_stack_args,
)
from kerasdl.models._common import check_bool, check_choice, check_float, check_int
from kerasdl.models._hparams import builder_sections, doc_sections
from kerasdl.models.heads import finish_model, language_model_head
from kerasdl.registry import register_model

__all__ = [
    "GPT_BLOCK_PREFIX",
    "GPT_EMBEDDING",
    "GPT_EMBEDDING_DROPOUT",
    "GPT_FINAL_NORM",
    "GPT_HEAD",
    "GPT_INPUT",
    "GPT_POSITION_EMBEDDING",
    "POSITION_ENCODINGS",
    "gpt",
]

POSITION_ENCODINGS = ("learned", "sinusoidal", "rotary")

# Layer names; decoder block i (from 1) is f"{GPT_BLOCK_PREFIX}{i}".
GPT_INPUT = "token_ids"
GPT_EMBEDDING = "token_embedding"
GPT_POSITION_EMBEDDING = "position_embedding"
GPT_EMBEDDING_DROPOUT = "embedding_dropout"
GPT_BLOCK_PREFIX = "decoder_block"
GPT_FINAL_NORM = "final_norm"
GPT_HEAD = "lm_head"


@doc_sections(builder_sections("gpt"))
def gpt(
    vocabulary_size=50257,
    max_sequence_length=1024,
    num_layers=12,
    num_heads=12,
    hidden_dim=768,
    intermediate_dim=3072,
    dropout=0.1,
    activation="gelu_approximate",
    layer_norm_epsilon=1e-5,
    position_encoding="learned",
    tie_embeddings=True,
    weights=None,
):
    """GPT-style decoder-only language model; defaults are GPT-2 small.

    Input "token_ids" `(batch, seq)` int32 with `seq <= max_sequence_length`;
    output next-token logits `(batch, seq, vocabulary_size)` (no softmax):
    the logits at position i predict token i + 1. Train with
    `SparseCategoricalCrossentropy(from_logits=True)` on inputs shifted by
    one; generate with `kerasdl.generation.generate`.

    Args:
        vocabulary_size: int. Number of tokens (50257 for GPT-2's BPE).
        max_sequence_length: int. Longest sequence (size of the learned
            position table; also the generation limit).
        num_layers: int. Number of decoder blocks.
        num_heads: int. Attention heads per block; must divide hidden_dim.
        hidden_dim: int. Model width.
        intermediate_dim: int. Width of the feed-forward layers.
        dropout: float. Dropout rate on embeddings, residual branches and
            attention probabilities, in [0, 1).
        activation: str. Feed-forward activation: "gelu_approximate" (GPT-2's
            tanh GELU), "gelu", "relu", "silu", "swish" or "tanh".
        layer_norm_epsilon: float. Epsilon of every LayerNorm.
        position_encoding: str. "learned" (GPT-2), "sinusoidal" (fixed,
            Vaswani et al.) or "rotary" (RoPE on queries and keys).
        tie_embeddings: bool. Use the transposed token embedding as the
            output projection (GPT-2) instead of a separate Dense layer.
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Example:
    >>> model = gpt(vocabulary_size=100, max_sequence_length=32, num_layers=2,
    ...             num_heads=2, hidden_dim=16, intermediate_dim=32)
    >>> model(np.ones((1, 8), "int32")).shape
    (1, 8, 100)
    """
    check_int("vocabulary_size", vocabulary_size, minimum=1)
    check_int("max_sequence_length", max_sequence_length, minimum=1)
    block_args = check_stack_args(
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout, activation
    )
    check_float("layer_norm_epsilon", layer_norm_epsilon, 0.0, 1.0, max_inclusive=False)
    check_choice("position_encoding", position_encoding, POSITION_ENCODINGS)
    check_bool("tie_embeddings", tie_embeddings)
    if position_encoding == "sinusoidal" and hidden_dim % 2:
        raise ValueError(
            f"Invalid hidden_dim={hidden_dim} with position_encoding='sinusoidal': "
            "the sinusoidal encoding needs an even hidden_dim."
        )
    init = keras.initializers.TruncatedNormal(stddev=0.02)

    token_ids = keras.Input(shape=(None,), dtype="int32", name=GPT_INPUT)
    embedded = TokenEmbedding(
        vocabulary_size,
        hidden_dim,
        embeddings_initializer=init,
        return_table=tie_embeddings,
        name=GPT_EMBEDDING,
    )(token_ids)
    x, table = embedded if tie_embeddings else (embedded, None)
    if position_encoding == "learned":
        x = PositionEmbedding(
            max_sequence_length, initializer=init, name=GPT_POSITION_EMBEDDING
        )(x)
    elif position_encoding == "sinusoidal":
        x = SinusoidalPositionEncoding(name=GPT_POSITION_EMBEDDING)(x)
    x = layers.Dropout(dropout, name=GPT_EMBEDDING_DROPOUT)(x)
    block_args.update(
        norm_first=True,
        layer_norm_epsilon=layer_norm_epsilon,
        rotary_max_wavelength=10000.0 if position_encoding == "rotary" else None,
        kernel_initializer=init,
    )
    x = block_stack(x, num_layers, GPT_BLOCK_PREFIX, block_args, decoder=True)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name=GPT_FINAL_NORM)(x)
    if tie_embeddings:
        logits = TiedLMHead(name=GPT_HEAD)([x, table])
    else:
        logits = language_model_head(
            x, vocabulary_size, use_bias=False, kernel_initializer=init, name=GPT_HEAD
        )
    return finish_model(token_ids, logits, "gpt", weights)


register_model(
    "gpt",
    gpt,
    family="transformer",
    tiny={
        "vocabulary_size": 32,
        "max_sequence_length": 16,
        "num_layers": 2,
        "num_heads": 2,
        "hidden_dim": 16,
        "intermediate_dim": 32,
        "dropout": 0.0,
    },
    task="language_modeling",
)
