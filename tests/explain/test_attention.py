"""Attention maps are the weights the layers really use."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import kerasdl
from kerasdl import explain


# vit_attention runs keras.ops only (no gradients); the softmax it shares
# with TransformerAttention.call is tested on every backend in
# tests/layers. Building the ViT alone costs ~19 s on JAX here.
@pytest.mark.one_backend
def test_vit_attention_is_what_the_blocks_use():
    model = kerasdl.build(
        "vit", input_shape=(8, 8, 3), patch_size=4, hidden_dim=8, num_layers=2,
        num_heads=2, mlp_dim=16, num_classes=3,
    )  # fmt: skip
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    maps = explain.vit_attention(model, images)
    assert len(maps["layers"]) == 2
    probs = maps["layers"][0]
    assert probs.shape == (2, 2, 5, 5)  # 4 patches + the class token
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    # The block's attention output recomputed from these probabilities
    # equals the layer's own output: they are the weights it uses.
    block = next(
        lay
        for lay in model.layers
        if isinstance(lay, kerasdl.layers.TransformerEncoderBlock)
    )
    h = keras.Model(model.inputs[0], block.input)(images)
    y = block.self_attention_norm(h)
    attention = block.self_attention
    v = attention._split_heads(attention.value_dense(y))
    mixed = ops.einsum("bhqk,bkhd->bqhd", ops.convert_to_tensor(probs), v)
    mixed = ops.reshape(mixed, (2, 5, -1))
    np.testing.assert_allclose(
        ops.convert_to_numpy(attention.output_dense(mixed)),
        ops.convert_to_numpy(attention(y)),
        atol=1e-5,
    )
    rollout = maps["rollout"]
    assert rollout.shape == (2, 8, 8)
    assert rollout.min() == pytest.approx(0.0) and rollout.max() == pytest.approx(1.0)


# Reading a layer's output through a sub-model runs no backend-specific
# code (the attention layers' masking is tested on every backend in
# tests/layers); the LSTM model costs 14 s eagerly on JAX.
@pytest.mark.one_backend
def test_seq2seq_attention_weights_skip_padding():
    model = kerasdl.build(
        "seq2seq", source_vocab_size=12, target_vocab_size=10, embedding_dim=8,
        units=8, attention="luong",
    )  # fmt: skip
    source = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]])
    target_in = np.array([[1, 3, 4], [1, 5, 6]])
    weights = explain.seq2seq_attention(model, source, target_in)
    assert weights.shape == (2, 3, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(weights[0, :, 3:], 0.0)
    with pytest.raises(ValueError, match="attention='bahdanau' or 'luong'"):
        explain.seq2seq_attention(
            kerasdl.build("seq2seq", source_vocab_size=12, target_vocab_size=10,
                          embedding_dim=8, units=8, attention=None),
            source, target_in,
        )  # fmt: skip
