"""The training config: one validated dataclass for everything `Trainer` does.

A config is written as a dict, a YAML string or a YAML/JSON file, or built
directly as a `TrainingConfig`. Every key is checked before anything runs; a
wrong key or value fails with its dotted path, the value received and what is
accepted, e.g. ``Unknown key 'optimizer.momentm'. Did you mean 'momentum'?``.

Example YAML::

    seed: 0
    epochs: 30
    batch_size: 64
    optimizer:
      name: sgd
      momentum: 0.9
      learning_rate: {name: cosine, learning_rate: 0.1, decay_steps: 3000}
    precision: mixed_bfloat16
    callbacks:
      early_stopping: {patience: 5}
    run_dir: runs/lenet5
    resume: true

Validation here is pure Python: it never touches the Keras backend, so a
config can be loaded before TensorFlow or JAX is initialized (which
distribution over several CPU devices requires). Optimizer arguments are
checked against the Keras optimizer's signature here and built by
`kerasdl.training.optimizers.make_optimizer` in `Trainer`; metric names are
checked here and built with `num_classes` known, by `make_metrics`, in
`Trainer`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from typing import Any

import keras
import yaml

from kerasdl._checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    closest,
    invalid,
    is_int,
    short_repr,
)
from kerasdl._io import (
    check_tree,
    is_config_path,
    load_yaml,
    to_plain,
    write_text_atomic,
)
from kerasdl.training.losses import make_loss
from kerasdl.training.metrics import METRIC_NAMES
from kerasdl.training.optimizers import OPTIMIZER_NAMES, check_optimizer
from kerasdl.training.schedules import (
    PLATEAU_KEYS,
    is_callback_schedule,
    make_plateau_callback,
    make_schedule,
)

__all__ = [
    "PRECISIONS",
    "STRATEGIES",
    "CallbacksConfig",
    "DistributionConfig",
    "TrainingConfig",
    "load_config",
    "save_config",
]

#: Accepted values of `TrainingConfig.precision` (None keeps the model's own).
PRECISIONS: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16")

#: Accepted values of `DistributionConfig.strategy`.
STRATEGIES: tuple[str, ...] = (
    "none",
    "mirrored",
    "multi_worker",
    "data_parallel",
    "model_parallel",
)

# Keys of each callback's dict form, with defaults. "auto" monitors resolve
# at fit time: "val_loss" when there is validation data, else "loss".
_EARLY_STOPPING = {
    "monitor": "auto",
    "patience": 5,
    "min_delta": 0.0,
    "mode": "auto",
    "restore_best_weights": True,
    "start_from_epoch": 0,
    "baseline": None,
}
_CHECKPOINT = {"monitor": "auto", "mode": "auto", "save_best_only": True}
_TENSORBOARD = {
    "histogram_freq": 0,
    "update_freq": "epoch",
    "write_graph": False,
    "profile_batch": 0,
}
# The plateau schedule's arguments, but the monitor follows the run's
# validation ("auto") and the Trainer sets verbosity itself.
_REDUCE_ON_PLATEAU = {
    **{k: v for k, v in PLATEAU_KEYS.items() if k != "verbose"},
    "monitor": "auto",
}
_MODES = ("auto", "min", "max")


# ----------------------------------------------------------------- sections
@dataclasses.dataclass
class CallbacksConfig:
    """Callbacks that `Trainer` adds; the file-writing ones need `run_dir`.

    A callback given as `true` gets its defaults, `false`/`null` turns it
    off, a dict overrides some defaults. Monitors default to "auto":
    "val_loss" when there is validation data, else "loss".
    """

    # Stop when `monitor` stops improving. Keys: monitor, patience=5,
    # min_delta=0, mode, restore_best_weights=true, start_from_epoch=0,
    # baseline. Off by default.
    early_stopping: dict | bool | None = None
    # Save the best model to run_dir/best.keras (atomically). Keys: monitor,
    # mode, save_best_only=true. None: on exactly when run_dir is set.
    checkpoint: dict | bool | None = None
    # TensorBoard event files in run_dir/logs. Keys: histogram_freq,
    # update_freq, write_graph, profile_batch. Needs TensorFlow installed.
    tensorboard: dict | bool = False
    # run_dir/history.csv, rewritten atomically every epoch. None: on
    # exactly when run_dir is set.
    csv_log: bool | None = None
    # run_dir/curves.png (loss, metrics, learning rate per epoch, train vs
    # val), needs matplotlib. None: on when run_dir is set and matplotlib is
    # installed.
    plot: bool | None = None
    # Stop at the first NaN or infinite loss.
    terminate_on_nan: bool = True
    # Divide the learning rate by 1/factor when `monitor` plateaus
    # (keras.callbacks.ReduceLROnPlateau). Keys: monitor, factor=0.1,
    # patience=10, mode, min_delta=1e-4, cooldown=0, min_lr=0. Needs a
    # float learning rate. Same as optimizer.learning_rate =
    # {name: reduce_on_plateau, ...}; give one of the two.
    reduce_on_plateau: dict | bool | None = None

    def __post_init__(self):
        _validate_callbacks(self, "callbacks")


@dataclasses.dataclass
class DistributionConfig:
    """How training is spread over devices or machines.

    Strategies per backend: TensorFlow "mirrored" (one machine, several
    devices) and "multi_worker" (several processes, configured by the
    TF_CONFIG environment variable); JAX "data_parallel" and
    "model_parallel" (`keras.distribution`). "none" works everywhere.
    """

    # none | mirrored | multi_worker | data_parallel | model_parallel.
    strategy: str = "none"
    # int: number of devices (GPUs if there are enough, else CPU devices,
    # created when the runtime is still uninitialized); list: device names
    # ("gpu:0", "cpu:1", ...); None: every visible device.
    devices: int | list[str] | None = None
    # model_parallel: shape of the device mesh, e.g. [2, 2].
    mesh_shape: list[int] | None = None
    # model_parallel: names of the mesh axes; default ["batch", "model"].
    axis_names: list[str] | None = None
    # model_parallel: {regex fully matching a variable path: [axis or null per
    # dimension]}, e.g. {".*dense.*kernel": [null, "model"]}.
    layout_map: dict[str, list] | None = None
    # model_parallel: mesh axis the batch is split over; default axis_names[0].
    batch_dim_name: str | None = None

    def __post_init__(self):
        _validate_distribution(self, "distribution")


@dataclasses.dataclass
class TrainingConfig:
    """Everything `kerasdl.training.Trainer` needs besides the model and data.

    Build it with keywords, or from a dict/YAML with `load_config`; invalid
    values raise ValueError naming the dotted key.

    Example:
    >>> config = TrainingConfig(epochs=5, optimizer={"name": "sgd",
    ...                         "learning_rate": 0.1, "momentum": 0.9})
    >>> config.to_dict()["optimizer"]["momentum"]
    0.9
    """

    # Seeds Python, NumPy and the backend before the model is built (and
    # before training). None leaves the random state alone.
    seed: int | None = None
    # Total number of epochs (a resumed run continues up to this number).
    epochs: int = 10
    # Global batch size (split across replicas when distributed); ignored
    # (None) when x is a dataset or generator that yields batches.
    batch_size: int | None = 32
    # Fraction of (array) training data held out for validation; the fit
    # argument of the same name wins.
    validation_split: float = 0.0
    # Shuffle array training data every epoch.
    shuffle: bool = True
    # Optimizer name, or {name, learning_rate (float or schedule dict),
    # weight_decay, clipnorm | clipvalue | global_clipnorm,
    # gradient_accumulation_steps, use_ema, ... the Keras optimizer's
    # arguments}. Built by kerasdl.training.optimizers.make_optimizer.
    optimizer: str | dict = "adam"
    # Loss name or {name, ...} (kerasdl.training.losses.make_loss). None:
    # chosen from the model's output and the labels (see Trainer).
    loss: str | dict | None = None
    # Metric names or {name, ...} dicts (make_metrics). None: ["accuracy"]
    # for classification losses, ["mae"] otherwise.
    metrics: list | None = None
    # float32 | mixed_float16 | mixed_bfloat16. None keeps the model's own
    # dtype policy. Mixed precision keeps the output layers in float32.
    precision: str | None = None
    # XLA compilation of the train step: true, false or "auto" (Keras').
    jit_compile: bool | str = "auto"
    # Train steps run per call of the compiled function.
    steps_per_execution: int = 1
    # Callbacks added by the Trainer (see CallbacksConfig).
    callbacks: CallbacksConfig = dataclasses.field(default_factory=CallbacksConfig)
    # Directory of the run: config.yaml, best.keras, backup/, logs/,
    # history.json, history.csv, curves.png. None writes nothing.
    run_dir: str | None = None
    # Continue an interrupted run found in run_dir (false: start over and
    # replace its files).
    resume: bool = False
    # Let run_dir be a folder holding files that kerasdl did not write (its
    # own run files there, config.yaml, logs/, backup/, ..., are replaced;
    # other files are kept). False refuses such a folder.
    overwrite: bool = False
    # Check the data before fit (NaN/inf in array x, y and sample weights;
    # labels against the loss) and guard pipelines against NaN/inf.
    check_data: bool = True
    # Devices and strategy (see DistributionConfig).
    distribution: DistributionConfig = dataclasses.field(
        default_factory=DistributionConfig
    )
    # Keras progress output: "auto", 0 (silent), 1 (bar) or 2 (one line
    # per epoch).
    verbose: int | str = "auto"

    def __post_init__(self):
        if isinstance(self.callbacks, dict):
            self.callbacks = _from_dict(CallbacksConfig, self.callbacks, "callbacks")
        elif not isinstance(self.callbacks, CallbacksConfig):
            _fail("callbacks", self.callbacks, "a mapping of callback settings")
        if isinstance(self.distribution, dict):
            self.distribution = _from_dict(
                DistributionConfig, self.distribution, "distribution"
            )
        elif not isinstance(self.distribution, DistributionConfig):
            _fail("distribution", self.distribution, "a mapping")
        _validate_training(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        """Builds and validates a config from a (nested) dict.

        Args:
            data: dict. Keys are the field names; nested sections are dicts.

        Returns:
            TrainingConfig.

        Raises:
            ValueError: naming the dotted key of an unknown key or bad value.

        Example:
        >>> TrainingConfig.from_dict({"epochs": 3, "callbacks": {"csv_log": True}})
        """
        return _from_dict(cls, data, "")

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as plain nested dicts/lists (YAML/JSON ready)."""
        return to_plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        """Returns the config as YAML text, in field order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, **changes) -> TrainingConfig:
        """Returns a validated copy with some top-level fields replaced.

        Args:
            **changes: Field values; sections may be given as dicts.

        Returns:
            TrainingConfig.

        Raises:
            ValueError: for an unknown field or an invalid value.

        Example:
        >>> TrainingConfig().replace(epochs=2).epochs
        2
        """
        return TrainingConfig.from_dict({**self.to_dict(), **to_plain(changes)})


# ----------------------------------------------------------------- loading
def load_config(source=None) -> TrainingConfig:
    """Reads and validates a training config.

    Args:
        source: TrainingConfig, dict, str or os.PathLike or None. A YAML
            string, a path of a .yaml/.yml/.json file, a dict, a config
            (returned as a validated copy), or None for the defaults.

    Returns:
        TrainingConfig.

    Raises:
        ValueError: for a missing file, unparsable YAML, a non-mapping
            document, or any invalid key or value (named by dotted path).

    Example:
    >>> config = load_config("epochs: 3\\noptimizer: {name: sgd, momentum: 0.9}")
    >>> config.optimizer["momentum"]
    0.9
    """
    if source is None:
        return TrainingConfig()
    if isinstance(source, TrainingConfig):
        return TrainingConfig.from_dict(source.to_dict())
    if isinstance(source, dict):
        check_tree(source, "the training config")
        return TrainingConfig.from_dict(source)
    if is_config_path(source) or isinstance(source, str):
        where = os.fspath(source) if is_config_path(source) else "the config string"
        data = load_yaml(source, "Training config file", text_where=where)
    else:
        raise ValueError(
            "A training config must be a TrainingConfig, a dict, a YAML string "
            f"or a file path; received {type(source).__name__}: "
            f"{short_repr(source)}."
        )
    data = check_mapping(f"A training config ({where})", data, none_is_empty=True)
    return TrainingConfig.from_dict(data)


def save_config(config: TrainingConfig, path) -> None:
    """Writes a config as YAML, atomically (a temp file then os.replace).

    Args:
        config: TrainingConfig. The config to write.
        path: str or os.PathLike. Target file; its directory must exist.

    Example:
    >>> save_config(TrainingConfig(epochs=3), "runs/a/config.yaml")
    """
    write_text_atomic(path, config.to_yaml())


# ----------------------------------------------------------------- helpers
# Errors read "Invalid training config value training.epochs=0: expected ..."
# and spell literals as the YAML file does (true, false, null).
_WHERE = "training config value"
_CONFIG = {"where": _WHERE, "yaml": True}


def _fail(path: str, value, accepted: str, hint: str = ""):
    raise invalid(path, value, accepted, hint=hint, where=_WHERE)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _check_keys(data: dict, accepted, prefix: str) -> None:
    if not isinstance(data, dict):
        _fail(prefix or "config", data, "a mapping")
    accepted = list(accepted)
    for key in data:
        if key not in accepted:
            where = f"of '{prefix}'" if prefix else "at the top level"
            raise ValueError(
                f"Unknown training config key {_join(prefix, str(key))!r}."
                f"{closest(str(key), accepted)} Accepted keys {where}: "
                f"{', '.join(accepted)}."
            )


def _from_dict(cls, data, prefix: str):
    _check_keys(data, [f.name for f in dataclasses.fields(cls)], prefix)
    data = dict(data)
    if cls is TrainingConfig:
        for key, section in (
            ("callbacks", CallbacksConfig),
            ("distribution", DistributionConfig),
        ):
            if key in data:
                value = {} if data[key] is None else data[key]
                data[key] = _from_dict(section, value, key)
    return cls(**data)


def _check_monitor(path, value):
    if not isinstance(value, str) or not value:
        _fail(path, value, "a metric name such as 'val_loss', or 'auto'")
    return value


def _callback_dict(path, value, defaults, on_by_default_value=None):
    """bool/None/dict -> None (off) or a full dict of settings."""
    if value is None or value is False:
        return on_by_default_value
    if value is True:
        return dict(defaults)
    if not isinstance(value, dict):
        _fail(path, value, "true, false, null or a mapping of settings")
    _check_keys(value, defaults, path)
    return {**defaults, **value}


def _validate_callbacks(cfg: CallbacksConfig, prefix: str) -> None:
    path = f"{prefix}.early_stopping"
    es = _callback_dict(path, cfg.early_stopping, _EARLY_STOPPING)
    if es is not None:
        _check_monitor(f"{path}.monitor", es["monitor"])
        es["patience"] = check_int(f"{path}.patience", es["patience"], 0, **_CONFIG)
        es["min_delta"] = check_float(
            f"{path}.min_delta", es["min_delta"], 0.0, max_inclusive=False, **_CONFIG
        )
        check_choice(f"{path}.mode", es["mode"], _MODES, where=_WHERE)
        check_bool(
            f"{path}.restore_best_weights", es["restore_best_weights"], **_CONFIG
        )
        es["start_from_epoch"] = check_int(
            f"{path}.start_from_epoch", es["start_from_epoch"], 0, **_CONFIG
        )
        es["baseline"] = check_float(
            f"{path}.baseline",
            es["baseline"],
            allow_none=True,
            max_inclusive=False,
            **_CONFIG,
        )
    cfg.early_stopping = es

    path = f"{prefix}.checkpoint"
    if cfg.checkpoint is not None:
        ck = _callback_dict(
            path, cfg.checkpoint, _CHECKPOINT, on_by_default_value=False
        )
        if ck:
            _check_monitor(f"{path}.monitor", ck["monitor"])
            check_choice(f"{path}.mode", ck["mode"], _MODES, where=_WHERE)
            check_bool(f"{path}.save_best_only", ck["save_best_only"], **_CONFIG)
        cfg.checkpoint = ck

    path = f"{prefix}.tensorboard"
    tb = _callback_dict(path, cfg.tensorboard, _TENSORBOARD, on_by_default_value=False)
    if tb:
        tb["histogram_freq"] = check_int(
            f"{path}.histogram_freq", tb["histogram_freq"], 0, **_CONFIG
        )
        if tb["update_freq"] not in ("epoch", "batch") and not (
            is_int(tb["update_freq"]) and tb["update_freq"] >= 1
        ):
            _fail(
                f"{path}.update_freq", tb["update_freq"], "'epoch', 'batch' or N >= 1"
            )
        check_bool(f"{path}.write_graph", tb["write_graph"], **_CONFIG)
        tb["profile_batch"] = check_int(
            f"{path}.profile_batch", tb["profile_batch"], 0, **_CONFIG
        )
    cfg.tensorboard = tb

    cfg.csv_log = check_bool(
        f"{prefix}.csv_log", cfg.csv_log, allow_none=True, **_CONFIG
    )
    cfg.plot = check_bool(f"{prefix}.plot", cfg.plot, allow_none=True, **_CONFIG)
    cfg.terminate_on_nan = check_bool(
        f"{prefix}.terminate_on_nan", cfg.terminate_on_nan, **_CONFIG
    )

    path = f"{prefix}.reduce_on_plateau"
    rop = _callback_dict(path, cfg.reduce_on_plateau, _REDUCE_ON_PLATEAU)
    if rop is not None:
        _check_monitor(f"{path}.monitor", rop["monitor"])
        # The schedules module owns the ReduceLROnPlateau argument checks.
        _wrap_factory(
            path,
            rop,
            lambda: make_plateau_callback(
                {"name": "reduce_on_plateau", "learning_rate": 0.0, **rop}
            ),
        )
    cfg.reduce_on_plateau = rop


def _validate_distribution(cfg: DistributionConfig, prefix: str) -> None:
    strategy = check_choice(
        f"{prefix}.strategy", cfg.strategy, STRATEGIES, where=_WHERE
    )
    devices = cfg.devices
    if devices is not None:
        if is_int(devices):
            check_int(f"{prefix}.devices", devices, 1, **_CONFIG)
        elif not (
            isinstance(devices, (list, tuple))
            and devices
            and all(isinstance(d, str) for d in devices)
        ):
            _fail(
                f"{prefix}.devices",
                devices,
                "null, a device count >= 1 or a list of device names",
            )
        else:
            cfg.devices = list(devices)
    model_parallel_keys = ("mesh_shape", "axis_names", "layout_map", "batch_dim_name")
    if strategy != "model_parallel":
        for key in model_parallel_keys:
            if getattr(cfg, key) is not None:
                raise ValueError(
                    f"Training config key '{prefix}.{key}' applies to "
                    f"strategy 'model_parallel' only; received strategy="
                    f"{short_repr(strategy)}, {key}={short_repr(getattr(cfg, key))}."
                )
        if strategy == "none" and devices is not None:
            raise ValueError(
                f"Training config key '{prefix}.devices' needs a strategy; "
                f"received strategy='none', devices={short_repr(devices)}."
            )
        return
    shape = cfg.mesh_shape
    if not (
        isinstance(shape, (list, tuple))
        and shape
        and all(is_int(s) and s >= 1 for s in shape)
    ):
        _fail(
            f"{prefix}.mesh_shape",
            shape,
            "a list of positive integers (required by 'model_parallel')",
        )
    cfg.mesh_shape = [int(s) for s in shape]
    names = ["batch", "model"] if cfg.axis_names is None else cfg.axis_names
    if not (
        isinstance(names, (list, tuple))
        and len(names) == len(shape)
        and all(isinstance(n, str) and n for n in names)
        and len(set(names)) == len(names)
    ):
        _fail(
            f"{prefix}.axis_names",
            cfg.axis_names,
            f"{len(shape)} distinct axis names, one per mesh_shape entry",
        )
    cfg.axis_names = list(names)
    batch_dim = names[0] if cfg.batch_dim_name is None else cfg.batch_dim_name
    check_choice(f"{prefix}.batch_dim_name", batch_dim, cfg.axis_names, where=_WHERE)
    cfg.batch_dim_name = batch_dim
    layout = {} if cfg.layout_map is None else cfg.layout_map
    if not isinstance(layout, dict):
        _fail(f"{prefix}.layout_map", layout, "a mapping {regex: [axes]}")
    for key, axes in layout.items():
        path = f"{prefix}.layout_map[{short_repr(key)}]"
        if not isinstance(key, str) or not isinstance(axes, (list, tuple)):
            _fail(path, axes, "a list of mesh axis names or nulls")
        for axis in axes:
            if axis is not None and axis not in cfg.axis_names:
                _fail(
                    path,
                    list(axes),
                    f"axes from {cfg.axis_names} or null",
                    closest(str(axis), cfg.axis_names),
                )
    cfg.layout_map = {k: list(v) for k, v in layout.items()}
    if devices is not None and is_int(devices) and devices != math.prod(shape):
        raise ValueError(
            f"Training config keys '{prefix}.devices'={devices} and "
            f"'{prefix}.mesh_shape'={shape} disagree: the mesh needs "
            f"{math.prod(shape)} devices."
        )


def _optimizer_class(name: str):
    """The Keras optimizer class of an optimizer name (no instance), or None."""
    by_lower = {n.lower(): n for n in dir(keras.optimizers) if not n.startswith("_")}
    return getattr(keras.optimizers, by_lower[name]) if name in by_lower else None


def split_optimizer_config(optimizer) -> tuple[dict, dict | None]:
    """Splits a plateau "schedule" off an optimizer config.

    Args:
        optimizer: str or dict. The `optimizer` value of a config.

    Returns:
        tuple: (optimizer dict for `make_optimizer` with a float learning
        rate, the {"name": "reduce_on_plateau", ...} dict or None).
    """
    optimizer = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    lr = optimizer.get("learning_rate")
    if is_callback_schedule(lr):
        optimizer["learning_rate"] = lr.get("learning_rate")
        return optimizer, dict(lr)
    return optimizer, None


def _validate_optimizer(value) -> dict | str:
    path = "optimizer"
    if isinstance(value, str):
        value = {"name": value}
    elif isinstance(value, dict):
        value = dict(value)  # checked values are converted in this copy
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        _fail(path, value, "an optimizer name or a mapping with a 'name'")
    name = value["name"].lower()
    if name not in OPTIMIZER_NAMES:
        _fail(
            f"{path}.name",
            value["name"],
            "one of " + ", ".join(OPTIMIZER_NAMES),
            closest(name, OPTIMIZER_NAMES),
        )
    cls = _optimizer_class(name)
    if cls is not None:  # else make_optimizer checks the keys, in Trainer
        params = inspect.signature(cls.__init__).parameters.values()
        accepted = [
            p.name
            for p in params
            if p.name not in ("self", "name")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        _check_keys(value, ["name", *accepted], path)
        _check_optimizer_values(value, cls, path)
    lr = value.get("learning_rate")
    if lr is not None:
        lr_path = f"{path}.learning_rate"
        if is_callback_schedule(lr):
            _wrap_factory(lr_path, lr, lambda: make_plateau_callback(lr))
        else:
            _wrap_factory(lr_path, lr, lambda: make_schedule(lr))
    if cls is not None:
        # Every check of what fit builds (make_optimizer's and Keras' ranges,
        # e.g. clipnorm > 0, momentum in [0, 1]) without building it: an
        # optimizer's variables would start TensorFlow before a distribution
        # strategy splits the CPU into devices.
        _wrap_factory(
            path, value, lambda: check_optimizer(split_optimizer_config(value)[0])
        )
    return value


def _check_optimizer_values(value: dict, cls, path: str) -> None:
    """Checks each optimizer argument's type against its default, before fit.

    Keras' optimizers store what they are given and fail at the first step
    (`momentum: {}`) or never (`nesterov: "yes"` is true).
    """
    params = inspect.signature(cls.__init__).parameters
    for key, item in value.items():
        if key in ("name", "learning_rate") or key not in params:
            continue
        default, where = params[key].default, f"{path}.{key}"
        if isinstance(default, bool):
            check_bool(where, item, **_CONFIG)
        elif key in _OPTIMIZER_COUNTS:
            value[key] = check_int(
                where, item, 1, _MAX_INT32, allow_none=True, **_CONFIG
            )
        else:
            # Keras refuses an int momentum ("must be a float"): converted.
            value[key] = check_float(where, item, allow_none=default is None, **_CONFIG)


def _wrap_factory(path: str, value, build):
    """Runs a kerasdl factory; re-raises its ValueError under a dotted path."""
    try:
        return build()
    except ValueError as err:
        message = str(err)
        if isinstance(value, dict):
            for key in value:
                if (
                    f"'{key}'" in message
                    or f"`{key}`" in message
                    or f"{key}=" in message
                ):
                    path = f"{path}.{key}"
                    break
        raise ValueError(f"Invalid training config at {path!r}: {message}") from None


# Optimizer arguments that count steps (integers), the rest are numbers.
_OPTIMIZER_COUNTS = ("gradient_accumulation_steps", "ema_overwrite_frequency")
# Counts and sizes reach the backend as int32 (steps, batch sizes); seeds go
# to NumPy's and the backends' generators, which take 32-bit unsigned seeds.
_MAX_INT32 = 2**31 - 1
_MAX_SEED = 2**32 - 1


def _bounded_int(name: str, value, minimum: int, maximum: int, allow_none=False):
    """check_int with the lower bound first, so the common error stays short."""
    value = check_int(name, value, minimum, allow_none=allow_none, **_CONFIG)
    return check_int(name, value, minimum, maximum, allow_none=True, **_CONFIG)


def _validate_training(cfg: TrainingConfig) -> None:
    cfg.seed = _bounded_int("seed", cfg.seed, 0, _MAX_SEED, allow_none=True)
    cfg.epochs = _bounded_int("epochs", cfg.epochs, 1, _MAX_INT32)
    cfg.batch_size = _bounded_int(
        "batch_size", cfg.batch_size, 1, _MAX_INT32, allow_none=True
    )
    cfg.validation_split = check_float(
        "validation_split",
        cfg.validation_split,
        0.0,
        1.0,
        max_inclusive=False,
        **_CONFIG,
    )
    check_bool("shuffle", cfg.shuffle, **_CONFIG)
    cfg.optimizer = _validate_optimizer(cfg.optimizer)
    if cfg.loss is not None:
        _wrap_factory("loss", cfg.loss, lambda: make_loss(cfg.loss))
    if cfg.metrics is not None:
        if not isinstance(cfg.metrics, (list, tuple)):
            _fail("metrics", cfg.metrics, "a list of metric names or mappings")
        cfg.metrics = list(cfg.metrics)
        for i, metric in enumerate(cfg.metrics):
            name = metric.get("name") if isinstance(metric, dict) else metric
            if not isinstance(name, str) or name.lower() not in METRIC_NAMES:
                _fail(
                    f"metrics[{i}]",
                    metric,
                    "one of " + ", ".join(METRIC_NAMES),
                    closest(str(name), METRIC_NAMES),
                )
    if cfg.precision is not None:
        check_choice("precision", cfg.precision, PRECISIONS, where=_WHERE)
    if cfg.jit_compile != "auto" and not isinstance(cfg.jit_compile, bool):
        _fail("jit_compile", cfg.jit_compile, "true, false or 'auto'")
    cfg.steps_per_execution = _bounded_int(
        "steps_per_execution", cfg.steps_per_execution, 1, _MAX_INT32
    )
    if cfg.run_dir is not None:
        if isinstance(cfg.run_dir, os.PathLike):
            cfg.run_dir = os.fspath(cfg.run_dir)
        if not isinstance(cfg.run_dir, str) or not cfg.run_dir:
            _fail("run_dir", cfg.run_dir, "a directory path or null")
    check_bool("resume", cfg.resume, **_CONFIG)
    check_bool("overwrite", cfg.overwrite, **_CONFIG)
    check_bool("check_data", cfg.check_data, **_CONFIG)
    if cfg.resume and cfg.run_dir is None:
        raise ValueError(
            "Training config key 'resume' is true but 'run_dir' is null: "
            "resuming needs the run directory holding the backup."
        )
    if cfg.verbose not in ("auto", 0, 1, 2) or isinstance(cfg.verbose, bool):
        _fail("verbose", cfg.verbose, "'auto', 0, 1 or 2")

    callbacks = cfg.callbacks
    for key in ("checkpoint", "tensorboard", "csv_log", "plot"):
        if getattr(callbacks, key) and cfg.run_dir is None:
            raise ValueError(
                f"Training config key 'callbacks.{key}' writes into the run "
                "directory but 'run_dir' is null; set run_dir or turn "
                f"callbacks.{key} off."
            )
    _, plateau = split_optimizer_config(cfg.optimizer)
    if plateau is not None and callbacks.reduce_on_plateau is not None:
        raise ValueError(
            "Reduce-on-plateau is configured twice: 'optimizer.learning_rate' "
            f"is {short_repr(plateau)} and 'callbacks.reduce_on_plateau' is "
            f"{short_repr(callbacks.reduce_on_plateau)}; keep one."
        )
    lr = cfg.optimizer.get("learning_rate")
    if callbacks.reduce_on_plateau is not None and isinstance(lr, dict):
        raise ValueError(
            "'callbacks.reduce_on_plateau' sets the learning rate and needs a "
            f"float 'optimizer.learning_rate'; received learning_rate={short_repr(lr)}."
        )
    accumulation = cfg.optimizer.get("gradient_accumulation_steps")
    strategy = cfg.distribution.strategy
    if strategy in ("mirrored", "multi_worker") and accumulation not in (None, 1):
        # Keras 3.15 applies accumulated gradients inside a cond in the replica
        # step; tf.distribute refuses that synchronization point ("merge_call
        # called while defining a new graph") at the first step.
        raise ValueError(
            "Training config keys 'optimizer.gradient_accumulation_steps'="
            f"{accumulation} and 'distribution.strategy'={strategy!r} cannot "
            "be combined: Keras' gradient accumulation fails under "
            "tf.distribute strategies. Remove gradient_accumulation_steps "
            "(a larger batch_size has the same effect across replicas) or "
            "set distribution.strategy to 'none'."
        )
