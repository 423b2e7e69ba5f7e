"""Fundamentals: the neuron, backpropagation and the failures of training.

- `numpy_nets`: a neuron and an MLP in NumPy with hand-written backprop;
- `gradients`: finite-difference and autodiff gradient checks, per-layer
  gradient norms of Keras models;
- `experiments`: one problem, many settings (activations, losses,
  optimizers, schedules, depth, regularization), each run the same way;
- `frameworks`: one model trained on TensorFlow, JAX and PyTorch from the
  same initial weights, each backend in its own process.

Example:
>>> from kerasdl.fundamentals import NumpyMLP, autodiff_gradients, relative_error
>>> net = NumpyMLP([4, 8, 3], activation="tanh", seed=0)
>>> _, by_hand = net.loss_and_gradients(x, y)
>>> relative_error(by_hand, autodiff_gradients(net, x, y)) < 1e-6
True
"""

from kerasdl.fundamentals.gradients import (
    autodiff_gradients,
    finite_difference_gradients,
    layer_gradient_norms,
    relative_error,
)
from kerasdl.fundamentals.numpy_nets import NumpyMLP, numpy_neuron

__all__ = [
    "NumpyMLP",
    "autodiff_gradients",
    "finite_difference_gradients",
    "layer_gradient_norms",
    "numpy_neuron",
    "relative_error",
]
