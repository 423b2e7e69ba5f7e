"""Layers of diffusion denoisers: time embedding and spatial self-attention."""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_float, check_int

__all__ = ["SinusoidalTimeEmbedding", "SpatialSelfAttention"]


@keras.saving.register_keras_serializable(package="kerasdl")
class SinusoidalTimeEmbedding(keras.layers.Layer):
    """Embeds diffusion timesteps with fixed sinusoids (Ho et al., 2020).

    For timestep `t` and frequency `i < dim / 2`:
    `emb[i] = sin(t * w_i)` and `emb[dim / 2 + i] = cos(t * w_i)` with
    `w_i = max_wavelength ** (-i / (dim / 2))`, as in the DDPM and
    Transformer encodings. The layer has no weights; the denoiser learns a
    small MLP on top of it.

    Args:
        dim: int. Embedding size, even and >= 2.
        max_wavelength: float. The longest wavelength (10000 in DDPM).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch,)` timesteps (integers or floats).

    Output shape:
        `(batch, dim)`.

    Example:
    >>> SinusoidalTimeEmbedding(8)(keras.ops.array([0.0, 10.0])).shape
    (2, 8)
    """

    def __init__(self, dim: int, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_int("dim", dim, minimum=2)
        if self.dim % 2:
            raise ValueError(f"Invalid dim={dim!r}: expected an even integer >= 2.")
        self.max_wavelength = check_float(
            "max_wavelength", max_wavelength, minimum=1.0, min_inclusive=False
        )

    @property
    def input_dtype(self):
        # Timesteps stay float32 under a mixed policy: bfloat16 holds
        # integers exactly only up to 256.
        return "float32"

    def call(self, inputs):
        half = self.dim // 2
        # In float32 whatever the policy (float16 sines of angles near 1000
        # are off by ~0.5; TensorFlow has no float16 arange); cast at the end.
        t = ops.cast(ops.reshape(inputs, (-1,)), "float32")  # (batch,)
        i = ops.arange(half, dtype="float32")
        freqs = ops.exp(i * (-ops.log(self.max_wavelength) / half))  # (half,)
        angles = t[:, None] * freqs[None, :]  # (batch, half)
        embedding = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.cast(embedding, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "max_wavelength": self.max_wavelength})
        return config


@keras.saving.register_keras_serializable(package="kerasdl")
class SpatialSelfAttention(keras.layers.Layer):
    """Residual self-attention over the pixels of a feature map.

    Group-normalizes the map, lets every pixel attend to every other one
    (multi-head attention over the `height * width` positions) and adds
    the result to the input: the attention block of the DDPM U-Net, used at
    low resolution where the number of positions is small.

    Args:
        num_heads: int. Attention heads; the channel count must divide by it.
        groups: int. Groups of the GroupNormalization; it must divide the
            channel count.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Input shape:
        `(batch, height, width, channels)` with known height, width, channels.

    Output shape:
        Same as the input.

    Example:
    >>> SpatialSelfAttention(num_heads=2, groups=4)(keras.ops.ones((1, 4, 4, 8))).shape
    (1, 4, 4, 8)
    """

    def __init__(self, num_heads: int = 1, groups: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.groups = check_int("groups", groups, minimum=1)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                "SpatialSelfAttention needs (batch, height, width, channels) "
                f"with known sizes; received input_shape={tuple(input_shape)!r}."
            )
        channels = input_shape[-1]
        for name, value in (("num_heads", self.num_heads), ("groups", self.groups)):
            if channels % value:
                raise ValueError(
                    f"Invalid {name}={value!r}: expected a divisor of the "
                    f"channel count {channels}."
                )
        self.norm = keras.layers.GroupNormalization(
            self.groups, epsilon=1e-5, dtype=self.dtype_policy, name="norm"
        )
        self.norm.build(input_shape)
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            channels // self.num_heads,
            dtype=self.dtype_policy,
            name="attention",
        )
        length = input_shape[1] * input_shape[2]
        self.attention.build((None, length, channels), (None, length, channels))

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        h = self.norm(inputs)
        h = ops.reshape(h, (-1, height * width, channels))  # (batch, pixels, ch)
        if self.compute_dtype == "float16":
            # Keras' fused attention asks for float32 logits from float16
            # inputs, which XLA on CPU cannot compute (JAX: "precision
            # F16_F16_F32 is not supported by dot_general"); asking for the
            # scores takes the einsum path, which computes in float16.
            h, _ = self.attention(h, h, return_attention_scores=True)
        else:
            h = self.attention(h, h)
        return inputs + ops.reshape(h, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "groups": self.groups})
        return config
