"""Hyperparameter search over a run config with keras-tuner.

`tune(config, algorithm)` reads a run config with search parameters (see
`kerasdl.search.space`), hands them to a keras-tuner oracle (random search,
Hyperband or Bayesian optimization) and runs each trial as a normal Trainer
run in `<directory>/<project>/trials/trial_<id>/`. keras-tuner keeps the
oracle's state in `<directory>/<project>/`, so calling `tune` again with the
same directory resumes the search (finished trials are kept).

Distributed search is keras-tuner's chief/worker mode, driven by its
environment variables: start the same `tune` call (or `kerasdl search`) once
with `KERASTUNER_TUNER_ID=chief` and once per worker with
`KERASTUNER_TUNER_ID=tuner0`, `tuner1`, ..., all with the same
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`. The chief runs the
oracle (no training) and writes the results when every trial is done; the
workers train.

Results: `results.csv` and `results.json` (one row per finished trial:
trial, each parameter's value, the objective, test metrics, the model's
parameter count, epochs and seconds) and `results.png` (parallel
coordinates, one line per trial coloured by the objective), in
`<directory>/<project>/`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os

from kerasdl._checks import check_choice, check_int, invalid
from kerasdl._io import write_json_atomic, write_text_atomic
from kerasdl.search._trial import objective_direction, run_config
from kerasdl.search.space import SearchSpace, is_active, parse_space

__all__ = ["ALGORITHMS", "TuneResult", "tune"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("random", "hyperband", "bayesian")
_SCALARS = (bool, int, float, str)


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns.

    Attributes:
        rows: list of dict. One per finished trial, best first.
        best_values: dict. Parameter name -> value of the best trial.
        best_config: dict. The plain run config of the best trial.
        best_score: float. The best trial's objective.
        total_epochs: int. Epochs trained over all trials.
        directory: str. The project folder (results files, trials).
        files: dict. "csv", "json", "png" -> path (empty on a worker).
        parameters: list of str. The search parameters' dotted names.
    """

    rows: list
    best_values: dict
    best_config: dict
    best_score: float
    total_epochs: int
    directory: str
    files: dict
    parameters: list = dataclasses.field(default_factory=list)


def _is_indexed(parameter) -> bool:
    """Choices keras-tuner cannot hold as values go by index."""
    values = parameter.values
    kinds = {type(v) for v in values}
    return not (len(kinds) == 1 and kinds <= set(_SCALARS)) or len(set(values)) != len(
        values
    )


def _kt_value(parameter, value):
    if parameter.kind == "choice" and _is_indexed(parameter):
        return parameter.values.index(value)
    return value


def _declare(hp, parameter):
    """Declares `parameter` on keras-tuner's HyperParameters; returns its value."""
    name = parameter.name
    if parameter.kind == "choice":
        if _is_indexed(parameter):
            index = hp.Choice(name, list(range(len(parameter.values))), ordered=False)
            return None if index is None else parameter.values[index]
        return hp.Choice(name, list(parameter.values))
    lo, hi = parameter.values
    sampling = "log" if parameter.log else "linear"
    if parameter.kind == "int":
        return hp.Int(name, lo, hi, step=parameter.step, sampling=sampling)
    return hp.Float(name, lo, hi, step=parameter.step, sampling=sampling)


def _hypermodel(space: SearchSpace):
    import keras_tuner as kt

    class SpaceHyperModel(kt.HyperModel):
        """Declares the space; `build` returns the values, not a model."""

        def build(self, hp):
            values: dict = {}
            for parameter in space.parameters.values():
                if not parameter.when:
                    values[parameter.name] = _declare(hp, parameter)
                    continue
                # keras-tuner knows the condition (its scopes), and the
                # value counts only when kerasdl's own check agrees.
                scopes = [
                    hp.conditional_scope(
                        parent,
                        [_kt_value(space.parameters[parent], v) for v in accepted],
                    )
                    for parent, accepted in parameter.when.items()
                ]
                for scope in scopes:
                    scope.__enter__()
                try:
                    value = _declare(hp, parameter)
                finally:
                    for scope in reversed(scopes):
                        scope.__exit__(None, None, None)
                if is_active(parameter, values):
                    values[parameter.name] = value
            return values

    return SpaceHyperModel()


def _oracle(algorithm, objective, max_trials, max_epochs, factor, seed):
    import keras_tuner as kt

    goal = kt.Objective(objective, objective_direction(objective))
    if algorithm == "random":
        return kt.oracles.RandomSearchOracle(goal, max_trials=max_trials, seed=seed)
    if algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            goal, max_trials=max_trials, seed=seed
        )
    return kt.oracles.HyperbandOracle(
        goal, max_epochs=max_epochs, factor=factor, seed=seed
    )


def _tuner(space, oracle, directory, project, objective, overwrite):
    import keras_tuner as kt

    class ConfigTuner(kt.engine.base_tuner.BaseTuner):
        """Each trial: the resolved run config, trained by the Trainer."""

        def run_trial(self, trial, *args, **kwargs):
            values = self.hypermodel.build(trial.hyperparameters)
            epochs = trial.hyperparameters.values.get("tuner/epochs")
            return run_config(
                space.resolve(values),
                _trial_dir(self.project_dir, trial.trial_id),
                objective=objective,
                epochs=epochs,
            )

        def save_model(self, trial_id, model, step=0):
            del trial_id, model, step  # the Trainer's run directory has it

    return ConfigTuner(
        oracle,
        _hypermodel(space),
        directory=directory,
        project_name=project,
        overwrite=overwrite,
    )


