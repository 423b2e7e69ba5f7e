"""BERT-style bidirectional encoder (Devlin et al. 2019).

Token + segment + learned position embeddings, LayerNorm and dropout, then
post-norm `TransformerEncoderBlock`s (exact GELU, epsilon 1e-12) with
padded tokens (id 0) masked out of attention. The backbone (`head=None`)
matches keras-hub's `BertBackbone` weight for weight in count: BERT-base has
109,482,240 parameters, [CLS] pooler included.

Heads:
- "classification": [CLS] -> pooler Dense(tanh) -> dropout -> classifier.
- "mlm": masked language model over every position: Dense(gelu) ->
  LayerNorm -> transposed token embedding + output bias (BERT's tied
  decoder). Train it with a loss weighted by the masked positions.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl._checks import check_sizes
from kerasdl.layers.position import PositionEmbedding
from kerasdl.layers.transformer import (
    PaddingMask,
    TiedLMHead,
    TokenEmbedding,
    block_stack,
)
from kerasdl.layers.vit import TokenPooling
from kerasdl.models._common import (
    check_activation_or_softmax,
    check_choice,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import ClassificationHead, finish_model
from kerasdl.models.transformer._args import (
    BLOCK_SIZES,
    LAYER_NORM_DOC,
    WEIGHTS,
    check_blocks,
)
from kerasdl.registry import register_model, set_task

__all__ = ["HEADS", "bert"]

HEADS = ("classification", "mlm", None)


@builder_args(
    {
        "vocabulary_size": Arg(
            30522,
            "int. Number of tokens (30522 for BERT's uncased WordPiece vocabulary).",
        ),
        "max_sequence_length": Arg(512, "int. Size of the learned position table."),
        "num_segments": Arg(2, "int. Number of segment (sentence A/B) ids."),
        "num_layers": Arg(12, "int. Number of encoder blocks."),
    },
    BLOCK_SIZES,
    {
        "dropout": Arg(
            0.1,
            "float. Dropout rate on embeddings, residual branches, attention "
            "probabilities and before the classifier, in [0, 1).",
        ),
        "layer_norm_epsilon": Arg(1e-12, LAYER_NORM_DOC),
        "head": Arg(
            "classification",
            'str or None. "classification" (class scores from the pooled [CLS] '
            'token), "mlm" (token logits at every position) or None (outputs '
            "`[sequence_output, pooled_output]`).",
        ),
        "num_classes": Arg(2, "int. Number of classes of the classification head."),
        "classifier_activation": Arg(
            "softmax",
            'str or None. Activation of the classifier ("softmax", None for logits, '
            '"sigmoid", ...).',
        ),
    },
    WEIGHTS,
    sections=builder_sections("bert"),
)
def bert(hp):
    """BERT-style encoder with a classification or masked-LM head; BERT-base.

    Inputs "token_ids" and "segment_ids", both `(batch, seq)` int32 with
    `seq <= max_sequence_length`; token id 0 is padding (not attended to).

    Args:
        {args}

    Example:
    >>> model = bert(vocabulary_size=100, num_layers=2, num_heads=2,
    ...              hidden_dim=16, intermediate_dim=32, num_classes=3)
    >>> ids = np.ones((1, 8), "int32")
    >>> model([ids, np.zeros_like(ids)]).shape
    (1, 3)
    """
    check_sizes(
        vocabulary_size=hp["vocabulary_size"],
        max_sequence_length=hp["max_sequence_length"],
        num_segments=hp["num_segments"],
        num_classes=hp["num_classes"],
    )
    block_args = check_blocks(hp, "gelu")
    check_choice("head", hp["head"], HEADS)
    if hp["classifier_activation"] is not None:
        check_activation_or_softmax(hp["classifier_activation"])
    init = keras.initializers.TruncatedNormal(stddev=0.02)

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    embedded = TokenEmbedding(
        hp["vocabulary_size"],
        hp["hidden_dim"],
        embeddings_initializer=init,
        return_table=hp["head"] == "mlm",
        name="token_embedding",
    )(token_ids)
    tokens, table = embedded if hp["head"] == "mlm" else (embedded, None)
    segments = layers.Embedding(
        hp["num_segments"],
        hp["hidden_dim"],
        embeddings_initializer=init,
        name="segment_embedding",
    )(segment_ids)
    x = layers.Add(name="embeddings_add")([tokens, segments])
    x = PositionEmbedding(
        hp["max_sequence_length"], initializer=init, name="position_embedding"
    )(x)
    x = layers.LayerNormalization(
        epsilon=hp["layer_norm_epsilon"], name="embeddings_norm"
    )(x)
    x = layers.Dropout(hp["dropout"], name="embeddings_dropout")(x)
    block_args.update(
        norm_first=False,
        layer_norm_epsilon=hp["layer_norm_epsilon"],
        kernel_initializer=init,
    )
    x = block_stack(
        x, hp["num_layers"], "encoder_block", block_args, padding_mask=padding_mask
    )
    inputs = [token_ids, segment_ids]

    if hp["head"] == "mlm":
        y = layers.Dense(
            hp["hidden_dim"],
            activation="gelu",
            kernel_initializer=init,
            name="mlm_dense",
        )(x)
        y = layers.LayerNormalization(
            epsilon=hp["layer_norm_epsilon"], name="mlm_norm"
        )(y)
        logits = TiedLMHead(use_bias=True, name="mlm_logits")([y, table])
        return finish_model(inputs, logits, "bert", hp["weights"])

    cls = TokenPooling(name="cls_token")(x)
    pooled = layers.Dense(
        hp["hidden_dim"], activation="tanh", kernel_initializer=init, name="pooler"
    )(cls)
    if hp["head"] is None:
        features = finish_model(inputs, [x, pooled], "bert", hp["weights"])
        return set_task(features, "features")
    y = layers.Dropout(hp["dropout"], name="classifier_dropout")(pooled)
    classifier = ClassificationHead(
        True, hp["num_classes"], None, hp["classifier_activation"]
    )
    return classifier.model(inputs, y, "bert", hp["weights"], kernel_initializer=init)


# Segment ids of the sweep's random inputs go up to 3: four segments.
_TINY = {
    "vocabulary_size": 32,
    "max_sequence_length": 16,
    "num_segments": 4,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "dropout": 0.0,
}
register_model(
    "bert_classifier",
    bert,
    family="transformer",
    description="BERT-style encoder with a [CLS] classification head; BERT-base.",
    presets={"head": "classification"},
    tiny={**_TINY, "num_classes": 3},
)
register_model(
    "bert_mlm",
    bert,
    family="transformer",
    description="BERT-style encoder with a masked-language-model head; BERT-base.",
    presets={"head": "mlm"},
    tiny=dict(_TINY),
    task="masked_language_modeling",
)
