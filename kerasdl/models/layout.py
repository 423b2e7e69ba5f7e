"""Image layout: channels_last (NHWC) or channels_first (NCHW) CNN builders.

Every CNN builder takes `data_format` ("channels_last", "channels_first" or
None for `keras.config.image_data_format()`), as keras.applications reads
the image data format when it builds. `image_builder` validates the argument
and builds inside `data_format_scope`: every Keras layer resolves its own
`data_format=None` when it is constructed and stores the resolved value in
its config, so the scope only affects construction (a saved model reloads
with its layout whatever the global setting is then). What Keras cannot
resolve by itself (the channel axis of batch normalization and
concatenation, channel counts read from a tensor's shape) reads
`channel_axis()` / `channels(x)` / `spatial_shape(x)` here.

Mobile runtimes take NHWC: `to_channels_last` rebuilds a channels_first
functional model channels_last with the same weights (Keras kernels have the
same shape in both layouts, and `Flatten` orders features channels_last in
both), which is how `kerasdl.export` writes NHWC files from NCHW models.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading

import keras
import numpy as np

from kerasdl._checks import check_choice, short_repr
from kerasdl.models._hparams import Arg

__all__ = [
    "DATA_FORMAT",
    "DATA_FORMATS",
    "channel_axis",
    "channels",
    "check_data_format",
    "data_format_scope",
    "image_builder",
    "is_channels_first",
    "spatial_shape",
    "to_channels_last",
    "to_nhwc",
]

DATA_FORMATS = ("channels_last", "channels_first")

# Builds that switch the global setting are serialized: two threads building
# in different layouts would otherwise see each other's setting.
_LOCK = threading.RLock()

# Layers whose `axis` is the channel axis in the CNN builders: 1 in a
# channels_first model, -1 once rebuilt channels_last. On rank-2 features
# (concatenated Dense outputs) axis 1 and -1 are the same axis.
_CHANNEL_AXIS_LAYERS = frozenset(
    {
        "BatchNormalization",
        "ChannelPadding",
        "Concatenate",
        "LocalResponseNormalization",
        "Normalization",
        "Softmax",
    }
)
# Layers whose arguments encode a layout that cannot be rewritten safely.
_LAYOUT_BOUND_LAYERS = frozenset({"Reshape", "Permute", "Lambda"})


def check_data_format(data_format) -> str:
    """Returns the data format, None resolved to Keras' global setting.

    Raises:
        ValueError: naming the value received and the accepted ones.
    """
    if data_format is None:
        return keras.config.image_data_format()
    return check_choice("data_format", data_format, DATA_FORMATS)


@contextlib.contextmanager
def data_format_scope(data_format):
    """Sets Keras' image data format while layers are constructed."""
    data_format = check_data_format(data_format)
    with _LOCK:
        previous = keras.config.image_data_format()
        keras.config.set_image_data_format(data_format)
        try:
            yield data_format
        finally:
            keras.config.set_image_data_format(previous)


def image_builder(builder):
    """Decorates a CNN builder whose signature has a `data_format` argument.

    The builder runs inside `data_format_scope(data_format)`; its signature
    (read by the registry) is unchanged and its docstring gains the
    data_format argument's line, written once here.
    """
    signature = inspect.signature(builder)
    if "data_format" not in signature.parameters:
        raise TypeError(f"{builder.__qualname__} has no data_format argument.")

    @functools.wraps(builder)
    def build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with data_format_scope(bound.arguments["data_format"]):
            return builder(*args, **kwargs)

    build.__doc__ = _with_data_format_doc(builder.__doc__ or "")
    return build


# Written once here and added to every image builder's "Args:" section (the
# registry's model_info reads each hyperparameter's line from there).
_DATA_FORMAT_DOC = (
    'data_format: str or None. "channels_last" (input_shape is (height, '
    'width, channels)) or "channels_first" ((channels, height, width)); '
    "None: keras.config.image_data_format()."
)


#: The data_format argument as a `builder_args` table, for image builders
#: whose signature comes from shared tables (`image_builder` then finds the
#: line already there).
DATA_FORMAT = {"data_format": Arg(None, _DATA_FORMAT_DOC.split(": ", 1)[1])}


