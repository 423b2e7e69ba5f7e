"""Distributed training from the config's `distribution` section.

Each backend has its own mechanism, and kerasdl uses the one that works:

- TensorFlow: `tf.distribute.MirroredStrategy` (several devices of one
  machine) and `tf.distribute.MultiWorkerMirroredStrategy` (several worker
  processes, described by the TF_CONFIG environment variable). Keras'
  `keras.distribution` is a prototype on TensorFlow.
- JAX: `keras.distribution.DataParallel` and `keras.distribution.ModelParallel`
  (a device mesh plus a `LayoutMap` sharding variables by path).
- PyTorch: no strategy; "none" only.

`make_context(config)` returns a `DistributionContext`; `Trainer` builds and
compiles the model inside `context.scope()` and calls fit inside
`context.fit_scope()`.

Several CPU devices (to try distribution on a laptop or in tests) must be
created before the backend initializes, i.e. in a fresh process:
`configure_cpu_devices(n)` does it (TensorFlow: logical CPU devices; JAX:
`jax_num_cpu_devices`), and `make_context` calls it when `devices` asks for
more devices than exist. Once the runtime has started it fails with a
ValueError saying so.

Example:
>>> context = make_context({"strategy": "mirrored", "devices": 2})
>>> with context.scope():
...     model = build_and_compile()
>>> with context.fit_scope():
...     model.fit(x, y, batch_size=64)  # 32 samples per replica
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os

import keras

from kerasdl import _backend, _keras_compat
from kerasdl.training.config import DistributionConfig

__all__ = [
    "SUPPORTED_STRATEGIES",
    "DistributionContext",
    "check_strategy",
    "configure_cpu_devices",
    "make_context",
]

logger = logging.getLogger(__name__)

#: Strategies each backend supports.
SUPPORTED_STRATEGIES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("none", "mirrored", "multi_worker"),
    "jax": ("none", "data_parallel", "model_parallel"),
    "torch": ("none",),
}
_BACKEND_OF = {
    "mirrored": "tensorflow",
    "multi_worker": "tensorflow",
    "data_parallel": "jax",
    "model_parallel": "jax",
}


class DistributionContext:
    """What a training loop needs from a distribution strategy.

    Attributes:
        strategy: str. The configured strategy name.
        backend: str. The Keras backend.
        num_replicas: int. Model replicas the global batch is split over
            (data-parallel degree).
        is_chief: bool. Whether this process writes the run's files (always
            True except on non-chief multi-worker processes).
        worker_index: int. Index of this worker (0 unless multi_worker).
        tf_strategy: tf.distribute.Strategy or None.
        keras_distribution: keras.distribution.Distribution or None.
    """

    def __init__(
        self,
        strategy: str = "none",
        backend: str | None = None,
        num_replicas: int = 1,
        is_chief: bool = True,
        worker_index: int = 0,
        tf_strategy=None,
        keras_distribution=None,
    ):
        self.strategy = strategy
        self.backend = backend or _backend.name()
        self.num_replicas = num_replicas
        self.is_chief = is_chief
        self.worker_index = worker_index
        self.tf_strategy = tf_strategy
        self.keras_distribution = keras_distribution

    @property
    def distributed(self) -> bool:
        """True when a strategy other than "none" is active."""
        return self.strategy != "none"

    def scope(self):
        """Context in which to build and compile the model."""
        if self.tf_strategy is not None:
            return self.tf_strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def fit_scope(self):
        """Context in which to call `fit` (JAX distributions shard the data)."""
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        # tf.distribute: the model remembers the strategy it was built under.
        return contextlib.nullcontext()

    def prepare_model(self, model: keras.Model) -> keras.Model:
        """Applies per-strategy fixes to a model built in `scope()`.

        For "multi_worker" it first gives every worker the first replica's
        (worker 0's) weights, so a model built differently on each worker
        still starts from one state. It also patches, on this model instance
        only, two
        Keras 3.15 defects that make `fit` fail under
        MultiWorkerMirroredStrategy (keras-team/keras#20585): the symbolic
        build reduces a whole (x, y) batch across workers, and the scalar
        step logs are reduced with `axis=0`. The patch builds from the first
        local replica's batch and gives the logs a leading axis of 1.

        Args:
            model: keras.Model. The model to train.

        Returns:
            keras.Model: the same model.
        """
        if self.strategy == "multi_worker":
            _keras_compat.patch_multi_worker(model)
            _sync_from_first_replica(model, self.tf_strategy)
        return model

    def __repr__(self) -> str:
        return (
            f"DistributionContext(strategy={self.strategy!r}, "
            f"backend={self.backend!r}, num_replicas={self.num_replicas}, "
            f"is_chief={self.is_chief}, worker_index={self.worker_index})"
        )


def make_context(config=None) -> DistributionContext:
    """Creates the strategy a distribution config asks for.

    Args:
        config: DistributionConfig, dict or None. The `distribution` section
            of a training config (None: no distribution).

    Returns:
        DistributionContext.

    Raises:
        ValueError: for a strategy the current backend does not support
            (naming the strategy, the backend and the supported ones), too
            few devices, or a multi-worker run without TF_CONFIG.

    Example:
    >>> make_context({"strategy": "data_parallel", "devices": 4}).num_replicas
    4
    """
    if config is None:
        config = DistributionConfig()
    elif isinstance(config, dict):
        config = DistributionConfig(**_checked_keys(config))
    backend = _backend.name()
    strategy = config.strategy
    check_strategy(strategy)
    if strategy == "none":
        return DistributionContext("none", backend)
    if strategy == "mirrored":
        return _mirrored(config)
    if strategy == "multi_worker":
        return _multi_worker(config)
    return _jax_distribution(config)


def check_strategy(strategy: str) -> None:
    """Checks that the current Keras backend supports `strategy`.

    Args:
        strategy: str. A `DistributionConfig.strategy` value.

    Raises:
        ValueError: naming the strategy, the backend, the strategies the
            backend supports and the backend the strategy needs.

    Example:
    >>> check_strategy("none")
    """
    backend = _backend.name()
    supported = SUPPORTED_STRATEGIES.get(backend, ("none",))
    if strategy not in supported:
        needs = _BACKEND_OF.get(strategy)
        hint = (
            f" {strategy!r} needs the {needs} backend (set KERAS_BACKEND)."
            if needs
            else ""
        )
        raise ValueError(
            f"distribution.strategy={strategy!r} is not supported on the "
            f"{backend} backend; supported there: {', '.join(supported)}.{hint}"
        )


def configure_cpu_devices(count: int) -> None:
    """Makes sure the current backend sees at least `count` CPU devices.

    Splits the host CPU into `count` logical devices (TensorFlow) or sets
    `jax_num_cpu_devices` (JAX). This must happen before the backend's
    runtime starts (before any tensor is created), so call it first thing in
    a fresh process; afterwards it only succeeds if enough devices exist.

    Args:
        count: int. Number of CPU devices wanted (>= 1).

    Raises:
        ValueError: if `count` < 1, if the runtime has already started with
            fewer devices, or on the torch backend.

    Example:
    >>> configure_cpu_devices(4)  # before building any model
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be an integer >= 1; received count={count!r}.")
    _backend.configure_cpu_devices(count)


# ----------------------------------------------------------------- TensorFlow
def _mirrored(config: DistributionConfig) -> DistributionContext:
    import tensorflow as tf

    devices = config.devices
    if isinstance(devices, int):
        gpus = tf.config.list_physical_devices("GPU")
        if len(gpus) >= devices:
            names = [f"/gpu:{i}" for i in range(devices)]
        else:
            _make_cpu_devices(devices, len(gpus))
            names = [f"/cpu:{i}" for i in range(devices)]
    else:
        names = devices  # None (all GPUs, else the CPU) or explicit names
    strategy = tf.distribute.MirroredStrategy(devices=names)
    logger.info(
        "MirroredStrategy over %d replicas: %s",
        strategy.num_replicas_in_sync,
        strategy.extended.worker_devices,
    )
    return DistributionContext(
        "mirrored",
        "tensorflow",
        num_replicas=strategy.num_replicas_in_sync,
        tf_strategy=strategy,
    )


def _make_cpu_devices(count: int, gpus: int) -> None:
    """CPU devices for `devices: count` on a machine with too few GPUs."""
    try:
        configure_cpu_devices(count)
    except ValueError as err:
        # The config is what the user edits: say which keys to change.
        raise ValueError(
            f"distribution.devices={count} asks for more devices than exist: "
            f"this machine has {gpus} GPU(s), and {err} Set "
            "distribution.devices to the number of GPUs (or strategy: none), "
            "or start training in a fresh process (`kerasdl train run.yaml`, "
            "or create the Trainer before anything runs TensorFlow), where "
            f"kerasdl splits the CPU into {count} logical devices."
        ) from None


def _multi_worker(config: DistributionConfig) -> DistributionContext:
    import tensorflow as tf

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "distribution.strategy='multi_worker' needs the TF_CONFIG "
            "environment variable describing the cluster, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}; it is not set.'
        )
    try:
        tf_config = json.loads(raw)
        task = tf_config["task"]
        task_type, task_index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"TF_CONFIG must be JSON with 'cluster' and 'task' {{type, index}}; "
            f"received TF_CONFIG={raw!r} ({err})."
        ) from None
    if config.devices is not None:
        raise ValueError(
            "distribution.devices is not used by 'multi_worker' (each worker "
            f"uses its local devices); received devices={config.devices!r}."
        )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    has_chief = "chief" in tf_config.get("cluster", {})
    is_chief = task_type == "chief" or (
        not has_chief and task_type == "worker" and task_index == 0
    )
    logger.info(
        "MultiWorkerMirroredStrategy: task %s:%d of %d replicas (chief: %s)",
        task_type,
        task_index,
        strategy.num_replicas_in_sync,
        is_chief,
    )
    return DistributionContext(
        "multi_worker",
        "tensorflow",
        num_replicas=strategy.num_replicas_in_sync,
        is_chief=is_chief,
        worker_index=task_index,
        tf_strategy=strategy,
    )


