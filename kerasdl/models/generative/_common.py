"""What the autoencoder, VAE and GAN families share.

- `GenerativeModel`: a Functional model subclass whose constructor
  arguments are its config (`get_config` returns them, `from_config` calls
  the constructor), which gives a *named* spec (`{"model": name, ...}`:
  its graph holds nested models that a layer list cannot express) and
  follows the sampling protocol of `kerasdl.generative`.
- Image and stack checks, and the dense / convolutional encoder and
  decoder stacks all three families build from.

Images are channels-last floats in [0, 1]; decoders and generators end in a
sigmoid so their outputs live in the same range as the data.

Mixed precision: built under a mixed dtype policy (`kerasdl.training.
precision.policy_scope`, or the Trainer's `precision`, which rebuilds the
model from its config), every layer computes in the policy's dtype except
the layers whose outputs the losses read (images, discriminator scores, the
VAE's posterior parameters and sampling layer): those stay float32
(`float32_under_mixed`), so outputs and losses are float32.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import layers

from kerasdl._checks import check_choice, check_int, invalid
from kerasdl._io import to_plain
from kerasdl.layers import SpectralNorm
from kerasdl.models._common import dtype_policy_scope, float32_under_mixed
from kerasdl.registry import get_entry, register_model

ARCHITECTURES = ("dense", "conv")


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Returns `image_shape` as (height, width, channels) of ints >= 1."""
    if not isinstance(image_shape, (list, tuple)) or len(image_shape) != 3:
        raise invalid(
            "image_shape", image_shape, "(height, width, channels), e.g. (16, 16, 1)"
        )
    return tuple(check_int("image_shape", d, minimum=1) for d in image_shape)


def check_units(name: str, values, allow_empty: bool = False) -> tuple[int, ...]:
    """Returns a list of layer widths as a tuple of ints >= 1."""
    if not isinstance(values, (list, tuple)) or (not values and not allow_empty):
        raise invalid(name, values, "a non-empty list of integers >= 1")
    return tuple(check_int(name, v, minimum=1) for v in values)


def check_conv_shape(image_shape, filters) -> tuple[int, int]:
    """The spatial size at the bottom of a conv stack of len(filters) stride-2 steps."""
    factor = 2 ** len(filters)
    height, width, _ = image_shape
    if height % factor or width % factor:
        raise invalid(
            "image_shape",
            tuple(image_shape),
            f"height and width divisible by 2**len(filters) = {factor} "
            f"(filters={list(filters)} halves the image {len(filters)} times)",
        )
    return height // factor, width // factor


def _maybe_sn(layer, spectral_norm: bool):
    return SpectralNorm(layer, name=f"{layer.name}_sn") if spectral_norm else layer


