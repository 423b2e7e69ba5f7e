"""keras-hub adapters: local presets, refusals, keras-hub parity, training, export."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.hub import HubModel, hub_bert, hub_gpt2
from kerasdl.training import Trainer

keras_hub = pytest.importorskip("keras_hub")

BERT = dict(
    vocabulary_size=20,
    num_layers=1,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=12,
    num_segments=2,
)
GPT2 = dict(
    vocabulary_size=20,
    num_layers=1,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=12,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _text_inputs(batch=3, seq=6, vocab=20, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), "int32")
    mask[0, -2:] = 0  # one padded example
    return {
        "token_ids": rng.integers(1, vocab, (batch, seq)).astype("int32"),
        "segment_ids": (np.arange(seq)[None, :] >= seq // 2).astype("int32")
        * np.ones((batch, 1), "int32"),
        "padding_mask": mask,
    }


@pytest.fixture(scope="module")
def bert_preset(tmp_path_factory):
    """A tiny BERT backbone with random weights, saved by keras-hub."""
    backbone = keras_hub.models.BertBackbone(dropout=0.0, **BERT)
    path = tmp_path_factory.mktemp("bert_preset")
    backbone.save_to_preset(str(path))
    inputs = _text_inputs()
    expected = {k: _np(v) for k, v in backbone(inputs).items()}
    return str(path), inputs, expected


def test_local_preset_gives_identical_outputs(bert_preset):
    path, inputs, expected = bert_preset
    assert {"config.json", "model.weights.h5"} <= {p.name for p in Path(path).iterdir()}
    model = hub_bert(preset=path, include_top=False)
    out = model(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(_np(out[key]), expected[key], rtol=1e-5, atol=1e-6)
    # Agreeing hyperparameters are accepted; the classifier sits on top.
    classifier = hub_bert(preset=path, num_layers=1, hidden_dim=8, num_classes=4)
    assert classifier.output_shape == (None, 4)
    np.testing.assert_allclose(
        _np(classifier.get_layer("bert").model.get_layer("token_embedding").embeddings),
        _np(model.get_layer("bert").model.get_layer("token_embedding").embeddings),
    )


def test_preset_contradicting_hyperparameter_is_refused(bert_preset):
    path = bert_preset[0]
    with pytest.raises(ValueError, match=r"num_layers=3.*fixes num_layers=1"):
        hub_bert(preset=path, num_layers=3)


@pytest.mark.parametrize(
    "preset, message",
    [
        ("bert_base_en", "not a local directory"),
        ("kaggle://keras/bert/keras/bert_base_en/2", "a URL"),
        ("hf://google-bert/bert-base-uncased", "a URL"),
        ("https://example.com/bert.tar.gz", "a URL"),
    ],
)
def test_preset_names_and_urls_are_refused(preset, message):
    with pytest.raises(ValueError) as err:
        hub_bert(preset=preset)
    text = str(err.value)
    assert message in text
    assert "Downloads are disabled" in text
    assert "config.json" in text and "model.weights.h5" in text


def test_incomplete_or_foreign_preset_directories_are_refused(tmp_path, bert_preset):
    with pytest.raises(
        ValueError, match=r"missing \['config.json', 'model.weights.h5'\]"
    ):
        hub_bert(preset=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="not a keras-hub backbone config"):
        hub_bert(preset=str(tmp_path))
    with pytest.raises(ValueError, match="needs a 'GPT2Backbone' preset"):
        hub_gpt2(preset=bert_preset[0])


def test_gpt2_logits_equal_keras_hub_causal_lm():
    model = hub_gpt2(backbone_dropout=0.0, **GPT2)
    inner = model.get_layer("gpt2_causal_lm").model
    reference = keras_hub.models.GPT2CausalLM(
        keras_hub.models.GPT2Backbone.from_config(inner.backbone.get_config()),
        preprocessor=None,
        compile=False,
    )
    reference.set_weights(model.get_weights())
    inputs = _text_inputs()
    del inputs["segment_ids"]
    logits = _np(model(inputs))
    assert logits.shape == (3, 6, 20)
    np.testing.assert_allclose(logits, _np(reference(inputs)), rtol=1e-5, atol=1e-5)
    # The LM head is tied: the token embedding is the only vocabulary matrix.
    assert sum(int(np.prod(w.shape)) == 20 * 8 for w in model.weights) == 1


def test_inputs_are_alphabetical_and_dicts_work():
    model = hub_bert(**BERT, backbone_dropout=0.0, num_classes=2, dropout=0.0)
    assert [t.name for t in model.inputs] == [
        "padding_mask",
        "segment_ids",
        "token_ids",
    ]
    inputs = _text_inputs()
    as_list = [inputs[t.name] for t in model.inputs]
    np.testing.assert_allclose(_np(model(inputs)), _np(model(as_list)), atol=1e-6)


def test_hub_model_rebuilds_keras_hub_classes_only():
    with pytest.raises(ValueError, match="only rebuilds keras-hub"):
        HubModel(keras.layers.serialize(keras.layers.Dense(2)))
    with pytest.raises(ValueError, match="expected a keras_hub.models.Backbone"):
        HubModel(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]))


def test_with_model_puts_a_rebuilt_backbone_back_and_round_trips():
    backbone = keras_hub.models.BertBackbone(**BERT)
    layer = HubModel(backbone, output_names=["pooled_output"], name="bert")
    rebuilt = keras.models.clone_model(backbone)  # a plain functional clone
    assert not isinstance(rebuilt, keras_hub.models.Backbone)
    new = layer.with_model(rebuilt)
    assert new.model is rebuilt and new.name == "bert"
    assert new.hub_class == "keras_hub>BertBackbone"
    restored = HubModel.from_config(new.get_config())
    assert restored.hub_class == "keras_hub>BertBackbone"
    assert [x.name for x in restored.model.layers] == [x.name for x in rebuilt.layers]
    # The original layer's config is unchanged (no hub_class key).
    assert "hub_class" not in layer.get_config()
    other = keras_hub.models.GPT2Backbone(**GPT2)
    with pytest.raises(ValueError, match="differ from"):
        layer.with_model(keras.models.clone_model(other))
    with pytest.raises(ValueError, match="hub_class"):
        HubModel(backbone, hub_class="keras>Dense")


def test_trains_through_trainer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 8, 8, 3)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int32")
    model = kerasdl.build(
        "hub_vit",
        input_shape=(8, 8, 3),
        patch_size=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=2,
    )
    trainer = Trainer(
        {
            "epochs": 4,
            "batch_size": 16,
            "seed": 0,
            "optimizer": {"name": "adam", "learning_rate": 5e-3},
            "verbose": 0,
        }
    )
    history = trainer.fit(model, x, y)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    # The Trainer read the softmax head and the integer labels.
    assert "sparse_categorical_crossentropy" in repr(trainer.model.loss)
    assert "accuracy" in history.history


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="export converts in a TensorFlow subprocess on other backends (slow)",
)
def test_export_tiny_hub_bert_to_tflite(tmp_path):
    """Three int inputs through keras-hub layers to a builtin-ops TFLite file.

    (ONNX fails for BERT and ViT: their exact GELU becomes TensorFlow's Erfc,
    which tf2onnx cannot convert; GPT-2's tanh GELU converts.)
    """
    from kerasdl.exporters import export

    model = hub_bert(**BERT, backbone_dropout=0.0, num_classes=3, dropout=0.0)
    inputs = _text_inputs(batch=4)
    sample = [inputs[t.name] for t in model.inputs]
    manifest = export(
        model, tmp_path / "hub_bert", formats="tflite", sample_inputs=sample
    )
    check = manifest["files"]["tflite"]["verification"]
    assert check["runtime"] == "ai_edge_litert" and check["passed"], check
    assert check["max_abs_error"] < 1e-4
    assert (tmp_path / "hub_bert" / "model.tflite").stat().st_size > 1000
