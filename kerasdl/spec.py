"""Declarative model specs: dict / YAML -> keras.Model, and back.

Three spec forms, given as a dict, a YAML string or a YAML/JSON file path:

Named architecture (hyperparameters beside the name)::

    model: resnet20
    num_classes: 10

Sequential layer list (any Keras layer class by name, or a kerasdl layer)::

    name: lenet
    input_shape: [32, 32, 1]
    sequential:
      - Conv2D: {filters: 6, kernel_size: 5, activation: tanh}
      - AveragePooling2D: {}
      - Flatten            # a bare name means "no arguments"
      - Dense: {units: 10, activation: softmax}

Functional graph of named nodes (skips, branches, several inputs/outputs),
with reusable blocks repeated without copying::

    name: tiny_resnet
    inputs: {image: [32, 32, 3]}
    blocks:
      residual:                     # a template with formal input "x"
        inputs: [x]
        nodes:
          - {name: conv, layer: Conv2D,
             args: {filters: ${filters}, kernel_size: 3, padding: same},
             inputs: x}
          - {name: add, layer: Add, inputs: [conv, x]}
        outputs: add
    nodes:
      - {name: stem, layer: Conv2D, args: {filters: 16, kernel_size: 3,
         padding: same}, inputs: image}
      - {name: stage1, block: residual, repeat: 3, params: {filters: 16},
         inputs: stem}
      - {name: pool, layer: GlobalAveragePooling2D, inputs: stage1}
      - {name: head, layer: Dense, args: {units: 10}, inputs: pool}
    outputs: head

A node's `inputs` is a node name (the layer gets one tensor), a list (the
layer gets a list, as merge layers expect), or a mapping of call-argument
names to node names (`{query: q, value: v}`); `call` holds constant call
arguments (`{training: false}`). "name:1" refers to the second output of a
multi-output node. Inside a block, a value written exactly "${param}" is
replaced by that block parameter; repeated instances are named
"<node>_<k>_<inner>" and chained output to input.

Specs never execute code: YAML is read by `kerasdl._io.parse_yaml` (safe
loading without Python object tags, with size and alias-expansion limits),
layer classes come only from `keras.layers` and kerasdl's registered layers,
and `Lambda` or any serialized Python function is refused.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import re
from typing import Any

import keras

from kerasdl._checks import (
    check_bool,
    check_mapping,
    check_size_budget,
    closest,
    estimate_layer,
    invalid,
    is_int,
    is_number,
    is_shape,
    max_layers,
    short_repr,
)
from kerasdl._io import check_tree, is_config_path, load_yaml, to_plain
from kerasdl.registry import build_model, get_entry

__all__ = ["build", "fill_from_data", "load_spec", "to_spec"]

_SPEC_FORMS = ("model", "sequential", "nodes")
_TOP_KEYS = {
    "model": None,  # named specs take any builder hyperparameter beside "model"
    "sequential": {"sequential", "input_shape", "input_name", "name", "dtype"},
    "nodes": {"nodes", "inputs", "input_order", "outputs", "blocks", "name"},
}
_NODE_KEYS = {"name", "layer", "args", "inputs", "call", "block", "repeat", "params"}
_BLOCK_KEYS = {"inputs", "nodes", "outputs"}
# Classes or markers whose deserialization would run user code.
_FORBIDDEN = {"Lambda", "TFSMLayer", "__lambda__", "function", "__python_function__"}
# Keyword arguments every Keras layer takes through **kwargs.
_BASE_LAYER_ARGS = ("name", "dtype", "trainable", "autocast", "input_shape")
_PARAM = re.compile(r"^\$\{(\w+)\}$")
# Input dtypes a spec may declare; "string" only feeds the layers below.
_INPUT_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "string",
)
_STRING_LAYERS = frozenset({"StringLookup", "TextVectorization", "Hashing"})
# Largest dimension of a declared input: what every backend's int32 shapes hold.
_MAX_DIM = 2**31 - 1
# Layer arguments that are sizes or counts (integers, or lists of them) in
# every Keras layer that has them, whatever their default.
_INT_ARGS = frozenset(
    {
        "units",
        "filters",
        "kernel_size",
        "strides",
        "pool_size",
        "dilation_rate",
        "output_dim",
        "input_dim",
        "num_heads",
        "key_dim",
        "value_dim",
        "n",
        "size",
        "cropping",
        "padding",
        "depth_multiplier",
        "groups",
        "num_tokens",
        "max_tokens",
        "num_bins",
        "target_shape",
    }
)
_MODEL_CLASSES = {
    "Functional": keras.Model,
    "Model": keras.Model,
    "Sequential": keras.Sequential,
}


# ---------------------------------------------------------------- loading
def fill_from_data(spec, input_shape, num_classes) -> Any:
    """A named spec completed with the data's input shape and class count.

    A bare architecture name becomes `{"model": name}`; a named spec (a dict
    with "model") gets `input_shape` and `num_classes` unless it sets them;
    anything else (a spec or .keras file path, a layer-list or graph spec)
    is returned as it is.

    Args:
        spec: str, dict or os.PathLike. What `build` takes.
        input_shape: Sequence of int. The data's input shape (no batch axis).
        num_classes: int. The data's number of classes.

    Returns:
        The spec to build.

    Example:
    >>> fill_from_data("lenet5", (28, 28, 1), 10)
    {'model': 'lenet5', 'input_shape': [28, 28, 1], 'num_classes': 10}
    """
    if isinstance(spec, str) and not (
        is_config_path(spec) or spec.lower().endswith(".keras")
    ):
        spec = {"model": spec}
    if isinstance(spec, dict) and "model" in spec:
        spec = dict(spec)
        spec.setdefault("input_shape", list(input_shape))
        spec.setdefault("num_classes", int(num_classes))
    return spec


def load_spec(source) -> Any:
    """Reads a spec from a dict, a YAML/JSON string or a file path.

    Args:
        source: dict, str (YAML text or path of a .yaml/.yml/.json file) or
            os.PathLike.

    Returns:
        The parsed spec (a dict, or a str for a bare architecture name).

    Raises:
        ValueError: for unreadable YAML or an unsupported type.
    """
    if isinstance(source, dict):
        check_tree(source, "spec")
        return copy.deepcopy(source)
    if is_config_path(source) or isinstance(source, str):
        return load_yaml(source, "Spec file", text_where="spec string")
    raise ValueError(
        f"A spec must be a dict, a YAML string or a file path; received "
        f"{type(source).__name__}: {short_repr(source)}."
    )


# ---------------------------------------------------------------- build
def build(name_or_spec, **hparams) -> keras.Model:
    """Builds a model from an architecture name or a declarative spec.

    Args:
        name_or_spec: str, dict or path. A registered architecture name
            ("resnet20"), a spec dict, a YAML string or a YAML/JSON file path
            (see the module docstring for the three spec forms).
        **hparams: Hyperparameters for a named architecture; they override
            the values written in a named spec.

    Returns:
        A `keras.Model` (Functional or Sequential).

    Raises:
        ValueError: naming the offending key, node or hyperparameter, the
            value received and the accepted values.

    Example:
    >>> model = kerasdl.build("lenet5", num_classes=10)
    >>> model = kerasdl.build({"model": "resnet20", "num_classes": 10})
    """
    if isinstance(name_or_spec, str) and _is_registered_name(name_or_spec):
        return build_model(name_or_spec, **hparams)
    spec = load_spec(name_or_spec)
    if isinstance(spec, str):  # a bare (probably misspelled) architecture name
        get_entry(spec)  # raises with the closest names
        return build_model(spec, **hparams)
    if not isinstance(spec, dict):
        raise ValueError(
            f"A spec must be a mapping with one of the keys {list(_SPEC_FORMS)}; "
            f"received {type(spec).__name__}: {short_repr(spec)}."
        )
    forms = [k for k in _SPEC_FORMS if k in spec]
    if len(forms) != 1:
        raise ValueError(
            f"A spec needs exactly one of the keys {list(_SPEC_FORMS)} "
            f"(named architecture, layer list or graph); received keys "
            f"{short_repr(list(spec))}."
        )
    form = forms[0]
    if form == "model":
        spec_hparams = {k: v for k, v in spec.items() if k != "model"}
        for key in spec_hparams:
            if not isinstance(key, str):
                raise ValueError(
                    f"Invalid key {short_repr(key)} in spec: hyperparameter "
                    "names are strings."
                )
        return build_model(spec["model"], **{**spec_hparams, **hparams})
    if hparams:
        raise ValueError(
            f"Hyperparameters {short_repr(sorted(hparams))} apply to named architectures "
            f"only; this spec is a {form!r} spec."
        )
    _check_keys("spec", spec, _TOP_KEYS[form])
    for key in ("name", "input_name"):
        if spec.get(key) is not None:
            _check_name(f"spec.{key}", spec[key])
    _refuse_code(spec, "spec")
    if form == "sequential":
        return _build_sequential(spec)
    return _build_functional(spec)


def _is_registered_name(name: str) -> bool:
    try:
        get_entry(name)
    except ValueError:
        return False
    return True


def _check_keys(where: str, mapping: dict, accepted) -> None:
    for key in mapping:
        if key not in accepted:
            raise ValueError(
                f"Unknown key {short_repr(key)} in {where}.{closest(key, accepted)} "
                f"Accepted keys: {', '.join(sorted(accepted))}."
            )


def _refuse_code(obj, where: str, seen: set | None = None) -> None:
    """Rejects anything whose deserialization would execute code.

    Each container is visited once (`seen` holds their ids): a value shared
    through YAML aliases is checked once, not once per reference.
    """
    seen = set() if seen is None else seen
    if isinstance(obj, (dict, list)):
        if id(obj) in seen:
            return
        seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            forbidden = _is_forbidden(key) or (
                key == "class_name" and _is_forbidden(value)
            )
            if forbidden:
                name = value if key == "class_name" else key
                raise ValueError(
                    f"{where}: {short_repr(name)} is not allowed; specs never execute code "
                    "(no Lambda layers or serialized Python functions)."
                )
            _refuse_code(value, f"{where}.{short_repr(key, limit=40)}", seen)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _refuse_code(value, f"{where}[{i}]", seen)


def _is_forbidden(value) -> bool:
    return isinstance(value, str) and value in _FORBIDDEN


def _layer_names() -> list[str]:
    names = [
        n
        for n, obj in vars(keras.layers).items()
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
    ]
    names += [
        key.split(">", 1)[1]
        for key in keras.saving.get_custom_objects()
        if key.startswith("kerasdl>")
    ]
    return sorted(set(names) | set(_MODEL_CLASSES))


def _layer_class(name, where: str):
    import kerasdl.layers  # noqa: F401  (registers kerasdl layers)

    if not isinstance(name, str):
        raise ValueError(
            f"{where}: layer must be a class name; received {short_repr(name)}."
        )
    if name in _FORBIDDEN:
        raise ValueError(
            f"{where}: layer {short_repr(name)} is not allowed; specs never execute code. "
            "Write the computation as a kerasdl layer instead."
        )
    if name in _MODEL_CLASSES:
        return _MODEL_CLASSES[name]
    cls = getattr(keras.layers, name, None)
    if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
        return cls
    registered = name if ">" in name else f"kerasdl>{name}"
    cls = keras.saving.get_registered_object(registered)
    if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
        return cls
    known = _layer_names()
    hint = closest(name, known) or (
        " Did you mean " + repr(difflib.get_close_matches(name, known, 1, 0.0)[0]) + "?"
    )
    raise ValueError(
        f"{where}: unknown layer {short_repr(name)}.{hint} Accepted: any class in "
        "keras.layers or a kerasdl layer (kerasdl.layers)."
    )


def _make_layer(class_name, args, name: str | None, where: str, inputs=None):
    """The layer a spec item describes, checked before it is built.

    Args:
        class_name: str. Layer class name.
        args: dict or None. Its arguments as written.
        name: str or None. The layer name.
        where: str. The spec node, for errors.
        inputs: Any. The (symbolic) tensors it will be applied to, when
            known: their shapes size the weight estimate and their dtypes
            are checked against the layer.
    """
    cls = _layer_class(class_name, where)
    args = check_mapping(
        f"{where}: arguments of layer {short_repr(class_name)}",
        args,
        none_is_empty=True,
    )
    accepted = [
        p
        for p in inspect.signature(cls.__init__).parameters
        if p not in ("self", "args", "kwargs")
    ]
    accepted += [p for p in _BASE_LAYER_ARGS if p not in accepted]
    _check_layer_args(cls, class_name, args, where)
    shapes = [
        tuple(t.shape)
        for t in keras.tree.flatten(inputs)
        if hasattr(t, "shape") and hasattr(t, "dtype")
    ]
    if class_name not in _STRING_LAYERS:
        for t in keras.tree.flatten(inputs):
            if getattr(t, "dtype", None) == "string":
                raise ValueError(
                    f"{where}: layer {short_repr(class_name)} cannot take string inputs; "
                    f"a string input feeds one of {sorted(_STRING_LAYERS)} first."
                )
    estimate = estimate_layer(args, shapes[0] if shapes else None)
    check_size_budget(f"{where}: layer {short_repr(class_name)}", estimate)
    config = dict(args)
    if name is not None:
        config["name"] = name
    try:
        return cls.from_config(config)
    except Exception as err:  # Keras' KeyError, AttributeError, ...: named here
        unknown = [k for k in args if k not in accepted]
        problem = (
            f"unknown argument {short_repr(unknown[0])}.{closest(unknown[0], accepted)}"
            if unknown
            else _keras_message(err)
        )
        raise ValueError(
            f"{where}: invalid arguments for layer {short_repr(class_name)} "
            f"(received {short_repr(args)}): {problem} Accepted arguments: "
            f"{', '.join(accepted)}."
        ) from None


def _keras_message(err: BaseException, limit: int = 400) -> str:
    """An exception from inside Keras as one bounded line."""
    text = " ".join(str(err).split())
    if len(text) > limit:
        text = text[:limit] + "..."
    if isinstance(err, (TypeError, ValueError)):
        return text
    return f"{type(err).__name__}: {text or '(no message)'}"


def _check_layer_args(cls, class_name: str, args: dict, where: str) -> None:
    """Refuses values whose type cannot be what the argument takes.

    Keras stores many arguments without checking them (`Conv2D(filters=True)`
    builds one filter, `use_bias="no"` is true); a bool where the default
    is a bool, and an integer (or a list of integers) where the argument
    is a size, are required here.
    """
    params = inspect.signature(cls.__init__).parameters
    for key, value in args.items():
        if not isinstance(key, str):
            raise ValueError(
                f"{where}: argument names of layer {short_repr(class_name)} are strings; "
                f"received {short_repr(key)}."
            )
        param = params.get(key)
        default = param.default if param is not None else inspect.Parameter.empty
        context = f"{where}: argument of layer {short_repr(class_name)}"
        if isinstance(default, bool):
            check_bool(key, value, allow_none=True, where=context, yaml=True)
        elif key in _INT_ARGS or is_number(default):
            items = value if isinstance(value, (list, tuple)) else [value]
            nested = key in ("padding", "cropping")  # ((top, bottom), ...)
            for item in items[:64]:
                if item is None or is_number(item):
                    continue
                if nested and isinstance(item, (str, list, tuple)):
                    continue  # Conv's padding="same" shares the name
                raise invalid(
                    key,
                    value,
                    "an integer or a list of integers"
                    if key in _INT_ARGS
                    else "a number",
                    where=context,
                )
            if key in _INT_ARGS:
                for item in items[:64]:
                    if is_int(item) and abs(item) > _MAX_DIM:
                        raise invalid(
                            key,
                            value,
                            f"integers of at most {_MAX_DIM:,} in magnitude "
                            "(int32, what every backend's shapes hold)",
                            where=context,
                        )


def _input_tensor(name: str, value, where: str):
    if isinstance(value, dict):
        _check_keys(where, value, {"shape", "dtype", "sparse"})
        shape = value.get("shape")
        dtype = value.get("dtype")
        sparse = value.get("sparse", False)
    else:
        shape, dtype, sparse = value, None, False
    if not is_shape(shape) or any(d is not None and d > _MAX_DIM for d in shape):
        raise ValueError(
            f"{where}: invalid shape {short_repr(shape)}; expected a list of "
            f"positive integers (at most {_MAX_DIM:,}) or nulls, without the "
            "batch dimension."
        )
    if dtype is not None and dtype not in _INPUT_DTYPES:
        raise invalid(
            "dtype",
            dtype,
            hint=closest(dtype, _INPUT_DTYPES),
            options=_INPUT_DTYPES,
            where=f"{where}:",
        )
    check_bool("sparse", sparse, where=f"{where}:", yaml=True)
    size = 1
    for d in shape:
        size *= d or 1
    check_size_budget(f"{where}: input {short_repr(name)}", size)
    return keras.Input(shape=tuple(shape), dtype=dtype, sparse=sparse, name=name)


def _apply(layer, node_name: str, class_name, args_in, where: str):
    """Calls `layer` on resolved inputs, turning Keras errors into clear ones."""
    positional, kwargs = args_in
    try:
        return layer(*positional, **kwargs)
    except Exception as err:  # re-raised with the node named
        shapes = [
            tuple(t.shape)
            for t in keras.tree.flatten((list(positional), dict(kwargs)))
            if hasattr(t, "shape")
        ]
        raise ValueError(
            f"{where}: layer {short_repr(class_name)} cannot be applied to its inputs "
            f"(shapes {short_repr(shapes)}): {_keras_message(err)}"
        ) from None


class _Budget:
    """Sums a spec's weights and activations, layer by layer, under the limit."""

    def __init__(self):
        self.total = 0

    def add_outputs(self, where: str, outputs) -> None:
        """Adds one sample's output values of a layer (its symbolic outputs)."""
        for t in keras.tree.flatten(outputs):
            size = 1
            for d in getattr(t, "shape", ())[1:]:
                size *= d if is_int(d) and d > 0 else 1
            self.total += size
        check_size_budget(where, self.total)


