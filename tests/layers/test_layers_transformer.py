"""Tests of the Transformer layers (kerasdl/layers/transformer.py)."""

import math

import keras
import numpy as np
import pytest

from kerasdl.layers.transformer import (
    PaddingMask,
    RelativePositionBias,
    TiedLMHead,
    TokenEmbedding,
    TransformerAttention,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ------------------------------------------------------------------ attention
def test_attention_matches_keras_multi_head_attention():
    hidden, heads = 12, 3
    ours = TransformerAttention(num_heads=heads)
    theirs = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=hidden // heads)
    q, v = _data(2, 5, hidden), _data(2, 7, hidden, seed=1)
    ours(q, v)
    theirs(q, v)
    # Keras keeps (hidden, heads, head_dim) kernels; ours are (hidden, heads*dim).
    weights = []
    for name in ("query", "key", "value"):
        kernel, bias = (_np(w) for w in getattr(ours, f"{name}_dense").weights)
        weights += [kernel.reshape(hidden, heads, -1), bias.reshape(heads, -1)]
    kernel, bias = (_np(w) for w in ours.output_dense.weights)
    weights += [kernel.reshape(heads, -1, hidden), bias]
    theirs.set_weights(weights)
    mask = np.ones((2, 5, 7), bool)
    mask[1, :, 4:] = False
    np.testing.assert_allclose(
        _np(ours(q, v, attention_mask=mask)),
        _np(theirs(q, v, attention_mask=mask)),
        atol=1e-5,
    )
    assert ours.count_params() == theirs.count_params()


def test_attention_without_scale_and_with_bias_matches_formula():
    layer = TransformerAttention(num_heads=1, use_bias=False, scale=False)
    x = _data(1, 4, 6)
    bias = _data(1, 1, 4, 4, seed=3)
    out = _np(layer(x, position_bias=bias))
    wq, wk, wv, wo = (
        _np(d.kernel)
        for d in (
            layer.query_dense,
            layer.key_dense,
            layer.value_dense,
            layer.output_dense,
        )
    )
    logits = (x[0] @ wq) @ (x[0] @ wk).T + bias[0, 0]  # no 1/sqrt(d)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[0], probs @ (x[0] @ wv) @ wo, atol=1e-5)
    assert len(layer.weights) == 4  # four kernels, no biases


def test_attention_padding_mask_hides_padded_keys():
    layer = TransformerAttention(num_heads=2)
    q, v = _data(1, 3, 8), _data(1, 5, 8, seed=1)
    mask = np.array([[1, 1, 1, 0, 0]])
    changed = v.copy()
    changed[:, 3:] = 100.0
    np.testing.assert_allclose(
        _np(layer(q, v, key_padding_mask=mask)),
        _np(layer(q, changed, key_padding_mask=mask)),
        atol=1e-5,
    )
    # Without the mask the padded keys do change the output.
    assert not np.allclose(_np(layer(q, v)), _np(layer(q, changed)), atol=1e-3)


def test_attention_cache_gives_the_full_causal_result_step_by_step():
    layer = TransformerAttention(num_heads=2, rotary_max_wavelength=10000.0)
    x = _data(2, 6, 8)
    full = _np(layer(x, use_causal_mask=True))
    cache = np.zeros((2, 2, 6, 2, 4), "float32")
    steps = []
    for i in range(6):
        out, cache = layer(x[:, i : i + 1], cache=cache, cache_index=i)
        steps.append(_np(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    # Prefill (several tokens at once) then one step also agrees.
    cache = np.zeros((2, 2, 6, 2, 4), "float32")
    first, cache = layer(x[:, :4], cache=cache, cache_index=0)
    np.testing.assert_allclose(_np(first), full[:, :4], atol=1e-5)
    step, _ = layer(x[:, 4:5], cache=cache, cache_index=4)
    np.testing.assert_allclose(_np(step), full[:, 4:5], atol=1e-5)


def test_attention_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_heads=0"):
        TransformerAttention(num_heads=0)
    with pytest.raises(ValueError, match="dropout=1.5"):
        TransformerAttention(num_heads=2, dropout=1.5)
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        TransformerAttention(num_heads=3)(np.zeros((1, 2, 8), "float32"))


# --------------------------------------------------------------------- blocks
def _encoder_block_params(hidden, inter):
    attention = 4 * (hidden * hidden + hidden)
    ffn = hidden * inter + inter + inter * hidden + hidden
    return attention + ffn + 2 * 2 * hidden  # two LayerNorms


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_parameter_count_matches_formula(norm_first):
    block = TransformerEncoderBlock(
        num_heads=4, intermediate_dim=64, norm_first=norm_first
    )
    block(_data(1, 3, 32))
    assert block.count_params() == _encoder_block_params(32, 64)


def test_post_norm_output_is_normalized_and_pre_norm_is_residual():
    x = _data(2, 5, 16) * 3 + 2
    post = TransformerEncoderBlock(num_heads=2, intermediate_dim=32, norm_first=False)
    out = _np(post(x))
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(-1), 1.0, atol=1e-2)
    # Pre-norm: with zeroed output projections both branches vanish and
    # the block is the identity (the residual stream is not normalized).
    pre = TransformerEncoderBlock(num_heads=2, intermediate_dim=32, norm_first=True)
    pre(x)
    for dense in (pre.self_attention.output_dense, pre.ffn_output):
        dense.set_weights([np.zeros_like(_np(w)) for w in dense.weights])
    np.testing.assert_allclose(_np(pre(x)), x, atol=1e-6)


def test_encoder_block_padding_mask_keeps_real_tokens_independent_of_padding():
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    x = _data(2, 6, 16)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], bool)
    changed = x.copy()
    changed[~mask] = _data(int((~mask).sum()), 16, seed=5)
    a = _np(block(x, padding_mask=mask))
    b = _np(block(changed, padding_mask=mask))
    np.testing.assert_allclose(a[mask], b[mask], atol=1e-5)


