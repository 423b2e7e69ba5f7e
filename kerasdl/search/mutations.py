"""Architecture genomes, their mutations and crossover, checked fast.

A genome is a plain dict, a chain of layers with optional skip connections::

    {"input_shape": [40, 1],
     "layers": [{"Conv1D": {"filters": 16, "kernel_size": 5, ...}}, ...],
     "skips": [[i, j], ...],          # output of layer j += output of layer i
     "head": [{"Dense": {"units": 10, "activation": "softmax"}}]}

`to_spec(genome)` writes it in kerasdl's spec language: a Sequential spec
when it has no skips, else a Functional spec whose `Add` nodes join the
skipped outputs (index -1 is the input). `from_spec(spec)` reads either form
back (Functional specs must be such chains). The head is never mutated.

Every child is checked by `check(genome)` before it is used: each layer is
made by its Keras class from the spec's arguments and its output shape
computed (no model is built, so thousands of children take seconds); a
skip must join equal shapes; the body must end in a vector (else a
`Flatten` is appended: the repair); the parameter count must stay under
`max_params`. An invalid child is repaired or resampled, never returned.
"""

from __future__ import annotations

import copy
import json
import math
import random

import keras

from kerasdl._checks import check_int, invalid

__all__ = [
    "VOCABULARY",
    "check",
    "crossover",
    "from_spec",
    "mutate",
    "random_genome",
    "to_spec",
]

ACTIVATIONS = ("relu", "gelu", "tanh", "swish", "elu")
WIDTHS = (4, 8, 16, 32, 64, 128)
KERNELS = (3, 5, 7, 9)
# Layers a mutation may insert, by input rank (without the batch axis).
VOCABULARY = {
    1: ("Dense", "Dropout", "BatchNormalization", "Activation"),
    2: ("Conv1D", "MaxPooling1D", "AveragePooling1D", "BatchNormalization",
        "Dropout", "Activation", "Dense"),
    3: ("Conv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization",
        "Dropout", "Activation"),
}  # fmt: skip
_TO_VECTOR = {2: "GlobalAveragePooling1D", 3: "GlobalAveragePooling2D"}
MUTATIONS = (
    "add_layer",
    "remove_layer",
    "replace_layer",
    "change_width",
    "change_kernel",
    "change_activation",
    "add_skip",
)
_WIDTH_KEYS = ("units", "filters")
# (layer, args, input shape) -> (output shape, parameters) or the error:
# making a Keras layer costs milliseconds, and children share most layers.
_SHAPES: dict = {}
_CACHE_SIZE = 50_000


def _entry(layer) -> tuple[str, dict]:
    if isinstance(layer, str):
        return layer, {}
    if isinstance(layer, dict) and len(layer) == 1:
        name, args = next(iter(layer.items()))
        return name, dict(args or {})
    raise invalid("layer", layer, "a layer name or {LayerName: {args}}")


def random_layer(rank: int, rng: random.Random) -> dict:
    """A random layer of the vocabulary for inputs of `rank` dimensions."""
    name = rng.choice(VOCABULARY[min(rank, 3)])
    if name == "Dense":
        args = {"units": rng.choice(WIDTHS), "activation": rng.choice(ACTIVATIONS)}
    elif name.startswith("Conv"):
        args = {
            "filters": rng.choice(WIDTHS),
            "kernel_size": rng.choice(KERNELS)
            if name == "Conv1D"
            else rng.choice((3, 5)),
            "padding": "same",
            "activation": rng.choice(ACTIVATIONS),
        }
    elif "Pooling" in name:
        args = {"pool_size": 2}
    elif name == "Dropout":
        args = {"rate": rng.choice((0.1, 0.2, 0.3))}
    elif name == "Activation":
        args = {"activation": rng.choice(ACTIVATIONS)}
    else:
        args = {}
    return {name: args}


def _check_rank(layer, ndim: int) -> None:
    """The layer's declared input rank (what building it would check)."""
    specs = layer.input_spec
    for spec in specs if isinstance(specs, (list, tuple)) else [specs]:
        if spec is None:
            continue
        if (
            (spec.ndim is not None and ndim != spec.ndim)
            or (spec.min_ndim is not None and ndim < spec.min_ndim)
            or (spec.max_ndim is not None and ndim > spec.max_ndim)
        ):
            raise ValueError(f"expects inputs of rank {spec.ndim or spec.min_ndim}")


