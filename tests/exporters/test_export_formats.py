"""Every export format, written once per model and checked numerically.

The models are trained on the backend under test; on JAX and PyTorch the
exports go through the TensorFlow conversion subprocess. Besides the numbers
kerasdl's own verification records, the files are run here again with the
runtimes directly (LiteRT, ONNX Runtime) to check those numbers.
"""

import gzip
import os
import types

import keras
import numpy as np
import pytest
from export_helpers import (
    cluster_data,
    image_data,
    trained_cnn,
    trained_mlp,
    two_io_model,
)

import kerasdl
from kerasdl.exporters import FORMATS, export, read_manifest

LABELS = ["top_left", "top_right", "bottom_left"]
FLOAT_FORMATS = ["saved_model", "tflite", "onnx", "keras"]


def _predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """The tiny conv net exported to all formats, int8 with int8 I/O."""
    model, x, _ = trained_cnn()
    x_test, y_test = image_data(n=64, seed=1)
    accuracy = float(np.mean(np.argmax(_predict(model, x_test), -1) == y_test))
    directory = tmp_path_factory.mktemp("cnn") / "tiny_cnn"
    manifest = export(
        model,
        directory,
        formats=list(FORMATS),
        representative_data=x[:200],
        sample_inputs=x_test,
        labels=LABELS,
        preprocessing={"layout": "NHWC", "scale": 1.0},
        metrics={"accuracy": accuracy},
        int8_io=True,
        test_data=(x_test, y_test),
    )
    return types.SimpleNamespace(
        model=model,
        x=x_test,
        y=y_test,
        reference=_predict(model, x_test),
        accuracy=accuracy,
        directory=str(directory),
        manifest=manifest,
    )


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """kerasdl's MLP exported to the four TFLite variants (float I/O)."""
    model, x, _ = trained_mlp()
    directory = tmp_path_factory.mktemp("mlp") / "mlp"
    manifest = export(
        model,
        directory,
        formats=("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8"),
        representative_data=x[:300],
    )
    return types.SimpleNamespace(
        model=model, directory=str(directory), manifest=manifest
    )


def test_cnn_learned_its_task(cnn):
    # The class-agreement checks below are only meaningful on a trained model.
    assert cnn.accuracy >= 0.9


def test_manifest_describes_model_and_matches_disk(cnn):
    manifest = cnn.manifest
    assert read_manifest(cnn.directory) == manifest
    assert manifest["name"] == "tiny_cnn"
    assert manifest["backend"] == keras.backend.backend()
    assert manifest["versions"]["keras"] == keras.__version__
    assert manifest["versions"]["kerasdl"] == kerasdl.__version__
    assert manifest["versions"]["tensorflow"].startswith("2.")
    assert manifest["parameters"] == cnn.model.count_params()
    assert manifest["inputs"] == [
        {"name": "image", "shape": [None, 16, 16, 1], "dtype": "float32"}
    ]
    assert manifest["outputs"] == [
        {"name": "probs", "shape": [None, 3], "dtype": "float32"}
    ]
    assert manifest["labels"] == LABELS
    assert manifest["preprocessing"] == {"layout": "NHWC", "scale": 1.0}
    assert manifest["metrics"] == {"accuracy": cnn.accuracy}
    assert manifest["verification_samples"] == {"count": 64, "source": "sample_inputs"}
    assert sorted(manifest["files"]) == sorted(FORMATS)
    assert sorted(os.listdir(cnn.directory)) == sorted(
        [*(f.filename for f in FORMATS.values()), "manifest.json"]
    )
    # Nothing but the export folder itself is left next to it.
    assert os.listdir(os.path.dirname(cnn.directory)) == ["tiny_cnn"]


def test_file_sizes_are_recorded(cnn):
    for fmt, entry in cnn.manifest["files"].items():
        path = os.path.join(cnn.directory, entry["path"])
        if os.path.isdir(path):
            size = sum(
                os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(path)
                for name in names
            )
        else:
            size = os.path.getsize(path)
        assert entry["bytes"] == size, fmt
        assert entry["gzip_bytes"] > 0, fmt
    entry = cnn.manifest["files"]["tflite_int8"]
    with open(os.path.join(cnn.directory, entry["path"]), "rb") as f:
        zipped = gzip.compress(f.read(), compresslevel=6, mtime=0)
    assert entry["gzip_bytes"] == len(zipped) < entry["bytes"]


