"""One run config for `kerasdl train` and `kerasdl compress`.

Both commands read the same schema (a dict, a YAML string or a YAML/JSON
file)::

    name: lenet5_pruned          # the run's name (default folder name)
    seed: 0                      # seeds model building and every step
    data: {name: digits, image_size: 32}        # kerasdl.data.load
    model: {model: lenet5, activation: relu}    # a spec, a name or a .keras file
    training:                    # a kerasdl.training.TrainingConfig
      epochs: 20
      optimizer: {name: adam, learning_rate: 0.001}
    compression:                 # ordered steps (kerasdl compress only)
      - prune: {final_sparsity: 0.8, epochs: 4}
      - qat: {epochs: 2}
    export:
      directory: savedmodels/lenet5_pruned
      formats: [keras, tflite, tflite_int8]
    report: {latency_runs: 50}   # the before/after table (kerasdl compress only)

`load_run_config(config, command)` validates the WHOLE config before
anything is loaded, built or trained: unknown keys (with the dotted path and
the closest accepted key), renamed keys of older configs, the model spec
(architecture name and hyperparameter names), the training config, every
compression step's options, the export format names and options. It returns
the resolved config, a plain dict with the defaults filled in, which
`kerasdl.train` and `kerasdl.compress` then run.

The two commands differ only in what they require and default:

- train: `compression` and `report` are refused (run `kerasdl compress`);
  `export` is optional and then needs `directory` (or a `name`, giving
  savedmodels/<name>); formats default to saved_model, tflite, onnx.
- compress: `compression` is required; `training` too unless `model` is a
  trained .keras file; `export` is always run, its `directory` defaults to
  savedmodels/<name> and its formats to keras, tflite, tflite_int8.

Imports: this module sits above `kerasdl.exporters` (it checks format names
with it) and below the commands that run a config (`kerasdl.workflow`,
`kerasdl.compression.pipeline`, `kerasdl.cli`).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from kerasdl._checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    closest,
    invalid,
    short_repr,
)
from kerasdl.compression.steps import WHERE, check_keys, check_steps
from kerasdl.spec import load_spec

__all__ = ["COMMANDS", "RENAMED", "SECTIONS", "load_run_config"]

#: Top-level keys of a run config.
SECTIONS = (
    "name",
    "seed",
    "data",
    "model",
    "training",
    "compression",
    "export",
    "report",
)
COMMANDS = ("train", "compress")
#: Keys of older configs -> their place in this schema.
RENAMED = {
    "train": "training",
    "steps": "compression",
    "output_dir": "export.directory",
}
_COMPRESS_ONLY = ("compression", "report")
#: export keys; `directory` is the output folder itself.
EXPORT_KEYS = (
    "directory",
    "formats",
    "labels",
    "int8_io",
    "per_channel",
    "strip_tensor_names",
    "representative_samples",
    "min_agreement",
)
REPORT_KEYS = ("latency_runs", "baseline", "num_threads", "metric")
_DEFAULTS = {
    "train": {"formats": ["saved_model", "tflite", "onnx"], "samples": 256},
    "compress": {"formats": ["keras", "tflite", "tflite_int8"], "samples": 300},
}
_DEFAULT_PARENT = "savedmodels"
# Filled from the data by train/compress, so not required in the spec.
_FROM_DATA = ("input_shape", "num_classes")


def _check_formats(formats) -> list[str]:
    # kerasdl.exporters owns the format names (one object per format).
    import kerasdl.exporters as exporters

    check = getattr(exporters, "check_formats", None)
    if check is None:  # until exporters has its check_formats
        from kerasdl.exporters.formats import validate_formats as check
    return check(formats)


def _check_renamed(config: dict) -> None:
    for old, new in RENAMED.items():
        if old in config:
            detail = ""
            if old == "output_dir":
                detail = (
                    " (the output folder itself, which was <output_dir>/<name>: "
                    f"export.directory: {os.path.join(str(config[old]), '<name>')})"
                )
            raise ValueError(
                f"Run config key {old!r} was renamed to {new!r}{detail}. "
                f"Accepted keys at the top level: {', '.join(SECTIONS)}."
            )


def _check_data(data) -> dict:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise invalid(
            "data",
            data,
            "a dataset name or a mapping with 'name' (and kerasdl.data.load options)",
            where=WHERE,
        )
    from kerasdl.data import list_datasets

    known = list_datasets()
    key = data["name"].strip().lower().replace("-", "_")
    if key not in known:
        raise invalid(
            "data.name",
            data["name"],
            "a dataset name",
            hint=closest(key, known) + f" Known: {', '.join(known)}.",
            where=WHERE,
        )
    return dict(data)


def _check_model(model):
    """Validates the model entry without building anything; returns it."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if isinstance(model, str):
        lowered = model.lower()
        if lowered.endswith(".keras"):
            if not os.path.isfile(model):
                raise invalid(
                    "model", model, "an existing .keras file", where=WHERE,
                    hint=" The .keras file does not exist.",
                )  # fmt: skip
        elif lowered.endswith((".yaml", ".yml", ".json")):
            if not os.path.isfile(model):
                raise invalid(
                    "model", model, "an existing spec file", where=WHERE,
                )  # fmt: skip
        else:
            _check_named(model, {})
        return model
    if not isinstance(model, dict):
        raise invalid(
            "model",
            model,
            "a .keras file path, an architecture name, or a spec mapping",
            where=WHERE,
        )
    if "model" in model:
        _check_named(model["model"], {k: v for k, v in model.items() if k != "model"})
    return model


