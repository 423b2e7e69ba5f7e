"""The `make_optimizer` factory: a validated config dict to a Keras optimizer.

Everything is Keras' own: the optimizer classes, their decoupled weight
decay, gradient clipping (`clipnorm`, `clipvalue`, `global_clipnorm`),
gradient accumulation and weight EMA. This module only checks a config
before Keras sees it, so a typo or a conflicting option fails with a message
that names it instead of being silently ignored, and lets "learning_rate" be
a schedule config (see `kerasdl.training.schedules.make_schedule`).

Example:
>>> optimizer = make_optimizer({
...     "name": "adamw", "weight_decay": 0.05, "global_clipnorm": 1.0,
...     "learning_rate": {"name": "cosine", "learning_rate": 1e-3,
...                       "decay_steps": 1000}})
"""

from __future__ import annotations

import inspect
import logging
import numbers
from typing import Any

import keras

from kerasdl._checks import check_float, check_known_keys, short_repr
from kerasdl.training._named import require_name, resolve_name
from kerasdl.training.schedules import make_schedule

__all__ = [
    "OPTIMIZER_NAMES",
    "check_optimizer",
    "make_optimizer",
]

logger = logging.getLogger(__name__)

_OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adagrad": keras.optimizers.Adagrad,
    "adam": keras.optimizers.Adam,
    "adamax": keras.optimizers.Adamax,
    "adamw": keras.optimizers.AdamW,
    "lamb": keras.optimizers.Lamb,
    "lion": keras.optimizers.Lion,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}

#: Names accepted by `make_optimizer`.
OPTIMIZER_NAMES: tuple[str, ...] = tuple(sorted(_OPTIMIZERS))

_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")
_EMA_OPTIONS = ("ema_momentum", "ema_overwrite_frequency")


def _accepted_keys(cls) -> list[str]:
    # The optimizer's constructor arguments are its config keys; "name" is
    # taken by the optimizer type in our configs.
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in params
        if p.name not in ("self", "name")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def make_optimizer(config, learning_rate=None) -> keras.optimizers.Optimizer:
    """Builds a Keras optimizer from a name or a config dict.

    Accepted names: adagrad, adam, adamax, adamw, lamb, lion, nadam, rmsprop,
    sgd. The other keys are the Keras optimizer's constructor arguments (e.g.
    `momentum` and `nesterov` for "sgd", `beta_1` for "adam") plus the options
    every Keras optimizer has:

    - `learning_rate`: float, schedule config dict or LearningRateSchedule
      (built with `make_schedule`); defaults to the optimizer's Keras default.
    - `weight_decay`: float >= 0, decoupled: each step multiplies the
      weights by `1 - learning_rate * weight_decay`.
    - `clipnorm` (per-variable gradient norm), `clipvalue` (per-element) or
      `global_clipnorm` (norm over all gradients): at most one of them.
    - `gradient_accumulation_steps`: int >= 1; weights change every N-th
      call with the mean of the N gradients (1 means no accumulation).
    - `use_ema`, `ema_momentum`, `ema_overwrite_frequency`: keep an
      exponential moving average of the weights; with an overwrite
      frequency, the weights are replaced by the average every that many
      steps.

    Args:
        config: str or dict. An optimizer name, or a dict with "name" and
            arguments.
        learning_rate: float, dict, LearningRateSchedule or None. The
            learning rate, when the config does not give one (giving both is
            an error).

    Returns:
        keras.optimizers.Optimizer.

    Raises:
        ValueError: for an unknown name or argument, more than one clipping
            option, EMA options without `use_ema=True`, or a value out of
            range.

    Example:
    >>> make_optimizer("adam")
    >>> make_optimizer({"name": "sgd", "momentum": 0.9, "nesterov": True},
    ...                learning_rate=0.1)
    """
    cls, kwargs = _optimizer_arguments(config, learning_rate)
    optimizer = cls(**kwargs)
    logger.debug("Built optimizer %s with %s", cls.__name__, kwargs)
    return optimizer


def check_optimizer(config, learning_rate=None) -> None:
    """Makes every check `make_optimizer` makes, without building it.

    Building a Keras optimizer creates its variables, which starts the
    backend's runtime: on TensorFlow that fixes the devices before a
    distribution strategy could split the CPU. Validation calls this instead,
    so a config is checked completely and nothing runs on the backend.

    Args:
        config: str or dict. As for `make_optimizer`.
        learning_rate: as for `make_optimizer`.

    Raises:
        ValueError: as `make_optimizer` would, including the ranges Keras'
            constructors check (SGD's momentum in [0, 1], Lion's beta_1 in
            (0, 1], AdamW's weight_decay given).

    Example:
    >>> check_optimizer({"name": "sgd", "momentum": 1.5})
    Traceback (most recent call last):
    ValueError: ...momentum...
    """
    _optimizer_arguments(config, learning_rate)


