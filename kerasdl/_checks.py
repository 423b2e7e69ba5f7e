"""Argument checks with one error format, and the closest-match hint.

Every kerasdl error about a bad argument reads the same way::

    Invalid [<where> ]<name>=<value!r>[: expected <what>].[ <hint>][ Accepted: <list>.]

e.g. `Invalid units=0: expected an integer >= 1.` or, for a choice,
`Invalid pooling='maxx'. Did you mean 'max'? Accepted: 'avg', 'max'.`,
so users learn one shape and tests can match on `name=value`. The helpers
return the value (converted to a plain Python type) so call sites read
`self.units = check_int("units", units, minimum=1)`.

This module is the ground floor: it imports nothing from kerasdl.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = [
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_int_pair",
    "check_known_keys",
    "check_rate",
    "check_sizes",
    "closest",
    "invalid",
    "is_int",
    "is_number",
    "is_shape",
]


def closest(value, options: Iterable, n: int = 3, cutoff: float = 0.6) -> str:
    """Formats a `' Did you mean ...?'` hint, or `''` when nothing is close.

    Matching ignores case and reports the options as spelled. Never raises on
    odd input: a non-string value, or non-string options, simply do not match.

    Args:
        value: Any. The value the user gave.
        options: Iterable. Accepted values; only strings take part.
        n: int. At most this many suggestions.
        cutoff: float. difflib similarity needed, in [0, 1].

    Returns:
        str: `" Did you mean 'a' or 'b'?"` or `""`.

    Example:
        >>> closest("resnt20", ["resnet20", "lenet5"])
        " Did you mean 'resnet20'?"
    """
    if not isinstance(value, str):
        return ""
    try:
        options = list(options)
    except TypeError:
        return ""
    lowered: dict[str, str] = {}
    for option in options:
        if isinstance(option, str):
            lowered.setdefault(option.lower(), option)
    found = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=cutoff)
    if not found:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[m]) for m in found) + "?"


def invalid(
    name: str,
    value,
    expected: str | None = None,
    *,
    hint: str = "",
    options: Iterable | None = None,
    where: str = "",
) -> ValueError:
    """Builds (does not raise) the ValueError in kerasdl's one error format.

    Args:
        name: str. Argument name or dotted config key (`training.epochs`).
        value: Any. The value received (shown with `repr`).
        expected: str or None. What is accepted, e.g. `"an integer >= 1"`;
            None when `options` lists it.
        hint: str. Extra sentence(s), e.g. from `closest`.
        options: Iterable or None. Accepted values to list after the message.
        where: str. Context before the name, e.g. `"training config value"`.

    Returns:
        ValueError: raise it at the call site (`raise invalid(...)`), so the
        traceback points at the caller.
    """
    prefix = f"{where} " if where else ""
    what = f": expected {expected}" if expected else ""
    message = f"Invalid {prefix}{name}={value!r}{what}.{hint}"
    if options is not None:
        message += " Accepted: " + ", ".join(repr(o) for o in options) + "."
    return ValueError(message)


def _none_word(yaml: bool) -> str:
    return "null" if yaml else "None"


def _bounds(
    minimum, maximum, min_inclusive: bool = True, max_inclusive: bool = True
) -> str:
    if minimum is not None and maximum is not None:
        low = "[" if min_inclusive else "("
        high = "]" if max_inclusive else ")"
        return f" in {low}{minimum}, {maximum}{high}"
    if minimum is not None:
        return f" {'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if max_inclusive else '<'} {maximum}"
    return ""


def is_int(value) -> bool:
    """True for Python and numpy integers; False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """True for Python and numpy real numbers; False for bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_shape(value) -> bool:
    """True for a list/tuple of positive Python ints or None (no batch axis)."""
    return isinstance(value, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
        for d in value
    )


def check_int(
    name: str,
    value,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
    *,
    where: str = "",
    yaml: bool = False,
    integral_float: bool = False,
) -> int | None:
    """Returns `value` as an int if it is an integer in range, else raises.

    bool is not an integer here (`True` is refused); numpy integers are
    accepted and returned as Python ints.

    Args:
        name: str. Argument name for the error.
        value: Any. Value to check.
        minimum: int or None. Smallest accepted value.
        maximum: int or None. Largest accepted value.
        allow_none: bool. Whether None is accepted (and returned).
        where: str. Context for the error (see `invalid`).
        yaml: bool. Spell None as `null` in the error (config files).
        integral_float: bool. Also accept floats with no fractional part
            (`1000.0`, or `1e3` read from a config) and return them as ints.

    Returns:
        int or None.

    Raises:
        ValueError: naming the argument, the value and the accepted range.

    Example:
        >>> check_int("units", 8, minimum=1)
        8
    """
    if value is None and allow_none:
        return None
    ok = is_int(value) or (
        integral_float
        and is_number(value)
        and math.isfinite(value)
        and float(value).is_integer()
    )
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        expected = "an integer" + _bounds(minimum, maximum)
        if allow_none:
            expected += f" or {_none_word(yaml)}"
        raise invalid(name, value, expected, where=where)
    return int(value)


def check_sizes(**sizes) -> None:
    """Checks that each keyword argument is an integer >= 1 (a size or count).

    Args:
        **sizes: The values to check, under their argument names.

    Raises:
        ValueError: naming the first invalid argument and its value.

    Example:
        >>> check_sizes(num_layers=2, hidden_dim=16)
    """
    for name, value in sizes.items():
        check_int(name, value, minimum=1)


def check_int_pair(
    name: str, value, minimum: int, labels: tuple[str, str]
) -> tuple[int, int]:
    """Returns `value` as a pair of ints >= minimum; one int stands for both.

    Args:
        name: str. Argument name for the error.
        value: Any. An integer or a pair (list or tuple) of integers.
        minimum: int. Smallest accepted integer.
        labels: tuple[str, str]. What the two entries mean, for the error
            (`("height", "width")`).

    Returns:
        tuple[int, int].

    Raises:
        ValueError: naming the argument, the value and the accepted forms.

    Example:
        >>> check_int_pair("patch_size", 4, 1, ("height", "width"))
        (4, 4)
    """
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, (list, tuple))
        or len(pair) != 2
        or not all(is_int(v) and v >= minimum for v in pair)
    ):
        first, second = labels
        raise invalid(
            name,
            value,
            f"an integer >= {minimum} or a pair ({first}, {second}) of "
            f"integers >= {minimum}",
        )
    return int(pair[0]), int(pair[1])


def check_float(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    allow_none: bool = False,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    where: str = "",
    yaml: bool = False,
) -> float | None:
    """Returns `value` as a float if it is a finite number in range, else raises.

    Ints are accepted (and converted); bools, NaN and infinities are not.

    Args:
        name: str. Argument name for the error.
        value: Any. Value to check.
        minimum: float or None. Lower bound.
        maximum: float or None. Upper bound.
        allow_none: bool. Whether None is accepted (and returned).
        min_inclusive: bool. Whether `minimum` itself is accepted.
        max_inclusive: bool. Whether `maximum` itself is accepted.
        where: str. Context for the error (see `invalid`).
        yaml: bool. Spell None as `null` in the error (config files).

    Returns:
        float or None.

    Raises:
        ValueError: naming the argument, the value and the accepted range.

    Example:
        >>> check_float("dropout", 0.5, 0.0, 1.0, max_inclusive=False)
        0.5
    """
    if value is None and allow_none:
        return None
    ok = is_number(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
    if not ok:
        # NaN and infinities are refused too; "finite" is spelled out only
        # when no bound already says so.
        bounds = _bounds(minimum, maximum, min_inclusive, max_inclusive)
        expected = ("a number" if bounds else "a finite number") + bounds
        if allow_none:
            expected += f" or {_none_word(yaml)}"
        raise invalid(name, value, expected, where=where)
    return float(value)


def check_rate(name: str, value, *, where: str = "") -> float:
    """Returns `value` as a float if it is a rate in [0, 1) (dropout), else raises.

    Example:
        >>> check_rate("dropout", 0.1)
        0.1
    """
    return check_float(name, value, 0.0, 1.0, max_inclusive=False, where=where)


def check_bool(
    name: str, value, allow_none: bool = False, *, where: str = "", yaml: bool = False
) -> bool | None:
    """Returns `value` if it is a bool, else raises (1, "yes" are refused).

    Args:
        name: str. Argument name for the error.
        value: Any. Value to check.
        allow_none: bool. Whether None is accepted (and returned).
        where: str. Context for the error (see `invalid`).
        yaml: bool. Spell the literals as YAML does (`true`, `false`, `null`).

    Returns:
        bool or None.

    Raises:
        ValueError: naming the argument and the value.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        expected = "true or false" if yaml else "a bool (True or False)"
        if allow_none:
            expected += f" or {_none_word(yaml)}"
        raise invalid(name, value, expected, where=where)
    return value


