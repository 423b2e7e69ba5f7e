"""Gradient checks and gradient probes.

- `finite_difference_gradients`: central differences, the reference any
  hand-written backward pass is checked against;
- `autodiff_gradients`: the same NumpyMLP loss differentiated by the active
  Keras backend (TensorFlow, JAX or PyTorch) in float64;
- `relative_error`: one number for "do two gradients agree";
- `layer_gradient_norms`: the norm of the loss gradient at each Dense
  kernel of a Keras model, input to output (vanishing gradients show as
  norms that shrink towards the input).

Example:
>>> net = NumpyMLP([4, 8, 3], seed=0)
>>> _, by_hand = net.loss_and_gradients(x, y)
>>> relative_error(by_hand, autodiff_gradients(net, x, y))  # ~1e-16
"""

from __future__ import annotations

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_float
from kerasdl.fundamentals.numpy_nets import NumpyMLP, _loss, forward, target_array

__all__ = [
    "autodiff_gradients",
    "finite_difference_gradients",
    "layer_gradient_norms",
    "relative_error",
]


def finite_difference_gradients(loss_fn, params, epsilon=1e-6) -> list[np.ndarray]:
    """Central-difference gradients of `loss_fn()` with respect to `params`.

    Each entry is nudged by +-epsilon in place (and restored), so `loss_fn`
    reads `params` as they are when it is called. Costs two loss evaluations
    per parameter: for checks on tiny networks only.

    Args:
        loss_fn: callable with no arguments returning a float.
        params: list of float64 arrays, modified and restored in place.
        epsilon: float. Step; 1e-6 balances truncation (epsilon^2) against
            rounding (1e-16 / epsilon) error in float64.

    Returns:
        list of arrays shaped like `params`.
    """
    check_float("epsilon", epsilon, minimum=0.0, min_inclusive=False)
    grads = []
    for param in params:
        if param.dtype != np.float64:
            raise ValueError(
                "finite_difference_gradients needs float64 params (float32 "
                f"rounding swamps the differences); received dtype {param.dtype}."
            )
        grad = np.zeros_like(param)
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            kept = flat[i]
            flat[i] = kept + epsilon
            up = loss_fn()
            flat[i] = kept - epsilon
            down = loss_fn()
            flat[i] = kept
            flat_grad[i] = (up - down) / (2.0 * epsilon)
        grads.append(grad)
    return grads


def relative_error(a, b) -> float:
    """||a - b|| / (||a|| + ||b||) over all arrays of two gradient lists.

    The norm-wise form stays meaningful when single entries are near zero
    (where an entry-wise ratio is noise); 0 for two zero gradients.

    Args:
        a: list of arrays (or one array).
        b: list of arrays with the same shapes.

    Returns:
        float in [0, 1].
    """
    a = [np.asarray(v, np.float64) for v in (a if isinstance(a, list) else [a])]
    b = [np.asarray(v, np.float64) for v in (b if isinstance(b, list) else [b])]
    shapes_a, shapes_b = [v.shape for v in a], [v.shape for v in b]
    if shapes_a != shapes_b:
        raise ValueError(
            f"relative_error needs gradients of the same shapes; received "
            f"{shapes_a} and {shapes_b}."
        )
    flat_a = np.concatenate([v.reshape(-1) for v in a])
    flat_b = np.concatenate([v.reshape(-1) for v in b])
    scale = np.linalg.norm(flat_a) + np.linalg.norm(flat_b)
    return float(np.linalg.norm(flat_a - flat_b) / scale) if scale else 0.0


def autodiff_gradients(net: NumpyMLP, x, y) -> list[np.ndarray]:
    """Gradients of `net`'s loss computed by the active backend's autodiff.

    The forward pass is `net`'s own, run on `keras.ops` tensors in float64
    (`_backend.float64_scope`), and differentiated by TensorFlow's tape,
    `jax.grad` or `torch.autograd` (`_backend.input_gradients`), so only the
    backward pass differs from `net.loss_and_gradients`.

    Args:
        net: NumpyMLP.
        x: (n, d) inputs.
        y: labels.

    Returns:
        list of float64 NumPy arrays shaped like `net.params`.
    """
    x = net.flat_inputs(x)
    target = target_array(y, net.output, net.layer_sizes[-1])

    # Jit-compiled once per network on JAX (op-by-op eager JAX is slow);
    # as written on TensorFlow and PyTorch.
    loss_of = _backend.jit_per_model(net, "autodiff_loss", lambda: _loss_of(net))
    with _backend.float64_scope():
        inputs = keras.ops.convert_to_tensor(x, "float64")
        targets = keras.ops.convert_to_tensor(target, "float64")
        params = [keras.ops.convert_to_tensor(p, "float64") for p in net.params]
        grads = _backend.input_gradients(
            lambda values: loss_of(values, inputs, targets), params
        )
        return [_backend.to_numpy(g).astype(np.float64) for g in grads]


def _loss_of(net: NumpyMLP):
    def loss(params, inputs, targets):
        z, _ = forward(params, inputs, net.activation, net.output, xp=keras.ops)
        return _loss(z, targets, net.output, keras.ops)

    return loss


def layer_gradient_norms(model, x, y, loss="sparse_categorical_crossentropy"):
    """L2 norm of the loss gradient at each layer's kernel, input to output.

    One training-mode forward pass on (x, y) (batch statistics for
    BatchNormalization, dropout active), differentiated by the active
    backend with respect to the trainable variables; the loss is the mean
    over the batch.

    Args:
        model: keras.Model (built).
        x: inputs of one batch.
        y: labels of that batch.
        loss: str or keras.losses.Loss. Loss of the outputs.

    Returns:
        list of (layer name, norm) for every trainable variable named
        "kernel", in the model's variable order (input to output).

    Example:
    >>> norms = layer_gradient_norms(model, x[:256], y[:256])
    >>> norms[0][1] / norms[-1][1]  # tiny for a deep sigmoid MLP
    """
    loss_fn = keras.losses.get(loss)
    variables = model.trainable_variables
    kernels = [i for i, v in enumerate(variables) if v.name == "kernel"]
    if not kernels:
        raise ValueError(
            f"layer_gradient_norms found no trainable kernel in model {model.name!r}."
        )
    non_trainable = [v.value for v in model.non_trainable_variables]
    x = keras.ops.convert_to_tensor(x)
    y = keras.ops.convert_to_tensor(y)

    def make_objective():
        def objective(values, non_trainable, x, y):
            outputs, _ = model.stateless_call(values, non_trainable, x, training=True)
            return keras.ops.mean(loss_fn(y, outputs))

        return objective

    # Jit-compiled once per model on JAX (op-by-op eager JAX is slow).
    objective = _backend.jit_per_model(model, "gradient_norms", make_objective)
    grads = _backend.input_gradients(
        lambda values: objective(values, non_trainable, x, y),
        [v.value for v in variables],
    )
    return [
        (
            variables[i].path.rsplit("/", 1)[0],
            float(np.linalg.norm(_backend.to_numpy(grads[i]))),
        )
        for i in kernels
    ]
