"""Search spaces inside run configs: parsing, validation, sampling, resolving."""

import random

import pytest

from kerasdl.search import parse_space, resolve

pytestmark = pytest.mark.one_backend


def _config(**model):
    return {
        "data": "digits",
        "model": {"model": "mlp", **model},
        "training": {
            "epochs": {"int": [1, 4], "step": 1},
            "optimizer": {
                "name": {"choice": ["adam", "sgd"]},
                "learning_rate": {"range": [1.0e-4, 1.0e-1], "log": True},
                "momentum": {
                    "range": [0.0, 0.9],
                    "when": {"training.optimizer.name": "sgd"},
                },
            },
        },
    }


def test_parameters_are_named_by_dotted_keys_parents_first():
    space = parse_space(_config(hidden_units={"choice": [[8], [16, 16]]}))
    assert list(space.parameters) == [
        "model.hidden_units",
        "training.epochs",
        "training.optimizer.name",
        "training.optimizer.learning_rate",
        "training.optimizer.momentum",
    ]
    lr = space.parameters["training.optimizer.learning_rate"]
    assert (lr.kind, lr.values, lr.log) == ("range", (1.0e-4, 1.0e-1), True)


def test_sampling_respects_bounds_log_scale_and_conditions():
    space = parse_space(_config(hidden_units={"choice": [[8], [16, 16]]}))
    rng = random.Random(0)
    samples = [space.sample(rng) for _ in range(400)]
    rates = [s["training.optimizer.learning_rate"] for s in samples]
    assert all(1.0e-4 <= r <= 1.0e-1 for r in rates)
    # Log-uniform: about half the draws below the geometric midpoint 3.2e-3
    # (a linear draw would put about 3% there).
    assert 0.4 < sum(r < 10**-2.5 for r in rates) / len(rates) < 0.6
    assert {s["training.epochs"] for s in samples} == {1, 2, 3, 4}
    for s in samples:
        has_momentum = "training.optimizer.momentum" in s
        assert has_momentum == (s["training.optimizer.name"] == "sgd")


def test_resolve_writes_values_and_drops_inactive_keys():
    space = parse_space(_config(hidden_units={"choice": [[8], [16, 16]]}))
    adam = resolve(
        space, {"training.optimizer.name": "adam", "model.hidden_units": [16, 16]}
    )
    assert adam["model"]["hidden_units"] == [16, 16]
    assert adam["training"]["optimizer"] == {"name": "adam", "learning_rate": 1.0e-4}
    assert adam["training"]["epochs"] == 1
    sgd = resolve(
        space,
        {"training.optimizer.name": "sgd", "training.optimizer.momentum": 0.5},
    )
    assert sgd["training"]["optimizer"]["momentum"] == 0.5
    # The space itself is untouched.
    assert "choice" in space.config["training"]["optimizer"]["name"]


def test_inactive_parameter_takes_its_default():
    config = _config(
        dropout={
            "range": [0.1, 0.5],
            "when": {"training.optimizer.name": "sgd"},
            "default": 0.0,
        }
    )
    space = parse_space(config)
    adam = resolve(space, {"training.optimizer.name": "adam"})
    assert adam["model"]["dropout"] == 0.0
    sgd = resolve(space, {"training.optimizer.name": "sgd", "model.dropout": 0.3})
    assert sgd["model"]["dropout"] == 0.3
    # A default that makes the config invalid is caught too (adam has no
    # momentum).
    config = _config()
    config["training"]["optimizer"]["momentum"]["default"] = 0.0
    with pytest.raises(
        ValueError, match="Unknown training config key 'optimizer.momentum'"
    ):
        parse_space(config)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"choice": []}, "model.hidden_units.choice=[]: expected a list of 1 to"),
        ({"int": [4, 2]}, "model.hidden_units.int[1]=2: expected an integer >= 4"),
        ({"range": [0.0, 1.0], "log": True}, "model.hidden_units.range=[0.0, 1.0]"),
        ({"choice": [[8]], "wen": {}}, "unknown key(s) ['wen']. Did you mean 'when'?"),
        ({"choice": [[8]], "step": 2}, "model.hidden_units.step=2"),
        (
            {"choice": [[8]], "when": {"training.optimizer.nme": "sgd"}},
            "Did you mean 'training.optimizer.name'",
        ),
        (
            {"choice": [[8]], "when": {"training.optimizer.name": "rmsprop"}},
            "values training.optimizer.name can take. Accepted: 'adam', 'sgd'",
        ),
        ({"choice": [[8], {"int": [1, 2]}]}, "search parameters do not nest"),
        ({"choice": [[8], [0]]}, None),  # valid names; the builder checks values
    ],
)
def test_bad_parameters_name_the_dotted_key_and_value(value, message):
    if message is None:
        parse_space(_config(hidden_units=value))
        return
    with pytest.raises(ValueError, match="Invalid search space") as error:
        parse_space(_config(hidden_units=value))
    assert message in str(error.value)


def test_a_value_that_makes_the_config_invalid_is_named():
    config = _config()
    config["training"]["epochs"] = {"int": [0, 3]}
    with pytest.raises(ValueError) as error:
        parse_space(config)
    text = str(error.value)
    assert "parameter training.epochs: the value 0 makes the run config invalid" in text
    assert "epochs=0: expected an integer >= 1" in text
    config = _config(widths={"choice": [[8]]})
    with pytest.raises(ValueError, match="parameter model.widths: the value \\[8\\]"):
        parse_space(config)


def test_conditional_list_item_needs_a_default_and_cycles_are_refused():
    config = {
        "data": "mnist1d",
        "model": {
            "input_shape": [40, 1],
            "sequential": [
                {"choice": ["Flatten", "GlobalAveragePooling1D"]},
                {
                    "choice": [{"Dense": {"units": 8}}],
                    "when": {"model.sequential[0]": "Flatten"},
                },
                {"Dense": {"units": 10, "activation": "softmax"}},
            ],
        },
    }
    with pytest.raises(ValueError, match=r"model.sequential\[1\].default=None"):
        parse_space(config)
    config["model"]["sequential"][1]["default"] = "Flatten"
    space = parse_space(config)
    gap = resolve(space, {"model.sequential[0]": "GlobalAveragePooling1D"})
    assert gap["model"]["sequential"][:2] == ["GlobalAveragePooling1D", "Flatten"]
    cyclic = _config(
        hidden_units={"choice": [[8]], "when": {"training.optimizer.name": "adam"}}
    )
    cyclic["training"]["optimizer"]["name"]["when"] = {"model.hidden_units": [[8]]}
    with pytest.raises(ValueError, match="form a cycle"):
        parse_space(cyclic, validate=False)


def test_a_config_without_parameters_is_refused():
    with pytest.raises(ValueError, match="has no search parameter"):
        parse_space({"data": "digits", "model": "mlp"})
