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
    "check_mapping",
    "check_named",
    "check_rate",
    "check_size_budget",
    "check_sizes",
    "closest",
    "estimate_layer",
    "estimate_size",
    "invalid",
    "is_int",
    "is_number",
    "is_shape",
    "max_layers",
    "max_params",
    "short_repr",
]

#: Environment variable that raises (or lowers) the model size limit.
MAX_PARAMS_ENV = "KERASDL_MAX_PARAMS"
#: Default limit on a model's estimated weights plus one sample's activations,
#: counted in values (2**31 float32 values are 8 GiB).
DEFAULT_MAX_PARAMS = 2**31


def short_repr(value, limit: int = 120, depth: int = 4, items: int = 8) -> str:
    """`repr(value)` cut to at most `limit` characters, without walking it all.

    Containers are written item by item and the walk stops once `limit`
    characters, `depth` levels or `items` entries per container are reached,
    so a value that shares sub-lists many times (a YAML alias bomb) or holds
    itself is never expanded: the cost is bounded by `limit`, not by the
    value's size.

    Args:
        value: Any. The value to show.
        limit: int. Most characters returned.
        depth: int. Deepest container level written out (deeper ones: `...`).
        items: int. Most entries written per container.

    Returns:
        str: a repr, with `...` where something was left out.

    Example:
        >>> short_repr(list(range(100)), limit=20)
        '[0, 1, 2, 3, 4, ...]'
    """
    out: list[str] = []
    budget = [limit]

    def put(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(obj, level: int, active: frozenset) -> bool:
        if isinstance(obj, (list, tuple, dict, set, frozenset)):
            if id(obj) in active or level >= depth:
                return put("...")
            active = active | {id(obj)}
            if isinstance(obj, dict):
                opener, closer, entries = "{", "}", obj.items()
            elif isinstance(obj, tuple):
                opener, closer, entries = "(", ")", obj
            elif isinstance(obj, list):
                opener, closer, entries = "[", "]", obj
            else:
                opener, closer, entries = "{", "}", obj
            if not put(opener):
                return False
            for i, entry in enumerate(entries):
                if i and not put(", "):
                    return False
                if i >= items:
                    return put("...") and put(closer)
                if isinstance(obj, dict):
                    key, entry = entry
                    if not (walk(key, level + 1, active) and put(": ")):
                        return False
                if not walk(entry, level + 1, active):
                    return False
            return put(closer)
        if isinstance(obj, (str, bytes)) and len(obj) > limit:
            obj = obj[:limit]  # repr of a huge string would copy all of it
        try:
            text = repr(obj)
        except Exception:  # a broken __repr__ must not hide the real error
            text = f"<{type(obj).__name__}>"
        return put(text[: max(budget[0], 0) + 1])

    walk(value, 0, frozenset())
    text = "".join(out)
    if len(text) > limit or budget[0] <= 0:
        text = text[: max(limit - 3, 0)] + "..."
    return text


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
        value: Any. The value received (shown with `short_repr`, so a huge
            or self-referencing value never expands).
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
    message = f"Invalid {prefix}{name}={short_repr(value)}{what}.{hint}"
    if options is not None:
        message += " Accepted: " + ", ".join(short_repr(o) for o in options) + "."
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
            listed = ", ".join(map(str, accepted)) if accepted else "none"
            raise ValueError(
                f"Unknown {word} {short_repr(key)} for {kind} {short_repr(name)}."
                f"{closest(key, accepted)} Accepted: {listed}."
            )


def check_mapping(what: str, value, *, none_is_empty: bool = False) -> dict:
    """Returns `value` if it is a dict, else raises naming what it is.

    Args:
        what: str. What the value is, as the error's subject ("A training
            config (config.yaml)").
        value: Any. The value (a config section or arguments, as read).
        none_is_empty: bool. Accept None (an empty YAML section or file) as
            an empty dict.

    Returns:
        The dict (a new empty one for an accepted None).

    Raises:
        ValueError: "<what> must be a mapping; received <value>."

    Example:
        >>> check_mapping("spec.call", None, none_is_empty=True)
        {}
    """
    if value is None and none_is_empty:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping; received {short_repr(value)}.")
    return value


def check_named(name: str, mapping: dict, keys, what: str, *, where: str = "") -> list:
    """Returns `mapping`'s values for `keys`, in order; every key must be there.

    For a dict given in place of a list, one value per name ("inputs" keyed
    by input name, "directory" keyed by model name).

    Args:
        name: str. What the dict is, for the error ("inputs").
        mapping: dict. The values by name.
        keys: Iterable of str. The names needed, in the order returned.
        what: str. What one value is ("array", "folder").
        where: str. Appended to the missing names (" of model.tflite").

    Returns:
        list: `[mapping[k] for k in keys]`.

    Raises:
        ValueError: naming the missing keys, those expected and those given.

    Example:
        >>> check_named("inputs", {"x": 1}, ["x"], "array")
        [1]
    """
    keys = list(keys)
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise ValueError(
            f"{name} has no {what} for {missing}{where}; expected one per name in "
            f"{keys}, received keys {sorted(map(str, mapping))}."
        )
    return [mapping[k] for k in keys]


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


# ------------------------------------------------------------- size limits
#: Environment variable that caps the number of layers a spec or builder makes.
MAX_LAYERS_ENV = "KERASDL_MAX_LAYERS"
DEFAULT_MAX_LAYERS = 10_000

# Hyperparameter names by the role their value plays in a model's size.
# Each is matched on the key's lower-case spelling.
_WIDTH_KEYS = ("units", "filters", "channels", "_dim", "growth_rate")
_DEPTH_KEYS = frozenset(
    {
        "num_layers",
        "num_decoder_layers",
        "num_encoder_layers",
        "depth",
        "backbone_depth",
        "num_res_blocks",
        "num_blocks",
        "repeat",
        "blocks",
        "stage_blocks",
        "layers",
    }
)
_OUTPUT_KEYS = frozenset(
    {
        "num_classes",
        "vocab_size",
        "vocabulary_size",
        "source_vocab_size",
        "target_vocab_size",
        "horizon",
        "num_outputs",
        "num_targets",
    }
)
_LENGTH_KEYS = frozenset(
    {
        "max_sequence_length",
        "source_length",
        "target_length",
        "max_length",
        "sequence_length",
        "seq_len",
    }
)
_INPUT_KEYS = frozenset({"input_shape", "image_shape"})
_MULTIPLIER_KEYS = frozenset(
    {
        "width_coefficient",
        "depth_coefficient",
        "depth_multiplier",
        "alpha",
        "channel_multipliers",
    }
)
# Layer arguments (spec layers) whose product with the input's last axis
# bounds a layer's weights; "input_dim" (Embedding) stands on its own.
_LAYER_SIZE_ARGS = frozenset(
    {
        "units",
        "filters",
        "output_dim",
        "input_dim",
        "num_heads",
        "key_dim",
        "value_dim",
        "depth_multiplier",
        "intermediate_dim",
        "hidden_dim",
        "num_tokens",
        "max_tokens",
        "num_bins",
    }
)


def _env_limit(env: str, default: int) -> int:
    import os  # only here: the ground floor reads no environment at import

    text = os.environ.get(env)
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"Invalid environment variable {env}={short_repr(text)}: expected "
            "an integer >= 1."
        )
    return value


