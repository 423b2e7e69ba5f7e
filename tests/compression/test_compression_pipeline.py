"""`compress(config)` and `kerasdl compress`: end to end on digits, tiny MLP."""

import json
import os
import types

import keras
import numpy as np
import pytest
import yaml

import kerasdl.data
from kerasdl.cli import main
from kerasdl.compression.pipeline import compress
from kerasdl.exporters import FORMATS as EXPORT_FORMATS
from kerasdl.exporters import exporter
from kerasdl.runconfig import load_run_config

# On JAX and PyTorch each TFLite export is a TensorFlow subprocess (15-50 s
# on a shared 2-core machine; tests/exporters covers it): .keras files only there.
CONVERTS = keras.backend.backend() == "tensorflow"
FORMATS = ["keras", "tflite", "tflite_int8"] if CONVERTS else ["keras"]
FILES = sorted(EXPORT_FORMATS[f].filename for f in FORMATS)


def _config(output_dir, **changes):
    config = {
        "name": "tiny",
        "seed": 0,
        "data": {"name": "digits", "flatten": True},
        "model": {"model": "mlp", "hidden_units": [64]},
        "training": {
            "epochs": 8,
            "batch_size": 32,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "verbose": 0,
        },
        "compression": [{"prune": {"final_sparsity": 0.75, "epochs": 2}}],
        "export": {"directory": str(output_dir / "tiny"), "formats": FORMATS},
        "report": {"latency_runs": 5},
    }
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("pipeline") / "savedmodels"
    result = compress(_config(output_dir))
    return types.SimpleNamespace(
        result=result, directory=str(output_dir / "tiny"), output_dir=output_dir
    )


def _accuracy(model, dataset):
    probs = np.asarray(model.predict(dataset.x_test, verbose=0))
    return float(np.mean(np.argmax(probs, -1) == dataset.y_test))


def test_output_folder_layout(pruned):
    assert sorted(os.listdir(pruned.output_dir)) == ["tiny"]  # no staging left
    assert sorted(os.listdir(pruned.directory)) == sorted(
        ["baseline", "config.yaml", "manifest.json", "report.json", "report.md", *FILES]
    )
    assert sorted(os.listdir(os.path.join(pruned.directory, "baseline"))) == sorted(
        ["manifest.json", *FILES]
    )
    assert pruned.result.directory == pruned.directory


def test_base_training_and_pruning_took_effect(pruned):
    result = pruned.result
    dataset = kerasdl.data.load("digits", flatten=True)
    assert len(result.train_history["loss"]) == 8
    assert _accuracy(result.baseline, dataset) >= 0.9
    # 75% of every kernel is exactly zero after the fine-tuning.
    for layer in result.model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            assert np.mean(kernel == 0) == pytest.approx(0.75, abs=1e-3), layer.name
    (record,) = result.steps
    assert record["step"] == "prune"
    assert record["sparsity"]["total"] == pytest.approx(0.75, abs=1e-3)
    assert len(record["history"]["loss"]) == 2
    assert record["nonzero_parameters"] < 0.3 * record["parameters"]
    # The baseline model itself was not pruned.
    kernel = keras.ops.convert_to_numpy(result.baseline.get_layer("dense1").kernel)
    assert np.mean(kernel == 0) < 0.01


def test_report_compares_baseline_and_compressed(pruned):
    rep = pruned.result.report
    assert [(r.model, r.format) for r in rep.rows] == [
        (m, f) for m in ("baseline", "compressed") for f in FORMATS
    ]
    dataset = kerasdl.data.load("digits", flatten=True)
    assert rep.row("compressed", "keras").metric == pytest.approx(
        _accuracy(pruned.result.model, dataset)
    )
    assert rep.row("baseline", "keras").metric == pytest.approx(
        _accuracy(pruned.result.baseline, dataset)
    )
    for fmt in FORMATS:
        base, small = rep.row("baseline", fmt), rep.row("compressed", fmt)
        assert small.gzip_bytes < 0.7 * base.gzip_bytes, fmt
        assert small.nonzero_parameters < 0.3 * small.parameters
        assert small.metric >= base.metric - 0.05, fmt
    assert rep.directories == {"baseline": "baseline", "compressed": "."}


def test_report_and_manifest_files(pruned):
    rep = pruned.result.report
    with open(os.path.join(pruned.directory, "report.json")) as f:
        assert json.load(f) == rep.to_dict()
    with open(os.path.join(pruned.directory, "report.md")) as f:
        assert f.read() == rep.markdown()
    manifest = pruned.result.manifest
    with open(os.path.join(pruned.directory, "manifest.json")) as f:
        assert json.load(f) == manifest
    assert manifest["labels"] == [str(i) for i in range(10)]
    assert manifest["preprocessing"]["scale"] == 1.0 / 16.0
    by_format = manifest["metrics"]["test_accuracy_by_format"]
    assert by_format == {f: rep.row("compressed", f).metric for f in FORMATS}
    assert [s["step"] for s in manifest["compression"]["steps"]] == ["prune"]
    assert manifest["compression"]["baseline"] == "baseline"
    with open(os.path.join(pruned.directory, "config.yaml")) as f:
        saved = yaml.safe_load(f)
    assert saved["compression"] == [{"prune": {"final_sparsity": 0.75, "epochs": 2}}]
    assert saved["export"]["formats"] == FORMATS
    for fmt in FORMATS:
        assert manifest["files"][fmt]["verification"]["passed"]


