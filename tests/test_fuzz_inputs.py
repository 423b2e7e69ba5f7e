"""Fuzzing the input contract: mutated specs and training configs.

Each case starts from a small valid spec (the three forms: a named
architecture with hyperparameters, a Sequential layer list, a functional
graph with a repeated block) or training config, applies one to three
mutations drawn by hypothesis (a value replaced by a hostile one: bools,
strings, huge or negative integers, NaN, nested, shared or self-referencing
containers, forbidden layer names; a key removed or added), and checks the
outcome: a built `keras.Model` (or a TrainingConfig whose optimizer and loss
Keras accepts) or a ValueError/TypeError with a bounded message, within a
time bound per case and a bound on the process's peak memory growth over
the whole run. The seed is fixed (derandomize), so CI runs the same cases.

The subject is input validation: TensorFlow only. Sizes: 3,000 spec cases
and 600 config cases; the models that do build are tiny.
"""

from __future__ import annotations

import copy
import os
import re
import resource
import sys
import time

import keras
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import kerasdl
from kerasdl._checks import short_repr
from kerasdl.training.config import load_config, split_optimizer_config
from kerasdl.training.losses import make_loss
from kerasdl.training.optimizers import make_optimizer

pytestmark = pytest.mark.one_backend

# Per-case wall-time bound (generous: CI machines are shared) and the bound
# on the growth of the process's peak RSS over a whole test.
CASE_SECONDS = 10.0
RSS_GROWTH_MB = 1024
FUZZ_MAX_PARAMS = 10**7
# Cases per spec form (3 forms); training configs get 3/5 as many.
_N = int(os.environ.get("KERASDL_FUZZ_CASES", "1000"))

_NAMED = {
    "model": "mlp",
    "input_shape": [4],
    "hidden_units": [4],
    "num_classes": 2,
    "dropout": 0.0,
}
_SEQUENTIAL = {
    "name": "seq",
    "input_shape": [6],
    "sequential": [
        {"Dense": {"units": 3, "activation": "relu", "use_bias": True}},
        {"Reshape": {"target_shape": [3, 1]}},
        {"Conv1D": {"filters": 2, "kernel_size": 2, "padding": "same"}},
        "Flatten",
        {"Dense": {"units": 2}},
    ],
}
_FUNCTIONAL = {
    "name": "graph",
    "inputs": {"a": [4], "b": {"shape": [4], "dtype": "float32"}},
    "blocks": {
        "res": {
            "inputs": ["x"],
            "nodes": [
                {
                    "name": "fc",
                    "layer": "Dense",
                    "args": {"units": "${units}"},
                    "inputs": "x",
                },
                {"name": "add", "layer": "Add", "inputs": ["fc", "x"]},
            ],
            "outputs": "add",
        }
    },
    "nodes": [
        {"name": "cat", "layer": "Add", "inputs": ["a", "b"]},
        {
            "name": "stack",
            "block": "res",
            "repeat": 2,
            "params": {"units": 4},
            "inputs": "cat",
        },
        {"name": "head", "layer": "Dense", "args": {"units": 2}, "inputs": "stack"},
    ],
    "outputs": "head",
}
_CONFIG = {
    "epochs": 1,
    "batch_size": 2,
    "seed": 0,
    "validation_split": 0.0,
    "shuffle": True,
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "optimizer": {
        "name": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.9,
        "nesterov": False,
        "clipnorm": 1.0,
    },
    "callbacks": {"early_stopping": {"patience": 2}},
    "steps_per_execution": 1,
    "verbose": 0,
}


def _shared(levels: int):
    value = [1] * 10
    for _ in range(levels):
        value = [value] * 10
    return value


def _self_referencing():
    loop: list = [1]
    loop.append(loop)
    return loop


def _deep(levels: int):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


