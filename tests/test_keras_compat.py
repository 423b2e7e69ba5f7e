"""Pins every Keras internal kerasdl uses, and keeps them in one module.

Each `_keras_compat` function runs here on a real model: when a Keras
upgrade renames or reshapes an internal, the test fails with "Keras internal
X changed" instead of a caller failing somewhere deep. The scan tests walk
kerasdl/ and fail when a module other than `_keras_compat.py` reads a
private Keras attribute or imports `keras.src`, or when a module other than
`_backend.py` asks for or compares the backend name.
"""

import ast
import inspect
import os
import pathlib

import keras
import numpy as np
import pytest

from kerasdl import _backend, _keras_compat

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerasdl"
COMPAT = PACKAGE / "_keras_compat.py"
BACKEND = PACKAGE / "_backend.py"
BACKEND_NAMES = {"tensorflow", "jax", "torch", "numpy", "openvino"}


def _changed(what: str, detail: str) -> str:
    return (
        f"Keras internal {what} changed (checked on Keras "
        f"{_keras_compat.CHECKED_KERAS}, running {keras.__version__}): {detail}. "
        "Update kerasdl/_keras_compat.py."
    )


def _block_model():
    """A functional model with a nested Sequential block (layers two deep)."""
    block = keras.Sequential(
        [keras.layers.Dense(4, name="inner_a"), keras.layers.Dense(4, name="inner_b")],
        name="block",
    )
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, name="stem")(inputs)
    outputs = keras.layers.Dense(2, name="head")(block(hidden))
    return keras.Model(inputs, outputs, name="outer")


# ------------------------------------------------------------ each internal
def test_flatten_layers_reaches_nested_layers_once():
    model = _block_model()
    try:
        names = [layer.name for layer in _keras_compat.flatten_layers(model)]
    except AttributeError as error:
        pytest.fail(_changed("Layer._flatten_layers", str(error)))
    expected = {"x", "stem", "block", "inner_a", "inner_b", "head"}
    assert expected <= set(names), _changed(
        "Layer._flatten_layers", f"walk gave {names}, expected each of {expected}"
    )
    assert len(names) == len(set(names)), _changed(
        "Layer._flatten_layers", f"a layer came twice: {names}"
    )
    with_self = _keras_compat.flatten_layers(model, include_self=True)
    assert with_self[0] is model, _changed(
        "Layer._flatten_layers", "include_self=True no longer puts the model first"
    )
    shallow = {
        layer.name for layer in _keras_compat.flatten_layers(model, recursive=False)
    }
    assert shallow == {"x", "stem", "block", "head"}, _changed(
        "Layer._flatten_layers", f"recursive=False walked {shallow}"
    )
    assert _keras_compat.sublayers(model.get_layer("head")) == []
    inner = {la.name for la in _keras_compat.sublayers(model.get_layer("block"))}
    assert {"inner_a", "inner_b"} <= inner, _changed(
        "Layer._flatten_layers", f"a Sequential's sublayers are {inner}"
    )


def test_is_functional_tells_graph_models_from_subclassed():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    try:
        assert _keras_compat.is_functional(_block_model())
    except ImportError as error:
        pytest.fail(_changed("keras.src.models.functional.Functional", str(error)))
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    # Sequential wraps a functional graph but is not one itself: callers
    # test keras.Sequential first.
    assert not _keras_compat.is_functional(sequential)
    assert not _keras_compat.is_functional(Subclassed())
    assert not _keras_compat.is_functional(keras.layers.Dense(2))


def test_initial_epoch_is_what_fit_starts_from():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    _keras_compat.set_initial_epoch(model, 2)
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.epoch == [2], _changed(
        "Model._initial_epoch", f"fit ran epochs {history.epoch}, expected [2]"
    )
    _keras_compat.reset_initial_epoch(model)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert history.epoch == [0, 1], _changed(
        "Model._initial_epoch", f"after reset fit ran {history.epoch}"
    )


