"""Every unavoidable use of a Keras internal, in one place.

kerasdl is written against Keras' public API. Where that API has no way to
do something kerasdl needs, the private attribute or module is read here,
behind a small named function, with a comment saying why and for which
Keras version it was checked (3.15). `tests/test_keras_compat.py` runs each
function on a real model, so a Keras upgrade that renames or reshapes one
of these internals fails there, loudly, with "Keras internal X changed",
instead of somewhere deep in a caller. No other kerasdl module may read a
private Keras attribute or import `keras.src` (a scan test enforces it).

Overrides of private Keras hooks cannot move here (a subclass must define
the method itself); they are pinned by tests/test_keras_compat.py instead:
`BestModelCheckpoint._save_model` (ModelCheckpoint's write hook) and
`ResumableBackup._save_model` / `_current_epoch` (BackupAndRestore's) in
kerasdl/training/callbacks.py.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging

import keras

__all__ = [
    "CHECKED_KERAS",
    "checkpoint_save_model",
    "collect_between_onnx_passes",
    "disable_per_channel",
    "flatten_layers",
    "is_functional",
    "patch_multi_worker",
    "reset_initial_epoch",
    "retrack_torch_variables",
    "set_initial_epoch",
    "sublayers",
]

logger = logging.getLogger(__name__)

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


def is_functional(model) -> bool:
    """True for a functional model (`keras.Model(inputs, outputs)`).

    Why: Keras 3 has no public Functional class; `keras.Model(inputs,
    outputs)` returns an instance of the private
    `keras.src.models.functional.Functional` (Sequential subclasses it).
    `keras.models.clone_model` can map the layers of exactly these models.
    Keras 3.15: `keras.src.models.functional.Functional`.
    """
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def retrack_torch_variables(model) -> None:
    """Registers variables added to a built model as torch parameters.

    Why: on the torch backend a layer registers its variables as module
    parameters when it is built; `enable_lora` and `quantize` add variables
    afterwards, and `Model.quantize` calls the private
    `Layer._track_variables()` on every layer to register them. There is
    no public way to do the same. Keras 3.15 (torch backend):
    `TorchLayer._track_variables()`.
    """
    for layer in flatten_layers(model, include_self=True, recursive=True):
        layer._track_variables()


def set_initial_epoch(model, epoch) -> None:
    """Sets the epoch the next `model.fit` starts from (None: its argument).

    Why: `BackupAndRestore` resumes a run by setting the private
    `Model._initial_epoch`, which `fit` prefers over its `initial_epoch`
    argument; a resumable backup that restores its own state must do the
    same, and the Trainer clears it after `fit` so the user's next `fit`
    starts at 0. Keras 3.15: `Trainer._initial_epoch` (read in `fit`).
    """
    model._initial_epoch = epoch


def reset_initial_epoch(model) -> None:
    """Clears what `set_initial_epoch` (or `BackupAndRestore`) left on `model`."""
    set_initial_epoch(model, None)


def checkpoint_save_model(callback, epoch, batch, logs) -> None:
    """`ModelCheckpoint`'s own save of the model at this epoch/batch.

    Why: kerasdl's atomic checkpoint overrides the private hook
    `ModelCheckpoint._save_model(epoch, batch, logs)` (the one place where
    Keras decides whether and where to write) to redirect the write to a
    temp file, then calls Keras' implementation through here. Keras 3.15:
    `ModelCheckpoint._save_model(self, epoch, batch, logs)`.
    """
    keras.callbacks.ModelCheckpoint._save_model(callback, epoch, batch, logs)


def patch_multi_worker(model) -> None:
    """Instance-level workaround for keras-team/keras#20585 (Keras 3.15).

    Why: under `tf.distribute.MultiWorkerMirroredStrategy` Keras' private
    `Trainer._maybe_symbolic_build` reduces a whole batch across workers to
    build the model, which the strategy refuses; it is replaced (on this
    model only) by a build from the local batch, which is all a build needs.
    Keras also reduces multi-worker step logs with axis=0, which fails on
    scalars: the step functions return logs with a leading axis of 1.
    Keras 3.15 (TensorFlow backend): `Trainer._maybe_symbolic_build(iterator,
    data_batch)` and `Trainer._symbolic_build(data_batch=...)`.
    """
    import types

    import tensorflow as tf

    if getattr(model, "_kerasdl_multi_worker_patched", False):
        return
    strategy = model.distribute_strategy

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = keras.tree.map_structure(local, next(it))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def lift(step):
        def wrapped(data):
            logs = step(data)
            return keras.tree.map_structure(lambda v: keras.ops.expand_dims(v, 0), logs)

        return wrapped

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    model.train_step = lift(model.train_step)
    model.test_step = lift(model.test_step)
    model._kerasdl_multi_worker_patched = True


def disable_per_channel(converter) -> None:
    """Makes a TFLite converter quantize weights per tensor, not per channel.

    Why: not a Keras internal but a TensorFlow one, pinned here with the
    others: the private `TFLiteConverter._experimental_disable_per_channel`
    is the converter's only switch for per-tensor weight scales (some
    mobile delegates accept nothing else). TensorFlow 2.21.
    """
    if not hasattr(converter, "_experimental_disable_per_channel"):
        raise AttributeError(
            "TensorFlow internal TFLiteConverter._experimental_disable_per_channel "
            "changed: per-tensor int8 weights cannot be requested."
        )
    converter._experimental_disable_per_channel = True


def _collecting(factory):
    """An optimizer class like `factory` that first frees the earlier passes' copies."""

    class Collecting(factory):
        def optimize(self, graph, iteration):
            gc.collect()
            return super().optimize(graph, iteration)

    Collecting.__name__ = factory.__name__
    return Collecting


@contextlib.contextmanager
def collect_between_onnx_passes():
    """Within the block, tf2onnx's graph optimizer frees memory between its passes.

    Why: not a Keras internal but one of tf2onnx, which Keras' ONNX export
    on TensorFlow calls. `tf2onnx.optimizer.optimize_graph` deep-copies the
    whole graph, weights included, before each of its passes (a dozen per
    round, several rounds); the copies hold reference cycles, so they stay
    until a full garbage collection, which Python's thresholds rarely reach:
    0.6 GB on MobileNetV2 (14 MB of weights). Its passes are read from the
    private registry `tf2onnx.optimizer._optimizers`; within the block each
    one collects garbage first. Objects that existed before the block
    (TensorFlow, Keras, the model) are frozen out of those collections
    (`gc.freeze`), so each takes milliseconds. tf2onnx 1.17. Without the
    registry the block changes nothing (more memory, the same file).
    """
    try:
        from tf2onnx import optimizer
    except ImportError:
        optimizer = None
    registry = getattr(optimizer, "_optimizers", None)
    if not isinstance(registry, dict):
        logger.info(
            "tf2onnx.optimizer._optimizers not found: ONNX passes not collected"
        )
        yield
        return
    optimizer._optimizers = collections.OrderedDict(
        (name, _collecting(factory)) for name, factory in registry.items()
    )
    # A caller's own gc.freeze() is left as it is.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        optimizer._optimizers = registry
        if freeze:
            gc.unfreeze()
