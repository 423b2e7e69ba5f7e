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
)
from kerasdl.models._common import check_bool, check_choice, check_int
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import finish_model, language_model_head
from kerasdl.models.transformer._args import (
    BLOCK_SIZES,
    LAYER_NORM_DOC,
    WEIGHTS,
    check_blocks,
)
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


@builder_args(
    {
        "vocabulary_size": Arg(50257, "int. Number of tokens (50257 for GPT-2's BPE)."),
        "max_sequence_length": Arg(
            1024,
            "int. Longest sequence (size of the learned position table; also the "
            "generation limit).",
        ),
        "num_layers": Arg(12, "int. Number of decoder blocks."),
    },
    BLOCK_SIZES,
    {
        "dropout": Arg(
            0.1,
            "float. Dropout rate on embeddings, residual branches and attention "
            "probabilities, in [0, 1).",
        ),
        "activation": Arg(
            "gelu_approximate",
            'str. Feed-forward activation: "gelu_approximate" (GPT-2\'s tanh GELU), '
            '"gelu", "relu", "silu", "swish" or "tanh".',
        ),
        "layer_norm_epsilon": Arg(1e-5, LAYER_NORM_DOC),
        "position_encoding": Arg(
            "learned",
            'str. "learned" (GPT-2), "sinusoidal" (fixed, Vaswani et al.) or '
            '"rotary" (RoPE on queries and keys).',
        ),
        "tie_embeddings": Arg(
            True,
            "bool. Use the transposed token embedding as the output projection "
            "(GPT-2) instead of a separate Dense layer.",
        ),
    },
    WEIGHTS,
    sections=builder_sections("gpt"),
)
def gpt(hp):
    """GPT-style decoder-only language model; defaults are GPT-2 small.

    Input "token_ids" `(batch, seq)` int32 with `seq <= max_sequence_length`;
    output next-token logits `(batch, seq, vocabulary_size)` (no softmax):
    the logits at position i predict token i + 1. Train with
    `SparseCategoricalCrossentropy(from_logits=True)` on inputs shifted by
    one; generate with `kerasdl.generation.generate`.

    Args:
        {args}

    Example:
    >>> model = gpt(vocabulary_size=100, max_sequence_length=32, num_layers=2,
    ...             num_heads=2, hidden_dim=16, intermediate_dim=32)
    >>> model(np.ones((1, 8), "int32")).shape
    (1, 8, 100)
    """
    check_int("vocabulary_size", hp["vocabulary_size"], minimum=1)
    check_int("max_sequence_length", hp["max_sequence_length"], minimum=1)
    block_args = check_blocks(hp, hp["activation"])
    check_choice("position_encoding", hp["position_encoding"], POSITION_ENCODINGS)
    check_bool("tie_embeddings", hp["tie_embeddings"])
    if hp["position_encoding"] == "sinusoidal" and hp["hidden_dim"] % 2:
        raise ValueError(
            f"Invalid hidden_dim={hp['hidden_dim']} with position_encoding='sinusoidal': "
            "the sinusoidal encoding needs an even hidden_dim."
        )
    init = keras.initializers.TruncatedNormal(stddev=0.02)

    token_ids = keras.Input(shape=(None,), dtype="int32", name=GPT_INPUT)
    embedded = TokenEmbedding(
        hp["vocabulary_size"],
        hp["hidden_dim"],
        embeddings_initializer=init,
        return_table=hp["tie_embeddings"],
        name=GPT_EMBEDDING,
    )(token_ids)
    x, table = embedded if hp["tie_embeddings"] else (embedded, None)
    if hp["position_encoding"] == "learned":
        x = PositionEmbedding(
            hp["max_sequence_length"], initializer=init, name=GPT_POSITION_EMBEDDING
        )(x)
    elif hp["position_encoding"] == "sinusoidal":
        x = SinusoidalPositionEncoding(name=GPT_POSITION_EMBEDDING)(x)
    x = layers.Dropout(hp["dropout"], name=GPT_EMBEDDING_DROPOUT)(x)
    block_args.update(
        norm_first=True,
        layer_norm_epsilon=hp["layer_norm_epsilon"],
        rotary_max_wavelength=10000.0 if hp["position_encoding"] == "rotary" else None,
        kernel_initializer=init,
    )
    x = block_stack(x, hp["num_layers"], GPT_BLOCK_PREFIX, block_args, decoder=True)
    x = layers.LayerNormalization(
        epsilon=hp["layer_norm_epsilon"], name=GPT_FINAL_NORM
    )(x)
    if hp["tie_embeddings"]:
        logits = TiedLMHead(name=GPT_HEAD)([x, table])
    else:
        logits = language_model_head(
            x,
            hp["vocabulary_size"],
            use_bias=False,
            kernel_initializer=init,
            name=GPT_HEAD,
        )
    return finish_model(token_ids, logits, "gpt", hp["weights"])


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
