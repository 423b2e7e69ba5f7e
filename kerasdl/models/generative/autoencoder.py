"""Autoencoders: dense, convolutional, denoising and sparse.

One class, `Autoencoder`, covers the four classic forms; the registry names
fix the option that makes each one:

- "autoencoder": dense encoder/decoder (any option may be set);
- "conv_autoencoder": `architecture="conv"`;
- "denoising_autoencoder": `noise_stddev=0.3`, Gaussian noise added to the
  input by a layer that is active only in training (the target stays the
  clean input);
- "sparse_autoencoder": `activity_l1=1e-3` on a ReLU code, an L1 penalty on
  the code's activity (added to the loss through `model.losses`).

`model.fit(x)` trains it to reconstruct `x` (no targets needed); the
encoder and decoder are models of their own (`model.encoder`,
`model.decoder`) for features, anomaly scores and export.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from kerasdl._checks import check_choice, check_float
from kerasdl.models._common import float32_under_mixed
from kerasdl.models.generative._common import (
    GenerativeModel,
    check_stack_args,
    decoder_stack,
    encoder_stack,
    predict_batches,
    register_variants,
)

__all__ = ["RECONSTRUCTION_LOSSES", "Autoencoder", "reconstruction_error"]

RECONSTRUCTION_LOSSES = ("binary_crossentropy", "mse")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear")


def reconstruction_error(x, x_hat, loss: str = "mse"):
    """Per-sample reconstruction error (mean over every non-batch axis).

    Args:
        x: tensor or array (batch, ...). The target (clean input).
        x_hat: tensor or array like `x`. The reconstruction, in [0, 1].
        loss: str. "mse" or "binary_crossentropy".

    Returns:
        Tensor of shape (batch,).
    """
    check_choice("loss", loss, RECONSTRUCTION_LOSSES)
    x = ops.convert_to_tensor(x, "float32")
    x_hat = ops.convert_to_tensor(x_hat, "float32")
    if loss == "mse":
        per_value = ops.square(x - x_hat)
    else:
        p = ops.clip(x_hat, 1e-7, 1.0 - 1e-7)
        per_value = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
    return ops.mean(ops.reshape(per_value, (ops.shape(x)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="kerasdl")
class Autoencoder(GenerativeModel):
    """An autoencoder: image -> code -> reconstruction, trained with `fit(x)`.

    Args:
        image_shape: tuple. (height, width, channels) of images in [0, 1].
        latent_dim: int. Size of the code.
        architecture: str. "dense" (Flatten + Dense layers) or "conv"
            (stride-2 convolutions, transposed convolutions back up).
        hidden_units: list of int. Dense widths of the encoder (the decoder
            mirrors them); used when architecture="dense".
        filters: list of int. Conv filters per stride-2 stage of the encoder
            (the decoder mirrors them); used when architecture="conv". The
            image sides must be divisible by 2**len(filters).
        noise_stddev: float. Standard deviation of Gaussian noise added to
            the input in training only (a denoising autoencoder); 0 for none.
        activity_l1: float. L1 penalty on the code's activity (a sparse
            autoencoder; the code then uses ReLU); 0 for none.
        reconstruction_loss: str. Loss when compiled without one:
            "binary_crossentropy" or "mse" (mean over pixels).
        output_activation: str. "sigmoid" (images in [0, 1]) or "linear"
            (unbounded inputs such as standardized series windows; use
            reconstruction_loss="mse").

    Example:
    >>> ae = kerasdl.build("conv_autoencoder", image_shape=(16, 16, 1))
    >>> ae.compile(optimizer="adam")
    >>> ae.fit(images, epochs=10)
    >>> codes = ae.encoder.predict(images)
    """

    registry_name = "autoencoder"

    def __init__(
        self,
        image_shape=(16, 16, 1),
        latent_dim=16,
        architecture="dense",
        hidden_units=(128,),
        filters=(16, 32),
        noise_stddev=0.0,
        activity_l1=0.0,
        reconstruction_loss="binary_crossentropy",
        output_activation="sigmoid",
    ):
        image_shape, latent_dim, architecture, hidden_units, filters = check_stack_args(
            image_shape, latent_dim, architecture, hidden_units, filters
        )
        noise_stddev = check_float("noise_stddev", noise_stddev, minimum=0.0)
        activity_l1 = check_float("activity_l1", activity_l1, minimum=0.0)
        check_choice("reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        if output_activation == "linear" and reconstruction_loss != "mse":
            raise ValueError(
                f"Invalid reconstruction_loss={reconstruction_loss!r}: expected "
                "'mse' with output_activation='linear' (cross-entropy needs "
                "outputs in [0, 1])."
            )

        # Encoder: image -> code.
        image = keras.Input(image_shape, name="image")
        h = encoder_stack(image, architecture, filters, hidden_units, "encoder")
        code = layers.Dense(
            latent_dim,
            activation="relu" if activity_l1 > 0 else None,
            activity_regularizer=(
                keras.regularizers.L1(activity_l1) if activity_l1 > 0 else None
            ),
            # The encoder's output, and the sparse code's L1 loss, in float32.
            dtype=float32_under_mixed(),
            name="code",
        )(h)
        encoder = keras.Model(image, code, name="encoder")

        # Decoder: code -> image.
        z = keras.Input((latent_dim,), name="code")
        out = decoder_stack(
            z, image_shape, architecture, filters, hidden_units, "decoder",
            activation=output_activation,
        )  # fmt: skip
        decoder = keras.Model(z, out, name="decoder")

        inputs = keras.Input(image_shape, name="input")
        x = inputs
        if noise_stddev > 0:  # active only in training: a denoising autoencoder
            x = layers.GaussianNoise(noise_stddev, name="input_noise")(x)
        outputs = decoder(encoder(x))
        self._finish(inputs, outputs, locals())
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.reconstruction_loss = reconstruction_loss

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The target is the (clean) input when `fit` gets no `y`; without a
        compiled loss, `reconstruction_loss` plus the layers' losses (the
        sparse code's L1 penalty)."""
        target = x if y is None else y
        if self.loss is not None:
            return super().compute_loss(
                x, target, y_pred, sample_weight=sample_weight, training=training
            )
        loss = ops.mean(reconstruction_error(target, y_pred, self.reconstruction_loss))
        extra = self.losses
        if extra:
            loss = loss + ops.sum(ops.stack([ops.cast(v, loss.dtype) for v in extra]))
        return loss

    def encode(self, x, batch_size=256):
        """Codes of images `x`, as NumPy (batch, latent_dim)."""
        return predict_batches(self.encoder, x, batch_size)

    def decode(self, z, batch_size=256):
        """Images decoded from codes `z`, as NumPy."""
        return predict_batches(self.decoder, z, batch_size)

    def reconstruct(self, x, batch_size=256):
        """Reconstructions of `x` (no input noise), as NumPy."""
        return predict_batches(self, x, batch_size)


register_variants(
    Autoencoder,
    family="autoencoder",
    task="reconstruction",
    tiny={"latent_dim": 3},
    variants={
        "autoencoder": {},
        "conv_autoencoder": {
            "presets": {"architecture": "conv"},
            "description": "Convolutional autoencoder (stride-2 convolutions "
            "down, transposed up).",
        },
        "denoising_autoencoder": {
            "presets": {"noise_stddev": 0.3},
            "description": "Denoising autoencoder: Gaussian input noise in "
            "training, clean target.",
        },
        "sparse_autoencoder": {
            "presets": {"activity_l1": 1e-3},
            "description": "Sparse autoencoder: ReLU code with an L1 activity penalty.",
        },
    },
)
