"""The before/after compression report: size, sparsity, accuracy and latency.

`report` exports every model to every requested format with
`kerasdl.exporters.export` (so each file is verified against its Keras model),
then measures, per model and format, one row:

- parameters and non-zero parameters (of the Keras model's weights),
- file size on disk and gzipped (what an app download ships),
- accuracy on the given data (classification) or another metric, computed
  from the file's own outputs (LiteRT for .tflite, ONNX Runtime for .onnx,
  TensorFlow for the SavedModel, Keras for .keras), through the format's
  runner (`kerasdl.exporters.FORMATS[fmt].open(path)`),
- batch-1 latency, median (p50) and 95th percentile (p95), with the same
  runner.

Example:
>>> rep = kerasdl.compression.report(
...     {"float": model, "pruned": pruned},
...     data=(x_test, y_test),
...     formats=("keras", "tflite", "tflite_int8"),
...     representative_data=x_train[:300])
>>> print(rep.table())
>>> rep.row("pruned", "tflite_int8").gzip_bytes
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable

import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_int, check_named
from kerasdl._io import write_text_atomic

__all__ = ["CompressionReport", "ReportRow", "report"]

logger = logging.getLogger(__name__)

# Samples fed per call when computing the metric from a file.
EVAL_BATCH = 256
# Verification inputs handed to export (real data checks more than noise).
VERIFICATION_SAMPLES = 64
# Model names become folder names.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_METRICS = ("auto", "accuracy", "mae", "mse")
_ON_ERROR = ("raise", "record")
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


@dataclasses.dataclass
class ReportRow:
    """One model in one format.

    Attributes:
        model: str. The model's name in the report.
        format: str. A `kerasdl.exporters.FORMATS` key.
        parameters: int. Weights of the Keras model (`count_params`).
        nonzero_parameters: int. Of those, the ones that are not exactly 0.
        bytes: int or None. File (or folder) size on disk.
        gzip_bytes: int or None. Size after gzip (level 6).
        metric: float or None. The report's metric computed from this file's
            outputs (None without labels or metric).
        latency_p50_ms: float or None. Median batch-1 latency in ms.
        latency_p95_ms: float or None. 95th percentile batch-1 latency in ms.
        file: str or None. The file's name inside the model's folder.
        error: str or None. Why the format failed (with on_error="record").
    """

    model: str
    format: str
    parameters: int
    nonzero_parameters: int
    bytes: int | None = None
    gzip_bytes: int | None = None
    metric: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    file: str | None = None
    error: str | None = None

    @property
    def sparsity(self) -> float:
        """Fraction of the parameters that are exactly zero."""
        if not self.parameters:
            return 0.0
        return 1.0 - self.nonzero_parameters / self.parameters


@dataclasses.dataclass
class CompressionReport:
    """What `report` returns: rows plus how they were measured.

    Attributes:
        rows: list of ReportRow. Models in the given order, formats in the
            given order within each model.
        metric_name: str or None. Name of the metric in `ReportRow.metric`.
        baseline: str or None. The model the ratio and delta columns compare
            with (the first one by default).
        samples: int. Number of evaluation samples.
        latency_runs: int. Timed batch-1 runs per row.
        backend: str. Keras backend of the measuring process.
        directories: dict. Model name -> folder of its files (None when the
            files were written to a temporary folder and removed).
        created: str. ISO time of the measurement.
    """

    rows: list
    metric_name: str | None
    baseline: str | None
    samples: int
    latency_runs: int
    backend: str
    directories: dict = dataclasses.field(default_factory=dict)
    created: str = ""

    # ------------------------------------------------------------ access
    def row(self, model: str, fmt: str) -> ReportRow:
        """Returns the row of `model` in format `fmt`.

        Raises:
            KeyError: naming the known models and formats.
        """
        for row in self.rows:
            if row.model == model and row.format == fmt:
                return row
        known = sorted({(r.model, r.format) for r in self.rows})
        raise KeyError(f"No row for model={model!r}, format={fmt!r}; rows: {known}.")

    def ratio(self, row: ReportRow, field: str = "gzip_bytes") -> float | None:
        """`row.<field>` over the baseline model's value in the same format."""
        if self.baseline is None or row.model == self.baseline:
            return None if self.baseline is None else 1.0
        try:
            base = self.row(self.baseline, row.format)
        except KeyError:
            return None
        a, b = getattr(row, field), getattr(base, field)
        if a is None or not b:
            return None
        return a / b

    def delta(self, row: ReportRow) -> float | None:
        """`row.metric` minus the baseline model's, same format (in metric units)."""
        if self.baseline is None:
            return None
        try:
            base = self.row(self.baseline, row.format)
        except KeyError:
            return None
        if row.metric is None or base.metric is None:
            return None
        return row.metric - base.metric

    # ------------------------------------------------------------ output
    def _cells(self) -> tuple[list[str], list[list[str]]]:
        metric = self.metric_name or "metric"
        percent = self.metric_name == "accuracy"
        header = [
            "model",
            "format",
            "params",
            "nonzero",
            "size KiB",
            "gzip KiB",
            "gzip x base",
            metric + (" %" if percent else ""),
            "delta" + (" pts" if percent else ""),
            "p50 ms",
            "p95 ms",
        ]
        body = []
        for row in self.rows:
            if row.error is not None:
                body.append(
                    [row.model, row.format, f"{row.parameters:,}",
                     f"{row.nonzero_parameters:,}", "failed"]
                    + ["-"] * 6
                )  # fmt: skip
                continue
            ratio, delta = self.ratio(row), self.delta(row)
            scale = 100.0 if percent else 1.0
            body.append(
                [
                    row.model,
                    row.format,
                    f"{row.parameters:,}",
                    f"{row.nonzero_parameters:,}",
                    _num(row.bytes, 1 / 1024, 1),
                    _num(row.gzip_bytes, 1 / 1024, 1),
                    _num(ratio, 1.0, 3),
                    _num(row.metric, scale, 2 if percent else 4),
                    _num(delta, scale, 2 if percent else 4, signed=True),
                    _num(row.latency_p50_ms, 1.0, 3),
                    _num(row.latency_p95_ms, 1.0, 3),
                ]
            )
        return header, body

    def table(self) -> str:
        """The rows as an aligned text table (for terminals and logs).

        Sizes are in KiB; "gzip x base" is the gzipped size over the
        baseline model's in the same format; "delta" is the metric minus the
        baseline's (in points for accuracy).
        """
        header, body = self._cells()
        widths = [
            max(len(line[i]) for line in [header, *body] if i < len(line))
            for i in range(len(header))
        ]
        numeric = set(range(2, len(header)))

        def fmt(line):
            cells = []
            for i, cell in enumerate(line):
                if i in numeric:
                    cells.append(cell.rjust(widths[i]))
                else:
                    cells.append(cell.ljust(widths[i]))
            return "  ".join(cells).rstrip()

        lines = [fmt(header), "  ".join("-" * w for w in widths)]
        lines += [fmt(line) for line in body]
        return "\n".join(lines + self._notes())

    def _notes(self) -> list[str]:
        """One line per failed row: which model and format, and why."""
        failed = [r for r in self.rows if r.error is not None]
        if not failed:
            return []
        return ["", "failed:"] + [f"  {r.model}/{r.format}: {r.error}" for r in failed]

    def markdown(self) -> str:
        """The rows as a Markdown document (title, setup line, table)."""
        header, body = self._cells()
        lines = [
            "# Compression report",
            "",
            f"{self.samples} evaluation samples; batch-1 latency over "
            f"{self.latency_runs} runs; Keras backend {self.backend}; "
            f"baseline: {self.baseline}; {self.created}.",
            "",
            "| " + " | ".join(header) + " |",
            "|"
            + "|".join("---" if i < 2 else "---:" for i in range(len(header)))
            + "|",
        ]
        for line in body:
            line = line + [""] * (len(header) - len(line))
            lines.append("| " + " | ".join(c.replace("|", "/") for c in line) + " |")
        notes = [f"- {r.model}/{r.format}: {r.error}" for r in self.rows if r.error]
        if notes:
            lines += ["", "Failed formats:", "", *notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        """A JSON-ready dict: the settings and one dict per row."""
        rows = []
        for row in self.rows:
            entry = dataclasses.asdict(row)
            entry["sparsity"] = row.sparsity
            entry["gzip_ratio_to_baseline"] = self.ratio(row)
            entry["metric_delta_to_baseline"] = self.delta(row)
            rows.append(entry)
        return {
            "metric_name": self.metric_name,
            "baseline": self.baseline,
            "samples": self.samples,
            "latency_runs": self.latency_runs,
            "backend": self.backend,
            "directories": dict(self.directories),
            "created": self.created,
            "rows": rows,
        }

    def to_json(self) -> str:
        """`to_dict()` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> CompressionReport:
        """Rebuilds a report from `to_dict()` output (e.g. a report.json)."""
        fields = {f.name for f in dataclasses.fields(ReportRow)}
        rows = [
            ReportRow(**{k: v for k, v in r.items() if k in fields})
            for r in data["rows"]
        ]
        return cls(
            rows=rows,
            metric_name=data["metric_name"],
            baseline=data["baseline"],
            samples=data["samples"],
            latency_runs=data["latency_runs"],
            backend=data["backend"],
            directories=dict(data.get("directories") or {}),
            created=data.get("created", ""),
        )

    def write(self, directory) -> tuple[str, str]:
        """Writes report.json and report.md into `directory` (atomically each).

        Returns:
            (json_path, markdown_path).
        """
        directory = os.fspath(directory)
        paths = (
            os.path.join(directory, REPORT_JSON),
            os.path.join(directory, REPORT_MD),
        )
        write_text_atomic(paths[0], self.to_json())
        write_text_atomic(paths[1], self.markdown())
        return paths


def _num(value, scale: float, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * scale:{'+' if signed else ''}.{digits}f}"


# ---------------------------------------------------------------- measuring
def count_parameters(model) -> tuple[int, int]:
    """(parameters, non-zero parameters) over all of `model.weights`.

    Args:
        model: keras.Model.

    Returns:
        (int, int). The first equals `model.count_params()`.

    Example:
    >>> count_parameters(strip_pruning(pruned))
    (61706, 12410)
    """
    import keras

    total = nonzero = 0
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight.value)
        total += int(value.size)
        nonzero += int(np.count_nonzero(value))
    return total, nonzero


def _labels_to_classes(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] >= 2:
        return np.argmax(y, axis=-1)  # one-hot
    return y.reshape(len(y), *y.shape[1:-1]) if y.ndim >= 2 else y


def _resolve_metric(metric, model, y) -> tuple[str | None, Callable | None]:
    """(name, fn(y_true, outputs) -> float) for the requested metric."""
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)

        def custom(y_true, outputs):
            return float(metric(y_true, outputs[0] if len(outputs) == 1 else outputs))

        return name, custom
    if metric is None:
        return None, None
    if not isinstance(metric, str) or metric not in _METRICS:
        raise ValueError(
            f"metric must be one of {', '.join(repr(m) for m in _METRICS)}, None "
            f"or a callable (y_true, y_pred) -> float; received {metric!r}."
        )
    if y is None:
        if metric == "auto":
            return None, None
        raise ValueError(f"metric={metric!r} needs labels: give data=(x, y).")
    classes = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if metric == "auto":
        if len(model.outputs) != 1 or classes is None or classes < 2:
            return None, None
        metric = "accuracy"
    if len(model.outputs) != 1:
        raise ValueError(
            f"metric={metric!r} applies to single-output models; model "
            f"{model.name!r} has {len(model.outputs)} outputs. Pass a callable "
            "metric(y_true, outputs)."
        )
    if metric == "accuracy":
        if classes is None or classes < 2:
            raise ValueError(
                f"metric='accuracy' needs a class axis (last dimension >= 2); "
                f"model {model.name!r} outputs {tuple(model.outputs[0].shape)}."
            )
        labels = _labels_to_classes(y)

        def accuracy(y_true, outputs):
            return float(np.mean(np.argmax(outputs[0], axis=-1) == labels))

        return "accuracy", accuracy

    def error(y_true, outputs):
        diff = np.asarray(outputs[0], np.float64) - np.asarray(
            y_true, np.float64
        ).reshape(outputs[0].shape)
        return float(np.mean(np.abs(diff)) if metric == "mae" else np.mean(diff**2))

    return metric, error


def _evaluate(runner, x, metric_fn, y):
    """The metric computed from one file's outputs, in batches."""
    if metric_fn is None:
        return None
    chunks = []
    for start in range(0, len(x[0]), EVAL_BATCH):
        chunks.append(runner.run([a[start : start + EVAL_BATCH] for a in x]))
    outputs = [np.concatenate(parts, axis=0) for parts in zip(*chunks, strict=True)]
    return metric_fn(y, outputs)


def _check_models(models) -> dict:
    import keras

    if isinstance(models, keras.Model):
        models = {models.name: models}
    if not isinstance(models, dict) or not models:
        raise ValueError(
            "models must be a non-empty dict {name: keras.Model} (or one "
            f"keras.Model); received {type(models).__name__}."
        )
    for name, model in models.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"Model name {name!r} in models is not usable as a folder name; "
                "use letters, digits, '_', '-' and '.', starting with a letter "
                "or digit."
            )
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"models[{name!r}] must be a keras.Model; received "
                f"{type(model).__name__}."
            )
    return dict(models)


