"""Data augmentation from a config, built from Keras' own layers.

A config names augmentations and their arguments; `make_augmentation` maps
each onto the Keras 3 preprocessing layer that implements it:

=============  ===========================  ==============================
name           Keras layer                  shorthand value means
=============  ===========================  ==============================
flip           RandomFlip                   mode ("horizontal", ...)
rotation       RandomRotation               factor
crop           RandomCrop                   height = width (or [h, w])
zoom           RandomZoom                   height_factor (also "factor")
translation    RandomTranslation            both factors (also "factor")
contrast       RandomContrast               factor
brightness     RandomBrightness             factor
color_jitter   RandomColorJitter            (arguments only)
mixup          MixUp                        alpha
cutmix         CutMix                       factor
rand_augment   RandAugment                  num_ops
=============  ===========================  ==============================

Config forms, all equivalent::

    ["flip", {"rotation": 0.1}, {"name": "zoom", "height_factor": 0.1}]
    {"flip": {"mode": "horizontal_and_vertical"}, "rotation": 0.1,
     "zoom": {"height_factor": 0.1}}

A value of True or None means the layer's defaults; False leaves the entry
out (handy for switching an augmentation off in a YAML file).

kerasdl datasets hold images scaled to [0, 1], so layers that take a
`value_range` (contrast, brightness, color_jitter, rand_augment) get
`value_range=(0, 1)` unless the config or the `value_range` argument says
otherwise. For CIFAR-style "pad 4 pixels and crop", use
`{"translation": {"factor": 0.125, "fill_mode": "constant"}}`: it keeps the
image size, where RandomCrop returns smaller images.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

__all__ = ["list_augmentations", "make_augmentation", "mixes_labels"]


@dataclasses.dataclass(frozen=True)
class _Augmentation:
    layer: str  # class name in keras.layers
    shorthand: Callable[[Any], dict] | None  # shorthand value -> arguments
    aliases: Mapping[str, Callable[[Any], dict]] = dataclasses.field(
        default_factory=dict
    )
    # Checks Keras' constructor leaves to call time (or skips): kwargs -> error.
    check: Callable[[dict], str | None] | None = None


def _to(name: str):
    return lambda value: {name: value}


def _both_factors(value):
    return {"height_factor": value, "width_factor": value}


def _crop_size(value):
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return {"height": value[0], "width": value[1]}
    return {"height": value, "width": value}


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _check_flip(kwargs) -> str | None:
    mode = kwargs.get("mode", "horizontal_and_vertical")
    if mode not in _FLIP_MODES:
        return f"mode must be one of {list(_FLIP_MODES)}; received mode={mode!r}."
    return None


def _check_mixup(kwargs) -> str | None:
    alpha = kwargs.get("alpha", 0.2)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        return f"alpha must be a number > 0; received alpha={alpha!r}."
    return None


_AUGMENTATIONS: dict[str, _Augmentation] = {
    "flip": _Augmentation("RandomFlip", _to("mode"), check=_check_flip),
    "rotation": _Augmentation("RandomRotation", _to("factor")),
    "crop": _Augmentation("RandomCrop", _crop_size),
    "zoom": _Augmentation(
        "RandomZoom", _to("height_factor"), {"factor": _to("height_factor")}
    ),
    "translation": _Augmentation(
        "RandomTranslation", _both_factors, {"factor": _both_factors}
    ),
    "contrast": _Augmentation("RandomContrast", _to("factor")),
    "brightness": _Augmentation("RandomBrightness", _to("factor")),
    "color_jitter": _Augmentation("RandomColorJitter", None),
    "mixup": _Augmentation("MixUp", _to("alpha"), check=_check_mixup),
    "cutmix": _Augmentation("CutMix", _to("factor")),
    "rand_augment": _Augmentation("RandAugment", _to("num_ops")),
}


def list_augmentations() -> dict[str, str]:
    """Augmentation names and the Keras layer each one builds.

    Returns:
        dict mapping config names to `keras.layers` class names.

    Example:
    >>> list_augmentations()["mixup"]
    'MixUp'
    """
    return {name: spec.layer for name, spec in _AUGMENTATIONS.items()}


def mixes_labels(layer: keras.layers.Layer) -> bool:
    """Whether `layer` mixes pairs of samples and so must see the labels too.

    Args:
        layer: keras.layers.Layer.

    Returns:
        bool: True for MixUp and CutMix.
    """
    return isinstance(layer, (keras.layers.MixUp, keras.layers.CutMix))


def _layer_parameters(name: str):
    cls = getattr(keras.layers, _AUGMENTATIONS[name].layer)
    return inspect.signature(cls.__init__).parameters.values()


def _accepted_arguments(name: str) -> list[str]:
    params = _layer_parameters(name)
    accepted = [
        p.name
        for p in params
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return [*accepted, "name", *_AUGMENTATIONS[name].aliases]


def _required_arguments(name: str) -> list[str]:
    return [
        p.name
        for p in _layer_parameters(name)
        if p.name != "self"
        and p.default is p.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _entries(config) -> list[tuple[str, Any]]:
    """Normalizes the config forms to [(name, value)]."""
    if isinstance(config, Mapping):
        return list(config.items())
    if isinstance(config, str) or not isinstance(config, Sequence):
        raise ValueError(
            "Augmentation config must be a list of entries or a dict of "
            f"name: arguments; received {config!r}."
        )
    entries = []
    for i, entry in enumerate(config):
        if isinstance(entry, str):
            entries.append((entry, None))
        elif isinstance(entry, Mapping) and "name" in entry:
            rest = {k: v for k, v in entry.items() if k != "name"}
            entries.append((entry["name"], rest))
        elif isinstance(entry, Mapping) and len(entry) == 1:
            entries.append(next(iter(entry.items())))
        else:
            raise ValueError(
                f"augmentation[{i}] must be a name, {{name: arguments}} or "
                f"{{'name': name, **arguments}}; received {entry!r}."
            )
    return entries


def _arguments(where: str, name: str, value) -> dict | None:
    from kerasdl._checks import closest

    spec = _AUGMENTATIONS[name]
    if value is False:
        return None
    if value is None or value is True:
        kwargs = {}
    elif isinstance(value, Mapping):
        kwargs = dict(value)
    elif spec.shorthand is not None:
        kwargs = spec.shorthand(value)
    else:
        raise ValueError(
            f"{where} ({name}): give the arguments as a dict; received {value!r}. "
            f"Accepted arguments: {', '.join(_accepted_arguments(name))}."
        )
    accepted = _accepted_arguments(name)
    for key in kwargs:
        if key not in accepted:
            raise ValueError(
                f"{where} ({name}): unknown argument {key!r}.{closest(key, accepted)} "
                f"Accepted: {', '.join(accepted)}."
            )
    for alias, expand in spec.aliases.items():
        if alias in kwargs:
            kwargs = {**expand(kwargs.pop(alias)), **kwargs}
    missing = [a for a in _required_arguments(name) if a not in kwargs]
    if missing:
        raise ValueError(
            f"{where} ({name}): missing required argument(s) {missing}; "
            f"received {value!r}."
        )
    problem = spec.check(kwargs) if spec.check is not None else None
    if problem:
        raise ValueError(f"{where} ({name}): {problem}")
    return kwargs


def make_augmentation(
    config: Sequence | Mapping,
    *,
    seed: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    name: str = "augmentation",
) -> keras.Sequential:
    """Builds a `keras.Sequential` of Keras augmentation layers from a config.

    The layers are random only when called with `training=True` (as inside
    `model.fit`); at inference they pass images through, except RandomCrop,
    which center-crops. All of them work in a `tf.data` pipeline on every
    backend.

    MixUp and CutMix blend pairs of samples, so they need one-hot float
    labels and act on `{"images": x, "labels": y}` batches: use them through
    `make_pipeline(augment=...)`, which feeds them the labels (and one-hot
    encodes sparse labels). Called on images alone, as inside a model, they
    would mix only the images.

    Args:
        config: list or dict. Augmentations by name with their arguments
            (see the module docstring); names: flip, rotation, crop, zoom,
            translation, contrast, brightness, color_jitter, mixup, cutmix,
            rand_augment. Arguments are those of the Keras layer.
        seed: int or None. With a seed, layer i gets seed + i (unless its
            config sets one), so two augmentations built with the same seed
            produce the same sequence of random transforms.
        value_range: tuple of two floats. Default pixel range for layers that
            take a `value_range`; (0, 1) matches kerasdl's datasets.
        name: str. Name of the Sequential.

    Returns:
        keras.Sequential holding the layers in config order.

    Raises:
        ValueError: for an unknown name or argument (with the closest match
            and the accepted ones), a missing required argument, or a value
            the Keras layer rejects.

    Example:
    >>> aug = make_augmentation(
    ...     ["flip", {"rotation": 0.1}, {"zoom": 0.1}], seed=0)
    >>> [type(layer).__name__ for layer in aug.layers]
    ['RandomFlip', 'RandomRotation', 'RandomZoom']
    """
    from kerasdl._checks import closest

    layers = []
    for i, (entry_name, value) in enumerate(_entries(config)):
        where = f"augmentation[{i}]"
        key = str(entry_name).strip().lower().replace("-", "_")
        if key not in _AUGMENTATIONS:
            raise ValueError(
                f"{where}: unknown augmentation {entry_name!r}."
                f"{closest(key, _AUGMENTATIONS)} "
                f"Known: {', '.join(sorted(_AUGMENTATIONS))}."
            )
        kwargs = _arguments(where, key, value)
        if kwargs is None:
            continue
        accepted = _accepted_arguments(key)
        if "value_range" in accepted:
            kwargs.setdefault("value_range", tuple(value_range))
        if seed is not None:
            kwargs.setdefault("seed", int(seed) + i)
        kwargs.setdefault("name", f"{name}_{i}_{key}")
        try:
            layers.append(getattr(keras.layers, _AUGMENTATIONS[key].layer)(**kwargs))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where} ({key}): {error}") from None
    return keras.Sequential(layers, name=name)
