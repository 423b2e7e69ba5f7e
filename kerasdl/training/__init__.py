"""Training: config-driven `fit` with schedules, optimizers, losses, callbacks.

The `Trainer` takes a `TrainingConfig` (dict, YAML or dataclass) and a model
(or a model spec), and trains it with the configured optimizer, learning-rate
schedule, loss and metrics, precision, distribution strategy and callbacks,
keeping a resumable run directory. The factories it uses are public too.

Example:
>>> from kerasdl.training import Trainer
>>> trainer = Trainer({"epochs": 10, "seed": 0, "run_dir": "runs/mlp",
...                    "optimizer": {"name": "adamw", "learning_rate": 1e-3},
...                    "callbacks": {"early_stopping": {"patience": 3}}})
>>> history = trainer.fit(model, x, y, validation_split=0.1)
"""

from kerasdl.training.callbacks import (
    BestModelCheckpoint,
    LearningRateLogger,
    ResumableBackup,
    RunHistory,
    TerminateOnNaN,
    current_learning_rate,
    load_history,
    plot_history,
)
from kerasdl.training.config import (
    PRECISIONS,
    STRATEGIES,
    CallbacksConfig,
    DistributionConfig,
    TrainingConfig,
    load_config,
    save_config,
)
from kerasdl.training.distribution import (
    SUPPORTED_STRATEGIES,
    DistributionContext,
    check_strategy,
    configure_cpu_devices,
    make_context,
)
from kerasdl.training.losses import (
    LOSS_NAMES,
    SparseCategoricalCrossentropy,
    SparseCategoricalFocalCrossentropy,
    make_loss,
)
from kerasdl.training.metrics import (
    METRIC_NAMES,
    F1Score,
    Precision,
    Recall,
    SparseAUC,
    make_metrics,
)
from kerasdl.training.optimizers import OPTIMIZER_NAMES, make_optimizer
from kerasdl.training.precision import (
    cast_model,
    model_precision,
    policy_scope,
    set_precision,
)
from kerasdl.training.schedules import (
    SCHEDULE_NAMES,
    OneCycle,
    StepDecay,
    is_callback_schedule,
    make_plateau_callback,
    make_schedule,
    resolve_schedule,
)
from kerasdl.training.trainer import Trainer

__all__ = [
    "LOSS_NAMES",
    "METRIC_NAMES",
    "OPTIMIZER_NAMES",
    "PRECISIONS",
    "SCHEDULE_NAMES",
    "STRATEGIES",
    "SUPPORTED_STRATEGIES",
    "BestModelCheckpoint",
    "CallbacksConfig",
    "DistributionConfig",
    "DistributionContext",
    "F1Score",
    "LearningRateLogger",
    "OneCycle",
    "Precision",
    "Recall",
    "ResumableBackup",
    "RunHistory",
    "SparseAUC",
    "SparseCategoricalCrossentropy",
    "SparseCategoricalFocalCrossentropy",
    "StepDecay",
    "TerminateOnNaN",
    "Trainer",
    "TrainingConfig",
    "cast_model",
    "check_strategy",
    "configure_cpu_devices",
    "current_learning_rate",
    "is_callback_schedule",
    "load_config",
    "load_history",
    "make_context",
    "make_loss",
    "make_metrics",
    "make_optimizer",
    "make_plateau_callback",
    "make_schedule",
    "model_precision",
    "plot_history",
    "policy_scope",
    "resolve_schedule",
    "save_config",
    "set_precision",
]
