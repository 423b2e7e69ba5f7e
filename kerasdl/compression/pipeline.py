"""One config, the whole compression path: model -> steps -> export -> report.

`compress(config)` (and `kerasdl compress CONFIG.yaml`) reads one YAML file or
dict::

    name: lenet5_pruned_int8      # output folder <output_dir>/<name>
    output_dir: savedmodels       # default
    seed: 0
    data: {name: digits, image_size: 32}       # kerasdl.data.load
    model: {model: lenet5, activation: relu}   # a spec, a name or a .keras file
    train: {epochs: 20, batch_size: 32}        # optional base training
    steps:                                     # applied in order
      - prune: {final_sparsity: 0.8, epochs: 4}
      - qat: {epochs: 2}
    export:
      formats: [keras, tflite, tflite_int8]
    report: {latency_runs: 50}

and writes `<output_dir>/<name>/`: the compressed model's files (weights,
no optimizer state) and manifest.json (the deployable folder), `baseline/` (the model before the
steps, same formats), report.json and report.md (the before/after table) and
config.yaml (the resolved config). Everything is written into a temporary
folder next to the target and renamed into place at the end; on any failure
the target is left as it was.

Steps and their keys (fine-tuning keys `epochs`, `batch_size`, `optimizer`
and `learning_rate` are shared by prune, cluster, qat and lora):

- prune: `final_sparsity` (required), `schedule` ("polynomial" or
  "constant"), `initial_sparsity`, `begin_step`, `end_step`, `frequency`,
  `power`, `block_size`, `sparsity_m_by_n`, `layers`, `scope`
  (kerasdl.compression.pruning). By default sparsity rises over the first
  70% of the fine-tuning steps in ten mask updates; the rest recovers
  accuracy with the final mask. Stripped after fine-tuning.
- cluster: `number_of_clusters` (required), `cluster_centroids_init`,
  `layers` (kerasdl.compression.clustering). Stripped after fine-tuning.
- qat: `layers` (kerasdl.compression.qat). The fine-tuned QAT model is what
  gets exported ("tflite_int8" is then the true-int8 file).
- distill: `student` (required: a spec, filled with the data's input shape
  and classes) and the keys of kerasdl.compression.distillation's config
  (`temperature`, `alpha`, `logits_weight`, `features`, `epochs`,
  `batch_size`, `optimizer`, `learning_rate` or `lr`, `from_logits`). The
  trained student replaces the model.
- ptq: `mode` (required: "int8", "int4", "float8", "gptq") and the mode's
  options (kerasdl.compression.ptq). Keras-quantized layers export to
  "keras", "saved_model" and "onnx"; TFLite cannot convert them.
- lora: `rank` (required), `alpha`, `layers` (kerasdl.compression.lora);
  fine-tuned, then merged into plain kernels.

qat and ptq quantize the model for good: each may appear once, as the last
step. qat and lora fine-tune every weight they train, so the zeros of an
earlier prune step (and cluster's shared values) are not preserved; for a
pruned int8 file, prune and export "tflite_int8" (post-training int8 keeps
exact zeros).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import numbers
import os
import shutil
import uuid
from typing import Any

import yaml

from kerasdl.registry import closest
from kerasdl.spec import load_spec

__all__ = ["STEPS", "CompressResult", "compress", "validate_config"]

logger = logging.getLogger(__name__)

_TOP_KEYS = (
    "name",
    "output_dir",
    "seed",
    "data",
    "model",
    "train",
    "steps",
    "export",
    "report",
)
_FINETUNE = ("epochs", "batch_size", "optimizer", "learning_rate")
#: Step name -> accepted keys.
STEPS: dict[str, tuple[str, ...]] = {
    "prune": (
        "final_sparsity",
        "schedule",
        "initial_sparsity",
        "begin_step",
        "end_step",
        "frequency",
        "power",
        "block_size",
        "sparsity_m_by_n",
        "layers",
        "scope",
        *_FINETUNE,
    ),
    "cluster": ("number_of_clusters", "cluster_centroids_init", "layers", *_FINETUNE),
    "qat": ("layers", *_FINETUNE),
    "distill": (
        "student",
        "temperature",
        "alpha",
        "logits_weight",
        "features",
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "lr",
        "from_logits",
        "verbose",
    ),
    "ptq": (
        "mode",
        "layers",
        "batch_size",
        "block_size",
        "calibration_data",
        "weight_bits",
        "group_size",
        "num_samples",
        "hessian_damping",
        "symmetric",
        "activation_order",
    ),
    "lora": ("rank", "alpha", "layers", *_FINETUNE),
}
_REQUIRED = {
    "prune": "final_sparsity",
    "cluster": "number_of_clusters",
    "distill": "student",
    "ptq": "mode",
    "lora": "rank",
}
_FINAL_STEPS = ("qat", "ptq")
_PTQ_MODES = ("int8", "int4", "float8", "gptq")
_SCHEDULES = ("polynomial", "constant")
_EXPORT_KEYS = (
    "formats",
    "int8_io",
    "per_channel",
    "strip_tensor_names",
    "representative_samples",
    "min_agreement",
)
_REPORT_KEYS = ("latency_runs", "baseline", "num_threads", "metric")
_DEFAULT_FORMATS = ["keras", "tflite", "tflite_int8"]
_DEFAULT_FINETUNE = {"epochs": 2, "batch_size": 32, "learning_rate": 5e-4}
# Share of the fine-tuning steps over which the pruning schedule ramps up,
# and how many mask updates it makes on the way.
_PRUNE_RAMP = 0.7
_PRUNE_UPDATES = 10
BASELINE_DIR = "baseline"
CONFIG_FILE = "config.yaml"


@dataclasses.dataclass
class CompressResult:
    """What `compress` returns.

    Attributes:
        model: keras.Model. The compressed model (the exported one).
        baseline: keras.Model. The model before the steps.
        report: kerasdl.compression.CompressionReport. The table.
        directory: str. The output folder.
        manifest: dict. The compressed model's manifest.json.
        steps: list of dict. Per step: name, options, and what it measured
            (sparsity, PTQ metrics, trainable fraction, ...).
        train_history: dict or None. Base training's per-epoch metrics.
        dataset: kerasdl.data.Dataset. The data used.
        config: dict. The resolved config.
    """

    model: Any
    baseline: Any
    report: Any
    directory: str
    manifest: dict
    steps: list
    train_history: dict | None
    dataset: Any
    config: dict


# ------------------------------------------------------------- validation
def _fail(path: str, value, accepted: str):
    raise ValueError(
        f"Invalid compress config value {path}={value!r}: expected {accepted}."
    )


def _check_keys(data, accepted, path: str):
    if not isinstance(data, dict):
        _fail(path, data, "a mapping")
    for key in data:
        if key not in accepted:
            where = f"of '{path}'" if path else "at the top level"
            dotted = f"{path}.{key}" if path else str(key)
            raise ValueError(
                f"Unknown compress config key {dotted!r}.{closest(str(key), accepted)} "
                f"Accepted keys {where}: {', '.join(accepted)}."
            )


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(path, value, minimum):
    if not _is_int(value) or value < minimum:
        _fail(path, value, f"an integer >= {minimum}")


def _check_fraction(path, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        _fail(path, value, "a number in [0, 1)")


def _check_positive(path, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        _fail(path, value, "a positive number")


def _check_choice(path, value, choices):
    if value not in choices:
        hint = closest(value, choices) if isinstance(value, str) else ""
        raise ValueError(
            f"Invalid compress config value {path}={value!r}.{hint} Accepted: "
            f"{', '.join(repr(c) for c in choices)}."
        )


def _check_finetune(path: str, options: dict, seed) -> None:
    """Validates fine-tuning keys through TrainingConfig's own checks."""
    from kerasdl.training import TrainingConfig

    if "epochs" in options:
        _check_int(f"{path}.epochs", options["epochs"], 0)
    if "learning_rate" in options:
        _check_positive(f"{path}.learning_rate", options["learning_rate"])
    optimizer = options.get("optimizer")
    if (
        isinstance(optimizer, dict)
        and "learning_rate" in optimizer
        and "learning_rate" in options
    ):
        raise ValueError(
            f"{path}: give the learning rate once, as {path}.learning_rate or "
            f"{path}.optimizer.learning_rate; received both."
        )
    try:
        TrainingConfig.from_dict(_finetune_config(options, seed))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _finetune_config(options: dict, seed) -> dict:
    settings = {
        **_DEFAULT_FINETUNE,
        **{k: options[k] for k in _FINETUNE if k in options},
    }
    optimizer = settings.pop("optimizer", "adam")
    learning_rate = settings.pop("learning_rate")
    if isinstance(optimizer, str):
        optimizer = {"name": optimizer, "learning_rate": learning_rate}
    elif isinstance(optimizer, dict):
        optimizer = {"learning_rate": learning_rate, **optimizer}
    return {
        "seed": seed,
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "optimizer": optimizer,
        "verbose": 0,
    }