# ---------------------------------------------------------------- sequential
def _build_sequential(spec: dict) -> keras.Sequential:
    items = spec["sequential"]
    if not isinstance(items, list) or not items:
        raise ValueError(
            f"spec.sequential must be a non-empty list of layers; received {short_repr(items)}."
        )
    if len(items) > max_layers():
        check_size_budget("spec.sequential", 0, len(items))
    current = None
    if "input_shape" in spec:
        current = _input_tensor(
            spec.get("input_name"),
            {"shape": spec["input_shape"], "dtype": spec.get("dtype")},
            "spec.input_shape",
        )
    layers, budget = [], _Budget()
    for i, item in enumerate(items):
        where = f"spec.sequential[{i}]"
        if isinstance(item, str):
            class_name, args = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            class_name, args = next(iter(item.items()))
        else:
            raise ValueError(
                f"{where}: expected a layer name or a one-key mapping "
                f"{{LayerName: {{args}}}}; received {short_repr(item)}."
            )
        label = class_name if isinstance(class_name, str) else None
        if label is None or len(label) > 40:
            label = short_repr(class_name, limit=40)
        where = f"{where} ({label})"
        layer = _make_layer(class_name, args, None, where, current)
        if current is not None:
            # Applied here once, symbolically, so an error names this item
            # and the next layer's estimate knows its input shape.
            try:
                current = layer(current)
            except Exception as err:  # re-raised with the item named
                raise ValueError(
                    f"{where}: layer {short_repr(class_name)} cannot be applied to the "
                    f"output of the previous layer: {_keras_message(err)}"
                ) from None
            budget.add_outputs(where, current)
        layers.append(layer)
    # One Sequential from the whole list: adding layers one at a time
    # rebuilds its graph after each, quadratic in the number of layers.
    first = (
        []
        if current is None
        else [
            _input_tensor(
                spec.get("input_name"),
                {"shape": spec["input_shape"], "dtype": spec.get("dtype")},
                "spec.input_shape",
            )
        ]
    )
    try:
        return keras.Sequential(first + layers, name=spec.get("name"))
    except Exception as err:  # e.g. a name Keras refuses
        raise ValueError(
            f"spec: the layer list does not make a Sequential model: "
            f"{_keras_message(err)}"
        ) from None


