"""Failing exports raise clear errors and leave the target folder as it was."""

import json
import os
import stat

import keras
import numpy as np
import pytest

from kerasdl.exporters import VerificationError, export, exporter

OLD_MANIFEST = {"name": "previous", "files": {"tflite": {"path": "model.tflite"}}}


def _small_model():
    inputs = keras.Input((6,), name="features")
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(inputs)
    return keras.Model(inputs, outputs, name="small")


def _snapshot(folder):
    """{relative path: bytes} of every file under `folder`."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


@pytest.fixture
def previous(tmp_path):
    """An earlier export: manifest, a model file and a user's note."""
    folder = tmp_path / "models" / "small"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(OLD_MANIFEST))
    (folder / "model.tflite").write_bytes(b"old tflite bytes")
    (folder / "notes.txt").write_text("kept by the user")
    return folder


def _assert_untouched(folder):
    assert _snapshot(folder) == {
        "manifest.json": json.dumps(OLD_MANIFEST).encode(),
        "model.tflite": b"old tflite bytes",
        "notes.txt": b"kept by the user",
    }
    # No staging or backup folder left next to it.
    assert os.listdir(folder.parent) == [folder.name]


def test_unknown_format_names_value_and_accepted(previous):
    with pytest.raises(
        ValueError, match=r"'tflite_int'.*'tflite_int8'.*Accepted: saved_model"
    ):
        export(_small_model(), previous, formats=["tflite", "tflite_int"])
    _assert_untouched(previous)


def test_int8_without_representative_data(previous):
    with pytest.raises(ValueError, match=r"'tflite_int8' needs representative_data"):
        export(_small_model(), previous, formats=("tflite_int8",))
    _assert_untouched(previous)


def test_flex_ops_fail_loudly_and_write_nothing(previous):
    # CategoryEncoding(count) lowers to tf.DenseBincount, which TFLite has
    # only as a Flex (select-TF) op: no mobile builtin kernel.
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    counts = keras.layers.CategoryEncoding(num_tokens=16, output_mode="count")(tokens)
    outputs = keras.layers.Dense(3, activation="softmax")(counts)
    model = keras.Model(tokens, outputs, name="bag_of_tokens")
    # saved_model is written into the staging folder before tflite fails.
    with pytest.raises(ValueError, match=r"DenseBincount.*mobile TFLite runtime"):
        export(model, previous, formats=("saved_model", "tflite"))
    _assert_untouched(previous)


def test_verification_failure_rolls_back(previous, monkeypatch):
    real_run_file = exporter.run_file

    def off_by_half(fmt, path, inputs, names):
        return [out + 0.5 for out in real_run_file(fmt, path, inputs, names)]

    monkeypatch.setattr(exporter, "run_file", off_by_half)
    with pytest.raises(VerificationError, match=r"keras: max_abs_error=0\.5"):
        export(_small_model(), previous, formats=("keras",))
    _assert_untouched(previous)


def test_failure_removes_the_folders_it_created(tmp_path, monkeypatch):
    monkeypatch.setattr(
        exporter, "run_file", lambda fmt, path, inputs, names: [np.zeros((1, 1))]
    )
    with pytest.raises(VerificationError, match="output shapes"):
        export(_small_model(), tmp_path / "a" / "b" / "small", formats="keras")
    assert os.listdir(tmp_path) == []


