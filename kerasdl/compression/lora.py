"""LoRA and QLoRA fine-tuning on Keras' own low-rank adapters.

Keras 3 layers already carry LoRA: `Dense`, `EinsumDense`, `Embedding` and
the convolutions `Conv1D`/`Conv2D`/`Conv3D` have `layer.enable_lora(rank,
lora_alpha)`, which freezes the kernel and adds two trainable factors `A`
(in x rank) and `B` (rank x out, zero at start), so the kernel becomes
`W + (alpha / rank) * A @ B`. This module applies that to a whole model by
layer selection, freezes everything else, reports the trainable fraction,
saves and loads only the adapters, merges them back into plain kernels, and
combines it with `model.quantize` for QLoRA (an int8/int4 base that stays
fixed while float32 adapters train).

Example:
>>> model = kerasdl.build("mlp", input_shape=(64,), num_classes=10)
>>> enable_lora(model, rank=4, alpha=8)
>>> trainable_fraction(model)  # only the adapters train
0.062...
>>> model.compile("adam", "sparse_categorical_crossentropy"); model.fit(x, y)
>>> save_adapters(model, "adapters.npz")   # kilobytes, not the whole model
>>> plain = merge_lora(model)               # W + (alpha/r) A @ B, no adapters
"""

from __future__ import annotations

import io
import json
import logging
import math
import os

import keras
import numpy as np

from kerasdl import _backend, _keras_compat
from kerasdl._checks import check_int, closest, invalid, is_number
from kerasdl._io import write_bytes_atomic
from kerasdl.compression import _selection

__all__ = [
    "LORA_LAYER_TYPES",
    "QLORA_MODES",
    "enable_lora",
    "load_adapters",
    "lora_layers",
    "merge_lora",
    "qlora",
    "save_adapters",
    "trainable_fraction",
]

logger = logging.getLogger(__name__)

#: Layer classes with Keras' built-in `enable_lora` (the convolutions are the
#: `BaseConv` family; transposed, depthwise and separable convolutions have no
#: LoRA in Keras 3.15).
LORA_LAYER_TYPES: tuple[type, ...] = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Embedding,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
#: Layer classes that `model.quantize` turns into int8/int4 (QLoRA bases).
QUANTIZABLE_LAYER_TYPES: tuple[type, ...] = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Embedding,
)
#: Base-weight modes accepted by `qlora`.
QLORA_MODES = ("int8", "int4")

_FORMAT = "kerasdl-lora-adapters"
_VERSION = 1


# ------------------------------------------------------------------ selection
def _leaf_layers(model) -> list:
    # The selection rule's walk: layers nested in blocks and sub-models, once.
    return _selection.walk_layers(model)


def _type_names(types) -> str:
    return ", ".join(t.__name__ for t in types)


def _select(model, layers, supported: tuple[type, ...], what: str) -> list:
    """The layers of `model` that `layers` names, all of a `supported` type.

    `layers` is None (every layer of a supported type) or entries as the
    one selection rule takes them (`kerasdl.compression._selection`):
    layer names / paths, classes, class names ("Dense"), layer objects.
    """
    chosen = _selection.select_layers(
        model,
        layers,
        accepts=lambda layer: isinstance(layer, supported),
        what=what,
        supported=[t.__name__ for t in supported],
    )
    if layers is None and not chosen:
        raise ValueError(
            f"Model {model.name!r} has no layer that supports {what}; "
            f"supported types: {_type_names(supported)}."
        )
    return chosen


def lora_layers(model) -> list:
    """The layers of `model` (nested ones included) with LoRA enabled.

    Args:
        model: keras.Model.

    Returns:
        list of keras layers, in the model's layer order.
    """
    return [
        layer for layer in _leaf_layers(model) if getattr(layer, "lora_enabled", False)
    ]


def _is_lora_variable(layer, variable) -> bool:
    return getattr(layer, "lora_enabled", False) and variable.name.startswith("lora_")


def _lora_variables(layer) -> list:
    return [v for v in layer.weights if _is_lora_variable(layer, v)]


def _check_alpha(alpha, rank):
    if alpha is None:
        return rank
    if not is_number(alpha) or not math.isfinite(alpha) or alpha <= 0:
        raise invalid(
            "alpha",
            alpha,
            "a number > 0 (the adapter delta is scaled by alpha / rank), or "
            "None for alpha = rank",
        )
    return alpha


