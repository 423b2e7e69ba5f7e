"""Training callbacks: one concept each, each writing its files atomically.

- `LearningRateLogger`: the optimizer's current learning rate in the epoch
  logs ("learning_rate"), so History, CSV, history.json and TensorBoard all
  see it; schedules are evaluated at `optimizer.iterations`.
- `RunHistory`: run_dir/history.json (every epoch's logs, also across a
  resumed run), optionally history.csv, and the curves PNG at the end.
- `BestModelCheckpoint`: `keras.callbacks.ModelCheckpoint` whose file is
  written to a temp file and moved into place, so a kill never leaves a
  half-written best.keras.
- `ResumableBackup`: `keras.callbacks.BackupAndRestore` that saves each
  epoch's state into a fresh directory and switches a pointer file
  atomically, and that also saves the state of the early-stopping,
  checkpoint and reduce-on-plateau callbacks (best value, patience counter,
  best weights), so a resumed run behaves as if it had never stopped.
- `plot_history` (from `kerasdl.viz`): the training curves as a PNG.
- `requested_callbacks`: the callbacks a model's layers ask for through the
  `training_callbacks()` protocol (e.g. a pruning wrapper asks for
  `UpdatePruningStep`), so the Trainer needs to know no layer type.

Example:
>>> model.fit(x, y, epochs=5, callbacks=[
...     LearningRateLogger(), RunHistory("runs/a"),
...     ResumableBackup("runs/a/backup")])
"""

from __future__ import annotations

import csv
import io
import logging
import math
import numbers
import os
import re
import shutil

import keras
import numpy as np

from kerasdl import _keras_compat
from kerasdl._io import (
    atomic_path,
    read_json,
    remove_stale_files,
    staged_folder,
    write_json_atomic,
    write_text_atomic,
)
from kerasdl.viz.curves import plot_history

__all__ = [
    "BestModelCheckpoint",
    "LearningRateLogger",
    "ResumableBackup",
    "RunHistory",
    "TerminateOnNaN",
    "current_learning_rate",
    "damaged_run_file",
    "load_history",
    "plot_history",
    "requested_callbacks",
]

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
CSV_FILE = "history.csv"
CURVES_FILE = "curves.png"


def current_learning_rate(optimizer) -> float:
    """Returns the learning rate the optimizer's next step will use.

    A schedule is evaluated at `optimizer.iterations`; a
    `LossScaleOptimizer` reports its inner optimizer's rate.

    Args:
        optimizer: keras.optimizers.Optimizer.

    Returns:
        float.

    Example:
    >>> current_learning_rate(keras.optimizers.SGD(0.1))
    0.1
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    # A schedule is evaluated at the optimizer's current iteration by Keras.
    value = inner.learning_rate
    return float(keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(value)))


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to every epoch's logs.

    The value is the rate at the end of the epoch (the schedule at
    `optimizer.iterations`, or the rate a `ReduceLROnPlateau` callback set),
    under the key `key`. Put it before the callbacks that read the logs
    (History is always last).

    Args:
        key: str. Log key.

    Example:
    >>> history = model.fit(x, y, epochs=3, callbacks=[LearningRateLogger()])
    >>> history.history["learning_rate"]
    [0.001, 0.001, 0.001]
    """

    def __init__(self, key: str = "learning_rate"):
        super().__init__()
        self.key = key

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.model.optimizer is not None:
            logs[self.key] = current_learning_rate(self.model.optimizer)


class TerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras' `TerminateOnNaN` that lets the training loop run ahead.

    Keras reads a callback's per-batch logs in the training loop itself,
    waiting for each step's loss on the host, unless the callback declares
    itself safe for asynchronous dispatch. This one does: on backends that
    dispatch callbacks from a thread (JAX, PyTorch) the NaN check runs
    beside the loop, so the Trainer's default guard costs no host
    synchronisation per step (plain `fit` with `verbose=0` has none either).
    A diverging run still stops within the epoch: the loop waits for the
    pending checks at the epoch's end at the latest, and `stop_training`
    set by a check ends the loop at its next step. TensorFlow runs every
    callback in the loop (Keras' TensorFlow trainer is not thread-safe), as
    it already does for plain `fit`.

    Example:
    >>> model.fit(x, y, epochs=5, verbose=0, callbacks=[TerminateOnNaN()])
    """

    async_safe = True

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. "
                f"Loss value: {loss}. Terminating training immediately."
            )
        logger.warning("Batch %d: invalid loss %s, terminating training", batch, loss)
        # `self._model`, not `self.model`: on JAX the `model` property writes
        # the loop's state back into the variables (`jax_state_sync`), and
        # from this callback thread that races with the next step, which
        # donates those buffers; the epoch's end then reads deleted arrays.
        self._model.stop_training = True


def _walk_layers(layer, seen):
    """`layer`, then every layer inside it: nested models and wrapped layers.

    A layer holding a model in its `model` attribute (kerasdl's HubModel
    around a keras-hub backbone, which compression steps may have pruned)
    is walked into like a nested model.
    """
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    if isinstance(layer, keras.Model):
        for child in layer.layers:
            yield from _walk_layers(child, seen)
    elif isinstance(layer, keras.layers.Wrapper):
        yield from _walk_layers(layer.layer, seen)
    elif isinstance(getattr(layer, "model", None), keras.Model):
        yield from _walk_layers(layer.model, seen)


def requested_callbacks(model, given=()) -> list:
    """The callbacks that `model` or its layers need for training.

    The protocol: any layer or model may define a method
    `training_callbacks()` that returns a list of `keras.callbacks.Callback`
    instances without which fitting it would be wrong (kerasdl's pruning
    wrapper returns `[UpdatePruningStep()]`). This function walks the model
    (the model itself, its layers, nested models and the layers inside
    `keras.layers.Wrapper`s), collects what they return and keeps one
    instance per callback class, skipping classes of which `given` already
    holds an instance. The Trainer calls it, so a new layer type needs no
    change to the Trainer.

    Args:
        model: keras.Model (or a single layer).
        given: iterable of callbacks the caller already passes to fit.

    Returns:
        list of new callback instances, in the order the layers were found.

    Raises:
        TypeError: when `training_callbacks()` returns something that is not
            a list or tuple of `keras.callbacks.Callback`.

    Example:
    >>> extra = requested_callbacks(pruned_model, given=user_callbacks)
    >>> model.fit(x, y, callbacks=[*user_callbacks, *extra])
    """
    taken = {type(c) for c in given}
    found = []
    for layer in _walk_layers(model, set()):
        method = getattr(layer, "training_callbacks", None)
        if not callable(method):
            continue
        callbacks = method()
        if not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(c, keras.callbacks.Callback) for c in callbacks
        ):
            raise TypeError(
                f"{type(layer).__name__}.training_callbacks() must return a list "
                "of keras.callbacks.Callback instances. Received: "
                f"{callbacks!r}"
            )
        for callback in callbacks:
            if type(callback) in taken:
                continue
            taken.add(type(callback))
            found.append(callback)
            logger.info(
                "Layer %r asks for %s: adding it.", layer.name, type(callback).__name__
            )
    return found


def damaged_run_file(path, reason) -> ValueError:
    """The error for a run file that is truncated, edited or out of place.

    Args:
        path: str. The file.
        reason: str or Exception. What is wrong with it.

    Returns:
        ValueError: naming the file and how to recover (to raise).
    """
    return ValueError(
        f"Run file {os.fspath(path)!r} is damaged or was edited ({reason}). "
        "To start the run over, set resume: false (kerasdl's run files are "
        "replaced) or use a new run_dir."
    )


def load_history(run_dir) -> dict:
    """Reads run_dir/history.json.

    Args:
        run_dir: str or os.PathLike. The run directory.

    Returns:
        dict: {"epochs": [int], "history": {name: [float or None]},
        "completed": bool}.

    Raises:
        ValueError: if the file does not exist.

    Example:
    >>> load_history("runs/a")["history"]["val_loss"][-1]
    """
    path = os.path.join(os.fspath(run_dir), HISTORY_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"No {HISTORY_FILE} in run directory {run_dir!r}.")
    return read_json(path)


class RunHistory(keras.callbacks.Callback):
    """Keeps run_dir/history.json (and history.csv) up to date every epoch.

    Each epoch rewrites the files atomically with all epochs so far. On a
    resumed run (`resume=True`) the epochs already in history.json before
    the resumed epoch are kept, later ones (from after the last backup) are
    dropped and rewritten, so the file covers the whole run exactly once.
    At the end of training it marks the run completed and draws the curves.

    Args:
        run_dir: str or os.PathLike. Directory (created if missing).
        csv_log: bool. Also write history.csv.
        plot: bool. Draw curves.png at the end of training.
        resume: bool. Keep the epochs of a previous, interrupted fit.

    Example:
    >>> model.fit(x, y, epochs=3, callbacks=[RunHistory("runs/a")])
    >>> load_history("runs/a")["epochs"]
    [0, 1, 2]
    """

    def __init__(self, run_dir, csv_log: bool = True, plot: bool = True, resume=False):
        super().__init__()
        self.run_dir = os.fspath(run_dir)
        self.csv_log = csv_log
        self.plot = plot
        self.resume = resume
        self.rows: list[dict] = []

    def on_train_begin(self, logs=None):
        os.makedirs(self.run_dir, exist_ok=True)
        self.rows = []
        path = os.path.join(self.run_dir, HISTORY_FILE)
        if self.resume and os.path.isfile(path):
            try:
                previous = load_history(self.run_dir)
                for i, epoch in enumerate(previous["epochs"]):
                    row = {"epoch": int(epoch)}
                    for name, values in previous["history"].items():
                        if values[i] is not None:
                            row[name] = float(values[i])
                    self.rows.append(row)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                raise damaged_run_file(path, e) from None

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": int(epoch)}
        for name, value in (logs or {}).items():
            row[name] = _to_float(value)
        # Epochs >= this one are leftovers of an interrupted run.
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        self._write(completed=False)

    def on_train_end(self, logs=None):
        self._write(completed=True)
        if self.plot and self.rows:
            plot_history(self.as_dict(), os.path.join(self.run_dir, CURVES_FILE))

    def as_dict(self, completed: bool = False) -> dict:
        """Returns the history in the history.json layout."""
        names = []
        for row in self.rows:
            names.extend(k for k in row if k != "epoch" and k not in names)
        return {
            "epochs": [r["epoch"] for r in self.rows],
            "history": {n: [r.get(n) for r in self.rows] for n in names},
            "completed": completed,
        }

    def _write(self, completed: bool) -> None:
        data = self.as_dict(completed)
        write_json_atomic(os.path.join(self.run_dir, HISTORY_FILE), data)
        if self.csv_log:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(["epoch", *data["history"]])
            for i, epoch in enumerate(data["epochs"]):
                values = [data["history"][n][i] for n in data["history"]]
                writer.writerow(
                    [epoch, *["" if v is None else repr(v) for v in values]]
                )
            write_text_atomic(os.path.join(self.run_dir, CSV_FILE), buffer.getvalue())


def _scalar(value) -> float:
    """A Python float from a float, NumPy value, tensor or variable."""
    if isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        return float(np.asarray(value).reshape(-1)[0])
    array = keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(value))
    return float(np.asarray(array).reshape(-1)[0])


def _to_float(value):
    value = _scalar(value)
    return value if math.isfinite(value) else None


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that writes its file atomically.

    Keras writes the .keras zip in place, so an interruption can leave a
    truncated file; this saves to a temp file in the same directory and
    moves it over the target with `os.replace`. Arguments are those of
    ModelCheckpoint (`filepath` without formatting placeholders).

    Example:
    >>> BestModelCheckpoint("runs/a/best.keras", monitor="val_loss",
    ...                     save_best_only=True)
    """

    def _save_model(self, epoch, batch, logs):
        final = self.filepath
        os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
        suffix = ".weights.h5" if self.save_weights_only else ".keras"
        # The temp file does not exist yet: Keras refuses to overwrite without
        # asking; it stays absent when the epoch was not an improvement.
        with atomic_path(final, suffix=suffix) as tmp:
            self.filepath = tmp
            try:
                _keras_compat.checkpoint_save_model(self, epoch, batch, logs)
            finally:
                self.filepath = final


# Callback attributes that make up its resumable state.
_STATE_ATTRS = (
    (keras.callbacks.EarlyStopping, ("wait", "best", "best_epoch", "stopped_epoch")),
    (keras.callbacks.ReduceLROnPlateau, ("wait", "cooldown_counter", "best")),
    (keras.callbacks.ModelCheckpoint, ("best",)),
)
_POINTER = "latest.json"
# The only folder names latest.json may point to.
_BACKUP_NAME = re.compile(r"epoch-[0-9]{5,}")


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with atomic backups and callback state.

    At the end of every epoch it writes the model's and optimizer's
    variables plus the state of the `tracked` callbacks (EarlyStopping:
    best value, patience counter, best epoch and best weights;
    ReduceLROnPlateau: counters and best; ModelCheckpoint: best) into a new
    directory `backup_dir/epoch-NNNNN`, then atomically switches
    `backup_dir/latest.json` to it and deletes older ones. A process killed
    at any moment leaves the previous complete backup in force. When `fit`
    starts again with the same `backup_dir`, everything is restored and
    training continues at the next epoch. The backup is deleted when
    training ends normally (as Keras does). Restoring trusts nothing in
    latest.json: it must name a backup folder inside `backup_dir` and only
    the tracked callbacks' state attributes; a damaged file gives a
    ValueError naming it. Older backups and temporaries of killed writes
    are deleted when a backup is restored.

    Put it last in the callback list: it must save after the other
    callbacks have seen the epoch and restore after they have reset.

    Args:
        backup_dir: str or os.PathLike. Directory used only by this callback.
        tracked: list of keras.callbacks.Callback. Callbacks whose state is
            saved with the backup (others are ignored).

    Example:
    >>> backup = ResumableBackup("runs/a/backup", tracked=[early_stopping])
    >>> model.fit(x, y, epochs=10, callbacks=[early_stopping, backup])
    """

    def __init__(self, backup_dir, tracked=()):
        super().__init__(
            os.fspath(backup_dir), save_freq="epoch", delete_checkpoint=True
        )
        self.tracked = [c for c in tracked if _state_attrs(c)]
        self.restored_epoch = None

    def _read_pointer(self, pointer: str) -> tuple[dict, str]:
        """latest.json, checked: (its content, the backup folder it names).

        The folder must be one entry of `backup_dir` (no "..", no absolute
        path, no link out of it): resuming reads only the run's own files.
        """
        try:
            meta = read_json(pointer)
        except (ValueError, OSError) as error:
            raise damaged_run_file(pointer, error) from None
        if not isinstance(meta, dict) or set(meta) != {"epoch", "dir", "callbacks"}:
            raise damaged_run_file(
                pointer, "expected the keys epoch, dir and callbacks"
            )
        epoch, name, states = meta["epoch"], meta["dir"], meta["callbacks"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise damaged_run_file(pointer, f"epoch={epoch!r} is not an epoch count")
        if not isinstance(states, list) or not all(isinstance(x, dict) for x in states):
            raise damaged_run_file(pointer, "callbacks is not a list of mappings")
        root = os.path.realpath(self.backup_dir)
        directory = os.path.realpath(os.path.join(root, str(name)))
        if (
            not isinstance(name, str)
            or not _BACKUP_NAME.fullmatch(name)
            or os.path.dirname(directory) != root
        ):
            raise damaged_run_file(
                pointer,
                f"dir={name!r} is not a backup folder inside {root!r} "
                "(expected epoch-NNNNN)",
            )
        if not os.path.isdir(directory):
            raise damaged_run_file(
                pointer, f"its backup folder {directory!r} is missing"
            )
        return meta, directory

    def _load_model(self):
        pointer = os.path.join(self.backup_dir, _POINTER)
        if not os.path.isfile(pointer):
            return
        if not self.model.built:
            raise ValueError(
                f"Cannot restore the backup in {self.backup_dir!r}: the model "
                "is not built. Give it a keras.Input or build it before fit."
            )
        meta, directory = self._read_pointer(pointer)
        self._remove_stale(os.path.basename(directory))
        if self.model.optimizer is not None and not self.model.optimizer.built:
            # The optimizer's variables must exist before they are loaded.
            self.model.optimizer.build(self.model.trainable_variables)
        weights = os.path.join(directory, "model.weights.h5")
        try:
            self.model.load_weights(weights)
        except (ValueError, OSError, KeyError) as error:
            raise damaged_run_file(weights, error) from None
        states = meta["callbacks"]
        if len(states) != len(self.tracked):
            raise ValueError(
                f"The backup in {self.backup_dir!r} holds the state of "
                f"{len(states)} callbacks but {len(self.tracked)} are tracked "
                "now; resume with the same callbacks configuration."
            )
        for i, (callback, state) in enumerate(zip(self.tracked, states, strict=True)):
            allowed = _state_attrs(callback)
            unknown = sorted(set(state) - set(allowed))
            if unknown:  # never set other attributes from a file
                raise damaged_run_file(
                    pointer, f"callback {i} state has unknown keys {unknown}"
                )
            for name, value in state.items():
                setattr(callback, name, value)
            arrays = os.path.join(directory, f"callback{i}_best_weights.npz")
            if os.path.isfile(arrays):
                try:
                    with np.load(arrays, allow_pickle=False) as data:
                        callback.best_weights = [
                            data[f"w{k}"] for k in range(len(data.files))
                        ]
                except (ValueError, OSError, KeyError) as error:
                    raise damaged_run_file(arrays, error) from None
        _keras_compat.set_initial_epoch(self.model, meta["epoch"])
        self._current_epoch = meta["epoch"]
        self.restored_epoch = meta["epoch"]
        logger.info("Resumed from %s at epoch %d.", directory, meta["epoch"])

    def _save_model(self):
        epoch = self._current_epoch  # number of completed epochs
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch:05d}"
        # A folder of this name may be left by a run killed after this epoch;
        # publishing replaces it only once the new one is complete.
        with staged_folder(
            os.path.join(self.backup_dir, name), tag="staging"
        ) as staging:
            self.model.save_weights(os.path.join(staging, "model.weights.h5"))
            states = []
            for i, callback in enumerate(self.tracked):
                states.append(
                    {
                        a: _json_value(getattr(callback, a, None))
                        for a in _state_attrs(callback)
                    }
                )
                best = getattr(callback, "best_weights", None)
                if best is not None:
                    np.savez(
                        os.path.join(staging, f"callback{i}_best_weights.npz"),
                        **{f"w{k}": np.asarray(w) for k, w in enumerate(best)},
                    )
        write_json_atomic(
            os.path.join(self.backup_dir, _POINTER),
            {"epoch": epoch, "dir": name, "callbacks": states},
        )
        self._remove_stale(name)

    def _remove_stale(self, keep: str) -> None:
        """Deletes every backup but `keep`, and killed writes' temporaries."""
        remove_stale_files(self.backup_dir, [_POINTER])
        for entry in os.listdir(self.backup_dir):
            if entry != keep and (
                entry.startswith("epoch-") or entry.startswith(".epoch-")
            ):
                shutil.rmtree(os.path.join(self.backup_dir, entry), ignore_errors=True)


def _state_attrs(callback) -> tuple:
    for cls, attrs in _STATE_ATTRS:
        if isinstance(callback, cls):
            return attrs
    return ()


def _json_value(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return _scalar(value)  # json writes inf as Infinity, which json reads back