def conv_encoder_stack(x, filters, prefix: str, spectral_norm=False, batch_norm=False):
    """Stride-2 4x4 convolutions with LeakyReLU, then Flatten.

    Shapes: (H, W, C) -> (H / 2**len(filters), W / ..., filters[-1]) -> flat.
    """
    for i, f in enumerate(filters):
        conv = layers.Conv2D(
            f, 4, strides=2, padding="same", name=f"{prefix}_conv{i + 1}"
        )
        x = _maybe_sn(conv, spectral_norm)(x)
        if batch_norm and i > 0:
            x = layers.BatchNormalization(name=f"{prefix}_bn{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"{prefix}_act{i + 1}")(x)
    return layers.Flatten(name=f"{prefix}_flatten")(x)


def conv_decoder_stack(
    z, image_shape, filters, prefix: str, batch_norm=False, activation="sigmoid"
):
    """Dense to the bottom feature map, stride-2 transposed convolutions up,
    and a 3x3 convolution to the image's channels with a sigmoid.

    Shapes: (latent,) -> (h0, w0, filters[-1]) -> ... -> (H, W, C).
    """
    h0, w0 = check_conv_shape(image_shape, filters)
    top = filters[-1]
    x = layers.Dense(h0 * w0 * top, name=f"{prefix}_project")(z)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{prefix}_project_bn")(x)
    x = layers.Activation("relu", name=f"{prefix}_project_act")(x)
    x = layers.Reshape((h0, w0, top), name=f"{prefix}_reshape")(x)
    for i, f in enumerate(reversed(filters)):
        x = layers.Conv2DTranspose(
            f, 4, strides=2, padding="same", name=f"{prefix}_deconv{i + 1}"
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{prefix}_bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"{prefix}_act{i + 1}")(x)
    return layers.Conv2D(
        image_shape[-1],
        3,
        padding="same",
        activation=activation,
        dtype=float32_under_mixed(),
        name=f"{prefix}_image",
    )(x)


def dense_encoder_stack(x, units, prefix: str, spectral_norm=False):
    """Flatten, then Dense layers with ReLU (LeakyReLU when spectral-normed)."""
    x = layers.Flatten(name=f"{prefix}_flatten")(x)
    for i, u in enumerate(units):
        dense = layers.Dense(u, name=f"{prefix}_dense{i + 1}")
        x = _maybe_sn(dense, spectral_norm)(x)
        x = layers.LeakyReLU(0.2, name=f"{prefix}_act{i + 1}")(x)
    return x


def dense_decoder_stack(z, image_shape, units, prefix: str, activation="sigmoid"):
    """Dense layers (reversed widths) to an image of `image_shape`."""
    x = z
    for i, u in enumerate(reversed(units)):
        x = layers.Dense(u, activation="relu", name=f"{prefix}_dense{i + 1}")(x)
    # Both float32: a Reshape on the mixed policy would cast the pixels back.
    x = layers.Dense(
        int(np.prod(image_shape)),
        activation=activation,
        dtype=float32_under_mixed(),
        name=f"{prefix}_pixels",
    )(x)
    return layers.Reshape(
        tuple(image_shape), dtype=float32_under_mixed(), name=f"{prefix}_image"
    )(x)


def check_architecture(architecture) -> str:
    return check_choice("architecture", architecture, ARCHITECTURES)


def check_stack_args(image_shape, latent_dim, architecture, hidden_units, filters):
    """The arguments every family's encoder/decoder stacks take, checked.

    Returns:
        (image_shape, latent_dim, architecture, hidden_units, filters);
        for architecture="conv" the image sides are checked against the
        number of stride-2 stages.
    """
    image_shape = check_image_shape(image_shape)
    latent_dim = check_int("latent_dim", latent_dim, minimum=1)
    architecture = check_architecture(architecture)
    hidden_units = check_units("hidden_units", hidden_units)
    filters = check_units("filters", filters)
    if architecture == "conv":
        check_conv_shape(image_shape, filters)
    return image_shape, latent_dim, architecture, hidden_units, filters


def encoder_stack(x, architecture, filters, hidden_units, prefix, spectral_norm=False):
    """`conv_encoder_stack` or `dense_encoder_stack`, as `architecture` says."""
    if architecture == "conv":
        return conv_encoder_stack(x, filters, prefix, spectral_norm=spectral_norm)
    return dense_encoder_stack(x, hidden_units, prefix, spectral_norm=spectral_norm)


def decoder_stack(
    z,
    image_shape,
    architecture,
    filters,
    hidden_units,
    prefix,
    batch_norm=False,
    activation="sigmoid",
):
    """`conv_decoder_stack` (with optional batch norm) or `dense_decoder_stack`."""
    if architecture == "conv":
        return conv_decoder_stack(
            z, image_shape, filters, prefix, batch_norm, activation=activation
        )
    return dense_decoder_stack(z, image_shape, hidden_units, prefix, activation)


def check_latent(z, latent_dim) -> np.ndarray:
    """`z` as float32 (n, latent_dim), or a ValueError naming its shape."""
    z = np.asarray(z, "float32")
    if z.ndim != 2 or z.shape[-1] != latent_dim:
        raise invalid(
            "z",
            f"array of shape {z.shape}",
            f"shape (n, {latent_dim}) (latent_dim={latent_dim})",
        )
    return z


# The tiny variants' stacks (the registry sweep builds and trains them on
# every backend): one small dense layer or one stride-2 convolution stage.
TINY_STACKS = {"image_shape": (8, 8, 1), "hidden_units": (8,), "filters": (4,)}


def register_variants(cls, *, family, task, tiny, variants):
    """Registers `cls` under each name of `variants`.

    Args:
        cls: the model class (its constructor is the builder).
        family, task: str. As in `kerasdl.registry.register_model`.
        tiny: dict. The family's tiny hyperparameters, added to
            `TINY_STACKS` for every name.
        variants: dict name -> dict with optional "presets", "description"
            and "tiny" (added to the family's `tiny`).
    """
    for name, options in variants.items():
        register_model(
            name,
            cls,
            family=family,
            task=task,
            presets=options.get("presets"),
            description=options.get("description"),
            tiny={**TINY_STACKS, **tiny, **options.get("tiny", {})},
        )


def rng_normal(seed, shape) -> np.ndarray:
    """Standard normal float32 noise from a NumPy generator: identical for
    the same seed on every backend (the backends' RNGs differ)."""
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def predict_batches(model, inputs, batch_size=256) -> np.ndarray:
    """`model(inputs)` in inference mode, batched, as NumPy (no progress bar)."""
    arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    n = len(arrays[0])
    if n == 0:
        out_shape = tuple(model.outputs[0].shape[1:])
        return np.zeros((0, *out_shape), "float32")
    outs = []
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in arrays]
        out = model(chunk if len(chunk) > 1 else chunk[0], training=False)
        outs.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(outs, axis=0)


