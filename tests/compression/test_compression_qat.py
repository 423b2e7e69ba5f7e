"""Quantization-aware training: graph rewrite, int8 grid, training on the
current backend, .keras round trip, int8 TFLite export and accuracy."""

import os

import keras
import numpy as np
import pytest

from kerasdl.compression.qat import (
    QuantConv2D,
    QuantDense,
    QuantDepthwiseConv2D,
    QuantizeLayer,
    activation_ranges,
    quantize_model,
    supported_layer_types,
)
from kerasdl.compression.qat_layers import fake_quant_kernel

L = keras.layers


def conv_bn_net(input_shape=(8, 8, 1), classes=4, width=4):
    inputs = keras.Input(input_shape, name="image")
    x = L.Conv2D(width, 3, padding="same", name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Conv2D(width, 3, activation="relu", name="conv2")(x)
    x = L.Flatten(name="flat")(x)
    outputs = L.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="conv_bn_net")


def data(n=32, shape=(8, 8, 1), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(0, 1, (n, *shape)).astype("float32"),
        rng.integers(0, classes, n),
    )


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def nudged(low, high, num_bits=8):
    """TF's FakeQuantWithMinMaxVars parameters: (nudged min, scale)."""
    steps = 2**num_bits - 1
    scale = (high - low) / steps
    zero_point = np.round(np.clip(-low / scale, 0, steps))
    return -zero_point * scale, scale


@pytest.fixture(scope="module")
def fitted():
    """One short QAT fit shared by the tests below: (model, x, y, ranges and
    conv1 kernel before the fit)."""
    keras.utils.set_random_seed(1234)
    x, y = data(64)
    qat = quantize_model(conv_bn_net())
    before = (activation_ranges(qat), numpy(qat.get_layer("conv1").kernel).copy())
    qat.compile(
        keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(True)
    )
    qat.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return qat, x, y, before


def test_rewrite_places_quantizers_like_tfmot():
    qat = quantize_model(conv_bn_net())
    kinds = {layer.name: type(layer) for layer in qat.layers}
    assert kinds["conv1"] is QuantConv2D
    assert kinds["dw"] is QuantDepthwiseConv2D
    assert kinds["logits"] is QuantDense
    quantizers = [
        layer.name for layer in qat.layers if isinstance(layer, QuantizeLayer)
    ]
    # Input, after the fused conv1+bn1+relu1, dw (relu inside), conv2, logits;
    # none between conv1/bn1/relu1, none after pool/flat (pass-through).
    assert sorted(quantizers) == sorted(
        ["image_quant", "relu1_quant", "dw_quant", "conv2_quant", "logits_quant"]
    )
    assert qat.get_layer("image_quant").mode == "all_values"
    assert qat.get_layer("relu1_quant").mode == "moving_average"
    # bn1 reads conv1 directly; relu1 reads bn1 directly.
    assert qat.get_layer("bn1").input._keras_history.operation.name == "conv1"
    assert qat.get_layer("relu1").input._keras_history.operation.name == "bn1"
    assert qat.get_layer("pool").input._keras_history.operation.name == "dw_quant"
    assert (
        qat.get_layer("conv1").per_channel and not qat.get_layer("logits").per_channel
    )


def test_weights_copied_and_kernels_on_int8_grid():
    model = conv_bn_net()
    qat = quantize_model(model)
    np.testing.assert_array_equal(
        numpy(qat.get_layer("conv1").kernel), numpy(model.get_layer("conv1").kernel)
    )
    # Conv: one symmetric scale per output channel, integers in [-127, 127].
    kernel = numpy(model.get_layer("conv1").kernel)
    fq = numpy(qat.get_layer("conv1").quantized_kernel())
    scale = np.abs(kernel).max(axis=(0, 1, 2)) / 127
    q = fq / scale
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    assert np.abs(np.round(q)).max() == 127
    np.testing.assert_allclose(np.abs(np.round(q)).max(axis=(0, 1, 2)), 127)
    assert np.abs(fq - kernel).max() <= scale.max() / 2 + 1e-6
    # Depthwise (multiplier 1): one scale per channel (axis 2).
    dw = numpy(model.get_layer("dw").kernel)
    dw_scale = np.abs(dw).max(axis=(0, 1, 3)) / 127
    q = numpy(qat.get_layer("dw").quantized_kernel()) / dw_scale[:, None]
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    # Dense: one scale per tensor (the TFLite converter rejects per-axis
    # fully connected weights from QAT graphs).
    dense = numpy(model.get_layer("logits").kernel)
    q = numpy(qat.get_layer("logits").quantized_kernel()) / (np.abs(dense).max() / 127)
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    # A zero kernel channel stays finite (zero).
    zero = fake_quant_kernel(keras.ops.zeros((3, 2)))
    assert np.all(numpy(zero) == 0)


