"""Shared machinery of the pruning and clustering wrappers.

- which weights of which built-in layer are compressed (TFMOT's registries),
- running a wrapped layer with some of its variables replaced by computed
  tensors (a masked or clustered kernel) on every backend,
- selecting layers of a model by name or type, and cloning a functional or
  Sequential model with some layers wrapped and every weight copied.
"""

from __future__ import annotations

import keras

from kerasdl import _keras_compat
from kerasdl.compression import _selection

# (layer class, names of the compressed weights). Order matters: the first
# isinstance match wins, so subclasses come before their bases.
_PRUNABLE = (
    (keras.layers.SeparableConv1D, ("pointwise_kernel",)),
    (keras.layers.SeparableConv2D, ("pointwise_kernel",)),
    (keras.layers.DepthwiseConv1D, ("kernel",)),
    (keras.layers.DepthwiseConv2D, ("kernel",)),
    (keras.layers.Conv1DTranspose, ("kernel",)),
    (keras.layers.Conv2DTranspose, ("kernel",)),
    (keras.layers.Conv3DTranspose, ("kernel",)),
    (keras.layers.Conv1D, ("kernel",)),
    (keras.layers.Conv2D, ("kernel",)),
    (keras.layers.Conv3D, ("kernel",)),
    (keras.layers.EinsumDense, ("kernel",)),
    (keras.layers.Dense, ("kernel",)),
    (keras.layers.Embedding, ("embeddings",)),
)
# TFMOT clusters both kernels of a separable convolution.
_CLUSTERABLE = (
    (keras.layers.SeparableConv1D, ("depthwise_kernel", "pointwise_kernel")),
    (keras.layers.SeparableConv2D, ("depthwise_kernel", "pointwise_kernel")),
    *_PRUNABLE[2:],
)


def type_names(table):
    return sorted({cls.__name__ for cls, _ in table})


def weight_names(layer, table, hook=None):
    """Names of the compressed weights of `layer`, or None if unsupported.

    A custom layer opts in by defining `hook` (e.g. `get_prunable_weights`,
    TFMOT's protocol) returning its variables.
    """
    if hook and hasattr(layer, hook):
        return ("__custom__",)
    for cls, names in table:
        if isinstance(layer, cls):
            return names
    return None


def resolve_weights(layer, names, hook=None):
    """The Variables behind `names` (Dense's `kernel` property is `_kernel`)."""
    if names == ("__custom__",):
        found = list(getattr(layer, hook)())
    else:
        found = []
        for name in names:
            var = getattr(layer, "_" + name, None)
            if not isinstance(var, keras.Variable):
                var = getattr(layer, name, None)
            found.append(var)
    for var in found:
        if not isinstance(var, keras.Variable) or "float" not in str(var.dtype):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) has no float "
                f"weight variable to compress (found {type(var).__name__}); "
                "quantized or LoRA-enabled layers cannot be wrapped."
            )
    if getattr(layer, "lora_enabled", False):
        raise ValueError(
            f"Layer '{layer.name}' has LoRA enabled; merge or disable LoRA before "
            "pruning or clustering it."
        )
    return found


def call_with_substitutes(layer, substitutes, inputs, training=None):
    """Run `layer.call(inputs)` reading `substitutes[id(var)]` for those variables.

    Implemented with a nested `keras.StatelessScope` that maps every variable
    of `layer` to its current value (so the JAX trainer's traced values are
    kept: stateless scopes do not chain) and the substituted variables to the
    computed tensors. Gradients flow through the computed tensors; the wrapped
    layer must not assign its own variables in `call` (none of the supported
    layers does).
    """
    mapping = []
    for var in layer.variables:
        value = substitutes.get(id(var))
        mapping.append((var, var.value if value is None else value))
    kwargs = {}
    takes_training = "training" in getattr(layer, "call_signature_parameters", ())
    if takes_training and training is not None:
        kwargs["training"] = training
    with keras.StatelessScope(state_mapping=mapping):
        return layer.call(inputs, **kwargs)


def iter_layers(model):
    """All layers of `model`, recursing into nested models (not wrappers)."""
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)


def select_layers(model, layers, table, hook, skip_types, what):
    """ids of the layers of `model` to wrap, by the one selection rule.

    Args:
        model: the model.
        layers: None (every supported layer) or entries as
            `kerasdl.compression._selection.select_layers` takes them.
        table: the supported-type table.
        hook: the custom-layer opt-in method name.
        skip_types: wrapper classes that are already compressed (left as is).
        what: "prune" or "cluster", for messages.

    Returns:
        set of `id(layer)` to wrap.
    """
    chosen = _selection.select_layers(
        model,
        layers,
        accepts=lambda layer: weight_names(layer, table, hook) is not None,
        what=what,
        supported=[*type_names(table), f"a custom layer with a `{hook}()` method"],
        refusal=f"is not {what}able",
        skip=tuple(skip_types),
        into_layers=False,  # wrapping clones the graph: graph and nested models
    )
    return {id(layer) for layer in chosen}


def _is(layer, types):
    return bool(types) and isinstance(layer, types)


def copy_layer(layer):
    """A new layer with `layer`'s config, built and holding copies of its weights."""
    if not isinstance(layer, keras.layers.Layer):
        return layer  # a stateless op of the graph (e.g. the mask's not_equal)
    new = type(layer).from_config(layer.get_config())
    if layer.built:
        build_config = layer.get_build_config()
        if build_config:
            new.build_from_config(build_config)
        if layer.weights:
            if not new.built:
                raise ValueError(
                    f"Cannot copy layer '{layer.name}': it has weights but no "
                    "recorded build shape."
                )
            new.set_weights(layer.get_weights())
    return new


def clone_with(model, fn, what):
    """Clone a functional/Sequential `model` mapping each leaf layer with `fn`."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model).__name__}")
    functional = _keras_compat.is_functional(model)
    if not isinstance(model, keras.Sequential) and not functional:
        raise ValueError(
            f"Cannot {what} a subclassed model ({type(model).__name__}); "
            f"{what} a functional or Sequential model, or wrap its layers one by one."
        )
    return keras.models.clone_model(model, clone_function=fn, recursive=True)


class DelegatingWrapper(keras.layers.Wrapper):
    """A Wrapper whose shapes, output spec and mask are the wrapped layer's."""

    def compute_output_shape(self, *args, **kwargs):
        return self.layer.compute_output_shape(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.layer.compute_output_spec(*args, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)