def _layer_output(name: str, args: dict, shape: tuple) -> tuple[tuple, int]:
    """(output shape, parameter count) of one layer; raises ValueError."""
    key = (name, json.dumps(args, sort_keys=True, default=str), tuple(shape))
    if key not in _SHAPES:
        try:
            _SHAPES[key] = _compute_output(name, args, tuple(shape))
        except ValueError as error:
            _SHAPES[key] = error
        if len(_SHAPES) > _CACHE_SIZE:
            _SHAPES.pop(next(iter(_SHAPES)))
    result = _SHAPES[key]
    if isinstance(result, ValueError):
        raise ValueError(str(result))
    return result


def _compute_output(name: str, args: dict, shape: tuple) -> tuple[tuple, int]:
    cls = getattr(keras.layers, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"unknown layer {name!r}")
    try:
        layer = cls(**args)
        _check_rank(layer, len(shape) + 1)
        out = tuple(layer.compute_output_shape((None, *shape)))[1:]
    except Exception as error:  # any Keras refusal makes the child invalid
        raise ValueError(f"{name} {args} on shape {shape}: {error}") from None
    if any(d is not None and d < 1 for d in out):
        raise ValueError(f"{name} {args} on shape {shape} gives {out}")
    params = 0
    if name in ("Dense",) or name.startswith("Conv"):
        kernel = args.get("kernel_size", 1)
        kernel = math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel
        if name == "Conv2D" and not isinstance(args.get("kernel_size"), (list, tuple)):
            kernel = kernel * kernel
        params = kernel * shape[-1] * out[-1] + out[-1]
    elif name in ("BatchNormalization", "LayerNormalization"):
        params = 4 * shape[-1] if name == "BatchNormalization" else 2 * shape[-1]
    return out, params


def check(genome: dict, max_params: int = 10**7, repair: bool = True) -> dict:
    """Checks a genome (shapes, skips, size); returns it, repaired, with stats.

    Args:
        genome: dict. See the module docstring.
        max_params: int. Largest accepted parameter count.
        repair: bool. Append a global pooling layer when the body does not
            end in a vector, and drop skips that no longer join equal shapes.

    Returns:
        dict: the genome (a copy), with "params" (the parameter count).

    Raises:
        ValueError: naming the layer and shape that fail.
    """
    genome = copy.deepcopy(genome)
    # One form for every layer: {LayerName: {args}} (a bare name is no args).
    for key in ("layers", "head"):
        genome[key] = [dict([_entry(layer)]) for layer in genome[key]]
    shape = tuple(genome["input_shape"])
    shapes = {-1: shape}
    params = 0
    layers = genome["layers"]
    skips = [tuple(s) for s in genome.get("skips", [])]
    incoming: dict = {}
    for i, j in skips:
        incoming.setdefault(j, []).append(i)
    for index, layer in enumerate(layers):
        name, args = _entry(layer)
        shape, count = _layer_output(name, args, shape)
        params += count
        for source in incoming.get(index, []):
            if source not in shapes or shapes[source] != shape:
                if not repair:
                    raise ValueError(
                        f"skip [{source}, {index}] joins shapes "
                        f"{shapes.get(source)} and {shape}"
                    )
                skips.remove((source, index))
        shapes[index] = shape
    if len(shape) > 1:
        if not repair:
            raise ValueError(f"the body ends in shape {shape}, not a vector")
        pool = _TO_VECTOR.get(len(shape), "Flatten")
        layers.append({pool: {}})
        shape, _ = _layer_output(pool, {}, shape)
    for layer in genome["head"]:
        name, args = _entry(layer)
        shape, count = _layer_output(name, args, shape)
        params += count
    if params > max_params:
        raise ValueError(f"{params:,} parameters, over max_params={max_params:,}")
    genome["skips"] = [list(s) for s in sorted(set(skips))]
    genome["params"] = int(params)
    return genome


def _rank_at(genome: dict, index: int) -> int:
    """Rank of the tensor entering layer `index` (computed shapes)."""
    shape = tuple(genome["input_shape"])
    for layer in genome["layers"][:index]:
        name, args = _entry(layer)
        shape, _ = _layer_output(name, args, shape)
    return len(shape)