# ------------------------------------------------------------------ enabling
def _freeze_base(model) -> None:
    """Makes every weight that is not a LoRA factor non-trainable.

    Layers without adapters are frozen as a whole (so BatchNormalization runs
    in inference mode and keeps its statistics); in adapted layers only the
    base variables (bias, quantization scales) are frozen, since freezing the
    layer would freeze its adapters too.
    """
    for layer in _leaf_layers(model):
        if getattr(layer, "lora_enabled", False):
            for variable in layer.weights:
                if not _is_lora_variable(layer, variable):
                    variable.trainable = False
        elif layer.weights and not _keras_compat.sublayers(layer):
            layer.trainable = False


def _enable(layer, rank: int, alpha) -> None:
    if getattr(layer, "lora_enabled", False):
        raise ValueError(
            f"LoRA is already enabled on layer {layer.name!r} "
            f"(rank={layer.lora_rank}); it can be enabled once per layer."
        )
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built; build the model (call it on "
            "data or give it an Input) before enabling LoRA."
        )
    layer.enable_lora(rank, lora_alpha=alpha)


def enable_lora(model, rank, alpha=None, layers=None, freeze_base=True):
    """Adds LoRA adapters to chosen layers of a built model, in place.

    Each chosen layer's kernel `W` (embedding table for `Embedding`) is
    frozen and the layer computes with `W + (alpha / rank) * A @ B`, where
    `A` (he_uniform) and `B` (zeros) are new float32 trainable factors, so
    the model starts out computing exactly what it did.

    Args:
        model: keras.Model. A built model (functional, sequential or
            subclassed; nested layers are reached).
        rank: int. Rank r of the adapters, >= 1.
        alpha: float or None. LoRA scaling numerator: the delta is scaled
            by alpha / rank. None means alpha = rank (scale 1).
        layers: None or list. None adapts every Dense, EinsumDense, Embedding
            and Conv1D/2D/3D layer; otherwise layer names (or paths), layer
            objects, layer classes and/or class names such as "Dense".
        freeze_base: bool. If True (default), every other weight of the
            model (biases, other layers, normalization) is made
            non-trainable, so fitting changes only the adapters. If False,
            only the adapted kernels are frozen (Keras' own behaviour).

    Returns:
        The same model, with adapters.

    Raises:
        ValueError: for a bad rank or alpha, a layer name that does not
            exist, a layer type without LoRA support, or a layer that
            already has LoRA.

    Example:
    >>> enable_lora(model, rank=8, alpha=16, layers=["dense_1", "dense_2"])
    """
    rank = check_int("rank", rank, minimum=1)
    alpha = _check_alpha(alpha, rank)
    if not isinstance(freeze_base, bool):
        raise ValueError(f"Invalid freeze_base={freeze_base!r}: expected a bool.")
    chosen = _select(model, layers, LORA_LAYER_TYPES, "LoRA")
    for layer in chosen:
        _enable(layer, rank, alpha)
    if freeze_base:
        _freeze_base(model)
    _post_change(model)
    logger.info(
        "LoRA rank %d (alpha %s) on %d layers; trainable fraction %.4f",
        rank,
        alpha,
        len(chosen),
        trainable_fraction(model),
    )
    return model


def _post_change(model) -> None:
    # New variables: compiled step functions must be rebuilt, and the torch
    # backend must re-track the layers' parameters (as model.quantize does).
    model.train_function = None
    model.test_function = None
    model.predict_function = None
    _backend.after_new_variables(model)


