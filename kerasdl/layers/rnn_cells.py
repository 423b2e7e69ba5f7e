"""Recurrent cells with every gate written out: Elman RNN, LSTM and GRU.

These are teaching cells: each gate is one line of `keras.ops`, named as in
the papers, so the equations can be read off the code. They store their
weights exactly as Keras' own cells do (one fused `kernel`,
`recurrent_kernel` and `bias`, gates side by side in Keras' order), so
`layer.set_weights(keras_layer.get_weights())` makes a
`keras.layers.RNN(BasicLSTMCell(n))` compute the same outputs as
`keras.layers.LSTM(n)`; tests check this on every backend.

Notation (per time step t, batch rows): x_t input, h_{t-1} previous output,
W input kernel, U recurrent kernel, b bias, sigma the recurrent activation
(sigmoid), tanh the activation, * element-wise product.

Example:
>>> layer = keras.layers.RNN(BasicLSTMCell(8), return_sequences=True)
>>> layer(keras.ops.ones((2, 5, 3))).shape
(2, 5, 8)
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int
from kerasdl.layers._config import InitConfig

__all__ = ["BasicGRUCell", "BasicLSTMCell", "BasicRNNCell"]


class _BasicCell(InitConfig, keras.layers.Layer):
    """Shared config and weights of the basic cells (`gates` blocks of units)."""

    gates = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.activation = keras.activations.get(activation)
        if not isinstance(use_bias, bool):
            raise ValueError(f"Invalid use_bias={use_bias!r}: expected a bool.")
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _make_bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                initializer=self._make_bias_initializer(),
                name="bias",
            )

    def _gate_weights(self, index: int):
        """(W, U, b) of gate `index`: its column block of the fused weights."""
        cols = slice(index * self.units, (index + 1) * self.units)
        bias = None if self.bias is None else self.bias[..., cols]
        return self.kernel[:, cols], self.recurrent_kernel[:, cols], bias

    def get_initial_state(self, batch_size=None):
        sizes = keras.tree.flatten(self.state_size)
        return [ops.zeros((batch_size, s), dtype=self.compute_dtype) for s in sizes]


def _affine(x, kernel, bias=None):
    y = ops.matmul(x, kernel)
    return y if bias is None else y + bias


@keras.saving.register_keras_serializable(package="kerasdl")
class BasicRNNCell(_BasicCell):
    """Elman's simple recurrent cell: h_t = tanh(x_t W + h_{t-1} U + b).

    Same weights and outputs as `keras.layers.SimpleRNNCell` (no dropout).
    Wrap it in `keras.layers.RNN` to run it over a sequence.

    Args:
        units: int. Size of the hidden state h (and of the output).
        activation: str. Activation of the new state ("tanh").
        use_bias: bool. Add the bias b.
        kernel_initializer: str. Initializer of W.
        recurrent_initializer: str. Initializer of U.
        bias_initializer: str. Initializer of b.
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Example:
    >>> rnn = keras.layers.RNN(BasicRNNCell(4))
    >>> rnn(keras.ops.ones((2, 7, 3))).shape
    (2, 4)
    """

    gates = 1

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = self.activation(
            _affine(inputs, self.kernel, self.bias)
            + ops.matmul(h_prev, self.recurrent_kernel)
        )
        new_states = [h] if isinstance(states, (list, tuple)) else h
        return h, new_states


class _GatedCell(_BasicCell):
    """The LSTM's and GRU's shared arguments: a recurrent (gate) activation."""

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        self.recurrent_activation = keras.activations.get(recurrent_activation)


@keras.saving.register_keras_serializable(package="kerasdl")
class BasicLSTMCell(_GatedCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997; forget gate
    of Gers et al. 2000), each gate on its own line.

        i_t = sigma(x_t W_i + h_{t-1} U_i + b_i)      input gate
        f_t = sigma(x_t W_f + h_{t-1} U_f + b_f)      forget gate
        g_t = tanh (x_t W_c + h_{t-1} U_c + b_c)      candidate cell
        o_t = sigma(x_t W_o + h_{t-1} U_o + b_o)      output gate
        c_t = f_t * c_{t-1} + i_t * g_t               cell (carry) state
        h_t = o_t * tanh(c_t)                         output

    The fused weights hold the gates in Keras' order (i, f, c, o), so the
    weights of `keras.layers.LSTM` load unchanged and give the same outputs.
    The state is [h, c].

    Args:
        units: int. Size of h and c.
        activation: str. Activation of the candidate and of the output ("tanh").
        recurrent_activation: str. Activation of the three gates ("sigmoid").
        use_bias: bool. Add the biases.
        kernel_initializer: str. Initializer of W.
        recurrent_initializer: str. Initializer of U.
        bias_initializer: str. Initializer of b.
        unit_forget_bias: bool. Start the forget-gate bias at 1 (Jozefowicz et
            al. 2015), as Keras does.
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Example:
    >>> lstm = keras.layers.RNN(BasicLSTMCell(4), return_sequences=True)
    >>> lstm(keras.ops.ones((2, 7, 3))).shape
    (2, 7, 4)
    """

    gates = 4

    def __init__(self, *args, unit_forget_bias=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(unit_forget_bias, bool):
            raise ValueError(
                f"Invalid unit_forget_bias={unit_forget_bias!r}: expected a bool."
            )
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self):
        return [self.units, self.units]

    def _make_bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def initializer(shape, dtype=None):
            return ops.concatenate(
                [
                    base((units,), dtype=dtype),  # input gate
                    ops.ones((units,), dtype=dtype),  # forget gate
                    base((2 * units,), dtype=dtype),  # candidate, output gate
                ]
            )

        return initializer

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        W_i, U_i, b_i = self._gate_weights(0)
        W_f, U_f, b_f = self._gate_weights(1)
        W_c, U_c, b_c = self._gate_weights(2)
        W_o, U_o, b_o = self._gate_weights(3)
        sigma, tanh = self.recurrent_activation, self.activation

        i = sigma(_affine(inputs, W_i, b_i) + ops.matmul(h_prev, U_i))
        f = sigma(_affine(inputs, W_f, b_f) + ops.matmul(h_prev, U_f))
        g = tanh(_affine(inputs, W_c, b_c) + ops.matmul(h_prev, U_c))
        o = sigma(_affine(inputs, W_o, b_o) + ops.matmul(h_prev, U_o))
        c = f * c_prev + i * g
        h = o * tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="kerasdl")