def _check_named(name, hparams: dict) -> None:
    """An architecture name and its hyperparameter names, as the registry takes them."""
    from kerasdl.registry import check_hparam_values, model_info

    try:
        info = model_info(name)
    except ValueError as error:
        raise ValueError(f"model: {error}") from None
    accepted = info["hyperparameters"]
    for key in hparams:
        if key in info["presets"]:
            raise ValueError(
                f"model.{key}: hyperparameter {key!r} is fixed to "
                f"{info['presets'][key]!r} by architecture {info['name']!r}; "
                f"received {key}={short_repr(hparams[key])}."
            )
        if key not in accepted:
            label = key[:80] if isinstance(key, str) else short_repr(key)
            raise ValueError(
                f"Unknown run config key 'model.{label}': architecture "
                f"{info['name']!r} has no hyperparameter {short_repr(key)}."
                f"{closest(key, accepted)} Accepted: {', '.join(sorted(accepted))}."
            )
    missing = [
        k
        for k, v in accepted.items()
        if v["required"] and k not in hparams and k not in _FROM_DATA
    ]
    if missing:
        raise ValueError(
            f"model: architecture {info['name']!r} requires hyperparameters {missing}."
        )
    try:
        check_hparam_values(info["name"], hparams)
    except ValueError as error:
        raise ValueError(f"model: {error}") from None


def _check_training(training, seed) -> dict:
    from kerasdl.training import TrainingConfig

    if not isinstance(training, dict):
        raise invalid(
            "training", training, "a mapping (a training config)", where=WHERE
        )
    training = dict(training)
    if seed is not None:
        training.setdefault("seed", seed)
    try:
        TrainingConfig.from_dict(training)
    except ValueError as error:
        raise ValueError(f"training: {error}") from None
    return training


def _check_export(export, command: str, name, steps: list) -> dict:
    check_keys(export, EXPORT_KEYS, "export")
    export = dict(export)
    defaults = _DEFAULTS[command]
    try:
        export["formats"] = _check_formats(export.get("formats", defaults["formats"]))
    except ValueError as error:
        raise ValueError(f"export.formats: {error}") from None
    directory = export.get("directory")
    if directory is None:
        if name is None:
            raise ValueError(
                "export: missing key 'directory' (the output folder, e.g. "
                "savedmodels/x), and the config has no 'name' to default it to "
                "savedmodels/<name>."
            )
        directory = os.path.join(_DEFAULT_PARENT, name)
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise invalid("export.directory", directory, "a folder path", where=WHERE)
    export["directory"] = os.fspath(directory)
    if "labels" in export and not (
        isinstance(export["labels"], list)
        and all(isinstance(x, (str, int)) for x in export["labels"])
    ):
        raise invalid("export.labels", export["labels"], "a list of names", where=WHERE)
    export.setdefault("representative_samples", defaults["samples"])
    check_int(
        "export.representative_samples",
        export["representative_samples"],
        1,
        where=WHERE,
    )
    int8_io = export.setdefault("int8_io", False)
    check_choice("export.int8_io", int8_io, (False, True, "int8", "uint8"), where=WHERE)
    if int8_io and "tflite_int8" not in export["formats"]:
        raise invalid(
            "export.int8_io",
            int8_io,
            "false unless formats include 'tflite_int8'",
            where=WHERE,
        )
    for key, default in (("per_channel", True), ("strip_tensor_names", False)):
        check_bool(
            f"export.{key}", export.setdefault(key, default), where=WHERE, yaml=True
        )
    if "min_agreement" in export:
        check_float("export.min_agreement", export["min_agreement"], 0, 1, where=WHERE)
    if steps and next(iter(steps[-1])) == "ptq":
        tflite = [f for f in export["formats"] if f.startswith("tflite")]
        if tflite:
            raise ValueError(
                f"export.formats has {tflite}, but the last step, ptq, makes "
                "Keras-quantized layers that the TFLite converter cannot "
                "convert. Accepted after ptq: keras, saved_model, onnx (use qat, "
                "or no ptq with format 'tflite_int8', for an int8 TFLite file)."
            )
    return export


