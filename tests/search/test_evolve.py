"""Regularized evolution: valid children, resumable checkpoints, Pareto fronts."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import kerasdl
from kerasdl.search import mutations
from kerasdl.search.evolve import TrainEvaluator, evolve, pareto_front

HEAD = [{"Dense": {"units": 10, "activation": "softmax"}}]
SEED = {
    "input_shape": [40, 1],
    "sequential": [
        {
            "Conv1D": {
                "filters": 8,
                "kernel_size": 5,
                "padding": "same",
                "activation": "relu",
            }
        },
        "Flatten",
        *HEAD,
    ],
}


@pytest.mark.one_backend
def test_thousands_of_mutated_children_are_valid_and_build():
    rng = random.Random(0)
    population = [
        mutations.random_genome([40, 1], HEAD, rng, max_params=100_000)
        for _ in range(8)
    ]
    start = time.perf_counter()
    children, operators = [], set()
    for _ in range(1500):
        child, operator = mutations.child_of(
            rng.sample(population, 2), rng, crossover_rate=0.3, max_params=100_000
        )
        operators.add(operator.split("+")[-1])
        population[rng.randrange(len(population))] = child
        children.append(child)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, elapsed
    assert operators >= set(mutations.MUTATIONS)
    assert all(c["params"] <= 100_000 for c in children)
    assert any(c["skips"] for c in children)
    # The fast check agrees with the spec language: sampled children build,
    # with the parameter count the check computed.
    for child in rng.sample(children, 12) + [c for c in children if c["skips"]][:4]:
        model = kerasdl.build(mutations.to_spec(child))
        assert model.count_params() == child["params"]


@pytest.mark.one_backend
def test_invalid_children_are_repaired_or_refused():
    genome = {"input_shape": [40, 1], "layers": [{"Conv1D": {"filters": 4, "kernel_size": 3}}],
              "skips": [], "head": HEAD}  # fmt: skip
    repaired = mutations.check(genome)
    assert repaired["layers"][-1] == {
        "GlobalAveragePooling1D": {}
    }  # vector before Dense
    with pytest.raises(ValueError, match="not a vector"):
        mutations.check(genome, repair=False)
    too_long = dict(genome, layers=[{"Conv1D": {"filters": 4, "kernel_size": 50}}])
    with pytest.raises(ValueError, match="Conv1D"):
        mutations.check(too_long)
    assert repaired["params"] == (3 * 4 + 4) + (4 * 10 + 10)
    with pytest.raises(ValueError, match="66 parameters, over max_params=50"):
        mutations.check(genome, max_params=50)
    # A child that stays invalid after every attempt falls back to a copy.
    rng = random.Random(0)
    child, operator = mutations.child_of([repaired], rng, max_layers=0, attempts=3)
    assert operator == "copy" and child["layers"] == repaired["layers"]


@pytest.mark.one_backend
def test_functional_chains_with_skips_round_trip_through_specs():
    genome = mutations.check({
        "input_shape": [40, 1],
        "layers": [
            {"Conv1D": {"filters": 8, "kernel_size": 3, "padding": "same"}},
            {"Conv1D": {"filters": 8, "kernel_size": 5, "padding": "same"}},
            {"Conv1D": {"filters": 8, "kernel_size": 3, "padding": "same"}},
            "GlobalAveragePooling1D",
        ],
        "skips": [[0, 2]],
        "head": HEAD,
    })  # fmt: skip
    spec = mutations.to_spec(genome)
    assert "nodes" in spec and any(n["layer"] == "Add" for n in spec["nodes"])
    model = kerasdl.build(spec)
    assert model.count_params() == genome["params"]
    again = mutations.from_spec(spec)
    assert again["skips"] == [[0, 2]] and again["layers"] == genome["layers"]
    with pytest.raises(ValueError, match="previous node"):
        branched = json.loads(json.dumps(spec))
        branched["nodes"][2]["inputs"] = "input"
        mutations.from_spec(branched)


def _size_objective(spec, name):
    """A cheap, deterministic objective: closeness to 2,000 parameters."""
    del name
    params = kerasdl.build(spec).count_params()
    return {"closeness": -abs(params - 2000) / 2000, "parameters": params}


@pytest.mark.one_backend
def test_aging_evolution_improves_and_multi_objective_returns_the_front(tmp_path):
    result = evolve(
        SEED, _size_objective, cycles=40, population_size=8, sample_size=3,
        objectives=("closeness",), directory=tmp_path / "single",
    )  # fmt: skip
    assert len(result.history) == 40
    first = max(e["metrics"]["closeness"] for e in result.history[:8])
    assert result.best["metrics"]["closeness"] >= first
    assert result.best["metrics"]["closeness"] > -0.05
    assert [e["id"] for e in result.population] == [
        e["id"] for e in result.history[-8:]
    ]
    multi = evolve(
        SEED, _size_objective, cycles=20, population_size=6, sample_size=3,
        objectives=("closeness", "parameters"), directory=tmp_path / "multi",
    )  # fmt: skip
    front = multi.pareto
    assert front and front == pareto_front(multi.history, ("closeness", "parameters"))
    for a in front:
        for b in multi.history:
            assert not (
                b["metrics"]["closeness"] >= a["metrics"]["closeness"]
                and b["metrics"]["parameters"] <= a["metrics"]["parameters"]
                and (b["metrics"]["closeness"], b["metrics"]["parameters"])
                != (a["metrics"]["closeness"], a["metrics"]["parameters"])
            )
    with pytest.raises(ValueError, match="other settings .*changed: cycles"):
        evolve(SEED, _size_objective, cycles=41, population_size=8, sample_size=3,
               objectives=("closeness",), directory=tmp_path / "single")  # fmt: skip


TRAIN_CONFIG = {
    "data": {"name": "mnist1d"},
    "training": {"epochs": 1, "batch_size": 256, "seed": 0, "validation_split": 0.2,
                 "optimizer": {"name": "adam", "learning_rate": 0.003},
                 "callbacks": {"plot": False, "checkpoint": False}},
}  # fmt: skip


def test_trained_evolution_on_mnist1d_tiny(tmp_path):
    evaluator = TrainEvaluator(TRAIN_CONFIG, tmp_path / "runs")
    result = evolve(SEED, evaluator, cycles=3, population_size=2, sample_size=2,
                    max_params=20_000, directory=tmp_path)  # fmt: skip
    assert len(result.history) == 3
    for entry in result.history:
        metrics = entry["metrics"]
        assert 0.0 <= metrics["val_accuracy"] <= 1.0, metrics
        assert metrics["parameters"] == entry["genome"]["params"]
        assert (tmp_path / "runs" / entry["id"] / "history.json").is_file()
    # The third is a mutated child of the better of the first two.
    first, second, third = result.history
    assert (first["operator"], second["operator"]) == ("seed", "random")
    winner = max(first, second, key=lambda e: e["metrics"]["val_accuracy"])
    assert third["parent"] == winner["id"] and third["operator"] not in (
        "seed",
        "random",
    )
    checkpoint = json.loads((tmp_path / "evolution.json").read_text())
    assert [e["id"] for e in checkpoint["history"]] == ["c00000", "c00001", "c00002"]


CHILD = """
import sys
import time