def max_params() -> int:
    """The size limit: `KERASDL_MAX_PARAMS`, or 2**31 values when unset.

    Raises:
        ValueError: when the environment variable is not an integer >= 1.
    """
    return _env_limit(MAX_PARAMS_ENV, DEFAULT_MAX_PARAMS)


def max_layers() -> int:
    """The layer-count limit: `KERASDL_MAX_LAYERS`, or 10,000 when unset."""
    return _env_limit(MAX_LAYERS_ENV, DEFAULT_MAX_LAYERS)


def _ints(value, cap: int = 64) -> list[int]:
    """The positive integers in `value` (an int or a flat list), at most `cap`."""
    if is_int(value):
        return [int(value)] if value > 0 else []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value[:cap] if is_int(v) and v > 0]
    return []


def _factor(value) -> float:
    values = value[:64] if isinstance(value, (list, tuple)) else [value]
    found = [
        float(v) for v in values if is_number(v) and math.isfinite(v) and 0 < v < 1e12
    ]
    return max([1.0, *found])


def estimate_size(hparams: dict, default_width: int = 64) -> tuple[int, int]:
    """A rough upper estimate of a builder's size from its hyperparameters.

    Only the values' roles are known here (a width, a depth, a class count,
    a sequence length, the input shape), not the architecture, so the
    estimate assumes `depth` square layers of the largest width, a first
    layer of the smallest width over the whole input, and heads of the
    largest width over every output. It is meant to catch sizes that are
    wrong by orders of magnitude (`units: 10**8`) before anything is built,
    not to predict `count_params()`.

    Args:
        hparams: dict. Hyperparameters by name; values of other types or
            roles are ignored.
        default_width: int. Width assumed when no width is given.

    Returns:
        tuple[int, int]: (estimated values: weights plus one sample's
        activations, estimated number of layers).

    Example:
        >>> estimate_size({"hidden_units": [10**8], "input_shape": [784]})[0] > 10**16
        True
    """
    widths, depth, outputs, length, inputs, rank = [], 0, 0, 1, 1, 1
    width_factor = depth_factor = 1.0
    for key, value in hparams.items():
        key = key.lower() if isinstance(key, str) else ""
        if key in _MULTIPLIER_KEYS:
            if key.startswith("depth"):
                depth_factor = max(depth_factor, _factor(value))
            else:
                width_factor = max(width_factor, _factor(value))
        elif key in _DEPTH_KEYS:
            depth += sum(_ints(value))
        elif key in _OUTPUT_KEYS:
            outputs += sum(_ints(value))
        elif key in _LENGTH_KEYS:
            length = max([length, *_ints(value)])
        elif key in _INPUT_KEYS:
            if isinstance(value, (list, tuple)):
                inputs = math.prod(_ints(value)) if value else 1
                rank = len(value)
        elif key.endswith(_WIDTH_KEYS):
            widths += _ints(value)
    widths = widths or [default_width]
    wide = int(max(widths) * width_factor)
    narrow = int(min(widths) * width_factor)
    if rank >= 2:
        # Images and sequences enter through a convolution or an embedding
        # whose width is seldom a hyperparameter; assume a typical one.
        narrow = min(narrow, default_width)
    layers = int(max(depth, 1) * depth_factor)
    weights = layers * wide * wide + inputs * narrow + outputs * wide
    activations = inputs * narrow + layers * length * wide + length * length
    return weights + activations, layers