# ---------------------------------------------------------------- functional
def _expand_blocks(spec: dict) -> list[dict]:
    """Replaces block nodes by their (renamed, parameterized) inner nodes."""
    blocks = spec.get("blocks") or {}
    if not isinstance(blocks, dict):
        raise ValueError(
            f"spec.blocks must be a mapping of templates; received {short_repr(blocks)}."
        )
    for bname, block in blocks.items():
        where = f"spec.blocks.{bname}"
        if not isinstance(block, dict):
            raise ValueError(
                f"{where}: expected a mapping; received {short_repr(block)}."
            )
        _check_keys(where, block, _BLOCK_KEYS)
        for key in _BLOCK_KEYS:
            if key not in block:
                raise ValueError(f"{where}: missing key {key!r}.")
        if not isinstance(block["nodes"], list) or not block["nodes"]:
            raise ValueError(
                f"{where}.nodes must be a non-empty list of nodes; received "
                f"{short_repr(block['nodes'])}."
            )
        formal = block["inputs"]
        formal = formal if isinstance(formal, list) else [formal]
        if not formal or not all(isinstance(f, str) and f for f in formal):
            raise ValueError(
                f"{where}.inputs must name the block's inputs (a name or a list "
                f"of names); received {short_repr(block['inputs'])}."
            )
    nodes = spec["nodes"]
    if not isinstance(nodes, list) or not nodes:
        raise ValueError(f"spec.nodes must be a non-empty list; received {nodes!r}.")
    if len(nodes) > max_layers():
        check_size_budget("spec.nodes", 0, len(nodes))
    out: list[dict] = []
    for i, node in enumerate(nodes):
        where = f"spec.nodes[{i}]"
        if not isinstance(node, dict):
            raise ValueError(
                f"{where}: expected a mapping; received {short_repr(node)}."
            )
        _check_keys(where, node, _NODE_KEYS)
        if "name" not in node:
            raise ValueError(f"{where}: missing key 'name'.")
        _check_name(f"{where}.name", node["name"])
        if "block" not in node:
            for key in ("repeat", "params"):
                if key in node:
                    raise ValueError(
                        f"{where} ({short_repr(node['name'])}): key {short_repr(key)} needs 'block'."
                    )
            out.append(dict(node, _where=f"{where} ({short_repr(node['name'])})"))
            continue
        out.extend(_instantiate_block(node, blocks, where, len(out)))
    return out


