"""Regularized (aging) evolution of architectures (Real et al. 2019).

`evolve(seed_spec, evaluate, ...)` keeps a population of `population_size`
architectures. Each cycle samples `sample_size` of them, takes the best of
the sample (tournament selection) as parent, mutates it (or crosses it with
the second best, then mutates: see `kerasdl.search.mutations`), evaluates
the child and adds it to the population, removing the OLDEST member (aging:
a lucky early evaluation cannot stay forever). Every child is a spec checked
by the spec language's layers before it is evaluated; an invalid child is
repaired or resampled, never evaluated.

Resumable: after every finished evaluation the whole search (every
evaluation, the population, the random state) is written atomically to
`<directory>/evolution.json`; calling `evolve` again with the same directory
continues from there, so a search killed with SIGKILL loses only the
evaluations that were running.

Parallel: with `workers=N` the evaluations run in N worker processes
(asynchronous: a new child is made as soon as any evaluation finishes).

Multi-objective: `objectives=("val_accuracy", "parameters")` selects by
Pareto dominance (a tournament winner is a sample member no other member
dominates) and `EvolveResult.pareto` holds the non-dominated evaluations.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import logging
import math
import multiprocessing
import os
import random
import re
import time

from kerasdl._checks import check_float, check_int, invalid
from kerasdl._io import read_json, write_json_atomic
from kerasdl.search import mutations
from kerasdl.search._trial import objective_direction, run_config
from kerasdl.spec import load_spec

__all__ = ["EvolveResult", "TrainEvaluator", "evolve", "pareto_front"]

logger = logging.getLogger(__name__)

CHECKPOINT = "evolution.json"
_VERSION = 1


class TrainEvaluator:
    """Evaluates a spec by training it with a run config (picklable).

    Args:
        config: dict. A run config (`data`, `training`; its `model` is
            replaced by each candidate's spec).
        directory: str or None. Parent of each candidate's run directory
            (`<directory>/<id>`); None writes no run files.
        objective: str. The history key reported (best epoch).
        latency_runs: int. When > 0, also report "latency_ms": the median
            LiteRT latency of the trained model as a float TFLite file (an
            objective for Pareto search on devices).
    """

    def __init__(self, config: dict, directory=None, objective="val_accuracy",
                 latency_runs: int = 0):  # fmt: skip
        self.config = copy.deepcopy(config)
        self.directory = None if directory is None else os.fspath(directory)
        self.objective = objective
        self.latency_runs = check_int("latency_runs", latency_runs, 0)

    def __call__(self, spec: dict, name: str) -> dict:
        config = {**self.config, "model": spec}
        run_dir = None if self.directory is None else os.path.join(self.directory, name)
        return run_config(
            config, run_dir, objective=self.objective, latency_runs=self.latency_runs
        )


@dataclasses.dataclass
class EvolveResult:
    """What `evolve` returns.

    Attributes:
        history: list of dict. Every evaluation in order: id, genome, spec,
            metrics, operator, parent, seconds.
        population: list of dict. The living population (newest last).
        best: dict. The best evaluation (first objective).
        pareto: list of dict. Non-dominated evaluations (multi-objective).
        checkpoint: str or None. The checkpoint file.
    """

    history: list
    population: list
    best: dict
    pareto: list
    checkpoint: str | None


def _score(entry: dict, objective: str) -> float:
    value = entry["metrics"].get(objective, math.nan)
    value = math.nan if value is None else float(value)
    if math.isnan(value):
        return -math.inf
    return -value if objective_direction(objective) == "min" else value


def _dominates(a: dict, b: dict, objectives) -> bool:
    sa = [_score(a, o) for o in objectives]
    sb = [_score(b, o) for o in objectives]
    return all(x >= y for x, y in zip(sa, sb)) and any(x > y for x, y in zip(sa, sb))


def pareto_front(entries: list, objectives) -> list:
    """The entries no other entry dominates, sorted by the second objective.

    Args:
        entries: list of dict with "metrics".
        objectives: sequence of str. Metric names (losses, errors and
            "parameters"/"latency_ms" are minimized; others maximized).
    """
    front = [
        e for e in entries if not any(_dominates(o, e, objectives) for o in entries)
    ]
    return sorted(front, key=lambda e: -_score(e, objectives[-1]))


def _tournament(population, sample_size, objectives, rng):
    sample = rng.sample(population, min(sample_size, len(population)))
    if len(objectives) == 1:
        ranked = sorted(sample, key=lambda e: _score(e, objectives[0]), reverse=True)
    else:
        front = pareto_front(sample, objectives)
        rng.shuffle(front)
        rest = [e for e in sample if e not in front]
        ranked = front + sorted(
            rest, key=lambda e: _score(e, objectives[0]), reverse=True
        )
    return ranked[:2]


def _settings(**kwargs) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def _rng_state(rng: random.Random) -> list:
    version, state, gauss = rng.getstate()
    return [version, list(state), gauss]


def _set_rng(rng: random.Random, state: list) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))


def _load(path: str, settings: dict):
    state = read_json(path)
    if not isinstance(state, dict) or state.get("version") != _VERSION:
        raise ValueError(
            f"{path} is not an evolution checkpoint of version {_VERSION}; "
            "remove it or choose another directory."
        )
    history = state.get("history")
    if not isinstance(history, list) or not all(
        isinstance(e, dict) and re.fullmatch(r"c\d{5,}", str(e.get("id")))
        for e in history
    ):
        raise ValueError(
            f"{path} has a damaged history (expected a list of evaluations with "
            "ids c00000, c00001, ...); remove it or choose another directory."
        )
    if state["settings"] != settings:
        changed = sorted(k for k in settings if state["settings"].get(k) != settings[k])
        raise ValueError(
            f"The evolution checkpoint {path} was written with other settings "
            f"(changed: {', '.join(changed)}); use the same settings to resume, "
            "or another directory to start over."
        )
    return state


def evolve(
    seed,
    evaluate,
    *,
    cycles: int = 100,
    population_size: int = 20,
    sample_size: int = 5,
    objectives=("val_accuracy",),
    crossover_rate: float = 0.2,
    max_params: int = 1_000_000,
    max_layers: int = 16,
    head_layers: int = 1,
    random_init: bool = True,
    workers: int = 0,
    directory=None,
    seed_value: int = 0,
) -> EvolveResult:
    """Runs regularized evolution from a seed spec; resumes from `directory`.

    Args:
        seed: dict, YAML string or file. A Sequential spec with input_shape,
            or a Functional spec that is a chain with `Add` skips; its last
            `head_layers` layers are the fixed head.
        evaluate: callable(spec: dict, name: str) -> dict of metrics, e.g.
            a `TrainEvaluator`. Must be picklable with `workers > 0`.
        cycles: int. Evaluations in total (initial population included).
        population_size: int. Living population (the P of the paper).
        sample_size: int. Tournament size (S).
        objectives: sequence of str. Metric names; one for single-objective
            search, several for Pareto selection (e.g. "parameters").
        crossover_rate: float. Probability of crossing two tournament
            winners before mutating.
        max_params: int. Largest parameter count of a child.
        max_layers: int. Largest number of body layers.
        head_layers: int. Trailing layers never mutated.
        random_init: bool. Start from random architectures (the paper);
            false: from mutations of the seed spec.
        workers: int. Worker processes (0: evaluate in this process).
        directory: str, os.PathLike or None. Where the checkpoint lives.
        seed_value: int. Seed of the search's random choices.

    Returns:
        EvolveResult.

    Raises:
        ValueError: for invalid arguments, a seed spec evolution cannot
            read, or a checkpoint written with other settings.

    Example:
    >>> result = evolve("seed.yaml", TrainEvaluator(config), cycles=50,
    ...                 directory="runs/evolve")
    >>> result.best["spec"]
    """
    check_int("cycles", cycles, 1)
    check_int("population_size", population_size, 2)
    check_int("sample_size", sample_size, 1, population_size)
    check_float("crossover_rate", crossover_rate, 0, 1)
    check_int("max_params", max_params, 1)
    check_int("max_layers", max_layers, 1)
    check_int("workers", workers, 0, 64)
    check_int("seed_value", seed_value, 0)
    objectives = tuple(objectives)
    if not objectives or not all(isinstance(o, str) for o in objectives):
        raise invalid("objectives", objectives, "a non-empty list of metric names")
    if not callable(evaluate):
        raise invalid("evaluate", evaluate, "a callable(spec, name) -> metrics")
    spec = load_spec(seed)
    if not isinstance(spec, dict):
        raise invalid("seed", seed, "a Sequential or Functional spec mapping")
    genome = mutations.from_spec(spec, head_layers)
    settings = _settings(
        seed=mutations.to_spec(genome), cycles=cycles, population_size=population_size,
        sample_size=sample_size, objectives=objectives, crossover_rate=crossover_rate,
        max_params=max_params, max_layers=max_layers, random_init=random_init,
        seed_value=seed_value,
    )  # fmt: skip
    rng = random.Random(seed_value)
    history: list = []
    path = None
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(os.fspath(directory), CHECKPOINT)
        if os.path.isfile(path):
            state = _load(path, settings)
            history = state["history"]
            _set_rng(rng, state["rng"])
            logger.info(
                "Resuming evolution from %s: %d evaluations", path, len(history)
            )
    # Children created so far (their ids). Parallel workers finish out of
    # order, so a killed search can have recorded c00002 but not c00001:
    # new ids continue after the highest recorded, never reusing one.
    made = 1 + max((int(e["id"][1:]) for e in history), default=-1)

    def new_child():
        nonlocal made
        population = history[-population_size:]
        if made < population_size:
            if random_init and made > 0:
                child = mutations.random_genome(
                    genome["input_shape"], genome["head"], rng, max_params=max_params
                )
                operator, parent = "random", None
            else:
                child, operator, parent = (
                    mutations.check(genome, max_params),
                    "seed",
                    None,
                )
                if made > 0:
                    child, operator = mutations.child_of(
                        [genome], rng, max_params=max_params, max_layers=max_layers
                    )
        else:
            winners = _tournament(population, sample_size, objectives, rng)
            child, operator = mutations.child_of(
                [w["genome"] for w in winners], rng, crossover_rate=crossover_rate,
                max_params=max_params, max_layers=max_layers,
            )  # fmt: skip
            parent = winners[0]["id"]
        name = f"c{made:05d}"
        made += 1
        return {"id": name, "genome": child, "operator": operator, "parent": parent}

    def record(candidate, metrics, seconds):
        metrics = dict(metrics)
        metrics.setdefault("parameters", candidate["genome"]["params"])
        entry = dict(candidate, spec=mutations.to_spec(candidate["genome"], candidate["id"]),
                     metrics=metrics, seconds=seconds)  # fmt: skip
        history.append(entry)
        if path is not None:
            write_json_atomic(path, {
                "version": _VERSION, "settings": settings,
                "rng": _rng_state(rng), "history": history,
            })  # fmt: skip
        logger.info("%s (%s): %s", entry["id"], entry["operator"], metrics)

    if workers == 0:
        while len(history) < cycles:
            candidate = new_child()
            start = time.perf_counter()
            metrics = _safe_evaluate(
                evaluate,
                mutations.to_spec(candidate["genome"], candidate["id"]),
                candidate["id"],
            )
            record(candidate, metrics, time.perf_counter() - start)
    else:
        _evolve_parallel(workers, cycles, history, new_child, record, evaluate)
    return _result(history, population_size, objectives, path)


def _safe_evaluate(evaluate, spec, name) -> dict:
    """The evaluation's metrics; a failed training scores as missing (NaN)."""
    try:
        metrics = evaluate(spec, name)
    except (ValueError, ArithmeticError, RuntimeError) as error:
        # A child the spec language accepts can still fail to train (NaN
        # loss, memory): it loses every tournament instead of ending the search.
        logger.warning("evaluation of %s failed: %s", name, error)
        return {"error": str(error)[:500]}
    if not isinstance(metrics, dict):
        raise invalid("evaluate(...)", metrics, "a dict of metrics")
    return metrics


def _timed_evaluate(evaluate, spec, name):
    start = time.perf_counter()
    return _safe_evaluate(evaluate, spec, name), time.perf_counter() - start


def _evolve_parallel(workers, cycles, history, new_child, record, evaluate) -> None:
    # Spawned, not forked: a forked copy of an initialized TensorFlow/JAX
    # runtime can deadlock.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        running = {}
        while len(history) < cycles:
            while len(running) < workers and len(history) + len(running) < cycles:
                candidate = new_child()
                spec = mutations.to_spec(candidate["genome"], candidate["id"])
                running[
                    pool.submit(_timed_evaluate, evaluate, spec, candidate["id"])
                ] = candidate
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                metrics, seconds = future.result()
                record(running.pop(future), metrics, seconds)


def _result(history, population_size, objectives, path) -> EvolveResult:
    evaluated = [e for e in history if objectives[0] in e["metrics"]]
    best = max(evaluated, key=lambda e: _score(e, objectives[0])) if evaluated else {}
    pareto = pareto_front(evaluated, objectives) if len(objectives) > 1 else []
    return EvolveResult(history, history[-population_size:], best, pareto, path)