def mutate(
    genome: dict, rng: random.Random, operator: str | None = None
) -> tuple[dict, str]:
    """One random mutation (or `operator`); returns (child, operator).

    The child may be invalid: pass it to `check` (see `child`).
    """
    child = copy.deepcopy(genome)
    child.pop("params", None)
    layers = child["layers"]
    operator = operator or rng.choice(MUTATIONS)
    if operator == "add_layer" or (not layers and operator != "add_skip"):
        index = rng.randrange(len(layers) + 1)
        layers.insert(index, random_layer(_rank_at(child, index), rng))
        child["skips"] = [
            [i + (i >= index), j + (j >= index)] for i, j in child["skips"]
        ]
        return child, "add_layer"
    index = rng.randrange(len(layers)) if layers else 0
    if operator == "remove_layer":
        del layers[index]
        child["skips"] = [
            [i - (i > index), j - (j > index)]
            for i, j in child["skips"]
            if index not in (i, j) and i - (i > index) < j - (j > index)
        ]
    elif operator == "replace_layer":
        layers[index] = random_layer(_rank_at(child, index), rng)
    elif operator in ("change_width", "change_kernel", "change_activation"):
        candidates = [
            k for k, layer in enumerate(layers)
            if _has(layer, operator)
        ]  # fmt: skip
        if not candidates:
            return mutate(genome, rng, "add_layer")
        k = rng.choice(candidates)
        name, args = _entry(layers[k])
        if operator == "change_width":
            key = next(key for key in _WIDTH_KEYS if key in args)
            args[key] = rng.choice([w for w in WIDTHS if w != args[key]] or WIDTHS)
        elif operator == "change_kernel":
            args["kernel_size"] = rng.choice(
                [k2 for k2 in KERNELS if k2 != args["kernel_size"]]
            )
        else:
            args["activation"] = rng.choice(
                [a for a in ACTIVATIONS if a != args.get("activation")]
            )
        layers[k] = {name: args}
    elif operator == "add_skip":
        child["skips"].append(_random_skip(child, rng))
    return child, operator


def _has(layer, operator: str) -> bool:
    name, args = _entry(layer)
    if operator == "change_width":
        return any(key in args for key in _WIDTH_KEYS)
    if operator == "change_kernel":
        return name == "Conv1D" and isinstance(args.get("kernel_size"), int)
    return "activation" in args


def _random_skip(genome: dict, rng: random.Random) -> list:
    """A skip between two points of equal shape (or [-1, -1]: none found)."""
    shape = tuple(genome["input_shape"])
    shapes = [(-1, shape)]
    for index, layer in enumerate(genome["layers"]):
        name, args = _entry(layer)
        try:
            shape, _ = _layer_output(name, args, shape)
        except ValueError:
            break
        shapes.append((index, shape))
    pairs = [
        [i, j]
        for a, (i, si) in enumerate(shapes)
        for (j, sj) in shapes[a + 2 :]
        if si == sj and [i, j] not in genome["skips"]
    ]
    return rng.choice(pairs) if pairs else [-1, -1]


def crossover(a: dict, b: dict, rng: random.Random) -> dict:
    """One-point crossover of two layer lists: a's prefix, b's suffix.

    Skips of `a` inside the prefix are kept; `b`'s are dropped.
    """
    i = rng.randrange(len(a["layers"]) + 1)
    j = rng.randrange(len(b["layers"]) + 1)
    child = copy.deepcopy(a)
    child.pop("params", None)
    child["layers"] = copy.deepcopy(a["layers"][:i] + b["layers"][j:])
    child["skips"] = [[s, t] for s, t in a.get("skips", []) if t < i]
    return child


def child_of(parents: list, rng: random.Random, *, crossover_rate: float = 0.0,
             max_params: int = 10**7, max_layers: int = 24,
             attempts: int = 50) -> tuple[dict, str]:  # fmt: skip
    """A checked child of `parents` (mutation, or crossover then mutation).

    Invalid children, and children identical to a parent, are repaired by
    `check` or resampled; after `attempts` such tries the first parent's
    copy is returned (operator "copy"), so the search never crashes on a
    bad child.
    """
    for _ in range(attempts):
        base = parents[0]
        operator = ""
        if len(parents) > 1 and rng.random() < crossover_rate:
            base = crossover(parents[0], parents[1], rng)
            operator = "crossover+"
        try:
            child, mutation = mutate(base, rng)
        except ValueError:
            continue
        child["skips"] = [s for s in child["skips"] if s != [-1, -1]]
        if len(child["layers"]) > max_layers:
            continue
        try:
            child = check(child, max_params)
        except ValueError:
            continue
        # A mutation that changed nothing (add_skip with no two equal
        # shapes, as in a strided conv stack) would spend an evaluation on
        # a parent's copy: resample it.
        if any(_same_body(child, parent) for parent in parents):
            continue
        return child, operator + mutation
    return check(parents[0], max_params), "copy"


def _same_body(a: dict, b: dict) -> bool:
    return a["layers"] == [dict([_entry(x)]) for x in b["layers"]] and sorted(
        map(list, a.get("skips", []))
    ) == sorted(map(list, b.get("skips", [])))


