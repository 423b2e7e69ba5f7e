"""A neuron and a multilayer perceptron in NumPy, with backpropagation by hand.

The forward pass is written once over an array namespace `xp` (NumPy, or
`keras.ops` for the autodiff check in `kerasdl.fundamentals.gradients`); the
backward pass is written by hand, in NumPy only, layer by layer:

    z_l = a_{l-1} @ W_l + b_l          a_l = f(z_l)          (hidden layers)
    dL/dz_L = (p - y) / n              (softmax + cross-entropy, sigmoid + BCE)
    dL/dW_l = a_{l-1}^T @ dL/dz_l      dL/db_l = sum_rows(dL/dz_l)
    dL/da_{l-1} = dL/dz_l @ W_l^T      dL/dz_{l-1} = dL/da_{l-1} * f'(z_{l-1})

Everything is float64, so hand-written, automatic and finite-difference
gradients can be compared to 1e-10.

Example:
>>> net = NumpyMLP([64, 32, 10], activation="tanh", seed=0)
>>> loss, grads = net.loss_and_gradients(x, y)   # x: (n, 64), y: (n,) ints
>>> history = net.fit(x, y, epochs=20, learning_rate=0.5)
"""

from __future__ import annotations

import itertools

import numpy as np

from kerasdl._checks import check_choice, check_float, check_int

__all__ = ["ACTIVATIONS", "OUTPUTS", "NumpyMLP", "numpy_neuron"]

# Hidden activations and their derivatives (as functions of the pre-activation
# z and the activation a = f(z), whichever is cheaper).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
# Output layer + loss pairs whose combined gradient is (p - y) / n (softmax,
# sigmoid) or 2 (z - y) / (n k) (linear with mean squared error).
OUTPUTS = ("softmax", "sigmoid", "linear")

# exp(-z) overflows float64 beyond ~709; sigmoid(+-60) is 0/1 to 1e-26 anyway.
_SIGMOID_CLIP = 60.0
_TANH_CLIP = 30.0


def _activate(z, name: str, xp):
    if name == "sigmoid":
        return 1.0 / (1.0 + xp.exp(-xp.clip(z, -_SIGMOID_CLIP, _SIGMOID_CLIP)))
    if name == "tanh":
        # Through exp, not xp.tanh: keras.ops.tanh returns float32 for a
        # float64 input on JAX, which would spoil the float64 check.
        return 1.0 - 2.0 / (xp.exp(2.0 * xp.clip(z, -_TANH_CLIP, _TANH_CLIP)) + 1.0)
    if name == "relu":
        # (z + |z|) / 2, not xp.maximum: keras.ops.maximum (and matmul)
        # return float32 for float64 inputs on PyTorch.
        return (z + xp.abs(z)) * 0.5
    return z


