"""Denoising diffusion (DDPM): a U-Net denoiser that trains with plain `fit`.

The model *is* the denoiser: a functional U-Net (sinusoidal time embedding,
residual blocks, self-attention at low resolution) whose inputs are the noisy
image `x_t`, the timestep `t` and, for a class-conditional model, the label
(`num_classes` stands for "no label", the null class of classifier-free
guidance). It summarizes, exports and prunes like any functional model; one
denoising step exports to TFLite and ONNX as it is.

`fit(images)` / `fit(images, labels)` trains it as a diffusion model
(Ho et al., 2020): `compute_loss` draws a timestep and Gaussian noise per
image, noises the images with the linear or cosine schedule, and regresses
the noise ("epsilon") or the velocity ("v", Salimans & Ho, 2022). Labels are
replaced by the null class with probability `label_dropout`, so the same
network also learns the unconditional model that classifier-free guidance
needs (Ho & Salimans, 2022). Keras' default `train_step` runs it on every
backend: the loss calls the network itself, inside the gradient scope.

`compile()` without an optimizer uses Adam with Keras' weight EMA
(`use_ema=True`); at the end of `fit` Keras writes the averaged weights into
the model, so sampling uses the EMA weights, and a `.keras` file keeps the
average in the optimizer state.

Sampling (DDPM ancestral, DDIM with any number of steps and eta, guidance)
lives in `kerasdl.generation.diffusion`; `DiffusionModel.generate` delegates
to it.

Example:
>>> model = kerasdl.build("ddpm", image_shape=(16, 16, 1), num_classes=10)
>>> model.compile()
>>> model.fit(images, labels, epochs=20, batch_size=64)   # images in [0, 1]
>>> samples = model.generate(16, labels=3, seed=0, steps=50, sampler="ddim")
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from kerasdl._checks import check_choice, check_float, check_int, invalid
from kerasdl.layers.diffusion import SinusoidalTimeEmbedding, SpatialSelfAttention
from kerasdl.models._common import check_int_list, float32_under_mixed
from kerasdl.registry import register_model

__all__ = [
    "PREDICTIONS",
    "SCHEDULES",
    "DiffusionModel",
    "alphas_cumprod",
    "ddpm",
    "set_sampler",
]

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "v")

# Input names of the denoiser, in order (a conditional model has all three).
NOISY_IMAGE, TIMESTEP, LABEL = "noisy_image", "timestep", "label"


def alphas_cumprod(schedule: str, timesteps: int) -> np.ndarray:
    """The cumulative signal fractions `alpha_bar[t]`, t = 0 .. timesteps-1.

    `x_t = sqrt(alpha_bar[t]) * x_0 + sqrt(1 - alpha_bar[t]) * noise`.

    Args:
        schedule: str. "linear" (Ho et al.: betas from 1e-4 to 0.02 over
            1000 steps, rescaled for other lengths) or "cosine" (Nichol &
            Dhariwal, 2021, offset s = 0.008, betas clipped at 0.999).
        timesteps: int >= 1. Number of diffusion steps.

    Returns:
        np.ndarray of float64, shape (timesteps,), decreasing in (0, 1).

    Example:
    >>> alphas_cumprod("cosine", 1000)[-1] < 1e-4
    True
    """
    check_choice("schedule", schedule, SCHEDULES)
    timesteps = check_int("timesteps", timesteps, minimum=1)
    if schedule == "linear":
        scale = 1000.0 / timesteps
        betas = np.linspace(1e-4 * scale, min(0.02 * scale, 0.999), timesteps)
    else:
        s = 0.008
        steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
        f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    return np.cumprod(1.0 - betas)


# The sampler that `DiffusionModel.generate` delegates to. Samplers live in
# kerasdl.generation.diffusion, a floor above the models; importing that
# module installs its entry point here (as kerasdl/__init__ installs the
# registry's family loader), so models never import upward.
_SAMPLER = None


def set_sampler(fn) -> None:
    """Installs `fn(model, n, **options)` as the sampler behind `generate`.

    Called by `kerasdl.generation.diffusion` when it is imported.
    """
    global _SAMPLER
    _SAMPLER = fn


@keras.saving.register_keras_serializable(package="kerasdl")
class DiffusionModel(keras.Model):
    """A functional denoiser that `fit` trains as a diffusion model.

    Built by `ddpm`; its graph maps `[noisy_image, timestep(, label)]` to
    the predicted noise (or velocity). Called on a list of those inputs it
    is that network. Called on a batch of clean images alone (as `fit`
    does before computing the loss) it returns them unchanged: the
    diffusion forward pass needs the labels too, so it runs in
    `compute_loss`, which sees both.

    Args:
        *args, **kwargs: the functional `keras.Model` arguments (inputs,
            outputs, name, ...).
        timesteps: int. Diffusion steps T of the training process.
        schedule: str. Noise schedule, one of `SCHEDULES`.
        prediction: str. What the network predicts, one of `PREDICTIONS`.
        num_classes: int or None. Classes of a conditional model (label
            `num_classes` is the null class); None for an unconditional one.
        label_dropout: float. Probability of training on the null class.
        guidance: float. Default classifier-free guidance scale of
            `generate` (1 = plain conditional sampling).
        pixel_range: (float, float). Range of the training images; mapped
            to [-1, 1] for the diffusion and back for samples.
        ema_momentum: float. EMA momentum of `compile()`'s default
            optimizer; 0 disables the average.
    """

    def __init__(
        self,
        *args,
        timesteps=1000,
        schedule="linear",
        prediction="epsilon",
        num_classes=None,
        label_dropout=0.1,
        guidance=1.0,
        pixel_range=(0.0, 1.0),
        ema_momentum=0.999,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.timesteps = check_int("timesteps", timesteps, minimum=1)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.prediction = check_choice("prediction", prediction, PREDICTIONS)
        self.num_classes = check_int("num_classes", num_classes, 1, allow_none=True)
        self.label_dropout = check_float("label_dropout", label_dropout, 0.0, 1.0)
        self.guidance = check_float("guidance", guidance, minimum=0.0)
        self.pixel_range = _check_range(pixel_range)
        self.ema_momentum = check_float(
            "ema_momentum", ema_momentum, 0.0, 1.0, max_inclusive=False
        )
        # Protocol of kerasdl.generative: the DDPM sampler's default length.
        self.sampling_steps = self.timesteps
        self._alphas_cumprod = alphas_cumprod(self.schedule, self.timesteps)
        self.noise_seed = keras.random.SeedGenerator(0, name="diffusion_noise")
        # Single-tensor calls are the clean training images (see call()).
        self.input_spec = None

    # ------------------------------------------------------------ schedule
    @property
    def alphas_cumprod(self) -> np.ndarray:
        """`alpha_bar[t]` of the training schedule (float64, shape (T,))."""
        return self._alphas_cumprod.copy()

    def to_unit(self, images):
        """Maps images from `pixel_range` to [-1, 1] (backend ops)."""
        low, high = self.pixel_range
        return (images - low) * (2.0 / (high - low)) - 1.0

    def from_unit(self, x: np.ndarray) -> np.ndarray:
        """Maps NumPy images from [-1, 1] back to `pixel_range`."""
        low, high = self.pixel_range
        return ((np.asarray(x) + 1.0) * 0.5 * (high - low) + low).astype("float32")

    # ------------------------------------------------------------ training
    def call(self, inputs, training=None, mask=None):
        if not isinstance(inputs, (list, tuple, dict)):
            return inputs
        return super().call(inputs, training=training, mask=mask)

    def compile(self, optimizer=None, loss=None, **kwargs):
        """Keras' `compile`; without an optimizer, Adam(1e-3) with weight EMA.

        `loss` applies only when the model is fitted on explicit denoiser
        inputs and targets; fitting on images uses the diffusion loss.
        """
        if optimizer is None:
            optimizer = keras.optimizers.Adam(
                1e-3,
                use_ema=self.ema_momentum > 0,
                ema_momentum=self.ema_momentum or 0.99,
            )
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compile_from_config(self, config):
        # Keras skips compile() on load for models that override it; this
        # one only adds a default, so restoring the saved compile is safe.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`; images (and labels for a conditional model)."""
        # Arrays are checked before Keras starts: on JAX, an error raised in
        # the first training step is replaced by a TypeError from the EMA's
        # end-of-fit hook (its averages are not initialized yet).
        if hasattr(x, "shape"):
            self._check_labels(y)
        return super().fit(x, y, *args, **kwargs)

    def _check_labels(self, y):
        if self.num_classes is not None and y is None:
            raise ValueError(
                f"Invalid y=None for the class-conditional model {self.name!r} "
                f"(num_classes={self.num_classes}): expected integer labels "
                "in fit(images, labels)."
            )
        if self.num_classes is None and y is not None:
            raise ValueError(
                f"Invalid y for the unconditional model {self.name!r}: expected "
                "fit(images) without labels (build it with num_classes to "
                "condition on them)."
            )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if isinstance(x, (list, tuple, dict)):
            # Explicit denoiser inputs and targets: an ordinary Keras model.
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        self._check_labels(y)
        x0 = self.to_unit(ops.cast(x, "float32"))
        batch = ops.shape(x0)[0]
        t = keras.random.randint((batch,), 0, self.timesteps, seed=self.noise_seed)
        noise = keras.random.normal(ops.shape(x0), seed=self.noise_seed)
        abar = ops.take(ops.convert_to_tensor(self._alphas_cumprod, "float32"), t)
        signal = ops.reshape(ops.sqrt(abar), (-1, 1, 1, 1))
        sigma = ops.reshape(ops.sqrt(1.0 - abar), (-1, 1, 1, 1))
        x_t = signal * x0 + sigma * noise
        # v-prediction (Salimans & Ho, 2022): v = sqrt(abar) eps - sqrt(1 - abar) x0.
        target = noise if self.prediction == "epsilon" else signal * noise - sigma * x0
        inputs = [x_t, ops.cast(t, "float32")]
        if self.num_classes is not None:
            labels = ops.reshape(ops.cast(y, "int32"), (-1,))
            drop = keras.random.uniform((batch,), seed=self.noise_seed)
            null = ops.full_like(labels, self.num_classes)
            inputs.append(ops.where(drop < self.label_dropout, null, labels))
        pred = ops.cast(self(inputs, training=training), "float32")
        per_image = ops.mean(ops.square(pred - target), axis=(1, 2, 3))
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            return ops.sum(per_image * weight) / ops.maximum(ops.sum(weight), 1e-12)
        return ops.mean(per_image)

    # ------------------------------------------------------------ sampling
    def generate(self, n, labels=None, seed=None, steps=None, guidance=None, **options):
        """Draws `n` images: `kerasdl.generation.diffusion.generate(self, ...)`.

        Args:
            n, labels, seed, steps, guidance: the sampling protocol of
                `kerasdl.generative.sample` (see `generate` there).
            **options: sampler ("ddpm" or "ddim"), eta and batch_size, as
                in `kerasdl.generation.diffusion.generate`.

        Returns:
            np.ndarray of float32, (n, *image_shape), in `pixel_range`.
        """
        if _SAMPLER is None:
            raise RuntimeError(
                "DiffusionModel.generate needs the samplers of "
                "kerasdl.generation.diffusion: import that module (`import "
                "kerasdl` does) before sampling."
            )
        return _SAMPLER(
            self,
            n,
            labels=labels,
            seed=seed,
            steps=steps,
            guidance=guidance,
            **options,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "timesteps": self.timesteps,
                "schedule": self.schedule,
                "prediction": self.prediction,
                "num_classes": self.num_classes,
                "label_dropout": self.label_dropout,
                "guidance": self.guidance,
                "pixel_range": list(self.pixel_range),
                "ema_momentum": self.ema_momentum,
            }
        )
        return config


