"""kerasdl.train (one config: data, model, training, export) and the quickstart."""

import json

import keras
import pytest
import yaml

import kerasdl
import kerasdl.data
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
            r"Unknown run config key 'modle'.*'model'",
        ),
        ({"model": {"model": "mlp"}}, r"needs a 'data' section"),
        (
            {"data": {"image_size": 8}, "model": "mlp"},
            r"data=\{'image_size': 8\}: expected a dataset name or a mapping",
        ),
        (
            {"data": "digits", "model": "mlp", "train": {"epochs": 1}},
            r"'train' was renamed to 'training'",
        ),
        (
            {"data": "digits", "model": "mlp", "compression": [{"qat": {}}]},
            r"'compression' section.*kerasdl compress",
        ),
        (
            {"data": "digits", "model": "mlp", "export": {"formats": ["tflite"]}},
            r"export: missing key 'directory'",
        ),
        (
            {"data": {"name": "digitz"}, "model": "mlp"},
            r"'digitz'.*Did you mean 'digits'",
        ),
    ],
)
def test_bad_run_configs_name_the_problem(config, pattern):
    with pytest.raises(ValueError, match=pattern):
        kerasdl.train(config)


def test_whole_config_is_checked_before_any_data_is_loaded(tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("kerasdl.data.load was called before validation")

    monkeypatch.setattr(kerasdl.data, "load", no_data)
    bad = [
        {"export": {"directory": str(tmp_path / "e"), "formats": ["tflite_int"]}},
        {"training": {"epochs": 1, "optimizer": {"name": "adamm"}}},
        {"model": {"model": "mlp", "hiden_units": [8]}},
        {"export": {"directory": str(tmp_path / "e"), "format": ["tflite"]}},
    ]
    patterns = [
        r"export\.formats: Unknown export format 'tflite_int'.*'tflite_int8'",
        r"training: .*'adamm'",
        r"'model\.hiden_units'.*Did you mean 'hidden_units'",
        r"Unknown run config key 'export\.format'\. Did you mean 'formats'",
    ]
    for change, pattern in zip(bad, patterns, strict=True):
        with pytest.raises(ValueError, match=pattern):
            kerasdl.train(_config(tmp_path, **change))
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "e").exists()


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="mirrored is TensorFlow's"
)
def test_distribution_beyond_the_devices_is_refused_before_the_data(
    tmp_path, monkeypatch
):
    def no_data(*args, **kwargs):
        raise AssertionError("kerasdl.data.load was called before the refusal")

    monkeypatch.setattr(kerasdl.data, "load", no_data)
    keras.ops.convert_to_numpy(keras.ops.ones((2,)) + 1)  # the runtime runs
    training = {"epochs": 1, "distribution": {"strategy": "mirrored", "devices": 64}}
    with pytest.raises(ValueError) as info:
        kerasdl.train(_config(tmp_path, training=training))
    message = str(info.value)
    for fragment in ("distribution.devices=64", "strategy: none", "fresh process"):
        assert fragment in message, (fragment, message)
    compress_config = {
        **_config(tmp_path, training=training),
        "compression": [{"prune": {"final_sparsity": 0.5}}],
    }
    compress_config.pop("export", None)
    with pytest.raises(ValueError, match="distribution.devices=64"):
        kerasdl.compress(compress_config)
    mirrored_accumulation = {
        "epochs": 1,
        "optimizer": {"name": "adam", "gradient_accumulation_steps": 2},
        "distribution": {"strategy": "mirrored", "devices": 1},
    }
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        kerasdl.train(_config(tmp_path, training=mirrored_accumulation))


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