def estimate_layer(args: dict, input_shape) -> int:
    """A rough upper estimate of one spec layer's weights, before it is built.

    Args:
        args: dict. The layer's arguments as written in the spec.
        input_shape: tuple. The shape of the tensor it is applied to (with
            the batch axis; None entries count as 1), or None.

    Returns:
        int: estimated number of weight values.
    """
    sizes = {
        k: v for k, v in args.items() if k in _LAYER_SIZE_ARGS and is_int(v) and v > 0
    }
    if not sizes:
        return 0
    total = math.prod(int(v) for v in sizes.values())
    kernel = args.get("kernel_size")
    total *= math.prod(_ints(kernel)) if _ints(kernel) else 1
    if "input_dim" not in sizes and input_shape:
        last = input_shape[-1]
        total *= last if is_int(last) and last > 0 else 1
    return total


def check_size_budget(where: str, estimate: int, layers: int = 0) -> None:
    """Raises when an estimated model size or layer count is over the limits.

    Args:
        where: str. What is checked, for the error ("architecture 'mlp'").
        estimate: int. Estimated values (weights and activations).
        layers: int. Estimated number of layers.

    Raises:
        ValueError: giving the estimate, the limit and how to raise it.
    """
    limit = max_params()
    if estimate > limit:
        raise ValueError(
            f"{where}: the estimated size is {estimate:,} values (weights plus "
            f"one sample's activations, ~{estimate * 4 / 2**30:,.1f} GiB as "
            f"float32), over the limit of {limit:,} values "
            f"(~{limit * 4 / 2**30:,.1f} GiB). Use smaller sizes, or raise the "
            f"limit with the environment variable {MAX_PARAMS_ENV}=<values>."
        )
    limit = max_layers()
    if layers > limit:
        raise ValueError(
            f"{where}: {layers:,} layers is over the limit of {limit:,}. Use "
            f"fewer, or raise the limit with the environment variable "
            f"{MAX_LAYERS_ENV}=<layers>."
        )
