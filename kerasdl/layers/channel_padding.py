"""Zero padding along the channel axis (ResNet option-A shortcuts)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ChannelPadding"]


def _check_padding(value) -> tuple[int, int]:
    padding = value
    if isinstance(padding, int) and not isinstance(padding, bool):
        padding = (padding, padding)
    if (
        not isinstance(padding, (list, tuple))
        or len(padding) != 2
        or not all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding
        )
    ):
        raise ValueError(
            f"Invalid padding={value!r}: expected an integer >= 0 or a pair "
            "(before, after) of integers >= 0."
        )
    return int(padding[0]), int(padding[1])


@keras.saving.register_keras_serializable(package="kerasdl")
class ChannelPadding(keras.layers.Layer):
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
        self.padding = _check_padding(padding)
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

    def get_config(self):
        config = super().get_config()
        config.update({"padding": list(self.padding), "axis": self.axis})
        return config
