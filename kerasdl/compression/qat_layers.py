"""Fake-quantization layers for quantization-aware training (QAT).

TFMOT's default 8-bit scheme, written with `keras.ops` so that it trains on
every backend:

- weights: symmetric int8 in the narrow range [-127, 127], per output channel
  (the last kernel axis) or per tensor, with the range taken from the current
  kernel at every call (TFMOT's LastValueQuantizer);
- activations: asymmetric int8 over [0, 255] per tensor, with the range kept
  as an exponential moving average of each training batch's min/max
  (TFMOT's MovingAverageQuantizer, ema_decay 0.999, initial range [-6, 6]),
  or as the running min/max of every value seen (TFMOT's AllValuesQuantizer,
  used on the model input); ranges are updated in training, frozen in
  inference.

Every fake quantization goes through `keras.quantizers.fake_quant_with_min_max_vars`,
which on TensorFlow lowers to `tf.quantization.fake_quant_with_min_max_vars`
(and its per-channel twin): the ops the TFLite converter reads as QAT ranges.
Gradients are straight-through inside the range and zero outside, as in TF's
op; ranges are statistics, not trained, so no gradient flows into them.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_float

__all__ = [
    "QUANTIZE_MODES",
    "QuantConv2D",
    "QuantDense",
    "QuantDepthwiseConv2D",
    "QuantizeLayer",
    "fake_quant_kernel",
]

NUM_BITS = 8
EMA_DECAY = 0.999
# TFMOT's initial activation range ([-6, 6], i.e. ReLU6's) and input range (0).
INIT_RANGE = 6.0
QUANTIZE_MODES = ("moving_average", "all_values")
# Activations quantized before they are applied: their TFLite kernels read an
# int8 input and write an output with a fixed scale (TFMOT does the same).
PRE_QUANT_ACTIVATIONS = ("softmax", "sigmoid", "tanh")
# A quantization range narrower than this is widened (an all-zero kernel
# channel, an untrained input range), so that scales stay finite.
_MIN_RANGE = 1e-6


def _activation_name(activation) -> str:
    return getattr(activation, "__name__", type(activation).__name__)


def fake_quant_kernel(kernel, per_channel: bool = True, axis: int = -1):
    """Symmetric narrow-range int8 fake quantization of a weight tensor.

    Args:
        kernel: tensor. Weights.
        per_channel: bool. One scale per index of `axis` (the output
            channels) instead of one for the whole tensor.
        axis: int. The channel axis of `per_channel`.

    Returns:
        tensor: `kernel` rounded to `scale * q` with integer q in [-127, 127]
        and `scale = max|kernel| / 127` (per channel or per tensor).

    Example:
    >>> w = fake_quant_kernel(layer.kernel)
    """
    if not per_channel:
        bound = ops.stop_gradient(ops.maximum(ops.max(ops.abs(kernel)), _MIN_RANGE))
        return keras.quantizers.fake_quant_with_min_max_vars(
            kernel, -bound, bound, num_bits=NUM_BITS, narrow_range=True
        )
    # keras' per-channel fake quantization broadcasts (channels,) ranges
    # against the last axis only (outside TensorFlow): move the axis there.
    last = len(kernel.shape) - 1
    axis = axis % len(kernel.shape)
    if axis != last:
        kernel = ops.swapaxes(kernel, axis, last)
    bound = ops.max(ops.abs(kernel), axis=tuple(range(last)))
    bound = ops.stop_gradient(ops.maximum(bound, _MIN_RANGE))
    outputs = keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=NUM_BITS, narrow_range=True, axis=-1
    )
    return outputs if axis == last else ops.swapaxes(outputs, axis, last)


class _RangeTracker:
    """Min/max variables of one activation quantizer and their update rule."""

    def __init__(self, layer, prefix: str, mode: str, ema_decay: float):
        init = 0.0 if mode == "all_values" else INIT_RANGE
        self.mode, self.ema_decay = mode, ema_decay
        self.min = layer.add_weight(
            name=f"{prefix}min",
            shape=(),
            initializer=keras.initializers.Constant(-init),
            trainable=False,
            autocast=False,
        )
        self.max = layer.add_weight(
            name=f"{prefix}max",
            shape=(),
            initializer=keras.initializers.Constant(init),
            trainable=False,
            autocast=False,
        )

    def __call__(self, x, training):
        if training:
            # 0 always lies in the range, so that 0.0 is exactly representable.
            batch_min = ops.minimum(ops.min(ops.cast(x, "float32")), 0.0)
            batch_max = ops.maximum(ops.max(ops.cast(x, "float32")), 0.0)
            if self.mode == "all_values":
                low = ops.minimum(self.min, batch_min)
                high = ops.maximum(self.max, batch_max)
            else:
                keep = self.ema_decay
                low = self.min * keep + batch_min * (1.0 - keep)
                high = self.max * keep + batch_max * (1.0 - keep)
            low, high = ops.stop_gradient(low), ops.stop_gradient(high)
            self.min.assign(low)
            self.max.assign(high)
        else:
            low, high = self.min, self.max
        high = ops.maximum(high, low + _MIN_RANGE)
        outputs = keras.quantizers.fake_quant_with_min_max_vars(
            ops.cast(x, "float32"), low, high, num_bits=NUM_BITS, narrow_range=False
        )
        return ops.cast(outputs, x.dtype)


def _check_mode(mode):
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"Invalid mode={mode!r}; accepted: {QUANTIZE_MODES}.")


@keras.saving.register_keras_serializable(package="kerasdl")
class QuantizeLayer(keras.layers.Layer):
    """Fake-quantizes a tensor to int8 with a range learned from the data.

    Placed after the model inputs (mode "all_values": the range is the min/max
    of every value seen in training) and after layers whose output is an int8
    tensor in the converted model (mode "moving_average").

    Args:
        mode: str. "moving_average" (EMA of batch min/max, initial [-6, 6]) or
            "all_values" (running min/max, initial [0, 0]).
        ema_decay: float in [0, 1). EMA decay of mode "moving_average".
        **kwargs: Base layer arguments (name, dtype, ...).

    Example:
    >>> x = QuantizeLayer(mode="all_values", name="quantize_input")(inputs)
    """

    def __init__(self, mode="moving_average", ema_decay=EMA_DECAY, **kwargs):
        super().__init__(**kwargs)
        _check_mode(mode)
        check_float("ema_decay", ema_decay, 0, 1, max_inclusive=False)
        self.mode = mode
        self.ema_decay = float(ema_decay)
        self.supports_masking = True

    def build(self, input_shape):
        self._range = _RangeTracker(self, "", self.mode, self.ema_decay)
        self.built = True

    @property
    def range_min(self):
        return self._range.min

    @property
    def range_max(self):
        return self._range.max

    def call(self, inputs, training=None):
        return self._range(inputs, bool(training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "ema_decay": self.ema_decay}


class _QuantKernelMixin:
    """Fake-quantized kernel plus the activation quantization of TFMOT's
    QuantizeAwareActivation: softmax/sigmoid/tanh are quantized before they
    are applied (their output scale is fixed in TFLite); other activations'
    outputs are quantized by a QuantizeLayer that quantize_model places after
    the layer (or not, when a following BatchNormalization/ReLU fuses)."""

    _kernel_attr = "kernel"

    def _init_quant(self, per_channel, ema_decay):
        if not isinstance(per_channel, bool):
            raise ValueError(
                f"per_channel must be True or False; received {per_channel!r}."
            )
        check_float("ema_decay", ema_decay, 0, 1, max_inclusive=False)
        self.per_channel = per_channel
        self.ema_decay = float(ema_decay)

    @property
    def pre_quantizes_activation(self) -> bool:
        return _activation_name(self.activation) in PRE_QUANT_ACTIVATIONS

    def _build_quant(self):
        self._pre_range = None
        if self.pre_quantizes_activation:
            self._pre_range = _RangeTracker(
                self, "pre_activation_", "moving_average", self.ema_decay
            )

    def quantized_kernel(self):
        """The kernel as the int8 file stores it (dequantized), per channel
        or per tensor."""
        return fake_quant_kernel(getattr(self, self._kernel_attr), self.per_channel)

    def _finish(self, outputs, training):
        if self.use_bias:
            # Broadcast the bias over the channel axis (channels_first too).
            shape = [1] * len(outputs.shape)
            shape[
                1 if getattr(self, "data_format", None) == "channels_first" else -1
            ] = -1
            outputs = ops.add(outputs, ops.reshape(self.bias, shape))
        if self._pre_range is not None:
            outputs = self._pre_range(outputs, bool(training))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    # Dense and Conv save only kernel and bias (for their own quantization
    # modes); the generic Layer rule also saves the range variables.
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_quant()

    def get_config(self):
        config = super().get_config()
        return {**config, "per_channel": self.per_channel, "ema_decay": self.ema_decay}


@keras.saving.register_keras_serializable(package="kerasdl")
class QuantDense(_QuantKernelMixin, keras.layers.Dense):
    """Dense layer with an int8 fake-quantized kernel (QAT).

    Args:
        units: int. Output size, as in `keras.layers.Dense`.
        per_channel: bool. One weight scale per output unit (default) instead
            of one per tensor (TFMOT's default for Dense).
        ema_decay: float. EMA decay of the pre-activation range (softmax,
            sigmoid, tanh).
        **kwargs: Every other `keras.layers.Dense` argument.

    Example:
    >>> layer = QuantDense(10, activation="softmax")
    """

    def __init__(self, units, per_channel=True, ema_decay=EMA_DECAY, **kwargs):
        super().__init__(units, **kwargs)
        self._init_quant(per_channel, ema_decay)

    def call(self, inputs, training=None):
        outputs = ops.matmul(inputs, self.quantized_kernel())
        return self._finish(outputs, training)


class _QuantConvCall:
    def call(self, inputs, training=None):
        outputs = self.convolution_op(inputs, self.quantized_kernel())
        return self._finish(outputs, training)


@keras.saving.register_keras_serializable(package="kerasdl")
class QuantConv2D(_QuantConvCall, _QuantKernelMixin, keras.layers.Conv2D):
    """Conv2D layer with an int8 fake-quantized kernel (QAT).

    Args:
        filters: int. Output channels, as in `keras.layers.Conv2D`.
        kernel_size: int or tuple. As in `keras.layers.Conv2D`.
        per_channel: bool. One weight scale per output channel (default).
        ema_decay: float. EMA decay of the pre-activation range (softmax,
            sigmoid, tanh).
        **kwargs: Every other `keras.layers.Conv2D` argument.

    Example:
    >>> layer = QuantConv2D(16, 3, activation="relu")
    """

    def __init__(
        self, filters, kernel_size, per_channel=True, ema_decay=EMA_DECAY, **kwargs
    ):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_quant(per_channel, ema_decay)


@keras.saving.register_keras_serializable(package="kerasdl")
class QuantDepthwiseConv2D(_QuantKernelMixin, keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D layer with an int8 fake-quantized kernel (QAT).

    The kernel has shape (kh, kw, channels, depth_multiplier). With
    depth_multiplier 1 (the usual case) the scales run per input channel,
    which are the output channels and what TFLite's int8 depthwise kernel
    takes (TFMOT quantizes this kernel per tensor); with a larger multiplier
    they run along the multiplier axis, as in TFMOT.

    Args:
        kernel_size: int or tuple. As in `keras.layers.DepthwiseConv2D`.
        per_channel: bool. Per-channel scales (default) or one per tensor.
        ema_decay: float. EMA decay of the pre-activation range.
        **kwargs: Every other `keras.layers.DepthwiseConv2D` argument.

    Example:
    >>> layer = QuantDepthwiseConv2D(3, padding="same")
    """

    def __init__(self, kernel_size, per_channel=True, ema_decay=EMA_DECAY, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self._init_quant(per_channel, ema_decay)

    def quantized_kernel(self):
        axis = 2 if self.depth_multiplier == 1 else 3
        return fake_quant_kernel(self.kernel, self.per_channel, axis=axis)

    def call(self, inputs, training=None):
        outputs = ops.depthwise_conv(
            inputs,
            self.quantized_kernel(),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        return self._finish(outputs, training)
