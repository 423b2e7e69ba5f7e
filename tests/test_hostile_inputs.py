"""Hostile input: every user text that enters kerasdl ends in a model, a config
or a ValueError/TypeError that names the key, within a time and memory bound.

Named regressions (issue 11: alias bombs, self-references, oversized
hyperparameters, garbage values, Keras' own KeyError) come first, then the
CLI's hostile invocations, then the hypothesis fuzz suite. The subject is
input validation, which does not depend on the backend: TensorFlow only.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
import tracemalloc

import pytest

import kerasdl
from kerasdl._checks import check_known_keys, closest, short_repr
from kerasdl._io import check_tree, parse_yaml
from kerasdl.runconfig import load_run_config
from kerasdl.training.config import load_config

pytestmark = pytest.mark.one_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The 583-byte "billion laughs": 9**9 strings once the aliases expand.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi")
)


def _shared_bomb(levels: int, width: int = 10):
    """A Python list that shares one sub-list `width` times per level."""
    value = [1] * width
    for _ in range(levels):
        value = [value] * width
    return value


def _bounded(fn, seconds: float = 1.0, megabytes: float = 100.0):
    """Runs fn; returns its exception, asserting the time and memory it took."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    except (ValueError, TypeError) as err:
        error = err
    else:
        error = None
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < megabytes, f"allocated {peak:.0f} MiB"
    assert error is not None, "accepted"
    assert len(str(error)) < 2000, str(error)[:300]
    return error


# ---------------------------------------------------------------- alias bombs
def test_the_bomb_is_583_bytes_and_expands_to_9_to_the_9():
    assert len(BOMB) <= 583 + 20  # the key names here are one letter
    with pytest.raises(ValueError, match="expands to more than"):
        parse_yaml(BOMB)


@pytest.mark.parametrize(
    "load",
    [
        pytest.param(kerasdl.build, id="spec string"),
        pytest.param(load_config, id="training config"),
        pytest.param(lambda text: load_run_config(text, "train"), id="run config"),
        pytest.param(
            lambda text: kerasdl.build("mlp", **{"hidden_units": parse_yaml(text)}),
            id="--set value",
        ),
    ],
)
def test_alias_bomb_is_refused_in_under_a_second_and_small_memory(load):
    error = _bounded(lambda: load(BOMB))
    assert "alias" in str(error)


def test_alias_bomb_file_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    error = _bounded(lambda: kerasdl.build(str(path)))
    assert str(path) in str(error) and "alias" in str(error)
    error = _bounded(lambda: load_config(str(path)))
    assert "alias" in str(error)


def test_shared_python_values_are_refused_before_a_walk_expands_them():
    bomb = _shared_bomb(8)  # 10**9 leaves, 90 distinct lists
    spec = {"input_shape": [3], "sequential": [{"Dense": {"units": bomb}}]}
    assert "expands to more than" in str(_bounded(lambda: kerasdl.build(spec)))
    config = {"optimizer": {"name": "sgd", "momentum": bomb}}
    assert "expands to more than" in str(_bounded(lambda: load_config(config)))


def test_error_messages_never_expand_a_shared_value():
    small = _shared_bomb(4)  # 10**5 leaves: under the node limit
    spec = {"input_shape": [3], "sequential": [{"Dense": {"units": small}}]}
    error = _bounded(lambda: kerasdl.build(spec), megabytes=200)
    assert "units=" in str(error) and "..." in str(error)
    text = short_repr(_shared_bomb(9))
    assert len(text) <= 120 and text.endswith("...")


# ----------------------------------------------------------- self-reference
def test_self_referencing_yaml_is_refused():
    text = "input_shape: [3]\nsequential: [{Dense: {units: 2, kernel_initializer: &a [*a]}}]"
    assert "contains itself" in str(_bounded(lambda: kerasdl.build(text)))
    text = "optimizer: {name: sgd, momentum: &a [*a]}"
    assert "contains itself" in str(_bounded(lambda: load_config(text)))