class BasicGRUCell(_GatedCell):
    """Gated recurrent unit (Cho et al. 2014), each gate on its own line.

    Keras' default variant (reset_after=True, as in cuDNN): the reset gate
    multiplies the recurrent projection after the matrix product, and input
    and recurrent projections have separate biases b and b'.

        z_t = sigma(x_t W_z + b_z + h_{t-1} U_z + b'_z)        update gate
        r_t = sigma(x_t W_r + b_r + h_{t-1} U_r + b'_r)        reset gate
        n_t = tanh (x_t W_h + b_h + r_t * (h_{t-1} U_h + b'_h)) candidate
        h_t = z_t * h_{t-1} + (1 - z_t) * n_t                   output

    The bias has shape (2, 3 * units): row 0 input biases, row 1 recurrent
    biases, gates in Keras' order (z, r, h), so the weights of
    `keras.layers.GRU` load unchanged and give the same outputs.

    Args:
        units: int. Size of the hidden state h.
        activation: str. Activation of the candidate ("tanh").
        recurrent_activation: str. Activation of the two gates ("sigmoid").
        use_bias: bool. Add the biases.
        kernel_initializer: str. Initializer of W.
        recurrent_initializer: str. Initializer of U.
        bias_initializer: str. Initializer of b and b'.
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Example:
    >>> gru = keras.layers.RNN(BasicGRUCell(4))
    >>> gru(keras.ops.ones((2, 7, 3))).shape
    (2, 4)
    """

    gates = 3

    def _bias_shape(self):
        return (2, self.gates * self.units)

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        W_z, U_z, b_z = self._gate_weights(0)
        W_r, U_r, b_r = self._gate_weights(1)
        W_h, U_h, b_h = self._gate_weights(2)
        # b_* has rows (input bias, recurrent bias), or is None without bias.
        bx_z, bh_z = (None, None) if b_z is None else (b_z[0], b_z[1])
        bx_r, bh_r = (None, None) if b_r is None else (b_r[0], b_r[1])
        bx_h, bh_h = (None, None) if b_h is None else (b_h[0], b_h[1])
        sigma, tanh = self.recurrent_activation, self.activation

        z = sigma(_affine(inputs, W_z, bx_z) + _affine(h_prev, U_z, bh_z))
        r = sigma(_affine(inputs, W_r, bx_r) + _affine(h_prev, U_r, bh_r))
        n = tanh(_affine(inputs, W_h, bx_h) + r * _affine(h_prev, U_h, bh_h))
        h = z * h_prev + (1.0 - z) * n
        new_states = [h] if isinstance(states, (list, tuple)) else h
        return h, new_states
