"""`kerasdl.evaluate`: metrics, calibration, errors with Grad-CAM, file costs.

One call evaluates a classifier on labelled data and, with `report_dir`,
writes `report.json` (every figure) and `report.html` (one self-contained
page: tables and plots embedded as data URIs, no script, nothing fetched),
which `kerasdl serve` shows at `GET /v1/models/{name}/report` when it lies
in `<version folder>/report/`.

What is evaluated:
- a `keras.Model`, or a `.keras` file;
- an export folder (its `manifest.json`): every file in it, each run by its
  own runtime (LiteRT, ONNX Runtime, TensorFlow, Keras) through
  `kerasdl.exporters.FORMATS`, with its size and latency; the metrics come
  from the Keras file when there is one (else the first file), and
  Grad-CAM from the Keras file;
- one exported file (`.tflite`, `.onnx`, a SavedModel folder): its format is
  read from the manifest beside it, else from its suffix.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import time

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_int
from kerasdl._io import to_plain, write_json_atomic, write_text_atomic
from kerasdl.evaluation import metrics, plots
from kerasdl.explain.gradients import find_conv_layer, grad_cam
from kerasdl.exporters.base import time_calls
from kerasdl.exporters.formats import FORMATS, get_format
from kerasdl.exporters.manifest import MANIFEST, file_sizes, read_manifest
from kerasdl.viz.explain import heatmap_figure

__all__ = ["evaluate", "load_data"]

logger = logging.getLogger(__name__)

BATCH = 64
SUFFIX_FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras"}


# -------------------------------------------------------------------- data
def load_data(data) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from a pair of arrays, a dict {"x", "y"} or an `.npz` file.

    Args:
        data: (x, y), {"x": x, "y": y}, or the path of an `.npz` file holding
            arrays `x` and `y`. `x` is what the model takes (preprocessed),
            `y` class indices (or one-hot rows).

    Raises:
        ValueError: naming what was received and what is accepted.
    """
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise ValueError(
                f"Invalid data={path!r}: no such file (expected an .npz with x and y)."
            )
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise ValueError(
                    f"Invalid data file {path!r}: it has arrays {archive.files}; "
                    "expected x (model inputs) and y (class indices)."
                )
            return archive["x"], archive["y"]
    if isinstance(data, dict) and set(data) >= {"x", "y"}:
        return np.asarray(data["x"]), np.asarray(data["y"])
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise ValueError(
        f"Invalid data of type {type(data).__name__}: expected (x, y), a dict "
        "with keys 'x' and 'y', or the path of an .npz file with arrays x and y."
    )


# ----------------------------------------------------------------- sources
class _Source:
    """Something that predicts: a Keras model or an exported file's runner."""

    def __init__(self, name, predict, latency, size, fmt, path=None):
        self.name, self.predict, self.latency = name, predict, latency
        self.size, self.format, self.path = size, fmt, path


def _keras_source(model, path=None) -> _Source:
    def predict(x):
        return np.concatenate(
            [
                _backend.inference_output(model, x[i : i + BATCH])
                for i in range(0, len(x), BATCH)
            ]
        )

    if path is not None:
        raw, zipped = file_sizes(path)
    else:
        raw = int(sum(np.asarray(w).nbytes for w in model.weights))
        zipped = None
    size = {"bytes": raw, "gzip_bytes": zipped, "parameters": int(model.count_params())}
    return _Source(
        os.path.basename(path) if path else model.name,
        predict,
        lambda x, runs: time_calls(lambda: _backend.inference_output(model, x), runs),
        size,
        "keras",
        path,
    )


def _runner_source(fmt: str, path: str, input_names) -> _Source:
    runner = get_format(fmt).open(path, input_names)

    def predict(x):
        return np.concatenate(
            [runner.run([x[i : i + BATCH]])[0] for i in range(0, len(x), BATCH)]
        )

    raw, zipped = file_sizes(path)
    return _Source(
        fmt,
        predict,
        lambda x, runs: runner.latency([x], runs),
        {"bytes": raw, "gzip_bytes": zipped},
        fmt,
        path,
    )