def test_fit_changes_weights_and_ranges_then_inference_freezes_them(fitted):
    qat, x, _, (before, kernel) = fitted
    assert before["image_quant"] == (0.0, 0.0)
    assert before["relu1_quant"] == (-6.0, 6.0)
    after = activation_ranges(qat)
    assert np.abs(numpy(qat.get_layer("conv1").kernel) - kernel).max() > 1e-4
    # Input range: min/max of everything seen (inputs are in [0, 1)).
    low, high = after["image_quant"]
    assert low == 0.0 and 0.95 < high <= x.max() + 1e-6
    # EMA of batch ranges (0 included) from [-6, 6] with decay 0.999: after
    # 4 steps min = -6 * 0.999**4 exactly, since relu outputs are >= 0.
    np.testing.assert_allclose(after["relu1_quant"][0], -6 * 0.999**4, rtol=1e-5)
    assert after["relu1_quant"][1] < 6.0
    qat.predict(x, verbose=0)
    qat(x, training=False)
    assert activation_ranges(qat) == after


def test_outputs_lie_on_the_int8_grid_of_their_range(fitted):
    qat, x, _, _ = fitted
    out = numpy(qat(x, training=False))
    low, high = activation_ranges(qat)["logits_quant"]
    nudged_min, scale = nudged(low, high)
    q = (out - nudged_min) / scale
    np.testing.assert_allclose(q, np.round(q), atol=2e-3)
    assert q.min() >= -1e-3 and q.max() <= 255 + 1e-3
    assert len(np.unique(np.round(q))) > 3
    # An intermediate activation too.
    probe = keras.Model(qat.input, qat.get_layer("relu1_quant").output)
    act = numpy(probe(x, training=False))
    low, high = activation_ranges(qat)["relu1_quant"]
    nudged_min, scale = nudged(low, high)
    q = (act - nudged_min) / scale
    np.testing.assert_allclose(q, np.round(q), atol=2e-3)


def _gradient(fn, x):
    """d sum(fn(x)) / dx on the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    import torch

    x = torch.tensor(x, requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


def test_straight_through_gradients():
    layer = QuantizeLayer()
    layer.build((4,))
    layer.range_min.assign(-1.0)
    layer.range_max.assign(1.0)
    x = np.array([-2.0, -0.5, 0.3, 2.0], "float32")
    grad = _gradient(lambda v: layer(v, training=False), x)
    np.testing.assert_array_equal(grad, [0.0, 1.0, 1.0, 0.0])
    w = np.array([[0.5, -0.2], [0.01, 0.3]], "float32")
    np.testing.assert_array_equal(_gradient(fake_quant_kernel, w), np.ones_like(w))


def test_keras_round_trip(fitted, tmp_path):
    qat, x, _, _ = fitted
    path = str(tmp_path / "qat.keras")
    qat.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("conv1"), QuantConv2D)
    assert activation_ranges(loaded) == activation_ranges(qat)
    np.testing.assert_allclose(
        numpy(loaded(x, training=False)), numpy(qat(x, training=False)), atol=1e-6
    )
    config = loaded.get_layer("dw").get_config()
    assert config["per_channel"] is True and config["ema_decay"] == 0.999


def test_softmax_is_quantized_before_the_activation_and_sequential_works():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(5, activation="relu", name="hidden"),
            L.Dense(3, activation="softmax", name="probs"),
        ]
    )
    qat = quantize_model(model)
    names = [layer.name for layer in qat.layers]
    assert "hidden_quant" in names and "probs_quant" not in names
    ranges = activation_ranges(qat)
    assert "probs/pre_activation" in ranges
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    qat(x, training=True)
    assert (
        ranges["probs/pre_activation"] != activation_ranges(qat)["probs/pre_activation"]
    )
    np.testing.assert_allclose(numpy(qat(x)).sum(axis=1), 1.0, rtol=1e-5)


def test_layers_selects_by_name_and_type():
    model = conv_bn_net()
    qat = quantize_model(model, layers=["conv2"])
    assert isinstance(qat.get_layer("conv2"), QuantConv2D)
    assert type(qat.get_layer("conv1")) is L.Conv2D
    assert type(qat.get_layer("logits")) is L.Dense
    quantizers = sorted(
        layer.name for layer in qat.layers if isinstance(layer, QuantizeLayer)
    )
    # conv2's input (from the float pool) and its output are quantized.
    assert quantizers == ["conv2_quant", "pool_quant"]
    qat = quantize_model(model, layers=[L.Dense, "DepthwiseConv2D"])
    assert isinstance(qat.get_layer("logits"), QuantDense)
    assert isinstance(qat.get_layer("dw"), QuantDepthwiseConv2D)
    assert type(qat.get_layer("conv2")) is L.Conv2D


def test_bad_requests_raise_value_errors():
    inputs = keras.Input((6,), name="features")
    x = L.Dense(4, name="dense")(inputs)
    x = L.LayerNormalization(name="norm")(x)
    model = keras.Model(inputs, L.Dense(2, name="head")(x))
    with pytest.raises(
        ValueError, match=r"'norm' \(LayerNormalization.*Supported types: .*Conv2D"
    ):
        quantize_model(model, layers=["norm"])
    with pytest.raises(ValueError, match="LayerNormalization"):
        quantize_model(model, layers=[L.LayerNormalization])
    with pytest.raises(ValueError, match="'nope' is neither a layer name"):
        quantize_model(model, layers=["nope"])
    with pytest.raises(ValueError, match="already quantization-aware"):
        quantize_model(quantize_model(model, layers=["dense"]))
    model.get_layer("head").enable_lora(2)
    with pytest.raises(ValueError, match="'head'.*LoRA enabled"):
        quantize_model(model, layers=["dense"])
    with pytest.raises(ValueError, match="Functional or Sequential"):
        quantize_model(L.Dense(3))
    assert {"Conv2D", "Dense", "DepthwiseConv2D", "ReLU"} <= set(
        supported_layer_types()
    )


def test_export_int8_tflite_uses_the_trained_ranges(fitted, tmp_path):
    """QAT model -> full-integer TFLite (in-process on TensorFlow, in a
    TensorFlow subprocess on JAX/torch): int8 kernels, builtin ops, the
    Keras ranges as the file's scales, outputs within one int8 step."""
    from ai_edge_litert.interpreter import Interpreter

    from kerasdl.exporters import export

    qat, x, _, _ = fitted
    manifest = export(
        qat, tmp_path / "qat", formats=["tflite_int8"], representative_data=x
    )
    entry = manifest["files"]["tflite_int8"]
    path = os.path.join(tmp_path, "qat", entry["path"])
    interpreter = Interpreter(model_path=path)
    ops = {d["op_name"] for d in interpreter._get_ops_details()}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= ops
    assert not any("FLEX" in op or "CUSTOM" in op for op in ops)
    assert "MUL" not in ops and "ADD" not in ops  # batch norm folded
    tensors = interpreter.get_tensor_details()
    int8 = [t for t in tensors if t["dtype"] == np.int8]
    assert not [
        t for t in tensors if t["dtype"] == np.float32 and t["name"].count("/") > 1
    ]
    # The quantized input's scale is the trained input range / 255.
    low, high = activation_ranges(qat)["image_quant"]
    scales = [float(t["quantization_parameters"]["scales"][0]) for t in int8]
    assert any(abs(s - (high - low) / 255) < 1e-6 for s in scales)
    # Per-channel conv weights: one scale per output channel.
    assert any(len(t["quantization_parameters"]["scales"]) == 4 for t in int8)
    _, out_scale = nudged(*activation_ranges(qat)["logits_quant"])
    check = entry["verification"]
    assert check["passed"] and check["class_agreement"] >= 0.95
    assert check["max_abs_error"] <= 2.5 * out_scale


