"""The VAE's stochastic layer: reparameterized Gaussian sampling with its KL term."""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int

__all__ = ["GaussianSampling", "gaussian_kl"]


def gaussian_kl(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, summed over the
    latent axis, in nats: 0.5 * sum(mean**2 + var - log_var - 1)."""
    return 0.5 * ops.sum(
        ops.square(z_mean) + ops.exp(z_log_var) - z_log_var - 1.0, axis=-1
    )


@keras.saving.register_keras_serializable(package="kerasdl")
class GaussianSampling(keras.layers.Layer):
    """z = mean + exp(log_var / 2) * eps, eps ~ N(0, I) (the reparameterization
    trick), and the KL divergence to the N(0, I) prior as a layer loss.

    In training the layer samples; in inference it returns the mean, so a
    VAE reconstructs deterministically. The KL term (per-sample sum over
    latent dimensions, averaged over the batch) is added with `add_loss` in
    both modes, so `model.losses` holds it after every call.

    Args:
        seed: int or None. Seed of the layer's noise generator.

    Call arguments:
        inputs: list [z_mean, z_log_var], each (batch, latent_dim).
        training: bool. Sample (True) or return the mean (False).

    Example:
    >>> z = GaussianSampling(seed=0)([z_mean, z_log_var])
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_int("seed", seed, minimum=0, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        z_mean, z_log_var = inputs
        self.add_loss(ops.mean(gaussian_kl(z_mean, z_log_var)))
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