def qlora(model, rank, mode="int8", alpha=None, layers=None, freeze_base=True):
    """QLoRA: quantizes the chosen layers' base weights, then adds LoRA.

    `model.quantize(mode)` turns each chosen layer's kernel into int8 (or
    packed int4) with float scales; `enable_lora` then adds float32 adapters
    that train while the integer base stays fixed. Modifies `model` in place.

    Args:
        model: keras.Model. A built float32 model.
        rank: int. Adapter rank, >= 1.
        mode: str. Base weight format: "int8" or "int4".
        alpha: float or None. LoRA scaling numerator (None: alpha = rank).
        layers: None or list. None takes every Dense, EinsumDense and
            Embedding layer (the types Keras quantizes); or names, classes
            or class names of such layers.
        freeze_base: bool. Freeze every non-adapter weight (see
            `enable_lora`).

    Returns:
        The same model, quantized, with adapters.

    Raises:
        ValueError: for an unknown mode, or a chosen layer Keras cannot
            quantize (e.g. Conv2D).

    Example:
    >>> qlora(model, rank=4, mode="int4")
    """
    if mode not in QLORA_MODES:
        raise ValueError(
            f"Invalid mode={mode!r}.{closest(str(mode), QLORA_MODES)} Accepted: "
            f"{', '.join(repr(m) for m in QLORA_MODES)}."
        )
    rank = check_int("rank", rank, minimum=1)
    alpha = _check_alpha(alpha, rank)
    chosen = _select(model, layers, QUANTIZABLE_LAYER_TYPES, f"{mode} QLoRA")
    already = [layer.name for layer in chosen if layer.quantization_mode is not None]
    if already:
        raise ValueError(
            f"Layers {already} are already quantized; qlora needs a float base."
        )
    ids = {id(layer) for layer in chosen}
    model.quantize(mode, filters=lambda layer: id(layer) in ids)
    return enable_lora(model, rank, alpha, layers=chosen, freeze_base=freeze_base)


# ------------------------------------------------------------------ reporting
def trainable_fraction(model) -> float:
    """Fraction of the model's parameters that are trainable.

    Counts scalar elements of variables (`model.count_params()` convention;
    a packed int4 kernel counts as stored, two values per int8 element).

    Args:
        model: keras.Model.

    Returns:
        float in [0, 1]: trainable elements / all elements.
    """
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return trainable / total if total else 0.0


# ------------------------------------------------------------------ adapters
def save_adapters(model, path) -> None:
    """Saves only the LoRA factors of `model` to a .npz file, atomically.

    The file holds each adapted layer's path, type, rank, alpha and its two
    factors; base weights are not saved.

    Args:
        model: keras.Model with LoRA enabled on at least one layer.
        path: str or os.PathLike. Target file (conventionally ".npz"); it is
            written to a temporary file first and moved into place, so a
            reader never sees a partial file.

    Raises:
        ValueError: if the model has no LoRA layer.
    """
    adapted = lora_layers(model)
    if not adapted:
        raise ValueError(
            f"Model {model.name!r} has no LoRA layer; call enable_lora or "
            "qlora before save_adapters."
        )
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"format": _FORMAT, "version": _VERSION, "layers": {}}
    for layer in adapted:
        entry = {
            "type": type(layer).__name__,
            "rank": int(layer.lora_rank),
            "alpha": layer.lora_alpha,
            "variables": {},
        }
        for variable in _lora_variables(layer):
            key = f"a{len(arrays)}"
            arrays[key] = keras.ops.convert_to_numpy(variable)
            entry["variables"][variable.name] = {
                "key": key,
                "shape": list(arrays[key].shape),
            }
        meta["layers"][layer.path] = entry
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())
    logger.info("Saved %d LoRA layers to %s", len(adapted), os.fspath(path))


def _read_adapters(path) -> tuple[dict, dict]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No adapter file at {path!r}.")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "__meta__" not in arrays:
        raise ValueError(f"{path!r} is not a kerasdl LoRA adapter file (no metadata).")
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
        raise ValueError(
            f"{path!r} is not a kerasdl LoRA adapter file of version {_VERSION} "
            f"(format={meta.get('format')!r}, version={meta.get('version')!r})."
        )
    return meta, arrays