def random_genome(input_shape, head: list, rng: random.Random, *, depth=(1, 6),
                  max_params: int = 10**7, attempts: int = 100) -> dict:  # fmt: skip
    """A random valid chain of `depth[0]`..`depth[1]` layers before `head`."""
    rank = len(input_shape)
    for _ in range(attempts):
        genome = {"input_shape": list(input_shape), "layers": [], "skips": [],
                  "head": copy.deepcopy(head)}  # fmt: skip
        shape_rank = rank
        for _ in range(rng.randint(*depth)):
            layer = random_layer(shape_rank, rng)
            genome["layers"].append(layer)
            try:
                shape_rank = _rank_at(genome, len(genome["layers"]))
            except ValueError:
                genome["layers"].pop()
        try:
            return check(genome, max_params)
        except ValueError:
            continue
    raise ValueError(
        f"no valid random architecture for input_shape={list(input_shape)} "
        f"under max_params={max_params:,} in {attempts} tries"
    )


def to_spec(genome: dict, name: str = "evolved") -> dict:
    """The genome in kerasdl's spec language (Sequential without skips)."""
    body = copy.deepcopy(genome["layers"])
    head = copy.deepcopy(genome["head"])
    if not genome.get("skips"):
        return {"name": name, "input_shape": list(genome["input_shape"]),
                "sequential": body + head}  # fmt: skip
    incoming: dict = {}
    for i, j in genome["skips"]:
        incoming.setdefault(j, []).append(i)
    nodes, out = [], {-1: "input"}
    previous = "input"
    for index, layer in enumerate(body + head):
        layer_name, args = _entry(layer)
        node = f"layer{index}"
        nodes.append({"name": node, "layer": layer_name, "args": args,
                      "inputs": previous})  # fmt: skip
        previous = node
        if index in incoming:
            previous = f"add{index}"
            sources = [node, *(out[i] for i in sorted(incoming[index]))]
            nodes.append({"name": previous, "layer": "Add", "inputs": sources})
        out[index] = previous
    return {"name": name, "inputs": {"input": list(genome["input_shape"])},
            "nodes": nodes, "outputs": previous}  # fmt: skip


def from_spec(spec: dict, head_layers: int = 1) -> dict:
    """A genome from a Sequential spec, or a Functional chain with Add skips.

    Args:
        spec: dict. `{input_shape, sequential}` or `{inputs, nodes, outputs}`.
        head_layers: int. Trailing layers kept fixed (the classifier).

    Raises:
        ValueError: for other graphs (branches, several inputs) or too few
            layers.
    """
    check_int("head_layers", head_layers, 1)
    if "sequential" in spec:
        if "input_shape" not in spec:
            raise invalid("spec.input_shape", None, "an input shape for evolution")
        items = list(spec["sequential"])
        shape, skips = list(spec["input_shape"]), []
    elif "nodes" in spec:
        items, skips, shape = _chain(spec)
    else:
        raise invalid(
            "spec", spec, "a Sequential ({input_shape, sequential}) or Functional "
            "({inputs, nodes, outputs}) spec",
        )  # fmt: skip
    if len(items) <= head_layers:
        raise invalid(
            "spec", spec, f"more layers than head_layers={head_layers}"
        )  # fmt: skip
    body = items[: len(items) - head_layers]
    genome = {"input_shape": shape, "layers": body,
              "skips": [s for s in skips if s[1] < len(body)],
              "head": items[len(items) - head_layers :]}  # fmt: skip
    return check(genome, repair=False)


def _chain(spec: dict):
    inputs = spec.get("inputs") or {}
    if len(inputs) != 1 or spec.get("blocks"):
        raise invalid(
            "spec.inputs", inputs, "one input and no blocks (a chain with skips)"
        )
    ((input_name, shape),) = inputs.items()
    position = {input_name: -1}
    items, skips = [], []
    for node in spec["nodes"]:
        refs = node.get("inputs")
        if node.get("layer") == "Add" and isinstance(refs, list):
            main, *others = refs
            if position.get(main) != len(items) - 1:
                raise invalid(
                    f"spec.nodes ({node.get('name')!r}).inputs", refs,
                    "the previous node first (a chain with Add skips)",
                )  # fmt: skip
            skips += [[position[o], len(items) - 1] for o in others if o in position]
            position[node["name"]] = len(items) - 1
            continue
        if not isinstance(refs, str) or position.get(refs) != len(items) - 1:
            raise invalid(
                f"spec.nodes ({node.get('name')!r}).inputs", refs,
                "the previous node (evolution takes chains with Add skips)",
            )  # fmt: skip
        items.append({node["layer"]: dict(node.get("args") or {})})
        position[node["name"]] = len(items) - 1
    return items, skips, list(shape)
