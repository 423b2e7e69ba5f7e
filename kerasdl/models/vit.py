"""Vision Transformer (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words").

The graph, with stable layer names::

    images (H, W, C)
      -> patch_embedding      PatchEmbedding: Conv2D kernel = stride = P,
                              flattened to (H/P * W/P, D) tokens
      -> class_token          ClassToken: learned token prepended -> N + 1
      -> position_embedding   PositionEmbedding: learned (N + 1, D) table
      -> embedding_dropout
      -> encoder_block1 .. encoder_blockL
                              pre-norm TransformerEncoderBlock: LayerNorm ->
                              multi-head self-attention -> residual,
                              LayerNorm -> MLP (GELU) -> residual
      -> encoder_norm         final LayerNorm (epsilon 1e-6)
      -> class_token_pool     the class token's features (or avg_pool)
      -> predictions          Dense classifier

Sizes of the paper (Table 1): Ti (D=192, 12 layers, 3 heads, MLP 768; from
DeiT), S (384, 12, 6, 1536), B (768, 12, 12, 3072), L (1024, 24, 16, 4096).
ViT-B/16 at 224x224 with the 1000-class head has 86,567,656 parameters,
exactly keras-hub's ViTBackbone plus ViTImageClassifier head.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl.layers.position import PositionEmbedding
from kerasdl.layers.transformer import block_stack, check_stack_args
from kerasdl.layers.vit import ClassToken, PatchEmbedding, TokenPooling
from kerasdl.models._common import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_rate,
    make_input,
)
from kerasdl.models._hparams import builder_sections, doc_sections
from kerasdl.models.heads import ClassificationHead
from kerasdl.registry import register_model

__all__ = ["VIT_SIZES", "vit"]

# name -> (hidden_dim, num_layers, num_heads, mlp_dim)
VIT_SIZES = {
    "tiny": (192, 12, 3, 768),
    "small": (384, 12, 6, 1536),
    "base": (768, 12, 12, 3072),
    "large": (1024, 24, 16, 4096),
}
VIT_POOLINGS = ("token", "avg", None)


@doc_sections(builder_sections("vit"))
def vit(
    input_shape=(224, 224, 3),
    patch_size=16,
    size="base",
    hidden_dim=None,
    num_layers=None,
    num_heads=None,
    mlp_dim=None,
    dropout=0.0,
    attention_dropout=0.0,
    layer_norm_epsilon=1e-6,
    class_token=True,
    pooling="token",
    include_top=True,
    num_classes=1000,
    classifier_activation="softmax",
    weights=None,
):
    """Vision Transformer: patch tokens, class token and a pre-norm encoder.

    The image is cut into `patch_size` x `patch_size` patches, each projected
    to a `hidden_dim` token; a learned class token and a learned position
    embedding are added; `num_layers` pre-norm Transformer encoder blocks
    (GELU MLP) follow, then a final LayerNorm and the classifier on the
    class token (or on the mean of the patch tokens). `size` names the
    paper's configurations; the four dimensions given explicitly replace
    the size's values (e.g. a 6-layer ViT-B).

    Args:
        input_shape: tuple. Image shape (height, width, channels); height and
            width must be multiples of patch_size.
        patch_size: int. Side of the square patches (16 for ViT-B/16).
        size: str. Configuration giving the defaults of hidden_dim,
            num_layers, num_heads and mlp_dim: "tiny" (192, 12, 3, 768),
            "small" (384, 12, 6, 1536), "base" (768, 12, 12, 3072) or
            "large" (1024, 24, 16, 4096).
        hidden_dim: int or None. Token size D, divisible by num_heads; None:
            the size's.
        num_layers: int or None. Number of Transformer encoder blocks; None:
            the size's.
        num_heads: int or None. Attention heads per block; None: the size's.
        mlp_dim: int or None. Hidden width of each block's MLP; None: the
            size's.
        dropout: float. Dropout after the position embedding and on every
            residual branch and MLP hidden layer, in [0, 1).
        attention_dropout: float. Dropout on the attention probabilities.
        layer_norm_epsilon: float. Epsilon of every LayerNorm (1e-6 in ViT).
        class_token: bool. Prepend a learned class token (False: the "GAP"
            variant, which needs pooling="avg" for a classifier).
        pooling: str or None. "token": the class token's features; "avg": the
            mean of the patch tokens; None (only with include_top=False): all
            tokens `(batch, tokens, hidden_dim)`.
        include_top: bool. Add the classifier ("predictions").
        num_classes: int. Number of classes of the classifier.
        classifier_activation: str or None. Activation of the classifier
            ("softmax", None for logits, ...).
        weights: str or None. Path of a local weights file to load; never
            downloaded.

    Example:
    >>> model = vit(input_shape=(32, 32, 3), patch_size=4, hidden_dim=64,
    ...             num_layers=4, num_heads=4, mlp_dim=128, num_classes=10)
    >>> model.output_shape
    (None, 10)
    """
    check_int("patch_size", patch_size, minimum=1)
    check_choice("size", size, VIT_SIZES)
    dims = dict(
        zip(("hidden_dim", "num_layers", "num_heads", "mlp_dim"), VIT_SIZES[size])
    )
    given = {
        "hidden_dim": hidden_dim,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "mlp_dim": mlp_dim,
    }
    for arg, value in given.items():
        if value is not None:
            dims[arg] = check_int(arg, value, minimum=1)
    hidden_dim, num_layers, num_heads, mlp_dim = dims.values()
    block_args = check_stack_args(
        num_layers, num_heads, hidden_dim, mlp_dim, dropout, "gelu"
    )
    check_rate("attention_dropout", attention_dropout)
    check_float(
        "layer_norm_epsilon", layer_norm_epsilon, 1e-12, 1.0, max_inclusive=False
    )
    check_bool("class_token", class_token)
    check_choice("pooling", pooling, VIT_POOLINGS)
    head = ClassificationHead(include_top, num_classes, None, classifier_activation)
    if include_top and pooling is None:
        raise ValueError(
            "Invalid pooling=None with include_top=True: the classifier needs "
            "one vector per image. Accepted: 'token', 'avg'."
        )
    if pooling == "token" and not class_token:
        raise ValueError(
            "Invalid pooling='token' with class_token=False: there is no class "
            "token to read. Use pooling='avg' or class_token=True."
        )

    inputs = make_input(input_shape, rank=3)
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None or height % patch_size or width % patch_size:
        raise ValueError(
            f"Invalid input_shape={tuple(input_shape)!r} with patch_size="
            f"{patch_size}: height and width must be known multiples of the "
            "patch size."
        )
    num_patches = (height // patch_size) * (width // patch_size)

    # (batch, H, W, C) -> (batch, N, D)
    x = PatchEmbedding(patch_size, hidden_dim, name="patch_embedding")(inputs)
    if class_token:
        x = ClassToken(name="class_token")(x)  # (batch, N + 1, D)
    x = PositionEmbedding(
        sequence_length=num_patches + int(class_token),
        initializer=keras.initializers.RandomNormal(stddev=0.02),
        name="position_embedding",
    )(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    block_args.update(
        attention_dropout=attention_dropout,
        norm_first=True,
        layer_norm_epsilon=layer_norm_epsilon,
    )
    x = block_stack(x, num_layers, "encoder_block", block_args)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="encoder_norm")(x)
    if pooling == "token":
        x = TokenPooling("token", name="class_token_pool")(x)  # (batch, D)
    elif pooling == "avg":
        x = TokenPooling("avg", num_prefix_tokens=int(class_token), name="avg_pool")(x)
    return head.model(inputs, x, "vit", weights, dropout=0.0)


# The tiny ViT of the registry's test variants (hub_vit's too).
TINY_VIT = {
    "input_shape": (8, 8, 3),
    "patch_size": 4,
    "hidden_dim": 8,
    "num_layers": 1,
    "num_heads": 2,
    "mlp_dim": 16,
    "num_classes": 3,
}
register_model("vit", vit, family="vit", tiny=TINY_VIT)
for _size in VIT_SIZES:
    _dims = VIT_SIZES[_size]
    register_model(
        f"vit_{_size}",
        vit,
        family="vit",
        description=(
            f"ViT-{_size.capitalize()} (D={_dims[0]}, {_dims[1]} layers, "
            f"{_dims[2]} heads, MLP {_dims[3]}); any patch size, default 16."
        ),
        presets={"size": _size},
        tiny=TINY_VIT,
    )
# The patch-size variants of the paper's Table 5 (ViT-B/16, B/32, L/16).
for _size, _patch in (("base", 16), ("base", 32), ("large", 16)):
    register_model(
        f"vit_{_size[0]}{_patch}",
        vit,
        family="vit",
        description=f"ViT-{_size[0].upper()}/{_patch} (Dosovitskiy et al. 2020).",
        presets={"size": _size, "patch_size": _patch},
        # The tiny input must be a multiple of the fixed patch size.
        tiny={**TINY_VIT, "input_shape": (_patch, _patch, 3), "patch_size": _patch},
    )