def _check_step(index: int, step, seed) -> tuple[str, dict]:
    path = f"steps[{index}]"
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError(
            f"Invalid compress config value {path}={step!r}: expected a mapping "
            f"with one step name ({', '.join(STEPS)}) to its options, e.g. "
            "{prune: {final_sparsity: 0.8, epochs: 2}}."
        )
    ((name, options),) = step.items()
    if name not in STEPS:
        raise ValueError(
            f"Unknown compression step {name!r} at {path}.{closest(str(name), STEPS)} "
            f"Accepted steps: {', '.join(STEPS)}."
        )
    path = f"{path}.{name}"
    options = {} if options is None else options
    _check_keys(options, STEPS[name], path)
    required = _REQUIRED.get(name)
    if required and required not in options:
        raise ValueError(f"{path}: missing required key {required!r}.")
    if name == "prune":
        _check_fraction(f"{path}.final_sparsity", options["final_sparsity"])
        if "initial_sparsity" in options:
            _check_fraction(f"{path}.initial_sparsity", options["initial_sparsity"])
        _check_choice(
            f"{path}.schedule", options.get("schedule", "polynomial"), _SCHEDULES
        )
        for key, minimum in (("begin_step", 0), ("frequency", 1)):
            if key in options:
                _check_int(f"{path}.{key}", options[key], minimum)
        if "end_step" in options:
            _check_int(f"{path}.end_step", options["end_step"], -1)
        if "power" in options:
            _check_positive(f"{path}.power", options["power"])
        _check_choice(
            f"{path}.scope", options.get("scope", "layer"), ("layer", "global")
        )
    elif name == "cluster":
        _check_int(f"{path}.number_of_clusters", options["number_of_clusters"], 2)
    elif name == "ptq":
        _check_choice(f"{path}.mode", options["mode"], _PTQ_MODES)
    elif name == "lora":
        _check_int(f"{path}.rank", options["rank"], 1)
        if "alpha" in options:
            _check_positive(f"{path}.alpha", options["alpha"])
    elif name == "distill":
        student = options["student"]
        if not isinstance(student, (str, dict)):
            _fail(f"{path}.student", student, "a model spec (a name or a mapping)")
        from kerasdl.compression.distillation import load_config

        try:
            load_config({k: v for k, v in options.items() if k != "student"})
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if name in ("prune", "cluster", "qat", "lora"):
        _check_finetune(path, options, seed)
    return name, dict(options)