def test_self_referencing_python_values_are_refused():
    loop: list = []
    loop.append(loop)
    spec = {"input_shape": [3], "sequential": [{"Dense": {"units": loop}}]}
    assert "contains itself" in str(_bounded(lambda: kerasdl.build(spec)))
    assert "contains itself" in str(_bounded(lambda: load_config({"loss": loop})))
    assert short_repr(loop) == "[...]"


def test_deep_nesting_is_refused_before_any_recursive_walk(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    assert "nests" in str(_bounded(lambda: kerasdl.build(f"model: {deep}")))
    path = tmp_path / "deep.json"
    path.write_text('{"model": ' + deep + "}")
    assert "nests" in str(_bounded(lambda: kerasdl.build(str(path))))
    nested: list = []
    for _ in range(200):
        nested = [nested]
    with pytest.raises(ValueError, match="deeper than"):
        check_tree({"a": nested}, "spec")


# ------------------------------------------------------- oversized sizes
_TINY_GRAPH = {
    "inputs": {"x": [3]},
    "blocks": {
        "b": {
            "inputs": ["x"],
            "nodes": [
                {"name": "d", "layer": "Dense", "args": {"units": 2}, "inputs": "x"}
            ],
            "outputs": "d",
        }
    },
    "nodes": [{"name": "n", "block": "b", "repeat": 10**9, "inputs": "x"}],
    "outputs": "n",
}


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"model": "mlp", "hidden_units": [10**8]}, "estimated size"),
        ({"model": "mlp", "input_shape": [4], "num_classes": 2**31}, "estimated size"),
        ({"model": "transformer_forecaster", "num_layers": 10**12}, "KERASDL_MAX"),
        ({"model": "lstm_forecaster", "horizon": 10**12}, "estimated size"),
        ({"model": "mlp", "input_shape": [10**6, 10**6, 3]}, "estimated size"),
        (_TINY_GRAPH, "1,000,000,000 layers"),
        (
            {"input_shape": [784], "sequential": [{"Dense": {"units": 10**8}}]},
            "estimated size",
        ),
        (
            {"input_shape": [8], "sequential": [{"RepeatVector": {"n": 10**9}}]},
            "estimated size",
        ),
        ({"input_shape": [10**6, 10**6], "sequential": ["Flatten"]}, "estimated size"),
    ],
    ids=[
        "units",
        "num_classes",
        "num_layers",
        "horizon",
        "input dims",
        "repeat",
        "spec units",
        "spec activations",
        "spec input",
    ],
)
def test_oversized_hyperparameters_are_refused_in_under_a_second(spec, fragment):
    error = _bounded(lambda: kerasdl.build(spec))
    assert fragment in str(error)
    if "estimated size" in str(error):
        assert "KERASDL_MAX_PARAMS" in str(error) and "limit of" in str(error)


def test_the_size_limit_is_raised_and_lowered_by_an_environment_variable(
    monkeypatch,
):
    spec = {"model": "mlp", "input_shape": [4], "hidden_units": [8], "num_classes": 2}
    monkeypatch.setenv("KERASDL_MAX_PARAMS", "100")
    with pytest.raises(ValueError, match="over the limit of 100 values"):
        kerasdl.build(spec)
    monkeypatch.setenv("KERASDL_MAX_PARAMS", "lots")
    with pytest.raises(ValueError, match="KERASDL_MAX_PARAMS='lots'"):
        kerasdl.build(spec)
    monkeypatch.setenv("KERASDL_MAX_LAYERS", "3")
    monkeypatch.delenv("KERASDL_MAX_PARAMS")
    layers = {"input_shape": [4], "sequential": ["Flatten"] * 4}
    with pytest.raises(ValueError, match="4 layers is over the limit of 3"):
        kerasdl.build(layers)


