"""Post-training quantization: accuracy kept, bytes saved, the caller's model
untouched, GPTQ calibrated for a plain MLP, clear errors."""

import contextlib

import keras
import numpy as np
import pytest

from kerasdl.compression import ptq
from kerasdl.compression.ptq import PTQ_MODES, param_bytes, quantize


@pytest.fixture(scope="module")
def digits_mlp():
    """An MLP trained briefly on sklearn digits, and a held-out split."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    features = (features / 16.0).astype("float32")
    perm = np.random.default_rng(0).permutation(len(features))
    features, labels = features[perm], labels[perm]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu", name="h1")(inputs)
    h = keras.layers.Dense(32, activation="relu", name="h2")(h)
    model = keras.Model(
        inputs, keras.layers.Dense(10, activation="softmax", name="out")(h)
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(features[:1400], labels[:1400], epochs=8, batch_size=64, verbose=0)
    return model, (features[:1400], labels[:1400]), (features[1400:], labels[1400:])


def test_int8_keeps_accuracy_and_shrinks_bytes(digits_mlp):
    model, _, test = digits_mlp
    weights = [w.copy() for w in model.get_weights()]
    quantized, metrics = quantize(model, "int8", evaluation_data=test)
    assert metrics["accuracy_before"] > 0.9
    assert abs(metrics["accuracy_after"] - metrics["accuracy_before"]) <= 0.01
    assert abs(metrics["loss_after"] - metrics["loss_before"]) < 0.02
    assert 0 < metrics["max_abs_output_diff"] < 0.05
    # float32 kernels -> int8 + one float32 scale per output channel.
    kernels = 64 * 64 + 64 * 32 + 32 * 10
    channels = 64 + 32 + 10
    assert metrics["param_bytes_before"] == 4 * (kernels + channels)
    assert metrics["param_bytes_after"] == kernels + 4 * channels + 4 * channels
    assert metrics["compression_ratio"] > 3.5
    assert metrics["quantized_layers"] == ["h1", "h2", "out"]
    assert quantized.get_layer("h1").quantization_mode == "int8"
    # The caller's model is untouched.
    assert model.get_layer("h1").quantization_mode is None
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_int4_float8_and_layer_choice(digits_mlp):
    model, _, test = digits_mlp
    _, int4 = quantize(model, "int4", evaluation_data=test, block_size=-1)
    assert int4["param_bytes_after"] < 0.2 * int4["param_bytes_before"]
    assert int4["accuracy_after"] >= int4["accuracy_before"] - 0.05
    only, partial = quantize(model, "int8", layers=["h1"])
    assert partial["quantized_layers"] == ["h1"]
    assert only.get_layer("h2").quantization_mode is None
    # h1: 4096 float32 -> 4096 int8 + 64 float32 scales.
    assert partial["param_bytes_after"] == param_bytes(model) - 3 * 64 * 64 + 4 * 64
    # Keras' float8 keeps float32 kernels (fp8 compute with scaling state):
    # no storage saving, reported as such.
    _, fp8 = quantize(model, "float8", evaluation_data=test)
    assert fp8["param_bytes_after"] > fp8["param_bytes_before"]
    assert abs(fp8["accuracy_after"] - fp8["accuracy_before"]) <= 0.03


@pytest.mark.slow  # Keras' GPTQ loops column by column in eager ops (minutes on JAX)
def test_gptq_uses_the_calibration_hessian(digits_mlp, monkeypatch):
    model, train, test = digits_mlp
    calib = train[0][:128]
    options = {"calibration_data": calib, "weight_bits": 4, "group_size": -1}
    quantized, metrics = quantize(model, "gptq", evaluation_data=test, **options)
    assert quantized.get_layer("h1").quantization_mode == "gptq"
    assert metrics["param_bytes_after"] < 0.3 * metrics["param_bytes_before"]
    assert metrics["accuracy_after"] >= metrics["accuracy_before"] - 0.02

    def first_layer_error(q):
        reference = keras.ops.convert_to_numpy(model.get_layer("h1")(calib))
        return np.mean(
            (keras.ops.convert_to_numpy(q.get_layer("h1")(calib)) - reference) ** 2
        )

    # Keras' own path (its hooks on layer.call never fire for a quantized
    # layer) leaves the Hessian empty, i.e. plain rounding. GPTQ minimizes
    # exactly this layer-output error on the calibration data: it must win.
    monkeypatch.setattr(
        ptq, "_hessian_capture", lambda layers: contextlib.nullcontext()
    )
    rounded, _ = quantize(model, "gptq", **options)
    assert first_layer_error(quantized) < 0.7 * first_layer_error(rounded)
    # The quantized model keeps no calibration data in its config.
    restored = keras.Model.from_config(quantized.get_config())
    assert restored.get_layer("h1").quantization_mode == "gptq"


def test_errors_name_the_accepted_values(digits_mlp):
    model, _, _ = digits_mlp
    with pytest.raises(
        ValueError, match=r"mode='int16'.*'int8', 'int4', 'float8', 'gptq'"
    ):
        quantize(model, "int16")
    assert PTQ_MODES == ("int8", "int4", "float8", "gptq")
    with pytest.raises(
        ValueError, match=r"Unknown options for mode='int8': \['block_size'\]"
    ):
        quantize(model, "int8", block_size=64)
    with pytest.raises(ValueError, match=r"'h3'.*h1"):
        quantize(model, "int8", layers=["h3"])
    with pytest.raises(ValueError, match=r"GPTQ cannot calibrate.*no calibration_data"):
        quantize(model, "gptq")
    with pytest.raises(ValueError, match=r"calibration_data of shape \(4, 3\)"):
        quantize(model, "gptq", calibration_data=np.zeros((4, 3)))
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3)(inputs)
    conv = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    with pytest.raises(ValueError, match=r"GPTQ cannot calibrate.*\(batch, features\)"):
        quantize(conv, "gptq", calibration_data=np.zeros((4, 8, 8, 1)))
    with pytest.raises(
        ValueError, match=r"'conv2d.*' of type Conv2D cannot be quantized"
    ):
        quantize(conv, "int8", layers=[conv.layers[1].name])