def _instantiate_block(
    node: dict, blocks: dict, where: str, done: int = 0
) -> list[dict]:
    name, bname = node["name"], node["block"]
    where = f"{where} ({short_repr(name, limit=40)})"
    if not isinstance(bname, str) or bname not in blocks:
        raise ValueError(
            f"{where}: unknown block {short_repr(bname)}.{closest(bname, blocks)} "
            f"Defined blocks: {', '.join(sorted(blocks)) or '(none)'}."
        )
    for key in ("layer", "args", "call"):
        if key in node:
            raise ValueError(f"{where}: key {key!r} cannot be used with 'block'.")
    block = blocks[bname]
    repeat = node.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(
            f"{where}: invalid repeat={short_repr(repeat)}; expected an integer >= 1."
        )
    # Checked before expanding: `repeat: 10**9` must not loop.
    check_size_budget(where, 0, done + repeat * len(block["nodes"]))
    params = node.get("params") or {}
    if not isinstance(params, dict):
        raise invalid("params", params, "a mapping {name: value}", where=f"{where}:")
    used = _param_names(block["nodes"])
    for key in params:
        if key not in used:
            raise ValueError(
                f"{where}: unknown block parameter {short_repr(key)} for block "
                f"{short_repr(bname)}.{closest(key, used)} Parameters its nodes use "
                f"(as ${{name}}): {', '.join(sorted(used)) or '(none)'}."
            )
    formal = block["inputs"] if isinstance(block["inputs"], list) else [block["inputs"]]
    actual = node.get("inputs")
    actual = actual if isinstance(actual, list) else [actual]
    if len(actual) != len(formal):
        raise ValueError(
            f"{where}: block {short_repr(bname)} takes inputs {short_repr(formal)}; received {short_repr(actual)}."
        )
    if repeat > 1 and len(formal) != 1:
        raise ValueError(
            f"{where}: only single-input blocks can be repeated; block {short_repr(bname)} "
            f"takes {short_repr(formal)}."
        )
    if not isinstance(block["outputs"], str):
        raise ValueError(
            f"spec.blocks.{bname}: outputs must name one inner node; "
            f"received {short_repr(block['outputs'])}."
        )
    inner_names = {n.get("name") for n in block["nodes"] if isinstance(n, dict)}
    expanded = []
    for k in range(1, repeat + 1):
        prefix = f"{name}_{k}" if repeat > 1 else name
        mapping = dict(zip(formal, actual))
        for j, inner in enumerate(block["nodes"]):
            iwhere = f"spec.blocks.{bname}.nodes[{j}]"
            if not isinstance(inner, dict) or "name" not in inner:
                raise ValueError(f"{iwhere}: expected a mapping with a 'name'.")
            _check_keys(iwhere, inner, _NODE_KEYS - {"block", "repeat", "params"})
            new = _substitute(inner, params, f"{iwhere} in {where}")
            new["name"] = f"{prefix}_{inner['name']}"
            new["inputs"] = _rename_refs(
                inner.get("inputs"),
                lambda r, mapping=mapping, prefix=prefix: (
                    mapping[r]
                    if r in mapping
                    else (f"{prefix}_{r}" if r.split(":")[0] in inner_names else r)
                ),
            )
            new["_where"] = f"{iwhere} (instance {short_repr(new['name'])} of {where})"
            expanded.append(new)
        actual = [f"{prefix}_{block['outputs']}"]
        formal = formal[:1]
    # The node's own name refers to the output of the last instance.
    expanded.append({"name": name, "_alias": actual[0], "_where": where})
    return expanded


