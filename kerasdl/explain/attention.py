"""Attention maps: where a ViT looks, and what a seq2seq decoder reads.

- `vit_attention(model, images)`: every encoder block's attention
  probabilities, read from the blocks' own attention layers, and the
  attention rollout (Abnar & Zuidema 2020) of the class token (or of all
  tokens for a ViT without one) over the patches, as a map at the image's
  size.
- `seq2seq_attention(model, source, target_in)`: the (target x source)
  weights of a kerasdl seq2seq model's Bahdanau or Luong attention, which
  `kerasdl.viz.plot_attention` draws.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kerasdl import _backend, _keras_compat
from kerasdl.layers.seq2seq_attention import BahdanauAttention, LuongAttention
from kerasdl.layers.transformer import TransformerEncoderBlock
from kerasdl.layers.vit import ClassToken

__all__ = ["seq2seq_attention", "vit_attention"]


def _functional(model, what: str) -> None:
    if not _keras_compat.is_functional(model):
        raise ValueError(
            f"{what} reads inner layers and needs a functional model; received "
            f"{type(model).__name__}."
        )


def vit_attention(model, images) -> dict:
    """Per-block attention probabilities and the rollout map of a ViT.

    Args:
        model: keras.Model. A functional ViT (`kerasdl.build("vit", ...)`)
            with `TransformerEncoderBlock`s.
        images: array (batch, H, W, C).

    Returns:
        dict: "layers", a list (one per block) of arrays (batch, heads,
        tokens, tokens); "rollout", (batch, H, W) in [0, 1]: the attention
        flow from the class token (or the mean over tokens without one) to
        each patch, through every block with the residual connection
        counted (0.5 A + 0.5 I per block), upsampled to the image's size.

    Raises:
        ValueError: if the model has no encoder blocks.

    Example:
    >>> maps = vit_attention(model, images[:4])
    >>> maps["rollout"].shape  # (4, 32, 32)
    """
    _functional(model, "vit_attention")
    blocks = [lay for lay in model.layers if isinstance(lay, TransformerEncoderBlock)]
    if not blocks:
        raise ValueError(
            f"vit_attention found no TransformerEncoderBlock in {model.name!r}."
        )
    images = np.asarray(images, dtype=np.float32)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    block_inputs = keras.Model(inputs, [b.input for b in blocks])
    hidden = block_inputs(images, training=False)
    hidden = hidden if isinstance(hidden, (list, tuple)) else [hidden]
    layers = []
    for block, h in zip(blocks, hidden):
        # The block attends to its normalized input when it is pre-norm.
        y = block.self_attention_norm(h) if block.norm_first else h
        layers.append(
            _backend.to_numpy(block.self_attention.attention_probabilities(y))
        )
    tokens = layers[0].shape[-1]
    prefix = int(any(isinstance(lay, ClassToken) for lay in model.layers))
    rollout = np.broadcast_to(np.eye(tokens), (len(images), tokens, tokens))
    for probs in layers:
        mixed = 0.5 * probs.mean(axis=1) + 0.5 * np.eye(tokens)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
    flow = rollout[:, 0, prefix:] if prefix else rollout.mean(axis=1)
    side = math.isqrt(flow.shape[1])
    if side * side != flow.shape[1]:
        raise ValueError(
            f"vit_attention expects a square grid of patches; received {flow.shape[1]}."
        )
    grid = flow.reshape(len(images), side, side, 1).astype(np.float32)
    resized = _backend.to_numpy(keras.ops.image.resize(grid, images.shape[1:3]))[..., 0]
    low = resized.min(axis=(1, 2), keepdims=True)
    span = resized.max(axis=(1, 2), keepdims=True) - low
    return {
        "layers": layers,
        "rollout": (resized - low) / np.where(span > 0, span, 1.0),
    }


def seq2seq_attention(model, source, target_in) -> np.ndarray:
    """The decoder's attention over the source, per target step.

    Args:
        model: keras.Model. A kerasdl seq2seq model built with attention
            ("bahdanau" or "luong").
        source: int array (batch, T_source) of source token ids (0 pads).
        target_in: int array (batch, T_target) of decoder input ids.

    Returns:
        np.ndarray (batch, T_target, T_source): each row sums to 1 over the
        real (non-padding) source tokens and is 0 on padding.

    Raises:
        ValueError: if the model has no seq2seq attention layer.
    """
    _functional(model, "seq2seq_attention")
    layers = [
        lay
        for lay in model.layers
        if isinstance(lay, (BahdanauAttention, LuongAttention))
    ]
    if not layers:
        raise ValueError(
            f"seq2seq_attention found no Bahdanau or Luong attention in "
            f"{model.name!r}; build the model with attention='bahdanau' or 'luong'."
        )
    weights_model = keras.Model(model.inputs, layers[-1].output[1])
    return _backend.to_numpy(
        weights_model([np.asarray(source), np.asarray(target_in)], training=False)
    )
