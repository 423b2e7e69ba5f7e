"""Every unavoidable use of a Keras internal, in one place.

kerasdl is written against Keras' public API. Where that API has no way to
do something kerasdl needs, the private attribute or module is read here,
behind a small named function, with a comment saying why and for which
Keras version it was checked (3.15). `tests/test_keras_compat.py` runs each
function on a real model, so a Keras upgrade that renames or reshapes one
of these internals fails there, loudly, with "Keras internal X changed",
instead of somewhere deep in a caller. No other kerasdl module may read a
private Keras attribute or import `keras.src` (a scan test enforces it).
"""

from __future__ import annotations

import keras

__all__ = [
    "flatten_layers",
    "sublayers",
]

# The Keras version these internals were checked against.
CHECKED_KERAS = "3.15"


def flatten_layers(layer, include_self: bool = False, recursive: bool = True) -> list:
    """Every layer under `layer` (blocks, sub-models, wrapped layers), each once.

    Why: `Layer._flatten_layers` is Keras' own recursive walk (the one
    `Model.quantize` and the weight trackers use); `model.layers` stops at
    the first level and misses layers held as attributes of custom layers.
    Keras 3.15: `Layer._flatten_layers(include_self, recursive)`.

    Args:
        layer: keras.layers.Layer. A layer or model.
        include_self: bool. Put `layer` itself first.
        recursive: bool. Descend into nested layers.

    Returns:
        list of keras.layers.Layer.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


def sublayers(layer) -> list:
    """Layers nested inside `layer` (empty for a leaf layer such as Dense)."""
    return flatten_layers(layer, include_self=False, recursive=True)