def _param_names(obj, seen: set | None = None) -> set[str]:
    """The names of the `${param}` placeholders in a block's nodes."""
    seen = set() if seen is None else seen
    if isinstance(obj, str):
        match = _PARAM.match(obj)
        return {match.group(1)} if match else set()
    if not isinstance(obj, (dict, list)) or id(obj) in seen:
        return set()
    seen.add(id(obj))
    values = obj.values() if isinstance(obj, dict) else obj
    found: set[str] = set()
    for value in values:
        found |= _param_names(value, seen)
    return found


def _substitute(obj, params: dict, where: str):
    if isinstance(obj, str):
        match = _PARAM.match(obj)
        if match:
            if match.group(1) not in params:
                raise ValueError(
                    f"{where}: parameter {short_repr(obj)} is not given; params: "
                    f"{sorted(params) or '(none)'}."
                )
            return copy.deepcopy(params[match.group(1)])
        return obj
    if isinstance(obj, dict):
        return {k: _substitute(v, params, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, params, where) for v in obj]
    return obj


def _rename_refs(inputs, rename):
    if inputs is None:
        return None
    if isinstance(inputs, str):
        return rename(inputs)
    if isinstance(inputs, list):
        return [rename(r) if isinstance(r, str) else r for r in inputs]
    if isinstance(inputs, dict):
        return {k: rename(r) if isinstance(r, str) else r for k, r in inputs.items()}
    return inputs