def _trial_dir(project_dir: str, trial_id: str) -> str:
    return os.path.join(project_dir, "trials", f"trial_{trial_id}")


def _rows(space, trials, objective) -> list[dict]:
    rows = []
    for trial in trials:
        if not trial.metrics.exists(objective):
            continue  # another worker's trial, still running
        hp = trial.hyperparameters.values
        row = {"trial": trial.trial_id}
        for name, parameter in space.parameters.items():
            if name in hp and trial.hyperparameters.is_active(name):
                value = hp[name]
                if parameter.kind == "choice" and _is_indexed(parameter):
                    value = parameter.values[value]
                row[name] = value
            else:
                row[name] = None
        metrics = {
            name: _number(trial.metrics.get_best_value(name))
            for name in trial.metrics.metrics
        }
        row[objective] = metrics.pop(objective, None)
        row.update(metrics)
        if "tuner/epochs" in hp:
            row["tuner/epochs"] = hp["tuner/epochs"]
        rows.append(row)
    return rows


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _write_results(rows, space, objective, project_dir) -> dict:
    from kerasdl.viz.search import plot_parallel_coordinates

    os.makedirs(project_dir, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    files = {
        "csv": os.path.join(project_dir, "results.csv"),
        "json": os.path.join(project_dir, "results.json"),
        "png": os.path.join(project_dir, "results.png"),
    }
    write_text_atomic(files["csv"], text.getvalue())
    write_json_atomic(files["json"], {"objective": objective, "trials": rows})
    axes = list(space.parameters)
    plot_parallel_coordinates(
        [
            {k: _plot_value(space, k, row.get(k)) for k in [*axes, objective]}
            for row in rows
        ],
        [*axes, objective],
        objective,
        files["png"],
        title=f"{len(rows)} trials, coloured by {objective}",
    )
    return files


def _cell(value):
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    return value


def _plot_value(space, name, value):
    """A number for the plot axis: choices by their index."""
    parameter = space.parameters.get(name)
    if value is None:
        return math.nan
    if parameter is not None and parameter.kind == "choice":
        return float(parameter.values.index(value))
    return float(value)


def tune(
    config,
    algorithm: str = "random",
    *,
    max_trials: int = 10,
    directory="runs/search",
    project: str | None = None,
    objective: str = "val_accuracy",
    max_epochs: int | None = None,
    factor: int = 3,
    seed: int = 0,
    overwrite: bool = False,
) -> TuneResult:
    """Runs a keras-tuner search over a run config's search parameters.

    Args:
        config: dict, YAML string or YAML/JSON file. A run config with search
            parameters (`kerasdl.search.space`).
        algorithm: str. "random", "hyperband" or "bayesian".
        max_trials: int. Trials to run (random and bayesian; Hyperband's
            brackets set its own count).
        directory: str or os.PathLike. Parent folder of the project.
        project: str or None. Project folder name (default: the config's
            name, else "search").
        objective: str. History key to optimize (best epoch of each trial;
            minimized for losses and errors, else maximized).
        max_epochs: int or None. Hyperband's largest budget (default: the
            config's training.epochs); each trial trains from scratch for
            its budget.
        factor: int. Hyperband's reduction factor (>= 2).
        seed: int. The oracle's seed.
        overwrite: bool. Start over instead of resuming the project.

    Returns:
        TuneResult. On a distributed worker, rows hold the trials finished
        so far and no files are written (the chief writes them).

    Raises:
        ValueError: for an invalid space or config (naming the dotted key),
            an unknown algorithm, or Hyperband without a fixed epoch count.

    Example:
    >>> result = tune("search.yaml", "hyperband", directory="runs/search")
    >>> result.best_config["training"]["optimizer"]
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    check_int("max_trials", max_trials, 1)
    check_int("factor", factor, 2)
    check_int("seed", seed, 0)
    space = parse_space(config)
    if algorithm == "hyperband":
        if "training.epochs" in space.parameters:
            raise invalid(
                "training.epochs", space.config["training"]["epochs"],
                "a fixed number with algorithm='hyperband' (it sets each "
                "trial's epochs itself)",
            )  # fmt: skip
        if max_epochs is None:
            max_epochs = space.config.get("training", {}).get("epochs")
        check_int("max_epochs", max_epochs, 1)
    project = project or space.config.get("name") or "search"
    oracle = _oracle(algorithm, objective, max_trials, max_epochs, factor, seed)
    tuner = _tuner(space, oracle, os.fspath(directory), project, objective, overwrite)
    tuner.search(verbose=0)
    chief_or_alone = os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief" or (
        "KERASTUNER_ORACLE_IP" not in os.environ
    )
    trials = tuner.oracle.get_best_trials(10**6)
    rows = _rows(space, trials, objective)
    files = _write_results(rows, space, objective, tuner.project_dir) if (
        chief_or_alone and rows
    ) else {}  # fmt: skip
    best = trials[0] if trials else None
    best_values = {
        k: v for k, v in (rows[0].items() if rows else ()) if k in space.parameters
    }
    best_values = {k: v for k, v in best_values.items() if v is not None}
    return TuneResult(
        rows=rows,
        best_values=best_values,
        best_config=space.resolve(best_values) if best else {},
        best_score=rows[0][objective] if rows else math.nan,
        total_epochs=int(sum(row.get("epochs") or 0 for row in rows)),
        directory=tuner.project_dir,
        files=files,
        parameters=list(space.parameters),
    )
