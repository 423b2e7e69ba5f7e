"""Learning-rate schedules and the `make_schedule` factory.

Keras' own schedules are used wherever Keras has the schedule
(`ExponentialDecay`, `PiecewiseConstantDecay`, `CosineDecay` with its warmup,
`CosineDecayRestarts`, `PolynomialDecay`); this module adds only the missing
ones, `StepDecay` and `OneCycle`, as serializable
`keras.optimizers.schedules.LearningRateSchedule` subclasses written with
`keras.ops`, so they run on every backend and inside compiled train steps.

A schedule is configured by a plain dict (one key per argument, JSON/YAML
friendly); `make_schedule` validates it and returns a float (constant rate) or
a schedule object to pass as an optimizer's `learning_rate`. Every config has
the key "learning_rate": the starting rate, or the peak rate for
"warmup_cosine" and "one_cycle".

Reduce-on-plateau is not a function of the step: it reacts to a monitored
metric, so it is the Keras callback `keras.callbacks.ReduceLROnPlateau`.
`resolve_schedule` maps any schedule config to (learning rate, callbacks), so
a training loop handles both kinds with one call.

Example:
>>> schedule = make_schedule({"name": "warmup_cosine", "learning_rate": 1e-3,
...                           "warmup_steps": 100, "decay_steps": 1000})
>>> optimizer = keras.optimizers.AdamW(learning_rate=schedule)
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import keras
from keras import ops

from kerasdl._checks import (
    check_bool,
    check_float,
    check_int,
    check_known_keys,
    short_repr,
)
from kerasdl.training._named import require_name, resolve_name

__all__ = [
    "SCHEDULE_NAMES",
    "OneCycle",
    "StepDecay",
    "is_callback_schedule",
    "make_plateau_callback",
    "make_schedule",
    "resolve_schedule",
]

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="kerasdl")
class StepDecay(_LRSchedule):
    """Multiplies the learning rate by `gamma` every `step_size` steps.

    Either every `step_size` steps (PyTorch `StepLR`):
    `lr(step) = initial_learning_rate * gamma ** floor(step / step_size)`,
    or at each milestone (PyTorch `MultiStepLR`):
    `lr(step) = initial_learning_rate * gamma ** (number of milestones <= step)`.

    Args:
        initial_learning_rate: float. Rate at step 0.
        step_size: int or None. Steps between two decays. Exactly one of
            `step_size` and `milestones` must be given.
        gamma: float. Multiplicative factor of each decay, > 0.
        milestones: list of int or None. Strictly increasing steps at which
            the rate is multiplied by `gamma`.
        name: str. Name of the schedule.

    Raises:
        ValueError: if both or neither of `step_size` and `milestones` are
            given, or a value is out of range.

    Example:
    >>> schedule = StepDecay(0.1, step_size=30, gamma=0.1)
    >>> round(float(schedule(65)), 6)  # 0.1 * 0.1 ** 2
    0.001
    """

    def __init__(
        self,
        initial_learning_rate: float,
        step_size: int | None = None,
        gamma: float = 0.1,
        milestones: list[int] | None = None,
        name: str = "StepDecay",
    ):
        super().__init__()
        if (step_size is None) == (milestones is None):
            raise ValueError(
                "StepDecay needs exactly one of `step_size` and `milestones`; "
                f"received step_size={step_size!r}, milestones={milestones!r}."
            )
        if step_size is not None:
            step_size = check_int(
                "step_size", step_size, minimum=1, integral_float=True
            )
        if milestones is not None:
            milestones = _check_milestones(milestones)
        self.initial_learning_rate = check_float(
            "initial_learning_rate", initial_learning_rate, minimum=0.0
        )
        self.step_size = step_size
        self.gamma = check_float("gamma", gamma, minimum=0.0, min_inclusive=False)
        self.milestones = milestones
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.cast(step, "float32")
            if self.step_size is not None:
                num_decays = ops.floor(ops.divide(step, float(self.step_size)))
            else:
                milestones = ops.convert_to_tensor(
                    [float(m) for m in self.milestones], dtype="float32"
                )
                # Broadcast over the milestones so a vector of steps works too.
                passed = ops.greater_equal(ops.expand_dims(step, -1), milestones)
                num_decays = ops.sum(ops.cast(passed, "float32"), axis=-1)
            factor = ops.power(ops.convert_to_tensor(self.gamma, "float32"), num_decays)
            return ops.multiply(self.initial_learning_rate, factor)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "milestones": None if self.milestones is None else list(self.milestones),
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class OneCycle(_LRSchedule):
    """The 1cycle policy (Smith & Topin 2018), as PyTorch's `OneCycleLR`.

    The rate rises from `max_learning_rate / div_factor` to
    `max_learning_rate` over the first `pct_start * total_steps - 1` steps,
    then anneals to `max_learning_rate / div_factor / final_div_factor` at
    step `total_steps - 1`. With `three_phase=True` it first comes back down
    to the initial rate (symmetric to the rise) and anneals to the minimum in
    the third phase. Steps past `total_steps - 1` keep the final rate
    (PyTorch raises there instead). Momentum is not cycled: Keras optimizers
    take a fixed momentum.

    Args:
        max_learning_rate: float. Peak rate, > 0.
        total_steps: int. Length of the cycle in optimizer steps.
        pct_start: float. Fraction of the cycle spent increasing the rate,
            in (0, 1).
        div_factor: float. Initial rate is `max_learning_rate / div_factor`.
        final_div_factor: float. Final rate is the initial rate divided by
            `final_div_factor`.
        anneal_strategy: str. "cos" (cosine annealing) or "linear".
        three_phase: bool. Use the three-phase variant (see above).
        name: str. Name of the schedule.

    Raises:
        ValueError: if an argument is out of range or a phase would have
            no steps.

    Example:
    >>> schedule = OneCycle(0.1, total_steps=100)
    >>> round(float(schedule(0)), 6), round(float(schedule(29)), 6)
    (0.004, 0.1)
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
        name: str = "OneCycle",
    ):
        super().__init__()
        self.max_learning_rate = check_float(
            "max_learning_rate", max_learning_rate, minimum=0.0, min_inclusive=False
        )
        self.total_steps = check_int(
            "total_steps", total_steps, minimum=2, integral_float=True
        )
        self.pct_start = check_float(
            "pct_start",
            pct_start,
            minimum=0.0,
            maximum=1.0,
            min_inclusive=False,
            max_inclusive=False,
        )
        self.div_factor = check_float(
            "div_factor", div_factor, minimum=0.0, min_inclusive=False
        )
        self.final_div_factor = check_float(
            "final_div_factor", final_div_factor, minimum=0.0, min_inclusive=False
        )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                "`anneal_strategy` must be 'cos' or 'linear'; received "
                f"anneal_strategy={anneal_strategy!r}."
            )
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.name = name
        ends = [e for _, _, e in self._phases()]
        if not 0.0 < ends[0] < ends[-1] or sorted(set(ends)) != ends:
            raise ValueError(
                "OneCycle phases must each have at least one step; received "
                f"total_steps={total_steps}, pct_start={pct_start} (phase ends "
                f"at steps {ends}). Increase total_steps or pct_start."
            )

    def _phases(self) -> list[tuple[float, float, float]]:
        """Returns [(start_lr, end_lr, end_step)] exactly as PyTorch computes."""
        initial = self.max_learning_rate / self.div_factor
        final = initial / self.final_div_factor
        rise_end = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps) - 1
        if self.three_phase:
            return [
                (initial, self.max_learning_rate, rise_end),
                (self.max_learning_rate, initial, 2 * rise_end),
                (initial, final, last),
            ]
        return [
            (initial, self.max_learning_rate, rise_end),
            (self.max_learning_rate, final, last),
        ]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)
        return start + (end - start) * pct

    def __call__(self, step):
        with keras.name_scope(self.name):
            phases = self._phases()
            step = ops.minimum(ops.cast(step, "float32"), phases[-1][2])
            # Evaluated from the last phase back, so the earliest phase whose
            # end is >= step wins, as in PyTorch's loop.
            begins = [0.0] + [end for _, _, end in phases[:-1]]
            lr = None
            for (start_lr, end_lr, end), begin in reversed(
                list(zip(phases, begins, strict=True))
            ):
                pct = ops.divide(ops.subtract(step, begin), end - begin)
                value = self._anneal(start_lr, end_lr, pct)
                lr = value if lr is None else ops.where(step <= end, value, lr)
            return lr

    def get_config(self) -> dict[str, Any]:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal_strategy": self.anneal_strategy,
            "three_phase": self.three_phase,
            "name": self.name,
        }