def test_cli_ptq_from_a_keras_file(pruned, tmp_path, capsys):
    config = {
        "data": {"name": "digits", "flatten": True},
        "model": os.path.join(pruned.directory, "baseline", "model.keras"),
        "compression": [{"ptq": {"mode": "int8"}}],
        "export": {"formats": ["keras"]},
        "report": {"latency_runs": 3},
    }
    path = tmp_path / "ptq_int8.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["compress", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    # The name defaults to the config file's stem.
    directory = tmp_path / "out" / "ptq_int8"
    assert f"written to: {directory}" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = [line.split() for line in lines[header + 2 : header + 4]]
    assert [r[:2] for r in rows] == [["baseline", "keras"], ["compressed", "keras"]]
    with open(directory / "report.json") as f:
        report = json.load(f)
    base, small = report["rows"]
    # Keras int8: int8 kernels plus a float scale per output unit.
    assert small["parameters"] == base["parameters"] + 64 + 10
    assert small["gzip_bytes"] < 0.6 * base["gzip_bytes"]
    assert small["metric"] >= base["metric"] - 0.02
    ptq = json.loads((directory / "manifest.json").read_text())["compression"]
    assert ptq["steps"][0]["metrics"]["mode"] == "int8"
    assert ptq["steps"][0]["metrics"]["compression_ratio"] > 2.5


def _from_baseline(pruned, tmp_path, steps):
    return compress(
        {
            "name": "steps",
            "data": {"name": "digits", "flatten": True},
            "model": os.path.join(pruned.directory, "baseline", "model.keras"),
            "compression": steps,
            "export": {"directory": str(tmp_path / "steps"), "formats": ["keras"]},
            "report": {"latency_runs": 3},
        }
    )


def test_cluster_step(pruned, tmp_path):
    result = _from_baseline(
        pruned, tmp_path, [{"cluster": {"number_of_clusters": 8, "epochs": 1}}]
    )
    for layer in result.model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            assert len(np.unique(kernel)) <= 8, layer.name
    rep = result.report
    # 8 shared values compress far better than 4,736 distinct floats.
    assert rep.row("compressed", "keras").gzip_bytes < 0.5 * (
        rep.row("baseline", "keras").gzip_bytes
    )
    assert rep.row("compressed", "keras").metric >= 0.85


