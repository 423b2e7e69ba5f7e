"""One config, the whole compression path: model -> steps -> export -> report.

`compress(config)` (and `kerasdl compress CONFIG.yaml`) reads one run config
(the schema `kerasdl train` reads too, checked whole by
`kerasdl.runconfig.load_run_config` before any data is loaded)::

    name: lenet5_pruned_int8      # default output folder savedmodels/<name>
    seed: 0
    data: {name: digits, image_size: 32}       # kerasdl.data.load
    model: {model: lenet5, activation: relu}   # a spec, a name or a .keras file
    training: {epochs: 20, batch_size: 32}     # optional base training
    compression:                               # steps, applied in order
      - prune: {final_sparsity: 0.8, epochs: 4}
      - qat: {epochs: 2}
    export:
      directory: savedmodels/lenet5_pruned_int8  # default savedmodels/<name>
      formats: [keras, tflite, tflite_int8]
    report: {latency_runs: 50}

and writes `export.directory`: the compressed model's files (weights,
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

import dataclasses
import logging
import math
import os
from typing import Any

import yaml

from kerasdl._io import staged_folder, to_plain, write_text_atomic
from kerasdl.compression.steps import DEFAULT_FINETUNE, STEPS, finetune_config

__all__ = ["STEPS", "CompressResult", "compress"]

logger = logging.getLogger(__name__)

_DEFAULT_FINETUNE = DEFAULT_FINETUNE
_finetune_config = finetune_config
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


# ------------------------------------------------------------------ steps
def _model_spec(spec, dataset):
    from kerasdl.spec import fill_from_data

    return fill_from_data(spec, dataset.input_shape, dataset.num_classes)


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

    from kerasdl.compression import distillation
    from kerasdl.spec import build

    if seed is not None:
        keras.utils.set_random_seed(seed)
    student = build(_model_spec(options["student"], dataset))
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
def _load_model(config, dataset, trainer):
    import keras

    from kerasdl.spec import build

    spec = config["model"]
    if isinstance(spec, str) and spec.lower().endswith(".keras"):
        model = keras.saving.load_model(spec)
        logger.info("loaded %s (%d parameters)", spec, model.count_params())
    else:
        seed = config["seed"]
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = build(_model_spec(spec, dataset))
    history = None
    if trainer is not None:
        fit = trainer.fit(model, dataset.x_train, dataset.y_train)
        model = trainer.model
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return model, history


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
    from kerasdl.runconfig import load_run_config
    from kerasdl.training import Trainer

    config = load_run_config(config, "compress")
    # The Trainer places its distribution strategy when it is made: a
    # strategy this machine cannot run is refused before any data loads.
    trainer = Trainer(config["training"]) if config.get("training") else None
    data_options = dict(config["data"])
    dataset = kerasdl.data.load(data_options.pop("name"), **data_options)
    model, train_history = _load_model(config, dataset, trainer)
    baseline = model
    records = []
    seed = config["seed"]
    done = []
    for step in config["compression"]:
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
            to_plain(
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
    output = os.path.abspath(export["directory"])
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"Output {output!r} exists and is not a folder.")
    # Uncompiled copies: a .keras file of a compiled model also carries the
    # optimizer's state (Adam: twice the weights), which an app never needs.
    baseline, model = _without_optimizer(baseline), _without_optimizer(model)
    models = {"baseline": baseline, "compressed": model}
    with staged_folder(output, tag="compress", create=False) as staging:
        folders = {
            "baseline": os.path.join(staging, BASELINE_DIR),
            "compressed": staging,
        }
        if not report_options["baseline"]:
            models.pop("baseline")
            folders.pop("baseline")
        export_options = {
            "labels": list(export.get("labels") or dataset.class_names),
            "preprocessing": dict(dataset.preprocessing),
            "int8_io": export["int8_io"],
            "per_channel": export["per_channel"],
            "strip_tensor_names": export["strip_tensor_names"],
        }
        if "min_agreement" in export:
            export_options["min_agreement"] = export["min_agreement"]
        needs_calibration = "tflite_int8" in export["formats"]
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
        resolved = to_plain(config)
        write_text_atomic(
            os.path.join(staging, CONFIG_FILE),
            yaml.safe_dump(resolved, sort_keys=False),
        )
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