def _check_model_entry(model) -> None:
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if isinstance(model, str):
        if model.lower().endswith(".keras") and not os.path.isfile(model):
            raise ValueError(
                f"Invalid compress config value model={model!r}: the .keras file "
                "does not exist."
            )
        return
    if not isinstance(model, dict):
        _fail(
            "model",
            model,
            "a .keras file path, an architecture name, or a spec mapping",
        )


def validate_config(config) -> dict:
    """Reads and validates a compress config; returns it with defaults filled.

    Pure Python: nothing is built, loaded or written.

    Args:
        config: dict, YAML string or YAML/JSON file path (see the module
            docstring).

    Returns:
        dict: the resolved config (a copy), with "name", "output_dir",
        "seed", "export" and "report" defaults filled in and "steps" as a
        list of {step: options}.

    Raises:
        ValueError: naming the dotted key (e.g. "steps[1].prune.final_sparsity"),
            the value received and what is accepted.

    Example:
    >>> validate_config({"data": "digits", "model": "m.keras",
    ...                  "steps": [{"ptq": {"mode": "int8"}}]})["export"]
    """
    source = config
    config = load_spec(config)
    if not isinstance(config, dict):
        raise ValueError(
            "A compress config must be a mapping with keys "
            f"{', '.join(_TOP_KEYS)}; received {type(config).__name__}."
        )
    config = copy.deepcopy(config)
    _check_keys(config, _TOP_KEYS, "")
    for key in ("data", "model", "steps"):
        if key not in config:
            raise ValueError(f"The compress config needs a {key!r} key.")
    seed = config.setdefault("seed", 0)
    if seed is not None:
        _check_int("seed", seed, 0)

    data = config["data"]
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        _fail("data", config["data"], "a dataset name or a mapping with 'name'")
    config["data"] = data

    model = config["model"]
    _check_model_entry(model)
    if isinstance(model, os.PathLike):
        config["model"] = os.fspath(model)
    if "train" in config and config["train"] is not None:
        from kerasdl.training import TrainingConfig

        train = dict(config["train"]) if isinstance(config["train"], dict) else None
        if train is None:
            _fail("train", config["train"], "a mapping (a training config)")
        train.setdefault("seed", seed)
        try:
            TrainingConfig.from_dict(train)
        except ValueError as error:
            raise ValueError(f"train: {error}") from None
        config["train"] = train
    elif not (isinstance(config["model"], str) and config["model"].endswith(".keras")):
        raise ValueError(
            "The compress config builds its model from a spec "
            f"(model={config['model']!r}) but has no 'train' section: the "
            "steps need a trained model. Add 'train' (e.g. {epochs: 10}) or "
            "give a trained .keras file as 'model'."
        )

    steps = config["steps"]
    if not isinstance(steps, list) or not steps:
        raise ValueError(
            f"Invalid compress config value steps={steps!r}: expected a non-empty "
            f"list of steps ({', '.join(STEPS)}). To train and export without "
            "compression, use `kerasdl train`."
        )
    resolved = []
    for index, step in enumerate(steps):
        name, options = _check_step(index, step, seed)
        resolved.append({name: options})
    names = [next(iter(s)) for s in resolved]
    for index, name in enumerate(names):
        if name in _FINAL_STEPS and index != len(names) - 1:
            raise ValueError(
                f"steps[{index}].{name} quantizes the model; it must be the last "
                f"step (found {names[index + 1]!r} after it). Steps: {names}."
            )
    config["steps"] = resolved

    export = config.get("export") or {}
    _check_keys(export, _EXPORT_KEYS, "export")
    export = dict(export)
    from kerasdl.exporters.formats import validate_formats

    try:
        export["formats"] = validate_formats(export.get("formats", _DEFAULT_FORMATS))
    except ValueError as error:
        raise ValueError(f"export.formats: {error}") from None
    export.setdefault("representative_samples", 300)
    _check_int("export.representative_samples", export["representative_samples"], 1)
    int8_io = export.setdefault("int8_io", False)
    if int8_io not in (False, True, "int8", "uint8"):
        _fail("export.int8_io", int8_io, "false, true, 'int8' or 'uint8'")
    if int8_io and "tflite_int8" not in export["formats"]:
        _fail("export.int8_io", int8_io, "false unless formats include 'tflite_int8'")
    for key, default in (("per_channel", True), ("strip_tensor_names", False)):
        if not isinstance(export.setdefault(key, default), bool):
            _fail(f"export.{key}", export[key], "true or false")
    if "min_agreement" in export:
        value = export["min_agreement"]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not (0.0 <= value <= 1.0)
        ):
            _fail("export.min_agreement", value, "a number in [0, 1]")
    if names[-1] == "ptq":
        tflite = [f for f in export["formats"] if f.startswith("tflite")]
        if tflite:
            raise ValueError(
                f"export.formats has {tflite}, but the last step, ptq, makes "
                "Keras-quantized layers that the TFLite converter cannot "
                "convert. Accepted after ptq: keras, saved_model, onnx (use qat, "
                "or no ptq with format 'tflite_int8', for an int8 TFLite file)."
            )
    config["export"] = export

    report = config.get("report") or {}
    _check_keys(report, _REPORT_KEYS, "report")
    report = dict(report)
    report.setdefault("latency_runs", 50)
    _check_int("report.latency_runs", report["latency_runs"], 1)
    report.setdefault("baseline", True)
    if not isinstance(report["baseline"], bool):
        _fail("report.baseline", report["baseline"], "true or false")
    if report.get("num_threads") is not None:
        _check_int("report.num_threads", report["num_threads"], 1)
    report.setdefault("metric", "auto")
    _check_choice("report.metric", report["metric"], ("auto", "accuracy", "mae", "mse"))
    config["report"] = report

    config.setdefault("output_dir", "savedmodels")
    if not isinstance(config["output_dir"], (str, os.PathLike)):
        _fail("output_dir", config["output_dir"], "a folder path")
    config["output_dir"] = os.fspath(config["output_dir"])
    name = config.get("name")
    if name is None:
        name = _default_name(config["model"], source)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        _fail("name", name, "a folder name (no '/', not starting with '.')")
    config["name"] = name
    return config


