"""Name-or-dict config parsing shared by the loss and metric factories.

`make_loss` and `make_metrics` accept a name ("mse") or a dict with a
"name" and arguments; `split_named` validates both shapes against one table
of accepted keys, and the checks below validate the values. (The checks
move to `kerasdl/_checks.py` when that ground-floor module takes them over.)
"""

from __future__ import annotations

import numbers

from kerasdl.registry import closest

__all__ = ["check_bool", "check_int", "check_number", "split_named"]


def split_named(config, keys: dict, aliases: dict, kind: str) -> tuple[str, dict]:
    """Validates a name or {"name", ...} dict; returns (name, params)."""
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(
            f"A {kind} must be a name or a dict with a 'name'; received "
            f"{config!r}. Accepted names: {', '.join(sorted([*keys, *aliases]))}."
        )
    raw_name = config["name"]
    name = aliases.get(raw_name.lower(), raw_name.lower())
    if name not in keys:
        options = sorted([*keys, *aliases])
        raise ValueError(
            f"Unknown {kind} name={raw_name!r}.{closest(raw_name.lower(), options)} "
            f"Accepted: {', '.join(options)}."
        )
    accepted = keys[name]
    params = {k: v for k, v in config.items() if k != "name"}
    for key in params:
        if key not in accepted:
            listed = ", ".join(accepted) if accepted else "none"
            raise ValueError(
                f"Unknown key {key!r} for {kind} {name!r}."
                f"{closest(key, accepted)} Accepted: {listed}."
            )
    return name, {**accepted, **params}


def check_number(key: str, value, minimum: float | None = None, strict=False) -> float:
    """Returns `value` as a float; a ValueError unless a number >= (>) minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{key}` must be a number; received {key}={value!r}.")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(
            f"`{key}` must be {relation} {minimum}; received {key}={value!r}."
        )
    return float(value)


def check_int(key: str, value, minimum: int) -> int:
    """Returns `value` as an int; a ValueError unless an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{key}` must be an integer; received {key}={value!r}.")
    if value < minimum:
        raise ValueError(f"`{key}` must be >= {minimum}; received {key}={value!r}.")
    return int(value)


def check_bool(key: str, value) -> bool:
    """Returns `value`; a ValueError unless it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"`{key}` must be true or false; received {key}={value!r}.")
    return value
