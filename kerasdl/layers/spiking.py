"""Spiking neurons as Keras RNN cells, spike encoders and readouts.

A spiking layer is `keras.layers.RNN(LIFCell(units), return_sequences=True)`
over inputs of shape (batch, time, features): the output is the spike train
(0/1 values) of every neuron at every step. The spike is a Heaviside step of
`v - threshold`; its gradient is replaced by a surrogate (fast sigmoid,
arctan or straight-through) so the network trains with backpropagation
through time, as in snnTorch and Norse.

The surrogate uses no per-backend custom gradient: `spike(x)` computes
`heaviside(x) + (s(x) - stop_gradient(s(x)))`, whose forward value is exactly
`heaviside(x)` (the bracket is `y - y == 0` in floating point) and whose
gradient is exactly `s'(x)`, on TensorFlow, JAX and PyTorch alike.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasdl._checks import check_choice, check_float, check_int

__all__ = [
    "SURROGATES",
    "AdaptiveLIFCell",
    "DeltaEncoder",
    "LIFCell",
    "LatencyEncoder",
    "MembraneReadout",
    "PoissonEncoder",
    "RepeatEncoder",
    "SpikeCount",
    "spike",
    "surrogate_derivative",
]

SURROGATES = ("fast_sigmoid", "arctan", "straight_through")
RESETS = ("subtract", "zero")
_PACKAGE = "kerasdl"


def _antiderivative(x, surrogate: str, slope: float):
    # s(x) whose derivative is the surrogate gradient of the step.
    if surrogate == "fast_sigmoid":
        # d/dx x / (1 + k|x|) = 1 / (1 + k|x|)^2  (Zenke & Ganguli's SuperSpike)
        return x / (1.0 + slope * ops.abs(x))
    if surrogate == "arctan":
        # d/dx arctan(pi k x / 2) / pi = (k / 2) / (1 + (pi k x / 2)^2)  (Fang et al.)
        return ops.arctan((math.pi / 2.0) * slope * x) / math.pi
    # Straight-through: the step's gradient is taken as 1.
    return x


def surrogate_derivative(x, surrogate: str = "fast_sigmoid", slope: float = 25.0):
    """The gradient `spike` uses for the step at `x` (in closed form).

    Args:
        x: tensor. Membrane potential minus threshold.
        surrogate: str. One of `SURROGATES`.
        slope: float. Sharpness of the surrogate (> 0).

    Returns:
        A tensor of the shape of `x`.
    """
    check_choice("surrogate", surrogate, SURROGATES)
    x = ops.convert_to_tensor(x)
    if surrogate == "fast_sigmoid":
        return 1.0 / ops.square(1.0 + slope * ops.abs(x))
    if surrogate == "arctan":
        return (slope / 2.0) / (1.0 + ops.square((math.pi / 2.0) * slope * x))
    return ops.ones_like(x)


def spike(x, surrogate: str = "fast_sigmoid", slope: float = 25.0):
    """Heaviside step `x > 0` (as 0/1 floats) with a surrogate gradient.

    Args:
        x: tensor. Membrane potential minus threshold.
        surrogate: str. "fast_sigmoid", "arctan" or "straight_through".
        slope: float. Sharpness of the surrogate (> 0).

    Returns:
        A tensor of 0.0 and 1.0 of the shape and dtype of `x`; its gradient
        is `surrogate_derivative(x, surrogate, slope)`.
    """
    check_choice("surrogate", surrogate, SURROGATES)
    check_float("slope", slope, minimum=0.0, min_inclusive=False)
    x = ops.convert_to_tensor(x)
    step = ops.cast(ops.greater(x, 0.0), x.dtype)
    s = _antiderivative(x, surrogate, slope)
    # (s - stop_gradient(s)) is exactly zero forward and carries s' backward.
    return step + (s - ops.stop_gradient(s))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class _FieldsConfig:
    """`get_config` from the attribute names listed in `_config_fields`.

    Every layer here stores its constructor arguments under their own names,
    so one loop writes the config (initializers serialized).
    """

    _config_fields: tuple = ()

    def get_config(self):
        config = super().get_config()
        for name in self._config_fields:
            value = getattr(self, name)
            if isinstance(value, keras.initializers.Initializer):
                value = keras.initializers.serialize(value)
            config[name] = value
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LIFCell(_FieldsConfig, keras.layers.Layer):
    """Leaky integrate-and-fire neurons, one time step (a Keras RNN cell).

    At each step: `i = x @ W + b` (or `i = x` with `use_kernel=False`),
    `v = beta * v + i`, `s = spike(v - threshold)`, then the reset: "subtract"
    (`v -= s * threshold`) or "zero" (`v *= 1 - s`). The output is `s`.

    Args:
        units: int. Number of neurons (with `use_kernel=False`, the input width).
        beta: float in (0, 1]. Membrane decay per step (1: no leak, the
            integrate-and-fire neuron of converted networks).
        threshold: float > 0. Firing threshold.
        learn_beta: bool. Train one decay per neuron (kept in (0, 1) through a
            sigmoid; needs beta < 1).
        learn_threshold: bool. Train one threshold per neuron.
        reset: str. "subtract" or "zero".
        surrogate: str. One of `SURROGATES`.
        slope: float. Sharpness of the surrogate gradient.
        use_kernel: bool. Synaptic weights before the neurons (False: the input
            is the current, e.g. after a convolution).
        use_bias: bool. Bias of the synaptic current.
        kernel_initializer: initializer of the synaptic weights.

    Example:
    >>> layer = keras.layers.RNN(LIFCell(8), return_sequences=True)
    >>> layer(keras.ops.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    _config_fields = (
        "units",
        "beta",
        "threshold",
        "learn_beta",
        "learn_threshold",
        "reset",
        "surrogate",
        "slope",
        "use_kernel",
        "use_bias",
        "kernel_initializer",
    )

    def __init__(
        self,
        units,
        beta=0.9,
        threshold=1.0,
        learn_beta=False,
        learn_threshold=False,
        reset="subtract",
        surrogate="fast_sigmoid",
        slope=25.0,
        use_kernel=True,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("units", units, minimum=1)
        # beta = 1 has no logit, so a learned decay starts below 1.
        check_float(
            "beta",
            beta,
            minimum=0.0,
            maximum=1.0,
            min_inclusive=False,
            max_inclusive=not learn_beta,
        )
        check_float("threshold", threshold, minimum=0.0, min_inclusive=False)
        check_choice("reset", reset, RESETS)
        check_choice("surrogate", surrogate, SURROGATES)
        check_float("slope", slope, minimum=0.0, min_inclusive=False)
        self.units = int(units)
        self.beta = float(beta)
        self.threshold = float(threshold)
        self.learn_beta = bool(learn_beta)
        self.learn_threshold = bool(learn_threshold)
        self.reset = reset
        self.surrogate = surrogate
        self.slope = float(slope)
        self.use_kernel = bool(use_kernel)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if not self.use_kernel and in_dim != self.units:
            raise ValueError(
                f"LIFCell with use_kernel=False needs units equal to the input width; "
                f"got units={self.units} and an input of width {in_dim}."
            )
        if self.use_kernel:
            self.kernel = self.add_weight(
                shape=(in_dim, self.units),
                initializer=self.kernel_initializer,
                name="kernel",
            )
        if self.use_kernel and self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer="zeros", name="bias"
            )
        if self.learn_beta:
            self.beta_logit = self.add_weight(
                shape=(self.units,),
                initializer=keras.initializers.Constant(_logit(self.beta)),
                name="beta_logit",
            )
        if self.learn_threshold:
            self.threshold_weight = self.add_weight(
                shape=(self.units,),
                initializer=keras.initializers.Constant(self.threshold),
                name="threshold",
            )

    def current(self, inputs):
        """Synaptic current of one step's input."""
        if not self.use_kernel:
            return inputs
        i = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            i = i + self.bias
        return i

    def decay(self):
        """Membrane decay: the fixed beta or the learned one per neuron."""
        if self.learn_beta:
            return ops.sigmoid(self.beta_logit)
        return self.beta

    def firing_threshold(self):
        """Threshold: the fixed one or the learned one per neuron (kept > 0)."""
        if self.learn_threshold:
            return ops.maximum(self.threshold_weight, 1e-3)
        return self.threshold

    def _fire(self, v, threshold):
        s = spike(v - threshold, self.surrogate, self.slope)
        # "subtract" keeps the excess above threshold; "zero" drops it.
        v = v - s * threshold if self.reset == "subtract" else v * (1.0 - s)
        return s, v

    def call(self, inputs, states, training=None):
        v = states[0] if isinstance(states, (list, tuple)) else states
        v = self.decay() * v + self.current(inputs)
        s, v = self._fire(v, self.firing_threshold())
        return s, [v]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AdaptiveLIFCell(LIFCell):
    """LIF neurons whose threshold rises after each spike (Bellec et al. 2018).

    Besides the membrane `v`, each neuron keeps an adaptation trace
    `a = rho * a + s` (of its past spikes); its threshold is
    `threshold + adaptation * a`, so a neuron that fired recently fires less.

    Args:
        units: int. Number of neurons.
        rho: float in (0, 1). Decay of the adaptation trace per step.
        adaptation: float >= 0. Threshold increase per unit of trace.
        **kwargs: the arguments of `LIFCell`.

    Example:
    >>> layer = keras.layers.RNN(AdaptiveLIFCell(4), return_sequences=True)
    >>> layer(keras.ops.ones((1, 3, 2))).shape
    (1, 3, 4)
    """

    _config_fields = LIFCell._config_fields + ("rho", "adaptation")

    def __init__(self, units, rho=0.95, adaptation=0.2, **kwargs):
        super().__init__(units, **kwargs)
        check_float(
            "rho",
            rho,
            minimum=0.0,
            maximum=1.0,
            min_inclusive=False,
            max_inclusive=False,
        )
        check_float("adaptation", adaptation, minimum=0.0)
        self.rho = float(rho)
        self.adaptation = float(adaptation)

    @property
    def state_size(self):
        return [self.units, self.units]

    def call(self, inputs, states, training=None):
        v, a = states[0], states[1]
        v = self.decay() * v + self.current(inputs)
        threshold = self.firing_threshold() + self.adaptation * a
        s, v = self._fire(v, threshold)
        a = self.rho * a + s
        return s, [v, a]


def _check_steps(time_steps):
    check_int("time_steps", time_steps, minimum=1)
    return int(time_steps)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RepeatEncoder(_FieldsConfig, keras.layers.Layer):
    """Direct encoding: the analog input repeated at every time step.

    (batch, *features) -> (batch, time_steps, *features). The first spiking
    layer then turns the constant current into spikes.

    Args:
        time_steps: int. Number of steps.
    """

    _config_fields = ("time_steps",)

    def __init__(self, time_steps, **kwargs):
        super().__init__(**kwargs)
        self.time_steps = _check_steps(time_steps)

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.time_steps, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.time_steps, *input_shape[1:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PoissonEncoder(_FieldsConfig, keras.layers.Layer):
    """Poisson (Bernoulli) rate coding: intensity in [0, 1] -> spike probability.

    (batch, *features) -> (batch, time_steps, *features) of 0/1 values, each
    step drawing `spike ~ Bernoulli(clip(gain * x, 0, 1))`. It samples in
    training and inference alike (the code is random by definition).

    Args:
        time_steps: int. Number of steps.
        gain: float > 0. Firing probability per step of an intensity of 1.
        seed: int or None. Seed of the sampling.
    """

    _config_fields = ("time_steps", "gain", "seed")

    def __init__(self, time_steps, gain=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.time_steps = _check_steps(time_steps)
        check_float("gain", gain, minimum=0.0, min_inclusive=False)
        self.gain = float(gain)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        p = ops.clip(self.gain * ops.cast(inputs, self.compute_dtype), 0.0, 1.0)
        p = ops.repeat(ops.expand_dims(p, 1), self.time_steps, axis=1)
        u = keras.random.uniform(ops.shape(p), seed=self.seed_generator, dtype=p.dtype)
        return ops.cast(ops.less(u, p), p.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.time_steps, *input_shape[1:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LatencyEncoder(_FieldsConfig, keras.layers.Layer):
    """Latency (time-to-first-spike) coding: brighter inputs spike earlier.

    An intensity x in [0, 1] spikes once, at step `round((1 - x) * (T - 1))`;
    inputs at or below `threshold` never spike.

    Args:
        time_steps: int. Number of steps T.
        threshold: float. Intensities at or below it stay silent.
    """

    _config_fields = ("time_steps", "threshold")

    def __init__(self, time_steps, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.time_steps = _check_steps(time_steps)
        check_float("threshold", threshold)
        self.threshold = float(threshold)

    def call(self, inputs):
        x = ops.clip(ops.cast(inputs, self.compute_dtype), 0.0, 1.0)
        when = ops.round((1.0 - x) * (self.time_steps - 1))
        steps = ops.arange(self.time_steps, dtype=x.dtype)
        steps = ops.reshape(steps, (1, self.time_steps) + (1,) * (len(x.shape) - 1))
        fires = ops.cast(ops.equal(ops.expand_dims(when, 1), steps), x.dtype)
        active = ops.cast(ops.greater(x, self.threshold), x.dtype)
        return fires * ops.expand_dims(active, 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.time_steps, *input_shape[1:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DeltaEncoder(_FieldsConfig, keras.layers.Layer):
    """Delta modulation of a sequence: spike where the signal changed enough.

    (batch, time, features) -> (batch, time, features) of 0/1 ("on" spikes
    where `x_t - x_{t-1} > threshold`), or (batch, time, 2 * features) with
    `off_spikes=True` (the decreases as a second channel group). The first
    step is compared with zero.

    Args:
        threshold: float >= 0. Change needed for a spike.
        off_spikes: bool. Also emit spikes for decreases.
    """

    _config_fields = ("threshold", "off_spikes")

    def __init__(self, threshold=0.1, off_spikes=False, **kwargs):
        super().__init__(**kwargs)
        check_float("threshold", threshold, minimum=0.0)
        self.threshold = float(threshold)
        self.off_spikes = bool(off_spikes)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        previous = ops.concatenate([ops.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
        delta = x - previous
        on = ops.cast(ops.greater(delta, self.threshold), x.dtype)
        if not self.off_spikes:
            return on
        off = ops.cast(ops.less(delta, -self.threshold), x.dtype)
        return ops.concatenate([on, off], axis=-1)

    def compute_output_shape(self, input_shape):
        if not self.off_spikes or input_shape[-1] is None:
            return tuple(input_shape)
        return (*input_shape[:-1], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpikeCount(_FieldsConfig, keras.layers.Layer):
    """Readout: spikes per neuron summed (or averaged) over the time axis.

    (batch, time, features) -> (batch, features).

    Args:
        normalize: bool. Divide by the number of steps (a firing rate).
    """

    _config_fields = ("normalize",)

    def __init__(self, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.normalize = bool(normalize)

    def call(self, inputs):
        if self.normalize:
            return ops.mean(inputs, axis=1)
        return ops.sum(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MembraneReadout(_FieldsConfig, keras.layers.Layer):
    """Readout: non-spiking leaky integrators, their membrane over time reduced.

    `v_t = beta * v_{t-1} + x_t @ W + b` (no threshold, no reset), computed
    for all steps at once as a product with the lower-triangular decay matrix
    `beta^(t-k)`; the output is the mean, max or last `v_t` over time:
    (batch, time, features) -> (batch, units). Its values are logits.

    Args:
        units: int. Number of outputs.
        beta: float in (0, 1]. Decay of the integrators.
        reduction: str. "mean", "max" or "last".
        kernel_initializer: initializer of the weights.
    """

    _config_fields = ("units", "beta", "reduction", "kernel_initializer")

    def __init__(
        self,
        units,
        beta=0.9,
        reduction="mean",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("units", units, minimum=1)
        check_float("beta", beta, minimum=0.0, maximum=1.0, min_inclusive=False)
        check_choice("reduction", reduction, ("mean", "max", "last"))
        self.units = int(units)
        self.beta = float(beta)
        self.reduction = reduction
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer="zeros", name="bias"
        )

    def call(self, inputs):
        current = ops.matmul(inputs, self.kernel) + self.bias  # (batch, T, units)
        steps = ops.shape(inputs)[1]
        t = ops.arange(steps, dtype=current.dtype)
        lag = ops.expand_dims(t, 1) - ops.expand_dims(t, 0)  # t - k
        decay = ops.where(lag >= 0, ops.power(self.beta, ops.maximum(lag, 0.0)), 0.0)
        v = ops.einsum("tk,bku->btu", decay, current)
        if self.reduction == "mean":
            return ops.mean(v, axis=1)
        if self.reduction == "max":
            return ops.max(v, axis=1)
        return v[:, -1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)
