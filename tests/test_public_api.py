"""The public API that README.md and the issues name lives on the package."""

import json
import pydoc

import keras
import numpy as np

import kerasdl

API = (
    "Trainer",
    "build",
    "compress",
    "export",
    "list_models",
    "model_info",
    "to_spec",
    "train",
)


def test_help_lists_the_public_api():
    text = pydoc.render_doc(kerasdl, renderer=pydoc.plaintext)
    for name in API:
        assert name in kerasdl.__all__
        assert f"\n    {name}(" in text or f"class {name}(" in text, name


def test_subpackages_are_reachable_from_the_package():
    assert callable(kerasdl.data.load)
    assert kerasdl.training.Trainer is kerasdl.Trainer
    assert "PolynomialDecay" in dir(kerasdl.compression)
    assert "tflite" in kerasdl.exporters.FORMATS


def test_trainer_and_export_work_from_the_package(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = kerasdl.build("mlp", input_shape=(4,), num_classes=2, hidden_units=[8])
    before = model.get_weights()
    kerasdl.Trainer({"epochs": 2, "batch_size": 16, "verbose": 0}).fit(model, x, y)
    assert any((a != b).any() for a, b in zip(before, model.get_weights()))

    manifest = kerasdl.export(
        model, tmp_path / "mlp", formats=["keras"], labels=["a", "b"]
    )
    assert manifest["files"]["keras"]["bytes"] > 0
    on_disk = json.loads((tmp_path / "mlp" / "manifest.json").read_text())
    assert on_disk["labels"] == ["a", "b"]
    reloaded = keras.saving.load_model(
        tmp_path / "mlp" / manifest["files"]["keras"]["path"]
    )
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
