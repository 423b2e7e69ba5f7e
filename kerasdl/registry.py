"""The model registry: architecture names mapped to builder functions.

A builder is a plain function whose keyword arguments are its hyperparameters
and which returns a `keras.Model`. Registering it under one or more names
(optionally with some hyperparameters fixed, e.g. `depth=16` for "vgg16")
makes it available to `kerasdl.build`, `kerasdl.list_models`,
`kerasdl.model_info`, YAML specs and the registry-wide sweep test.

Families register themselves when their module is imported, and `import
kerasdl` imports every family; this module imports no model module, so
imports run one way (models -> registry).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import re
from collections.abc import Callable
from typing import Any

from kerasdl._checks import (
    check_choice,
    check_size_budget,
    closest,
    estimate_size,
    invalid,
    is_int,
    is_number,
    short_repr,
)

__all__ = [
    "TASKS",
    "ModelEntry",
    "build_model",
    "check_hparam_values",
    "get_entry",
    "get_task",
    "list_models",
    "model_index",
    "model_info",
    "register_model",
    "set_task",
]

# What a model's output is. A family declares one when it registers; the
# Trainer picks its default loss and metrics from it
# (kerasdl.training.trainer). "features" marks outputs that are not a task's
# prediction (a backbone built with include_top=False, an encoder's hidden
# states): they have no default loss. "reconstruction" (autoencoders: the
# target is the input) and "generation" (VAE, GANs, diffusion) models compute
# their own loss: the Trainer compiles them without one.
TASKS = (
    "classification",
    "regression",
    "forecasting",
    "tagging",
    "segmentation",
    "language_modeling",
    "masked_language_modeling",
    "seq2seq",
    "features",
    "reconstruction",
    "generation",
)

# The attribute of a built model that holds its task: a plain string that
# `build_model` sets and the Trainer carries over when it rebuilds a model for
# precision or distribution. Keras does not save it in a .keras file, so a
# loaded model (like one built by hand) has no task until `set_task` gives
# it one.
TASK_ATTRIBUTE = "kerasdl_task"


def set_task(model, task: str):
    """Records what `model`'s output is and returns the model.

    Args:
        model: keras.Model.
        task: str. One of `TASKS`.

    Returns:
        The same model.

    Raises:
        ValueError: for a task not in `TASKS`.

    Example:
    >>> model = set_task(keras.Sequential([keras.Input((4,)),
    ...                                    keras.layers.Dense(1)]), "regression")
    >>> get_task(model)
    'regression'
    """
    check_choice("task", task, TASKS)
    setattr(model, TASK_ATTRIBUTE, task)
    return model


def get_task(model) -> str | None:
    """Returns the task recorded on `model` (see `set_task`), or None."""
    return getattr(model, TASK_ATTRIBUTE, None)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered architecture.

    Attributes:
        name: str. Registry name, lower case (e.g. "resnet50").
        builder: callable. Returns a `keras.Model` from keyword hyperparameters.
        family: str. Family the model belongs to (e.g. "resnet").
        description: str. One line shown by `kerasdl list`.
        presets: dict. Hyperparameters fixed by this name (e.g. depth=50).
        tiny: dict. Hyperparameters of a tiny, fast test variant (timm
            style). It may override presets (e.g. fewer blocks per stage for
            a 152-layer ResNet): the full-size graph is covered by the
            parameter-count tests, the tiny one by the registry sweep.
        task: str. What the output is: "classification", "segmentation",
            "regression", ... Tests use it to make targets.
    """

    name: str
    builder: Callable[..., Any]
    family: str
    description: str
    presets: dict
    tiny: dict
    task: str = "classification"

    def build_tiny(self):
        """Builds the tiny test variant (presets overridden by `tiny`)."""
        return self.builder(**{**self.presets, **self.tiny})

    def hyperparameters(self) -> dict[str, dict[str, Any]]:
        """Returns {name: {"default": value, "doc": one line}} of free hparams."""
        docs = _arg_docs(self.builder)
        params = {}
        for param in inspect.signature(self.builder).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.name in self.presets:
                continue
            default = None if param.default is param.empty else param.default
            params[param.name] = {
                "default": default,
                "required": param.default is param.empty,
                "doc": docs.get(param.name, ""),
            }
        return params


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    builder: Callable[..., Any] | None = None,
    *,
    family: str,
    description: str | None = None,
    presets: dict | None = None,
    tiny: dict | None = None,
    task: str = "classification",
):
    """Registers `builder` under `name`; usable as a decorator.

    Args:
        name: str. Registry name; stored lower case, must be unique.
        builder: callable or None. When None, returns a decorator.
        family: str. Family name used for grouping (e.g. "vgg").
        description: str or None. One line; defaults to the first line of
            the builder's docstring.
        presets: dict or None. Hyperparameters this name fixes.
        tiny: dict or None. Hyperparameters of a tiny instance for tests.
        task: str. Kind of output, one of `TASKS` (see `ModelEntry.task`);
            `build_model` records it on the model for the Trainer.

    Returns:
        The builder (so it can be used as a decorator).

    Raises:
        ValueError: if the name is taken or a preset is not a builder argument.

    Example:
    >>> @register_model("tiny_mlp", family="mlp", tiny={"input_shape": (4,)})
    ... def tiny_mlp(input_shape=(8,), num_classes=2): ...
    """

    check_choice("task", task, TASKS)

    def decorate(fn):
        key = name.lower()
        if key in _REGISTRY:
            raise ValueError(f"Model name {name!r} is already registered.")
        accepted = set(inspect.signature(fn).parameters)
        for group, values in (("presets", presets), ("tiny", tiny)):
            unknown = sorted(set(values or {}) - accepted)
            if unknown:
                raise ValueError(
                    f"{group} of {name!r} name unknown hyperparameters "
                    f"{unknown}; {fn.__name__} accepts {sorted(accepted)}."
                )
        doc_line = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        _REGISTRY[key] = ModelEntry(
            name=key,
            builder=fn,
            family=family,
            description=description or doc_line,
            presets=dict(presets or {}),
            tiny=dict(tiny or {}),
            task=task,
        )
        return fn

    if builder is not None:
        return decorate(builder)
    return decorate