def test_checkpoint_save_model_writes_through_keras(tmp_path):
    params = list(
        inspect.signature(keras.callbacks.ModelCheckpoint._save_model).parameters
    )
    assert params == ["self", "epoch", "batch", "logs"], _changed(
        "ModelCheckpoint._save_model", f"signature is now {params}"
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = str(tmp_path / "m.keras")
    callback = keras.callbacks.ModelCheckpoint(path)
    callback.set_model(model)
    _keras_compat.checkpoint_save_model(callback, 0, None, {"loss": 1.0})
    assert os.path.isfile(path), _changed(
        "ModelCheckpoint._save_model", "it wrote no file"
    )


def test_backup_and_restore_hooks_kerasdl_overrides():
    # training.callbacks.ResumableBackup overrides these BackupAndRestore
    # internals (its `_save_model()` hook and the `_current_epoch` it reads).
    params = list(
        inspect.signature(keras.callbacks.BackupAndRestore._save_model).parameters
    )
    assert params == ["self"], _changed(
        "BackupAndRestore._save_model", f"signature is now {params}"
    )
    source = inspect.getsource(keras.callbacks.BackupAndRestore)
    assert "self._current_epoch" in source, _changed(
        "BackupAndRestore._current_epoch", "the attribute is gone"
    )


def test_retrack_torch_variables_registers_new_variables():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.get_layer("d").enable_lora(2)
    if _backend.name() != _backend.TORCH:
        return  # only the torch backend keeps a parameter registry to update
    try:
        _keras_compat.retrack_torch_variables(model)
    except AttributeError as error:
        pytest.fail(_changed("TorchLayer._track_variables", str(error)))
    params = {id(p) for p in model.parameters()}
    lora = [model.get_layer("d").lora_kernel_a, model.get_layer("d").lora_kernel_b]
    assert all(id(v.value) in params for v in lora), _changed(
        "TorchLayer._track_variables", "LoRA variables are not torch parameters"
    )


def test_patch_multi_worker_replaces_the_build_hook():
    if _backend.name() != _backend.TENSORFLOW:
        pytest.skip("multi-worker training runs on the TensorFlow backend")
    for name in ("_maybe_symbolic_build", "_symbolic_build"):
        assert hasattr(keras.Model, name), _changed(f"Trainer.{name}", "it is gone")
    params = list(inspect.signature(keras.Model._maybe_symbolic_build).parameters)
    assert params[:3] == ["self", "iterator", "data_batch"], _changed(
        "Trainer._maybe_symbolic_build", f"signature is now {params}"
    )
    import tensorflow as tf

    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
    _keras_compat.patch_multi_worker(model)
    _keras_compat.patch_multi_worker(model)  # idempotent
    logs = model.train_step((np.ones((2, 2), "float32"), np.ones((2, 1), "float32")))
    assert all(keras.ops.shape(v) == (1,) for v in logs.values()), logs


def test_disable_per_channel_sets_the_converter_switch():
    if _backend.name() != _backend.TENSORFLOW:
        pytest.skip("the TFLite converter runs on the TensorFlow backend")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: x * 2.0).get_concrete_function(tf.TensorSpec([1]))]
    )
    _keras_compat.disable_per_channel(converter)
    assert converter._experimental_disable_per_channel is True


@pytest.mark.one_backend
def test_collect_between_onnx_passes_wraps_the_tf2onnx_passes():
    import gc

    optimizer = pytest.importorskip("tf2onnx.optimizer")
    registry = getattr(optimizer, "_optimizers", None)
    assert isinstance(registry, dict) and registry, (
        "tf2onnx internal tf2onnx.optimizer._optimizers changed (checked on "
        "tf2onnx 1.17): ONNX export keeps every pass's graph copy until a full "
        "garbage collection. Update kerasdl/_keras_compat.py."
    )
    with _keras_compat.collect_between_onnx_passes():
        wrapped = optimizer._optimizers
        assert list(wrapped) == list(registry)
        assert all(issubclass(wrapped[n], registry[n]) for n in registry)
        assert all(wrapped[n] is not registry[n] for n in registry)
        assert gc.get_freeze_count() > 0
    assert optimizer._optimizers is registry
    assert gc.get_freeze_count() == 0