# ----------------------------------------------------------------- factory
_REQUIRED = object()

# name -> (keys with defaults; _REQUIRED marks required keys). Every config
# also takes "learning_rate" (required) and "name".
_SCHEDULE_KEYS: dict[str, dict[str, Any]] = {
    "constant": {},
    "step": {"step_size": None, "gamma": 0.1, "milestones": None},
    "exponential": {
        "decay_steps": _REQUIRED,
        "decay_rate": _REQUIRED,
        "staircase": False,
    },
    "piecewise_constant": {"boundaries": _REQUIRED, "values": _REQUIRED},
    "cosine": {"decay_steps": _REQUIRED, "alpha": 0.0},
    "cosine_restarts": {
        "first_decay_steps": _REQUIRED,
        "t_mul": 2.0,
        "m_mul": 1.0,
        "alpha": 0.0,
    },
    "warmup_cosine": {
        "warmup_steps": _REQUIRED,
        "decay_steps": _REQUIRED,
        "alpha": 0.0,
        "warmup_start": 0.0,
    },
    "one_cycle": {
        "total_steps": _REQUIRED,
        "pct_start": 0.3,
        "div_factor": 25.0,
        "final_div_factor": 1e4,
        "anneal_strategy": "cos",
        "three_phase": False,
    },
    "polynomial": {
        "decay_steps": _REQUIRED,
        "end_learning_rate": 0.0,
        "power": 1.0,
        "cycle": False,
    },
}

