"""Tests of the BERT-, GPT- and T5-style builders (kerasdl/models/transformer/).

Full-size parameter counts (names contain "count") run in the TensorFlow
pass only (tests/models/conftest.py); the rest use tiny models.
"""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.transformer import bert, gpt, t5

TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _ids(shape, vocab=20, seed=0):
    return np.random.default_rng(seed).integers(1, vocab, size=shape).astype("int32")


# ------------------------------------------------------ full-size counts (TF)
@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_bert_base_param_count_matches_keras_hub_backbone():
    import keras_hub

    reference = keras_hub.models.BertBackbone(
        vocabulary_size=30522,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
        max_sequence_length=512,
    ).count_params()
    keras.backend.clear_session(free_memory=False)
    ours = bert(head=None)  # the defaults are BERT-base
    assert reference == 109_482_240
    assert ours.count_params() == reference


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_gpt2_small_param_count_is_published_124439808():
    model = gpt()  # defaults: GPT-2 small, tied embeddings
    assert model.count_params() == 124_439_808
    assert [w.path for w in model.weights].count("token_embedding/embeddings") == 1


@pytest.mark.one_backend  # a parameter count: the same on every backend
def test_t5_small_param_count_matches_keras_hub_backbone():
    import keras_hub

    # t5-small (v1.0): ReLU feed-forward, shared and tied embeddings.
    reference = keras_hub.models.T5Backbone(
        vocabulary_size=32128,
        num_layers=6,
        num_heads=8,
        hidden_dim=512,
        intermediate_dim=2048,
        key_value_dim=64,
        activation="relu",
        use_gated_activation=False,
        tie_embedding_weights=True,
    ).count_params()
    keras.backend.clear_session(free_memory=False)
    assert reference == 60_506_624  # also Hugging Face's t5-small
    assert t5().count_params() == reference


# ----------------------------------------------------------------------- GPT
def test_gpt_is_causal_and_tied():
    model = gpt(vocabulary_size=30, max_sequence_length=12, dropout=0.0, **TINY)
    ids = _ids((1, 10))
    base = _np(model(ids))
    assert base.shape == (1, 10, 30)
    changed = ids.copy()
    changed[:, 6:] = _ids((1, 4), seed=9)
    out = _np(model(changed))
    np.testing.assert_allclose(out[:, :6], base[:, :6], atol=1e-5)
    assert not np.allclose(out[:, 6:], base[:, 6:], atol=1e-4)
    # The logits are the final states times the token embedding table.
    table = _np(model.get_layer("token_embedding").embeddings)
    states = keras.Model(model.input, model.get_layer("final_norm").output)(ids)
    np.testing.assert_allclose(base, _np(states) @ table.T, atol=1e-4)


def test_gpt_untied_head_adds_vocab_by_hidden_weights():
    kw = dict(vocabulary_size=30, max_sequence_length=12, **TINY)
    tied, untied = gpt(**kw), gpt(tie_embeddings=False, **kw)
    assert untied.count_params() - tied.count_params() == 30 * 16
    assert isinstance(untied.get_layer("lm_head"), keras.layers.Dense)


@pytest.mark.parametrize("encoding", ["sinusoidal", "rotary"])
def test_gpt_position_encodings_have_no_position_table(encoding):
    kw = dict(vocabulary_size=30, max_sequence_length=12, **TINY)
    learned = gpt(**kw).count_params()
    assert gpt(position_encoding=encoding, **kw).count_params() == learned - 12 * 16


def test_gpt_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_dim=10 with num_heads=4"):
        gpt(hidden_dim=10, num_heads=4)
    with pytest.raises(ValueError, match="position_encoding='alibi'"):
        gpt(position_encoding="alibi", **TINY)


