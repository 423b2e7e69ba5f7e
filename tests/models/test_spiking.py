"""Spiking models: same loss curve as a float64 NumPy reference on every
backend, ReLU-to-spiking conversion, and the spiking CNN learning target."""

import keras
import numpy as np
import pytest

import kerasdl
import kerasdl.data
from kerasdl import _backend
from kerasdl.models.spiking import (
    accuracy_by_time_steps,
    activity_report,
    convert,
    spiking_mlp,
)
from kerasdl.training import Trainer

# ---------------------------------------------------------------- reference
BETA, THRESHOLD, SLOPE, STEPS = 0.9, 1.0, 5.0, 5


def _reference_step(params, x, y):
    """Loss and gradients of spiking_mlp (direct encoder, one LIF layer with
    subtract reset and fast-sigmoid surrogate, mean-membrane readout) in
    float64, backpropagation through time written out by hand."""
    w, b, wo, bo = params
    n = len(x)
    current = x @ w + b  # (n, hidden), the same at every step
    v = np.zeros_like(current)
    pre, spikes = [], []
    for _ in range(STEPS):
        u = BETA * v + current
        s = (u > THRESHOLD).astype(np.float64)
        v = u - THRESHOLD * s
        pre.append(u)
        spikes.append(s)
    membrane, trace = [], 0.0
    for s in spikes:
        trace = BETA * trace + s @ wo + bo
        membrane.append(trace)
    logits = np.mean(membrane, axis=0)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    d_membrane = (p - np.eye(p.shape[1])[y]) / n / STEPS  # same for every step
    d_wo, d_bo, d_spikes, g = 0.0, 0.0, [None] * STEPS, 0.0
    for t in reversed(range(STEPS)):
        g = BETA * g + d_membrane  # d loss / d readout current at step t
        d_wo = d_wo + spikes[t].T @ g
        d_bo = d_bo + g.sum(axis=0)
        d_spikes[t] = g @ wo.T
    d_current, g_v = 0.0, 0.0
    for t in reversed(range(STEPS)):
        sg = 1.0 / (1.0 + SLOPE * np.abs(pre[t] - THRESHOLD)) ** 2
        g_u = g_v * (1.0 - THRESHOLD * sg) + d_spikes[t] * sg  # reset path too
        d_current = d_current + g_u
        g_v = BETA * g_u
    margin = min(np.abs(u - THRESHOLD).min() for u in pre)
    grads = (x.T @ d_current, d_current.sum(axis=0), d_wo, d_bo)
    return loss, grads, margin


def test_loss_curve_matches_float64_reference():
    # The same seeded data and weights on TensorFlow, JAX and PyTorch: each
    # backend's SGD loss curve equals the NumPy one, hence they agree.
    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 1.0, (16, 3))
    y = rng.integers(0, 3, 16)
    params = [
        rng.normal(0.0, 1.0, (3, 4)),
        rng.normal(0.3, 0.2, (4,)),
        rng.normal(0.0, 1.0, (4, 3)),
        np.zeros(3),
    ]
    model = spiking_mlp(
        input_shape=(3,),
        hidden_units=(4,),
        num_classes=3,
        time_steps=STEPS,
        neuron_options={"beta": BETA, "threshold": THRESHOLD, "slope": SLOPE},
    )
    model.set_weights([p.astype("float32") for p in params])
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    history = model.fit(
        x.astype("float32"), y, batch_size=16, epochs=6, shuffle=False, verbose=0
    )
    expected = []
    for _ in range(6):
        loss, grads, margin = _reference_step(params, x, y)
        # float32 must not flip a spike: no membrane within 1e-3 of threshold.
        assert margin > 1e-3
        expected.append(loss)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
    assert np.ptp(expected) > 0.05  # the curve moves, so the gradients matter
    np.testing.assert_allclose(history.history["loss"], expected, rtol=2e-4)
    for got, want in zip(model.get_weights(), params):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- conversion
def _relu_convnet():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="relu_convnet",
    )


