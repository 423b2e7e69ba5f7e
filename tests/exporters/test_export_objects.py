"""Formats as objects: a format added in one place goes through export as is.

The toy format below lives only in this test file: registering it is all
that export, verification and `run_file` need to write, check and run it.
"""

import json
import os

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.exporters import (
    FORMATS,
    ExportFormat,
    Runner,
    check_formats,
    export,
    get_format,
    read_manifest,
    register,
    run_file,
    unregister,
)
from kerasdl.exporters.base import load_source, model_io, output_names


class NpzRunner(Runner):
    """Rebuilds the model from the architecture and weights in the .npz file."""

    def __init__(self, fmt, path, input_names=None):
        super().__init__(fmt, path)
        with np.load(self.path) as data:
            config = json.loads(str(data["config"]))
            weights = [data[f"w{i}"] for i in range(int(data["count"]))]
        self.model = keras.Model.from_config(config)
        self.model.set_weights(weights)
        self.input_names = list(input_names or [t.name for t in self.model.inputs])
        self.runs = 0

    def run(self, inputs):
        self.runs += 1
        arrays = self._ordered(inputs, self.input_names)
        outputs = self.model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        return [
            np.asarray(keras.ops.convert_to_numpy(t))
            for t in keras.tree.flatten(outputs)
        ]

    def io_details(self):
        return model_io(self.model, self.input_names, output_names(self.model))

    def _timed_call(self, inputs):
        return lambda: self.run(inputs)


class NpzWeightsFormat(ExportFormat):
    """Architecture (get_config JSON) and weights in one numpy .npz file."""

    name = "npz_weights"
    filename = "model_weights.npz"
    description = "Architecture JSON and weights in a numpy .npz archive"
    runtime = "numpy+keras"
    tolerance = 1e-5

    def write(self, source, path, **options):
        model = load_source(source)
        weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        with open(path, "wb") as f:
            np.savez(
                f,
                config=json.dumps(model.get_config()),
                count=len(weights),
                **weights,
            )

    def open(self, path, input_names=None, **options):
        return NpzRunner(self, path, input_names)


@pytest.fixture
def npz_format():
    fmt = register(NpzWeightsFormat())
    try:
        yield fmt
    finally:
        unregister(fmt.name)


def _mlp():
    inputs = keras.Input((6,), name="features")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="toy_mlp")


def test_a_registered_format_is_exported_verified_and_run(tmp_path, npz_format):
    model = _mlp()
    x = np.random.default_rng(0).standard_normal((16, 6)).astype("float32")
    directory = tmp_path / "toy"
    manifest = kerasdl.export(
        model,
        directory,
        formats=["npz_weights", "keras"],
        sample_inputs=x,
        labels=["a", "b", "c"],
    )
    entry = manifest["files"]["npz_weights"]
    assert entry["path"] == "model_weights.npz"
    assert entry["description"] == npz_format.description
    assert entry["verification"]["runtime"] == "numpy+keras"
    assert entry["verification"]["passed"]
    assert entry["verification"]["max_abs_error"] <= 1e-5
    assert entry["inputs"] == [
        {"name": "features", "shape": [None, 6], "dtype": "float32"}
    ]
    assert read_manifest(directory) == manifest
    assert sorted(os.listdir(directory)) == sorted(
        ["model_weights.npz", "model.keras", "manifest.json"]
    )
    # The same verification path as the built-in formats, by name.
    path = str(directory / "model_weights.npz")
    (probs,) = run_file("npz_weights", path, [x], ["features"])
    np.testing.assert_allclose(probs, keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    # A runner is opened once and run many times.
    runner = get_format("npz_weights").open(path)
    for batch in (1, 5, 16):
        (out,) = runner.run({"features": x[:batch]})
        assert out.shape == (batch, 3)
    assert runner.runs == 3
    p50, p95 = runner.latency([x[:1]], runs=5)
    assert 0 < p50 <= p95


def test_unregistered_format_is_refused_before_anything_is_written(tmp_path):
    register(NpzWeightsFormat())
    unregister("npz_weights")
    assert "npz_weights" not in FORMATS
    with pytest.raises(ValueError, match=r"'npz_weights'.*Accepted: saved_model"):
        export(_mlp(), tmp_path / "toy", formats=["npz_weights"])
    assert not (tmp_path / "toy").exists()


def test_register_refuses_clashes():
    with pytest.raises(ValueError, match=r"'keras' is already registered"):
        register(type("Keras2", (NpzWeightsFormat,), {"name": "keras"})())
    with pytest.raises(ValueError, match=r"writes 'model.onnx'.*'onnx'"):
        register(type("Onnx2", (NpzWeightsFormat,), {"filename": "model.onnx"})())
    with pytest.raises(ValueError, match=r"must be an ExportFormat"):
        register("npz_weights")
    assert "npz_weights" not in FORMATS


def test_check_formats_names_value_closest_and_accepted():
    assert check_formats(["tflite", "onnx", "tflite"]) == ["tflite", "onnx"]
    with pytest.raises(ValueError) as info:
        check_formats(["keras", "tflite_int"])
    message = str(info.value)
    assert "'tflite_int'" in message
    assert "Did you mean 'tflite_int8'" in message
    assert "Accepted: " + ", ".join(FORMATS) in message
    with pytest.raises(ValueError, match=r"Unknown export format 'TFLite'.*'tflite'"):
        get_format("TFLite")


def test_format_objects_describe_themselves():
    assert list(FORMATS) == [
        "saved_model",
        "tflite",
        "tflite_fp16",
        "tflite_dynamic",
        "tflite_int8",
        "onnx",
        "keras",
    ]
    assert {n: f.suffix for n, f in FORMATS.items()} == {
        "saved_model": "",
        "tflite": ".tflite",
        "tflite_fp16": ".tflite",
        "tflite_dynamic": ".tflite",
        "tflite_int8": ".tflite",
        "onnx": ".onnx",
        "keras": ".keras",
    }
    assert [n for n, f in FORMATS.items() if f.quantized] == [
        "tflite_dynamic",
        "tflite_int8",
    ]
    assert [n for n, f in FORMATS.items() if f.needs_representative_data] == [
        "tflite_int8"
    ]
    assert all(f.name == n for n, f in FORMATS.items())