def _refs(inputs) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, list):
        return list(inputs)
    if isinstance(inputs, dict):
        return list(inputs.values())
    return []


def _topological_order(nodes: dict[str, dict], input_names) -> list[str]:
    """Orders nodes so inputs come first; reports dangling refs and cycles."""
    known = set(nodes) | set(input_names)
    deps = {}
    for name, node in nodes.items():
        refs = [node["_alias"]] if "_alias" in node else _refs(node.get("inputs"))
        if not refs:
            raise ValueError(f"{node['_where']}: missing key 'inputs'.")
        base = []
        for ref in refs:
            if not isinstance(ref, str):
                raise ValueError(
                    f"{node['_where']}: inputs must be node names; received {short_repr(ref)}."
                )
            target = ref.rsplit(":", 1)[0] if ref not in known else ref
            if target not in known:
                raise ValueError(
                    f"{node['_where']}: input {short_repr(ref)} is not defined.{closest(ref, known)} "
                    f"Defined inputs and nodes: {', '.join(sorted(known))}."
                )
            base.append(target)
        deps[name] = [d for d in base if d in nodes]
    order, state = [], {}
    for start in nodes:
        stack = [(start, iter(deps[start]))]
        if state.get(start) == "done":
            continue
        state[start] = "active"
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[current] = "done"
                order.append(current)
                stack.pop()
            elif state.get(child) == "active":
                cycle = [n for n, _ in stack]
                cycle = cycle[cycle.index(child) :] + [child]
                raise ValueError(
                    f"spec.nodes: cycle between nodes {' -> '.join(cycle)}; a graph "
                    "must be acyclic."
                )
            elif state.get(child) != "done":
                state[child] = "active"
                stack.append((child, iter(deps[child])))
    return order


def _build_functional(spec: dict) -> keras.Model:
    raw_inputs = spec.get("inputs")
    if not isinstance(raw_inputs, dict) or not raw_inputs:
        raise ValueError(
            "spec.inputs must map input names to shapes, e.g. "
            f"{{image: [32, 32, 3]}}; received {short_repr(raw_inputs)}."
        )
    if "outputs" not in spec:
        raise ValueError("spec: missing key 'outputs' (a node name, list or mapping).")
    tensors = {
        name: _input_tensor(name, value, f"spec.inputs.{name}")
        for name, value in raw_inputs.items()
        if _check_name(f"spec.inputs key {short_repr(name)}", name)
    }
    nodes: dict[str, dict] = {}
    budget = _Budget()
    for node in _expand_blocks(spec):
        if node["name"] in nodes or node["name"] in tensors:
            raise ValueError(
                f"{node['_where']}: duplicate name {short_repr(node['name'])}; node and "
                "input names must be unique."
            )
        if "_alias" not in node and "layer" not in node:
            raise ValueError(f"{node['_where']}: missing key 'layer' (or 'block').")
        nodes[node["name"]] = node
    for name in _topological_order(nodes, tensors):
        node = nodes[name]
        if "_alias" in node:
            tensors[name] = _resolve(node["_alias"], tensors, node["_where"])
            continue
        call = check_mapping(f"{node['_where']}: 'call'", node.get("call") or {})
        inputs = node["inputs"]
        if isinstance(inputs, dict):
            args_in = (
                [],
                {k: _resolve(r, tensors, node["_where"]) for k, r in inputs.items()},
            )
        elif isinstance(inputs, list):
            args_in = ([[_resolve(r, tensors, node["_where"]) for r in inputs]], {})
        else:
            args_in = ([_resolve(inputs, tensors, node["_where"])], {})
        args_in[1].update(call)
        layer = _make_layer(
            node["layer"], node.get("args"), name, node["_where"], args_in
        )
        tensors[name] = _apply(layer, name, node["layer"], args_in, node["_where"])
        budget.add_outputs(node["_where"], tensors[name])
    outputs = spec["outputs"]
    where = "spec.outputs"
    if isinstance(outputs, str):
        out = _resolve(outputs, tensors, where)
    elif isinstance(outputs, list) and outputs:
        out = [_resolve(r, tensors, where) for r in outputs]
    elif isinstance(outputs, dict) and outputs:
        out = {k: _resolve(r, tensors, where) for k, r in outputs.items()}
    else:
        raise ValueError(
            f"{where}: expected a node name, list or mapping; received {short_repr(outputs)}."
        )
    ins = [tensors[n] for n in _input_order(spec, raw_inputs)]
    try:
        return keras.Model(ins[0] if len(ins) == 1 else ins, out, name=spec.get("name"))
    except Exception as err:  # e.g. an output that does not depend on the inputs
        raise ValueError(
            f"spec: the graph does not make a model: {_keras_message(err)}"
        ) from None


