"""One layer-selection rule for every compression step.

prune, cluster, qat, ptq and lora all take `layers=`: None (every layer the
step supports) or a list whose entries are layer names, layer paths
("encoder/dense"), layer type names ("Dense"), layer classes, layer objects,
or the name of a nested model (meaning its supported layers). `select_layers`
resolves that list the same way for every step, walking nested models
(functional and Sequential sub-models, and the model held by a layer such
as `kerasdl.models.hub.HubModel`, whose keras-hub backbone is a functional
model) and, for the steps that change layers in place (ptq, lora), the
layers held inside composite layers too (transformer blocks). Errors name
the entry, the closest layer names and the supported types.

The steps that rebuild the model by cloning its graph (prune, cluster,
qat) wrap the layers of the graph and of nested models, rebuilding each
nested model that holds a chosen layer with the same clone function (and a
model-holding layer around its rebuilt model, `held_model`'s protocol). A
layer held inside a composite layer (a transformer block's dense layers)
is not part of any graph: naming one raises an error that says which
composite layer hides it and which steps reach it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import keras

from kerasdl import _keras_compat
from kerasdl._checks import closest

__all__ = ["graph_layers", "held_model", "select_layers", "walk_layers"]


def held_model(layer) -> keras.Model | None:
    """The model that `layer` holds and can be rebuilt around, or None.

    The protocol: a layer (not itself a model) whose `model` attribute is a
    keras.Model and whose `with_model(new_model)` method returns a layer of
    the same config around `new_model` (`kerasdl.models.hub.HubModel` holds
    a keras-hub backbone or task this way). Graph-rebuilding steps treat the
    held model like a nested model of the graph.

    Args:
        layer: keras.layers.Layer.

    Returns:
        keras.Model or None.
    """
    if isinstance(layer, keras.Model):
        return None
    model = getattr(layer, "model", None)
    if isinstance(model, keras.Model) and callable(getattr(layer, "with_model", None)):
        return model
    return None


def graph_layers(model, into_held: bool = True) -> list:
    """Layers of `model`'s graph and of its nested models, each once, in order.

    Nested models themselves are included (listed just before their own
    layers); so is the model held by a layer (see `held_model`), just after
    that layer. Input layers are not.

    Args:
        model: keras.Model.
        into_held: bool. Whether to enter the models held by layers.

    Returns:
        list of keras.layers.Layer.
    """
    found: list = []
    seen: set[int] = set()

    def visit(container):
        for layer in getattr(container, "layers", []):
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            found.append(layer)
            if isinstance(layer, keras.Model):
                visit(layer)
            held = held_model(layer) if into_held else None
            if held is not None and id(held) not in seen:
                seen.add(id(held))
                found.append(held)
                visit(held)

    visit(model)
    return found


def walk_layers(model) -> list:
    """Every layer under `model`: graph, nested models and composite layers' parts.

    Args:
        model: keras.Model or keras.layers.Layer.

    Returns:
        list of keras.layers.Layer, each once, input layers left out.
    """
    return [
        layer
        for layer in _keras_compat.flatten_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _label(entry) -> str:
    if isinstance(entry, keras.layers.Layer):
        return entry.name
    if inspect.isclass(entry):
        return entry.__name__
    return str(entry)


def _container_of(model, layer, graph: list) -> keras.layers.Layer | None:
    """The composite graph layer (not a model or model holder) holding `layer`."""
    for outer in graph:
        if isinstance(outer, keras.Model) or held_model(outer) is not None:
            continue
        if any(inner is layer for inner in _keras_compat.sublayers(outer)):
            return outer
    return None


def _matches(layer, entry) -> bool:
    if isinstance(entry, str):
        return (
            layer.name == entry
            or getattr(layer, "path", None) == entry
            or type(layer).__name__ == entry
        )
    if inspect.isclass(entry):
        return isinstance(layer, entry)
    return layer is entry


def select_layers(
    model,
    layers=None,
    *,
    accepts: Callable[[keras.layers.Layer], bool],
    what: str,
    supported: Iterable[str],
    refusal: str | None = None,
    skip: tuple[type, ...] = (),
    into_layers: bool = True,
) -> list:
    """Resolves a step's `layers=` argument to layers of `model`.

    Args:
        model: keras.Model. The model the step works on.
        layers: None, or one entry or a list of entries: layer names, layer
            paths, layer type names, layer classes, layer objects, or names
            of nested models (their supported layers).
        accepts: callable. Whether the step supports a layer.
        what: str. The step, for messages ("prune", "LoRA", ...).
        supported: iterable of str. Supported type names, for messages.
        refusal: str or None. How an unsupported layer is described, e.g.
            "cannot be quantized"; default "does not support <what>".
        skip: tuple of classes. Layers already compressed (e.g. pruning
            wrappers): left out silently.
        into_layers: bool. Whether the step reaches layers inside composite
            layers (True for steps that change layers in place); otherwise
            it reaches the graph and nested models only, and the models held
            by layers (`held_model`) only through named entries.

    Returns:
        list of keras.layers.Layer, each once, in the model's order. With
        `layers=None`, every accepted layer (possibly none); for a graph
        step (`into_layers=False`) not those of held models.

    Raises:
        ValueError: for an entry that matches no layer (with the closest
            layer names), a matched layer the step does not support, or a
            layer hidden inside a composite layer the step cannot reach.
        TypeError: for an entry that is not a str, class or layer.

    Example:
    >>> select_layers(model, ["dense_1", "Conv2D"], accepts=is_prunable,
    ...               what="prune", supported=["Dense", "Conv2D"])
    """
    supported = list(supported)
    graph = graph_layers(model)
    everything = walk_layers(model) if into_layers else graph
    candidates = [layer for layer in everything if not isinstance(layer, keras.Model)]

    def skipped(layer) -> bool:
        return bool(skip) and isinstance(layer, skip)

    if layers is None:
        if not into_layers:
            # Every supported layer of the graph and its nested models; a
            # held model (a keras-hub backbone or task, with shared and
            # reversed embeddings) is entered only when `layers` names it or
            # its layers, as before held models were reachable at all.
            candidates = [
                layer
                for layer in graph_layers(model, into_held=False)
                if not isinstance(layer, keras.Model)
            ]
        return [layer for layer in candidates if accepts(layer) and not skipped(layer)]
    if isinstance(layers, (str, type, keras.layers.Layer)) or not isinstance(
        layers, Iterable
    ):
        layers = [layers]
    refusal = refusal or f"does not support {what}"
    chosen: list = []
    for entry in layers:
        if not isinstance(entry, (str, keras.layers.Layer)) and not inspect.isclass(
            entry
        ):
            raise TypeError(
                f"`layers` entries must be layer names, paths, type names, "
                f"classes or layer objects. Received: {entry!r}"
            )
        label = _label(entry)
        nested = [
            layer
            for layer in everything
            if isinstance(layer, keras.Model) and _matches(layer, entry)
        ]
        if nested and not inspect.isclass(entry):
            inside = set(map(id, walk_layers(nested[0]) if into_layers else []))
            inside |= set(map(id, graph_layers(nested[0])))
            hits = [
                layer
                for layer in candidates
                if id(layer) in inside and accepts(layer) and not skipped(layer)
            ]
        else:
            hits = [layer for layer in candidates if _matches(layer, entry)]
        if not hits and not into_layers:
            hidden = [
                layer
                for layer in walk_layers(model)
                if not isinstance(layer, keras.Model) and _matches(layer, entry)
            ]
            if hidden:
                outer = _container_of(model, hidden[0], graph)
                where = (
                    f"layer {outer.name!r} ({type(outer).__name__})"
                    if outer is not None
                    else "a composite layer"
                )
                raise ValueError(
                    f"Cannot {what} {label!r}: that layer sits inside {where}, "
                    f"and {what} rebuilds the model's graph, reaching the layers "
                    "of the graph and of nested models only. ptq and lora reach "
                    "layers inside composite layers."
                )
        if not hits:
            names = [layer.name for layer in candidates]
            raise ValueError(
                f"Cannot {what} {label!r}: no layer of model {model.name!r} has "
                f"that name, path or type ({label!r} is neither a layer name "
                f"nor a layer type of the model).{closest(label, names)} "
                f"Layers: {', '.join(names)}. Supported types: "
                f"{', '.join(supported)}."
            )
        for layer in hits:
            if skipped(layer):  # already compressed: left as it is
                continue
            if not accepts(layer):
                kind = type(layer).__name__
                raise ValueError(
                    f"Cannot {what} layer {layer.name!r} ({kind}, requested as "
                    f"{label!r}): {layer.name!r} of type {kind} {refusal}. "
                    f"Supported types: {', '.join(supported)}."
                )
            if all(layer is not c for c in chosen):
                chosen.append(layer)
    order = {id(layer): i for i, layer in enumerate(candidates)}
    return sorted(chosen, key=lambda layer: order[id(layer)])