_HOSTILE = [
    True,
    False,
    None,
    0,
    -1,
    1,
    3,
    2**31,
    2**63,
    2**64,
    10**8,
    10**12,
    -(2**40),
    0.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    "",
    "yes",
    "8",
    "relu",
    "Dense",
    "Lambda",
    "TFSMLayer",
    "${units}",
    "cat:1",
    "a" * 300,
    "\x00\u00fc",
    [],
    {},
    [None],
    [0],
    [-3],
    ["a"],
    [True],
    [1, 2, 3],
    [[1, 2], [3]],
    {"a": 1},
    {"class_name": "Lambda", "config": {}},
    {"__lambda__": "x"},
]
# Containers are built once per draw (hypothesis may reuse a value).
_MAKERS = [
    lambda: _shared(3),  # 10**4 leaves: accepted by the size walk
    lambda: _shared(7),  # 10**8 leaves: refused before any walk expands it
    _self_referencing,
    lambda: _deep(100),
]


# Hypothesis draws small recipes (which value, where, what to do) and the
# test applies them: a shared or self-referencing container never reaches
# hypothesis, whose report of a failing case would print it expanded.
_VALUE = st.one_of(
    st.tuples(st.just("pool"), st.integers(0, len(_HOSTILE) - 1)),
    st.tuples(st.just("make"), st.integers(0, len(_MAKERS) - 1)),
    st.tuples(st.just("int"), st.integers(min_value=-(2**70), max_value=2**70)),
    st.tuples(st.just("float"), st.floats(allow_nan=True, allow_infinity=True)),
    st.tuples(st.just("text"), st.text(max_size=6)),
)
_EXTRA_KEYS = ["extra", "unitz", 7, "name", "model"]
_MUTATIONS = st.lists(
    st.tuples(
        st.integers(0, 10**6),  # which place (modulo the places there are)
        st.integers(0, 9),  # 0-6 replace, 7 delete, 8 add a key, 9 copy
        _VALUE,
        st.integers(0, len(_EXTRA_KEYS) - 1),
    ),
    min_size=1,
    max_size=3,
)


def _value(recipe):
    kind, arg = recipe
    if kind == "pool":
        return copy.deepcopy(_HOSTILE[arg])
    if kind == "make":
        return _MAKERS[arg]()
    return arg


def _paths(tree, placed: set, prefix=()):
    """Every (path to a container, key) pair of the base's own containers.

    Values an earlier mutation put in (`placed`, by id) are places but are
    not walked into: a shared bomb would expand here otherwise.
    """
    found = []
    if isinstance(tree, dict):
        items = list(tree.items())
    elif isinstance(tree, list):
        items = list(enumerate(tree))
    else:
        return found
    for key, value in items:
        found.append((prefix, key))
        if isinstance(value, (dict, list)) and id(value) not in placed:
            found.extend(_paths(value, placed, (*prefix, key)))
    return found


def _mutate(base, mutations):
    """`base` with the drawn mutations applied, in order."""
    tree = copy.deepcopy(base)
    placed: set[int] = set()
    for place, op, recipe, extra in mutations:
        paths = _paths(tree, placed)
        path, key = paths[place % len(paths)]
        parent = tree
        for step in path:
            parent = parent[step]
        value = _value(recipe)
        placed.add(id(value))
        if op < 7:
            parent[key] = value
        elif op == 7 and isinstance(parent, dict):
            del parent[key]
        elif op == 8 and isinstance(parent, dict):
            parent[_EXTRA_KEYS[extra]] = value
        elif isinstance(parent, list):
            copied = copy.deepcopy(parent[key])
            placed.add(id(copied))
            parent.append(copied)
    return tree


_UNNAMED = re.compile(
    r"(object of type|unhashable type|'\w+' object is not|can only concatenate|"
    r"unsupported operand|\w+\(\) (got|takes|missing))"
)


