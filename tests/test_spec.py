"""The spec language: every form, the round trip, and every validation error."""

import keras
import numpy as np
import pytest
import yaml

import kerasdl
from kerasdl.spec import load_spec

RESIDUAL = """
name: tiny_resnet
inputs: {image: [8, 8, 3]}
blocks:
  residual:
    inputs: [x]
    nodes:
      - {name: conv, layer: Conv2D, inputs: x,
         args: {filters: "${filters}", kernel_size: 3, padding: same}}
      - {name: add, layer: Add, inputs: [conv, x]}
    outputs: add
nodes:
  - {name: stem, layer: Conv2D, args: {filters: 4, kernel_size: 3, padding: same},
     inputs: image}
  - {name: stage1, block: residual, repeat: 3, params: {filters: 4}, inputs: stem}
  - {name: pool, layer: GlobalAveragePooling2D, inputs: stage1}
  - {name: head, layer: Dense, args: {units: 10}, inputs: pool}
outputs: head
"""

LENET_SEQ = {
    "name": "lenet_seq",
    "input_shape": [32, 32, 1],
    "sequential": [
        {"Conv2D": {"filters": 6, "kernel_size": 5, "activation": "tanh"}},
        {"AveragePooling2D": {"pool_size": 2}},
        {"Conv2D": {"filters": 16, "kernel_size": 5, "activation": "tanh"}},
        {"AveragePooling2D": {"pool_size": 2}},
        {"Conv2D": {"filters": 120, "kernel_size": 5, "activation": "tanh"}},
        "Flatten",
        {"Dense": {"units": 84, "activation": "tanh"}},
        {"Dense": {"units": 10, "activation": "softmax"}},
    ],
}


def test_named_spec_forms_agree(tmp_path):
    a = kerasdl.build("resnet20", num_classes=4)
    b = kerasdl.build({"model": "resnet20", "num_classes": 4})
    c = kerasdl.build("model: resnet20\nnum_classes: 4\n")
    path = tmp_path / "spec.yaml"
    path.write_text("model: resnet20\nnum_classes: 4\n")
    d = kerasdl.build(str(path))
    e = kerasdl.build({"model": "resnet20", "num_classes": 10}, num_classes=4)
    specs = [kerasdl.to_spec(m) for m in (a, b, c, d, e)]
    assert all(s == specs[0] for s in specs)
    assert a.output.shape == (None, 4)


def test_sequential_spec_builds_lenet_with_paper_params():
    model = kerasdl.build(LENET_SEQ)
    assert isinstance(model, keras.Sequential)
    assert model.count_params() == 61_706
    assert [type(layer).__name__ for layer in model.layers][:2] == [
        "Conv2D",
        "AveragePooling2D",
    ]


def test_functional_spec_repeats_blocks_and_connects_skips():
    model = kerasdl.build(RESIDUAL)
    names = [layer.name for layer in model.layers]
    assert names == [
        "image",
        "stem",
        "stage1_1_conv",
        "stage1_1_add",
        "stage1_2_conv",
        "stage1_2_add",
        "stage1_3_conv",
        "stage1_3_add",
        "pool",
        "head",
    ]
    add2 = model.get_layer("stage1_2_add")
    parents = [n.operation.name for n in add2._inbound_nodes[0].parent_nodes]
    assert parents == ["stage1_2_conv", "stage1_1_add"]
    # 4 convs of 3*3*c*4 + 4 plus the head.
    assert model.count_params() == (3 * 3 * 3 * 4 + 4) + 3 * (3 * 3 * 4 * 4 + 4) + 50