def _open(source):
    """(sources, Keras model or None, name, labels from the manifest or None)."""
    if isinstance(source, keras.Model):
        return [_keras_source(source)], source, source.name, None
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"Invalid model_or_exported_file of type {type(source).__name__}: "
            "expected a keras.Model, a .keras file, an exported file or an export "
            "folder with a manifest.json."
        )
    path = os.fspath(source)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST)):
        manifest = read_manifest(path)
        names = [t["name"] for t in manifest.get("inputs", [])]
        sources, model = [], None
        # The Keras file first: it gives the metrics and Grad-CAM.
        entries = sorted(
            manifest.get("files", {}).items(), key=lambda kv: kv[0] != "keras"
        )
        for fmt, entry in entries:
            file_path = os.path.join(path, entry["path"])
            if fmt not in FORMATS:
                logger.warning(
                    "evaluate: skipping %s (unknown format %r)", file_path, fmt
                )
                continue
            if fmt == "keras":
                model = keras.saving.load_model(file_path, compile=False)
                sources.append(_keras_source(model, file_path))
            else:
                sources.append(_runner_source(fmt, file_path, names))
        if not sources:
            raise ValueError(f"The manifest of {path!r} lists no file that can be run.")
        return (
            sources,
            model,
            manifest.get("name", os.path.basename(path)),
            manifest.get("labels"),
        )
    if not os.path.exists(path):
        raise ValueError(
            f"Invalid model_or_exported_file={path!r}: no such file or folder."
        )
    folder, base = os.path.split(os.path.abspath(path))
    manifest = (
        read_manifest(folder) if os.path.isfile(os.path.join(folder, MANIFEST)) else {}
    )
    fmt = next(
        (k for k, e in manifest.get("files", {}).items() if e.get("path") == base), None
    ) or SUFFIX_FORMATS.get(os.path.splitext(base)[1])
    if fmt is None and os.path.isfile(os.path.join(path, "saved_model.pb")):
        fmt = "saved_model"
    if fmt is None:
        raise ValueError(
            f"Invalid model_or_exported_file={path!r}: cannot tell its format; "
            f"expected a suffix in {sorted(SUFFIX_FORMATS)}, a SavedModel folder, "
            "or a file listed in the manifest.json beside it."
        )
    labels = manifest.get("labels")
    if fmt == "keras":
        model = keras.saving.load_model(path, compile=False)
        return [_keras_source(model, path)], model, model.name, labels
    names = [t["name"] for t in manifest.get("inputs", [])] or None
    return [_runner_source(fmt, path, names)], None, os.path.splitext(base)[0], labels


# -------------------------------------------------------------- evaluation
def _gradcam(model, x, errors):
    """Grad-CAM maps of the wrong examples for the class predicted, or a reason."""
    if model is None:
        return (
            None,
            "no Keras model to differentiate (evaluate the export folder or .keras file)",
        )
    if x.ndim != 4:
        return None, f"inputs of shape {x.shape[1:]} are not images"
    try:
        find_conv_layer(model)
    except ValueError as error:
        return None, str(error)
    index = [e["index"] for e in errors]
    predicted = [e["predicted"] for e in errors]
    return grad_cam(model, x[index], target=predicted), None


def _latency(source, x, runs: int) -> dict:
    p50, p95 = source.latency(x[:1], runs)
    return {"p50_ms": p50, "p95_ms": p95, "batch": 1, "runs": runs}


def evaluate(
    model_or_exported_file,
    data,
    report_dir=None,
    *,
    labels=None,
    errors: int = 8,
    bins: int = 10,
    latency_runs: int = 20,
    explain: bool = True,
) -> dict:
    """Evaluates a classifier (a model, a file or an export folder) on labelled data.

    Args:
        model_or_exported_file: keras.Model, a `.keras` file, an exported
            file (`.tflite`, `.onnx`, a SavedModel folder), or an export
            folder with a manifest.json (every file in it is evaluated).
        data: (x, y), {"x", "y"} or an `.npz` file with x and y: model
            inputs as the model takes them and integer class labels.
        report_dir: str or None. Folder to write report.json and
            report.html into (created); None writes nothing.
        labels: list of str or None. Class names (default: the manifest's,
            else "0", "1", ...).
        errors: int. Most confidently wrong examples to show.
        bins: int. Bins of the reliability diagram.
        latency_runs: int. Timed batch-of-one runs per file (0 skips).
        explain: bool. Grad-CAM of the wrong examples (Keras models with a
            convolutional feature map).

    Returns:
        dict: the report (what report.json holds): "accuracy", per-class
        "precision"/"recall"/"f1"/"support", "macro", "weighted",
        "confusion_matrix", "roc_auc", "average_precision", "calibration",
        "confident_errors", "files" (size, latency, accuracy and agreement
        of each file), "gradcam".

    Example:
    >>> report = kerasdl.evaluate("savedmodels/lenet5", (x_test, y_test),
    ...                           report_dir="savedmodels/lenet5/report")
    >>> report["accuracy"], report["calibration"]["ece"]
    """
    errors = check_int("errors", errors, minimum=0)
    latency_runs = check_int("latency_runs", latency_runs, minimum=0)
    x, y = load_data(data)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"Invalid data: {len(x)} inputs and {len(y)} labels; expected the "
            "same number, at least one."
        )
    x = x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x
    sources, model, name, manifest_labels = _open(model_or_exported_file)
    started = time.perf_counter()
    probs = sources[0].predict(x)
    y, probs = metrics.check_predictions(y, probs)
    labels = [str(v) for v in (labels or manifest_labels or range(probs.shape[1]))]
    if len(labels) != probs.shape[1]:
        raise ValueError(
            f"Invalid labels: {len(labels)} names for a model with {probs.shape[1]} classes."
        )
    report = {
        "model": name,
        "samples": len(y),
        "labels": labels,
        "backend": _backend.name(),
    }
    report.update(metrics.classification_metrics(y, probs))
    per_class = metrics.curves(y, probs)
    report["roc_auc"] = [c["roc_auc"] for c in per_class]
    report["average_precision"] = [c["average_precision"] for c in per_class]
    report["calibration"] = metrics.calibration(y, probs, bins=bins)
    report["confident_errors"] = metrics.confident_errors(y, probs, count=errors)
    predicted = np.argmax(probs, axis=1)
    files = []
    for i, source in enumerate(sources):
        source_probs = probs if i == 0 else source.predict(x)
        source_predicted = np.argmax(source_probs, axis=1)
        entry = {
            "name": source.name,
            "format": source.format,
            "path": source.path,
            **source.size,
            "accuracy": float(np.mean(source_predicted == y)),
            "agreement": float(np.mean(source_predicted == predicted)),
        }
        if latency_runs:
            entry["latency"] = _latency(source, x, latency_runs)
        files.append(entry)
    report["files"] = files
    heatmaps, reason = (None, "explain=False")
    if explain and report["confident_errors"]:
        heatmaps, reason = _gradcam(model, x, report["confident_errors"])
    report["gradcam"] = {"computed": heatmaps is not None, "reason": reason}
    report["seconds"] = time.perf_counter() - started
    if report_dir is not None:
        _write(report, os.fspath(report_dir), x, per_class, heatmaps)
    return report