def _digits_net():
    inputs = keras.Input((8, 8, 1), name="image")
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.Conv2D(32, 3, padding="same", use_bias=False, name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Conv2D(32, 3, activation="relu", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="digits_qat")


@pytest.mark.slow
def test_digits_int8_tflite_keeps_qat_accuracy(tmp_path):
    """Float -> QAT fine-tune -> int8 TFLite on sklearn digits: the int8 file
    loses at most 0.5 points against the QAT Keras model on held-out data."""
    from sklearn.datasets import load_digits

    from kerasdl.exporters import export
    from kerasdl.exporters.tflite import run_tflite

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]

    def accuracy(probs):
        return float(np.mean(np.argmax(probs, axis=1) == y_test))

    model = _digits_net()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    float_acc = accuracy(model.predict(x_test, verbose=0))

    qat = quantize_model(model)
    qat.compile(keras.optimizers.Adam(5e-4), "sparse_categorical_crossentropy")
    qat.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)
    qat_acc = accuracy(qat.predict(x_test, verbose=0))

    float_dir, qat_dir = tmp_path / "float", tmp_path / "qat"
    float_manifest = export(model, float_dir, formats=["tflite"])
    manifest = export(
        qat, qat_dir, formats=["tflite_int8"], representative_data=x_train[:300]
    )
    path = os.path.join(qat_dir, manifest["files"]["tflite_int8"]["path"])
    (probs,) = run_tflite(path, [x_test], ["image"])
    int8_acc = accuracy(probs)
    sizes = (
        float_manifest["files"]["tflite"]["bytes"],
        manifest["files"]["tflite_int8"]["bytes"],
    )
    print(
        f"digits: float {float_acc:.4f}, QAT {qat_acc:.4f}, int8 TFLite "
        f"{int8_acc:.4f}; float32 .tflite {sizes[0]} B, int8 .tflite {sizes[1]} B"
    )
    assert float_acc >= 0.95
    assert qat_acc >= float_acc - 0.02
    assert int8_acc >= qat_acc - 0.005
    assert sizes[1] < sizes[0] / 2.5


def test_fitting_the_qat_model_leaves_the_float_model_usable():
    # The weights are copied, not shared: on JAX, fit donates the QAT
    # model's buffers, which once deleted the float model's arrays.
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    before = model.predict(x, verbose=0)
    qat = quantize_model(model)
    qat.compile("adam", "mse")
    qat.fit(x, np.ones((8, 3), "float32"), epochs=2, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), before, atol=1e-6)
