"""Vision Transformer pieces: patch embedding, class token, token pooling.

Dosovitskiy et al. (2020), "An Image is Worth 16x16 Words": an image is cut
into non-overlapping P x P patches, each patch is projected linearly to a
D-dimensional token (a Conv2D with kernel = stride = P computes exactly
that), a learned class token is prepended, a learned position embedding is
added (`kerasdl.layers.PositionEmbedding`) and a Transformer encoder
processes the sequence. The classifier reads the class token
(`TokenPooling("token")`) or the mean of the patch tokens
(`TokenPooling("avg")`).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int, check_int_pair
from kerasdl.layers._config import InitConfig

__all__ = ["ClassToken", "PatchEmbedding", "TokenPooling"]


@keras.saving.register_keras_serializable(package="kerasdl")
class PatchEmbedding(InitConfig, keras.layers.Layer):
    """Cuts an image into patches and projects each patch to a token.

    A Conv2D with `kernel_size = strides = patch_size` and "valid" padding
    applies one linear map to every non-overlapping patch; the resulting
    `(H/P, W/P)` grid is flattened row-major into a token sequence.

    Args:
        patch_size: int or tuple. Patch height and width (an int: square).
        hidden_dim: int. Size D of each token.
        use_bias: bool. Give the projection a bias.
        kernel_initializer: str. Initializer of the projection kernel.
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, height, width, channels)`, height and width divisible by
        the patch size.

    Output shape:
        `(batch, (height / P_h) * (width / P_w), hidden_dim)`.

    Raises:
        ValueError: for an invalid argument or an image size that is not a
            multiple of the patch size.

    Example:
    >>> layer = PatchEmbedding(patch_size=4, hidden_dim=32)
    >>> layer(keras.ops.zeros((2, 16, 16, 3))).shape
    (2, 16, 32)
    """

    def __init__(
        self,
        patch_size=16,
        hidden_dim: int = 768,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = check_int_pair(
            "patch_size", patch_size, 1, ("height", "width")
        )
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        if not isinstance(use_bias, bool):
            raise ValueError(f"Invalid use_bias={use_bias!r}: expected a bool.")
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            kernel_size=self.patch_size,
            strides=self.patch_size,
            padding="valid",
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="projection",
        )

    def _grid(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "PatchEmbedding expects images (batch, height, width, channels); "
                f"received input_shape={tuple(input_shape)!r}."
            )
        grid = []
        for size, patch, axis in zip(
            input_shape[1:3], self.patch_size, ("height", "width")
        ):
            if size is not None and size % patch:
                raise ValueError(
                    f"PatchEmbedding(patch_size={self.patch_size}): image {axis} "
                    f"{size} is not a multiple of the patch {axis} {patch}; "
                    f"received input_shape={tuple(input_shape)!r}."
                )
            grid.append(None if size is None else size // patch)
        return grid

    def build(self, input_shape):
        self._grid(input_shape)
        self.projection.build(input_shape)

    def call(self, inputs):
        x = self.projection(inputs)  # (batch, H/P, W/P, D)
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1] * shape[2], self.hidden_dim))

    def compute_output_shape(self, input_shape):
        rows, cols = self._grid(input_shape)
        tokens = None if rows is None or cols is None else rows * cols
        return (input_shape[0], tokens, self.hidden_dim)


@keras.saving.register_keras_serializable(package="kerasdl")
class ClassToken(InitConfig, keras.layers.Layer):
    """Prepends a learned class token to a token sequence.

    The token is one `(hidden_dim,)` vector shared by every example; after
    the encoder, its output summarizes the whole sequence (BERT's [CLS],
    ViT's class token).

    Args:
        initializer: str. Initializer of the token ("zeros" as in the ViT
            reference code, "random_normal", ...).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, seq, hidden_dim)`.

    Output shape:
        `(batch, seq + 1, hidden_dim)`; position 0 is the class token.

    Example:
    >>> layer = ClassToken()
    >>> layer(keras.ops.ones((2, 16, 32))).shape
    (2, 17, 32)
    """

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "ClassToken expects tokens (batch, seq, hidden_dim) with a known "
                f"hidden_dim; received input_shape={tuple(input_shape)!r}."
            )
        self.token = self.add_weight(
            name="token", shape=(1, 1, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.cast(self.token, inputs.dtype)
        token = ops.broadcast_to(token, (batch, 1, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        seq = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], seq, input_shape[2])


@keras.saving.register_keras_serializable(package="kerasdl")
class TokenPooling(InitConfig, keras.layers.Layer):
    """Reduces a token sequence to one vector: a chosen token or the mean.

    Args:
        mode: str. "token": the token at `index` (the class token for
            index 0); "avg": the mean of the tokens after the first
            `num_prefix_tokens` (the patch tokens of a ViT with a class token).
        index: int. Token read in "token" mode.
        num_prefix_tokens: int. Leading tokens left out of the "avg" mean
            (1 skips a class token, 0 averages everything).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        `(batch, seq, hidden_dim)`.

    Output shape:
        `(batch, hidden_dim)`.

    Example:
    >>> TokenPooling("token")(keras.ops.ones((2, 17, 32))).shape
    (2, 32)
    """

    MODES = ("token", "avg")

    def __init__(
        self, mode: str = "token", index: int = 0, num_prefix_tokens: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"Invalid mode={mode!r}. Accepted: 'token', 'avg'.")
        for arg, value in (("index", index), ("num_prefix_tokens", num_prefix_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Invalid {arg}={value!r}: expected an integer >= 0.")
        self.mode = mode
        self.index = index
        self.num_prefix_tokens = num_prefix_tokens

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "TokenPooling expects tokens (batch, seq, hidden_dim); received "
                f"input_shape={tuple(input_shape)!r}."
            )
        seq = input_shape[1]
        first = self.index if self.mode == "token" else self.num_prefix_tokens
        if seq is not None and first >= seq:
            what = "index" if self.mode == "token" else "num_prefix_tokens"
            raise ValueError(
                f"TokenPooling({what}={first}) needs more than {first} tokens; "
                f"received input_shape={tuple(input_shape)!r}."
            )

    def call(self, inputs):
        if self.mode == "token":
            return inputs[:, self.index, :]
        return ops.mean(inputs[:, self.num_prefix_tokens :, :], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