def get_entry(name: str) -> ModelEntry:
    """Returns the registry entry for `name`.

    Raises:
        ValueError: naming the unknown architecture, the closest names and
            the known ones.
    """
    if not isinstance(name, str):
        raise ValueError(
            f"Model name must be a string; received {short_repr(name)} "
            f"of type {type(name).__name__}."
        )
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(
            f"Unknown architecture {short_repr(name)}.{closest(key, _REGISTRY)} "
            f"Known: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[key]


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Lists registered architecture names matching a wildcard pattern.

    Args:
        pattern: str. fnmatch-style pattern, case-insensitive ("res*").
        family: str or None. Only names of this family.

    Returns:
        Sorted list of names.

    Example:
    >>> kerasdl.list_models("vgg*")
    ['vgg11', 'vgg13', 'vgg16', 'vgg19']
    """
    pattern = pattern.lower()
    return sorted(
        name
        for name, entry in _REGISTRY.items()
        if fnmatch.fnmatchcase(name, pattern)
        and (family is None or entry.family == family)
    )


def model_index() -> list[dict[str, str]]:
    """Name, family and description of every registered architecture.

    The command line answers `kerasdl list` from a copy of this index
    (kerasdl/model_index.json, written by scripts/make_model_index.py and
    checked equal to it by tests/test_cli.py) without importing Keras.

    Returns:
        list of {"name", "family", "description"} dicts, sorted by name.

    Example:
    >>> kerasdl.registry.model_index()[0]["name"]
    'alexnet'
    """
    return [
        {
            "name": name,
            "family": _REGISTRY[name].family,
            "description": _REGISTRY[name].description,
        }
        for name in list_models()
    ]


def model_info(name: str) -> dict[str, Any]:
    """Describes an architecture: family, description, fixed and free hparams.

    Args:
        name: str. A registered architecture name.

    Returns:
        dict with keys "name", "family", "description", "task", "presets"
        and "hyperparameters" ({hparam: {"default", "required", "doc"}}).
    """
    entry = get_entry(name)
    return {
        "name": entry.name,
        "family": entry.family,
        "description": entry.description,
        "task": entry.task,
        "presets": dict(entry.presets),
        "hyperparameters": entry.hyperparameters(),
    }


def build_model(name: str, /, **hparams):
    """Builds a registered architecture after checking its hyperparameters.

    Before the builder runs, each hyperparameter is checked by name (known,
    not fixed by a preset), by type against its default (a bool where the
    default is a bool, a number and never a bool or string where it is a
    number, integers in lists of integers) and the whole set against the
    size limits (`kerasdl._checks.check_size_budget`), so an absurd size is
    refused before any weight is allocated.

    Args:
        name: str. A registered architecture name (positional only, so a
            hyperparameter may itself be called "name").
        **hparams: The builder's hyperparameters.

    Returns:
        keras.Model.

    Raises:
        ValueError or TypeError: naming the architecture, the hyperparameter,
            the value received and what is accepted.
    """
    entry = get_entry(name)
    accepted = entry.hyperparameters()
    for key in hparams:
        if key in entry.presets:
            raise ValueError(
                f"Hyperparameter {key!r} is fixed to {entry.presets[key]!r} by "
                f"architecture {entry.name!r}; received "
                f"{key}={short_repr(hparams[key])}."
            )
        if key not in accepted:
            raise ValueError(
                f"Unknown hyperparameter {short_repr(key)} for architecture "
                f"{entry.name!r}.{closest(key, accepted)} "
                f"Accepted: {', '.join(sorted(accepted))}."
            )
    missing = [k for k, v in accepted.items() if v["required"] and k not in hparams]
    if missing:
        raise ValueError(
            f"Architecture {entry.name!r} requires hyperparameters {missing}."
        )
    check_hparam_values(entry.name, hparams)
    try:
        model = entry.builder(**entry.presets, **hparams)
    except Exception as err:  # re-raised in the contract, naming the model
        raise _builder_error(entry.name, hparams, err) from err
    # A builder may have recorded a narrower task itself (e.g. "features"
    # for a backbone built without its classifier); otherwise the entry's.
    if get_task(model) is None:
        set_task(model, entry.task)
    return model


def check_hparam_values(name: str, hparams: dict) -> None:
    """Checks hyperparameter values by type and the model's estimated size.

    Nothing is built: a bool where the builder's default is a bool, a number
    (never a bool or a string) where it is a number, integers in lists of
    integers, then the size estimate of `kerasdl._checks.estimate_size`
    against the limits. Names not accepted by the builder are skipped (the
    caller reports them).

    Args:
        name: str. A registered architecture name.
        hparams: dict. Hyperparameters by name.

    Raises:
        ValueError: naming the hyperparameter, the value and what is
            accepted, or giving the estimate and the limit.
    """
    entry = get_entry(name)
    accepted = entry.hyperparameters()
    for key, value in hparams.items():
        if key in accepted:
            _check_type(entry.name, key, value, accepted[key]["default"])
    defaults = {k: v["default"] for k, v in accepted.items()}
    estimate, layers = estimate_size({**defaults, **entry.presets, **hparams})
    check_size_budget(f"Architecture {entry.name!r}", estimate, layers)


def _check_type(model: str, key: str, value, default) -> None:
    """Refuses a value whose type cannot be what the default's type says."""
    where = f"hyperparameter of {model!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool) and value is not None:
            raise invalid(key, value, "true or false", where=where)
    elif is_number(default):
        # Lists pass: a size may also take one value per axis or stage.
        if isinstance(value, (bool, str, bytes, dict)):
            kind = "an integer" if is_int(default) else "a number"
            raise invalid(key, value, kind, where=where)
    elif (
        isinstance(default, (list, tuple))
        and default
        and all(is_int(d) for d in default)
    ):
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items[:1000]:
            if not (item is None or is_int(item)):
                raise invalid(
                    key, value, "an integer or a list of integers", where=where
                )


def _builder_error(model: str, hparams: dict, err: Exception) -> Exception:
    """The builder's error in the contract: ValueError/TypeError naming the model.

    kerasdl's own checks already name the hyperparameter ("Invalid units=0:
    ..."); those pass unchanged. Anything else (a KeyError or an unnamed
    TypeError from inside Keras, a RecursionError, an OverflowError) becomes
    an error that names the architecture and the hyperparameters given.
    """
    message = str(err)
    if isinstance(err, (ValueError, TypeError)) and (
        message.startswith(("Invalid ", "Unknown "))
        or any(f"{key}=" in message or f"'{key}'" in message for key in hparams)
    ):
        return err
    cls = TypeError if isinstance(err, TypeError) else ValueError
    given = ", ".join(f"{k}={short_repr(v, limit=40)}" for k, v in hparams.items())
    return cls(
        f"Architecture {model!r} could not be built from hyperparameters "
        f"({given or 'defaults'}): {type(err).__name__}: "
        f"{message[:300]}{'...' if len(message) > 300 else ''}"
    )


_ARGS_HEADER = re.compile(r"^\s*Args:\s*$")
_ARG_LINE = re.compile(r"^\s{4}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _arg_docs(fn) -> dict[str, str]:
    """Parses a Google-style "Args:" section into {arg: first sentence}."""
    doc = inspect.getdoc(fn) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    inside = False
    current = None
    for line in lines:
        if _ARGS_HEADER.match(line):
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            break  # next section ("Returns:", ...)
        match = _ARG_LINE.match(line)
        if match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out