def test_public_config_still_carries_the_graph_to_spec_reads():
    # kerasdl.to_spec and precision read the functional graph from the
    # public get_config(); pin the keys and the tensor history triples.
    config = _block_model().get_config()
    assert {"layers", "input_layers", "output_layers"} <= set(config)
    head = next(e for e in config["layers"] if e["name"] == "head")
    (node,) = head["inbound_nodes"]
    (tensor,) = node["args"]
    assert tensor["class_name"] == "__keras_tensor__"
    assert list(tensor["config"]["keras_history"]) == ["block", 0, 0]
    assert list(config["output_layers"]) == ["head", 0, 0]


# ------------------------------------------------------------ scans
def _keras_private_names() -> set[str]:
    """Single-underscore attribute names that Keras objects carry."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile("adam", "mse")
    objects = [
        model,
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
        model.layers[1],
        model.layers[0],
        inputs,
        keras.Variable(1.0),
        keras.optimizers.Adam(),
        keras.losses.MeanSquaredError(),
        keras.metrics.Mean(),
        keras.layers.LSTM(2),
        keras.layers.Wrapper(keras.layers.Dense(2)),
        keras.callbacks.ModelCheckpoint("unused.keras"),
        keras.callbacks.BackupAndRestore("unused_backup"),
        keras.callbacks.EarlyStopping(),
        keras.StatelessScope(),
    ]
    names = set()
    for obj in objects:
        for source in (obj, type(obj)):
            names.update(dir(source))
            names.update(getattr(source, "__dict__", {}))
    names.update({"_inputs_struct", "_keras_history", "_inbound_nodes", "_nodes"})
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _modules(skip: pathlib.Path):
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != skip:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _private_keras_uses(tree, private: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if "keras.src" in a.name
            ]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").startswith("keras.src"):
                found.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("keras.src"):
                found.append((node.lineno, repr(node.value)))
        elif isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue  # a class's own attribute (kerasdl's or an override)
            found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
            and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


def _backend_branches(tree) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func.endswith(("backend.backend", "config.backend")) or func in (
                "backend",
            ):
                found.append((node.lineno, f"{func}()"))
            if (
                func in ("os.environ.get", "os.getenv")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "KERAS_BACKEND"
            ):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Subscript):
            if ast.unparse(node) == "os.environ['KERAS_BACKEND']" and isinstance(
                node.ctx, ast.Load
            ):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Compare):
            constants = [
                c.value
                for c in ast.walk(node)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            ]
            text = ast.unparse(node)
            if set(constants) & BACKEND_NAMES and "backend" in text.lower():
                found.append((node.lineno, text))
    return found


def test_only_keras_compat_reads_keras_internals():
    private = _keras_private_names()
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path, tree in _modules(skip=COMPAT)
        for line, text in _private_keras_uses(tree, private)
    ]
    assert not offenders, (
        "Private Keras attributes / keras.src outside kerasdl/_keras_compat.py "
        "(add a named, pinned function there instead):\n" + "\n".join(offenders)
    )


def test_only_backend_module_branches_on_the_backend():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path, tree in _modules(skip=BACKEND)
        for line, text in _backend_branches(tree)
    ]
    assert not offenders, (
        "Backend-name checks outside kerasdl/_backend.py (add a function "
        "there, or use _backend.name() for reporting):\n" + "\n".join(offenders)
    )


def test_scans_catch_what_they_are_meant_to():
    private = _keras_private_names()
    bad = ast.parse(
        "from keras.src.models import functional\n"
        "x = model._inputs_struct\n"
        "y = tensor._keras_history\n"
        "z = getattr(t, '_keras_history', None)\n"
        "w = self._inputs_struct\n"  # a class's own attribute: allowed
        "v = helper._kerasdl_private\n"  # kerasdl's own: allowed
    )
    assert [line for line, _ in _private_keras_uses(bad, private)] == [1, 2, 3, 4]
    branches = ast.parse(
        "a = keras.backend.backend()\n"
        "if backend == 'torch': pass\n"
        "if os.environ.get('KERAS_BACKEND') == 'jax': pass\n"
        "if _backend.name() != 'tensorflow': pass\n"
        "if mode == 'torch_like': pass\n"  # not a backend name
        "env = dict(os.environ, KERAS_BACKEND='tensorflow')\n"  # setting: fine
    )
    assert sorted({line for line, _ in _backend_branches(branches)}) == [1, 2, 3, 4]