@pytest.mark.parametrize("rotary", [None, 10000.0])
def test_decoder_block_is_causal(rotary):
    block = TransformerDecoderBlock(
        num_heads=2, intermediate_dim=32, norm_first=True, rotary_max_wavelength=rotary
    )
    x = _data(1, 7, 16)
    base = _np(block(x))
    for i in range(6):
        changed = x.copy()
        changed[:, i + 1 :] = _data(1, 6 - i, 16, seed=10 + i)
        out = _np(block(changed))
        np.testing.assert_allclose(out[:, : i + 1], base[:, : i + 1], atol=1e-5)
        assert not np.allclose(out[:, i + 1 :], base[:, i + 1 :], atol=1e-3)


def test_decoder_block_cross_attention_uses_encoder_and_its_padding_mask():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    y, enc = _data(2, 4, 16), _data(2, 5, 8, seed=1)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    out = _np(block(y, enc, encoder_padding_mask=mask))
    changed = enc.copy()
    changed[0, 3:] = 50.0  # padded encoder positions of sample 0
    out2 = _np(block(y, changed, encoder_padding_mask=mask))
    np.testing.assert_allclose(out2, out, atol=1e-5)
    changed[0, 0] = 50.0  # a real encoder position
    assert not np.allclose(_np(block(y, changed, encoder_padding_mask=mask))[0], out[0])
    # self-attn + cross-attn + FFN, each with a LayerNorm.
    assert block.count_params() == (
        4 * (16 * 16 + 16)
        + (16 * 16 + 16) * 2
        + (8 * 16 + 16) * 2
        + (16 * 32 + 32 + 32 * 16 + 16)
        + 3 * 2 * 16
    )
    with pytest.raises(ValueError, match="built with cross-attention"):
        block(y)