# ------------------------------------------------------------ garbage values
@pytest.mark.parametrize(
    "spec, fragment",
    [
        (
            {
                "input_shape": [8, 8, 1],
                "sequential": [{"Conv2D": {"filters": True, "kernel_size": 3}}],
            },
            "filters=True",
        ),
        ({"model": "lenet5", "num_classes": True}, "num_classes=True"),
        ({"model": "mlp", "hidden_units": ["8"]}, "hidden_units=['8']"),
        ({"model": "mlp", "batch_norm": "yes"}, "batch_norm='yes'"),
        ({"input_shape": ["3"], "sequential": ["Flatten"]}, "invalid shape ['3']"),
        (
            {
                "inputs": {"x": {"shape": [3], "sparse": "yes"}},
                "nodes": [
                    {"name": "d", "layer": "Dense", "args": {"units": 2}, "inputs": "x"}
                ],
                "outputs": "d",
            },
            "sparse='yes'",
        ),
        (
            {
                "input_shape": [3],
                "sequential": [{"Dense": {"units": 2, "use_bias": "no"}}],
            },
            "use_bias='no'",
        ),
        (
            {
                "input_shape": [3],
                "dtype": "string",
                "sequential": [{"Dense": {"units": 2}}],
            },
            "cannot take string inputs",
        ),
        (
            {"input_shape": [3], "dtype": "complex128", "sequential": ["Flatten"]},
            "dtype='complex128'",
        ),
        (
            {"input_shape": [3], "sequential": [{"Dense": {"units": 2**40}}]},
            "units=1099511627776",
        ),
        (
            {
                **_TINY_GRAPH,
                "nodes": [
                    {"name": "n", "block": "b", "params": {"unitz": 3}, "inputs": "x"}
                ],
            },
            "unknown block parameter 'unitz'",
        ),
        ({"model": "lenet5", "name": "x"}, "hyperparameter 'name'"),
        ({"model": "mlp", 3: 4}, "Invalid key 3 in spec"),
    ],
)
def test_garbage_values_are_refused_by_name(spec, fragment):
    error = _bounded(lambda: kerasdl.build(spec))
    assert fragment in str(error), str(error)


def test_a_hyperparameter_called_name_is_named_not_a_python_error():
    with pytest.raises(ValueError, match="Unknown hyperparameter 'name'"):
        kerasdl.build("lenet5", name="x")


def test_keras_key_error_in_from_config_names_the_layer_node():
    spec = {"input_shape": [5, 3], "sequential": ["Bidirectional"]}
    with pytest.raises(ValueError) as info:
        kerasdl.build(spec)
    message = str(info.value)
    assert message.startswith("spec.sequential[0] (Bidirectional)")
    assert "KeyError" in message and "'layer'" in message


@pytest.mark.parametrize(
    "config, fragment",
    [
        ({"optimizer": {"name": "sgd", "momentum": {}}}, "optimizer.momentum={}"),
        ({"optimizer": {"name": "sgd", "nesterov": "yes"}}, "optimizer.nesterov='yes'"),
        ({"batch_size": 2**63}, "batch_size=9223372036854775808"),
        ({"seed": 2**64}, "seed=18446744073709551616"),
        ({"epochs": 10**12}, "epochs=1000000000000"),
        ({"optimizer": {"name": "adam", "gradient_accumulation_steps": True}}, "True"),
    ],
)
def test_training_config_garbage_is_refused_at_validation(config, fragment):
    error = _bounded(lambda: load_config(config))
    assert fragment in str(error), str(error)


def test_closest_and_known_keys_accept_any_key_type():
    assert closest(3, {1: "a", 2: "b"}) == ""
    assert closest("a", {1: "x", "ab": "y"}) == " Did you mean 'ab'?"
    with pytest.raises(ValueError, match="Unknown key 3 for dataset 'digits'"):
        check_known_keys({3: 0}, ["seed", 7], "dataset", "digits")


# ---------------------------------------------------------------------- CLI
_DRIVER = """
import json, os, sys, time
import kerasdl_cli

results = []
for argv in json.loads(sys.argv[2]):
    path = os.path.join(sys.argv[1], "stderr.txt")
    with open(path, "wb") as f:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        start = time.perf_counter()
        try:
            try:
                code = kerasdl_cli.main(argv)
            except SystemExit as exit:
                code = exit.code
            except BaseException:
                import traceback
                traceback.print_exc()
                code = "raised"
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    with open(path, encoding="utf-8", errors="replace") as f:
        err = f.read()
    results.append([argv, code, err, time.perf_counter() - start])
print("RESULTS" + json.dumps(results))
"""


