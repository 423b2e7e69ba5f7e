"""Position information for Transformers: sinusoidal, learned and rotary.

`SinusoidalPositionEncoding` and `PositionEmbedding` take a sequence of
vectors `(batch, seq, dim)` and return it with the position signal added, so
a builder needs one layer per step. `RotaryEmbedding` rotates the query and
key vectors of an attention layer instead (Su et al. 2021, RoFormer); the
attention layer in `kerasdl.layers.transformer` applies it.

All three take a `start_index` call argument: the position of the first
vector, so that cached autoregressive decoding (one token per step) sees
the same positions as a full forward pass.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_float, check_int
from kerasdl.layers._config import InitConfig

__all__ = ["PositionEmbedding", "RotaryEmbedding", "SinusoidalPositionEncoding"]


def _positions(length, start_index, dtype="float32"):
    # (length,) positions start_index, start_index + 1, ...
    start = ops.cast(start_index, dtype)
    return ops.arange(length, dtype=dtype) + start


class _Sinusoid(InitConfig, keras.layers.Layer):
    """Shared part of the two fixed encodings: wavelengths and angles."""

    _dim_name = "feature size"  # the axis whose size must be even, for errors

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = float(
            check_float(
                "max_wavelength", max_wavelength, minimum=0, min_inclusive=False
            )
        )

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None or dim % 2:
            raise ValueError(
                f"{type(self).__name__} needs an even, known {self._dim_name}; "
                f"received input_shape={tuple(input_shape)!r}."
            )

    def _angles(self, length, dim, start_index):
        # (length, dim/2): position times max_wavelength ** (-2i / dim).
        positions = _positions(length, start_index)
        i = ops.arange(dim // 2, dtype="float32")  # channel pair index
        inv_freq = ops.power(self.max_wavelength, -2.0 * i / dim)
        return positions[:, None] * inv_freq[None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="kerasdl")
class SinusoidalPositionEncoding(_Sinusoid):
    """Adds the fixed sinusoidal position encoding of Vaswani et al. (2017).

    For position `pos` and channel pair `i`:
    `PE[pos, 2i] = sin(pos / max_wavelength ** (2i / dim))` and
    `PE[pos, 2i + 1] = cos(pos / max_wavelength ** (2i / dim))`.
    The layer has no weights and accepts any sequence length.

    Args:
        max_wavelength: float. The largest wavelength (10000 in the paper).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, seq, dim)` with an even `dim`.

    Output shape:
        Same as the input: `inputs + PE[start_index : start_index + seq]`.

    Example:
    >>> layer = SinusoidalPositionEncoding()
    >>> layer(keras.ops.zeros((1, 4, 8))).shape
    (1, 4, 8)
    """

    def encoding(self, length, dim, start_index=0):
        """Returns the `(length, dim)` encoding starting at `start_index`."""
        angles = self._angles(length, dim, start_index)  # (length, dim/2)
        # Interleave: even channels sin, odd channels cos.
        pe = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.reshape(pe, (length, dim))

    def call(self, inputs, start_index=0):
        length, dim = ops.shape(inputs)[1], inputs.shape[-1]
        pe = self.encoding(length, dim, start_index)
        return inputs + ops.cast(pe, inputs.dtype)[None]


@keras.saving.register_keras_serializable(package="kerasdl")
class PositionEmbedding(InitConfig, keras.layers.Layer):
    """Adds a learned position embedding (BERT, GPT-2, ViT).

    A `(sequence_length, dim)` table; position `p` adds row `p`.

    Args:
        sequence_length: int. Number of rows: the longest sequence the layer
            accepts (512 in BERT, 1024 in GPT-2).
        initializer: str. Initializer of the table ("truncated_normal",
            "random_normal", "glorot_uniform", "zeros", ...).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, seq, dim)` with `seq + start_index <= sequence_length`.

    Output shape:
        Same as the input.

    Example:
    >>> layer = PositionEmbedding(sequence_length=16)
    >>> layer(keras.ops.zeros((2, 4, 8))).shape
    (2, 4, 8)
    """

    def __init__(self, sequence_length: int, initializer="truncated_normal", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = check_int("sequence_length", sequence_length, minimum=1)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        seq, dim = input_shape[-2], input_shape[-1]
        if dim is None:
            raise ValueError(
                f"PositionEmbedding needs a known feature size; received "
                f"input_shape={tuple(input_shape)!r}."
            )
        if seq is not None and seq > self.sequence_length:
            raise ValueError(
                f"PositionEmbedding(sequence_length={self.sequence_length}) "
                f"received a sequence of length {seq}; it accepts at most "
                f"{self.sequence_length} positions."
            )
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, dim),
            initializer=self.initializer,
        )

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[1]
        table = ops.convert_to_tensor(self.embeddings)
        rows = ops.slice(table, (start_index, 0), (length, table.shape[-1]))
        return inputs + ops.cast(rows, inputs.dtype)[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="kerasdl")
class RotaryEmbedding(_Sinusoid):
    """Rotary position embedding (RoPE, Su et al. 2021).

    Rotates each pair of channels `(x[j], x[j + d/2])` of a query or key
    vector at position `m` by the angle `m * theta_j` with
    `theta_j = max_wavelength ** (-2j / d)` ("rotate half" pairing, as in
    GPT-NeoX and LLaMA). A rotation keeps vector norms, and the dot product
    of a rotated query at `m` with a rotated key at `n` depends only on
    `m - n`: attention sees relative positions. No weights.

    Args:
        max_wavelength: float. Base of the angles (10000 in the paper).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, seq, num_heads, head_dim)` with an even `head_dim`.

    Output shape:
        Same as the input.

    Example:
    >>> rope = RotaryEmbedding()
    >>> rope(keras.ops.ones((1, 5, 2, 8))).shape
    (1, 5, 2, 8)
    """

    _dim_name = "last dimension"

    def call(self, inputs, start_index=0):
        length, dim = ops.shape(inputs)[1], inputs.shape[-1]
        angles = self._angles(length, dim, start_index)  # (seq, dim/2)
        angles = ops.concatenate([angles, angles], axis=-1)  # (seq, dim)
        cos = ops.cast(ops.cos(angles), inputs.dtype)[None, :, None, :]
        sin = ops.cast(ops.sin(angles), inputs.dtype)[None, :, None, :]
        first, second = ops.split(inputs, 2, axis=-1)
        rotated_half = ops.concatenate([-second, first], axis=-1)
        return inputs * cos + rotated_half * sin
