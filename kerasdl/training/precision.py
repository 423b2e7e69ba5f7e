"""Mixed precision: dtype policies for building models, and model conversion.

A Keras dtype policy is read when a layer is *constructed*: a model built
under "mixed_float16" computes in float16 with float32 variables, while an
already-built float32 model stays float32 whatever the global policy says
afterwards. Hence two ways in:

- Build under the policy: `with policy_scope("mixed_float16"): model = ...`
  (or `set_precision`, which sets the global policy for good). Keep the
  output layer in float32 yourself (`Dense(10, dtype="float32")` or a final
  `Activation("softmax", dtype="float32")`) so the softmax and the loss are
  computed in float32.
- Convert a built model: `cast_model(model, "mixed_float16")` rebuilds it
  from its config under the policy, with every floating-point layer on the
  mixed policy except the layers producing the model's outputs, which stay
  float32, and copies the weights over. This is what
  `kerasdl.training.Trainer` does when `precision` differs from the model's
  own (it also builds model *specs* this way). kerasdl's generative models
  (autoencoders, VAEs, GANs) are subclasses built from hyperparameters:
  they are rebuilt by their constructor under the policy and keep their
  own output layers float32 (`precision_from_policy`).

With "mixed_float16", `model.compile` wraps the optimizer in
`keras.optimizers.LossScaleOptimizer` (dynamic loss scaling) by itself (a
GAN's `compile` wraps its discriminator's optimizer too);
"mixed_bfloat16" needs no loss scaling (bfloat16 has float32's exponent
range).

Example:
>>> model = cast_model(kerasdl.build("mlp", input_shape=(40,), num_classes=10),
...                    "mixed_bfloat16")
>>> model.layers[1].compute_dtype, model.outputs[0].dtype
('bfloat16', 'float32')
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import keras

from kerasdl._checks import closest
from kerasdl.models._common import dtype_policy_scope, leaf_layers

__all__ = [
    "PRECISIONS",
    "cast_model",
    "model_precision",
    "policy_scope",
    "set_precision",
]

logger = logging.getLogger(__name__)

#: Accepted precision names.
PRECISIONS: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16")

# Policies a layer may be moved between; others (float64, int, quantized)
# are left as they are.
_FLOAT_POLICIES = ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


def _check_precision(name) -> str:
    if name not in PRECISIONS:
        raise ValueError(
            f"Unknown precision={name!r}.{closest(str(name), PRECISIONS)} "
            f"Accepted: {', '.join(PRECISIONS)}."
        )
    return name


def set_precision(name: str) -> None:
    """Sets Keras' global dtype policy (affects layers built afterwards).

    This is global state for the rest of the process; prefer
    `policy_scope` to limit it to the code that builds a model.

    Args:
        name: str. "float32", "mixed_float16" or "mixed_bfloat16".

    Raises:
        ValueError: for another name.

    Example:
    >>> set_precision("mixed_bfloat16")
    >>> keras.config.dtype_policy().name
    'mixed_bfloat16'
    """
    keras.config.set_dtype_policy(_check_precision(name))


@contextlib.contextmanager
def policy_scope(name: str):
    """Makes `name` Keras' global dtype policy inside a `with` block.

    The previous policy is restored on exit, also when the block raises.

    Args:
        name: str. "float32", "mixed_float16" or "mixed_bfloat16".

    Yields:
        keras.DTypePolicy: the active policy.

    Raises:
        ValueError: for another name.

    Example:
    >>> with policy_scope("mixed_float16"):
    ...     layer = keras.layers.Dense(4)
    >>> layer.compute_dtype, layer.variable_dtype
    ('float16', 'float32')
    """
    with dtype_policy_scope(_check_precision(name)) as policy:
        yield policy


def model_precision(model: keras.Model) -> str | None:
    """Returns the precision a built model runs at, or None if it is mixed up.

    Args:
        model: keras.Model. A built model.

    Returns:
        str or None: "float32", "mixed_float16" or "mixed_bfloat16" when
        every floating-point layer except the output layers uses that
        policy and the outputs are float32; None otherwise (e.g. float16
        outputs, or layers on different policies).

    Example:
    >>> model_precision(kerasdl.build("mlp", input_shape=(40,), num_classes=3))
    'float32'
    """
    if getattr(model, "precision_from_policy", False):
        # The model keeps its own float32 layers (outputs, losses) under a
        # mixed policy: its policy is its precision.
        name = model.dtype_policy.name
        return name if name in PRECISIONS else None
    output_layers = {id(layer) for layer in _output_layers(model)}
    names = set()
    for layer in leaf_layers(model):
        if isinstance(layer, keras.layers.InputLayer) or id(layer) in output_layers:
            continue
        name = layer.dtype_policy.name
        if name in _FLOAT_POLICIES:
            names.add(name)
    if not all(str(t.dtype) == "float32" for t in _float_outputs(model)):
        return None
    if not names:
        return "float32"
    if len(names) == 1 and next(iter(names)) in PRECISIONS:
        return next(iter(names))
    return None


def cast_model(model: keras.Model, precision: str) -> keras.Model:
    """Rebuilds a model under a precision, keeping its weights.

    Every floating-point layer gets the `precision` policy except the layers
    that produce the model's outputs, which get "float32", so outputs (and
    losses) are float32. The new model is built from `model.get_config()`
    under `policy_scope(precision)` (and under whatever distribution scope
    is active, so the Trainer uses this to place a model on a strategy);
    the weights are copied with `set_weights`. Compile state is not copied.

    A subclassed model whose class sets `precision_from_policy = True`
    (kerasdl's autoencoders, VAEs and GANs) builds its own graph from
    hyperparameters and keeps its output layers float32 under a mixed
    policy by itself: it is rebuilt with `from_config` under the policy.

    Args:
        model: keras.Model. A built Functional or Sequential model, or a
            subclassed model with `precision_from_policy = True`.
        precision: str. "float32", "mixed_float16" or "mixed_bfloat16".

    Returns:
        keras.Model: a new model of the same class.

    Raises:
        ValueError: for an unknown precision, an unbuilt model, or a model
            that cannot be rebuilt from its config.

    Example:
    >>> fp16 = cast_model(model, "mixed_float16")
    >>> fp16.layers[1].compute_dtype
    'float16'
    """
    _check_precision(precision)
    if not model.built:
        raise ValueError(
            f"cast_model needs a built model; model {model.name!r} is not built. "
            "Give it a keras.Input or call model.build(input_shape) first."
        )
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    by_policy = getattr(type(model), "precision_from_policy", False)
    if not isinstance(config, dict) or ("layers" not in config and not by_policy):
        raise ValueError(
            f"Cannot rebuild model {model.name!r} ({type(model).__name__}) under "
            f"precision {precision!r}: it has no layer config to rebuild from "
            "(subclassed model). Build it inside "
            f"kerasdl.training.precision.policy_scope({precision!r}) instead."
        )
    if by_policy:
        config = {**config, "dtype": precision}
    else:
        outputs = {layer.name for layer in _output_layers(model)}
        config = _rewrite_config(config, precision, outputs)
    with policy_scope(precision):
        try:
            new = type(model).from_config(config)
        except Exception as err:  # any rebuild failure gets the same advice
            raise ValueError(
                f"Cannot rebuild model {model.name!r} under precision "
                f"{precision!r} from its config: {err}. Build it inside "
                f"kerasdl.training.precision.policy_scope({precision!r}) instead."
            ) from err
    new.set_weights(model.get_weights())
    logger.info("Rebuilt model %r under precision %s.", model.name, precision)
    return new


# ----------------------------------------------------------------- helpers
def _rewrite_config(config: dict, precision: str, outputs: set) -> dict:
    """Sets layer dtypes in a model config; `outputs` layers get float32."""
    config = dict(config)
    if "dtype" in config:  # Sequential records the model's own policy
        config["dtype"] = precision
    layers = []
    for layer in config["layers"]:
        layer = dict(layer)
        inner = dict(layer.get("config", {}))
        if "layers" in inner:  # nested model: its outputs are ours if it is
            nested_outputs = (
                _config_output_names(inner) if inner.get("name") in outputs else set()
            )
            inner = _rewrite_config(inner, precision, nested_outputs)
        elif layer.get("class_name") != "InputLayer" and _is_float_policy(
            inner.get("dtype")
        ):
            inner["dtype"] = "float32" if inner.get("name") in outputs else precision
        layer["config"] = inner
        layers.append(layer)
    config["layers"] = layers
    return config


def _config_output_names(config: dict) -> set:
    if "output_layers" in config:
        refs = config["output_layers"]
        if refs and isinstance(refs[0], str):
            refs = [refs]
        return {ref[0] for ref in refs}
    # Sequential: the last layer.
    return {config["layers"][-1]["config"]["name"]}


def _is_float_policy(dtype: Any) -> bool:
    if dtype is None:
        return True  # unset: follows the global policy
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    return dtype in _FLOAT_POLICIES


def _output_layers(model) -> list:
    """Layers (of `model` itself) whose outputs are the model's outputs."""
    if isinstance(model, keras.Sequential):
        return [model.layers[-1]] if model.layers else []
    # The public functional config names the operation behind each output
    # ("output_layers": [name, node index, tensor index] triples); a
    # subclassed model has no graph and so no output layers.
    try:
        config = model.get_config()
    except NotImplementedError:
        return []
    if not isinstance(config, dict) or "output_layers" not in config:
        return []
    flat = keras.tree.flatten(config["output_layers"])
    names = {v for v in flat if isinstance(v, str)}
    return [op for op in getattr(model, "operations", []) if op.name in names]


def _float_outputs(model) -> list:
    return [
        t
        for t in keras.tree.flatten(getattr(model, "outputs", None) or [])
        if "float" in str(t.dtype)
    ]
