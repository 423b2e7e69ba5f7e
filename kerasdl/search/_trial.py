"""One evaluation of a search: a run config trained by the Trainer.

Tuning trials and evolution's candidates are both run configs (`data`,
`model`, `training`): a trial is a normal Trainer run with its own run
directory. The dataset is loaded once per process and reused by every
trial with the same `data` section.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

from kerasdl.runconfig import load_run_config

__all__ = ["DEFAULT_VALIDATION_SPLIT", "load_data", "objective_direction", "run_config"]

logger = logging.getLogger(__name__)

#: Used when the training config sets no validation_split: a search must
#: select on held-out data, never on the test split.
DEFAULT_VALIDATION_SPLIT = 0.2
_DATA: dict = {}


def load_data(options: dict):
    """The dataset for a `data` section, loaded once per process."""
    import kerasdl.data

    key = json.dumps(options, sort_keys=True, default=str)
    if key not in _DATA:
        options = dict(options)
        _DATA.clear()  # one dataset at a time: searches rarely switch data
        _DATA[key] = kerasdl.data.load(options.pop("name"), **options)
    return _DATA[key]


_MINIMIZED = (
    "loss",
    "mae",
    "mse",
    "error",
    "parameters",
    "latency",
    "seconds",
    "bytes",
)


def objective_direction(name: str) -> str:
    """Returns "min" for losses, errors, sizes and times, else "max"."""
    lowered = name.lower()
    return "min" if any(word in lowered for word in _MINIMIZED) else "max"


def run_config(config, run_dir: str | None = None, *, objective="val_accuracy",
               epochs: int | None = None, latency_runs: int = 0) -> dict:  # fmt: skip
    """Trains the run config's model and returns its metrics.

    Args:
        config: dict. A plain run config (no search parameters).
        run_dir: str or None. The trial's run directory (training.run_dir).
        objective: str. The history key to report, e.g. "val_accuracy";
            its best epoch is reported ("min" for losses).
        epochs: int or None. Overrides training.epochs (Hyperband's budget).
        latency_runs: int. When > 0, the trained model is converted to a
            float TFLite file and its median latency on one example, over
            this many LiteRT runs, is reported as "latency_ms".

    Returns:
        dict: the objective, "test_<metric>" for each test metric,
        "parameters" (the model's count), "epochs" run and "seconds".

    Raises:
        ValueError: for an invalid config or an objective the history lacks.
    """
    from kerasdl.spec import fill_from_data
    from kerasdl.training import Trainer, TrainingConfig

    start = time.perf_counter()
    config = load_run_config(config, "train")
    training = dict(config["training"])
    if not training.get("validation_split"):
        training["validation_split"] = DEFAULT_VALIDATION_SPLIT
    training.setdefault("verbose", 0)
    if run_dir is not None:
        training["run_dir"] = run_dir
    if epochs is not None:
        training["epochs"] = int(epochs)
    trainer = Trainer(TrainingConfig.from_dict(training))
    dataset = load_data(config["data"])
    spec = fill_from_data(config["model"], dataset.input_shape, dataset.num_classes)
    history = trainer.fit(spec, dataset.x_train, dataset.y_train)
    curve = history.history.get(objective)
    if not curve:
        raise ValueError(
            f"Invalid objective={objective!r}: the training history has "
            f"{sorted(history.history)}."
        )
    curve = [v if math.isfinite(v) else math.nan for v in map(float, curve)]
    pick = min if objective_direction(objective) == "min" else max
    finite = [v for v in curve if not math.isnan(v)]
    model = trainer.model
    scores = model.evaluate(dataset.x_test, dataset.y_test, verbose=0, return_dict=True)
    metrics = {objective: pick(finite) if finite else math.nan}
    metrics.update({f"test_{k}": float(v) for k, v in scores.items()})
    metrics["parameters"] = int(model.count_params())
    metrics["epochs"] = len(history.epoch)
    if latency_runs:
        metrics["latency_ms"] = _tflite_latency(model, dataset.x_test[:1], latency_runs)
    metrics["seconds"] = time.perf_counter() - start
    logger.info("trial %s: %s", run_dir, metrics)
    return metrics


def _tflite_latency(model, example, runs: int) -> float:
    """Median LiteRT latency (ms) of the model as a float TFLite file."""
    import tempfile

    from kerasdl.exporters import FORMATS

    fmt = FORMATS["tflite"]
    with tempfile.TemporaryDirectory(prefix="kerasdl_latency_") as folder:
        path = os.path.join(folder, "model.tflite")
        fmt.write(model, path)
        runner = fmt.open(path, num_threads=1)
        try:
            median, _ = runner.latency([example], runs)
        finally:
            runner.close()
    return float(median)