def _check_name(where: str, value) -> str:
    """A model, input or node name: a non-empty string Keras accepts."""
    if not isinstance(value, str) or not value or "/" in value:
        raise ValueError(
            f"{where}: invalid name {short_repr(value)}; expected a non-empty "
            "string without '/'."
        )
    return value


def _input_order(spec: dict, raw_inputs: dict) -> list:
    # YAML writers may sort mapping keys, so a multi-input model's positional
    # order travels in `input_order` (to_spec writes it when it is not the
    # sorted order).
    order = spec.get("input_order")
    if order is None:
        return list(raw_inputs)
    if not isinstance(order, list) or sorted(order) != sorted(raw_inputs):
        raise ValueError(
            "spec.input_order must list every input name once, "
            f"{short_repr(list(raw_inputs))}; received {short_repr(order)}."
        )
    return order


def _resolve(ref, tensors: dict, where: str):
    if not isinstance(ref, str):
        raise ValueError(
            f"{where}: inputs must be node names; received {short_repr(ref)}."
        )
    if ref in tensors:
        value = tensors[ref]
    else:
        base, _, index = ref.rpartition(":")
        if base not in tensors or not index.isdigit():
            raise ValueError(
                f"{where}: {short_repr(ref)} is not defined.{closest(ref, tensors)} "
                f"Defined: {', '.join(sorted(tensors))}."
            )
        value = tensors[base]
        if not isinstance(value, (list, tuple)) or int(index) >= len(value):
            raise ValueError(
                f"{where}: {short_repr(ref)} selects output {index} of {short_repr(base)}, which has "
                f"{len(value) if isinstance(value, (list, tuple)) else 1} output(s)."
            )
        return value[int(index)]
    return value


# ---------------------------------------------------------------- to_spec
def to_spec(model: keras.Model) -> dict:
    """Converts a Sequential or Functional model back to a spec dict.

    The spec is plain data (JSON/YAML-serializable); `kerasdl.build(spec)`
    rebuilds an identical architecture (same layer names, configurations and
    connections; weights are not part of a spec).

    Args:
        model: keras.Model. A Sequential or Functional model whose graph
            holds only layers, each called once.

    Returns:
        A "sequential" or "nodes" spec dict; a named spec
        (`{"model": name, ...}`) for models that provide `named_spec()`
        (kerasdl's generative models).

    Raises:
        ValueError: for subclassed models, raw ops in the graph or layers
            called more than once.

    Example:
    >>> spec = kerasdl.to_spec(kerasdl.build("lenet5"))
    >>> yaml.safe_dump(spec)  # a YAML file kerasdl.build reads back
    """
    if isinstance(model, keras.Sequential):
        return _sequential_spec(model)
    # Models whose graph nests whole models (a VAE's encoder and decoder, a
    # GAN's two players) describe themselves as a named spec,
    # {"model": name, **hyperparameters}, which `build` reads back.
    named = getattr(model, "named_spec", None)
    if callable(named):
        return named()
    config = _graph_config(model)
    if config is None:
        raise ValueError(
            f"to_spec needs a Sequential or Functional model; received "
            f"{type(model).__name__} (subclassed models have no graph)."
        )
    return _functional_spec(model, config)


def _class_name(layer) -> str:
    if isinstance(layer, keras.Sequential):
        return "Sequential"
    if isinstance(layer, keras.Model):
        return "Functional"
    registered = keras.saving.get_registered_name(type(layer))
    if registered.startswith("kerasdl>"):
        return registered.split(">", 1)[1]
    if getattr(keras.layers, type(layer).__name__, None) is type(layer):
        return type(layer).__name__
    return registered  # another package's registered layer: "package>Name"


def _layer_args(layer) -> dict:
    config = layer.get_config()
    config.pop("name", None)
    return to_plain(config)


def _sequential_spec(model) -> dict:
    spec: dict[str, Any] = {"name": model.name}
    # Sequential's public config lists its InputLayer first when it has one.
    layer_configs = model.get_config()["layers"]
    if layer_configs and layer_configs[0]["class_name"] == "InputLayer":
        input_config = layer_configs[0]["config"]
        spec["input_shape"] = list(input_config["batch_shape"][1:])
        spec["input_name"] = input_config["name"]
        spec["dtype"] = input_config["dtype"]
    spec["sequential"] = [
        {_class_name(layer): dict(_layer_args(layer), name=layer.name)}
        for layer in model.layers
    ]
    return json.loads(json.dumps(spec))


