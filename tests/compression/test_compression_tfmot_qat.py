"""Parity of kerasdl's QAT with TFMOT's default 8-bit scheme.

TFMOT only accepts tf_keras models, so the reference runs once per module in a
subprocess (TF_USE_LEGACY_KERAS=1) that builds the same tiny models in
tf_keras with the same weights, applies `tfmot.quantization.keras.
quantize_model`, calibrates with a few training-mode passes on the same
batches and writes fake-quantized kernels, activation ranges and inference
outputs to an .npz file. The Keras 3 side runs on the current backend.

Run as a script (`python test_compression_tfmot_qat.py DIR`) this file is
that subprocess.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from tfmot_required import require_tfmot_reference

MODELS = ("dense", "conv", "conv_bn")


@pytest.fixture(autouse=True, scope="module")
def _reference_installed():
    # Missing TFMOT fails these tests (see tfmot_required.py), never skips them.
    # Module scope and autouse: checked before the reference fixture runs.
    require_tfmot_reference()


CALIBRATION_STEPS = 3

# kerasdl activation range -> TFMOT variable (without "_min"/"_max").
RANGES = {
    "dense": {
        "x_quant": "quantize_layer/quantize_layer",
        "d1_quant": "quant_d1/post_activation",
        "d2_quant": "quant_d2/post_activation",
        "out/pre_activation": "quant_out/pre_activation",
    },
    "conv": {
        "x_quant": "quantize_layer/quantize_layer",
        "conv_quant": "quant_conv/post_activation",
        "conv2_quant": "quant_conv2/post_activation",
        "out_quant": "quant_out/post_activation",
    },
    "conv_bn": {
        "x_quant": "quantize_layer/quantize_layer",
        "relu_quant": "quant_relu/output",
        "bn2_quant": "quant_bn2/output",
        "bn3_quant": "quant_bn3/output",
        "out/pre_activation": "quant_out/pre_activation",
    },
}
KERNELS = {
    "dense": ("d1", "d2", "out"),
    "conv": ("conv", "conv2", "out"),
    "conv_bn": ("conv", "conv2", "d3", "out"),
}


def build(kind, k):
    """The same tiny model in Keras 3 (`k` = keras) or tf_keras."""
    L = k.layers
    if kind == "dense":
        inputs = k.Input((6,), name="x")
        x = L.Dense(5, activation="relu", name="d1")(inputs)
        x = L.Dense(4, name="d2")(x)
        outputs = L.Dense(3, activation="softmax", name="out")(x)
    elif kind == "conv":
        inputs = k.Input((6, 6, 2), name="x")
        x = L.Conv2D(4, 3, activation="relu", name="conv")(inputs)
        x = L.Conv2D(3, 3, name="conv2")(x)
        x = L.Flatten(name="flat")(x)
        outputs = L.Dense(3, name="out")(x)
    else:
        inputs = k.Input((6, 6, 2), name="x")
        x = L.Conv2D(4, 3, name="conv")(inputs)
        x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU(name="relu")(x)
        x = L.Conv2D(3, 3, name="conv2")(x)
        x = L.BatchNormalization(name="bn2")(x)
        x = L.Flatten(name="flat")(x)
        x = L.Dense(5, name="d3")(x)
        # Dense -> BN without ReLU: TFMOT's transforms also quantize between
        # BN and a following ReLU here (its Dense+BN rule runs before its
        # Dense+BN+ReLU rule); kerasdl fuses them as it does for Conv2D.
        x = L.BatchNormalization(name="bn3")(x)
        outputs = L.Dense(3, activation="softmax", name="out")(x)
    return k.Model(inputs, outputs)


def make_inputs(kind):
    """Shared weights and batches: {layer/i: weight}, calibration, eval."""
    import keras

    rng = np.random.default_rng(7)
    model = build(kind, keras)
    weights = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            if "BatchNormalization" in type(layer).__name__ and i == 3:
                w = rng.uniform(0.5, 2.0, w.shape)  # moving variance > 0
            elif "BatchNormalization" in type(layer).__name__:
                w = rng.normal(0.2, 0.5, w.shape) + (1.0 if i == 0 else 0.0)
            else:
                w = rng.normal(0, 0.5, w.shape)
            weights[f"{layer.name}/{i}"] = w.astype("float32")
    shape = model.inputs[0].shape[1:]
    batches = rng.normal(0.3, 1.0, (CALIBRATION_STEPS, 8, *shape)).astype("float32")
    evaluation = rng.normal(0.3, 1.2, (16, *shape)).astype("float32")
    return weights, batches, evaluation


def set_weights(model, weights):
    for layer in model.layers:
        count = len(layer.get_weights())
        if count:
            layer.set_weights([weights[f"{layer.name}/{i}"] for i in range(count)])


def tfmot_reference(job_dir):
    """Subprocess side: TFMOT on tf_keras."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    results = {}
    for kind in MODELS:
        with np.load(os.path.join(job_dir, f"{kind}_inputs.npz")) as data:
            arrays = dict(data)
        weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w:")}
        tf_keras.backend.clear_session()  # same auto names for every model
        model = build(kind, tf_keras)
        set_weights(model, weights)
        qat = tfmot.quantization.keras.quantize_model(model)
        for batch in arrays["batches"]:
            qat(batch, training=True)
        results[f"{kind}:output"] = qat(arrays["evaluation"], training=False).numpy()
        for layer in qat.layers:
            inner = getattr(layer, "layer", layer)
            if isinstance(inner, tf_keras.layers.BatchNormalization):
                results[f"{kind}:bn:{inner.name}"] = np.stack(
                    [inner.moving_mean.numpy(), inner.moving_variance.numpy()]
                )
            names = {v.name.split(":")[0]: v for v in layer.weights}
            for name, var in names.items():
                if name.endswith(("_min", "_max")):
                    results[f"{kind}:range:{name}"] = var.numpy()
            if f"{layer.name}/kernel_min" in names:
                kernel = layer.layer.kernel
                low = names[f"{layer.name}/kernel_min"]
                high = names[f"{layer.name}/kernel_max"]
                if len(low.shape):
                    fq = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                        kernel, low, high, num_bits=8, narrow_range=True
                    )
                else:
                    fq = tf.quantization.fake_quant_with_min_max_vars(
                        kernel, low, high, num_bits=8, narrow_range=True
                    )
                results[f"{kind}:kernel:{layer.layer.name}"] = fq.numpy()
    np.savez(os.path.join(job_dir, "reference.npz"), **results)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    job_dir = str(tmp_path_factory.mktemp("tfmot"))
    inputs = {}
    for kind in MODELS:
        weights, batches, evaluation = make_inputs(kind)
        inputs[kind] = (weights, batches, evaluation)
        np.savez(
            os.path.join(job_dir, f"{kind}_inputs.npz"),
            batches=batches,
            evaluation=evaluation,
            **{f"w:{k}": v for k, v in weights.items()},
        )
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.run(
        [sys.executable, __file__, job_dir],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(os.path.join(job_dir, "reference.npz")) as data:
        return inputs, dict(data)


def _kerasdl_side(kind, inputs, reference):
    import keras

    from kerasdl.compression.qat import activation_ranges, quantize_model

    weights, batches, evaluation = inputs[kind]
    model = build(kind, keras)
    set_weights(model, weights)
    qat = quantize_model(model)
    for batch in batches:
        qat(batch, training=True)
    for layer in qat.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, variance = reference[f"{kind}:bn:{layer.name}"]
            # Equal up to float rounding (which can flip an int8 rounding
            # upstream on JAX/PyTorch)...
            np.testing.assert_allclose(
                np.asarray(keras.ops.convert_to_numpy(layer.moving_mean)),
                mean,
                atol=1e-3,
            )
            # ...but tf_keras' fused batch norm updates the moving variance
            # with the unbiased batch variance, Keras 3 with the biased one:
            # take TFMOT's statistics, so that the outputs compare the
            # quantization alone.
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
    output = np.asarray(keras.ops.convert_to_numpy(qat(evaluation, training=False)))
    kernels = {
        name: np.asarray(
            keras.ops.convert_to_numpy(qat.get_layer(name).quantized_kernel())
        )
        for name in KERNELS[kind]
    }
    return qat, output, kernels, activation_ranges(qat)


@pytest.mark.parametrize("kind", MODELS)
def test_fake_quantized_weights_equal_tfmot(reference, kind):
    inputs, ref = reference
    _, _, kernels, _ = _kerasdl_side(kind, inputs, ref)
    for name, kernel in kernels.items():
        expected = ref[f"{kind}:kernel:{name}"]
        np.testing.assert_allclose(kernel, expected, atol=1e-6, err_msg=name)
        # Conv kernels: one scale per output channel, as TFMOT.
        if kernel.ndim == 4:
            scales = np.abs(expected).max(axis=(0, 1, 2)) / 127
            assert len(np.unique(np.round(scales, 7))) == kernel.shape[-1]


@pytest.mark.parametrize("kind", MODELS)
def test_activation_ranges_and_outputs_match_tfmot(reference, kind):
    inputs, ref = reference
    _, output, _, ranges = _kerasdl_side(kind, inputs, ref)
    # Same quantizers in the same places: every TFMOT activation range has
    # its kerasdl twin and vice versa.
    tfmot_ranges = {
        k.split(":", 2)[2][: -len("_min")]
        for k in ref
        if k.startswith(f"{kind}:range:") and k.endswith("_min") and "kernel" not in k
    }
    assert tfmot_ranges == set(RANGES[kind].values())
    assert set(ranges) == set(RANGES[kind])
    for ours, theirs in RANGES[kind].items():
        expected = (
            ref[f"{kind}:range:{theirs}_min"],
            ref[f"{kind}:range:{theirs}_max"],
        )
        np.testing.assert_allclose(
            ranges[ours], expected, rtol=1e-5, atol=1e-6, err_msg=ours
        )
    expected = ref[f"{kind}:output"]
    # One int8 step of the last quantized tensor (through softmax, whose
    # slope is at most 1, for a pre-activation range).
    low, high = ranges[list(RANGES[kind])[-1]]
    step = (high - low) / 255
    difference = np.abs(output - expected)
    # Identical up to float rounding: at most one int8 step anywhere, and
    # almost every value equal.
    assert difference.max() <= 1.01 * step + 1e-6
    assert np.mean(difference > 1e-5) <= 0.05, difference
    assert np.abs(expected).max() > 0.1  # a non-trivial output


if __name__ == "__main__":
    tfmot_reference(sys.argv[1])