def test_distill_then_lora_steps(pruned, tmp_path):
    student = {"model": "mlp", "hidden_units": [16]}
    result = _from_baseline(
        pruned,
        tmp_path,
        [
            {
                "distill": {
                    "student": student,
                    "epochs": 6,
                    "temperature": 2.0,
                    "learning_rate": 0.01,
                }
            },
            {"lora": {"rank": 2, "epochs": 1}},
        ],
    )
    distill, lora = result.steps
    assert distill["student_parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    assert distill["teacher_parameters"] == result.baseline.count_params()
    assert len(distill["history"]["loss"]) == 6
    # Rank-2 adapters on (64x16, 16x10) kernels: 2*(64+16) + 2*(16+10) weights
    # trainable out of 1,210 + 212.
    assert lora["trainable_fraction"] == pytest.approx(212 / (1210 + 212))
    assert lora["parameters"] == distill["parameters"] == 1210  # merged back
    row = result.report.row("compressed", "keras")
    assert row.parameters == 1210
    assert row.metric >= 0.85
    assert [type(layer).__name__ for layer in result.model.layers].count("Dense") == 2


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {"data": "digits", "model": "mlp", "compression": [{"prune": {}}]}
        )
    )
    assert main(["compress", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasdl compress: ")
    assert "no 'training' section" in err


def _snapshot(folder):
    return {
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, names in os.walk(folder)
        for name in names
    }


def test_failure_leaves_the_output_as_it_was(pruned, tmp_path, monkeypatch):
    def wrong(fmt, path, inputs, names):
        return [np.zeros((len(inputs[0]), 10), "float32")]

    monkeypatch.setattr(exporter, "run_file", wrong)
    config = {
        "name": "kept",
        "data": {"name": "digits", "flatten": True},
        "model": os.path.join(pruned.directory, "model.keras"),
        "compression": [{"ptq": {"mode": "int8"}}],
        "export": {
            "directory": str(tmp_path / "models" / "kept"),
            "formats": ["keras"],
        },
    }
    # An earlier result stays untouched.
    previous = tmp_path / "models" / "kept"
    previous.mkdir(parents=True)
    (previous / "report.md").write_text("earlier report")
    with pytest.raises(ValueError, match="differ from the Keras model"):
        compress(config)
    assert _snapshot(previous) == {"report.md"}
    assert (previous / "report.md").read_text() == "earlier report"
    assert os.listdir(tmp_path / "models") == ["kept"]
    # A fresh target: no folder at all, not even its parents.
    config["export"]["directory"] = str(tmp_path / "new" / "models" / "kept")
    with pytest.raises(ValueError, match="differ from the Keras model"):
        compress(config)
    assert not os.path.exists(tmp_path / "new")


def _valid():
    return {
        "name": "x",
        "data": "digits",
        "model": "mlp",
        "training": {"epochs": 1},
        "compression": [{"prune": {"final_sparsity": 0.5}}],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"compresion": []},
            r"Unknown run config key 'compresion'\. Did you mean 'compression'",
        ),
        ({"steps": []}, r"'steps' was renamed to 'compression'"),
        ({"train": {}}, r"'train' was renamed to 'training'"),
        ({"output_dir": "out"}, r"'output_dir' was renamed to 'export\.directory'"),
        (
            {"compression": [{"prunning": {}}]},
            r"Unknown compression step 'prunning' at compression\[0\]\. Did you mean "
            r"'prune'\?.*Accepted steps: prune, cluster, qat, distill, ptq, lora",
        ),
        (
            {
                "compression": [
                    {"prune": {"final_sparsity": 0.5}},
                    {"prune": {"final_sparsity": 1.5}},
                ]
            },
            r"compression\[1\]\.prune\.final_sparsity=1\.5: expected a number in \[0, 1\)",
        ),
        (
            {"compression": [{"prune": {"final_sparsity": 0.5, "epoch": 2}}]},
            r"Unknown run config key 'compression\[0\]\.prune\.epoch'\. Did you mean "
            r"'epochs'",
        ),
        (
            {"compression": [{"cluster": {}}]},
            r"compression\[0\]\.cluster: missing required key ",
        ),
        (
            {"compression": [{"prune": {"final_sparsity": 0.5, "schedule": "poly"}}]},
            r"compression\[0\]\.prune\.schedule='poly'.*Accepted: 'polynomial', 'constant'",
        ),
        (
            {"compression": [{"qat": {}}, {"prune": {"final_sparsity": 0.5}}]},
            r"compression\[0\]\.qat quantizes the model; it must be the last step",
        ),
        (
            {"compression": [{"ptq": {"mode": "int3"}}]},
            r"compression\[0\]\.ptq\.mode='int3'.*Accepted: 'int8', 'int4'",
        ),
        (
            {"compression": [{"ptq": {"mode": "int8"}}]},
            r"export\.formats has \['tflite', 'tflite_int8'\].*ptq",
        ),
        (
            {"compression": [{"lora": {"rank": 0}}]},
            r"compression\[0\]\.lora\.rank=0: expected an integer >= 1",
        ),
        (
            {"compression": [{"prune": {"final_sparsity": 0.5, "optimizer": "adamm"}}]},
            r"compression\[0\]\.prune: .*adamm",
        ),
        ({"compression": []}, r"compression=\[\]: expected a non-empty list"),
        ({"compression": ["prune"]}, r"compression\[0\]='prune': expected a mapping"),
        (
            {"training": {"epochz": 1}},
            r"training: Unknown training config key 'epochz'",
        ),
        ({"export": {"formats": ["tflite_int"]}}, r"export\.formats: Unknown export"),
        (
            {"export": {"formats": ["tflite"], "int8_io": True}},
            r"export\.int8_io=True: expected false unless formats include",
        ),
        (
            {"export": {"formats": ["tflite_int8"], "per_channel": "no"}},
            r"export\.per_channel='no': expected true or false",
        ),
        ({"report": {"latency_runs": 0}}, r"report\.latency_runs=0: expected an"),
        (
            {"model": "missing.keras"},
            r"model='missing\.keras': expected an existing \.keras file",
        ),
        (
            {"model": {"model": "mlp", "hiden_units": [8]}},
            r"'model\.hiden_units'.*Did you mean 'hidden_units'",
        ),
        ({"data": {"image_size": 8}}, r"data=\{'image_size': 8\}: expected a dataset"),
        ({"name": "a/b"}, r"name='a/b': expected a folder name"),
    ],
)
def test_invalid_configs_name_the_key(change, message, tmp_path):
    config = {**_valid(), **change}
    config.setdefault("export", {})
    if isinstance(config["export"], dict):
        config["export"] = {"directory": str(tmp_path / "out"), **config["export"]}
    with pytest.raises(ValueError, match=message):
        compress(config)
    assert not os.path.exists(tmp_path / "out")


def test_spec_without_training_is_refused():
    config = {**_valid()}
    del config["training"]
    with pytest.raises(ValueError, match=r"no 'training' section.*trained \.keras"):
        load_run_config(config, "compress")


def test_defaults_are_filled():
    config = load_run_config(_valid(), "compress")
    assert config["export"] == {
        "directory": os.path.join("savedmodels", "x"),
        "formats": ["keras", "tflite", "tflite_int8"],
        "representative_samples": 300,
        "int8_io": False,
        "per_channel": True,
        "strip_tensor_names": False,
    }
    assert config["report"]["latency_runs"] == 50
    assert config["data"] == {"name": "digits"}
    assert config["training"]["seed"] == 0