def _check_report(report) -> dict:
    report = {} if report is None else report
    check_keys(report, REPORT_KEYS, "report")
    report = dict(report)
    report.setdefault("latency_runs", 50)
    check_int("report.latency_runs", report["latency_runs"], 1, where=WHERE)
    report.setdefault("baseline", True)
    check_bool("report.baseline", report["baseline"], where=WHERE, yaml=True)
    if report.get("num_threads") is not None:
        check_int("report.num_threads", report["num_threads"], 1, where=WHERE)
    report.setdefault("metric", "auto")
    check_choice(
        "report.metric",
        report["metric"],
        ("auto", "accuracy", "mae", "mse"),
        where=WHERE,
    )
    return report


def _default_name(model, source) -> str | None:
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).lower().endswith(
        (".yaml", ".yml", ".json")
    ):
        return os.path.splitext(os.path.basename(os.fspath(source)))[0]
    if isinstance(model, str):
        base = os.path.basename(model)
        return os.path.splitext(base)[0] if base.endswith(".keras") else base
    if isinstance(model, dict) and isinstance(model.get("model"), str):
        return model["model"]
    return None


def load_run_config(config, command: str = "train") -> dict[str, Any]:
    """Reads and validates a whole run config; returns it with defaults filled.

    Pure Python: no data is loaded, no model built, nothing written.

    Args:
        config: dict, YAML string or YAML/JSON file path (see the module
            docstring).
        command: str. "train" or "compress": what the config is run by.

    Returns:
        dict: the resolved config (a copy). Always has "name" (None when
        it cannot be derived, for train), "seed", "data", "model" and
        "training" (a dict, possibly empty); "compression" and "report"
        for compress; "export" when present (always for compress), with
        "directory", "formats" and the export options filled in.

    Raises:
        ValueError: naming the dotted key (e.g.
            "compression[1].prune.final_sparsity"), the value received and
            what is accepted; for a renamed key, the old and the new name.

    Example:
    >>> config = load_run_config("configs/lenet5_prune_int8.yaml", "compress")
    >>> config["export"]["directory"]
    'savedmodels/lenet5_prune_int8'
    """
    check_choice("command", command, COMMANDS)
    source = config
    config = load_spec(config)
    if not isinstance(config, dict):
        raise ValueError(
            f"A run config must be a mapping with keys {', '.join(SECTIONS)}; "
            f"received {type(config).__name__}."
        )
    config = copy.deepcopy(config)
    _check_renamed(config)
    check_keys(config, SECTIONS, "")
    if command == "train":
        for key in _COMPRESS_ONLY:
            if config.get(key):
                raise ValueError(
                    f"The run config has a {key!r} section, which only "
                    "`kerasdl compress` (kerasdl.compress) runs; `kerasdl train` "
                    "trains and exports."
                )
            config.pop(key, None)
    required = ("data", "model", "compression") if command == "compress" else (
        "data", "model",
    )  # fmt: skip
    for key in required:
        if key not in config:
            raise ValueError(f"The run config needs a {key!r} section.")

    seed = config.get("seed", 0 if command == "compress" else None)
    check_int("seed", seed, 0, allow_none=True, where=WHERE, yaml=True)
    # NumPy's and the backends' generators take 32-bit unsigned seeds.
    check_int("seed", seed, 0, 2**32 - 1, allow_none=True, where=WHERE, yaml=True)
    config["seed"] = seed
    config["data"] = _check_data(config["data"])
    config["model"] = _check_model(config["model"])

    training = config.get("training")
    if training is not None:
        config["training"] = _check_training(training, seed)
    elif command == "train":
        config["training"] = _check_training({}, seed)
    elif not (isinstance(config["model"], str) and config["model"].endswith(".keras")):
        raise ValueError(
            "The run config builds its model from a spec "
            f"(model={short_repr(config['model'])}) but has no 'training' section: the "
            "compression steps need a trained model. Add 'training' (e.g. "
            "{epochs: 10}) or give a trained .keras file as 'model'."
        )

    steps = []
    if command == "compress":
        steps = check_steps(config["compression"], seed, "compression")
        config["compression"] = steps

    name = config.get("name")
    if name is None and command == "compress":
        # train writes no folder of its own without an export directory.
        name = _default_name(config["model"], source)
    if name is not None and (
        not isinstance(name, str) or not name or "/" in name or name.startswith(".")
    ):
        raise invalid(
            "name", name, "a folder name (no '/', not starting with '.')", where=WHERE
        )
    if name is None and command == "compress":
        raise ValueError(
            "The run config needs a 'name' (the output folder name) when the "
            "model is an inline spec and the config is not read from a file."
        )
    config["name"] = name

    export = config.get("export")
    if command == "compress" or export:
        config["export"] = _check_export(export or {}, command, name, steps)
    else:
        config.pop("export", None)
    if command == "compress":
        config["report"] = _check_report(config.get("report"))
    return config
