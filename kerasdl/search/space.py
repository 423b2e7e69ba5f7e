"""Search spaces written inside any run config.

A value of a run config (a `kerasdl train` config: data, model, training)
may be replaced by a search parameter, a mapping with one marker key::

    model:
      model: mlp
      units: {choice: [32, 64, 128]}          # one of the listed values
      dropout: {range: [0.0, 0.5]}            # a float in [lo, hi]
      depth: {int: [1, 4]}                    # an integer in [lo, hi]
    training:
      optimizer:
        name: {choice: [adam, sgd]}
        learning_rate: {range: [1.0e-4, 1.0e-2], log: true}
        momentum: {range: [0.0, 0.95], when: {training.optimizer.name: sgd}}
      epochs: {int: [2, 8], step: 2}

Marker keys and their options:

- `choice: [v1, v2, ...]`: any values (numbers, strings, lists, mappings).
- `range: [lo, hi]`: a float; `log: true` samples log-uniformly (lo > 0);
  `step: s` restricts to lo + k*s.
- `int: [lo, hi]`: an integer; `step` (>= 1) and `log` as for range.
- `when: {other.dotted.key: value}` (or `{key: [v1, v2]}`) on any of them:
  a conditional parameter, active only when the named parameter (a choice
  or int parameter of the same config) takes one of those values. While it
  is inactive its key is left out of the config (the builder's or the
  Trainer's default applies), or set to `default: value` when given.

A parameter is named by its dotted key (`training.optimizer.learning_rate`,
`model.sequential[2].Dense.units`): the name shown in errors, results tables
and keras-tuner. `parse_space(config)` finds and validates every parameter
and checks the config itself: each choice value, and both ends of each range,
are put into the config one at a time (the others at their first value) and
the result validated with `kerasdl.runconfig.load_run_config`, so a space that
can produce an invalid config fails at once, naming the dotted key and the
value. `resolve(space, values)` returns a plain config for one point.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from typing import Any

from kerasdl._checks import (
    check_bool,
    check_float,
    check_int,
    closest,
    invalid,
    short_repr,
)
from kerasdl.runconfig import load_run_config
from kerasdl.spec import load_spec

__all__ = ["KINDS", "Parameter", "SearchSpace", "parse_space", "resolve"]

#: The marker keys of a search parameter.
KINDS = ("choice", "range", "int")
_OPTIONS = {"log", "step", "when", "default"}
_WHERE = "search space"
_MAX_CHOICES = 1000
_MAX_PARAMETERS = 200
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One search parameter of a config.

    Attributes:
        name: str. Its dotted key, e.g. "training.optimizer.learning_rate".
        path: tuple. Keys and list indices leading to it in the config.
        kind: str. "choice", "range" or "int".
        values: tuple. The choices (kind choice), else (lo, hi).
        log: bool. Log-uniform sampling (range and int).
        step: float, int or None. Grid step (range and int).
        when: dict. Parameter name -> tuple of values that activate it.
        default: Any. Value while inactive; `_MISSING` drops the key.
    """

    name: str
    path: tuple
    kind: str
    values: tuple
    log: bool = False
    step: Any = None
    when: dict = dataclasses.field(default_factory=dict)
    default: Any = _MISSING

    @property
    def first(self):
        """The value used for this parameter when validating the others."""
        return self.values[0]

    def sample(self, rng: random.Random):
        """A random value (uniform, or log-uniform with `log`)."""
        if self.kind == "choice":
            return self.values[rng.randrange(len(self.values))]
        lo, hi = self.values
        if self.log:
            value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            value = rng.uniform(lo, hi)
        if self.step:
            value = lo + round((value - lo) / self.step) * self.step
        if self.kind == "int":
            return int(min(max(round(value), lo), hi))
        return float(min(max(value, lo), hi))


@dataclasses.dataclass
class SearchSpace:
    """A run config with its search parameters taken out.

    Attributes:
        config: dict. The config with every parameter still in place.
        parameters: dict. Dotted name -> `Parameter`, parents before the
            parameters conditioned on them.
    """

    config: dict
    parameters: dict

    def sample(self, rng: random.Random | int | None = None) -> dict:
        """Values of the active parameters at a random point."""
        if not isinstance(rng, random.Random):
            rng = random.Random(rng)
        values: dict = {}
        for name, parameter in self.parameters.items():
            if is_active(parameter, values):
                values[name] = parameter.sample(rng)
        return values

    def resolve(self, values: dict) -> dict:
        """The plain config at `values` (see `resolve`)."""
        return resolve(self, values)