# ---------------------------------------------------------------------- BERT
def test_bert_classifier_ignores_padding():
    model = bert(vocabulary_size=20, max_sequence_length=16, num_classes=3, **TINY)
    ids = _ids((2, 6))
    seg = np.zeros_like(ids)
    padded = np.concatenate([ids, np.zeros((2, 4), "int32")], axis=1)
    out = _np(model([ids, seg], training=False))
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)  # softmax
    np.testing.assert_allclose(
        _np(model([padded, np.zeros_like(padded)], training=False)), out, atol=1e-5
    )


def test_bert_segments_change_the_output():
    model = bert(vocabulary_size=20, max_sequence_length=16, head=None, **TINY)
    ids = _ids((1, 6))
    seq_a, pooled_a = model([ids, np.zeros_like(ids)])
    _, pooled_b = model([ids, np.ones_like(ids)])
    assert seq_a.shape == (1, 6, 16) and pooled_a.shape == (1, 16)
    assert not np.allclose(_np(pooled_a), _np(pooled_b))


def test_bert_mlm_head_is_tied_to_the_token_embedding():
    model = kerasdl.build(
        "bert_mlm", vocabulary_size=20, max_sequence_length=16, **TINY
    )
    backbone = bert(vocabulary_size=20, max_sequence_length=16, head=None, **TINY)
    # MLM head: Dense(16x16 + 16) + LayerNorm(32) + output bias (20), no
    # second vocabulary matrix; the pooler (16x16 + 16) is not used.
    assert model.count_params() == backbone.count_params() + 32 + 20
    ids = _ids((2, 5))
    logits = _np(model([ids, np.zeros_like(ids)]))
    assert logits.shape == (2, 5, 20)
    emb = model.get_layer("token_embedding")
    emb.embeddings.assign(_np(emb.embeddings) * 2)
    assert not np.allclose(_np(model([ids, np.zeros_like(ids)])), logits)


def test_bert_rejects_unknown_head():
    with pytest.raises(ValueError, match="head='pooler'"):
        bert(head="pooler", **TINY)


# ------------------------------------------------------------------------ T5
def test_t5_decoder_is_causal_and_encoder_ignores_padding():
    model = t5(vocabulary_size=20, dropout=0.0, **TINY)
    enc, dec = _ids((2, 6)), _ids((2, 5), seed=1)
    base = _np(model([enc, dec]))
    assert base.shape == (2, 5, 20)
    changed = dec.copy()
    changed[:, 3:] = _ids((2, 2), seed=7)
    out = _np(model([enc, changed]))
    np.testing.assert_allclose(out[:, :3], base[:, :3], atol=1e-5)
    padded = np.concatenate([enc, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(_np(model([padded, dec])), base, atol=1e-5)
    # The encoder matters.
    assert not np.allclose(_np(model([_ids((2, 6), seed=3), dec])), base, atol=1e-4)


def test_t5_has_no_biases_and_one_position_bias_per_stack():
    model = t5(vocabulary_size=20, **TINY)
    names = [w.path for w in model.weights]
    assert not [n for n in names if n.endswith("bias") and "position" not in n]
    assert [n for n in names if "position_bias" in n] == [
        "encoder_position_bias/embeddings",
        "decoder_position_bias/embeddings",
    ]
    hidden, inter = 16, 32
    per_encoder = 4 * hidden * hidden + 2 * hidden * inter + 2 * hidden
    per_decoder = per_encoder + 4 * hidden * hidden + hidden
    expected = (
        20 * hidden  # shared embedding, tied head
        + 2 * (per_encoder + per_decoder)
        + 2 * 32 * 2  # two bias tables: 32 buckets x 2 heads
        + 2 * hidden  # final norms
    )
    assert model.count_params() == expected


def test_t5_untied_and_asymmetric_stacks():
    kw = dict(vocabulary_size=20, **TINY)
    model = t5(tie_embeddings=False, num_decoder_layers=3, **kw)
    assert model.get_layer("decoder_block3") is not None
    assert model.count_params() > t5(**kw).count_params() + 20 * 16


def test_registry_lists_the_transformer_family():
    names = kerasdl.list_models(family="transformer")
    assert {"bert_classifier", "bert_mlm", "gpt", "t5"} <= set(names)
