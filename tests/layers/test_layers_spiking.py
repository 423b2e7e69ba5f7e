"""Spiking layers and models: exact spikes, surrogate gradients, dynamics, activity."""

import keras
import numpy as np
import pytest

import kerasdl
import kerasdl.data
from kerasdl import _backend
from kerasdl.layers import spiking
from kerasdl.models.spiking import activity_report, spiking_cnn, spiking_mlp
from kerasdl.training import Trainer

X = np.linspace(-1.0, 1.0, 41).astype("float32")


@pytest.mark.parametrize("surrogate", spiking.SURROGATES)
def test_spike_is_exact_step_with_surrogate_gradient(surrogate):
    out = _backend.to_numpy(spiking.spike(X, surrogate, 5.0))
    np.testing.assert_array_equal(out, (X > 0).astype("float32"))
    grad = _backend.to_numpy(
        _backend.input_gradients(lambda v: spiking.spike(v, surrogate, 5.0), X)
    )
    expected = _backend.to_numpy(spiking.surrogate_derivative(X, surrogate, 5.0))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)
    # The closed forms: fast sigmoid 1/(1+k|x|)^2 at 0 is 1, arctan k/2 at 0.
    at_zero = {"fast_sigmoid": 1.0, "arctan": 2.5, "straight_through": 1.0}
    assert expected[20] == pytest.approx(at_zero[surrogate])


def _run_cell(cell, current, steps):
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.full((1, steps, 1), current, dtype="float32")
    return _backend.to_numpy(layer(x))[0, :, 0]


@pytest.mark.parametrize(
    "reset, expected",
    # current 0.6, beta 0.9, threshold 1: v = 0.6, 1.14 (spike), then
    # subtract: 0.14 -> 0.726 -> 1.2534 (spike); zero: 0 -> 0.6 -> 1.14 (spike).
    [("subtract", [0, 1, 0, 1]), ("zero", [0, 1, 0, 1])],
)
def test_lif_dynamics_by_hand(reset, expected):
    cell = spiking.LIFCell(1, beta=0.9, reset=reset, use_kernel=False)
    np.testing.assert_array_equal(_run_cell(cell, 0.6, 4), expected)