class GenerativeModel(keras.Model):
    """Base of kerasdl's generative model classes (Functional subclasses).

    Subclasses build a functional graph in `__init__` and call
    `self._finish(inputs, outputs, locals())`. The constructor arguments are
    the config, so `.keras` files and specs rebuild the same model.
    """

    # Built under a mixed policy, the model computes in it with float32
    # outputs and losses (see the module docstring): `kerasdl.training.
    # precision.cast_model` rebuilds it from its config under a policy.
    precision_from_policy = True
    # The sampling protocol (kerasdl.generative): overridden per instance.
    num_classes = None
    sampling_steps = None
    # The registry entry that names this class in a spec (no presets).
    registry_name = ""

    def _finish(self, inputs, outputs, arguments: dict):
        """Builds the Functional graph; `arguments` (the constructor's
        `locals()` once checked) give the config: the constructor's
        parameters, with the values it checked and normalized."""
        # The model is named after its family; a name is not a
        # hyperparameter (build_model takes the architecture as `name`).
        super().__init__(inputs=inputs, outputs=outputs, name=self.registry_name)
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        self._hparams = to_plain({name: arguments[name] for name in names})

    def get_config(self):
        config = dict(self._hparams)
        # A model built under another policy (mixed precision) records it,
        # so a `.keras` file loads it at the precision it was saved at.
        if self.dtype_policy.name != "float32":
            config["dtype"] = self.dtype_policy.name
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        dtype = config.pop("dtype", None)
        for key in ("name", "trainable"):
            config.pop(key, None)
        if dtype is None:
            return cls(**config)
        with dtype_policy_scope(keras.dtype_policies.get(dtype)):
            return cls(**config)

    def named_spec(self) -> dict:
        """The model as a named spec: `{"model": name, **hyperparameters}`.

        `kerasdl.to_spec` returns it for models whose graph nests whole
        models (a layer list cannot express a VAE's or a GAN's parts).
        """
        entry = get_entry(self.registry_name)
        config = to_plain(self.get_config())
        config.pop("dtype", None)  # a precision is a training choice
        return {"model": entry.name, **config}