# Keys of {"name": "reduce_on_plateau", ...}: the optimizer's starting rate
# plus the arguments of keras.callbacks.ReduceLROnPlateau.
PLATEAU_KEYS: dict[str, Any] = {
    "monitor": "val_loss",
    "factor": 0.1,
    "patience": 10,
    "mode": "auto",
    "min_delta": 1e-4,
    "cooldown": 0,
    "min_lr": 0.0,
    "verbose": 0,
}
_CALLBACK_SCHEDULES = ("reduce_on_plateau",)

#: Names accepted by `make_schedule` and `resolve_schedule`.
SCHEDULE_NAMES: tuple[str, ...] = (*sorted(_SCHEDULE_KEYS), *_CALLBACK_SCHEDULES)


def make_schedule(config):
    """Builds a learning rate or learning-rate schedule from a config.

    Accepted names and keys ("learning_rate" is required by every one):

    - "constant": returns the float `learning_rate`.
    - "step": `step_size` or `milestones`, `gamma`=0.1 (`StepDecay`).
    - "exponential": `decay_steps`, `decay_rate`, `staircase`=False
      (`keras.optimizers.schedules.ExponentialDecay`).
    - "piecewise_constant": `boundaries`, `values` (the rates; `learning_rate`
      must equal `values[0]`) (`PiecewiseConstantDecay`).
    - "cosine": `decay_steps`, `alpha`=0.0 (`CosineDecay`: cosine from
      `learning_rate` to `alpha * learning_rate`, then constant).
    - "cosine_restarts": `first_decay_steps`, `t_mul`=2.0, `m_mul`=1.0,
      `alpha`=0.0 (`CosineDecayRestarts`, SGDR).
    - "warmup_cosine": `warmup_steps`, `decay_steps`, `alpha`=0.0,
      `warmup_start`=0.0: linear warmup from `warmup_start` to
      `learning_rate` over `warmup_steps`, then cosine to
      `alpha * learning_rate` over the next `decay_steps` (`CosineDecay`
      with `warmup_target`).
    - "one_cycle": `total_steps`, `pct_start`=0.3, `div_factor`=25,
      `final_div_factor`=1e4, `anneal_strategy`="cos", `three_phase`=False;
      `learning_rate` is the peak rate (`OneCycle`).
    - "polynomial": `decay_steps`, `end_learning_rate`=0.0, `power`=1.0,
      `cycle`=False (`PolynomialDecay`; note the end rate defaults to 0,
      not to Keras' 1e-4).

    "reduce_on_plateau" is a callback, not a schedule: use
    `resolve_schedule` or `make_plateau_callback` for it.

    Args:
        config: float, dict or LearningRateSchedule. A number is a constant
            rate; a schedule object is returned unchanged; a dict names the
            schedule ("name") and its arguments.

    Returns:
        float or keras.optimizers.schedules.LearningRateSchedule.

    Raises:
        ValueError: for an unknown name or key, a missing required key, a
            value out of range, or a "reduce_on_plateau" config.

    Example:
    >>> make_schedule(3e-4)
    0.0003
    >>> make_schedule({"name": "step", "learning_rate": 0.1, "step_size": 30})
    <kerasdl.training.schedules.StepDecay object at ...>
    """
    if isinstance(config, _LRSchedule):
        return config
    if isinstance(config, numbers.Real) and not isinstance(config, bool):
        return check_float("learning_rate", config, minimum=0.0)
    name, params = _split_config(config)
    if name in _CALLBACK_SCHEDULES:
        raise ValueError(
            f"Schedule {name!r} is a callback (keras.callbacks.ReduceLROnPlateau), "
            "not a function of the step; build it with resolve_schedule(config) "
            "or make_plateau_callback(config)."
        )
    lr = params.pop("learning_rate")
    if name == "constant":
        return lr
    if name == "step":
        return StepDecay(
            lr,
            step_size=params["step_size"],
            gamma=params["gamma"],
            milestones=params["milestones"],
        )
    if name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            lr,
            decay_steps=check_int(
                "decay_steps", params["decay_steps"], minimum=1, integral_float=True
            ),
            decay_rate=check_float(
                "decay_rate", params["decay_rate"], minimum=0.0, min_inclusive=False
            ),
            staircase=check_bool("staircase", params["staircase"]),
        )
    if name == "piecewise_constant":
        return _piecewise(lr, params["boundaries"], params["values"])
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            lr,
            decay_steps=check_int(
                "decay_steps", params["decay_steps"], minimum=1, integral_float=True
            ),
            alpha=check_float("alpha", params["alpha"], 0, 1),
        )
    if name == "cosine_restarts":
        return keras.optimizers.schedules.CosineDecayRestarts(
            lr,
            first_decay_steps=check_int(
                "first_decay_steps",
                params["first_decay_steps"],
                minimum=1,
                integral_float=True,
            ),
            t_mul=check_float(
                "t_mul", params["t_mul"], minimum=0.0, min_inclusive=False
            ),
            m_mul=check_float("m_mul", params["m_mul"], minimum=0.0),
            alpha=check_float("alpha", params["alpha"], 0, 1),
        )
    if name == "warmup_cosine":
        return keras.optimizers.schedules.CosineDecay(
            check_float("warmup_start", params["warmup_start"], minimum=0.0),
            decay_steps=check_int(
                "decay_steps", params["decay_steps"], minimum=1, integral_float=True
            ),
            alpha=check_float("alpha", params["alpha"], 0, 1),
            warmup_target=lr,
            warmup_steps=check_int(
                "warmup_steps", params["warmup_steps"], minimum=0, integral_float=True
            ),
        )
    if name == "one_cycle":
        return OneCycle(lr, **params)
    # polynomial
    return keras.optimizers.schedules.PolynomialDecay(
        lr,
        decay_steps=check_int(
            "decay_steps", params["decay_steps"], minimum=1, integral_float=True
        ),
        end_learning_rate=check_float(
            "end_learning_rate", params["end_learning_rate"], minimum=0.0
        ),
        power=check_float("power", params["power"], minimum=0.0),
        cycle=check_bool("cycle", params["cycle"]),
    )