def _optimizer_arguments(config, learning_rate=None):
    """(optimizer class, checked constructor arguments) of a config."""
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict):
        raise ValueError(
            "An optimizer config must be a name or a dict with a 'name'; "
            f"received {short_repr(config)} of type {type(config).__name__}."
        )
    require_name(config, "Optimizer", OPTIMIZER_NAMES)
    name = resolve_name(config["name"], "optimizer", OPTIMIZER_NAMES)
    cls = _OPTIMIZERS[name]
    accepted = _accepted_keys(cls)
    kwargs: dict[str, Any] = {k: v for k, v in config.items() if k != "name"}
    check_known_keys(kwargs, accepted, "optimizer", name, word="argument")

    if learning_rate is not None:
        if "learning_rate" in kwargs:
            raise ValueError(
                "The learning rate is given twice: in the optimizer config "
                f"(learning_rate={kwargs['learning_rate']!r}) and as the "
                f"argument learning_rate={learning_rate!r}; give only one."
            )
        kwargs["learning_rate"] = learning_rate
    if "learning_rate" in kwargs:
        kwargs["learning_rate"] = make_schedule(kwargs["learning_rate"])

    _validate_options(name, kwargs)
    return cls, kwargs


def _validate_options(name: str, kwargs: dict[str, Any]) -> None:
    """Checks the options shared by all optimizers, in place.

    Also the ranges that Keras' constructors check, so that `check_optimizer`
    refuses what building would.
    """
    if name == "sgd" and kwargs.get("momentum") is not None:
        kwargs["momentum"] = check_float("momentum", kwargs["momentum"], 0.0, 1.0)
    if name == "lion" and kwargs.get("beta_1") is not None:
        kwargs["beta_1"] = check_float(
            "beta_1", kwargs["beta_1"], 0.0, 1.0, min_inclusive=False
        )
    if name == "adamw" and "weight_decay" in kwargs and kwargs["weight_decay"] is None:
        raise ValueError(
            "AdamW needs a weight_decay (a float >= 0; 0.004 by default); "
            "received weight_decay=None."
        )
    clipping = {k: kwargs[k] for k in _CLIPPING if kwargs.get(k) is not None}
    if len(clipping) > 1:
        raise ValueError(
            "At most one of clipnorm, clipvalue and global_clipnorm can be set; "
            f"received {clipping}."
        )
    for key, value in clipping.items():
        check_float(key, value, minimum=0, min_inclusive=False)
    if kwargs.get("weight_decay") is not None:
        check_float("weight_decay", kwargs["weight_decay"], minimum=0)

    steps = kwargs.get("gradient_accumulation_steps")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
            raise ValueError(
                "`gradient_accumulation_steps` must be an integer >= 1; "
                f"received gradient_accumulation_steps={steps!r}."
            )
        if steps < 1:
            raise ValueError(
                "`gradient_accumulation_steps` must be >= 1; received "
                f"gradient_accumulation_steps={steps}."
            )
        # Keras wants >= 2; one step per update is no accumulation at all.
        kwargs["gradient_accumulation_steps"] = int(steps) if steps > 1 else None

    use_ema = kwargs.get("use_ema", False)
    if not isinstance(use_ema, bool):
        raise ValueError(
            f"`use_ema` must be true or false; received use_ema={use_ema!r}."
        )
    ema_given = [k for k in _EMA_OPTIONS if kwargs.get(k) is not None]
    if ema_given and not use_ema:
        raise ValueError(
            f"{', '.join(ema_given)} only take effect with use_ema=True; "
            f"received use_ema={use_ema!r} for optimizer {name!r}."
        )
    if kwargs.get("ema_momentum") is not None:
        momentum = check_float("ema_momentum", kwargs["ema_momentum"], minimum=0)
        if momentum > 1.0:
            raise ValueError(
                f"`ema_momentum` must be in [0, 1]; received ema_momentum={momentum}."
            )
    frequency = kwargs.get("ema_overwrite_frequency")
    if frequency is not None and (
        isinstance(frequency, bool)
        or not isinstance(frequency, numbers.Integral)
        or frequency < 1
    ):
        raise ValueError(
            "`ema_overwrite_frequency` must be an integer >= 1 or None; "
            f"received ema_overwrite_frequency={frequency!r}."
        )
