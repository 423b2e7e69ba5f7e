"""Generative adversarial networks: DCGAN, class-conditional GAN, WGAN-GP.

One class, `GAN`, trained with plain `fit(images)` (or `fit(images, labels)`
when conditional) on every backend: its `train_step` takes `n_critic`
discriminator (critic) steps and one generator step, each with its own
optimizer, through `kerasdl._backend.apply_gradients_step`; the WGAN-GP
gradient penalty differentiates the critic's input gradients
(`_backend.input_gradients(..., differentiable=True)`).

Losses (`loss`): "bce" (the non-saturating GAN loss of Goodfellow et al.,
DCGAN's), "hinge" (SAGAN / BigGAN) and "wasserstein" (WGAN; with
`gradient_penalty` = 10 and 5 critic steps by default, WGAN-GP of
Gulrajani et al. 2017). `spectral_norm=True` wraps every discriminator
layer in `kerasdl.layers.SpectralNorm` (Miyato et al. 2018).

The model itself is the generator: `gan(z)` (or `gan([z, labels])`) gives
images in [0, 1]; `gan.generator` and `gan.discriminator` are models of
their own. Both optimizers' states are saved in `.keras` files.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from kerasdl import _backend
from kerasdl._checks import check_bool, check_choice, check_float, check_int
from kerasdl.layers import SpectralNorm
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

__all__ = ["GAN", "GAN_LOSSES"]

GAN_LOSSES = ("bce", "hinge", "wasserstein")


def _default_optimizer():
    # Radford et al. (DCGAN) and Gulrajani et al. (WGAN-GP) both use Adam
    # with a low first-moment decay; beta_1 = 0.5 works for both here.
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)


@keras.saving.register_keras_serializable(package="kerasdl")
class GAN(GenerativeModel):
    """A GAN whose `fit(images[, labels])` trains generator and discriminator.

    Args:
        image_shape: tuple. (height, width, channels) of images in [0, 1].
        latent_dim: int. Size of the generator's noise input z.
        architecture: str. "conv" (DCGAN: strided convolutions) or "dense".
        filters: list of int. Conv filters per stride-2 stage of the
            discriminator (the generator mirrors them); image sides must be
            divisible by 2**len(filters).
        hidden_units: list of int. Dense widths (architecture="dense").
        conditional: bool. Class-conditional (cGAN): the generator and the
            discriminator also take a label; `fit(images, labels)`.
        num_classes: int. Number of classes when conditional.
        loss: str. "bce" (non-saturating), "hinge" or "wasserstein".
        n_critic: int or None. Discriminator steps per generator step;
            None: 5 for "wasserstein", else 1.
        gradient_penalty: float or None. Weight of the WGAN-GP penalty
            (critic gradient norm pushed to 1 on interpolates); None: 10
            for "wasserstein", else 0.
        spectral_norm: bool. Spectral normalization on every discriminator
            layer.
        batch_norm: bool. Batch normalization in the generator.
        seed: int or None. Seed of the training noise.

    Example:
    >>> gan = kerasdl.build("wgan_gp", image_shape=(16, 16, 1))
    >>> gan.compile()                 # Adam(2e-4, 0.5, 0.9) for both players
    >>> gan.fit(images, epochs=30)    # logs d_loss, g_loss (and gp)
    >>> images = kerasdl.generative.sample(gan, 64, seed=0)
    """

    registry_name = "dcgan"

    def __init__(
        self,
        image_shape=(16, 16, 1),
        latent_dim=32,
        architecture="conv",
        filters=(32, 64),
        hidden_units=(256,),
        conditional=False,
        num_classes=10,
        loss="bce",
        n_critic=None,
        gradient_penalty=None,
        spectral_norm=False,
        batch_norm=True,
        seed=None,
    ):
        image_shape, latent_dim, architecture, hidden_units, filters = check_stack_args(
            image_shape, latent_dim, architecture, hidden_units, filters
        )
        conditional = check_bool("conditional", conditional)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        check_choice("loss", loss, GAN_LOSSES)
        wasserstein = loss == "wasserstein"
        n_critic = check_int("n_critic", n_critic, minimum=1, allow_none=True)
        gradient_penalty = check_float(
            "gradient_penalty", gradient_penalty, minimum=0.0, allow_none=True
        )
        spectral_norm = check_bool("spectral_norm", spectral_norm)
        batch_norm = check_bool("batch_norm", batch_norm)
        seed = check_int("seed", seed, minimum=0, allow_none=True)

        generator = self._make_generator(
            image_shape, latent_dim, architecture, filters, hidden_units,
            conditional, num_classes, batch_norm,
        )  # fmt: skip
        discriminator = self._make_discriminator(
            image_shape, architecture, filters, hidden_units,
            conditional, num_classes, spectral_norm,
        )  # fmt: skip

        z = keras.Input((latent_dim,), name="z")
        inputs = [z, keras.Input((), dtype="int32", name="label")] if conditional else z
        outputs = generator(inputs)
        self._finish(inputs, outputs, locals())
        self.generator = generator
        self.discriminator = discriminator
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.conditional = conditional
        self.num_classes = num_classes if conditional else None
        self.gan_loss = loss
        self.n_critic = n_critic if n_critic is not None else (5 if wasserstein else 1)
        self.gradient_penalty = (
            gradient_penalty
            if gradient_penalty is not None
            else (10.0 if wasserstein else 0.0)
        )
        self.noise = keras.random.SeedGenerator(seed)
        self.discriminator_optimizer = None
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.gp_tracker = keras.metrics.Mean(name="gp")

    # ------------------------------------------------------------ players
    @staticmethod
    def _make_generator(
        image_shape, latent_dim, architecture, filters, hidden_units,
        conditional, num_classes, batch_norm,
    ):  # fmt: skip
        z = keras.Input((latent_dim,), name="z")
        inputs, h = z, z
        if conditional:
            label = keras.Input((), dtype="int32", name="label")
            embedded = layers.Embedding(
                num_classes, latent_dim, name="label_embedding"
            )(label)
            h = layers.Concatenate(name="z_label")([z, embedded])
            inputs = [z, label]
        out = decoder_stack(
            h, image_shape, architecture, filters, hidden_units, "generator", batch_norm
        )
        return keras.Model(inputs, out, name="generator")

    @staticmethod
    def _make_discriminator(
        image_shape, architecture, filters, hidden_units,
        conditional, num_classes, spectral_norm,
    ):  # fmt: skip
        image = keras.Input(image_shape, name="image")
        inputs, h = image, image
        if conditional:
            # The label enters as one extra image channel (a learned map per
            # class), so every layer can compare the image with its class.
            label = keras.Input((), dtype="int32", name="label")
            height, width, _ = image_shape
            plane = layers.Embedding(num_classes, height * width, name="label_map")(
                label
            )
            plane = layers.Reshape((height, width, 1), name="label_plane")(plane)
            h = layers.Concatenate(name="image_label")([image, plane])
            inputs = [image, label]
        h = encoder_stack(
            h, architecture, filters, hidden_units, "critic", spectral_norm
        )
        # The scores feed the losses: float32 under a mixed policy.
        score = layers.Dense(1, dtype=float32_under_mixed(), name="critic_score")
        if spectral_norm:
            score = SpectralNorm(
                score, dtype=float32_under_mixed(), name="critic_score_sn"
            )
        return keras.Model(inputs, score(h), name="discriminator")

    # ------------------------------------------------------------ compile
    def compile(
        self,
        optimizer=None,
        loss=None,
        metrics=None,
        *,
        discriminator_optimizer=None,
        jit_compile="auto",
        **kwargs,
    ):
        """Compiles with one optimizer per player.

        Args:
            optimizer: the generator's optimizer (name, config or instance);
                None: Adam(2e-4, beta_1=0.5, beta_2=0.9).
            loss: must be None: the adversarial loss is the `loss`
                hyperparameter of the model.
            metrics: None or empty: a GAN has no targets to compare with;
                it logs d_loss, g_loss (and gp).
            discriminator_optimizer: the discriminator's optimizer; None: a
                fresh copy of the generator's configuration without EMA
                (averaged weights are for sampling: the generator's).
            jit_compile: bool or "auto" (JAX runs this step eagerly).
            **kwargs: other `keras.Model.compile` arguments. With
                `auto_scale_loss` (default True) a model built under
                "mixed_float16" gets dynamic loss scaling for *both*
                players: Keras wraps the generator's optimizer in a
                `keras.optimizers.LossScaleOptimizer`, and so does this
                method for the discriminator's.

        Raises:
            ValueError: for a loss or metrics, or for jit_compile=True on JAX.
        """
        if loss is not None:
            raise ValueError(
                f"Invalid loss={loss!r} for GAN.compile: expected None; the "
                f"adversarial loss is the model's `loss` hyperparameter "
                f"({self.gan_loss!r}), one of {list(GAN_LOSSES)}."
            )
        if metrics:
            raise ValueError(
                f"Invalid metrics={metrics!r} for GAN.compile: expected None or "
                "[]; a GAN has no targets to score (it logs d_loss, g_loss and gp; "
                "measure samples with kerasdl.generative.metrics)."
            )
        g_opt = (
            _default_optimizer()
            if optimizer is None
            else keras.optimizers.get(optimizer)
        )
        scaled = isinstance(g_opt, keras.optimizers.LossScaleOptimizer)
        if discriminator_optimizer is None:
            base = g_opt.inner_optimizer if scaled else g_opt
            d_opt = base.__class__.from_config({**base.get_config(), "use_ema": False})
        else:
            d_opt = keras.optimizers.get(discriminator_optimizer)
        if d_opt is g_opt:
            raise ValueError(
                "Invalid discriminator_optimizer: expected an optimizer other "
                "than the generator's (each player keeps its own state)."
            )
        mixed_float16 = self.dtype_policy.name == "mixed_float16"
        if (
            scaled or (kwargs.get("auto_scale_loss", True) and mixed_float16)
        ) and not isinstance(d_opt, keras.optimizers.LossScaleOptimizer):
            # Keras' compile scales the generator's loss (float16 gradients
            # underflow otherwise); the discriminator's needs the same.
            d_opt = keras.optimizers.LossScaleOptimizer(
                d_opt, name="discriminator_loss_scale_optimizer"
            )
        super().compile(
            optimizer=g_opt,
            jit_compile=_backend.stateful_jit_compile(jit_compile),
            **kwargs,
        )
        self.discriminator_optimizer = d_opt
        # self.optimizer: g_opt, or Keras' LossScaleOptimizer around it,
        # whose own state (the loss scale) a loaded model restores too.
        self.optimizer.build(self.generator.trainable_variables)
        d_opt.build(self.discriminator.trainable_variables)
        # Keras ends `fit` with `optimizer.finalize_variable_values(model.
        # trainable_weights)` (EMA: weights become their averages); each
        # player's optimizer holds its own player's weights only, which
        # Keras' base optimizer refuses (JAX, PyTorch): finalize per player.
        outer = self.optimizer  # g_opt, or Keras' LossScaleOptimizer around it
        finalize_generator = type(outer).finalize_variable_values

        def finalize_players(var_list):
            del var_list  # both players' weights, in one list
            finalize_generator(outer, self.generator.trainable_variables)
            d_opt.finalize_variable_values(self.discriminator.trainable_variables)

        outer.finalize_variable_values = finalize_players

    def get_compile_config(self):
        config = super().get_compile_config() or {}
        if self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.optimizers.serialize(
                self.discriminator_optimizer
            )
        return config

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        config.pop("loss", None)
        self.compile(**config)

    # ------------------------------------------------------------ training
    def _critic(self, images, labels, training=True):
        inputs = [images, labels] if self.conditional else images
        return self.discriminator(inputs, training=training)

    def _generate(self, z, labels, training=True):
        inputs = [z, labels] if self.conditional else z
        return self.generator(inputs, training=training)

    def _d_loss(self, real_scores, fake_scores):
        if self.gan_loss == "bce":
            return ops.mean(ops.softplus(-real_scores)) + ops.mean(
                ops.softplus(fake_scores)
            )
        if self.gan_loss == "hinge":
            return ops.mean(ops.relu(1.0 - real_scores)) + ops.mean(
                ops.relu(1.0 + fake_scores)
            )
        return ops.mean(fake_scores) - ops.mean(real_scores)

    def _g_loss(self, fake_scores):
        if self.gan_loss == "bce":  # non-saturating: maximize log D(G(z))
            return ops.mean(ops.softplus(-fake_scores))
        return -ops.mean(fake_scores)

    def _unpack(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and labels is None:
            raise ValueError(
                "A conditional GAN trains on (images, labels): call "
                "fit(images, labels); received images only."
            )
        real = ops.cast(real, "float32")
        if labels is not None:
            labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        return real, labels

    def _critic_noise(self, batch):
        # Noise is drawn outside the differentiated functions, so the
        # generator's seed state advances on every backend.
        z = keras.random.normal((batch, self.latent_dim), seed=self.noise)
        alpha = keras.random.uniform((batch, 1, 1, 1), seed=self.noise)
        return z, alpha

    def _generator_noise(self, batch):
        z = keras.random.normal((batch, self.latent_dim), seed=self.noise)
        if not self.conditional:
            return z, None
        return z, keras.random.randint((batch,), 0, self.num_classes, seed=self.noise)

    def _d_objective(self, real, labels, fake, alpha, training=True):
        """The critic's loss (with the gradient penalty) and the penalty."""
        loss = self._d_loss(
            self._critic(real, labels, training), self._critic(fake, labels, training)
        )
        if self.gradient_penalty <= 0:
            return loss, ops.zeros(())
        mixed = alpha * real + (1.0 - alpha) * fake
        # Under mixed_float16 the penalty is part of the loss that the
        # discriminator's LossScaleOptimizer scales, so its own gradients
        # (second order, through these) are scaled too. The input gradients
        # themselves are not: they are about 1 / sqrt(pixels) per pixel
        # (the penalty holds their norm near 1), far from float16's range
        # limits, and a scaled copy could overflow into the reported loss.
        grads = _backend.input_gradients(
            lambda v: self._critic(v, labels, training), mixed, differentiable=training
        )
        grads = ops.cast(grads, "float32")
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
        gp = ops.mean(ops.square(norms - 1.0))
        return loss + self.gradient_penalty * gp, ops.stop_gradient(gp)

    def _g_objective(self, z, labels, training=True):
        fake = self._generate(z, labels, training=training)
        return self._g_loss(self._critic(fake, labels, training))

    def _log(self, d_loss, g_loss, gp_value):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        logs = {
            "d_loss": self.d_loss_tracker.result(),
            "g_loss": self.g_loss_tracker.result(),
        }
        if self.gradient_penalty > 0:
            self.gp_tracker.update_state(gp_value)
            logs["gp"] = self.gp_tracker.result()
        return logs

    def _step(self, data):
        real, labels = self._unpack(data)
        batch = ops.shape(real)[0]
        state = (
            self.generator.non_trainable_variables
            + self.discriminator.non_trainable_variables
        )
        d_loss = gp_value = None
        for _ in range(self.n_critic):
            z, alpha = self._critic_noise(batch)
            fake = ops.stop_gradient(self._generate(z, labels, training=True))
            d_loss, gp_value = _backend.apply_gradients_step(
                lambda fake=fake, alpha=alpha: self._d_objective(
                    real, labels, fake, alpha
                ),
                self.discriminator.trainable_variables,
                self.discriminator_optimizer,
                state=state,
                has_aux=True,
            )
        z, g_labels = self._generator_noise(batch)
        g_loss = _backend.apply_gradients_step(
            lambda: self._g_objective(z, g_labels),
            self.generator.trainable_variables,
            self.optimizer,
            state=state,
        )
        return self._log(d_loss, g_loss, gp_value)

    def _evaluate_step(self, data):
        # The losses of one critic and one generator step, in inference
        # mode and without updates: what `fit(validation_data=...)` and
        # `evaluate` report (a GAN has no other targets to score).
        real, labels = self._unpack(data)
        batch = ops.shape(real)[0]
        z, alpha = self._critic_noise(batch)
        fake = self._generate(z, labels, training=False)
        d_loss, gp_value = self._d_objective(real, labels, fake, alpha, training=False)
        z, g_labels = self._generator_noise(batch)
        return self._log(
            d_loss, self._g_objective(z, g_labels, training=False), gp_value
        )

    def train_step(self, *args):
        return _backend.stateful_train_step(self, args, self._step)

    def test_step(self, *args):
        return _backend.stateful_test_step(self, args, self._evaluate_step)

    # ------------------------------------------------------------ sampling
    def generate(self, n, labels=None, seed=None, steps=None, guidance=None):
        """Sampling protocol (`kerasdl.generative.sample` checks the arguments):
        z from NumPy's generator for `seed`; a conditional GAN without
        labels cycles through the classes."""
        z = rng_normal(seed, (n, self.latent_dim))
        if self.conditional and labels is None:
            labels = np.arange(n) % self.num_classes
        return self.decode(z, labels)

    def decode(self, z, labels=None):
        """Images generated from latent codes `z` (n, latent_dim), as NumPy.

        Raises:
            ValueError: when `z` does not have latent_dim columns, or labels
                are missing for a conditional GAN.
        """
        z = check_latent(z, self.latent_dim)
        if not self.conditional:
            return predict_batches(self.generator, z)
        if labels is None:
            raise ValueError(
                "Invalid labels=None: expected n class ids for a conditional GAN."
            )
        return predict_batches(self.generator, [z, np.asarray(labels, "int32")])

    def discriminate(self, images, labels=None):
        """The discriminator's scores (logits / critic values) as NumPy (n,)."""
        images = np.asarray(images, "float32")
        if self.conditional:
            scores = predict_batches(
                self.discriminator, [images, np.asarray(labels, "int32")]
            )
        else:
            scores = predict_batches(self.discriminator, images)
        return scores[:, 0]


register_variants(
    GAN,
    family="gan",
    task="generation",
    tiny={"latent_dim": 4},
    variants={
        "dcgan": {},
        "cgan": {
            "presets": {"conditional": True},
            "tiny": {"num_classes": 4},
            "description": "Class-conditional GAN: generator and discriminator "
            "take the label.",
        },
        "wgan_gp": {
            "presets": {"loss": "wasserstein"},
            "tiny": {"n_critic": 2},
            "description": "Wasserstein GAN with gradient penalty (weight 10, "
            "5 critic steps).",
        },
    },
)
