"""Hand-written backprop against finite differences and each backend's autodiff.

CI runs this file on TensorFlow, JAX and PyTorch: `autodiff_gradients`
differentiates with the active backend, in float64.
"""

import keras
import numpy as np
import pytest

from kerasdl import _backend
from kerasdl.fundamentals import (
    NumpyMLP,
    autodiff_gradients,
    finite_difference_gradients,
    layer_gradient_norms,
    numpy_neuron,
    relative_error,
)


def _problem(output: str, units: int, n: int = 6, d: int = 4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    if output == "softmax":
        y = rng.integers(0, units, n)
    elif output == "sigmoid":
        y = rng.integers(0, 2, (n, units))
    else:
        y = rng.normal(size=(n, units))
    return x, y


@pytest.mark.parametrize(
    "activation, output, units",
    [
        ("tanh", "softmax", 3),
        # The other output/loss pairs change only NumPy code paths: once.
        pytest.param("sigmoid", "sigmoid", 1, marks=pytest.mark.one_backend),
        pytest.param("relu", "linear", 2, marks=pytest.mark.one_backend),
    ],
)
def test_backprop_matches_autodiff_and_finite_differences(activation, output, units):
    x, y = _problem(output, units)
    net = NumpyMLP([4, 5, 3, units], activation=activation, output=output, seed=1)
    loss, by_hand = net.loss_and_gradients(x, y)
    assert loss == pytest.approx(net.loss(x, y), rel=1e-12)
    autodiff = autodiff_gradients(net, x, y)
    assert all(g.dtype == np.float64 for g in autodiff)
    # Same function, two derivations: agree to float64 rounding.
    assert relative_error(by_hand, autodiff) < 1e-6
    finite = finite_difference_gradients(lambda: net.loss(x, y), net.params)
    assert relative_error(by_hand, finite) < 1e-6


def test_a_wrong_backward_pass_is_caught():
    # The check must be able to fail: a derivative off by a factor shows.
    x, y = _problem("softmax", 3)
    net = NumpyMLP([4, 5, 3], activation="tanh", seed=0)
    _, grads = net.loss_and_gradients(x, y)
    wrong = [g * (1.1 if i == 0 else 1.0) for i, g in enumerate(grads)]
    assert relative_error(wrong, autodiff_gradients(net, x, y)) > 1e-3


@pytest.mark.one_backend
def test_the_neuron_learns_a_linearly_separable_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + 2 * x[:, 1] > 0).astype(int)
    neuron = numpy_neuron(2, seed=0)
    before = neuron.loss(x, y)
    history = neuron.fit(x, y, epochs=30, learning_rate=1.0, batch_size=20)
    assert history[-1] < before / 4
    assert neuron.accuracy(x, y) >= 0.97


@pytest.mark.one_backend
def test_numpy_mlp_learns_xor_that_a_neuron_cannot():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, float)
    y = np.array([0, 1, 1, 0] * 8)
    mlp = NumpyMLP([2, 8, 2], activation="tanh", output="softmax", seed=0)
    mlp.fit(x, y, epochs=300, learning_rate=0.5, batch_size=8)
    assert mlp.accuracy(x, y) == 1.0
    neuron = numpy_neuron(2, seed=0)
    neuron.fit(x, y, epochs=300, learning_rate=0.5, batch_size=8)
    assert neuron.accuracy(x, y) <= 0.75


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layer_sizes": [4]}, "layer_sizes"),
        ({"layer_sizes": [4, 3], "activation": "swish"}, "activation"),
        ({"layer_sizes": [4, 3], "output": "softplus"}, "output"),
    ],
)
def test_numpy_mlp_names_a_bad_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NumpyMLP(**kwargs)


@pytest.mark.one_backend
def test_inputs_and_labels_are_checked():
    net = NumpyMLP([4, 3])
    with pytest.raises(ValueError, match="4 features"):
        net.loss(np.zeros((2, 5)), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        net.loss(np.zeros((2, 4)), [0, 3])
    with pytest.raises(ValueError, match="float64"):
        finite_difference_gradients(lambda: 0.0, [np.zeros(2, np.float32)])


def test_layer_gradient_norms_vanish_through_a_deep_sigmoid_stack():
    x = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    y = np.arange(16) % 3

    def stack(activation):
        keras.utils.set_random_seed(0)
        layers = [keras.Input((8,))]
        layers += [keras.layers.Dense(8, activation=activation) for _ in range(6)]
        layers += [keras.layers.Dense(3, activation="softmax")]
        return keras.Sequential(layers)

    sigmoid = layer_gradient_norms(stack("sigmoid"), x, y)
    relu = layer_gradient_norms(stack("relu"), x, y)
    assert len(sigmoid) == 7
    assert all(norm >= 0 for _, norm in sigmoid)
    # Each sigmoid layer scales the gradient by at most 1/4 (times its
    # weights): six of them leave the first layer about 1% of the last's.
    assert sigmoid[0][1] / sigmoid[-1][1] < 0.05
    assert relu[0][1] / relu[-1][1] > 0.2


def test_float64_scope_keeps_float64():
    with _backend.float64_scope():
        grads = _backend.input_gradients(
            lambda v: keras.ops.sum(v**3), np.array([1.0, 2.0])
        )
        values = _backend.to_numpy(grads)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, [3.0, 12.0], rtol=1e-15)