def _split_data(data):
    if isinstance(data, tuple) and len(data) == 2:
        return data
    if isinstance(data, tuple) and len(data) == 1:
        return data[0], None
    raise ValueError(
        "data must be a tuple (x, y) (y may be None); received "
        f"{type(data).__name__}"
        + (f" of length {len(data)}" if isinstance(data, tuple) else "")
        + "."
    )


def _folders(directory, names, scratch) -> dict:
    if directory is None:
        return {name: os.path.join(scratch, name) for name in names}
    if isinstance(directory, dict):
        folders = check_named("directory (a dict)", directory, names, "folder")
        return {n: os.path.abspath(os.fspath(f)) for n, f in zip(names, folders)}
    root = os.path.abspath(os.fspath(directory))
    return {name: os.path.join(root, name) for name in names}


def report(
    models,
    data,
    formats=("keras", "tflite", "tflite_int8"),
    representative_data=None,
    directory=None,
    latency_runs: int = 50,
    *,
    metric="auto",
    baseline=None,
    num_threads: int | None = None,
    on_error: str = "raise",
    export_options: dict | None = None,
) -> CompressionReport:
    """Exports, verifies and measures models side by side, one row per format.

    Args:
        models: dict {str: keras.Model} (or one keras.Model). The models to
            compare, e.g. {"float": model, "pruned_int8": pruned}; the names
            become folder names and the report's row labels.
        data: tuple (x, y). Evaluation inputs (array, or list/dict of arrays
            for several inputs) and labels (class indices or one-hot for
            accuracy; targets for "mae"/"mse"; None for no metric).
        formats: str or sequence of str. `kerasdl.exporters.FORMATS` keys.
        representative_data: as in `kerasdl.exporters.export`: calibration data,
            needed by "tflite_int8" (e.g. 300 training inputs).
        directory: str, os.PathLike, dict or None. Where files go: a folder
            receiving one sub-folder per model (with its manifest.json), a
            dict {model name: folder}, or None for a temporary folder that is
            removed afterwards (rows then keep sizes but no folder).
        latency_runs: int. Timed batch-1 runs per row (after warm-up runs).
        metric: "auto" (accuracy for single-output classifiers when labels
            are given, else none), "accuracy", "mae", "mse", a callable
            `(y_true, y_pred) -> float` (y_pred: the output array, or the
            list of outputs for several), or None.
        baseline: str or None. The model that "gzip x base" and "delta"
            compare with; default: the first model.
        num_threads: int or None. CPU threads for LiteRT and ONNX Runtime
            (None: the runtime's default).
        on_error: "raise" (default) or "record": with "record", a format that
            fails to export or verify becomes a row with its `error` text and
            the other rows are still measured (e.g. Keras-quantized models,
            which TFLite cannot convert).
        export_options: dict or None. More keyword arguments of
            `kerasdl.exporters.export` (labels, preprocessing, metrics, int8_io,
            min_agreement).

    Returns:
        CompressionReport: `.rows`, `.table()`, `.markdown()`, `.to_dict()`,
        `.to_json()`, `.write(directory)`.

    Raises:
        ValueError: for malformed arguments (before any export), and as
            `kerasdl.exporters.export` raises them (e.g. "tflite_int8" without
            representative_data) unless on_error="record".

    Example:
    >>> rep = report({"base": model, "int8_qat": qat}, (x_test, y_test),
    ...              formats=["tflite", "tflite_int8"],
    ...              representative_data=x_train[:300])
    >>> print(rep.table())
    """
    from kerasdl.exporters import export
    from kerasdl.exporters.exporter import _as_arrays, _input_names
    from kerasdl.exporters.formats import FORMATS, check_formats

    models = _check_models(models)
    formats = check_formats(formats)
    latency_runs = check_int("latency_runs", latency_runs, minimum=1)
    num_threads = check_int("num_threads", num_threads, minimum=1, allow_none=True)
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}; received {on_error!r}.")
    if baseline is None:
        baseline = next(iter(models))
    elif baseline not in models:
        raise ValueError(
            f"baseline {baseline!r} is not a model name; names: {list(models)}."
        )
    options = dict(export_options or {})
    reserved = {"formats", "representative_data", "sample_inputs", "directory"}
    if reserved & set(options):
        raise ValueError(
            f"export_options may not set {sorted(reserved & set(options))}: "
            "report passes them itself."
        )
    x, y = _split_data(data)
    first = next(iter(models.values()))
    arrays = _as_arrays(x, first, "data")
    count = len(arrays[0])
    if y is not None and len(y) != count:
        raise ValueError(
            f"data has {count} inputs but {len(y)} labels; give one label per input."
        )
    metric_name, _ = _resolve_metric(metric, first, y)

    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasdl-report-") as scratch:
        folders = _folders(directory, list(models), scratch)
        for name, model in models.items():
            x_model = _as_arrays(x, model, "data")
            name_m, metric_fn = _resolve_metric(metric, model, y)
            if name_m != metric_name:
                raise ValueError(
                    f"Models disagree on the metric: {metric_name!r} for the "
                    f"first, {name_m!r} for {name!r}; pass metric explicitly."
                )
            parameters, nonzero = count_parameters(model)
            sample = [a[:1] for a in x_model]
            manifest = None
            try:
                manifest = export(
                    model,
                    folders[name],
                    formats=formats,
                    representative_data=representative_data,
                    sample_inputs=[a[:VERIFICATION_SAMPLES] for a in x_model],
                    **options,
                )
            except (ValueError, RuntimeError) as error:
                if on_error == "raise":
                    raise
                logger.warning("export of %s failed: %s", name, error)
            if manifest is None:
                # Formats one by one, to tell the failing ones from the others.
                manifest = {"files": {}}
                errors = {}
                for fmt in formats:
                    try:
                        sub = export(
                            model,
                            os.path.join(folders[name], fmt),
                            formats=[fmt],
                            representative_data=representative_data,
                            sample_inputs=[a[:VERIFICATION_SAMPLES] for a in x_model],
                            **options,
                        )
                        entry = dict(sub["files"][fmt])
                        entry["path"] = os.path.join(fmt, entry["path"])
                        manifest["files"][fmt] = entry
                    except (ValueError, RuntimeError) as error:
                        errors[fmt] = str(error).splitlines()[0]
            else:
                errors = {}
            for fmt in formats:
                if fmt in errors:
                    rows.append(
                        ReportRow(name, fmt, parameters, nonzero, error=errors[fmt])
                    )
                    continue
                entry = manifest["files"][fmt]
                path = os.path.join(folders[name], entry["path"])
                names = [t["name"] for t in manifest.get("inputs", [])]
                if len(names) != len(x_model):
                    names = _input_names(model)
                # Opened once: the metric and the latency use the same runtime.
                with FORMATS[fmt].open(path, names, num_threads=num_threads) as runner:
                    value = _evaluate(runner, x_model, metric_fn, y)
                    p50, p95 = runner.latency(sample, latency_runs)
                rows.append(
                    ReportRow(
                        model=name,
                        format=fmt,
                        parameters=parameters,
                        nonzero_parameters=nonzero,
                        bytes=int(entry["bytes"]),
                        gzip_bytes=int(entry["gzip_bytes"]),
                        metric=value,
                        latency_p50_ms=p50,
                        latency_p95_ms=p95,
                        file=entry["path"],
                    )
                )
                logger.info("report %s/%s: %s", name, fmt, rows[-1])
    return CompressionReport(
        rows=rows,
        metric_name=metric_name,
        baseline=baseline,
        samples=count,
        latency_runs=latency_runs,
        backend=_backend.name(),
        directories={n: None if directory is None else f for n, f in folders.items()},
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    )