# The functional graph is read from the public `model.get_config()`: each
# entry of its "layers" lists the layer's calls in this model
# ("inbound_nodes", only this model's own calls), whose arguments hold
# serialized tensors carrying `keras_history` = [layer name, node, output
# index]; "input_layers" / "output_layers" hold the same triples.
def _graph_config(model) -> dict | None:
    """The functional graph config of `model`, or None when it has none."""
    if not isinstance(model, keras.Model):
        return None
    try:
        config = model.get_config()
    except NotImplementedError:  # a subclassed model without get_config
        return None
    if not isinstance(config, dict) or not {"layers", "input_layers"} <= set(config):
        return None
    return config


def _is_history(value) -> bool:
    """True for a [layer name, node index, tensor index] triple."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    )


def _map_histories(fn, struct):
    """Applies `fn` to every history triple of an input/output structure."""
    if _is_history(struct):
        return fn(struct)
    if isinstance(struct, dict):
        return {k: _map_histories(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [_map_histories(fn, v) for v in struct]
    return struct


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _tensor_histories(value) -> list:
    """History triples of the serialized tensors nested in a call argument."""
    if _is_tensor(value):
        return [value["config"]["keras_history"]]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _tensor_histories(v)]
    if isinstance(value, (list, tuple)):
        return [h for v in value for h in _tensor_histories(v)]
    return []


def _ops_feeding_outputs(config: dict, entries: dict) -> set[str]:
    """Names of the operations the outputs depend on through non-mask inputs."""
    needed: set[str] = set()
    stack = keras.tree.flatten(_map_histories(lambda h: h[0], config["output_layers"]))
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        for node in entries[name]["inbound_nodes"]:
            kwargs = {k: v for k, v in node["kwargs"].items() if k != "mask"}
            stack.extend(h[0] for h in _tensor_histories((node["args"], kwargs)))
    return needed


def _functional_spec(model, config: dict) -> dict:
    entries = {entry["name"]: entry for entry in config["layers"]}
    operations = {op.name: op for op in model.operations}
    inputs = {}
    input_names = keras.tree.flatten(
        _map_histories(lambda h: h[0], config["input_layers"])
    )
    for name in input_names:
        input_config = entries[name]["config"]
        inputs[name] = {
            "shape": list(input_config["batch_shape"][1:]),
            "dtype": input_config["dtype"],
        }
        if input_config.get("sparse"):
            inputs[name]["sparse"] = True

    def ref(history) -> str:
        name, _, index = history
        op = operations[name]
        if isinstance(op, keras.layers.InputLayer):
            return name
        # Every call of a layer returns the same number of tensors; `output`
        # (its first call) is public and tells whether to select one.
        n_out = len(keras.tree.flatten(op.output))
        return f"{name}:{index}" if n_out > 1 else name

    def tensor_ref(tensor) -> str:
        return ref(tensor["config"]["keras_history"])

    # Masks (Embedding(mask_zero=True), Masking) are computed again by Keras
    # when the rebuilt layers are called: leave out the raw ops that only
    # compute masks and the `mask` arguments that carry them.
    needed = _ops_feeding_outputs(config, entries)
    nodes = []
    for entry in config["layers"]:
        op = operations[entry["name"]]
        if isinstance(op, keras.layers.InputLayer):
            continue
        if not isinstance(op, keras.layers.Layer) and op.name not in needed:
            continue
        if not isinstance(op, keras.layers.Layer):
            raise ValueError(
                f"to_spec: the graph holds the raw operation {op.name!r} "
                f"({type(op).__name__}); wrap it in a layer to describe it in a spec."
            )
        # "inbound_nodes" holds this graph's calls only (a layer may also
        # belong to other models).
        own = entry["inbound_nodes"]
        if len(own) != 1:
            raise ValueError(
                f"to_spec: layer {op.name!r} is called {len(own)} times; specs "
                "describe each layer once (shared layers are not supported)."
            )
        args, kwargs = list(own[0]["args"]), dict(own[0]["kwargs"])
        kwargs.pop("mask", None)
        tensor_kwargs = {k: v for k, v in kwargs.items() if _is_tensor(v)}
        call = {
            k: v for k, v in kwargs.items() if k not in tensor_kwargs and v is not None
        }
        if len(args) == 1 and not tensor_kwargs:
            arg = args[0]
            node_inputs = (
                [tensor_ref(t) for t in arg]
                if isinstance(arg, (list, tuple))
                else tensor_ref(arg)
            )
        else:
            params = [p for p in inspect.signature(op.call).parameters if p != "self"]
            node_inputs = {params[i]: tensor_ref(t) for i, t in enumerate(args)}
            node_inputs.update({k: tensor_ref(t) for k, t in tensor_kwargs.items()})
        node = {
            "name": op.name,
            "layer": _class_name(op),
            "args": _layer_args(op),
            "inputs": node_inputs,
        }
        if call:
            node["call"] = to_plain(call)
        nodes.append(node)

    spec = {
        "name": model.name,
        "inputs": inputs,
        "nodes": nodes,
        "outputs": _map_histories(ref, config["output_layers"]),
    }
    if list(inputs) != sorted(inputs):
        spec["input_order"] = list(inputs)
    return json.loads(json.dumps(spec))
