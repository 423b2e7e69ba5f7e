"""The public API that README.md and the issues name lives on the package."""

import json
import pydoc

import keras
import numpy as np
import pytest

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


_LOAD_IN_FRESH_PROCESS = """
import json, sys
import numpy as np
import pytest
import keras
import kerasdl

folder = sys.argv[1]
worst = {}
for name in json.loads(open(folder + "/names.json").read()):
    x = np.load(f"{folder}/{name}_x.npy")
    expected = np.load(f"{folder}/{name}_y.npy")
    loader = kerasdl.load_model if name == "lenet5" else keras.saving.load_model
    model = loader(f"{folder}/{name}.keras")
    worst[name] = float(np.abs(model.predict(x, verbose=0) - expected).max())
print("WORST", json.dumps(worst))
"""


def test_keras_files_load_in_a_fresh_process_after_import_kerasdl(tmp_path):
    import subprocess
    import sys

    from kerasdl.compression import ConstantSparsity, prune_low_magnitude
    from kerasdl.registry import get_entry

    rng = np.random.default_rng(0)
    pruned = prune_low_magnitude(
        kerasdl.build("mlp", input_shape=(6,), num_classes=3, hidden_units=[8]),
        ConstantSparsity(0.5, 0),
    )
    models = {
        "lenet5": kerasdl.build("lenet5", num_classes=4),
        # kerasdl's own layers: teaching LSTM cell; class token and positions.
        "rnn_basic_lstm": get_entry("rnn_classifier").build_tiny(),
        "vit_tiny": get_entry("vit").build_tiny(),
        # A compression wrapper, saved before strip_pruning.
        "pruned_mlp": pruned,
    }
    for name, model in models.items():
        shape = (2, *model.input_shape[1:])
        x = rng.normal(size=shape).astype("float32")
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}_x.npy", x)
        np.save(tmp_path / f"{name}_y.npy", model.predict(x, verbose=0))
    (tmp_path / "names.json").write_text(json.dumps(list(models)))
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_FRESH_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    worst = json.loads(result.stdout.split("WORST", 1)[1])
    assert set(worst) == set(models)
    for name, error in worst.items():
        assert error < 1e-5, (name, error)


@pytest.mark.one_backend
def test_a_loaded_diffusion_model_samples_after_import_kerasdl_alone(tmp_path):
    """`generate` needs the samplers of a higher floor: `import kerasdl` installs them."""
    import subprocess
    import sys

    from kerasdl.registry import get_entry

    model = get_entry("ddpm").build_tiny()
    model.save(tmp_path / "ddpm.keras")
    script = (
        "import sys, kerasdl\n"
        "m = kerasdl.load_model(sys.argv[1])\n"
        "print('SHAPE', m.generate(2, seed=0, steps=2).shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ddpm.keras")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"SHAPE {(2, *model.input_shape[0][1:])}" in result.stdout
