"""Variational autoencoders (Kingma & Welling 2014), dense or convolutional, beta-VAE.

The encoder outputs the mean and log-variance of q(z|x); `GaussianSampling`
draws z by reparameterization and adds KL(q(z|x) || N(0, I)) as a layer
loss; the decoder outputs the mean of p(x|z): Bernoulli probabilities, or
the mean of a Gaussian with fixed standard deviation `gaussian_sigma`.
`fit(x)` minimizes reconstruction + beta * KL per image (nats) and logs
"reconstruction", "kl" and "elbo" (= -(reconstruction + kl), the evidence
lower bound at beta = 1).

`encode`, `decode`, `sample` and `generate` (the sampling protocol of
`kerasdl.generative`) work on NumPy; `elbo` and `log_likelihood` give
per-image ELBO and importance-weighted log p(x) in nats.

Samples from N(0, I) land where the aggregate posterior q(z) has no mass
("holes" of the prior) and decode to blurred, in-between digits. With
`prior_components=k`, `fit_prior(x)` fits a k-component Gaussian mixture to
the encoder means of the training images after training (ex-post density
estimation, Ghosh et al. 2020; Dai & Wipf 2019 fit a second VAE instead),
and `generate` samples z from it; the mixture is saved with the model. The
ELBO and log-likelihood stay those of the N(0, I) prior the VAE was trained
with.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from kerasdl._checks import check_choice, check_float, check_int
from kerasdl.layers import GaussianSampling
from kerasdl.models._common import float32_under_mixed
from kerasdl.models.generative._common import (
    GenerativeModel,
    check_latent,
    check_stack_args,
    decoder_stack,
    encoder_stack,
    predict_batches,
    register_variants,
    rng_normal,
)

__all__ = ["LIKELIHOODS", "VAE"]

LIKELIHOODS = ("bernoulli", "gaussian")
MAX_PRIOR_COMPONENTS = 1000
_EPS = 1e-6


def _log_sum_exp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


@keras.saving.register_keras_serializable(package="kerasdl")
class VAE(GenerativeModel):
    """A variational autoencoder trained on the ELBO with `fit(x)`.

    Args:
        image_shape: tuple. (height, width, channels) of images in [0, 1].
        latent_dim: int. Size of z.
        architecture: str. "dense" or "conv" (stride-2 convolutions).
        hidden_units: list of int. Dense widths of the encoder (the decoder
            mirrors them); used when architecture="dense".
        filters: list of int. Conv filters per stride-2 stage (the decoder
            mirrors them); used when architecture="conv".
        likelihood: str. p(x|z): "bernoulli" (pixel probabilities) or
            "gaussian" (fixed standard deviation `gaussian_sigma`).
        gaussian_sigma: float. Standard deviation of the Gaussian likelihood.
        beta: float. Weight of the KL term (beta-VAE; 1 is the plain ELBO).
        seed: int or None. Seed of the sampling layer's noise.
        prior_components: int >= 0. Components of the sampling prior that
            `fit_prior` fits to the encoded training images; 0 samples from
            N(0, I) only. Until `fit_prior` runs, the mixture is N(0, I).

    Example:
    >>> vae = kerasdl.build("conv_vae", image_shape=(16, 16, 1), latent_dim=8)
    >>> vae.compile(optimizer="adam")
    >>> vae.fit(images, epochs=20)          # logs reconstruction, kl, elbo
    >>> vae.elbo(test_images).mean()        # nats per image
    """

    registry_name = "vae"

    def __init__(
        self,
        image_shape=(16, 16, 1),
        latent_dim=8,
        architecture="dense",
        hidden_units=(256, 128),
        filters=(32, 64),
        likelihood="bernoulli",
        gaussian_sigma=0.1,
        beta=1.0,
        seed=None,
        prior_components=0,
    ):
        image_shape, latent_dim, architecture, hidden_units, filters = check_stack_args(
            image_shape, latent_dim, architecture, hidden_units, filters
        )
        check_choice("likelihood", likelihood, LIKELIHOODS)
        gaussian_sigma = check_float(
            "gaussian_sigma", gaussian_sigma, minimum=0.0, min_inclusive=False
        )
        beta = check_float("beta", beta, minimum=0.0)
        seed = check_int("seed", seed, minimum=0, allow_none=True)
        prior_components = check_int(
            "prior_components",
            prior_components,
            minimum=0,
            maximum=MAX_PRIOR_COMPONENTS,
        )

        image = keras.Input(image_shape, name="image")
        h = encoder_stack(image, architecture, filters, hidden_units, "encoder")
        # The posterior's parameters, the sample and its KL term in float32
        # under a mixed policy (exp(log_var) overflows float16 at 11).
        float32 = float32_under_mixed()
        z_mean = layers.Dense(latent_dim, dtype=float32, name="z_mean")(h)
        z_log_var = layers.Dense(
            latent_dim, kernel_initializer="zeros", dtype=float32, name="z_log_var"
        )(h)
        encoder = keras.Model(image, [z_mean, z_log_var], name="encoder")

        z_in = keras.Input((latent_dim,), name="z")
        out = decoder_stack(
            z_in, image_shape, architecture, filters, hidden_units, "decoder"
        )
        decoder = keras.Model(z_in, out, name="decoder")

        inputs = keras.Input(image_shape, name="input")
        mean, log_var = encoder(inputs)
        z = GaussianSampling(seed=seed, dtype=float32, name="z")([mean, log_var])
        outputs = decoder(z)
        self._finish(inputs, outputs, locals())
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.gaussian_sigma = gaussian_sigma
        self.beta = beta
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.prior_components = prior_components
        if prior_components:
            # Mixture weights (logits), means and Cholesky factors of the
            # covariances; initialized to k copies of N(0, I).
            k, d = prior_components, latent_dim
            self.prior_logits = self.add_weight(
                shape=(k,), initializer="zeros", trainable=False, name="prior_logits"
            )
            self.prior_means = self.add_weight(
                shape=(k, d), initializer="zeros", trainable=False, name="prior_means"
            )
            self.prior_scale_tril = self.add_weight(
                shape=(k, d, d),
                initializer=lambda shape, dtype=None: ops.broadcast_to(
                    ops.eye(d, dtype=dtype), shape
                ),
                trainable=False,
                name="prior_scale_tril",
            )

    # ------------------------------------------------------------ training
    def reconstruction_nll(self, x, x_hat):
        """-log p(x|z) per image in nats, summed over pixels (keras.ops)."""
        x = ops.cast(ops.reshape(x, (ops.shape(x)[0], -1)), "float32")
        x_hat = ops.cast(ops.reshape(x_hat, (ops.shape(x_hat)[0], -1)), "float32")
        if self.likelihood == "bernoulli":
            p = ops.clip(x_hat, _EPS, 1.0 - _EPS)
            per_pixel = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
        else:
            sigma = self.gaussian_sigma
            per_pixel = 0.5 * ops.square((x - x_hat) / sigma) + (
                math.log(sigma) + 0.5 * math.log(2.0 * math.pi)
            )
        return ops.sum(per_pixel, axis=-1)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Negative ELBO with a beta-weighted KL; `y` (labels) is not used.

        Raises:
            ValueError: when the model was compiled with a loss of its own.
        """
        if self.loss is not None:
            raise ValueError(
                f"Invalid loss={self.loss!r} for {type(self).__name__}: expected "
                "None; the VAE computes its own loss (negative ELBO). Compile it "
                "without `loss`."
            )
        reconstruction = ops.mean(self.reconstruction_nll(x, y_pred))
        # The sampling layer's KL term is the model's only layer loss.
        kl = ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        self.elbo_tracker.update_state(-(reconstruction + kl))
        return reconstruction + self.beta * kl

    # ------------------------------------------------------------ NumPy API
    def encode(self, x, batch_size=256):
        """(z_mean, z_log_var) of images `x`, as NumPy arrays (n, latent_dim)."""
        x = np.asarray(x, "float32")
        means, log_vars = [], []
        for start in range(0, len(x), batch_size):
            m, lv = self.encoder(x[start : start + batch_size], training=False)
            means.append(ops.convert_to_numpy(m))
            log_vars.append(ops.convert_to_numpy(lv))
        if not means:
            empty = np.zeros((0, self.latent_dim), "float32")
            return empty, empty.copy()
        return np.concatenate(means), np.concatenate(log_vars)

    def decode(self, z, batch_size=256):
        """Images (the mean of p(x|z)) for latent codes `z` of shape (n, latent_dim).

        Raises:
            ValueError: when `z` does not have latent_dim columns.
        """
        return predict_batches(
            self.decoder, check_latent(z, self.latent_dim), batch_size
        )

    def fit_prior(self, x, seed=0, batch_size=256):
        """Fits the sampling prior to the encoder means of images `x`.

        A Gaussian mixture of `prior_components` components with full
        covariances (scikit-learn's EM, `reg_covar` 1e-4) over the
        aggregate posterior's means; `generate` then samples from it.

        Args:
            x: array (n, *image_shape) in [0, 1]: the training images.
            seed: int. Seed of the EM initialization.
            batch_size: int. Images per encoder pass.

        Returns:
            The model (fitted in place).

        Raises:
            ValueError: when the model was built with prior_components=0, or
                `x` has fewer images than components.
            ImportError: without scikit-learn (`pip install kerasdl[data]`).
        """
        k = self.prior_components
        if not k:
            raise ValueError(
                "fit_prior needs a mixture prior: build the VAE with "
                "prior_components >= 1 (received prior_components=0)."
            )
        means, _ = self.encode(x, batch_size)
        if len(means) < k:
            raise ValueError(
                f"fit_prior needs at least prior_components={k} images; "
                f"received {len(means)}."
            )
        try:
            from sklearn.mixture import GaussianMixture
        except ImportError as error:
            raise ImportError(
                "VAE.fit_prior uses scikit-learn's GaussianMixture: "
                "pip install 'kerasdl[data]' (or scikit-learn)."
            ) from error
        mixture = GaussianMixture(
            k, covariance_type="full", reg_covar=1e-4, random_state=seed
        ).fit(means.astype("float64"))
        self.prior_logits.assign(np.log(mixture.weights_).astype("float32"))
        self.prior_means.assign(mixture.means_.astype("float32"))
        self.prior_scale_tril.assign(
            np.linalg.cholesky(mixture.covariances_).astype("float32")
        )
        return self

    def generate(self, n, labels=None, seed=None, steps=None, guidance=None):
        """Sampling protocol (`kerasdl.generative.sample` checks the arguments):
        decodes z drawn with NumPy's generator for `seed` from N(0, I), or
        from the mixture prior when the model has one."""
        if not self.prior_components:
            return self.decode(rng_normal(seed, (n, self.latent_dim)))
        rng = np.random.default_rng(seed)
        logits = ops.convert_to_numpy(self.prior_logits).astype("float64")
        weights = np.exp(logits - logits.max())
        component = rng.choice(len(weights), size=n, p=weights / weights.sum())
        eps = rng.standard_normal((n, self.latent_dim)).astype("float32")
        means = ops.convert_to_numpy(self.prior_means)[component]
        tril = ops.convert_to_numpy(self.prior_scale_tril)[component]
        return self.decode(means + np.einsum("nij,nj->ni", tril, eps))

    def sample(self, n, seed=None):
        """`n` images decoded from prior samples; identical for the same seed."""
        return self.generate(check_int("n", n, minimum=0), seed=seed)

    def _log_px_given_z(self, x, z):
        x_hat = self.decode(z)
        return ops.convert_to_numpy(self.reconstruction_nll(x, x_hat)) * -1.0

    def elbo(self, x, seed=0, batch_size=256):
        """Per-image ELBO in nats: E_q[log p(x|z)] (one z sample) - KL.

        Args:
            x: array (n, *image_shape) in [0, 1].
            seed: int. Seed of the z sample.
            batch_size: int. Images per forward pass.

        Returns:
            np.ndarray (n,) of ELBO values (higher is better).
        """
        x = np.asarray(x, "float32")
        mean, log_var = self.encode(x, batch_size)
        eps = rng_normal(seed, mean.shape)
        z = mean + np.exp(0.5 * log_var) * eps
        kl = 0.5 * np.sum(mean**2 + np.exp(log_var) - log_var - 1.0, axis=-1)
        return self._log_px_given_z(x, z) - kl

    def log_likelihood(self, x, num_samples=64, seed=0):
        """Importance-weighted estimate of log p(x) per image in nats
        (Burda et al. 2016); tighter than the ELBO as num_samples grows.

        Args:
            x: array (n, *image_shape) in [0, 1].
            num_samples: int >= 1. Importance samples per image.
            seed: int. Seed of the z samples.

        Returns:
            np.ndarray (n,).
        """
        num_samples = check_int("num_samples", num_samples, minimum=1)
        x = np.asarray(x, "float32")
        mean, log_var = self.encode(x)
        rng = np.random.default_rng(seed)
        std = np.exp(0.5 * log_var)
        weights = []
        for _ in range(num_samples):
            eps = rng.standard_normal(mean.shape).astype("float32")
            z = mean + std * eps
            log_q = -0.5 * np.sum(eps**2 + log_var + np.log(2 * np.pi), axis=-1)
            log_prior = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
            weights.append(self._log_px_given_z(x, z) + log_prior - log_q)
        return _log_sum_exp(np.stack(weights, axis=0), axis=0) - math.log(num_samples)


register_variants(
    VAE,
    family="vae",
    task="generation",
    tiny={"latent_dim": 2},
    variants={
        "vae": {},
        "conv_vae": {
            "presets": {"architecture": "conv"},
            "description": "Convolutional variational autoencoder (beta-VAE "
            "with beta != 1).",
        },
    },
)