def test_convert_rates_approach_relu_outputs():
    keras.utils.set_random_seed(1)
    ann = _relu_convnet()
    x = np.random.default_rng(0).uniform(0.0, 1.0, (8, 6, 6, 1)).astype("float32")
    snn = convert(ann, x, time_steps=32, percentile=100.0)
    assert snn.get_layer("lif_conv0").cell.beta == 1.0  # integrate-and-fire
    want = _backend.to_numpy(ann(x))
    got = _backend.to_numpy(snn(x))
    # Max-normalized IF neurons: rate = relu / scale to within 1/T per layer.
    np.testing.assert_allclose(got, want, atol=0.02)
    short = convert(ann, x, time_steps=2, percentile=100.0)
    assert (
        np.abs(_backend.to_numpy(short(x)) - want).max() > 2 * np.abs(got - want).max()
    )
    report = activity_report(short, x)
    # conv spikes reach lif3 (5 units) through pooling; lif3 feeds the readout.
    assert [row["fan_out"] for row in report["layers"]] == [5, 3]
    assert report["macs_per_example"] == 3 * 3 * 3 * 5 + 5 * 3  # pooled map, lif3


def test_convert_refuses_what_it_cannot_convert():
    tanh = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, "tanh"), keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match="activation='tanh'"):
        convert(tanh, np.ones((2, 4)))
    norm = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, "relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="BatchNormalization"):
        convert(norm, np.ones((2, 4)))
    ann = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, "relu"), keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match="time_steps"):
        convert(ann, np.ones((2, 4)), time_steps=0)
    with pytest.raises(ValueError, match="zero on every calibration example"):
        convert(ann, np.zeros((2, 4)), time_steps=4)
    x = np.random.default_rng(0).normal(size=(8, 4))
    snn = convert(ann, x, time_steps=4)
    with pytest.raises(ValueError, match=r"time_steps\[0\]"):
        accuracy_by_time_steps(snn, x, np.zeros(8), [8])


@pytest.mark.slow
def test_converted_mlp_approaches_relu_accuracy_on_digits():
    keras.utils.set_random_seed(0)
    data = kerasdl.data.load("digits")
    ann = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    ann.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ann.fit(data.x_train, data.y_train, epochs=20, batch_size=32, verbose=0)
    relu_acc = ann.evaluate(data.x_test, data.y_test, verbose=0)[1]
    snn = convert(ann, data.x_train, time_steps=64)
    curve = accuracy_by_time_steps(snn, data.x_test, data.y_test, [1, 4, 16, 64])
    assert relu_acc >= 0.94
    assert curve[64] >= relu_acc - 0.01
    assert curve[1] < curve[16] - 0.1  # few steps: coarse rates, worse


# ---------------------------------------------------------------- learning
@pytest.mark.slow
def test_spiking_cnn_learns_mnist_sample():
    # Surrogate-gradient BPTT through the Trainer on the offline MNIST sample
    # (4000 train / 1000 test). Measured on TF, T=4, 5 epochs: 97.0% (seed 0;
    # seeds 1 and 2: 96.2%, 97.0%). The default surrogate slope 25 reached
    # 96.3% in 6 epochs at seed 0 but 94.6% at seed 1, whose silent start
    # the narrow surrogate barely moves; slope 5 is the robust setting.
    data = kerasdl.data.load("mnist5k")
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": 5,
            "batch_size": 64,
            "verbose": 0,
            "optimizer": {"name": "adam", "learning_rate": 0.002},
        }
    )
    spec = {
        "model": "spiking_cnn",
        "input_shape": [28, 28, 1],
        "time_steps": 4,
        "neuron_options": {"slope": 5.0},
    }
    trainer.fit(spec, data.x_train, data.y_train)
    scores = trainer.model.evaluate(
        data.x_test, data.y_test, verbose=0, return_dict=True
    )
    assert scores["accuracy"] >= 0.95
    report = activity_report(trainer.model, data.x_test[:200])
    assert [row["name"] for row in report["layers"]] == [
        "lif_conv0",
        "lif_conv1",
        "lif0",
    ]
    assert all(0.0 < row["firing_rate"] < 1.0 for row in report["layers"])