def _with_data_format_doc(doc: str) -> str:
    """`doc` with the data_format line at the end of its Args section (unless
    `builder_args` already wrote it there)."""
    lines = doc.split("\n")
    if any(line.lstrip().startswith("data_format: ") for line in lines):
        return doc
    for i, line in enumerate(lines):
        if line.strip() == "Args:":
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            lines.insert(end, indent + _DATA_FORMAT_DOC)
            return "\n".join(lines)
    return doc


def is_channels_first() -> bool:
    """Whether layers built now are channels_first."""
    return keras.config.image_data_format() == "channels_first"


def channel_axis() -> int:
    """The channel axis of image tensors built now: 1 or -1."""
    return 1 if is_channels_first() else -1


def channels(x) -> int | None:
    """Number of channels of an image tensor built now."""
    return x.shape[channel_axis()]


def spatial_shape(shape) -> tuple:
    """The spatial sizes of a shape without batch dimension (H, W) in the
    current layout (tensors: pass `x.shape[1:]`)."""
    shape = tuple(shape)
    return shape[1:] if is_channels_first() else shape[:-1]


def to_nhwc(data):
    """Transposes rank-4 arrays (or lists/tuples/dicts of them) NCHW -> NHWC."""
    if isinstance(data, dict):
        return {k: to_nhwc(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(to_nhwc(v) for v in data)
    if getattr(data, "ndim", None) == 4:
        return np.transpose(np.asarray(data), (0, 2, 3, 1))
    return data


def _uses_channels_first(model) -> bool:
    """Whether any layer, nested models included, is channels_first (read
    from the layers, so subclassed models need no get_config)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if _uses_channels_first(layer):
                return True
        elif getattr(layer, "data_format", None) == "channels_first":
            return True
    return False


def _rewrite(config, model_name: str):
    """Rewrites a layer-config tree from channels_first to channels_last."""
    if isinstance(config, list):
        return [_rewrite(v, model_name) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: _rewrite(v, model_name) for k, v in config.items() if k != "build_config"}
    layer = out.get("config")
    kind = out.get("class_name")
    if isinstance(layer, dict) and isinstance(kind, str):
        shape = layer.get("target_shape")
        if (
            kind == "Reshape"
            and shape
            and len(shape) == 3
            and list(shape[1:]) == [1, 1]
        ):
            # A vector made a 1x1 map (squeeze-and-excitation): (C, 1, 1).
            layer["target_shape"] = [1, 1, shape[0]]
        elif kind in _LAYOUT_BOUND_LAYERS:
            raise ValueError(
                f"Model {model_name!r} is channels_first and contains a {kind} "
                f"layer {layer.get('name')!r} whose arguments depend on the "
                "layout; it cannot be rebuilt channels_last. Build the model "
                "with data_format='channels_last' to export it."
            )
        if layer.get("data_format") == "channels_first":
            layer["data_format"] = "channels_last"
        axis = layer.get("axis")
        if kind in _CHANNEL_AXIS_LAYERS:
            if axis == 1:
                layer["axis"] = -1
            elif isinstance(axis, (list, tuple)) and list(axis) == [1]:
                layer["axis"] = [-1]  # Normalization's axis is a tuple
        if kind == "InputLayer" and len(layer.get("batch_shape") or ()) == 4:
            n, c, h, w = layer["batch_shape"]
            layer["batch_shape"] = [n, h, w, c]
    return out


def to_channels_last(model):
    """A channels_last copy of a channels_first functional model.

    Kernels, batch-norm statistics and Dense weights keep their shapes in
    both layouts, so the copy takes the same weights and, given the input
    transposed to NHWC, computes the same outputs. A model without
    channels_first layers is returned as it is.

    Args:
        model: keras.Model. A functional or Sequential model.

    Returns:
        keras.Model: `model` itself, or its channels_last copy.

    Raises:
        ValueError: if the model is channels_first but subclassed, or holds a
            layer whose arguments encode the layout (Reshape, Permute, Lambda).
    """
    if not _uses_channels_first(model):
        return model
    # Functional and Sequential models rebuild from their config alone.
    if type(model).__name__ not in ("Functional", "Sequential"):
        raise ValueError(
            f"Model {model.name!r} is channels_first and of class "
            f"{short_repr(type(model).__name__)}; only functional and Sequential "
            "models can be rebuilt channels_last. Build it with "
            "data_format='channels_last' to export it."
        )
    rebuilt = model.__class__.from_config(_rewrite(model.get_config(), model.name))
    rebuilt.set_weights(model.get_weights())
    return rebuilt