def test_reset_modes_differ_on_strong_input():
    # current 1.5 crosses the threshold every step under both resets; a weak
    # current shows the difference: subtract keeps the residue, zero drops it.
    sub = _run_cell(spiking.LIFCell(1, reset="subtract", use_kernel=False), 1.5, 6)
    zero = _run_cell(spiking.LIFCell(1, reset="zero", use_kernel=False), 1.5, 6)
    np.testing.assert_array_equal(zero, [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(sub, [1, 1, 1, 1, 1, 1])
    weak_sub = _run_cell(
        spiking.LIFCell(1, beta=0.5, reset="subtract", use_kernel=False), 0.9, 6
    )
    weak_zero = _run_cell(
        spiking.LIFCell(1, beta=0.5, reset="zero", use_kernel=False), 0.9, 6
    )
    # beta 0.5, current 0.9: 0.9, 1.35 (spike); subtract -> 0.35 -> 1.075 (spike)
    # -> 0.075 -> 0.9375 -> 1.36875 (spike); zero -> 0.9 -> 1.35 (spike) -> 0.9.
    np.testing.assert_array_equal(weak_sub, [0, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(weak_zero, [0, 1, 0, 1, 0, 1])


def test_adaptive_lif_fires_less_than_lif():
    lif = _run_cell(spiking.LIFCell(1, use_kernel=False), 0.8, 20)
    alif = _run_cell(
        spiking.AdaptiveLIFCell(1, adaptation=0.5, use_kernel=False), 0.8, 20
    )
    assert alif.sum() < lif.sum()


def test_encoders():
    x = np.array([[0.0, 0.5, 1.0]], dtype="float32")
    lat = _backend.to_numpy(spiking.LatencyEncoder(5)(x))[0]
    # 1.0 spikes at step 0, 0.5 at step 2, 0.0 never.
    np.testing.assert_array_equal(lat[:, 2], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(lat[:, 1], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(lat[:, 0], [0, 0, 0, 0, 0])
    rate = _backend.to_numpy(spiking.PoissonEncoder(2000, seed=0)(x))[0].mean(axis=0)
    np.testing.assert_allclose(rate, [0.0, 0.5, 1.0], atol=0.04)
    seq = np.array([[[0.0], [0.5], [0.5], [0.2]]], dtype="float32")
    delta = _backend.to_numpy(spiking.DeltaEncoder(0.1, off_spikes=True)(seq))[0]
    np.testing.assert_array_equal(delta, [[0, 0], [1, 0], [0, 0], [0, 1]])


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="reset"):
        spiking.LIFCell(3, reset="half")
    with pytest.raises(ValueError, match="surrogate"):
        spiking.spike(X, "sigmoidal")
    with pytest.raises(ValueError, match="beta"):
        spiking.LIFCell(3, beta=1.5)
    with pytest.raises(ValueError, match="time_steps"):
        spiking_mlp(input_shape=(4,), time_steps=0)


def test_activity_report_known_answer():
    model = spiking_mlp(
        input_shape=(1,), hidden_units=(2,), num_classes=3, time_steps=4
    )
    cell = model.get_layer("lif0").cell
    cell.kernel.assign(np.array([[0.6, 0.0]], dtype="float32"))
    cell.bias.assign(np.zeros(2, dtype="float32"))
    report = activity_report(model, np.ones((5, 1), dtype="float32"))
    (row,) = report["layers"]
    # neuron 0 fires twice in 4 steps (see test_lif_dynamics_by_hand), neuron 1 never.
    assert row["firing_rate"] == pytest.approx(2 / 8)
    assert row["fan_out"] == 3
    assert report["synops_per_example"] == pytest.approx(2 * 3)
    assert report["macs_per_example"] == pytest.approx(2 * 3)
    assert report["synops_to_macs"] == pytest.approx(1.0)


def test_activity_report_counts_spikes_after_pooling():
    model = spiking_cnn(
        input_shape=(4, 4, 1),
        filters=(1,),
        kernel_size=1,
        dense_units=(2,),
        num_classes=2,
        time_steps=2,
    )
    model.get_layer("conv0").set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    model.get_layer("lif0").cell.kernel.assign(np.zeros((4, 2)))
    x = np.zeros((3, 4, 4, 1), dtype="float32")
    x[:, 1, 2, 0] = 1.5  # one pixel fires at both steps (1.5, then 0.45 + 1.5)
    conv, dense = activity_report(model, x)["layers"]
    assert conv["firing_rate"] == pytest.approx(2 / (16 * 2))
    # 2x2 pooling leaves 4 inputs per step for lif0 (2 units): the ordinary
    # net does 4 * 2 MACs, the spiking one 2 spikes * 2 synapses.
    assert (conv["fan_out"], conv["macs_per_example"]) == (2, 8)
    assert conv["synops_per_example"] == pytest.approx(4)
    # lif0 is silent (zero weights): no synaptic events into the readout.
    assert dense["synops_per_example"] == 0
    assert dense["macs_per_example"] == 2 * 2


@pytest.mark.slow
def test_spiking_mlp_learns_digits():
    data = kerasdl.data.load("digits")
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": 30,
            "batch_size": 64,
            "verbose": 0,
            "optimizer": {"name": "adam", "learning_rate": 0.003},
        }
    )
    spec = {
        "model": "spiking_mlp",
        "input_shape": [8, 8, 1],
        "num_classes": 10,
        "hidden_units": [128],
        "time_steps": 8,
    }
    trainer.fit(spec, data.x_train, data.y_train)
    scores = trainer.model.evaluate(
        data.x_test, data.y_test, verbose=0, return_dict=True
    )
    assert scores["accuracy"] >= 0.95
    rate = activity_report(trainer.model, data.x_test)["layers"][0]["firing_rate"]
    assert 0.0 < rate < 1.0