def load_adapters(model, path):
    """Loads LoRA factors saved by `save_adapters` into `model`, in place.

    If the model has no LoRA layer yet, LoRA is first enabled on the saved
    layers with the saved ranks and alphas (and the base frozen, as
    `enable_lora` does). Otherwise the model's adapted layers must be exactly
    the saved ones, with the same ranks, alphas and shapes.

    Args:
        model: keras.Model with the same base architecture (same layer
            paths) as the model that was saved.
        path: str or os.PathLike. File written by `save_adapters`.

    Returns:
        The same model.

    Raises:
        ValueError: if layers, types, ranks, alphas or shapes differ; the
            message lists what differs.
        FileNotFoundError: if `path` does not exist.
    """
    meta, arrays = _read_adapters(path)
    saved = meta["layers"]
    if not lora_layers(model):
        by_path = {layer.path: layer for layer in _leaf_layers(model)}
        missing = [p for p in saved if p not in by_path]
        if missing:
            raise ValueError(
                f"Adapters in {os.fspath(path)!r} are for layers {missing} that "
                f"model {model.name!r} does not have. Its layers: "
                f"{', '.join(by_path)}."
            )
        for layer_path, entry in saved.items():
            layer = by_path[layer_path]
            if not isinstance(layer, LORA_LAYER_TYPES):
                raise ValueError(
                    f"Adapters for layer {layer_path!r} were saved from a "
                    f"{entry['type']}, but the model's layer is a "
                    f"{type(layer).__name__} without LoRA support."
                )
            _enable(layer, entry["rank"], entry["alpha"])
        _freeze_base(model)
        _post_change(model)
    adapted = {layer.path: layer for layer in lora_layers(model)}
    problems = []
    if set(adapted) != set(saved):
        only_model = sorted(set(adapted) - set(saved))
        only_file = sorted(set(saved) - set(adapted))
        problems.append(
            f"adapted layers differ (only in the model: {only_model}; only in "
            f"the file: {only_file})"
        )
    for layer_path in sorted(set(adapted) & set(saved)):
        layer, entry = adapted[layer_path], saved[layer_path]
        if type(layer).__name__ != entry["type"]:
            problems.append(
                f"{layer_path}: type {type(layer).__name__} vs saved {entry['type']}"
            )
        if layer.lora_rank != entry["rank"] or layer.lora_alpha != entry["alpha"]:
            problems.append(
                f"{layer_path}: rank={layer.lora_rank}, alpha={layer.lora_alpha} "
                f"vs saved rank={entry['rank']}, alpha={entry['alpha']}"
            )
            continue
        for variable in _lora_variables(layer):
            spec = entry["variables"].get(variable.name)
            if spec is None or tuple(spec["shape"]) != tuple(variable.shape):
                problems.append(
                    f"{layer_path}/{variable.name}: shape {tuple(variable.shape)} "
                    f"vs saved {None if spec is None else tuple(spec['shape'])}"
                )
    if problems:
        raise ValueError(
            f"Cannot load adapters from {os.fspath(path)!r} into model "
            f"{model.name!r}: " + "; ".join(problems) + "."
        )
    for layer_path, layer in adapted.items():
        specs = saved[layer_path]["variables"]
        for variable in _lora_variables(layer):
            variable.assign(arrays[specs[variable.name]["key"]])
    logger.info("Loaded %d LoRA layers from %s", len(adapted), os.fspath(path))
    return model


# ------------------------------------------------------------------ merging
def _strip_lora(config):
    """A model config with every lora_rank/lora_alpha removed and layers
    trainable again (enable_lora's freezing is not part of the plain model)."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key in ("lora_rank", "lora_alpha"):
                continue
            out[key] = _strip_lora(value)
        if out.get("trainable") is False:
            out["trainable"] = True
        return out
    if isinstance(config, list):
        return [_strip_lora(v) for v in config]
    return config


def merge_lora(model):
    """A plain copy of `model` with every adapter merged into its kernel.

    Each adapted kernel becomes `W + (alpha / rank) * A @ B` (for a QLoRA
    base: dequantized, merged and re-quantized to the same int8/int4 format,
    as Keras does when saving). The copy has no LoRA variables, all layers
    trainable, and computes what the LoRA model computes; it saves, exports
    and quantizes like any model. `model` is not changed.

    Args:
        model: keras.Model, with or without LoRA layers.

    Returns:
        keras.Model: the merged copy.

    Example:
    >>> plain = merge_lora(model)
    >>> plain.export("saved", format="tf_saved_model")
    """
    config = keras.saving.serialize_keras_object(model)
    merged = keras.saving.deserialize_keras_object(_strip_lora(config))
    if not merged.built:
        merged.build_from_config(model.get_build_config())
    old_layers = _keras_compat.flatten_layers(model, include_self=True)
    new_layers = _keras_compat.flatten_layers(merged, include_self=True)
    if len(old_layers) != len(new_layers):
        raise ValueError(
            f"Cannot merge LoRA of model {model.name!r}: rebuilding it from its "
            f"config gave {len(new_layers)} layers instead of {len(old_layers)}."
        )
    for old, new in zip(old_layers, new_layers):
        # save_own_variables writes the merged kernel (Keras merges LoRA when
        # saving); a plain layer's load_own_variables takes it as its kernel.
        store: dict = {}
        old.save_own_variables(store)
        # Copies: on JAX an assigned array may be shared and later donated.
        store = {k: np.array(keras.ops.convert_to_numpy(v)) for k, v in store.items()}
        if store or new.weights:
            new.load_own_variables(store)
    return merged