def _derivative(z: np.ndarray, a: np.ndarray, name: str) -> np.ndarray:
    """f'(z), from z or from a = f(z)."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a**2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    return np.ones_like(z)


def _loss(z, target, output: str, xp):
    """Mean loss of the output logits `z` against `target` (float arrays).

    softmax: cross-entropy with one-hot `target`; sigmoid: binary
    cross-entropy with 0/1 `target`; linear: mean squared error.
    """
    n = z.shape[0]
    if output == "softmax":
        # log-softmax through the log-sum-exp trick (no overflow).
        shifted = z - xp.max(z, axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        return -xp.sum(target * log_p) / n
    if output == "sigmoid":
        # BCE from logits: softplus(z) - y z, written without overflow.
        softplus = (z + xp.abs(z)) * 0.5 + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.sum(softplus - target * z) / n
    return xp.sum((z - target) ** 2) / (n * z.shape[1])


def forward(params, x, activation: str, output: str, xp=np):
    """Output logits and the hidden (z, a) pairs of an MLP given as arrays.

    Args:
        params: list of arrays [W1, b1, W2, b2, ...] (NumPy or backend tensors).
        x: (n, d) array.
        activation: str. Hidden activation, one of ACTIVATIONS.
        output: str. One of OUTPUTS (only named here for symmetry: the
            logits are returned before the output non-linearity).
        xp: the array namespace: `numpy` or `keras.ops`.

    Returns:
        (logits, cache): logits (n, k); cache the list of (z, a) per hidden
        layer, with a_0 = x first.
    """
    del output  # the output non-linearity lives in the loss (stable logits)
    a = x
    cache = [(None, a)]
    layers = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    for w, b in layers[:-1]:
        z = a @ w + b  # the @ operator keeps float64 on every backend
        a = _activate(z, activation, xp)
        cache.append((z, a))
    w, b = layers[-1]
    return a @ w + b, cache


def target_array(y, output: str, units: int) -> np.ndarray:
    """Labels as the float64 target the loss compares the logits with.

    softmax: integer class labels (n,) -> one-hot (n, units); sigmoid and
    linear: values reshaped to (n, units).
    """
    y = np.asarray(y)
    if output == "softmax":
        labels = y.reshape(-1).astype(np.int64)
        if labels.min() < 0 or labels.max() >= units:
            raise ValueError(
                f"Invalid labels y: expected integers in [0, {units - 1}] for "
                f"{units} softmax outputs; received values in "
                f"[{labels.min()}, {labels.max()}]."
            )
        return np.eye(units, dtype=np.float64)[labels]
    return y.astype(np.float64).reshape(len(y), units)


class NumpyMLP:
    """A multilayer perceptron in float64 NumPy with hand-written backprop.

    Args:
        layer_sizes: list of int. Input width, hidden widths, output width,
            e.g. [64, 32, 10]; [d, 1] with output="sigmoid" is one neuron
            (logistic regression).
        activation: str. Hidden activation: "sigmoid", "tanh", "relu" or
            "linear".
        output: str. "softmax" (cross-entropy, integer labels), "sigmoid"
            (binary cross-entropy, 0/1 labels) or "linear" (mean squared
            error, real targets).
        seed: int. Seed of the Glorot-uniform initial weights (biases 0).

    Attributes:
        params: list of float64 arrays [W1, b1, W2, b2, ...], updated in
            place by `fit`.

    Raises:
        ValueError: for an invalid size, activation or output.

    Example:
    >>> net = NumpyMLP([2, 8, 1], activation="tanh", output="sigmoid")
    >>> net.predict(np.zeros((3, 2))).shape
    (3, 1)
    """

    def __init__(self, layer_sizes, activation="tanh", output="softmax", seed=0):
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"Invalid layer_sizes={layer_sizes!r}: expected at least the input "
                "and output widths, e.g. [64, 10] or [64, 32, 10]."
            )
        for i, size in enumerate(sizes):
            check_int(f"layer_sizes[{i}]", size, minimum=1)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("output", output, OUTPUTS)
        check_int("seed", seed, minimum=0)
        self.layer_sizes = sizes
        self.activation = activation
        self.output = output
        rng = np.random.default_rng(seed)
        self.params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            self.params.append(rng.uniform(-limit, limit, (fan_in, fan_out)))
            self.params.append(np.zeros(fan_out))

    # ------------------------------------------------------------ forward
    def logits(self, x) -> np.ndarray:
        """Output pre-activations (n, k) for inputs x (n, d)."""
        return forward(self.params, self.flat_inputs(x), self.activation, self.output)[
            0
        ]

    def predict(self, x) -> np.ndarray:
        """Probabilities (softmax/sigmoid) or values (linear), shape (n, k)."""
        z = self.logits(x)
        if self.output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.output == "sigmoid":
            return _activate(z, "sigmoid", np)
        return z

    def loss(self, x, y) -> float:
        """Mean loss on (x, y)."""
        target = target_array(y, self.output, self.layer_sizes[-1])
        return float(_loss(self.logits(x), target, self.output, np))

    def accuracy(self, x, y) -> float:
        """Fraction of correct classes (softmax) or thresholded outputs (sigmoid)."""
        if self.output == "linear":
            raise ValueError(
                "accuracy needs a classifier: output='softmax' or 'sigmoid'; "
                "received output='linear' (use loss for regression)."
            )
        p = self.predict(x)
        y = np.asarray(y).reshape(len(p), -1)
        if self.output == "softmax":
            return float(np.mean(p.argmax(axis=1) == y[:, 0]))
        return float(np.mean((p > 0.5) == (y > 0.5)))

    # ----------------------------------------------------------- backward
    def loss_and_gradients(self, x, y) -> tuple[float, list[np.ndarray]]:
        """Mean loss and its gradients by hand-written backpropagation.

        Args:
            x: (n, d) inputs.
            y: labels (softmax: (n,) ints; sigmoid: 0/1; linear: targets).

        Returns:
            (loss, grads): grads has the shapes of `params`, in its order.
        """
        x = self.flat_inputs(x)
        target = target_array(y, self.output, self.layer_sizes[-1])
        z, cache = forward(self.params, x, self.activation, self.output)
        loss = float(_loss(z, target, self.output, np))
        n = x.shape[0]
        # dL/dz of the output layer: the output non-linearity and its loss
        # differentiate together into one simple expression.
        if self.output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            delta = (e / e.sum(axis=1, keepdims=True) - target) / n
        elif self.output == "sigmoid":
            delta = (_activate(z, "sigmoid", np) - target) / n
        else:
            delta = 2.0 * (z - target) / z.size
        grads = [None] * len(self.params)
        for layer in range(len(self.params) // 2 - 1, -1, -1):
            a_prev = cache[layer][1]
            grads[2 * layer] = a_prev.T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer:
                z_prev, _ = cache[layer]
                d_a = delta @ self.params[2 * layer].T
                delta = d_a * _derivative(z_prev, a_prev, self.activation)
        return loss, grads

    # ------------------------------------------------------------ training
    def fit(
        self, x, y, epochs=10, learning_rate=0.1, batch_size=32, seed=0
    ) -> list[float]:
        """Mini-batch gradient descent with the hand-written gradients.

        Args:
            x: (n, d) inputs.
            y: labels.
            epochs: int. Passes over the data.
            learning_rate: float. Step size.
            batch_size: int. Examples per step.
            seed: int. Seed of the shuffling.

        Returns:
            list of float: the mean training loss of each epoch.
        """
        check_int("epochs", epochs, minimum=1)
        check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)
        check_int("batch_size", batch_size, minimum=1)
        x = self.flat_inputs(x)
        y = np.asarray(y)
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for start in range(0, len(x), batch_size):
                batch = order[start : start + batch_size]
                loss, grads = self.loss_and_gradients(x[batch], y[batch])
                for param, grad in zip(self.params, grads):
                    param -= learning_rate * grad
                losses.append(loss * len(batch))
            history.append(float(np.sum(losses) / len(x)))
        return history

    def flat_inputs(self, x) -> np.ndarray:
        """`x` as a float64 (n, layer_sizes[0]) array, checked."""
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(len(x), -1)
        if x.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"Invalid x: expected {self.layer_sizes[0]} features per example "
                f"(layer_sizes[0]); received shape {x.shape}."
            )
        return x


def numpy_neuron(input_dim: int, seed: int = 0) -> NumpyMLP:
    """One sigmoid neuron (logistic regression) trained by hand-written gradients.

    Args:
        input_dim: int. Number of inputs.
        seed: int. Seed of the initial weights.

    Returns:
        NumpyMLP with layer_sizes [input_dim, 1] and a sigmoid output.

    Example:
    >>> neuron = numpy_neuron(2)
    >>> neuron.fit(x, y, epochs=50, learning_rate=1.0)  # y in {0, 1}
    """
    return NumpyMLP([input_dim, 1], activation="linear", output="sigmoid", seed=seed)