@pytest.mark.parametrize("fmt", FLOAT_FORMATS)
def test_float_formats_match_keras(cnn, fmt):
    check = cnn.manifest["files"][fmt]["verification"]
    assert check["passed"]
    assert check["samples"] == 64
    assert check["relative_error"] <= 1e-4
    assert check["max_abs_error"] <= 1e-4
    assert check["class_agreement"] == 1.0


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_runner_opens_once_and_runs_many_batches(cnn, fmt):
    # What a model server does: open each file once, then run many requests.
    path = os.path.join(cnn.directory, FORMATS[fmt].filename)
    with FORMATS[fmt].open(path, ["image"], num_threads=1) as runner:
        outputs = [runner.run([cnn.x[:n]])[0] for n in (1, 7, 64, 7)]
        (by_name,) = runner.run({"image": cnn.x[:7]})
        details = runner.io_details()
        p50, p95 = runner.latency([cnn.x[:1]], runs=5)
    assert [o.shape for o in outputs] == [(1, 3), (7, 3), (64, 3), (7, 3)]
    np.testing.assert_array_equal(outputs[1], outputs[3])
    np.testing.assert_array_equal(outputs[1], by_name)
    np.testing.assert_allclose(outputs[2], cnn.reference, atol=0.1)
    entry = cnn.manifest["files"][fmt]
    (file_input,) = details["inputs"]
    assert [file_input["shape"][1:], file_input["dtype"]] == [
        entry["inputs"][0]["shape"][1:],
        entry["inputs"][0]["dtype"],
    ]
    assert file_input.get("scale") == entry["inputs"][0].get("scale")
    assert len(details["outputs"]) == 1
    assert 0 < p50 <= p95


def test_fp16_matches_keras_within_1e_2(cnn):
    check = cnn.manifest["files"]["tflite_fp16"]["verification"]
    assert check["passed"]
    assert check["max_abs_error"] <= 1e-2
    assert check["class_agreement"] == 1.0


@pytest.mark.parametrize("fmt", ["tflite_dynamic", "tflite_int8"])
def test_quantized_formats_agree_with_keras(cnn, fmt):
    check = cnn.manifest["files"][fmt]["verification"]
    assert check["passed"]
    assert check["class_agreement"] >= 0.95
    assert check["max_abs_error"] <= 0.1


def test_int8_io_file_is_fully_integer_and_runs_with_manifest_params(cnn):
    from ai_edge_litert.interpreter import Interpreter

    entry = cnn.manifest["files"]["tflite_int8"]
    assert entry["int8_io"] is True
    (spec_in,) = entry["inputs"]
    (spec_out,) = entry["outputs"]
    assert spec_in["dtype"] == spec_out["dtype"] == "int8"
    assert spec_in["scale"] > 0 and spec_out["scale"] > 0
    interpreter = Interpreter(model_path=os.path.join(cnn.directory, entry["path"]))
    # Full integer: no float32 tensor anywhere in the graph.
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert "float32" not in dtypes
    assert "int8" in dtypes
    # Quantize with the manifest's numbers, as an app would.
    q = np.round(cnn.x / spec_in["scale"] + spec_in["zero_point"])
    q = np.clip(q, -128, 127).astype(np.int8)
    runner = interpreter.get_signature_runner()
    (out,) = runner(**{spec_in["name"]: q}).values()
    probs = (out.astype(np.float32) - spec_out["zero_point"]) * spec_out["scale"]
    agreement = np.mean(np.argmax(probs, -1) == np.argmax(cnn.reference, -1))
    assert agreement >= 0.95
    assert np.mean(np.argmax(probs, -1) == cnn.y) >= 0.85
    assert np.max(np.abs(probs - cnn.reference)) <= 0.1


def test_tflite_files_have_builtin_ops_only(cnn, mlp):
    for folder, manifest in (
        (cnn.directory, cnn.manifest),
        (mlp.directory, mlp.manifest),
    ):
        for fmt in ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8"):
            if fmt not in manifest["files"]:
                continue
            with open(os.path.join(folder, manifest["files"][fmt]["path"]), "rb") as f:
                content = f.read()
            # Flex ops are stored as custom ops named "Flex<Op>".
            assert b"Flex" not in content, fmt