def test_blocks_survive_keras_round_trip(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    mask = PaddingMask(name="mask")(tokens)
    x = TokenEmbedding(20, 8, name="embed")(tokens)
    enc = TransformerEncoderBlock(
        num_heads=2,
        intermediate_dim=16,
        normalization="rms_norm",
        use_bias=False,
        attention_scale=False,
        activation="relu",
        name="enc",
    )(x, padding_mask=mask)
    dec = TransformerDecoderBlock(
        num_heads=2,
        intermediate_dim=16,
        norm_first=True,
        activation="gelu_approximate",
        name="dec",
    )(x, enc, encoder_padding_mask=mask)
    model = keras.Model(tokens, dec)
    ids = np.array([[3, 4, 5, 0], [1, 2, 0, 0]], "int32")
    path = tmp_path / "blocks.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(ids)), _np(model(ids)), atol=1e-6)
    assert loaded.get_layer("enc").get_config() == model.get_layer("enc").get_config()


def test_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation='elu'"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=8, activation="elu")
    with pytest.raises(ValueError, match="norm_first=1"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=8, norm_first=1)
    with pytest.raises(ValueError, match="hidden_dim=32"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=8, hidden_dim=32)(
            np.zeros((1, 2, 16), "float32")
        )


# ------------------------------------------------------- T5 position bias
def test_relative_position_buckets_match_t5():
    layer = RelativePositionBias(num_heads=2)  # 32 buckets, max distance 128
    rel = np.array([0, -1, 1, -7, -8, -16, -100, -1000, 8, 16, 1000], "int32")
    # T5: 16 buckets per direction, 8 exact, then log-spaced up to 128.
    expected = [0, 1, 17, 7, 8, 10, 15, 15, 24, 26, 31]
    assert _np(layer.bucket(keras.ops.convert_to_tensor(rel))).tolist() == expected
    causal = RelativePositionBias(num_heads=2, bidirectional=False)
    # Unidirectional: future keys (positive distance) share bucket 0.
    # 16 exact buckets; 100 -> 16 + int(log(100 / 16) / log(128 / 16) * 16).
    far = 16 + int(math.log(100 / 16) / math.log(8) * 16)
    assert far == 30
    assert _np(causal.bucket(keras.ops.convert_to_tensor(rel))).tolist() == [
        0,
        1,
        0,
        7,
        8,
        16,
        far,
        31,
        0,
        0,
        0,
    ]


def test_relative_position_bias_reads_the_table_per_head():
    layer = RelativePositionBias(num_heads=3, num_buckets=8, max_distance=16)
    bias = _np(layer(np.zeros((1, 5, 4), "float32")))
    assert bias.shape == (1, 3, 5, 5)
    table = _np(layer.embeddings)
    q, k = np.arange(5)[:, None], np.arange(5)[None, :]
    buckets = _np(layer.bucket(keras.ops.convert_to_tensor((k - q).astype("int32"))))
    np.testing.assert_allclose(bias[0], table[buckets].transpose(2, 0, 1))


# ----------------------------------------------------------------- embeddings
def test_token_embedding_shares_one_table_and_tied_head_uses_it():
    emb = TokenEmbedding(10, 4, return_table=True)
    a, b, table = emb([np.array([[1, 2]]), np.array([[2, 9, 0]])])
    table = _np(table)
    np.testing.assert_allclose(_np(a)[0], table[[1, 2]])
    np.testing.assert_allclose(_np(b)[0], table[[2, 9, 0]])
    head = TiedLMHead(logit_scale=0.5, use_bias=True)
    hidden = _data(1, 2, 4)
    logits = _np(head([hidden, table]))
    np.testing.assert_allclose(logits, 0.5 * hidden @ table.T, atol=1e-5)
    assert head.count_params() == 10  # only the output bias


def test_padding_mask_marks_real_tokens():
    mask = _np(PaddingMask()(np.array([[4, 0, 2, 0]])))
    assert mask.tolist() == [[True, False, True, False]]