def is_active(parameter: Parameter, values: dict) -> bool:
    """Whether `parameter`'s conditions hold for the values chosen so far."""
    return all(
        name in values and values[name] in accepted
        for name, accepted in parameter.when.items()
    )


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _is_parameter(value) -> bool:
    return (
        isinstance(value, dict)
        and len(set(value) & set(KINDS)) == 1
        and set(value) <= set(KINDS) | _OPTIONS
    )


def _find(obj, path: tuple, found: list) -> None:
    if _is_parameter(obj):
        inner: list = []
        for key, value in obj.items():
            _find(value, (*path, key), inner)
        if inner:
            raise invalid(
                _dotted(inner[0][0]), inner[0][1],
                "a value (search parameters do not nest)", where=_WHERE,
            )  # fmt: skip
        found.append((path, obj))
        return
    if isinstance(obj, dict):
        if set(obj) & set(KINDS) and not set(obj) <= set(KINDS) | _OPTIONS:
            # A marker beside unknown keys is almost surely a misspelt option.
            extra = sorted(str(k) for k in set(obj) - set(KINDS) - _OPTIONS)
            raise ValueError(
                f"Invalid {_WHERE} parameter {_dotted(path)}: unknown key(s) "
                f"{extra}.{closest(extra[0], _OPTIONS)} Accepted beside "
                f"choice/range/int: {', '.join(sorted(_OPTIONS))}."
            )
        if len(set(obj) & set(KINDS)) > 1:
            raise invalid(
                _dotted(path), obj, "exactly one of choice, range, int", where=_WHERE
            )
        for key, value in obj.items():
            _find(value, (*path, key), found)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _find(value, (*path, i), found)


def _parameter(path: tuple, raw: dict) -> Parameter:
    name = _dotted(path)
    kind = next(k for k in KINDS if k in raw)
    values = raw[kind]
    log = check_bool(f"{name}.log", raw.get("log", False), where=_WHERE, yaml=True)
    step = raw.get("step")
    if kind == "choice":
        if not isinstance(values, list) or not 1 <= len(values) <= _MAX_CHOICES:
            raise invalid(
                f"{name}.choice", values,
                f"a list of 1 to {_MAX_CHOICES} values", where=_WHERE,
            )  # fmt: skip
        for key in ("log", "step"):
            if key in raw:
                raise invalid(
                    f"{name}.{key}",
                    raw[key],
                    "no such option on a choice",
                    where=_WHERE,
                )
        values = tuple(values)
    else:
        if not isinstance(values, list) or len(values) != 2:
            raise invalid(f"{name}.{kind}", values, "a list [lo, hi]", where=_WHERE)
        if kind == "int":
            lo = check_int(f"{name}.int[0]", values[0], where=_WHERE)
            hi = check_int(f"{name}.int[1]", values[1], lo, where=_WHERE)
            if step is not None:
                step = check_int(f"{name}.step", step, 1, where=_WHERE)
        else:
            lo = check_float(f"{name}.range[0]", values[0], where=_WHERE)
            hi = check_float(
                f"{name}.range[1]", values[1], lo, min_inclusive=False, where=_WHERE
            )
            if step is not None:
                step = check_float(
                    f"{name}.step", step, 0, min_inclusive=False, where=_WHERE
                )
        if log and lo <= 0:
            raise invalid(
                f"{name}.{kind}", values, "lo > 0 with log: true", where=_WHERE
            )
        values = (lo, hi)
    when = raw.get("when", {})
    if not isinstance(when, dict) or ("when" in raw and not when):
        raise invalid(
            f"{name}.when", when,
            "a mapping {other.dotted.key: value or [values]}", where=_WHERE,
        )  # fmt: skip
    when = {str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in when.items()}
    if when and "default" not in raw and isinstance(path[-1], int):
        raise invalid(
            f"{name}.default", None,
            "a value: a conditional list item needs one while inactive",
            where=_WHERE,
        )  # fmt: skip
    return Parameter(
        name, path, kind, values, log, step, when, raw.get("default", _MISSING)
    )


def _order(parameters: dict) -> dict:
    """Parents before children; refuses unknown or cyclic conditions."""
    for parameter in parameters.values():
        for parent, accepted in parameter.when.items():
            where = f"{parameter.name}.when"
            if parent not in parameters:
                raise invalid(
                    where, {parent: list(accepted)},
                    "conditions on other parameters of this config",
                    hint=closest(parent, parameters)
                    + f" Parameters: {', '.join(parameters)}.",
                    where=_WHERE,
                )  # fmt: skip
            other = parameters[parent]
            if other.kind == "range":
                raise invalid(
                    where, {parent: list(accepted)},
                    f"a condition on a choice or int parameter ({parent} is a range)",
                    where=_WHERE,
                )  # fmt: skip
            for value in accepted:
                ok = (
                    value in other.values
                    if other.kind == "choice"
                    else isinstance(value, int)
                    and other.first <= value <= other.values[1]
                )
                if not ok:
                    raise invalid(
                        where, {parent: value},
                        f"values {parent} can take",
                        options=other.values if other.kind == "choice" else None,
                        where=_WHERE,
                    )  # fmt: skip
    ordered: dict = {}
    pending = dict(parameters)
    while pending:
        ready = [n for n, p in pending.items() if all(q in ordered for q in p.when)]
        if not ready:
            raise ValueError(
                f"Invalid {_WHERE}: the 'when' conditions of "
                f"{', '.join(pending)} form a cycle."
            )
        for name in ready:
            ordered[name] = pending.pop(name)
    return ordered


