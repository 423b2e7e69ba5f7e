"""Spectral normalization of a Dense or Conv2D layer, the same on every backend.

Keras 3.15 ships `keras.layers.SpectralNormalization`, but it *assigns* the
normalized kernel to the wrapped layer's trainable kernel inside `call`.
Under JAX every call is stateless: the assignment of a trainable variable
and the update of the power-iteration vector are dropped, so the stored
kernel is never normalized and the singular-vector estimate never improves
(one iteration from the same random vector at every step); on TensorFlow and
PyTorch the same layer rewrites its kernel in place. This wrapper computes
`W / sigma(W)` functionally in every call (the gradient flows through the
normalization, as in Miyato et al. 2018) and keeps only the power-iteration
vector `u` as state, so all three backends train the same function.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int

__all__ = ["SpectralNorm"]


def _l2_normalize(v, eps=1e-12):
    return v / ops.sqrt(ops.maximum(ops.sum(v * v), eps))


@keras.saving.register_keras_serializable(package="kerasdl")
class SpectralNorm(keras.layers.Wrapper):
    """Divides a Dense or Conv2D kernel by its largest singular value.

    The spectral norm is estimated by power iteration with a persistent
    vector `u` (updated in training), so the wrapped layer is
    1-Lipschitz in its kernel: the usual stabilizer of GAN discriminators.

    Args:
        layer: keras.layers.Dense or keras.layers.Conv2D to normalize.
        power_iterations: int >= 1. Power-iteration steps per training call.

    Example:
    >>> SpectralNorm(keras.layers.Conv2D(32, 4, strides=2, padding="same"))
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            raise ValueError(
                f"Invalid layer={type(layer).__name__}: expected a "
                "keras.layers.Dense or keras.layers.Conv2D."
            )
        self.power_iterations = check_int("power_iterations", power_iterations, 1)

    def build(self, input_shape):
        super().build(input_shape)
        kernel = self.layer.kernel
        self.vector_u = self.add_weight(
            shape=(1, kernel.shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="vector_u",
        )

    def normalized_kernel(self, training=False):
        """The kernel divided by its estimated spectral norm, and the new u."""
        kernel = self.layer.kernel
        w = ops.reshape(kernel, (-1, kernel.shape[-1]))  # (fan_in, out)
        u = self.vector_u.value
        steps = self.power_iterations if training else 0
        for _ in range(steps):
            v = _l2_normalize(ops.matmul(u, ops.transpose(w)))
            u = _l2_normalize(ops.matmul(v, w))
        u = ops.stop_gradient(_l2_normalize(u))
        v = ops.stop_gradient(_l2_normalize(ops.matmul(u, ops.transpose(w))))
        sigma = ops.sum(ops.matmul(v, w) * u)
        return kernel / sigma, u

    def call(self, inputs, training=False):
        kernel, u = self.normalized_kernel(training=training)
        if training:
            self.vector_u.assign(u)
        layer = self.layer
        if isinstance(layer, keras.layers.Conv2D):
            outputs = ops.conv(
                inputs,
                ops.cast(kernel, inputs.dtype),
                strides=layer.strides,
                padding=layer.padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
            if layer.use_bias:
                bias = layer.bias
                if layer.data_format == "channels_first":
                    bias = ops.reshape(bias, (1, -1, 1, 1))
                outputs = outputs + ops.cast(bias, inputs.dtype)
        else:
            outputs = ops.matmul(inputs, ops.cast(kernel, inputs.dtype))
            if layer.use_bias:
                outputs = outputs + ops.cast(layer.bias, inputs.dtype)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Wrapper.from_config pops "layer" from the dict it is given.
        return super().from_config(dict(config), custom_objects=custom_objects)
