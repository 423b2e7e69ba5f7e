"""Zero padding along the channel axis (ResNet option-A shortcuts)."""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_int_pair
from kerasdl.layers._config import InitConfig

__all__ = ["ChannelPadding"]


@keras.saving.register_keras_serializable(package="kerasdl")
class ChannelPadding(InitConfig, keras.layers.Layer):
    """Appends zero channels before and after the existing ones.

    This is the parameter-free "option A" shortcut of He et al. (2015,
    section 4.2): when a residual stage doubles its filters, the identity
    shortcut is subsampled and padded with zero channels so that it can be
    added to the residual branch.

    Args:
        padding: int or tuple. Zero channels added before and after the
            existing ones; an int pads both sides equally.
        axis: int. The channel axis (-1 for channels_last inputs).
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape:
        Any tensor of rank >= 2.

    Output shape:
        The input shape with `before + after` more entries along `axis`.

    Raises:
        ValueError: if `padding` is not a non-negative int or pair of them,
            or `axis` is not an int.

    Example:
    >>> layer = ChannelPadding((8, 8))
    >>> layer(keras.ops.ones((2, 16, 16, 16))).shape
    (2, 16, 16, 32)
    """

    def __init__(self, padding=(0, 0), axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.padding = check_int_pair("padding", padding, 0, ("before", "after"))
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Invalid axis={axis!r}: expected an integer.")
        self.axis = axis

    def _pad_widths(self, rank: int) -> list[list[int]]:
        axis = self.axis % rank
        widths = [[0, 0] for _ in range(rank)]
        widths[axis] = list(self.padding)
        return widths

    def call(self, inputs):
        return ops.pad(inputs, self._pad_widths(len(inputs.shape)))

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axis = self.axis % len(shape)
        if shape[axis] is not None:
            shape[axis] += sum(self.padding)
        return tuple(shape)