def _sync_from_first_replica(model: keras.Model, strategy) -> None:
    """Sets every worker's weights to those of global replica 0."""
    import tensorflow as tf

    variables = [w.value for w in model.weights]
    if not variables:
        return

    def replica_fn():
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        masked = [tf.where(first, v, tf.zeros_like(v)) for v in variables]
        return context.all_reduce(tf.distribute.ReduceOp.SUM, masked)

    synced = strategy.run(tf.function(replica_fn))
    for variable, value in zip(variables, synced, strict=True):
        variable.assign(strategy.experimental_local_results(value)[0])


# ----------------------------------------------------------------- JAX
def _jax_distribution(config: DistributionConfig) -> DistributionContext:
    from keras import distribution as kd

    strategy = config.strategy
    wanted = config.devices
    if strategy == "model_parallel" and wanted is None:
        wanted = math.prod(config.mesh_shape)
    if isinstance(wanted, int):
        if "xla_force_host_platform_device_count" not in os.environ.get(
            "XLA_FLAGS", ""
        ):
            # Before anything lists devices: listing starts the runtime.
            configure_cpu_devices(wanted)
        available = kd.list_devices()
        if len(available) < wanted:
            available = kd.list_devices("cpu")
        if len(available) < wanted:
            raise ValueError(
                f"distribution.devices={wanted} but JAX sees {len(available)} "
                f"devices ({available}); XLA_FLAGS={os.environ.get('XLA_FLAGS')!r} "
                "forces fewer CPU devices."
            )
        devices = available[:wanted]
    elif wanted is None:
        devices = kd.list_devices()
    else:
        devices = list(wanted)
    if strategy == "data_parallel":
        dist = kd.DataParallel(devices=devices)
        replicas = len(devices)
    else:
        if len(devices) != math.prod(config.mesh_shape):
            raise ValueError(
                f"distribution.mesh_shape={config.mesh_shape} needs "
                f"{math.prod(config.mesh_shape)} devices; received "
                f"{len(devices)}: {devices}."
            )
        mesh = kd.DeviceMesh(
            tuple(config.mesh_shape), list(config.axis_names), devices=devices
        )
        layout_map = kd.LayoutMap(mesh)
        for pattern, axes in (config.layout_map or {}).items():
            layout_map[pattern] = tuple(axes)
        dist = kd.ModelParallel(
            layout_map=layout_map, batch_dim_name=config.batch_dim_name
        )
        replicas = config.mesh_shape[config.axis_names.index(config.batch_dim_name)]
    logger.info("%s over %d devices: %s", type(dist).__name__, len(devices), devices)
    return DistributionContext(
        strategy, "jax", num_replicas=replicas, keras_distribution=dist
    )


def _checked_keys(config: dict) -> dict:
    from kerasdl._checks import closest

    fields = list(DistributionConfig.__dataclass_fields__)
    for key in config:
        if key not in fields:
            raise ValueError(
                f"Unknown training config key 'distribution.{key}'."
                f"{closest(str(key), fields)} Accepted: {', '.join(fields)}."
            )
    return config
