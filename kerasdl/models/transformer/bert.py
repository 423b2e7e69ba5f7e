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
    check_stack_args,
)
from kerasdl.layers.vit import TokenPooling
from kerasdl.models._common import (
    check_activation_or_softmax,
    check_choice,
    check_float,
)
from kerasdl.models._hparams import builder_sections, doc_sections
from kerasdl.models.heads import ClassificationHead, finish_model
from kerasdl.registry import register_model, set_task

__all__ = ["HEADS", "bert"]

HEADS = ("classification", "mlm", None)


@doc_sections(builder_sections("bert"))
def bert(
    vocabulary_size=30522,
    max_sequence_length=512,
    num_segments=2,
    num_layers=12,
    num_heads=12,
    hidden_dim=768,
    intermediate_dim=3072,
    dropout=0.1,
    layer_norm_epsilon=1e-12,
    head="classification",
    num_classes=2,
    classifier_activation="softmax",
    weights=None,
):
    """BERT-style encoder with a classification or masked-LM head; BERT-base.

    Inputs "token_ids" and "segment_ids", both `(batch, seq)` int32 with
    `seq <= max_sequence_length`; token id 0 is padding (not attended to).

    Args:
        vocabulary_size: int. Number of tokens (30522 for BERT's uncased
            WordPiece vocabulary).
        max_sequence_length: int. Size of the learned position table.
        num_segments: int. Number of segment (sentence A/B) ids.
        num_layers: int. Number of encoder blocks.
        num_heads: int. Attention heads per block; must divide hidden_dim.
        hidden_dim: int. Model width.
        intermediate_dim: int. Width of the feed-forward layers.
        dropout: float. Dropout rate on embeddings, residual branches,
            attention probabilities and before the classifier, in [0, 1).
        layer_norm_epsilon: float. Epsilon of every LayerNorm.
        head: str or None. "classification" (class scores from the pooled
            [CLS] token), "mlm" (token logits at every position) or None
            (outputs `[sequence_output, pooled_output]`).
        num_classes: int. Number of classes of the classification head.
        classifier_activation: str or None. Activation of the classifier
            ("softmax", None for logits, "sigmoid", ...).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Example:
    >>> model = bert(vocabulary_size=100, num_layers=2, num_heads=2,
    ...              hidden_dim=16, intermediate_dim=32, num_classes=3)
    >>> ids = np.ones((1, 8), "int32")
    >>> model([ids, np.zeros_like(ids)]).shape
    (1, 3)
    """
    check_sizes(
        vocabulary_size=vocabulary_size,
        max_sequence_length=max_sequence_length,
        num_segments=num_segments,
        num_classes=num_classes,
    )
    block_args = check_stack_args(
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout, "gelu"
    )
    check_float("layer_norm_epsilon", layer_norm_epsilon, 0.0, 1.0, max_inclusive=False)
    check_choice("head", head, HEADS)
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    init = keras.initializers.TruncatedNormal(stddev=0.02)

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    embedded = TokenEmbedding(
        vocabulary_size,
        hidden_dim,
        embeddings_initializer=init,
        return_table=head == "mlm",
        name="token_embedding",
    )(token_ids)
    tokens, table = embedded if head == "mlm" else (embedded, None)
    segments = layers.Embedding(
        num_segments, hidden_dim, embeddings_initializer=init, name="segment_embedding"
    )(segment_ids)
    x = layers.Add(name="embeddings_add")([tokens, segments])
    x = PositionEmbedding(
        max_sequence_length, initializer=init, name="position_embedding"
    )(x)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="embeddings_norm")(x)
    x = layers.Dropout(dropout, name="embeddings_dropout")(x)
    block_args.update(
        norm_first=False, layer_norm_epsilon=layer_norm_epsilon, kernel_initializer=init
    )
    x = block_stack(
        x, num_layers, "encoder_block", block_args, padding_mask=padding_mask
    )
    inputs = [token_ids, segment_ids]

    if head == "mlm":
        y = layers.Dense(
            hidden_dim, activation="gelu", kernel_initializer=init, name="mlm_dense"
        )(x)
        y = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="mlm_norm")(y)
        logits = TiedLMHead(use_bias=True, name="mlm_logits")([y, table])
        return finish_model(inputs, logits, "bert", weights)

    cls = TokenPooling(name="cls_token")(x)
    pooled = layers.Dense(
        hidden_dim, activation="tanh", kernel_initializer=init, name="pooler"
    )(cls)
    if head is None:
        features = finish_model(inputs, [x, pooled], "bert", weights)
        return set_task(features, "features")
    y = layers.Dropout(dropout, name="classifier_dropout")(pooled)
    classifier = ClassificationHead(True, num_classes, None, classifier_activation)
    return classifier.model(inputs, y, "bert", weights, kernel_initializer=init)


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