# ------------------------------------------------------------------ report
def _png_uri(figure) -> str:
    return "data:image/png;base64," + base64.b64encode(plots.png_bytes(figure)).decode()


def _figures(report, x, per_class, heatmaps) -> dict:
    labels = report["labels"]
    figures = {
        "confusion": plots.confusion_figure(report["confusion_matrix"], labels),
        "curves": plots.curves_figure(per_class, labels),
        "reliability": plots.reliability_figure(report["calibration"]),
    }
    wrong = report["confident_errors"]
    if wrong and x.ndim in (3, 4):
        captions = [
            f"#{e['index']}: {labels[e['true']]} -> {labels[e['predicted']]} "
            f"({e['confidence']:.2f})"
            for e in wrong
        ]
        figures["errors"] = heatmap_figure(
            x[[e["index"] for e in wrong]], heatmaps, captions
        )
    return {key: _png_uri(figure) for key, figure in figures.items()}


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}img{max-width:100%}.note{color:#666}
"""


def render_html(report: dict, images: dict) -> str:
    """The report as one HTML page (no script; images are data URIs)."""
    labels = report["labels"]
    title = f"Evaluation of {report['model']}"
    per_class = _table(
        ["class", "precision", "recall", "F1", "support", "ROC AUC", "AP"],
        zip(
            labels,
            report["precision"],
            report["recall"],
            report["f1"],
            report["support"],
            report["roc_auc"],
            report["average_precision"],
        ),
    )
    summary = _table(
        ["accuracy", "macro F1", "weighted F1", "ECE", "samples"],
        [
            [
                report["accuracy"],
                report["macro"]["f1"],
                report["weighted"]["f1"],
                report["calibration"]["ece"],
                report["samples"],
            ]
        ],
    )
    files = _table(
        [
            "file",
            "format",
            "bytes",
            "gzip bytes",
            "accuracy",
            "agreement",
            "latency p50 (ms)",
            "p95 (ms)",
        ],
        [
            [
                f["name"],
                f["format"],
                f["bytes"],
                f.get("gzip_bytes"),
                f["accuracy"],
                f["agreement"],
                f.get("latency", {}).get("p50_ms"),
                f.get("latency", {}).get("p95_ms"),
            ]
            for f in report["files"]
        ],
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{report["samples"]} examples, backend {html.escape(report["backend"])}.</p>',
        "<h2>Summary</h2>",
        summary,
        "<h2>Per class</h2>",
        per_class,
        "<h2>Confusion matrix</h2>",
        f'<img alt="confusion matrix" src="{images["confusion"]}">',
        "<h2>ROC and precision-recall curves</h2>",
        f'<img alt="ROC and PR curves" src="{images["curves"]}">',
        "<h2>Calibration</h2>",
        f'<img alt="reliability diagram" src="{images["reliability"]}">',
        "<h2>Most confidently wrong</h2>",
    ]
    if "errors" in images:
        parts.append(f'<img alt="confidently wrong examples" src="{images["errors"]}">')
    parts.append(
        _table(
            ["index", "true", "predicted", "confidence"],
            [
                [e["index"], labels[e["true"]], labels[e["predicted"]], e["confidence"]]
                for e in report["confident_errors"]
            ],
        )
    )
    if not report["gradcam"]["computed"]:
        parts.append(
            f'<p class="note">No Grad-CAM: {html.escape(str(report["gradcam"]["reason"]))}.</p>'
        )
    parts += ["<h2>Files</h2>", files, "</body></html>"]
    return "\n".join(parts)


def _write(report, report_dir, x, per_class, heatmaps) -> None:
    os.makedirs(report_dir, exist_ok=True)
    images = _figures(report, x, per_class, heatmaps)
    write_json_atomic(os.path.join(report_dir, "report.json"), to_plain(report))
    write_text_atomic(
        os.path.join(report_dir, "report.html"), render_html(report, images)
    )
    logger.info("evaluate: wrote %s", os.path.join(report_dir, "report.html"))