def is_callback_schedule(config) -> bool:
    """Tells whether a schedule config is realized by a callback.

    Args:
        config: float, dict or LearningRateSchedule. A schedule config as
            accepted by `make_schedule` or `resolve_schedule`.

    Returns:
        bool. True for {"name": "reduce_on_plateau", ...}.

    Example:
    >>> is_callback_schedule({"name": "reduce_on_plateau", "learning_rate": 0.1})
    True
    """
    return (
        isinstance(config, dict)
        and isinstance(config.get("name"), str)
        and config["name"].lower() in _CALLBACK_SCHEDULES
    )


def make_plateau_callback(config: dict) -> keras.callbacks.ReduceLROnPlateau:
    """Builds the `ReduceLROnPlateau` callback of a "reduce_on_plateau" config.

    Keys: "name" ("reduce_on_plateau"), "learning_rate" (the optimizer's
    starting rate; not used by the callback itself), and the callback's
    arguments with Keras' defaults: monitor="val_loss", factor=0.1,
    patience=10, mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0,
    verbose=0. The optimizer must get a float learning rate: the callback
    assigns new rates to it.

    Args:
        config: dict. The schedule config.

    Returns:
        keras.callbacks.ReduceLROnPlateau.

    Raises:
        ValueError: if the config is not "reduce_on_plateau", or for an
            unknown key or a value out of range.

    Example:
    >>> callback = make_plateau_callback(
    ...     {"name": "reduce_on_plateau", "learning_rate": 0.1, "patience": 2})
    """
    name, params = _split_config(config)
    if name not in _CALLBACK_SCHEDULES:
        raise ValueError(
            "make_plateau_callback needs a config with name 'reduce_on_plateau'; "
            f"received name={name!r}."
        )
    params.pop("learning_rate")
    factor = check_float("factor", params["factor"], minimum=0.0, min_inclusive=False)
    if factor >= 1.0:
        raise ValueError(f"`factor` must be in (0, 1); received factor={factor}.")
    if params["mode"] not in ("auto", "min", "max"):
        raise ValueError(
            f"`mode` must be 'auto', 'min' or 'max'; received mode={params['mode']!r}."
        )
    if not isinstance(params["monitor"], str):
        raise ValueError(
            f"`monitor` must be a metric name; received monitor={params['monitor']!r}."
        )
    return keras.callbacks.ReduceLROnPlateau(
        monitor=params["monitor"],
        factor=factor,
        patience=check_int(
            "patience", params["patience"], minimum=0, integral_float=True
        ),
        mode=params["mode"],
        min_delta=check_float("min_delta", params["min_delta"], minimum=0.0),
        cooldown=check_int(
            "cooldown", params["cooldown"], minimum=0, integral_float=True
        ),
        min_lr=check_float("min_lr", params["min_lr"], minimum=0.0),
        verbose=check_int("verbose", params["verbose"], minimum=0, integral_float=True),
    )