def _default_name(model, source) -> str:
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).lower().endswith(
        (".yaml", ".yml", ".json")
    ):
        return os.path.splitext(os.path.basename(os.fspath(source)))[0]
    if isinstance(model, str):
        base = os.path.basename(model)
        return os.path.splitext(base)[0] if base.endswith(".keras") else base
    if isinstance(model, dict) and isinstance(model.get("model"), str):
        return model["model"]
    raise ValueError(
        "The compress config needs a 'name' (the output folder name) when the "
        "model is an inline spec and the config is not read from a file."
    )


# ------------------------------------------------------------------ steps
def _model_spec(spec, dataset):
    """Fills a named spec's input_shape / num_classes from the data."""
    if isinstance(spec, str) and not spec.lower().endswith((".yaml", ".yml", ".json")):
        spec = {"model": spec}
    if isinstance(spec, dict) and "model" in spec:
        spec = dict(spec)
        spec.setdefault("input_shape", list(dataset.input_shape))
        spec.setdefault("num_classes", int(dataset.num_classes))
    return spec


def _clone(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _without_optimizer(model):
    """`model` itself when uncompiled, else an uncompiled copy of it."""
    if getattr(model, "optimizer", None) is None:
        return model
    return _clone(model)


def _fine_tune(model, dataset, options, seed, callbacks=()):
    from kerasdl.training import Trainer

    config = _finetune_config(options, seed)
    if config["epochs"] == 0:
        return None
    trainer = Trainer(config)
    history = trainer.fit(
        model, dataset.x_train, dataset.y_train, callbacks=list(callbacks)
    )
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _steps_per_epoch(dataset, options) -> int:
    batch = options.get("batch_size", _DEFAULT_FINETUNE["batch_size"])
    return max(1, math.ceil(len(dataset.x_train) / batch))


def _prune(model, dataset, options, seed):
    from kerasdl.compression import pruning

    epochs = options.get("epochs", _DEFAULT_FINETUNE["epochs"])
    total = max(1, epochs * _steps_per_epoch(dataset, options))
    frequency = options.get(
        "frequency", max(1, int(_PRUNE_RAMP * total) // _PRUNE_UPDATES)
    )
    begin = options.get("begin_step", 0)
    end = options.get("end_step", begin + frequency * _PRUNE_UPDATES)
    if options.get("schedule", "polynomial") == "constant":
        schedule = pruning.ConstantSparsity(
            options["final_sparsity"], begin, end_step=options.get("end_step", -1),
            frequency=frequency,
        )  # fmt: skip
    else:
        schedule = pruning.PolynomialDecay(
            options.get("initial_sparsity", 0.0),
            options["final_sparsity"],
            begin,
            end,
            power=options.get("power", 3),
            frequency=frequency,
        )
    extra = {k: options[k] for k in ("layers", "scope") if k in options}
    if "block_size" in options:
        extra["block_size"] = tuple(options["block_size"])
    if "sparsity_m_by_n" in options:
        extra["sparsity_m_by_n"] = tuple(options["sparsity_m_by_n"])
    pruned = pruning.prune_low_magnitude(model, pruning_schedule=schedule, **extra)
    history = _fine_tune(
        pruned, dataset, options, seed, callbacks=[pruning.UpdatePruningStep()]
    )
    stripped = pruning.strip_pruning(pruned)
    return stripped, {
        "sparsity": {k: float(v) for k, v in pruning.sparsity(stripped).items()},
        "history": history,
    }


def _cluster(model, dataset, options, seed):
    from kerasdl.compression import clustering

    extra = {
        k: options[k] for k in ("cluster_centroids_init", "layers") if k in options
    }
    clustered = clustering.cluster_weights(
        model, options["number_of_clusters"], **extra
    )
    history = _fine_tune(clustered, dataset, options, seed)
    return clustering.strip_clustering(clustered), {"history": history}


def _qat(model, dataset, options, seed):
    from kerasdl.compression import qat

    quantized = qat.quantize_model(model, layers=options.get("layers"))
    history = _fine_tune(quantized, dataset, options, seed)
    return quantized, {"history": history}


def _distill(model, dataset, options, seed):
    import keras

    import kerasdl
    from kerasdl.compression import distillation

    if seed is not None:
        keras.utils.set_random_seed(seed)
    student = kerasdl.build(_model_spec(options["student"], dataset))
    config = {k: v for k, v in options.items() if k != "student"}
    student, history = distillation.distill(
        model, student, dataset.x_train, dataset.y_train, config=config or None
    )
    record = getattr(history, "history", history)
    if isinstance(record, dict):
        record = {
            k: [float(v) for v in values] if isinstance(values, list) else values
            for k, values in record.items()
        }
    return student, {
        "teacher_parameters": int(model.count_params()),
        "student_parameters": int(student.count_params()),
        "history": record if isinstance(record, dict) else None,
    }


def _ptq(model, dataset, options, seed):
    from kerasdl.compression import ptq

    extra = {k: v for k, v in options.items() if k != "mode"}
    if options["mode"] == "gptq" and "calibration_data" not in extra:
        extra["calibration_data"] = dataset.x_train[:256]
    quantized, metrics = ptq.quantize(
        model,
        options["mode"],
        evaluation_data=(dataset.x_test, dataset.y_test),
        **extra,
    )
    return quantized, {"metrics": metrics}


def _lora(model, dataset, options, seed):
    from kerasdl.compression import lora

    adapted = lora.enable_lora(
        _clone(model),  # enable_lora works in place; the baseline stays intact
        options["rank"],
        alpha=options.get("alpha"),
        layers=options.get("layers"),
    )
    fraction = float(lora.trainable_fraction(adapted))
    history = _fine_tune(adapted, dataset, options, seed)
    return lora.merge_lora(adapted), {
        "trainable_fraction": fraction,
        "history": history,
    }


_RUNNERS = {
    "prune": _prune,
    "cluster": _cluster,
    "qat": _qat,
    "distill": _distill,
    "ptq": _ptq,
    "lora": _lora,
}


# ------------------------------------------------------------------- main
def _load_model(config, dataset):
    import keras

    import kerasdl
    from kerasdl.training import Trainer

    spec = config["model"]
    if isinstance(spec, str) and spec.lower().endswith(".keras"):
        model = keras.saving.load_model(spec)
        logger.info("loaded %s (%d parameters)", spec, model.count_params())
    else:
        seed = config["seed"]
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = kerasdl.build(_model_spec(spec, dataset))
    history = None
    if config.get("train"):
        trainer = Trainer(config["train"])
        fit = trainer.fit(model, dataset.x_train, dataset.y_train)
        model = trainer.model
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return model, history


def _publish(staging: str, directory: str) -> None:
    from kerasdl.exporters.exporter import _publish as publish

    publish(staging, directory)


def _make_parents(path: str) -> list[str]:
    from kerasdl.exporters.exporter import _make_parents as make_parents

    return make_parents(path)


def _annotate_manifest(folder, report, model_name, steps, baseline_name):
    """Adds per-format test metrics and the compression record to a manifest."""
    from kerasdl.exporters.manifest import read_manifest, write_manifest

    manifest = read_manifest(folder)
    metric = report.metric_name
    by_format = {
        row.format: row.metric
        for row in report.rows
        if row.model == model_name and row.error is None
    }
    metrics = dict(manifest.get("metrics") or {})
    if metric is not None:
        metrics[f"test_{metric}_by_format"] = by_format
    manifest["metrics"] = metrics
    if steps is not None:
        manifest["compression"] = {
            "steps": steps,
            "baseline": baseline_name,
            "report": "report.json",
        }
    write_manifest(folder, manifest)
    return manifest


def _plain(value):
    """JSON/YAML-safe copy (tuples to lists, numpy scalars to Python)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def compress(config) -> CompressResult:
    """Runs a compression config: data, model, training, steps, export, report.

    Args:
        config: dict, YAML string or YAML/JSON file path (see the module
            docstring for the keys).

    Returns:
        CompressResult: the compressed and baseline models, the report, the
        output folder and the per-step records.

    Raises:
        ValueError: for an invalid config (before anything runs; the message
            names the dotted key, the value and what is accepted), and as the
            steps and `kerasdl.exporters.export` raise them. On any error the
            output folder is left as it was.

    Example:
    >>> result = compress("configs/lenet5_prune_int8.yaml")
    >>> print(result.report.table())
    """
    import keras

    import kerasdl.data
    from kerasdl.compression.report import count_parameters, report
    from kerasdl.training.config import atomic_write_text

    config = validate_config(config)
    data_options = dict(config["data"])
    dataset = kerasdl.data.load(data_options.pop("name"), **data_options)
    model, train_history = _load_model(config, dataset)
    baseline = model
    records = []
    seed = config["seed"]
    done = []
    for step in config["steps"]:
        ((name, options),) = step.items()
        logger.info("compression step %s: %s", name, options)
        if name in ("qat", "lora") and {"prune", "cluster"} & set(done):
            logger.warning(
                "Step %s fine-tunes every weight it trains: the zeros of an "
                "earlier prune step and the shared values of a cluster step "
                "are not preserved (steps so far: %s).",
                name,
                done,
            )
        done.append(name)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model, record = _RUNNERS[name](model, dataset, options, seed)
        params, nonzero = count_parameters(model)
        records.append(
            _plain(
                {
                    "step": name,
                    "options": options,
                    "parameters": params,
                    "nonzero_parameters": nonzero,
                    **record,
                }
            )
        )

    export = config["export"]
    report_options = config["report"]
    output = os.path.abspath(os.path.join(config["output_dir"], config["name"]))
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"Output {output!r} exists and is not a folder.")
    parent = os.path.dirname(output)
    created = _make_parents(parent)
    staging = os.path.join(
        parent, f".{os.path.basename(output)}.compress-{uuid.uuid4().hex[:8]}"
    )
    # Uncompiled copies: a .keras file of a compiled model also carries the
    # optimizer's state (Adam: twice the weights), which an app never needs.
    baseline, model = _without_optimizer(baseline), _without_optimizer(model)
    models = {"baseline": baseline, "compressed": model}
    folders = {"baseline": os.path.join(staging, BASELINE_DIR), "compressed": staging}
    if not report_options["baseline"]:
        models.pop("baseline")
        folders.pop("baseline")
    export_options = {
        "labels": list(dataset.class_names),
        "preprocessing": dict(dataset.preprocessing),
        "int8_io": export["int8_io"],
        "per_channel": export["per_channel"],
        "strip_tensor_names": export["strip_tensor_names"],
    }
    if "min_agreement" in export:
        export_options["min_agreement"] = export["min_agreement"]
    needs_calibration = "tflite_int8" in export["formats"]
    try:
        rep = report(
            models,
            data=(dataset.x_test, dataset.y_test),
            formats=export["formats"],
            representative_data=(
                dataset.x_train[: export["representative_samples"]]
                if needs_calibration
                else None
            ),
            directory=folders,
            latency_runs=report_options["latency_runs"],
            metric=report_options["metric"],
            num_threads=report_options.get("num_threads"),
            export_options=export_options,
        )
        rep.directories = {n: os.path.relpath(f, staging) for n, f in folders.items()}
        manifest = _annotate_manifest(
            staging, rep, "compressed", records, "baseline" if len(models) > 1 else None
        )
        if "baseline" in folders:
            _annotate_manifest(folders["baseline"], rep, "baseline", None, None)
        rep.write(staging)
        resolved = _plain(config)
        atomic_write_text(
            os.path.join(staging, CONFIG_FILE),
            yaml.safe_dump(resolved, sort_keys=False),
        )
        _publish(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first; stops at a folder in use
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise
    logger.info("compressed model written to %s", output)
    return CompressResult(
        model=model,
        baseline=baseline,
        report=rep,
        directory=output,
        manifest=manifest,
        steps=records,
        train_history=train_history,
        dataset=dataset,
        config=config,
    )