def _hostile_files(folder: pathlib.Path) -> dict[str, str]:
    files = {
        "bomb.yaml": BOMB,
        "bad.yaml": "model: [unclosed\n  - x: {",
        "self.yaml": "input_shape: [3]\nsequential: &a [*a]\n",
        "list.yaml": "- 1\n- 2\n",
        "empty.yaml": "",
        "python.yaml": "model: !!python/object/apply:os.system ['echo hi']\n",
        "momentum.yaml": "data: digits\nmodel: mlp\ntraining: {optimizer: {name: sgd, momentum: {}}}\n",
        "huge.yaml": "model: mlp\nhidden_units: [100000000]\n",
        "garbage.yaml": "input_shape: [3]\nsequential: [{Conv2D: {filters: true}}]\n",
        "deep.json": '{"model": ' + "[" * 3000 + "]" * 3000 + "}",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (folder / "folder.yaml").mkdir()
    return {name: str(folder / name) for name in [*files, "binary.yaml", "folder.yaml"]}


def test_hostile_cli_invocations_end_in_one_line_and_exit_code_2(tmp_path):
    f = _hostile_files(tmp_path)
    cases = [
        ["build", f["bad.yaml"]],
        ["build", str(tmp_path / "missing.yaml")],
        ["build", f["bomb.yaml"]],
        ["build", "mlp", "--set", "hidden_units=" + BOMB.replace("\n", "\n")],
        ["build", "mlp", "--set", "hidden_units=&a [*a]"],
        ["build", "mlp", "--set", "hidden_units=[100000000]"],
        ["build", "mlp", "--set", "batch_norm=maybe"],
        ["build", "mlp", "--set", "=3"],
        ["build", "mlp", "--set", "noequals"],
        ["build", "mlp", "--set", "name=x"],
        ["build", "lenet6"],
        ["build", f["self.yaml"]],
        ["build", f["list.yaml"]],
        ["build", f["empty.yaml"]],
        ["build", f["python.yaml"]],
        ["build", f["huge.yaml"]],
        ["build", f["garbage.yaml"]],
        ["build", f["deep.json"]],
        ["build", f["binary.yaml"]],
        ["build", f["folder.yaml"]],
        ["build", "{input_shape: [5, 3], sequential: [Bidirectional]}"],
        ["build", "lenet5", "--bogus-flag"],
        ["info", "nonexistent_model"],
        ["list", "--family", "nofamily"],
        ["train", str(tmp_path / "missing.yaml")],
        ["train", f["bad.yaml"]],
        ["train", f["bomb.yaml"]],
        ["train", f["binary.yaml"]],
        ["train", f["folder.yaml"]],
        ["train", str(tmp_path)],
        ["train", f["momentum.yaml"]],
        ["compress", f["list.yaml"]],
        ["compress", f["empty.yaml"]],
        ["quickstart", "--min-accuracy", "abc"],
        ["nosuchcommand"],
        [],
    ]
    out = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(tmp_path), json.dumps(cases)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULTS")]
    assert line, out.stdout[-2000:] + out.stderr[-3000:]
    failures = []
    for argv, code, err, seconds in json.loads(line[0][len("RESULTS") :]):
        lines = err.strip().splitlines()
        # The first case imports kerasdl (and TensorFlow): 60 s under load.
        if code != 2 or len(lines) != 1 or "Traceback" in err or seconds > 60:
            failures.append((argv[:3], code, err[-600:], round(seconds, 2)))
    assert not failures, failures


def test_the_installed_entry_point_reports_one_line(tmp_path):
    launcher = pathlib.Path(sys.executable).with_name("kerasdl")
    command = (
        [str(launcher)] if launcher.exists() else [sys.executable, "-m", "kerasdl"]
    )
    for argv in (["list", "--bogus"], ["build", str(tmp_path / "missing.yaml")]):
        result = subprocess.run(
            command + argv, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 2, result.stderr[-2000:]
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
