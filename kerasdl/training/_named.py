"""Name-or-dict config parsing shared by the loss and metric factories.

`make_loss` and `make_metrics` accept a name ("mse") or a dict with a
"name" and arguments; `split_named` validates both shapes against one table
of accepted keys; `kerasdl._checks` validates the values.
"""

from __future__ import annotations

from kerasdl._checks import closest

__all__ = ["split_named"]


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
