"""`Trainer`: config-driven `model.fit` with a run directory.

`Trainer(config).fit(model, x, y, validation_data=...)` builds (if given a
spec), places (precision, distribution), compiles (unless already compiled)
and fits a Keras model, and keeps a run directory::

    run_dir/
      config.yaml    the resolved config (written atomically)
      best.keras     best model so far (callbacks.checkpoint)
      backup/        resumable state of the last finished epoch (deleted at
                     the end of a successful run)
      logs/          TensorBoard event files (callbacks.tensorboard)
      history.json   every epoch's logs including the learning rate, across
                     resumed runs
      history.csv    the same as CSV (callbacks.csv_log)
      curves.png     loss / metrics / learning rate per epoch, train vs val

The run directory must be new, empty or a kerasdl run folder (its
config.yaml starts with `RUN_HEADER`): a folder holding other files is
refused unless `overwrite: true`, and even then only the files above are
replaced. A resumed run reads only files inside it (`backup/latest.json`
may name only a backup folder inside backup/); a damaged run file gives a
ValueError naming it; temp files of writes killed with an earlier run are
removed.

Data are checked before fit (`check_data`, see
`kerasdl.training.datacheck`): NaN/inf in array x, y and sample weights
(named, with the first bad index), labels the loss cannot use and empty
data raise a ValueError; pipelines get a `NonFiniteGuard`.

Precedence (what comes from where):

- A model that is already compiled keeps its compile: its optimizer,
  loss, metrics, `jit_compile` and `steps_per_execution`; the config's values
  for those are not used (an INFO log says so). The config's callbacks,
  epochs, batch size, seed, precision, distribution and run directory
  apply. An uncompiled model (or a spec) is compiled from the config.
- `loss: null` picks the loss from the task the model declares
  (`register_model(..., task=...)`, recorded on the model by
  `kerasdl.build`; `kerasdl.registry.set_task` for any other model):
  "regression" and "forecasting" -> mean squared error (metric MAE);
  "classification", "tagging", "segmentation", "language_modeling",
  "masked_language_modeling" and "seq2seq" -> cross-entropy (metric
  accuracy): sparse categorical for integer labels, categorical for one-hot
  labels, binary for a single unit or a sigmoid output, with
  `from_logits=True` unless the head applies softmax/sigmoid; "features"
  (a model built with include_top=False) -> a ValueError asking for `loss`;
  "reconstruction" (autoencoders) and "generation" (VAE, GANs, diffusion)
  -> no loss and no metrics: these models compute their own loss (a GAN
  takes the config's optimizer for both players).
  A model without a declared task (built by hand, or loaded from a .keras
  file, which does not keep the task) gets the documented default for such
  models, read from its single output and the labels: softmax output ->
  sparse categorical cross-entropy for integer labels, categorical for
  one-hot labels; linear output with several units and integer labels ->
  the same with `from_logits=True`; sigmoid output -> binary cross-entropy
  (linear single unit with integer/bool labels: from logits); anything else
  -> mean squared error. `metrics: null` gives accuracy for classification
  and MAE otherwise.
- Fit arguments beat config values (`validation_split`, and any config
  field passed as a keyword to `fit`).

Precision and distribution are decided when a model is *built*, so
`Trainer.fit` also accepts a model name or spec (anything `kerasdl.build`
takes), builds it after seeding, and places it. A built Keras model whose
precision differs from `precision` (or any model when a distribution
strategy is set) is rebuilt from its config under the right dtype policy and
strategy with its weights copied (`kerasdl.training.precision.cast_model`);
the model that was trained is then `trainer.model` (and `history.model`),
not the object passed in. Subclassed models without a layer config cannot be
rebuilt and give a ValueError asking to build them under
`policy_scope`/the strategy scope.

Example:
>>> trainer = Trainer({"epochs": 5, "optimizer": {"name": "adam",
...                    "learning_rate": 1e-3}, "run_dir": "runs/mlp"})
>>> history = trainer.fit({"model": "mlp", "input_shape": [40],
...                        "num_classes": 10}, x, y, validation_split=0.1)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil

import keras
import numpy as np

from kerasdl import _backend, _keras_compat
from kerasdl._checks import closest
from kerasdl._io import read_yaml, remove_stale_files, write_text_atomic
from kerasdl.registry import get_task, set_task
from kerasdl.training.callbacks import (
    CSV_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    BestModelCheckpoint,
    LearningRateLogger,
    ResumableBackup,
    RunHistory,
    TerminateOnNaN,
    current_learning_rate,
    damaged_run_file,
    load_history,
    requested_callbacks,
)
from kerasdl.training.config import (
    TrainingConfig,
    _wrap_factory,
    load_config,
    split_optimizer_config,
)
from kerasdl.training.datacheck import (
    PARTS,
    NonFiniteGuard,
    check_finite,
    check_labels,
    check_not_empty,
)
from kerasdl.training.distribution import check_strategy, make_context
from kerasdl.training.losses import make_loss
from kerasdl.training.metrics import make_metrics
from kerasdl.training.optimizers import make_optimizer
from kerasdl.training.precision import cast_model, model_precision
from kerasdl.training.schedules import make_plateau_callback

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "best.keras"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
WORKERS_DIR = "workers"
_RUN_FILES = (CONFIG_FILE, CHECKPOINT_FILE, HISTORY_FILE, CSV_FILE, CURVES_FILE)
_RUN_DIRS = (BACKUP_DIR, LOGS_DIR)
# First line of the config.yaml the Trainer writes: a folder whose
# config.yaml starts with it is a kerasdl run folder, whose run files a new
# run may replace; any other non-empty folder may hold the user's files.
RUN_HEADER = "# kerasdl run folder: written by kerasdl.training.Trainer\n"
# Keras fit arguments that Trainer.fit passes through.
_FIT_KWARGS = (
    "class_weight",
    "sample_weight",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "validation_freq",
    "initial_epoch",
)
# Config fields that may change when an interrupted run is resumed.
_RESUME_MAY_CHANGE = ("epochs", "resume", "verbose", "overwrite", "check_data")


class Trainer:
    """Trains Keras models from a `TrainingConfig`.

    Creating the Trainer validates the config, checks the optimizer with its
    factory and sets up the distribution strategy (so create it early: a
    multi-worker strategy or extra CPU devices need a fresh runtime).

    Args:
        config: TrainingConfig, dict, str, os.PathLike or None. A config, a
            dict, a YAML string or a YAML/JSON file path (see
            `kerasdl.training.config`); None for the defaults.

    Attributes:
        config: TrainingConfig. The validated config.
        context: DistributionContext. The strategy in use.
        model: keras.Model or None. The model trained by the last `fit`.
        history: keras.callbacks.History or None. Returned by the last `fit`.
        run_dir: str or None. Run directory of the last `fit` (per worker).

    Raises:
        ValueError: for an invalid config (naming the dotted key), or a
            strategy the backend does not support.

    Example:
    >>> trainer = Trainer("epochs: 3\\nbatch_size: 16\\nseed: 0")
    >>> history = trainer.fit(model, x, y, validation_data=(x_val, y_val))
    """

    def __init__(self, config=None):
        self.config = load_config(config)
        if self.config.callbacks.tensorboard and not _has_module("tensorboard"):
            raise ValueError(
                "callbacks.tensorboard needs the tensorboard package "
                "(pip install tensorboard)."
            )
        check_strategy(self.config.distribution.strategy)
        if (
            self.config.distribution.strategy == "multi_worker"
            and self.config.seed is None
        ):
            raise ValueError(
                "distribution.strategy='multi_worker' needs `seed`: every worker "
                "must build the same initial weights and shuffle the data the "
                "same way (each takes its shard of that order); received seed=None."
            )
        self.context = make_context(self.config.distribution)
        _check_optimizer(self.config)
        _check_backend_options(self.config)
        self.model = None
        self.history = None
        self.run_dir = None

    def fit(
        self,
        model,
        x=None,
        y=None,
        validation_data=None,
        validation_split=None,
        **fit_overrides,
    ) -> keras.callbacks.History:
        """Builds/places/compiles `model` as configured and trains it.

        Args:
            model: keras.Model, str, dict or os.PathLike. A Keras model, or a
                registered model name / spec / spec file for
                `kerasdl.build` (built after seeding, under the configured
                precision and strategy).
            x: Input data: arrays (batched by `batch_size`), or a
                tf.data.Dataset, `keras.utils.PyDataset` or generator
                yielding (x, y) batches.
            y: Targets for array `x`, else None.
            validation_data: tuple (x_val, y_val) or dataset, or None.
            validation_split: float or None. Overrides the config's value.
            **fit_overrides: Config fields to override for this call
                (e.g. `epochs=3`); `callbacks=[...]` (a list of Keras
                callbacks) to add callbacks of your own; and the Keras fit
                arguments class_weight, sample_weight, steps_per_epoch,
                validation_steps, validation_batch_size, validation_freq,
                initial_epoch.

        Returns:
            keras.callbacks.History: this call's epochs (a resumed run
            holds the resumed epochs only; history.json holds all).
            `history.model` is the trained model. With `precision` or
            `distribution` set, a rebuilt copy is trained and its weights
            are then copied into the `model` you passed (compiled like the
            copy if it was not compiled), so your object is the trained one.

        Raises:
            ValueError: for an unknown override, an unbuildable model, a
                completed run with `resume: true`, or a resumed run whose
                config changed; for empty data, NaN/inf in array x, y or
                sample_weight, labels the loss cannot use (unless
                `check_data: false`), and, during fit, a pipeline whose
                NaN/inf made the epoch's loss non-finite; for a run_dir
                holding files kerasdl did not write (unless `overwrite:
                true`) and a damaged run file (naming it).

        Example:
        >>> history = Trainer({"epochs": 2}).fit(model, x, y)
        >>> len(history.epoch)
        2
        """
        config, extra_callbacks, fit_kwargs = self._split_overrides(fit_overrides)
        if validation_split is None:
            validation_split = config.validation_split
        elif validation_split != config.validation_split:
            config = config.replace(validation_split=validation_split)
        has_validation = validation_data is not None or validation_split > 0
        arrays = _is_arrays(x)
        if config.seed is not None:
            keras.utils.set_random_seed(config.seed)

        given = model
        model, compile_from = self._place_model(model, config, x if arrays else None)
        plateau_lr_callbacks = []
        if not model.compiled:
            with self.context.scope():
                if compile_from is not None:
                    model.compile_from_config(compile_from)
                else:
                    config, plateau_lr_callbacks = self._compile(
                        model, config, x, y, has_validation
                    )
        else:
            logger.info(
                "Model %r is already compiled: keeping its optimizer, loss, "
                "metrics, jit_compile and steps_per_execution; the config's "
                "values for them are not used.",
                model.name,
            )
        self.context.prepare_model(model)
        guard = _check_data(
            model, config, x, y, arrays, validation_data, fit_kwargs, has_validation
        )

        root = self._prepare_run_dir(config)
        callbacks = self._callbacks(
            config, model, has_validation, root, extra_callbacks, plateau_lr_callbacks
        )
        if guard is not None:
            # First: an epoch whose loss is NaN must raise before any callback
            # records it or saves its weights.
            callbacks.insert(0, guard)
        if root is not None:
            # The header marks the folder as a kerasdl run (see _owns_run_dir).
            write_text_atomic(
                os.path.join(root, CONFIG_FILE), RUN_HEADER + config.to_yaml()
            )

        fit_args = {
            "x": x,
            "y": y,
            "batch_size": config.batch_size if arrays else None,
            "epochs": config.epochs,
            "verbose": config.verbose,
            "callbacks": callbacks,
            "validation_data": validation_data,
            "shuffle": config.shuffle,
            **fit_kwargs,
        }
        if validation_split:
            fit_args["validation_split"] = validation_split
        try:
            with self.context.fit_scope():
                history = model.fit(**fit_args)
        finally:
            # BackupAndRestore leaves the restored epoch on the model, which
            # would make the user's next model.fit start there too.
            _keras_compat.reset_initial_epoch(model)
        if isinstance(given, keras.Model) and given is not model:
            _copy_back(model, given)
        self.model = model
        self.history = history
        self.run_dir = root
        return history

    # ------------------------------------------------------------- steps
    def _split_overrides(self, overrides: dict):
        fields = list(TrainingConfig.__dataclass_fields__)
        config_changes, extra, fit_kwargs = {}, [], {}
        for key, value in overrides.items():
            if key == "callbacks" and isinstance(value, (list, tuple)):
                extra = list(value)
                bad = [c for c in extra if not isinstance(c, keras.callbacks.Callback)]
                if bad:
                    raise ValueError(
                        "fit(callbacks=...) takes keras.callbacks.Callback "
                        f"instances; received {bad!r}."
                    )
            elif key in fields:
                config_changes[key] = value
            elif key in _FIT_KWARGS:
                fit_kwargs[key] = value
            else:
                accepted = sorted([*fields, *_FIT_KWARGS])
                raise ValueError(
                    f"Unknown argument {key!r} to Trainer.fit.{closest(key, accepted)} "
                    f"Accepted: config fields and Keras fit arguments: "
                    f"{', '.join(accepted)}."
                )
        config = (
            self.config.replace(**config_changes) if config_changes else self.config
        )
        if config.distribution != self.config.distribution:
            raise ValueError(
                "The distribution cannot be overridden in Trainer.fit: the "
                "strategy is created with the Trainer; make a new Trainer."
            )
        if config_changes:
            _check_optimizer(config)
            _check_backend_options(config)
        return config, extra, fit_kwargs

    def _place_model(self, model, config: TrainingConfig, x):
        """Returns (model ready to compile or compiled, compile config or None)."""
        if not isinstance(model, keras.Model):
            from kerasdl.spec import build

            model = build(model)
        if not model.built:
            if x is None or len(keras.tree.flatten(x)) != 1:
                raise ValueError(
                    f"Model {model.name!r} is not built and cannot be built "
                    "from the data; give it a keras.Input or call "
                    "model.build(input_shape) before Trainer.fit."
                )
            model.build((None, *np.shape(keras.tree.flatten(x)[0])[1:]))
        if config.precision is None and not self.context.distributed:
            return model, None  # nothing to change: train it as it is
        current = model_precision(model)
        target = config.precision or current
        if target is None:
            raise ValueError(
                f"Model {model.name!r} mixes dtype policies across its layers "
                "(or has non-float32 outputs) and cannot be placed as it is; "
                "set `precision` in the config to rebuild it uniformly."
            )
        if target == current and not self.context.distributed:
            return model, None
        compile_from = model.get_compile_config() if model.compiled else None
        task = get_task(model)
        with self.context.scope():
            model = cast_model(model, target)
        if task is not None:  # the rebuilt model is still the same task
            set_task(model, task)
        return model, compile_from

    def _compile(self, model, config: TrainingConfig, x, y, has_validation):
        optimizer_config, plateau = split_optimizer_config(config.optimizer)
        optimizer = make_optimizer(optimizer_config)
        labels = _peek_labels(x, y)
        task = _describe_task(model, labels, config.loss)
        loss_config = config.loss if config.loss is not None else task["loss"]
        # None: the model computes its own loss (autoencoders, VAE, GANs).
        loss = None if loss_config is None else make_loss(loss_config)
        if config.loss is None:
            logger.info(
                "Loss chosen for task %r of model %r: %s",
                get_task(model),
                model.name,
                loss_config,
            )
        metric_names = config.metrics if config.metrics is not None else task["metrics"]
        metrics = _wrap_factory(
            "metrics",
            {},
            lambda: make_metrics(
                metric_names, num_classes=task["num_classes"], sparse=task["sparse"]
            ),
        )
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
        callbacks = []
        if plateau is not None:
            plateau = {
                **plateau,
                "monitor": _resolve_monitor(
                    plateau.get("monitor", "auto"), has_validation
                ),
            }
            callbacks.append(make_plateau_callback(plateau))
        # Record what was chosen, so config.yaml reproduces this run.
        resolved = config.replace(loss=loss_config, metrics=list(metric_names))
        return resolved, callbacks

    def _prepare_run_dir(self, config: TrainingConfig) -> str | None:
        if config.run_dir is None:
            return None
        root = os.path.abspath(config.run_dir)
        if not self.context.is_chief:
            # Non-chief workers keep their own files; the chief's are the run's.
            root = os.path.join(
                root, WORKERS_DIR, f"worker-{self.context.worker_index}"
            )
        os.makedirs(root, exist_ok=True)
        # Temp files of atomic writes killed with a previous run.
        remove_stale_files(root, _RUN_FILES)
        _check_may_write(root, config.overwrite)
        has_backup = os.path.isfile(os.path.join(root, BACKUP_DIR, "latest.json"))
        if config.resume and has_backup:
            _check_same_config(root, config)
            logger.info("Resuming the run in %s.", root)
            return root
        if config.resume:
            history = os.path.join(root, HISTORY_FILE)
            if os.path.isfile(history) and _read_run_file(
                history, lambda: load_history(root)
            ).get("completed"):
                raise ValueError(
                    f"resume=true but the run in {root!r} already completed "
                    "(history.json says so and there is no backup to resume "
                    "from). Use a new run_dir, or resume=false to train it "
                    "again from scratch (its files are replaced)."
                )
            logger.info("No backup in %s: starting the run from scratch.", root)
        # Only kerasdl's own run files go; anything else in the folder stays.
        for name in _RUN_FILES:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                os.remove(path)
        for name in _RUN_DIRS:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        return root

    def _callbacks(self, config, model, has_validation, root, extra, plateau_callbacks):
        cfg = config.callbacks
        callbacks: list[keras.callbacks.Callback] = [LearningRateLogger(), *extra]
        # Layers ask for what they need (e.g. pruning: UpdatePruningStep).
        callbacks.extend(requested_callbacks(model, callbacks))
        if cfg.terminate_on_nan:
            callbacks.append(TerminateOnNaN())
        callbacks.extend(plateau_callbacks)
        if cfg.reduce_on_plateau is not None:
            rop = dict(cfg.reduce_on_plateau)
            rop["monitor"] = _resolve_monitor(rop["monitor"], has_validation)
            lr = current_learning_rate(model.optimizer)
            callbacks.append(
                make_plateau_callback(
                    {"name": "reduce_on_plateau", "learning_rate": float(lr), **rop}
                )
            )
        if cfg.early_stopping is not None:
            es = dict(cfg.early_stopping)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=_resolve_monitor(es.pop("monitor"), has_validation), **es
                )
            )
        if root is not None:
            checkpoint = cfg.checkpoint
            if checkpoint is None:  # on by default with a run directory
                checkpoint = {"monitor": "auto", "mode": "auto", "save_best_only": True}
            if checkpoint:
                callbacks.append(
                    BestModelCheckpoint(
                        os.path.join(root, CHECKPOINT_FILE),
                        monitor=_resolve_monitor(checkpoint["monitor"], has_validation),
                        mode=checkpoint["mode"],
                        save_best_only=checkpoint["save_best_only"],
                    )
                )
            plot = cfg.plot
            if plot is None:
                plot = _has_matplotlib()
                if not plot:
                    logger.info("matplotlib is not installed: no %s.", CURVES_FILE)
            elif plot and not _has_matplotlib():
                raise ValueError(
                    "callbacks.plot=true needs matplotlib (pip install matplotlib)."
                )
            callbacks.append(
                RunHistory(
                    root,
                    csv_log=cfg.csv_log is not False,
                    plot=plot,
                    resume=config.resume,
                )
            )
            if cfg.tensorboard:
                callbacks.append(
                    keras.callbacks.TensorBoard(
                        log_dir=os.path.join(root, LOGS_DIR), **cfg.tensorboard
                    )
                )
            tracked = [c for c in callbacks if c not in extra]
            callbacks.append(ResumableBackup(os.path.join(root, BACKUP_DIR), tracked))
        return callbacks


# ----------------------------------------------------------------- helpers
def _check_data(model, config, x, y, arrays, validation_data, fit_kwargs, validates):
    """Checks the data before fit; returns a NaN guard for pipelines, or None.

    Empty data is always an error. With `check_data` (the default), array
    data are checked for NaN/inf (x, y, sample_weight and array validation
    data) and the labels against the compiled loss (all of them for arrays,
    the first batch of a pipeline).
    """
    check_not_empty(x, arrays)
    if not config.check_data:
        return None
    if arrays:
        check_finite({"x": x, "y": y, "sample_weight": fit_kwargs.get("sample_weight")})
        check_labels(model, y)
    else:
        check_labels(model, _peek_labels(x, y), where="y of the first batch")
    if (
        validates
        and isinstance(validation_data, (tuple, list))
        and _is_arrays(validation_data)
    ):
        check_finite(dict(zip(PARTS, validation_data, strict=False)), "Validation data")
    return None if arrays else NonFiniteGuard(x)


def _check_optimizer(config: TrainingConfig) -> None:
    """Builds the optimizer once so a bad argument fails before training."""
    optimizer_config, _ = split_optimizer_config(config.optimizer)
    _wrap_factory(
        "optimizer", optimizer_config, lambda: make_optimizer(optimizer_config)
    )


def _check_backend_options(config: TrainingConfig) -> None:
    _backend.check_steps_per_execution(config.steps_per_execution)


def _resolve_monitor(monitor: str, has_validation: bool) -> str:
    if monitor == "auto":
        return "val_loss" if has_validation else "loss"
    return monitor


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _has_matplotlib() -> bool:
    return _has_module("matplotlib")


def _is_arrays(x) -> bool:
    """True for arrays/tensors (or nests of them) that fit batches itself."""
    if x is None:
        return False
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        isinstance(leaf, np.ndarray) or keras.ops.is_tensor(leaf) for leaf in leaves
    )


def _peek_labels(x, y):
    """A few labels as a NumPy array, or None when they cannot be seen."""
    labels = y
    if labels is None and x is not None and not _is_arrays(x):
        try:
            if isinstance(x, keras.utils.PyDataset):
                element = x[0]
            elif hasattr(x, "take") and hasattr(x, "element_spec"):  # tf.data
                element = next(iter(x.take(1)))
            else:
                return None  # generators cannot be peeked without consuming
        except Exception:  # a dataset that cannot be peeked: decide without labels
            return None
        if isinstance(element, (tuple, list)) and len(element) >= 2:
            labels = element[1]
    if labels is None:
        return None
    leaves = keras.tree.flatten(labels)
    if len(leaves) != 1:
        return None
    return np.asarray(keras.ops.convert_to_numpy(leaves[0][:256]))


def _output_activation(model) -> str | None:
    from kerasdl.training.precision import _output_layers

    layers = _output_layers(model)
    if len(layers) != 1:
        return None
    layer = layers[0]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", str(activation))


def _describe_task(model, labels, loss_config) -> dict:
    """Default loss, metrics, num_classes and label form for the model."""
    outputs = keras.tree.flatten(model.outputs)
    if len(outputs) != 1:
        if loss_config is None:
            raise ValueError(
                f"Model {model.name!r} has {len(outputs)} outputs: set `loss` "
                "(and `metrics`) in the config explicitly."
            )
        return {"loss": None, "metrics": [], "num_classes": None, "sparse": True}
    units = outputs[0].shape[-1]
    activation = _output_activation(model)
    integer_labels = labels is not None and (
        np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool
    )
    sparse_shape = labels is not None and (
        labels.ndim == len(outputs[0].shape) - 1
        or (labels.shape[-1:] == (1,) and units != 1)
    )
    sparse = labels is None or integer_labels or sparse_shape
    if loss_config is not None:  # metrics still need the label form
        name = loss_config if isinstance(loss_config, str) else loss_config["name"]
        name = name.lower()
        classification = "crossentropy" in name or "focal" in name
        binary = name.startswith("binary")
        return {
            "loss": loss_config,
            "metrics": ["accuracy"] if classification else ["mae"],
            "num_classes": 1 if binary else (units if classification else None),
            "sparse": sparse and not name.startswith("categorical"),
        }
    task = get_task(model)
    if task is not None:
        return _task_defaults(model, task, units, activation, sparse)
    # No declared task (a model built by hand, or loaded from a .keras file):
    # the documented default for such models reads the single output and
    # the labels.
    logger.info(
        "Model %r declares no task (kerasdl.registry.set_task): the default "
        "loss follows its output activation and the labels.",
        model.name,
    )
    if activation == "softmax" and units and units > 1:
        name = (
            "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
        )
        loss = {"name": name, "from_logits": False}
    elif (
        activation == "linear" and units and units > 1 and labels is not None and sparse
    ):
        loss = {"name": "sparse_categorical_crossentropy", "from_logits": True}
    elif activation == "sigmoid":
        loss = {"name": "binary_crossentropy", "from_logits": False}
    elif activation == "linear" and units == 1 and integer_labels:
        loss = {"name": "binary_crossentropy", "from_logits": True}
    else:
        return {"loss": "mse", "metrics": ["mae"], "num_classes": None, "sparse": True}
    num_classes = 1 if loss["name"] == "binary_crossentropy" else units
    return {
        "loss": loss,
        "metrics": ["accuracy"],
        "num_classes": num_classes,
        "sparse": sparse,
    }


# Tasks whose default loss is mean squared error (metric: MAE); every other
# predicting task classifies something (an image, a step, a pixel, a token).
_REGRESSION_TASKS = ("regression", "forecasting")
# Tasks whose models compute their own loss (an autoencoder's reconstruction
# of its input, a VAE's negative ELBO, a GAN's adversarial losses, a
# diffusion model's denoising loss): compiled with loss=None, no metrics.
_OWN_LOSS_TASKS = ("reconstruction", "generation")


def _task_defaults(model, task: str, units, activation, sparse: bool) -> dict:
    """Default loss and metrics of a model that declares its `task`.

    The task decides the kind of loss; the head's output activation only
    says whether the model outputs probabilities or logits (`from_logits`),
    and the labels whether they are class ids or one-hot.
    """
    if task in _REGRESSION_TASKS:
        return {"loss": "mse", "metrics": ["mae"], "num_classes": None, "sparse": True}
    if task in _OWN_LOSS_TASKS:
        return {"loss": None, "metrics": [], "num_classes": None, "sparse": True}
    if task == "features":
        raise ValueError(
            f"Model {model.name!r} outputs features (task 'features', e.g. built "
            "with include_top=False): set `loss` (and `metrics`) in the config "
            "explicitly."
        )
    if units == 1 or activation == "sigmoid":  # binary or multi-label
        loss = {"name": "binary_crossentropy", "from_logits": activation != "sigmoid"}
        num_classes = 1
    else:
        name = "sparse_" if sparse else ""
        loss = {
            "name": f"{name}categorical_crossentropy",
            "from_logits": activation != "softmax",
        }
        num_classes = units
    return {
        "loss": loss,
        "metrics": ["accuracy"],
        "num_classes": num_classes,
        "sparse": sparse,
    }


def _owns_run_dir(root: str) -> bool:
    """True when `root` is a kerasdl run folder (its config.yaml's header)."""
    path = os.path.join(root, CONFIG_FILE)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(len(RUN_HEADER)) == RUN_HEADER.encode()


def _check_may_write(root: str, overwrite: bool) -> None:
    """Refuses a run folder that holds files kerasdl did not write.

    An empty folder and a kerasdl run folder are accepted; the "workers"
    folder of a distributed run's other workers does not count (they may
    create it before the chief writes config.yaml).
    """
    if overwrite or _owns_run_dir(root):
        return
    foreign = sorted(e for e in os.listdir(root) if e != WORKERS_DIR)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ValueError(
            f"run_dir {root!r} is not empty and is not a kerasdl run folder "
            f"(its config.yaml was not written by kerasdl): it holds {shown}. "
            "kerasdl never deletes or replaces files it did not write: use a "
            "new or empty folder, or set overwrite: true to use this one "
            f"(then its {', '.join(_RUN_FILES)}, {BACKUP_DIR}/ and {LOGS_DIR}/ "
            "are replaced and every other file is kept)."
        )


def _read_run_file(path: str, read):
    """`read()`, with a damaged run file's error naming it and the way out."""
    try:
        return read()
    except (ValueError, TypeError, KeyError, OSError) as error:
        raise damaged_run_file(path, error) from None


def _check_same_config(root: str, config: TrainingConfig) -> None:
    path = os.path.join(root, CONFIG_FILE)
    if not os.path.isfile(path):
        return
    saved = _read_run_file(path, lambda: read_yaml(path)) or {}
    if not isinstance(saved, dict):
        raise damaged_run_file(path, f"it holds a {type(saved).__name__}")
    current = config.to_dict()
    changed = sorted(
        key
        for key in set(saved) | set(current)
        if key not in _RESUME_MAY_CHANGE and saved.get(key) != current.get(key)
    )
    if changed:
        details = "; ".join(
            f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed
        )
        raise ValueError(
            f"Cannot resume the run in {root!r} with a different config ({details}). "
            f"Only {', '.join(_RESUME_MAY_CHANGE)} may change; use a new run_dir "
            "or resume=false to start over."
        )


def _copy_back(trained: keras.Model, given: keras.Model) -> None:
    """Makes the user's model the trained one after training a placed copy.

    `precision` and `distribution` train a rebuilt copy of the model (a new
    dtype policy, variables created under the strategy). Its weights (float32
    variables under mixed precision too) are copied into the model the user
    passed, which is compiled like the copy when it was not compiled, so
    `given.evaluate` and `given.predict` work on the trained weights.
    """
    given.set_weights(trained.get_weights())
    if not given.compiled:
        given.compile_from_config(trained.get_compile_config())
    logger.info(
        "Trained a %s copy of model %r; its weights were copied back into the "
        "model you passed (Trainer.model and history.model are the copy).",
        model_precision(trained) or "rebuilt",
        given.name,
    )
