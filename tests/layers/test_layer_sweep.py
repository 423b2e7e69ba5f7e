"""The layer sweep: every public kerasdl layer through one set of checks.

Like Keras' `run_layer_test`, for each layer registered under package
"kerasdl" (a `keras.layers.Layer` that is not a `keras.Model`), on the
backend of this run:

- config round trip: `from_config(get_config())` gives the same config;
- `.keras` round trip inside a tiny model gives the same outputs;
- output shapes: the symbolic outputs (`compute_output_spec`) and, where the
  layer defines it, `compute_output_shape` match the eager outputs;
- a training step changes every trainable weight.

The layers are enumerated from Keras' registry after importing every kerasdl
module, so a layer registered later is swept without a new test; its tiny
example goes into `tests/layers/layer_examples.py`, and the sweep fails for a
registered layer that has none.
"""

from __future__ import annotations

import importlib
import pkgutil

import keras
import numpy as np
import pytest
from keras import ops
from layer_examples import EXAMPLES

import kerasdl
from kerasdl.training.callbacks import requested_callbacks

BATCH = 2
PREFIX = "kerasdl>"


def _public_layers() -> dict[str, type]:
    """Registered name (without "kerasdl>") -> class, for every kerasdl layer."""
    for module in pkgutil.walk_packages(kerasdl.__path__, "kerasdl."):
        if module.name.rpartition(".")[2] != "__main__":  # runs the CLI
            importlib.import_module(module.name)
    return {
        key[len(PREFIX) :]: obj
        for key, obj in keras.saving.get_custom_objects().items()
        if key.startswith(PREFIX)
        and isinstance(obj, type)
        and issubclass(obj, keras.layers.Layer)
        and not issubclass(obj, keras.Model)
    }


LAYERS = _public_layers()
NAMES = sorted(LAYERS)


def _example(name):
    if name not in EXAMPLES:
        pytest.fail(
            f"Layer {name!r} ({LAYERS[name].__module__}) is registered under "
            "package 'kerasdl' but has no example: add a tiny LayerExample for "
            "it to EXAMPLES in tests/layers/layer_examples.py."
        )
    example = EXAMPLES[name]
    layer = example.make()
    assert type(layer) is LAYERS[name], (
        f"EXAMPLES[{name!r}].make() built a {type(layer).__name__}, not {name}."
    )
    return example, layer


