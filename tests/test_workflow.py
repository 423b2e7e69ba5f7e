"""kerasdl.train (one config: data, model, training, export) and the quickstart."""

import json

import pytest
import yaml

import kerasdl
from kerasdl.cli import main


def _config(tmp_path, **changes):
    config = {
        "data": {"name": "digits"},
        "model": {"model": "mlp", "hidden_units": [32]},
        "training": {
            "seed": 0,
            "epochs": 3,
            "batch_size": 64,
            "verbose": 0,
            "run_dir": str(tmp_path / "run"),
        },
        "export": {"directory": str(tmp_path / "export"), "formats": ["tflite"]},
    }
    config.update(changes)
    return config


def test_train_runs_data_model_training_and_export_from_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path)))
    result = kerasdl.train(str(path))
    # input_shape and num_classes came from the data.
    assert result.model.input_shape == (None, 8, 8, 1)
    assert result.model.output_shape == (None, 10)
    assert len(result.history.epoch) == 3
    assert result.test_metrics["accuracy"] > 0.5  # chance is 0.1
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["labels"] == [str(i) for i in range(10)]
    assert manifest["preprocessing"]["scale"] == pytest.approx(1 / 16)
    assert manifest["metrics"]["test_accuracy"] == pytest.approx(
        result.test_metrics["accuracy"]
    )
    check = manifest["files"]["tflite"]["verification"]
    assert check["max_abs_error"] < 1e-4
    assert (tmp_path / "run" / "history.json").is_file()


def test_train_without_export_writes_no_export(tmp_path):
    kerasdl.train(_config(tmp_path), export=False)
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize(
    ("config", "pattern"),
    [
        (
            {"data": {"name": "digits"}, "modle": {}},
            r"Unknown section 'modle'.*'model'",
        ),
        ({"model": {"model": "mlp"}}, r"needs a 'data' section"),
        ({"data": "digits", "model": "mlp"}, r"data: expected a mapping"),
        (
            {"data": {"name": "digitz"}, "model": "mlp"},
            r"'digitz'.*Did you mean 'digits'",
        ),
    ],
)
def test_bad_run_configs_name_the_problem(config, pattern):
    with pytest.raises(ValueError, match=pattern):
        kerasdl.train(config)


@pytest.mark.slow
def test_quickstart_reaches_97_percent_and_exports_verified_files(tmp_path, capsys):
    code = main(
        [
            "quickstart",
            "--run-dir",
            str(tmp_path / "run"),
            "--export-dir",
            str(tmp_path / "export"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["metrics"]["test_accuracy"] >= 0.97
    files = manifest["files"]
    for fmt in ("saved_model", "tflite", "onnx"):
        assert files[fmt]["verification"]["max_abs_error"] < 1e-4
    # The compression step: int8 post-training quantization.
    assert files["tflite_int8"]["verification"]["class_agreement"] >= 0.97
    assert files["tflite_int8"]["bytes"] < 0.32 * files["tflite"]["bytes"]
    assert (tmp_path / "run" / "curves.png").is_file()
    assert "test accuracy" in out