class _Outcomes:
    """Counts outcomes and checks the bounds of one fuzz test."""

    def __init__(self, what: str):
        self.what = what
        self.counts = {"built": 0, "ValueError": 0, "TypeError": 0}
        self.slowest = 0.0
        self.jump = (0.0, None)  # the largest peak-RSS step, and its case
        self.start_rss = _peak_rss_mb()
        self.start = time.perf_counter()

    def run(self, fn, accept, case=None):
        start, before = time.perf_counter(), _peak_rss_mb()
        try:
            result = fn()
        except (ValueError, TypeError) as err:
            self.counts[
                "ValueError" if isinstance(err, ValueError) else "TypeError"
            ] += 1
            message = str(err)
            assert message, f"{type(err).__name__} without a message"
            # Bounded: values are shown shortened, never expanded.
            assert len(message) < 5000, message[:500]
            # Python's own messages name no key ("object of type 'int' has
            # no len()"): the issue counted 95 of them.
            assert not _UNNAMED.match(message), (message, short_repr(case))
        else:
            accept(result)
            self.counts["built"] += 1
        elapsed = time.perf_counter() - start
        self.slowest = max(self.slowest, elapsed)
        jump = _peak_rss_mb() - before
        if jump > self.jump[0]:
            self.jump = (jump, short_repr(case, limit=300))
        assert elapsed < CASE_SECONDS, f"{short_repr(case)} took {elapsed:.1f} s"

    def report(self):
        total = sum(self.counts.values())
        growth = _peak_rss_mb() - self.start_rss
        # Printed with -s, and kept in the test log: the measured bounds.
        sys.__stdout__.write(
            f"\n{self.what}: {total} cases {self.counts} in "
            f"{time.perf_counter() - self.start:.1f} s; slowest case "
            f"{self.slowest:.2f} s (bound {CASE_SECONDS} s); peak RSS growth "
            f"{growth:.0f} MB (bound {RSS_GROWTH_MB} MB)\n"
        )
        assert growth < RSS_GROWTH_MB, (
            f"peak RSS grew by {growth:.0f} MB; largest step "
            f"{self.jump[0]:.0f} MB at {self.jump[1]}"
        )
        return total


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fuzz_settings(n: int):
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )


def _is_model(result):
    assert isinstance(result, keras.Model), type(result)
    keras.backend.clear_session(free_memory=False)


@pytest.mark.parametrize(
    "name, base, n",
    [
        ("named", _NAMED, _N),
        ("sequential", _SEQUENTIAL, _N),
        ("functional", _FUNCTIONAL, _N),
    ],
)
def test_mutated_specs_build_or_fail_in_the_contract(name, base, n, monkeypatch):
    # Models that pass the size check are built: a lower limit (10**7 values,
    # 40 MB) keeps them small; the limit itself is tested in
    # test_hostile_inputs.py.
    monkeypatch.setenv("KERASDL_MAX_PARAMS", str(FUZZ_MAX_PARAMS))
    outcomes = _Outcomes(f"{name} specs")

    @_fuzz_settings(n)
    @given(mutations=_MUTATIONS)
    def case(mutations):
        spec = _mutate(base, mutations)
        outcomes.run(lambda: kerasdl.build(spec), _is_model, spec)

    case()
    assert outcomes.report() == n
    # The bases are valid and most mutations are refused: both outcomes occur.
    assert outcomes.counts["built"] > 0 and outcomes.counts["ValueError"] > n // 4


def _usable_config(config):
    """What fit would build from an accepted config: optimizer and loss."""
    optimizer, _ = split_optimizer_config(config.optimizer)
    make_optimizer(optimizer)
    if config.loss is not None:
        make_loss(config.loss)


def test_mutated_training_configs_validate_or_fail_in_the_contract():
    n = 3 * _N // 5
    outcomes = _Outcomes("training configs")

    @_fuzz_settings(n)
    @given(mutations=_MUTATIONS)
    def case(mutations):
        config = _mutate(_CONFIG, mutations)
        outcomes.run(lambda: load_config(config), _usable_config, config)

    case()
    assert outcomes.report() == n
    assert outcomes.counts["built"] > 0 and outcomes.counts["ValueError"] > n // 4