def check_known_keys(params, accepted, kind: str, name: str, word: str = "key"):
    """Raises a ValueError for the first key of `params` not in `accepted`.

    Args:
        params: Iterable of str. The keys given (a config dict without its
            "name", a loader's options).
        accepted: Sequence of str. Accepted keys, listed in the error.
        kind: str. What is configured ("schedule", "dataset"), for the error.
        name: str. Its resolved name.
        word: str. What a key is called ("key", "argument", "option").

    Raises:
        ValueError: "Unknown <word> 'k' for <kind> 'name'.", with the closest
            accepted key and all of them.

    Example:
        >>> check_known_keys({"seed": 0}, ["seed", "flatten"], "dataset", "digits")
    """
    for key in params:
        if key not in accepted:
            listed = ", ".join(accepted) if accepted else "none"
            raise ValueError(
                f"Unknown {word} {key!r} for {kind} {name!r}."
                f"{closest(key, accepted)} Accepted: {listed}."
            )


def check_choice(name: str, value, options: Iterable, *, where: str = "") -> Any:
    """Returns `value` if it is one of `options`, else raises with a hint.

    Args:
        name: str. Argument name for the error.
        value: Any. Value to check (compared with `==`).
        options: Iterable. Accepted values (listed in the error).
        where: str. Context for the error (see `invalid`).

    Returns:
        The value.

    Raises:
        ValueError: naming the argument, the value, the closest accepted
            spelling and every accepted value.

    Example:
        >>> check_choice("pooling", "max", ["avg", "max"])
        'max'
    """
    options = list(options)
    try:
        if value in options:
            return value
    except (TypeError, ValueError):  # e.g. an array: not comparable, not accepted
        pass
    raise invalid(
        name,
        value,
        hint=closest(value, options),
        options=options,
        where=where,
    )