def _arrays(example, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in example.inputs:
        shape = (BATCH, *spec.shape)
        if "int" in spec.dtype:
            arrays.append(rng.integers(spec.low, spec.high, shape).astype(spec.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(spec.dtype))
    return arrays


def _call(example, layer, inputs):
    if example.call is None:
        return layer(*inputs)
    if example.call == "list":
        return layer(list(inputs))
    return example.call(layer, list(inputs))


def _model(example, layer):
    inputs = [keras.Input(spec.shape, dtype=spec.dtype) for spec in example.inputs]
    return keras.Model(inputs, _call(example, layer, inputs))


def _numpy(structure):
    return [ops.convert_to_numpy(t) for t in keras.tree.flatten(structure)]


def _float(array) -> bool:
    return np.issubdtype(array.dtype, np.floating)


class _Score(keras.layers.Layer):
    """A fixed random projection of every float output to one number.

    Broadcast to (batch, 1), so that `fit` with an MSE loss against zeros
    sends a gradient into every output, whatever its shape.
    """

    def __init__(self, coefficients, **kwargs):
        super().__init__(**kwargs)
        self.coefficients = coefficients

    def call(self, outputs, first_input):
        total = 0.0
        for out, c in zip(outputs, self.coefficients):
            if c is not None:
                c = ops.convert_to_tensor(c)
                total = total + ops.mean(ops.cast(out, "float32") * c)
        ones = ops.ones((ops.shape(first_input)[0], 1), "float32")
        return ones * total

    def compute_output_shape(self, outputs_shape, first_input_shape):
        return (first_input_shape[0], 1)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_layer_has_an_example(name):
    _example(name)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_names_a_registered_layer(name):
    assert name in LAYERS, (
        f"EXAMPLES has {name!r}, which is not a layer registered under "
        f"package 'kerasdl'. Registered: {NAMES}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    _, layer = _example(name)
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    # The same through Keras' serialization (registered name and all).
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is type(layer)
    assert again.get_config() == config


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_round_trip_gives_the_same_outputs(name, tmp_path):
    example, layer = _example(name)
    model = _model(example, layer)
    x = _arrays(example)
    expected = _numpy(model(x, training=False))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    got = _numpy(loaded(x, training=False))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _assert_shape(what, declared, actual):
    declared = tuple(declared)
    assert len(declared) == len(actual) and all(
        d is None or d == a for d, a in zip(declared, actual)
    ), f"{what} {declared} but the layer returned {tuple(actual)}"


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_match_the_eager_outputs(name):
    example, layer = _example(name)
    model = _model(example, layer)
    eager = _numpy(model(_arrays(example), training=False))
    symbolic = keras.tree.flatten(model.outputs)
    assert len(symbolic) == len(eager)
    for spec, out in zip(symbolic, eager):
        _assert_shape("the symbolic output has shape", spec.shape, out.shape)
    if callable(example.call):
        return  # fed through another layer: its own shapes are not the inputs'
    shapes = [(BATCH, *spec.shape) for spec in example.inputs]
    if type(layer).compute_output_shape is keras.layers.Layer.compute_output_shape:
        return
    declared = (
        layer.compute_output_shape(shapes)
        if example.call == "list"
        else layer.compute_output_shape(*shapes)
    )
    if len(eager) == 1:
        declared = [declared]
    for shape, out in zip(declared, eager):
        _assert_shape("compute_output_shape says", shape, out.shape)


@pytest.mark.parametrize("name", NAMES)
def test_a_training_step_changes_the_trainable_weights(name):
    example, layer = _example(name)
    model = _model(example, layer)
    if not layer.trainable_weights:
        pytest.skip(f"{name} has no trainable weights")
    x = _arrays(example)
    outputs = _numpy(model(x, training=False))
    rng = np.random.default_rng(1)
    coefficients = [
        # One coefficient per element of a sample: broadcasts over the batch
        # axis, which is symbolic (None) while the model is traced.
        rng.standard_normal(out.shape[1:]).astype("float32") if _float(out) else None
        for out in outputs
    ]
    score = _Score(coefficients)(keras.tree.flatten(model.outputs), model.inputs[0])
    trainer = keras.Model(model.inputs, score)
    # Eager steps: compiling a one-step fit costs more than it saves here.
    trainer.compile(keras.optimizers.SGD(0.5), "mse", run_eagerly=True)
    before = {w.path: ops.convert_to_numpy(w) for w in layer.trainable_weights}
    trainer.fit(
        x,
        np.ones((BATCH, 1), "float32"),
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        # A layer may need callbacks to train (pruning: UpdatePruningStep).
        callbacks=requested_callbacks(trainer),
    )
    unchanged = [
        w.path
        for w in layer.trainable_weights
        if np.array_equal(before[w.path], ops.convert_to_numpy(w))
        and not any(part in w.path for part in example.frozen)
    ]
    assert not unchanged, f"one training step left {unchanged} unchanged"


def test_a_layer_registered_later_is_swept_and_needs_an_example():
    @keras.saving.register_keras_serializable(package="kerasdl")
    class SweepProbeLayer(keras.layers.Layer):
        pass

    try:
        assert _public_layers()["SweepProbeLayer"] is SweepProbeLayer
        LAYERS["SweepProbeLayer"] = SweepProbeLayer
        with pytest.raises(pytest.fail.Exception, match="has no example"):
            _example("SweepProbeLayer")
    finally:
        LAYERS.pop("SweepProbeLayer", None)
        keras.saving.get_custom_objects().pop(f"{PREFIX}SweepProbeLayer", None)