@pytest.mark.parametrize("source", ["functional", "sequential"])
def test_to_spec_round_trip_is_identical(source):
    model = kerasdl.build(RESIDUAL if source == "functional" else LENET_SEQ)
    spec = kerasdl.to_spec(model)
    rebuilt = kerasdl.build(yaml.safe_dump(spec))
    assert kerasdl.to_spec(rebuilt) == spec
    assert rebuilt.get_config()["layers"] == model.get_config()["layers"]
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, *model.inputs[0].shape[1:]))
    np.testing.assert_allclose(
        rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_multi_input_multi_output_and_call_arguments_round_trip():
    spec = {
        "name": "two_heads",
        "inputs": {"tokens": [5, 8], "context": [3, 8]},
        "nodes": [
            {
                "name": "attn",
                "layer": "MultiHeadAttention",
                "args": {"num_heads": 2, "key_dim": 4},
                "inputs": {"query": "tokens", "value": "context"},
                "call": {"return_attention_scores": True},
            },
            {
                "name": "cat",
                "layer": "Concatenate",
                "args": {"axis": -1},
                "inputs": ["attn:0", "tokens"],
            },
            {"name": "out_a", "layer": "Dense", "args": {"units": 2}, "inputs": "cat"},
            {"name": "scores", "layer": "Flatten", "inputs": "attn:1"},
        ],
        "outputs": {"a": "out_a", "scores": "scores"},
    }
    model = kerasdl.build(spec)
    assert model.output["a"].shape == (None, 5, 2)
    assert len(model.output["scores"].shape) == 2
    again = kerasdl.to_spec(model)
    assert again["nodes"][0]["inputs"] == {"query": "tokens", "value": "context"}
    assert again["nodes"][0]["call"] == {"return_attention_scores": True}
    assert kerasdl.to_spec(kerasdl.build(again)) == again


# ---------------------------------------------------------------- errors
def _nodes(*nodes, outputs="d", inputs=None):
    return {"inputs": inputs or {"x": [4]}, "nodes": list(nodes), "outputs": outputs}


DENSE = {"name": "d", "layer": "Dense", "args": {"units": 2}, "inputs": "x"}

ERRORS = {
    "unknown model": (
        "resnt20",
        r"Unknown architecture 'resnt20'\. Did you mean 'resnet20'",
    ),
    "unknown model in spec": ({"model": "vgg61"}, r"'vgg61'\. Did you mean .*'vgg16'"),
    "unknown hyperparameter": (
        {"model": "resnet20", "num_clases": 3},
        r"Unknown hyperparameter 'num_clases'.*Did you mean 'num_classes'.*Accepted:",
    ),
    "bad hyperparameter value": (
        {"model": "resnet20", "num_classes": -3},
        r"num_classes=-3",
    ),
    "fixed preset": (
        {"model": "vgg16", "depth": 19},
        r"'depth' is fixed to 16 by .*vgg16",
    ),
    "no form": (
        {"num_classes": 3},
        r"exactly one of the keys \['model', 'sequential', 'nodes'\]",
    ),
    "two forms": (
        {"model": "mlp", "sequential": ["Flatten"]},
        r"exactly one of the keys",
    ),
    "unknown top key": (
        {"sequential": ["Flatten"], "input_shap": [3]},
        r"Unknown key 'input_shap' in spec\. Did you mean 'input_shape'",
    ),
    "not a mapping": ("[1, 2]", r"must be a mapping"),
    "bad yaml": ("model: [unclosed", r"Could not parse spec string as YAML"),
    "python tag": ("!!python/object/apply:os.system ['true']", r"Could not parse"),
    "missing file": (
        "nowhere/spec.yaml",
        r"Spec file 'nowhere/spec.yaml' does not exist",
    ),
    "unknown layer": (
        {
            "sequential": [{"Conv2d": {"filters": 2, "kernel_size": 3}}],
            "input_shape": [8, 8, 1],
        },
        r"spec\.sequential\[0\].*unknown layer 'Conv2d'\. Did you mean 'Conv2D'",
    ),
    "unknown layer argument": (
        {
            "sequential": [{"Conv2D": {"filter": 2, "kernel_size": 3}}],
            "input_shape": [8, 8, 1],
        },
        r"spec\.sequential\[0\].*invalid arguments for layer 'Conv2D'.*unknown argument 'filter'\. Did you mean 'filters'.*Accepted arguments: filters",
    ),
    "bad layer value": (
        {"sequential": [{"Dense": {"units": -3}}], "input_shape": [4]},
        r"spec\.sequential\[0\].*units=-3",
    ),
    "lambda layer": (
        {"sequential": [{"Lambda": {"function": "x"}}], "input_shape": [4]},
        r"'Lambda' is not allowed; specs never execute code",
    ),
    "nested lambda": (
        {
            "sequential": [
                {"TimeDistributed": {"layer": {"class_name": "Lambda", "config": {}}}}
            ],
            "input_shape": [3, 4],
        },
        r"'Lambda' is not allowed",
    ),
    "sequential shape mismatch": (
        {
            "sequential": [
                {"Dense": {"units": 4}},
                {"Conv2D": {"filters": 2, "kernel_size": 3}},
            ],
            "input_shape": [4],
        },
        r"spec\.sequential\[1\].*'Conv2D' cannot be applied",
    ),
    "dangling input": (
        _nodes(dict(DENSE, inputs="y")),
        r"spec\.nodes\[0\] \('d'\): input 'y' is not defined.*Defined inputs and nodes: d, x",
    ),
    "cycle": (
        _nodes(
            {"name": "a", "layer": "Dense", "args": {"units": 4}, "inputs": "c"},
            {"name": "b", "layer": "Dense", "args": {"units": 4}, "inputs": "a"},
            {"name": "c", "layer": "Dense", "args": {"units": 4}, "inputs": "b"},
            outputs="c",
        ),
        r"cycle between nodes a -> c -> b -> a",
    ),
    "duplicate node": (
        _nodes(DENSE, DENSE),
        r"spec\.nodes\[1\] \('d'\): duplicate name 'd'",
    ),
    "functional shape mismatch": (
        _nodes(
            {"name": "a", "layer": "Dense", "args": {"units": 3}, "inputs": "x"},
            {"name": "d", "layer": "Add", "inputs": ["a", "x"]},
        ),
        r"spec\.nodes\[1\] \('d'\): layer 'Add' cannot be applied to its inputs \(shapes",
    ),
    "missing inputs": (
        _nodes({"name": "d", "layer": "Dense", "args": {"units": 2}}),
        r"\('d'\): missing key 'inputs'",
    ),
    "unknown node key": (
        _nodes(dict(DENSE, argz={})),
        r"Unknown key 'argz'.*Did you mean 'args'",
    ),
    "unknown output": (
        _nodes(DENSE, outputs="e"),
        r"spec\.outputs: 'e' is not defined",
    ),
    "bad input shape": (
        _nodes(DENSE, inputs={"x": [0, 4]}),
        r"spec\.inputs\.x: invalid shape \[0, 4\]",
    ),
    "unknown block": (
        _nodes({"name": "d", "block": "res", "inputs": "x"}),
        r"unknown block 'res'\. Defined blocks: \(none\)",
    ),
    "bad repeat": (
        {
            **_nodes({"name": "d", "block": "b", "repeat": 0, "inputs": "x"}),
            "blocks": {"b": {"inputs": ["x"], "nodes": [DENSE], "outputs": "d"}},
        },
        r"invalid repeat=0",
    ),
    "missing block param": (
        {
            **_nodes({"name": "d", "block": "b", "inputs": "x"}),
            "blocks": {
                "b": {
                    "inputs": ["x"],
                    "outputs": "d",
                    "nodes": [dict(DENSE, args={"units": "${width}"})],
                }
            },
        },
        r"parameter '\$\{width\}' is not given",
    ),
    "bad output index": (
        _nodes(DENSE, outputs="d:3"),
        r"'d:3' selects output 3 of 'd', which has 1 output",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_validation_errors_name_the_value_and_the_options(case):
    spec, pattern = ERRORS[case]
    with pytest.raises(ValueError, match=pattern):
        kerasdl.build(spec)


def test_hyperparameters_for_a_graph_spec_are_refused():
    with pytest.raises(ValueError, match=r"apply to named architectures only"):
        kerasdl.build(LENET_SEQ, num_classes=3)


def test_load_spec_reads_json_files(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"model": "mlp", "num_classes": 3}')
    assert load_spec(path) == {"model": "mlp", "num_classes": 3}


def test_to_spec_refuses_shared_layers_and_raw_ops():
    x = keras.Input((4,))
    dense = keras.layers.Dense(4, name="shared")
    shared = keras.Model(x, dense(dense(x)))
    with pytest.raises(ValueError, match=r"layer 'shared' is called 2 times"):
        kerasdl.to_spec(shared)
    raw = keras.Model(x, keras.ops.relu(keras.layers.Dense(4)(x)))
    if any(not isinstance(op, keras.layers.Layer) for op in raw.operations):
        with pytest.raises(ValueError, match=r"raw operation"):
            kerasdl.to_spec(raw)


def test_input_order_survives_yaml_key_sorting():
    # Inputs named against alphabetical order: a YAML dump sorts the mapping,
    # and `input_order` keeps the model's positional order.
    tokens = keras.Input((4,), name="tokens")
    mask = keras.Input((4,), name="attention")
    scaled = keras.layers.Rescaling(2.0, name="scale")(tokens)
    out = keras.layers.Subtract(name="diff")([scaled, mask])
    model = keras.Model([tokens, mask], out)
    spec = kerasdl.to_spec(model)
    assert spec["input_order"] == ["tokens", "attention"]
    rebuilt = kerasdl.build(yaml.safe_dump(spec))
    a = np.ones((1, 4), "float32")
    b = np.full((1, 4), 5.0, "float32")
    np.testing.assert_allclose(rebuilt([a, b]), model([a, b]))
    bad = {**spec, "input_order": ["tokens"]}
    with pytest.raises(ValueError, match="input_order must list every input"):
        kerasdl.build(bad)
