"""Shared machinery of the pruning and clustering wrappers.

- which weights of which built-in layer are compressed (TFMOT's registries),
- running a wrapped layer with some of its variables replaced by computed
  tensors (a masked or clustered kernel) on every backend,
- selecting layers of a model by name or type, and cloning a functional or
  Sequential model with some layers wrapped and every weight copied (nested
  models, and the keras-hub model inside a HubModel, rebuilt the same way).
"""

from __future__ import annotations

import keras

from kerasdl import _keras_compat
from kerasdl.compression import _selection

# (layer class, names of the compressed weights). Order matters: the first
# isinstance match wins, so subclasses come before their bases.
_KERNEL_LAYERS = (  # compressed weight: "kernel"
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.EinsumDense,
    keras.layers.Dense,
)
_PRUNABLE = (
    (keras.layers.SeparableConv1D, ("pointwise_kernel",)),
    (keras.layers.SeparableConv2D, ("pointwise_kernel",)),
    *((cls, ("kernel",)) for cls in _KERNEL_LAYERS),
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
    """All layers of `model`, recursing into nested models (not wrappers).

    The same walk as the selection rule's (`_selection.graph_layers`): nested
    models and the models held by layers such as HubModel, each layer once.
    """
    yield from _selection.graph_layers(model)


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


def clone_with(model, fn, what, touches=None):
    """Clone a functional/Sequential `model` mapping each leaf layer with `fn`.

    Nested functional and Sequential models are cloned recursively with the
    same `fn` (Keras' `clone_model(recursive=True)`). A layer that holds a
    model (`_selection.held_model`, e.g. HubModel around a keras-hub
    backbone) is rebuilt around a recursive clone of its model when that
    model contains a layer `touches` selects; otherwise it goes to `fn` like
    any leaf layer.

    Args:
        model: functional or Sequential keras.Model.
        fn: callable(layer) -> new layer, for each leaf layer.
        what: str. The step, for messages.
        touches: callable(layer) -> bool, or None. Whether `fn` changes a
            layer (decides which held models are rebuilt).

    Returns:
        keras.Model: the clone.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model).__name__}")
    functional = _keras_compat.is_functional(model)
    if not isinstance(model, keras.Sequential) and not functional:
        raise ValueError(
            f"Cannot {what} a subclassed model ({type(model).__name__}); "
            f"{what} a functional or Sequential model, or wrap its layers one by one."
        )

    def clone_fn(layer):
        held = _selection.held_model(layer)
        if (
            held is not None
            and touches is not None
            and any(touches(x) for x in _selection.graph_layers(held))
        ):
            return layer.with_model(clone_with(held, fn, what, touches))
        return fn(layer)

    return keras.models.clone_model(model, clone_function=clone_fn, recursive=True)


class DelegatingWrapper(keras.layers.Wrapper):
    """A Wrapper whose shapes, output spec and mask are the wrapped layer's."""

    def compute_output_shape(self, *args, **kwargs):
        return self.layer.compute_output_shape(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.layer.compute_output_spec(*args, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)


class CompressionWrapper(DelegatingWrapper):
    """The shared part of `PruneLowMagnitude` and `ClusterWeights`.

    A subclass names its step in class attributes; this class checks the
    wrapped layer, finds its compressed weights, names the wrapper, restores
    it from its config, wraps the chosen layers of a model (`wrap`) and
    strips the wrappers again (`strip`).
    """

    TABLE = ()  # (layer class, compressed weight names) of the step
    HOOK = ""  # the method through which a custom layer opts in
    VERB = ""  # "prune", "cluster": for names and messages
    GERUND = ""  # "pruning", "clustering"
    KIND = ""  # "Prunable", "Clusterable"
    NAME_PREFIX = ""  # default wrapper name: NAME_PREFIX + layer name
    # Message for a keras.Model passed as the layer; None: the generic one.
    MODEL_REFUSAL = None

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"`layer` must be a keras Layer. Received: {type(layer).__name__}"
            )
        names = weight_names(layer, self.TABLE, self.HOOK)
        is_model = isinstance(layer, keras.Model)
        if names is None or (is_model and self.MODEL_REFUSAL is None):
            raise ValueError(
                f"Cannot {self.VERB} layer '{layer.name}' of type "
                f"{type(layer).__name__}. {self.KIND} types: "
                f"{type_names(self.TABLE)} (or a custom layer with a "
                f"`{self.HOOK}()` method)."
            )
        if is_model:
            raise ValueError(self.MODEL_REFUSAL.format(name=layer.name))
        kwargs.setdefault("name", f"{self.NAME_PREFIX}{layer.name}")
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)
        self.supports_masking = layer.supports_masking
        self._weight_names = names

    def _build_layer(self, input_shape):
        """Builds the wrapped layer; returns its compressed variables."""
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        return resolve_weights(self.layer, self._weight_names, self.HOOK)

    def stripped_values(self):
        """NumPy values of the compressed weights as the plain layer keeps them."""
        raise NotImplementedError

    def stripped(self):
        """A copy of the wrapped layer holding `stripped_values()`."""
        inner = copy_layer(self.layer)
        if self.built:
            names = weight_names(inner, self.TABLE, self.HOOK)
            targets = resolve_weights(inner, names, self.HOOK)
            for var, value in zip(targets, self.stripped_values()):
                var.assign(value)
        return inner

    @classmethod
    def strip(cls, model):
        """`model` (or one wrapper) with every `cls` wrapper replaced by its layer."""
        if isinstance(model, cls):
            return model.stripped()

        def clone_fn(layer):
            return layer.stripped() if isinstance(layer, cls) else copy_layer(layer)

        return clone_with(
            model, clone_fn, "strip", touches=lambda layer: isinstance(layer, cls)
        )

    @classmethod
    def wrap(cls, target, layers, params, arg):
        """`cls(layer, **params)` around the chosen layers of a model, or one layer.

        A model is cloned with the layers that the selection rule chooses
        wrapped (layers already wrapped are kept as they are); a single layer
        is wrapped unless it already is.

        Args:
            target: a functional or Sequential keras.Model, or a keras Layer.
            layers: None (every supported layer) or a selection (names, type
                names, classes); only with a model.
            params: dict. The wrapper's other constructor arguments.
            arg: str. The caller's name for `target`, for messages.

        Returns:
            The wrapped clone of the model, or the wrapped layer.

        Raises:
            ValueError: `layers` given with a single layer, a subclassed
                model inside the model, or an invalid selection.
            TypeError: `target` is neither a model nor a layer.
        """
        if isinstance(target, keras.Model):
            chosen = select_layers(
                target, layers, cls.TABLE, cls.HOOK, (cls,), cls.VERB
            )

            def clone_fn(layer):
                if isinstance(layer, keras.Model):
                    raise ValueError(
                        f"Cannot {cls.VERB} inside subclassed model '{layer.name}'."
                    )
                copy = copy_layer(layer)
                return cls(copy, **params) if id(layer) in chosen else copy

            return clone_with(
                target, clone_fn, cls.VERB, touches=lambda layer: id(layer) in chosen
            )
        if isinstance(target, keras.layers.Layer):
            if layers is not None:
                raise ValueError(
                    "`layers` selects layers of a model; it cannot be used when "
                    f"{cls.GERUND} a single layer. Received: layers={layers!r}"
                )
            return target if isinstance(target, cls) else cls(target, **params)
        raise TypeError(
            f"`{arg}` must be a keras.Model (functional or Sequential) or a keras "
            f"Layer. Received: {type(target).__name__}"
        )

    @classmethod
    def _config_objects(cls, config):
        """Hook: turns serialized constructor arguments back into objects."""
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = cls._config_objects(dict(config))
        layer = keras.saving.deserialize_keras_object(
            config.pop("layer"), custom_objects=custom_objects
        )
        return cls(layer, **config)
