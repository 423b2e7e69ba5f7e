"""kerasdl._checks: one error format for every argument check."""

import numpy as np
import pytest

from kerasdl._checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    check_named,
    check_rate,
    closest,
    invalid,
)


# ------------------------------------------------------------------ closest
def test_closest_suggests_the_nearest_spellings_as_given():
    assert closest("resnt20", ["resnet20", "lenet5"]) == " Did you mean 'resnet20'?"
    # Case-insensitive matching, reported in the options' own spelling.
    assert closest("resnet5", ["ResNet50", "VGG16"]) == " Did you mean 'ResNet50'?"
    assert closest("zzzz", ["resnet20", "lenet5"]) == ""


@pytest.mark.parametrize(
    "value, options",
    [
        (3, ["relu", "tanh"]),
        (None, ["relu"]),
        ("relu", [None, 1, 2.5, ("a",)]),
        ("relu", 7),  # not iterable
        (["relu"], ["relu"]),
    ],
)
def test_closest_never_raises_on_odd_input(value, options):
    assert closest(value, options) == ""


def test_closest_ignores_non_string_options_but_uses_the_strings():
    assert closest("avgg", [None, "avg", "max", 3]) == " Did you mean 'avg'?"


# ------------------------------------------------------------------ check_int
def test_check_int_returns_python_ints_and_refuses_bools():
    assert check_int("units", np.int64(4), minimum=1) == 4
    assert type(check_int("units", np.int64(4))) is int
    with pytest.raises(ValueError, match=r"^Invalid units=True: expected an integer"):
        check_int("units", True)
    with pytest.raises(ValueError, match=r"units=2\.0: expected an integer"):
        check_int("units", 2.0)


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({"minimum": 1}, 0, r"^Invalid units=0: expected an integer >= 1\.$"),
        ({"maximum": 3}, 4, r"units=4: expected an integer <= 3\.$"),
        ({"minimum": 1, "maximum": 3}, 9, r"units=9: expected an integer in \[1, 3\]"),
        ({"minimum": 1, "allow_none": True}, "8", r"units='8': .* >= 1 or None\.$"),
        ({"minimum": 1, "allow_none": True, "yaml": True}, 0, r">= 1 or null\.$"),
    ],
)
def test_check_int_error_names_argument_value_and_accepted(kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        check_int("units", value, **kwargs)


def test_check_int_none_and_integral_floats_only_when_allowed():
    assert check_int("seed", None, allow_none=True) is None
    with pytest.raises(ValueError, match="seed=None"):
        check_int("seed", None)
    assert check_int("steps", 1000.0, minimum=1, integral_float=True) == 1000
    with pytest.raises(ValueError, match="steps=2.5"):
        check_int("steps", 2.5, integral_float=True)
    with pytest.raises(ValueError, match="steps=inf"):
        check_int("steps", float("inf"), integral_float=True)


def test_where_prefixes_the_config_context():
    with pytest.raises(
        ValueError,
        match=r"^Invalid training config value training\.epochs=0: expected an "
        r"integer >= 1\.$",
    ):
        check_int("training.epochs", 0, minimum=1, where="training config value")


# ---------------------------------------------------------------- check_float
def test_check_float_bounds_and_their_inclusiveness():
    assert check_float("rate", 1, 0, 1) == 1.0 and type(check_float("r", 1)) is float
    with pytest.raises(ValueError, match=r"rate=1\.0: expected a number in \[0, 1\)"):
        check_float("rate", 1.0, 0, 1, max_inclusive=False)
    with pytest.raises(ValueError, match=r"rate=0: expected a number in \(0, 1\]"):
        check_float("rate", 0, 0, 1, min_inclusive=False)
    with pytest.raises(ValueError, match=r"lr=-1: expected a number > 0\.$"):
        check_float("lr", -1, minimum=0, min_inclusive=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "0.5", None])
def test_check_float_refuses_non_finite_bools_strings_none(value):
    with pytest.raises(ValueError, match=r"^Invalid x=.*: expected a finite number"):
        check_float("x", value)


def test_check_rate_is_the_dropout_range():
    assert check_rate("dropout", np.float32(0.25)) == 0.25
    with pytest.raises(
        ValueError, match=r"dropout=1\.0: expected a number in \[0\.0, 1\.0\)"
    ):
        check_rate("dropout", 1.0)


# -------------------------------------------------------- check_bool / choice
def test_check_bool_refuses_truthy_values():
    assert check_bool("flag", False) is False
    for value in (1, 0, "yes", np.bool_(True)):
        with pytest.raises(ValueError, match=r"expected a bool \(True or False\)"):
            check_bool("flag", value)
    with pytest.raises(ValueError, match=r"flag='no': expected true or false\.$"):
        check_bool("flag", "no", yaml=True)
    assert check_bool("flag", None, allow_none=True) is None


def test_check_choice_names_value_hint_and_every_accepted_value():
    assert check_choice("pooling", None, [None, "avg", "max"]) is None
    with pytest.raises(ValueError) as info:
        check_choice("pooling", "maxx", [None, "avg", "max"])
    assert str(info.value) == (
        "Invalid pooling='maxx'. Did you mean 'max'? Accepted: None, 'avg', 'max'."
    )


@pytest.mark.parametrize("value", [3, ["avg"], {"a": 1}, np.zeros(2), None])
def test_check_choice_with_non_string_values_raises_value_error(value):
    with pytest.raises(ValueError, match=r"^Invalid pooling=.*Accepted: 'avg'"):
        check_choice("pooling", value, ["avg", "max"])


def test_invalid_builds_the_error_without_raising():
    error = invalid("k", 5, "an odd number", hint=" Try 7.")
    assert isinstance(error, ValueError)
    assert str(error) == "Invalid k=5: expected an odd number. Try 7."


def test_check_mapping_names_what_and_the_value_received():
    assert check_mapping("spec.call", {"a": 1}) == {"a": 1}
    assert check_mapping("spec.call", None, none_is_empty=True) == {}
    with pytest.raises(
        ValueError, match=r"^spec.call must be a mapping; received \[1, 2\]"
    ):
        check_mapping("spec.call", [1, 2])
    with pytest.raises(ValueError, match="received None"):
        check_mapping("spec.call", None)


def test_check_named_returns_values_in_key_order_and_names_the_missing():
    assert check_named("inputs", {"b": 2, "a": 1}, ["a", "b"], "array") == [1, 2]
    with pytest.raises(ValueError) as info:
        check_named("inputs", {"a": 1}, ["a", "b"], "array", where=" of m.tflite")
    assert str(info.value) == (
        "inputs has no array for ['b'] of m.tflite; expected one per name in "
        "['a', 'b'], received keys ['a']."
    )
