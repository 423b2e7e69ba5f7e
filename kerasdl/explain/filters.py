"""What convolution filters respond to: feature maps and filter patterns.

- `feature_maps(model, x, layer)`: a layer's activations for a batch.
- `filter_patterns(model, layer, ...)`: for each filter, the input that
  excites it most, found by gradient ascent from grey noise (activation
  maximization, Erhan et al. 2009), one input per filter in one batch.

`kerasdl.viz.plot_feature_maps` and `kerasdl.viz.plot_image_grid` draw them.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_float, check_int
from kerasdl.explain.gradients import _batch, find_conv_layer

__all__ = ["feature_maps", "filter_patterns"]


def _layer_model(model, layer):
    found = find_conv_layer(model, layer)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return found, keras.Model(inputs, found.output)


def feature_maps(model, x, layer=None) -> np.ndarray:
    """A layer's activations for `x`.

    Args:
        model: keras.Model. A functional or Sequential model.
        x: array (batch, H, W, C).
        layer: None (the last layer with a spatial output) or a layer name.

    Returns:
        np.ndarray (batch, h, w, channels).
    """
    _, sub = _layer_model(model, layer)
    return _backend.to_numpy(sub(_batch(x), training=False))


def filter_patterns(
    model,
    layer=None,
    filters=None,
    steps: int = 40,
    step_size: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs that maximize each filter's mean activation (gradient ascent).

    Args:
        model: keras.Model. A functional or Sequential model with a fixed
            input size.
        layer: None (the last layer with a spatial output) or a layer name.
        filters: None (every channel, at most 64) or a list of channel indices.
        steps: int. Gradient-ascent steps.
        step_size: float. Step on the L2-normalized gradient, per pixel scale.
        seed: int. Seed of the starting noise.

    Returns:
        (patterns (n, H, W, C) in [0, 1], activations (n, 2): each filter's
        mean activation on the starting noise and on its pattern).

    Example:
    >>> patterns, gains = filter_patterns(model, "conv2", filters=[0, 1, 2])
    """
    steps = check_int("steps", steps, minimum=1)
    step_size = check_float("step_size", step_size, minimum=0.0)
    found, sub = _layer_model(model, layer)
    channels = found.output.shape[-1]
    if filters is None:
        filters = list(range(min(channels, 64)))
    filters = [
        check_int("filters[i]", f, minimum=0, maximum=channels - 1) for f in filters
    ]
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(
            f"filter_patterns needs a fixed input size; {model.name!r} takes {shape}."
        )
    rng = np.random.default_rng(seed)
    x = (0.5 + 0.05 * rng.standard_normal((len(filters), *shape))).astype(np.float32)
    select = np.eye(channels, dtype=np.float32)[filters]  # (n, channels)

    def activation(v):
        maps = sub(v, training=False)
        per_channel = keras.ops.mean(maps, axis=(1, 2))  # (n, channels)
        return keras.ops.sum(
            per_channel * keras.ops.cast(select, per_channel.dtype), axis=-1
        )

    start = _backend.to_numpy(activation(x))
    for _ in range(steps):
        grads = _backend.to_numpy(_backend.input_gradients(activation, x))
        norm = np.sqrt(
            np.mean(grads**2, axis=tuple(range(1, grads.ndim)), keepdims=True)
        )
        x = x + step_size * grads / (norm + 1e-8)
    end = _backend.to_numpy(activation(x))
    axes = tuple(range(1, x.ndim))
    low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    patterns = (x - low) / np.where(high > low, high - low, 1.0)
    return patterns.astype(np.float32), np.stack([start, end], axis=1)