def _set(config, path: tuple, value) -> None:
    target = config
    for part in path[:-1]:
        target = target[part]
    if value is _MISSING:  # only mapping keys: list items need a default
        target.pop(path[-1], None)
    else:
        target[path[-1]] = copy.deepcopy(value)


def resolve(space: SearchSpace, values: dict) -> dict:
    """The plain config with each parameter replaced by its value.

    Args:
        space: SearchSpace. From `parse_space`.
        values: dict. Dotted name -> value, for the active parameters
            (missing active ones take their first value).

    Returns:
        dict: a copy of the config without search parameters. An inactive
        parameter's key is dropped, or set to its `default`.
    """
    config = copy.deepcopy(space.config)
    chosen: dict = {}
    for parameter in space.parameters.values():
        if is_active(parameter, {**values, **chosen}):
            value = values.get(parameter.name, parameter.first)
        else:
            value = parameter.default
        chosen[parameter.name] = value
        _set(config, parameter.path, value)
    return config


def parse_space(config, *, validate: bool = True) -> SearchSpace:
    """Finds and validates the search parameters of a run config.

    Args:
        config: dict, YAML string or YAML/JSON file path. A run config
            (`kerasdl.runconfig`) with search parameters in place of values.
        validate: bool. Also check that every choice value and both ends of
            every range give a valid run config (`load_run_config`).

    Returns:
        SearchSpace: the config and its parameters.

    Raises:
        ValueError: naming the parameter's dotted key, the value received
            and what is accepted, for a malformed parameter, a condition on
            an unknown parameter, no parameter at all, or a value that makes
            the run config invalid.

    Example:
    >>> space = parse_space({"data": "digits", "model": {"model": "mlp",
    ...     "units": {"choice": [32, 64]}}})
    >>> list(space.parameters)
    ['model.units']
    """
    config = load_spec(config)
    if not isinstance(config, dict):
        raise invalid("config", config, "a run config mapping", where=_WHERE)
    found: list = []
    _find(config, (), found)
    if not found:
        raise ValueError(
            "The run config has no search parameter: write one value as "
            "{choice: [...]}, {range: [lo, hi]} or {int: [lo, hi]}."
        )
    if len(found) > _MAX_PARAMETERS:
        raise invalid(
            "parameters", len(found), f"at most {_MAX_PARAMETERS}", where=_WHERE
        )
    parameters = {_dotted(path): _parameter(path, raw) for path, raw in found}
    space = SearchSpace(config, _order(parameters))
    if validate:
        _validate(space)
    return space


def _validate(space: SearchSpace) -> None:
    """Each value of each parameter, the others at their first value."""
    base = {name: p.first for name, p in space.parameters.items()}
    order = list(space.parameters)
    try:
        load_run_config(resolve(space, base), "train")
    except ValueError as error:
        # The parameters the error is about (their key is named in it) are
        # checked first, so the message names the parameter and its value.
        text = str(error)
        named = [
            name
            for name, p in space.parameters.items()
            if name in text or f"{p.path[-1]!r}" in text or f"{p.path[-1]}=" in text
        ]
        for name in named:
            _validate_parameter(space, base, name)
        raise ValueError(
            "Invalid search space: with every search parameter at its first "
            f"value the run config is invalid: {error}"
        ) from None
    for name in order:
        _validate_parameter(space, base, name)


def _validate_parameter(space: SearchSpace, base: dict, name: str) -> None:
    parameter = space.parameters[name]
    tried = (
        parameter.values
        if parameter.kind == "choice"
        else [parameter.values[0], parameter.values[1]]
    )
    for value in tried:
        values = dict(base)
        # Satisfy this parameter's conditions so that it is active.
        for parent, accepted in parameter.when.items():
            values[parent] = accepted[0]
        values[name] = value
        try:
            load_run_config(resolve(space, values), "train")
        except ValueError as error:
            raise ValueError(
                f"Invalid {_WHERE} parameter {name}: the value "
                f"{short_repr(value)} makes the run config invalid: {error}"
            ) from None
