"""kerasdl.evaluate: the report's figures are the model's, and the page is whole."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import kerasdl
from kerasdl.evaluation import metrics
from tests.explain.shapes import shapes_dataset, template_cnn


@pytest.fixture(scope="module")
def shapes():
    x, y, _ = shapes_dataset(48, seed=2)
    # A few wrong labels, so there are confidently wrong examples to show.
    y = y.copy()
    y[:4] = (y[:4] + 1) % 3
    return x, y


def test_evaluate_a_keras_model_writes_json_and_html(tmp_path, shapes):
    x, y = shapes
    model = template_cnn()
    report = kerasdl.evaluate(
        model,
        (x, y),
        report_dir=tmp_path,
        labels=["square", "plus", "x"],
        errors=4,
        latency_runs=3,
    )
    probs = model.predict(x, verbose=0)
    expected = metrics.classification_metrics(y, probs)
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["confusion_matrix"] == expected["confusion_matrix"]
    assert report["accuracy"] <= 44 / 48  # the 4 flipped labels are wrong
    assert {e["index"] for e in report["confident_errors"]} == {0, 1, 2, 3}
    assert report["gradcam"] == {"computed": True, "reason": None}
    (entry,) = report["files"]
    assert entry["parameters"] == model.count_params()
    assert entry["latency"]["p50_ms"] > 0

    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["accuracy"] == report["accuracy"]
    assert saved["calibration"]["ece"] == pytest.approx(report["calibration"]["ece"])
    page = (tmp_path / "report.html").read_text()
    # Self-contained: four embedded images, nothing loaded from elsewhere.
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page
    assert "square" in page and "Most confidently wrong" in page


@pytest.mark.one_backend
def test_evaluate_an_export_folder_runs_every_file(tmp_path, shapes):
    x, y = shapes
    folder = tmp_path / "shapes"
    kerasdl.export(
        template_cnn(),
        folder,
        formats=["keras", "tflite", "onnx"],
        labels=["square", "plus", "x"],
    )
    report = kerasdl.evaluate(
        folder, (x, y), report_dir=folder / "report", latency_runs=3
    )
    files = {f["format"]: f for f in report["files"]}
    assert set(files) == {"keras", "tflite", "onnx"}
    for entry in files.values():
        assert entry["accuracy"] == pytest.approx(report["accuracy"])
        assert entry["agreement"] == 1.0
        assert entry["bytes"] == os.path.getsize(entry["path"])
        assert entry["latency"]["p95_ms"] >= entry["latency"]["p50_ms"] > 0
    assert report["labels"] == ["square", "plus", "x"]
    assert report["gradcam"]["computed"]
    assert (folder / "report" / "report.html").is_file()

    # One exported file alone: its format from the manifest beside it.
    alone = kerasdl.evaluate(folder / "model.tflite", (x, y), latency_runs=0)
    assert [f["format"] for f in alone["files"]] == ["tflite"]
    assert alone["accuracy"] == pytest.approx(report["accuracy"])
    assert alone["gradcam"]["computed"] is False
    assert "Keras model" in alone["gradcam"]["reason"]


@pytest.mark.one_backend
def test_errors_name_the_argument(tmp_path, shapes):
    x, y = shapes
    model = template_cnn()
    with pytest.raises(ValueError, match="Invalid data"):
        kerasdl.evaluate(model, x)
    with pytest.raises(ValueError, match="no such file"):
        kerasdl.evaluate(str(tmp_path / "missing.onnx"), (x, y))
    with pytest.raises(ValueError, match="2 names for a model with 3 classes"):
        kerasdl.evaluate(model, (x, y), labels=["a", "b"])
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(ValueError, match="expected x"):
        kerasdl.evaluate(model, tmp_path / "bad.npz")


@pytest.mark.one_backend
def test_kerasdl_evaluate_command(tmp_path, shapes, capsys):
    from kerasdl_cli import main

    x, y = shapes
    model_path = tmp_path / "shapes.keras"
    template_cnn().save(model_path)
    np.savez(tmp_path / "test.npz", x=x, y=y)
    code = main(
        [
            "evaluate",
            str(model_path),
            "--data",
            str(tmp_path / "test.npz"),
            "--report-dir",
            str(tmp_path / "report"),
            "--latency-runs",
            "2",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert f"accuracy {saved['accuracy']:.4f}" in out
    assert "report.html" in out
    assert (tmp_path / "report" / "report.html").is_file()