def _check_range(pixel_range) -> tuple[float, float]:
    ok = isinstance(pixel_range, (list, tuple)) and len(pixel_range) == 2
    if ok:
        low = check_float("pixel_range[0]", pixel_range[0])
        high = check_float("pixel_range[1]", pixel_range[1])
        ok = low < high
    if not ok:
        raise invalid("pixel_range", pixel_range, "two numbers (low, high), low < high")
    return (low, high)


def _groups(channels: int, groups: int) -> int:
    # GroupNormalization needs a divisor of the channel count.
    return math.gcd(channels, groups)


def _res_block(x, emb, channels, groups, dropout, name):
    """Pre-activation residual block with the time(+label) embedding added."""
    h = layers.GroupNormalization(_groups(x.shape[-1], groups), name=f"{name}_norm1")(x)
    h = layers.Activation("swish", name=f"{name}_act1")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    e = layers.Dense(channels, name=f"{name}_emb")(emb)  # (batch, channels)
    e = layers.Reshape((1, 1, channels), name=f"{name}_emb_reshape")(e)
    h = layers.Add(name=f"{name}_add_emb")([h, e])
    h = layers.GroupNormalization(_groups(channels, groups), name=f"{name}_norm2")(h)
    h = layers.Activation("swish", name=f"{name}_act2")(h)
    if dropout:
        h = layers.Dropout(dropout, name=f"{name}_dropout")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    if x.shape[-1] != channels:
        x = layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return layers.Add(name=f"{name}_out")([x, h])


