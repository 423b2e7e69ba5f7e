"""Name-or-dict config parsing shared by the training factories.

`make_loss` and `make_metrics` accept a name ("mse") or a dict with a
"name" and arguments; `split_named` validates both shapes against one table
of accepted keys; `kerasdl._checks` validates the values. The optimizer and
schedule factories, whose configs take other shapes too, resolve the name
and check the keys with the same two helpers (`resolve_name`,
`check_known_keys`), so every factory words these errors alike.
"""

from __future__ import annotations

from kerasdl._checks import check_known_keys, closest, short_repr

__all__ = ["require_name", "resolve_name", "split_named"]


def split_named(config, keys: dict, aliases: dict, kind: str) -> tuple[str, dict]:
    """Validates a name or {"name", ...} dict; returns (name, params)."""
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(
            f"A {kind} must be a name or a dict with a 'name'; received "
            f"{short_repr(config)}. Accepted names: {', '.join(sorted([*keys, *aliases]))}."
        )
    name = resolve_name(config["name"], kind, sorted([*keys, *aliases]), aliases)
    accepted = keys[name]
    params = {k: v for k, v in config.items() if k != "name"}
    check_known_keys(params, accepted, kind, name)
    return name, {**accepted, **params}


def require_name(config: dict, what: str, options) -> None:
    """Raises a ValueError unless the config dict has a "name".

    Args:
        config: dict. The config.
        what: str. Its title for the error ("Optimizer", "Schedule").
        options: Sequence of str. Accepted names, listed in the error.
    """
    if "name" not in config:
        raise ValueError(
            f"{what} config {config!r} has no 'name'; "
            f"accepted names: {', '.join(options)}."
        )


def resolve_name(raw_name, kind: str, options, aliases=None):
    """The lower-cased name (aliases resolved) if it is one of `options`.

    Args:
        raw_name: The name as the config spells it (any case; a non-string
            is refused).
        kind: str. What is named ("optimizer", "loss"), for the error.
        options: Sequence of str. Accepted names, listed in the error.
        aliases: dict or None. Other spellings -> accepted names.

    Raises:
        ValueError: "Unknown <kind> name=...", with the closest match and
            the accepted names.
    """
    name = raw_name.lower() if isinstance(raw_name, str) else raw_name
    name = (aliases or {}).get(name, name)
    if name not in options:
        raise ValueError(
            f"Unknown {kind} name={raw_name!r}.{closest(name, options)} "
            f"Accepted: {', '.join(options)}."
        )
    return name