def resolve_schedule(config) -> tuple[Any, list[keras.callbacks.Callback]]:
    """Maps any schedule config to (optimizer learning rate, callbacks).

    Step schedules give (schedule or float, []); "reduce_on_plateau" gives
    (its float "learning_rate", [ReduceLROnPlateau callback]).

    Args:
        config: float, dict or LearningRateSchedule. See `make_schedule` and
            `make_plateau_callback`.

    Returns:
        tuple: (float or LearningRateSchedule, list of keras.callbacks.Callback).

    Raises:
        ValueError: as `make_schedule` and `make_plateau_callback`.

    Example:
    >>> lr, callbacks = resolve_schedule(
    ...     {"name": "reduce_on_plateau", "learning_rate": 0.1, "patience": 3})
    >>> model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    >>> model.fit(x, y, callbacks=callbacks)
    """
    if is_callback_schedule(config):
        callback = make_plateau_callback(config)
        lr = check_float("learning_rate", config["learning_rate"], minimum=0.0)
        return lr, [callback]
    return make_schedule(config), []


# ----------------------------------------------------------------- helpers
def _split_config(config) -> tuple[str, dict[str, Any]]:
    """Validates a schedule dict; returns (name, params with defaults)."""
    if not isinstance(config, dict):
        raise ValueError(
            "A learning-rate schedule must be a number, a LearningRateSchedule "
            "or a dict with a 'name'; received "
            f"{short_repr(config)} of type {type(config).__name__}."
        )
    require_name(config, "Schedule", SCHEDULE_NAMES)
    name = resolve_name(config["name"], "schedule", SCHEDULE_NAMES)
    defaults = PLATEAU_KEYS if name in _CALLBACK_SCHEDULES else _SCHEDULE_KEYS[name]
    accepted = ["learning_rate", *defaults]
    params = {k: v for k, v in config.items() if k != "name"}
    check_known_keys(params, accepted, "schedule", name)
    missing = [k for k in accepted if k not in params and defaults.get(k) is _REQUIRED]
    if "learning_rate" not in params:
        missing.insert(0, "learning_rate")
    if missing:
        raise ValueError(
            f"Schedule {name!r} requires key(s) {missing}; received {short_repr(config)}."
        )
    params["learning_rate"] = check_float(
        "learning_rate", params["learning_rate"], minimum=0.0
    )
    for key, default in defaults.items():
        params.setdefault(key, default)
    return name, params


def _piecewise(lr: float, boundaries, values):
    if not isinstance(boundaries, (list, tuple)) or not isinstance(
        values, (list, tuple)
    ):
        raise ValueError(
            "`boundaries` and `values` must be lists; received "
            f"boundaries={boundaries!r}, values={values!r}."
        )
    if len(values) != len(boundaries) + 1:
        raise ValueError(
            "`values` must have one more entry than `boundaries`; received "
            f"boundaries={boundaries!r}, values={values!r}."
        )
    boundaries = _check_milestones(boundaries, key="boundaries")
    values = [check_float("values", v, minimum=0.0) for v in values]
    if values[0] != lr:
        raise ValueError(
            "For 'piecewise_constant', `learning_rate` is the first rate and "
            f"must equal values[0]; received learning_rate={lr}, values={values}."
        )
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def _check_milestones(milestones, key: str = "milestones") -> list[int]:
    if not isinstance(milestones, (list, tuple)) or not milestones:
        raise ValueError(
            f"`{key}` must be a non-empty list of steps; received {key}={short_repr(milestones)}."
        )
    steps = [check_int(key, m, minimum=1, integral_float=True) for m in milestones]
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(
            f"`{key}` must be strictly increasing; received {key}={short_repr(milestones)}."
        )
    return steps