import kerasdl
from kerasdl.search.evolve import TrainEvaluator, evolve


def size_objective(spec, name):
    time.sleep(0.3)  # time for the test to kill the search mid-way
    params = kerasdl.build(spec).count_params()
    return {{"closeness": -abs(params - 2000) / 2000, "parameters": params}}


if __name__ == "__main__":  # the spawned workers import this file
    config = {config}
    seed = {seed}
    trained = sys.argv[2] == "trained"
    result = evolve(
        seed, TrainEvaluator(config) if trained else size_objective,
        cycles=6 if trained else 12, population_size=3, sample_size=2,
        objectives=("val_accuracy",) if trained else ("closeness",),
        max_params=20_000, workers=2 if trained else 0, directory=sys.argv[1],
    )
    print("done", len(result.history))
"""


def _kill_and_resume(tmp_path, mode: str, cycles: int) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(config=repr(TRAIN_CONFIG), seed=repr(SEED)))
    directory = tmp_path / "evolution"
    checkpoint = directory / "evolution.json"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, str(script), str(directory), mode]
    child = subprocess.Popen(command, env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 150
    finished = []
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if checkpoint.is_file():
                finished = json.loads(checkpoint.read_text())["history"]
                if len(finished) >= 2:
                    break
            time.sleep(0.05)
        assert len(finished) >= 2 and child.poll() is None, child.stdout.read()[-3000:]
        os.killpg(child.pid, signal.SIGKILL)  # the search and its workers
        child.wait()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    kept = json.loads(checkpoint.read_text())["history"]
    assert 2 <= len(kept) < cycles
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"done {cycles}" in done.stdout
    final = json.loads(checkpoint.read_text())["history"]
    assert len(final) == cycles
    # Every evaluation finished before the kill is kept, unchanged.
    assert final[: len(kept)] == kept
    assert len({e["id"] for e in final}) == cycles


def test_resume_after_out_of_order_finishes_never_reuses_an_id(tmp_path):
    # Parallel workers finish out of order: a search killed while c00001 was
    # still training has recorded c00000 and c00002 only.
    settings = dict(cycles=3, population_size=2, sample_size=2,
                    objectives=("closeness",), directory=tmp_path)  # fmt: skip
    evolve(SEED, _size_objective, **settings)
    path = tmp_path / "evolution.json"
    state = json.loads(path.read_text())
    state["history"] = [e for e in state["history"] if e["id"] != "c00001"]
    path.write_text(json.dumps(state))
    resumed = evolve(SEED, _size_objective, **settings)
    assert [e["id"] for e in resumed.history] == ["c00000", "c00002", "c00003"]
    state["history"][1]["id"] = "../x"
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="damaged history"):
        evolve(SEED, _size_objective, **settings)


@pytest.mark.one_backend
def test_sigkilled_search_resumes_without_losing_evaluations(tmp_path):
    _kill_and_resume(tmp_path, "size", 12)


@pytest.mark.slow
def test_sigkilled_parallel_trained_search_resumes(tmp_path):
    # Two spawned worker processes training on MNIST-1D (40 s to 2 minutes
    # on 2 CPU cores: every process starts TensorFlow and the data).
    _kill_and_resume(tmp_path, "trained", 6)


@pytest.mark.one_backend
def test_pareto_search_on_measured_tflite_latency(tmp_path):
    evaluator = TrainEvaluator(TRAIN_CONFIG, latency_runs=5)
    objectives = ("val_accuracy", "latency_ms")
    result = evolve(SEED, evaluator, cycles=2, population_size=2, sample_size=2,
                    max_params=20_000, objectives=objectives)  # fmt: skip
    for entry in result.history:
        assert 0.0 < entry["metrics"]["latency_ms"] < 1000.0, entry["metrics"]
    assert result.pareto == pareto_front(result.history, objectives)
    assert 1 <= len(result.pareto) <= 2