def test_onnx_runs_in_onnxruntime(cnn):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        os.path.join(cnn.directory, "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (arg,) = session.get_inputs()
    assert arg.name == "image"
    (probs,) = session.run(None, {"image": cnn.x})
    np.testing.assert_allclose(probs, cnn.reference, atol=1e-5)


def test_float_tflite_runs_in_litert(cnn):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(
        model_path=os.path.join(cnn.directory, "model.tflite")
    ).get_signature_runner()
    (probs,) = runner(image=cnn.x).values()
    np.testing.assert_allclose(probs, cnn.reference, atol=1e-5)


def test_keras_file_reloads(cnn):
    model = keras.saving.load_model(os.path.join(cnn.directory, "model.keras"))
    np.testing.assert_allclose(_predict(model, cnn.x), cnn.reference, atol=1e-6)


def test_saved_model_serving_signature(cnn):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(cnn.directory, "saved_model"))
    outputs = loaded.signatures["serving_default"](image=tf.constant(cnn.x))
    np.testing.assert_allclose(outputs["output_0"].numpy(), cnn.reference, atol=1e-5)


def test_int8_is_about_4x_smaller_than_float(mlp):
    files = mlp.manifest["files"]
    float_bytes = files["tflite"]["bytes"]
    assert float_bytes > 4 * 280_000  # ~290k float32 weights
    assert files["tflite_int8"]["bytes"] * 3.5 <= float_bytes
    assert files["tflite_dynamic"]["bytes"] * 3.5 <= float_bytes
    assert 0.45 <= files["tflite_fp16"]["bytes"] / float_bytes <= 0.6


def test_mlp_int8_with_float_io_agrees_with_keras(mlp):
    entry = mlp.manifest["files"]["tflite_int8"]
    assert entry["int8_io"] is False
    assert entry["inputs"][0]["dtype"] == "float32"
    assert "scale" not in entry["inputs"][0]
    check = entry["verification"]
    # Quantized files are verified on the whole representative set (300),
    # the float ones on its first 32 samples.
    assert check["samples"] == 300
    assert mlp.manifest["files"]["tflite"]["verification"]["samples"] == 32
    assert check["class_agreement"] >= 0.95
    assert mlp.manifest["verification_samples"]["source"] == "representative_data"
    # Fresh data, run through kerasdl's LiteRT runner.
    x, _ = cluster_data(n=64, seed=7)
    (probs,) = kerasdl.exporters.run_file(
        "tflite_int8",
        os.path.join(mlp.directory, entry["path"]),
        [x],
        [entry["inputs"][0]["name"]],
    )
    reference = _predict(mlp.model, x)
    assert np.mean(np.argmax(probs, -1) == np.argmax(reference, -1)) >= 0.95


def test_two_inputs_two_outputs_keep_their_order(tmp_path):
    model, data = two_io_model()
    px, mt = data["pixels"][:16], data["meta"][:16]
    manifest = export(
        model,
        tmp_path / "two_io",
        formats=("saved_model", "tflite_int8", "onnx"),
        representative_data=data,
        sample_inputs=[px, mt],
    )
    assert [i["name"] for i in manifest["inputs"]] == ["pixels", "meta"]
    assert [o["name"] for o in manifest["outputs"]] == ["label", "score"]
    assert [o["shape"] for o in manifest["outputs"]] == [[None, 4], [None, 1]]
    for fmt in ("saved_model", "onnx"):
        assert manifest["files"][fmt]["verification"]["relative_error"] <= 1e-4
    int8 = manifest["files"]["tflite_int8"]["verification"]
    assert int8["class_agreement"] >= 0.9
    assert int8["relative_error"] <= 0.1  # the regression head is checked too
    label, score = (np.asarray(t) for t in model.predict([px, mt], verbose=0))
    outputs = kerasdl.exporters.run_file(
        "onnx", str(tmp_path / "two_io" / "model.onnx"), [px, mt], ["pixels", "meta"]
    )
    np.testing.assert_allclose(outputs[0], label, atol=1e-5)
    np.testing.assert_allclose(outputs[1], score, atol=1e-5)