def _attention(x, heads, groups, name):
    return SpatialSelfAttention(heads, _groups(x.shape[-1], groups), name=name)(x)


@register_model(
    "ddpm",
    family="diffusion",
    task="generation",
    tiny={
        "image_shape": (8, 8, 1),
        "num_classes": 4,
        "channels": 8,
        "channel_multipliers": (1, 2),
        "attention_resolutions": (4,),
        "groups": 4,
        "timesteps": 20,
    },
)
def ddpm(
    image_shape=(16, 16, 1),
    num_classes=None,
    channels=32,
    channel_multipliers=(1, 2, 2),
    num_res_blocks=1,
    attention_resolutions=(4,),
    num_heads=1,
    groups=8,
    dropout=0.0,
    timesteps=1000,
    schedule="linear",
    prediction="epsilon",
    label_dropout=0.1,
    guidance=1.0,
    pixel_range=(0.0, 1.0),
    ema_momentum=0.999,
    name="ddpm",
):
    """DDPM: a U-Net denoiser trained by `fit` as a diffusion model.

    The U-Net of Ho et al. (2020) at small scale: a sinusoidal time
    embedding through a two-layer MLP (plus a learned label embedding for a
    class-conditional model), residual blocks that add the embedding, self-
    attention at the listed resolutions and in the middle, strided-conv
    downsampling, nearest upsampling and skip concatenations.

    Args:
        image_shape: tuple. (height, width, channels); height and width
            divisible by 2 ** (len(channel_multipliers) - 1).
        num_classes: int or None. Classes of a class-conditional model
            (classifier-free guidance); None for an unconditional one.
        channels: int. Base channel count of the U-Net.
        channel_multipliers: tuple of int. Channels per resolution level,
            as multiples of `channels`; one level per entry.
        num_res_blocks: int. Residual blocks per level on the way down.
        attention_resolutions: tuple of int. Spatial sizes (e.g. 4 for 4x4
            maps) whose blocks get self-attention; the middle always has it.
        num_heads: int. Attention heads.
        groups: int. GroupNormalization groups (reduced to a divisor of
            each channel count).
        dropout: float. Dropout inside residual blocks, in [0, 1).
        timesteps: int. Diffusion steps T.
        schedule: str. Noise schedule: "linear" or "cosine".
        prediction: str. Network target: "epsilon" (noise) or "v" (velocity).
        label_dropout: float. Probability of training on the null class.
        guidance: float. Default classifier-free guidance scale of generate.
        pixel_range: tuple. (low, high) range of the training images.
        ema_momentum: float. EMA momentum of compile()'s default optimizer.
        name: str. Model name.

    Returns:
        A `DiffusionModel` (functional) named `name`.

    Raises:
        ValueError: for an invalid hyperparameter, naming it and what is
            accepted.

    Example:
    >>> model = ddpm(image_shape=(16, 16, 1), num_classes=10)
    >>> [t.name for t in model.inputs]
    ['noisy_image', 'timestep', 'label']
    """
    image_shape = tuple(check_int_list("image_shape", image_shape, minimum=1))
    if len(image_shape) != 3:
        raise invalid("image_shape", image_shape, "(height, width, channels)")
    channels = check_int("channels", channels, minimum=1)
    multipliers = check_int_list("channel_multipliers", channel_multipliers)
    num_res_blocks = check_int("num_res_blocks", num_res_blocks, minimum=1)
    attention_resolutions = (
        check_int_list("attention_resolutions", attention_resolutions)
        if attention_resolutions
        else []
    )
    num_heads = check_int("num_heads", num_heads, minimum=1)
    groups = check_int("groups", groups, minimum=1)
    dropout = check_float("dropout", dropout, 0.0, 1.0, max_inclusive=False)
    num_classes = check_int("num_classes", num_classes, minimum=1, allow_none=True)
    factor = 2 ** (len(multipliers) - 1)
    if image_shape[0] % factor or image_shape[1] % factor:
        raise invalid(
            "image_shape",
            image_shape,
            f"height and width divisible by {factor} "
            f"(2 ** (len(channel_multipliers) - 1) for {len(multipliers)} levels)",
        )
    emb_dim = 4 * channels

    x_in = keras.Input(image_shape, name=NOISY_IMAGE)
    t_in = keras.Input((), name=TIMESTEP)
    inputs = [x_in, t_in]
    emb = SinusoidalTimeEmbedding(channels + channels % 2, name="time_embedding")(t_in)
    emb = layers.Dense(emb_dim, activation="swish", name="time_mlp1")(emb)
    emb = layers.Dense(emb_dim, name="time_mlp2")(emb)
    if num_classes is not None:
        label_in = keras.Input((), dtype="int32", name=LABEL)
        inputs.append(label_in)
        # num_classes + 1 rows: the last one is the null class of guidance.
        label_emb = layers.Embedding(num_classes + 1, emb_dim, name="label_embedding")(
            label_in
        )
        emb = layers.Add(name="add_label")([emb, label_emb])
    emb = layers.Activation("swish", name="embedding_act")(emb)

    h = layers.Conv2D(channels, 3, padding="same", name="stem")(x_in)
    skips = [h]
    size = image_shape[0]
    for level, mult in enumerate(multipliers):
        for block in range(num_res_blocks):
            name_ = f"down{level}_block{block}"
            h = _res_block(h, emb, channels * mult, groups, dropout, name_)
            if size in attention_resolutions:
                h = _attention(h, num_heads, groups, f"{name_}_attention")
            skips.append(h)
        if level < len(multipliers) - 1:
            h = layers.Conv2D(
                h.shape[-1],
                3,
                strides=2,
                padding="same",
                name=f"down{level}_downsample",
            )(h)
            skips.append(h)
            size //= 2
    h = _res_block(h, emb, h.shape[-1], groups, dropout, "mid_block0")
    h = _attention(h, num_heads, groups, "mid_attention")
    h = _res_block(h, emb, h.shape[-1], groups, dropout, "mid_block1")
    for level in reversed(range(len(multipliers))):
        for block in range(num_res_blocks + 1):
            name_ = f"up{level}_block{block}"
            h = layers.Concatenate(name=f"{name_}_concat")([h, skips.pop()])
            h = _res_block(
                h, emb, channels * multipliers[level], groups, dropout, name_
            )
            if size in attention_resolutions:
                h = _attention(h, num_heads, groups, f"{name_}_attention")
        if level > 0:
            h = layers.UpSampling2D(2, name=f"up{level}_upsample")(h)
            h = layers.Conv2D(h.shape[-1], 3, padding="same", name=f"up{level}_conv")(h)
            size *= 2
    h = layers.GroupNormalization(_groups(h.shape[-1], groups), name="out_norm")(h)
    h = layers.Activation("swish", name="out_act")(h)
    # The prediction the loss reads: float32 under a mixed policy.
    out = layers.Conv2D(
        image_shape[-1], 3, padding="same", dtype=float32_under_mixed(), name="output"
    )(h)
    return DiffusionModel(
        inputs=inputs,
        outputs=out,
        name=name,
        timesteps=timesteps,
        schedule=schedule,
        prediction=prediction,
        num_classes=num_classes,
        label_dropout=label_dropout,
        guidance=guidance,
        pixel_range=pixel_range,
        ema_momentum=ema_momentum,
    )