def test_reexport_replaces_owned_files_and_keeps_the_users(previous):
    model = _small_model()
    manifest = export(model, previous, formats=("keras",))
    files = _snapshot(previous)
    # The stale model.tflite of the earlier export is gone with its manifest entry.
    assert sorted(files) == ["manifest.json", "model.keras", "notes.txt"]
    assert files["notes.txt"] == b"kept by the user"
    assert json.loads(files["manifest.json"]) == manifest
    assert list(manifest["files"]) == ["keras"]
    x = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")
    reloaded = keras.saving.load_model(previous / "model.keras")
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    assert os.listdir(previous.parent) == ["small"]
    # The folder gets the usual umask mode, not a private temp-dir mode.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(previous).st_mode) == 0o777 & ~umask


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": []}, r"formats is empty"),
        (
            {"formats": ["keras"], "int8_io": True},
            r"int8_io=True applies to the 'tflite_int8'",
        ),
        (
            {"formats": ["keras"], "labels": ["a", "b"]},
            r"labels has 2 entries.*3 classes",
        ),
        (
            {"formats": ["keras"], "labels": "abc"},
            r"labels must be a sequence of strings",
        ),
        (
            {"formats": ["keras"], "preprocessing": {"fn": object()}},
            r"preprocessing must be JSON",
        ),
        ({"formats": ["keras"], "metrics": {1, 2}}, r"metrics must be JSON"),
        (
            {"formats": ["keras"], "min_agreement": 1.5},
            r"min_agreement must be in \[0, 1\]",
        ),
        (
            {"formats": ["keras"], "sample_inputs": np.zeros((4, 5), "float32")},
            r"sample_inputs input 'features' has shape \(4, 5\)",
        ),
        (
            {
                "formats": ["tflite_int8"],
                "representative_data": {"other": np.zeros((4, 6))},
            },
            r"representative_data does not provide the model's 1 input\(s\) \['features'\]",
        ),
    ],
)
def test_bad_arguments_raise_before_writing(previous, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export(_small_model(), previous, **kwargs)
    _assert_untouched(previous)


def test_directory_that_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file")
    with pytest.raises(ValueError, match=r"exists and is not a folder"):
        export(_small_model(), target, formats="keras")
    assert target.read_text() == "a file"


def test_model_without_inputs():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match=r"has no defined inputs"):
        export(Subclassed(), "unused", formats="keras")


def _tflite_fails(monkeypatch):
    """Verification fails the float TFLite file only."""
    real_compare = exporter.compare_outputs

    def compare(fmt, outputs, reference, min_agreement):
        check = real_compare(fmt, outputs, reference, min_agreement)
        if fmt == "tflite":
            check = {**check, "max_abs_error": 0.5, "passed": False}
        return check

    monkeypatch.setattr(exporter, "compare_outputs", compare)


def test_a_failed_file_is_reported_with_those_that_passed(previous, monkeypatch):
    _tflite_fails(monkeypatch)
    with pytest.raises(VerificationError) as info:
        export(_small_model(), previous, formats=("keras", "tflite"))
    message = str(info.value)
    assert "tflite: max_abs_error=0.5" in message
    assert "Passed: keras" in message and "on_failure='keep_passing'" in message
    results = info.value.results
    assert results["keras"]["passed"] is True and results["tflite"]["passed"] is False
    _assert_untouched(previous)


def test_keep_passing_writes_the_files_that_passed(tmp_path, monkeypatch):
    _tflite_fails(monkeypatch)
    folder = tmp_path / "small"
    manifest = export(
        _small_model(), folder, formats=("keras", "tflite"), on_failure="keep_passing"
    )
    assert sorted(os.listdir(folder)) == ["manifest.json", "model.keras"]
    assert list(manifest["files"]) == ["keras"]
    assert manifest["failed"]["tflite"]["verification"]["passed"] is False
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    # Nothing passed: nothing to keep, so it raises and writes nothing.
    with pytest.raises(VerificationError, match="Passed: none"):
        export(
            _small_model(),
            tmp_path / "none",
            formats="tflite",
            on_failure="keep_passing",
        )
    assert not (tmp_path / "none").exists()
    with pytest.raises(ValueError, match="on_failure"):
        export(_small_model(), tmp_path / "x", formats="keras", on_failure="keep")


def test_test_data_must_be_labelled_classification_data(tmp_path):
    model = _small_model()
    x = np.zeros((4, 6), "float32")
    with pytest.raises(ValueError, match=r"test_data must be a pair"):
        export(model, tmp_path / "a", formats="keras", test_data=x)
    with pytest.raises(ValueError, match=r"test_data\[1\] must hold one class index"):
        export(model, tmp_path / "a", formats="keras", test_data=(x, np.zeros(2)))
    regression = keras.Model(model.inputs, keras.layers.Dense(1)(model.inputs[0]))
    with pytest.raises(ValueError, match="needs one output with a class axis"):
        export(regression, tmp_path / "a", formats="keras", test_data=(x, np.zeros(4)))
    assert not (tmp_path / "a").exists()