def test_per_tensor_int8_has_one_weight_scale_per_tensor(cnn, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    def scale_counts(path):
        details = Interpreter(model_path=path).get_tensor_details()
        return [len(d["quantization_parameters"]["scales"]) for d in details]

    per_channel = scale_counts(os.path.join(cnn.directory, "model_int8.tflite"))
    assert max(per_channel) > 1
    manifest = export(
        cnn.model,
        tmp_path / "per_tensor",
        formats=["tflite_int8"],
        representative_data=cnn.x,
        per_channel=False,
        strip_tensor_names=True,
    )
    entry = manifest["files"]["tflite_int8"]
    assert entry["per_channel"] is False
    assert entry["strip_tensor_names"] is True
    # Only the input and output tensors keep a name; the signature works
    # (the export verified the file through it).
    path = str(tmp_path / "per_tensor" / entry["path"])
    named = [d["name"] for d in Interpreter(model_path=path).get_tensor_details()]
    assert sum(bool(n) for n in named) == 2, named
    assert max(scale_counts(str(tmp_path / "per_tensor" / entry["path"]))) == 1
    assert entry["verification"]["class_agreement"] >= 0.9


def test_per_channel_must_be_a_bool(cnn, tmp_path):
    with pytest.raises(ValueError, match="per_channel must be True or False"):
        export(cnn.model, tmp_path / "bad", formats=["tflite"], per_channel="no")
    assert not (tmp_path / "bad").exists()


def test_each_file_records_its_own_test_accuracy(cnn):
    test = cnn.manifest["test"]
    assert test == {"samples": 64, "keras_accuracy": pytest.approx(cnn.accuracy)}
    for fmt, entry in cnn.manifest["files"].items():
        path = os.path.join(cnn.directory, entry["path"])
        if entry["test_accuracy"] is None:  # SavedModel off TensorFlow
            assert fmt == "saved_model" and keras.backend.backend() != "tensorflow"
            continue
        (probs,) = kerasdl.exporters.run_file(
            fmt, path, [cnn.x], [entry["inputs"][0]["name"]]
        )
        own = float(np.mean(np.argmax(probs, -1) == cnn.y))
        assert entry["test_accuracy"] == pytest.approx(own), fmt
        if not FORMATS[fmt].quantized:
            assert entry["test_accuracy"] == pytest.approx(cnn.accuracy), fmt


def test_dynamic_range_file_is_timed_against_float(cnn):
    entry = cnn.manifest["files"]["tflite_dynamic"]
    timing = entry["latency_vs_float"]
    assert timing["threads"] == 1
    assert timing["dynamic_p50_ms"] > 0 and timing["float_p50_ms"] > 0
    assert timing["ratio"] > 0
    assert ("warning" in entry) == (timing["ratio"] > 1.0)


@pytest.mark.one_backend
def test_slower_dynamic_range_file_warns_and_its_float_reference_stays_private(
    tmp_path, monkeypatch, caplog
):
    from kerasdl.exporters import exporter

    measured = []

    def slower(dynamic_path, float_path, samples, input_names):
        measured.append((os.path.basename(dynamic_path), float_path))
        assert os.path.isfile(float_path)
        return {"ratio": 1.9, "dynamic_p50_ms": 1.9, "float_p50_ms": 1.0, "threads": 1}

    monkeypatch.setattr(exporter, "dynamic_range_slowdown", slower)
    x, _ = cluster_data(n=64, features=8, classes=3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    with caplog.at_level("WARNING", logger="kerasdl.exporters.exporter"):
        manifest = export(model, tmp_path / "m", formats=["tflite_dynamic"],
                          sample_inputs=x)  # fmt: skip
    entry = manifest["files"]["tflite_dynamic"]
    assert entry["latency_vs_float"]["ratio"] == 1.9
    assert "1.90x the float file" in entry["warning"]
    assert "1.90x the float file" in caplog.text
    assert [m[0] for m in measured] == [FORMATS["tflite_dynamic"].filename]
    # The float file was only the yardstick: not published.
    assert sorted(os.listdir(tmp_path / "m")) == sorted(
        [FORMATS["tflite_dynamic"].filename, "manifest.json"]
    )
    assert read_manifest(tmp_path / "m")["files"]["tflite_dynamic"]["warning"]
