"""One layer-selection rule: every step reaches nested layers by name."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.compression import clustering, lora, pruning, ptq, qat
from kerasdl.compression._selection import graph_layers, select_layers, walk_layers
from kerasdl.compression.clustering import ClusterWeights
from kerasdl.compression.pruning import ConstantSparsity, PruneLowMagnitude
from kerasdl.compression.qat_layers import QuantDense
from kerasdl.registry import get_entry


def _nested():
    """An outer functional model around a functional sub-model ("inner")."""
    sub_in = keras.Input((6,))
    sub_out = keras.layers.Dense(5, name="inner_dense")(sub_in)
    inner = keras.Model(
        sub_in, keras.layers.ReLU(name="inner_relu")(sub_out), name="inner"
    )
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(3, name="head")(inner(inputs))
    return keras.Model(inputs, outputs, name="outer")


def _layer(model, *path):
    for name in path:
        model = model.get_layer(name)
    return model


def _np(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _x():
    return np.random.default_rng(0).normal(size=(4, 6)).astype("float32")


def test_prune_reaches_a_nested_layer_by_name():
    pruned = pruning.prune_low_magnitude(
        _nested(), ConstantSparsity(0.5, 0, frequency=1), layers=["inner_dense"]
    )
    assert isinstance(_layer(pruned, "inner").layers[1], PruneLowMagnitude)
    assert type(pruned.get_layer("head")) is keras.layers.Dense


def test_cluster_reaches_a_nested_layer_by_name():
    clustered = clustering.cluster_weights(_nested(), 2, layers=["inner_dense"])
    assert isinstance(_layer(clustered, "inner").layers[1], ClusterWeights)
    assert type(clustered.get_layer("head")) is keras.layers.Dense


def test_qat_reaches_a_nested_layer_by_name():
    model = _nested()
    quantized = qat.quantize_model(model, layers=["inner_dense"])
    inner = [layer for layer in quantized.layers if isinstance(layer, keras.Model)]
    assert len(inner) == 1
    assert isinstance(inner[0].get_layer("inner_dense"), QuantDense)
    assert type(quantized.get_layer("head")) is keras.layers.Dense
    # Weights copied: once its ranges are learned (training-mode calls), the
    # fake-quantized output stays close to the float one.
    x = _x()
    for _ in range(50):
        quantized(x, training=True)
    error = np.max(np.abs(_np(quantized(x)) - _np(model(x))))
    assert error < 0.1


def test_ptq_reaches_a_nested_layer_by_name():
    quantized, _ = ptq.quantize(_nested(), "int8", layers=["inner_dense"])
    assert _layer(quantized, "inner", "inner_dense").quantization_mode == "int8"
    assert quantized.get_layer("head").quantization_mode is None


def test_lora_reaches_a_nested_layer_by_name():
    model = lora.enable_lora(_nested(), 2, layers=["inner_dense"])
    assert _layer(model, "inner", "inner_dense").lora_enabled
    assert not model.get_layer("head").lora_enabled


@pytest.mark.parametrize(
    "step",
    [
        lambda m: pruning.prune_low_magnitude(m, layers=["iner_dense"]),
        lambda m: clustering.cluster_weights(m, 2, layers=["iner_dense"]),
        lambda m: qat.quantize_model(m, layers=["iner_dense"]),
        lambda m: ptq.quantize(m, "int8", layers=["iner_dense"]),
        lambda m: lora.enable_lora(m, 2, layers=["iner_dense"]),
    ],
    ids=["prune", "cluster", "qat", "ptq", "lora"],
)
def test_every_step_names_the_unknown_layer_and_the_closest(step):
    with pytest.raises(ValueError, match=r"'iner_dense'.*Did you mean 'inner_dense'"):
        step(_nested())


def test_a_nested_model_name_selects_its_supported_layers():
    model = _nested()
    chosen = select_layers(
        model,
        ["inner"],
        accepts=lambda layer: isinstance(layer, keras.layers.Dense),
        what="test",
        supported=["Dense"],
    )
    assert [layer.name for layer in chosen] == ["inner_dense"]
    assert [layer.name for layer in graph_layers(model)] == [
        "inner",
        "inner_dense",
        "inner_relu",
        "head",
    ]


@pytest.fixture(scope="module")
def hub_bert():
    pytest.importorskip("keras_hub")
    return kerasdl.build("hub_bert", **get_entry("hub_bert").tiny)


def test_keras_hub_backbone_layers_are_found_by_name(hub_bert):
    names = {layer.name for layer in walk_layers(hub_bert)}
    assert {"pooled_dense", "feedforward_intermediate_dense", "query"} <= names


def test_ptq_and_lora_reach_into_a_keras_hub_backbone(hub_bert):
    targets = ["pooled_dense", "feedforward_intermediate_dense"]
    quantized, _ = ptq.quantize(hub_bert, "int8", layers=targets)
    modes = {
        layer.name: layer.quantization_mode
        for layer in walk_layers(quantized)
        if isinstance(layer, keras.layers.Dense)
    }
    assert modes["pooled_dense"] == modes["feedforward_intermediate_dense"] == "int8"
    assert modes["predictions"] is None
    adapted = lora.enable_lora(keras.models.clone_model(hub_bert), 2, layers=targets)
    enabled = [layer.name for layer in lora.lora_layers(adapted)]
    assert sorted(enabled) == sorted(targets)


def _text_batch(n=16, length=16):
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(0, 4, size=(n, length)).astype("int32"),
        "segment_ids": rng.integers(0, 4, size=(n, length)).astype("int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }
    return x, rng.integers(0, 3, size=(n,))


def _backbone(model):
    return model.get_layer("bert").model


def _round_trip(model, tmp_path, x):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
    return loaded


def _fit(model, x, y, epochs=1):
    return kerasdl.Trainer({"epochs": epochs, "batch_size": 8, "verbose": 0}).fit(
        model, x, y
    )


def test_prune_reaches_into_a_keras_hub_backbone(hub_bert, tmp_path):
    pruned = pruning.prune_low_magnitude(
        hub_bert, ConstantSparsity(0.5, 0, frequency=1), layers=["pooled_dense"]
    )
    wrapped = _backbone(pruned).get_layer("prune_low_magnitude_pooled_dense")
    assert isinstance(wrapped, PruneLowMagnitude)
    assert type(pruned.get_layer("predictions")) is keras.layers.Dense
    assert isinstance(_backbone(hub_bert).get_layer("pooled_dense"), keras.layers.Dense)
    x, y = _text_batch()
    _fit(pruned, x, y)  # the Trainer adds UpdatePruningStep from inside the backbone
    assert pruning.sparsity(pruned)["pooled_dense"] == pytest.approx(0.5)
    loaded = _round_trip(pruned, tmp_path, x)
    assert isinstance(
        _backbone(loaded).get_layer("prune_low_magnitude_pooled_dense"),
        PruneLowMagnitude,
    )
    stripped = pruning.strip_pruning(pruned)
    assert not any(
        isinstance(layer, PruneLowMagnitude) for layer in walk_layers(stripped)
    )
    dense = _backbone(stripped).get_layer("pooled_dense")
    assert type(dense) is keras.layers.Dense
    kernel = _np(dense.kernel)
    assert np.mean(kernel == 0) == pytest.approx(0.5)
    np.testing.assert_allclose(
        stripped.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-5
    )
    _round_trip(stripped, tmp_path, x)


def test_cluster_reaches_into_a_keras_hub_backbone(hub_bert, tmp_path):
    clustered = clustering.cluster_weights(hub_bert, 3, layers=["pooled_dense"])
    wrapped = [
        layer
        for layer in _backbone(clustered).layers
        if isinstance(layer, ClusterWeights)
    ]
    assert [layer.layer.name for layer in wrapped] == ["pooled_dense"]
    x, y = _text_batch()
    _fit(clustered, x, y)
    _round_trip(clustered, tmp_path, x)
    stripped = clustering.strip_clustering(clustered)
    dense = _backbone(stripped).get_layer("pooled_dense")
    assert type(dense) is keras.layers.Dense
    assert len(np.unique(_np(dense.kernel))) <= 3
    _round_trip(stripped, tmp_path, x)


def test_qat_reaches_into_a_keras_hub_backbone(hub_bert, tmp_path):
    quantized = qat.quantize_model(hub_bert, layers=["pooled_dense"])
    assert isinstance(_backbone(quantized).get_layer("pooled_dense"), QuantDense)
    assert type(quantized.get_layer("predictions")) is keras.layers.Dense
    x, y = _text_batch()
    before = _np(_backbone(quantized).get_layer("pooled_dense").kernel).copy()
    history = _fit(quantized, x, y, epochs=2)
    assert np.all(np.isfinite(history.history["loss"]))
    after = _np(_backbone(quantized).get_layer("pooled_dense").kernel)
    assert not np.allclose(before, after)  # the quantized layer trains
    _round_trip(quantized, tmp_path, x)


@pytest.mark.parametrize(
    "step",
    [
        lambda m: pruning.prune_low_magnitude(
            m, layers=["feedforward_intermediate_dense"]
        ),
        lambda m: clustering.cluster_weights(
            m, 2, layers=["feedforward_intermediate_dense"]
        ),
        lambda m: qat.quantize_model(m, layers=["feedforward_intermediate_dense"]),
    ],
    ids=["prune", "cluster", "qat"],
)
def test_graph_rebuilding_steps_name_the_composite_layer_that_hides_it(hub_bert, step):
    # A transformer block's dense layers are attributes of the block, not
    # nodes of any graph: prune, cluster and qat, which clone graphs, say so.
    with pytest.raises(
        ValueError,
        match=r"'feedforward_intermediate_dense'.*inside layer 'transformer_layer_0'",
    ):
        step(hub_bert)


@pytest.mark.parametrize(
    "step",
    [
        lambda m: pruning.prune_low_magnitude(m),
        lambda m: clustering.cluster_weights(m, 2),
        lambda m: qat.quantize_model(m),
    ],
    ids=["prune", "cluster", "qat"],
)
def test_graph_steps_without_a_selection_leave_the_backbone_as_it_is(hub_bert, step):
    # layers=None compresses the graph's own layers; the backbone is entered
    # only when `layers` names something inside it.
    compressed = step(hub_bert)
    assert type(_backbone(compressed)) is type(_backbone(hub_bert))
    assert type(_backbone(compressed).get_layer("pooled_dense")) is keras.layers.Dense
    # The head (the last layer, or its output quantizer) is compressed.
    assert type(compressed.layers[-1]) is not keras.layers.Dense
