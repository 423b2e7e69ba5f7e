"""Local response normalization across channels (Krizhevsky et al. 2012)."""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_float, check_int
from kerasdl.layers._config import InitConfig


@keras.saving.register_keras_serializable(package="kerasdl")
class LocalResponseNormalization(InitConfig, keras.layers.Layer):
    """Normalizes each activation by the energy of its neighbouring channels.

    For channel c, with r = `depth_radius` and C channels:

        sqr_sum[c] = sum(x[d] ** 2 for d in [max(0, c - r), min(C - 1, c + r)])
        y[c] = x[c] / (bias + alpha * sqr_sum[c]) ** beta

    This is exactly `tf.nn.local_response_normalization` (same argument names),
    written with `keras.ops` so it runs on every backend. The AlexNet paper's
    window size n is `2 * depth_radius + 1` and its k is `bias`; like the paper
    and TensorFlow (but unlike Caffe and `torch.nn.LocalResponseNorm`), alpha
    is not divided by n. The defaults are the paper's n=5, k=2, alpha=1e-4,
    beta=0.75. The sum is computed in float32 so that float16 inputs do not
    overflow when squared.

    Args:
        depth_radius: int. Half-width r of the channel window (n = 2r + 1).
        bias: float. Additive constant k of the denominator.
        alpha: float. Scale of the sum of squares.
        beta: float. Exponent of the denominator.
        axis: int. Channel axis (-1 for channels-last).
        **kwargs: Base `keras.layers.Layer` arguments (name, dtype, ...).

    Raises:
        ValueError: if `depth_radius` is not an integer >= 0 or a coefficient
            is not a number.

    Example:
    >>> lrn = LocalResponseNormalization(depth_radius=2, bias=2.0)
    >>> lrn(keras.ops.ones((1, 4, 4, 8))).shape
    (1, 4, 4, 8)
    """

    def __init__(
        self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, axis=-1, **kwargs
    ):
        super().__init__(**kwargs)
        self.depth_radius = check_int("depth_radius", depth_radius, minimum=0)
        self.bias = check_float("bias", bias)
        self.alpha = check_float("alpha", alpha)
        self.beta = check_float("beta", beta)
        self.axis = check_int("axis", axis)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Invalid axis={self.axis} for an input of rank {rank} "
                f"(input shape {tuple(input_shape)})."
            )
        self.built = True

    def call(self, inputs):
        rank = len(inputs.shape)
        axis = self.axis % rank
        x = inputs if axis == rank - 1 else ops.moveaxis(inputs, axis, -1)
        x = ops.cast(x, "float32")
        r = self.depth_radius
        # Zero-pad the channel axis by r on each side; the window sum is then
        # the sum of 2r + 1 shifted slices, each of the original length C.
        padded = ops.pad(ops.square(x), [[0, 0]] * (rank - 1) + [[r, r]])
        sqr_sum = padded[..., : (-2 * r) or None]
        for i in range(1, 2 * r + 1):
            sqr_sum = sqr_sum + padded[..., i : (i - 2 * r) or None]
        outputs = x * ops.power(self.bias + self.alpha * sqr_sum, -self.beta)
        if axis != rank - 1:
            outputs = ops.moveaxis(outputs, -1, axis)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
