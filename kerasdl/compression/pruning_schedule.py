"""Pruning schedules with TFMOT's exact semantics.

A schedule answers two questions for a training step: should the masks be
recomputed now (`should_prune(step)`), and at what sparsity (`sparsity(step)`).
The formulas, argument names and validation rules are those of
`tensorflow_model_optimization.sparsity.keras` (`ConstantSparsity`,
`PolynomialDecay`); the sparsity is computed in float32 like TFMOT's graph
ops, so both libraries prune the same number of weights at every step.

The step counter is the one kept by `UpdatePruningStep`: it starts at 0 when
training begins and is incremented *before* each training batch, so the first
batch runs at step 1 (a schedule with `begin_step=0, frequency=100` first
prunes at step 100, as in TFMOT).
"""

from __future__ import annotations

import numpy as np
from keras.saving import register_keras_serializable

from kerasdl._checks import check_float, check_int

__all__ = ["ConstantSparsity", "PolynomialDecay", "PruningSchedule"]


def _check_sparsity(name, value):
    return check_float(name, value, 0.0, 1.0, max_inclusive=False)


class PruningSchedule:
    """Base class: when to prune, and to which sparsity.

    Subclasses implement `sparsity(step)` and `get_config()`; `should_prune`
    follows TFMOT's rule: prune in `[begin_step, end_step]` (forever when
    `end_step == -1`) every `frequency` steps counted from `begin_step`.
    Calling a schedule returns `(should_prune(step), sparsity(step))` like
    TFMOT's `schedule(step)`.
    """

    begin_step: int
    end_step: int
    frequency: int

    def _validate_steps(self, allow_negative_1):
        self.begin_step = check_int("begin_step", self.begin_step, minimum=0)
        self.end_step = check_int("end_step", self.end_step)
        self.frequency = check_int("frequency", self.frequency, minimum=1)
        if not allow_negative_1 and self.end_step == -1:
            raise ValueError(
                f"{type(self).__name__} needs a finite `end_step` (>= begin_step); "
                "received end_step=-1."
            )
        if self.end_step != -1:
            if self.end_step < 0:
                raise ValueError(
                    f"`end_step` must be -1 or >= 0. Received: end_step={self.end_step}"
                )
            if self.end_step < self.begin_step:
                raise ValueError(
                    "`end_step` must be >= `begin_step` (or -1). Received: "
                    f"begin_step={self.begin_step}, end_step={self.end_step}"
                )

    def should_prune(self, step):
        """Whether the masks are recomputed at training step `step`.

        Args:
            step: int, the pruning step (1 for the first training batch).

        Returns:
            bool.
        """
        step = int(step)
        in_range = step >= self.begin_step and (
            step <= self.end_step or self.end_step < 0
        )
        # Python's % is a floor modulo, like tf.math.floormod.
        return bool(in_range and (step - self.begin_step) % self.frequency == 0)

    def sparsity(self, step):
        """Target fraction of zeros at training step `step` (a Python float)."""
        raise NotImplementedError

    def reached_by(self, last_step: int, first_step: int = 1):
        """Sparsity of the masks after training steps first_step..last_step.

        Masks change only at the steps where `should_prune` holds, so a run
        that stops before `end_step` (or between two updates of a
        `frequency`) keeps the sparsity of its last update.

        Args:
            last_step: int. The last pruning step the training will run.
            first_step: int. The first one (1 for a new model).

        Returns:
            float or None: the sparsity of the last mask update in that
            range, None when no update falls in it.

        Example:
        >>> PolynomialDecay(0.0, 0.8, 0, 1000).reached_by(135)
        0.0
        """
        end = int(last_step) if self.end_step < 0 else min(last_step, self.end_step)
        start = max(int(first_step), self.begin_step)
        if end < start:
            return None
        last = end - (end - self.begin_step) % self.frequency
        return self.sparsity(last) if last >= start else None

    def end_sparsity(self) -> float:
        """The sparsity the schedule ends at (its target)."""
        return self.sparsity(max(self.end_step, self.begin_step))

    def __call__(self, step):
        return self.should_prune(step), self.sparsity(step)

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@register_keras_serializable(package="kerasdl")
class ConstantSparsity(PruningSchedule):
    """Prune to a constant sparsity every `frequency` steps.

    Args:
        target_sparsity: float in [0, 1), the fraction of weights set to zero.
        begin_step: int >= 0, first step at which pruning may happen.
        end_step: int, last step at which pruning may happen; -1 (default)
            prunes until the end of training.
        frequency: int >= 1, prune every `frequency` steps from `begin_step`.

    Example:
        >>> s = ConstantSparsity(0.5, begin_step=0, frequency=10)
        >>> s.should_prune(10), s.sparsity(10)
        (True, 0.5)
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_steps(allow_negative_1=True)

    def sparsity(self, step):
        del step
        return float(np.float32(self.target_sparsity))

    def get_config(self):
        return {
            "target_sparsity": self.target_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
        }


@register_keras_serializable(package="kerasdl")
class PolynomialDecay(PruningSchedule):
    """Sparsity rising from `initial_sparsity` to `final_sparsity` (Zhu & Gupta 2017).

    `s(step) = final + (initial - final) * (1 - p) ** power` with
    `p = clip((step - begin_step) / (end_step - begin_step), 0, 1)`, computed
    in float32 like TFMOT.

    Args:
        initial_sparsity: float in [0, 1), sparsity at `begin_step`.
        final_sparsity: float in [0, 1), sparsity from `end_step` on.
        begin_step: int >= 0, first pruning step.
        end_step: int >= begin_step, last pruning step.
        power: number, exponent of the decay (3 in Zhu & Gupta).
        frequency: int >= 1, prune every `frequency` steps from `begin_step`.

    Example:
        >>> s = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100)
        >>> round(s.sparsity(50), 4)
        0.7
    """

    def __init__(
        self,
        initial_sparsity,
        final_sparsity,
        begin_step,
        end_step,
        power=3,
        frequency=100,
    ):
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        if isinstance(power, bool) or not isinstance(power, (int, float)):
            raise TypeError(f"`power` must be a number. Received: power={power!r}")
        self.power = power
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_steps(allow_negative_1=False)

    def sparsity(self, step):
        f32 = np.float32
        span = self.end_step - self.begin_step
        delta = f32(int(step) - self.begin_step)
        with np.errstate(divide="ignore", invalid="ignore"):
            # TFMOT divides by zero when begin_step == end_step: +inf clips
            # to 1 (final sparsity), 0/0 (step == begin_step) is NaN there;
            # the limit p = 1 is the only sensible value, so use it.
            ratio = delta / f32(span) if span else f32(1.0 if delta >= 0 else 0.0)
        p = np.minimum(f32(1.0), np.maximum(f32(0.0), ratio))
        decay = np.power(f32(1.0) - p, f32(self.power))
        value = f32(self.initial_sparsity - self.final_sparsity) * decay + f32(
            self.final_sparsity
        )
        return float(f32(value))

    def get_config(self):
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "power": self.power,
            "frequency": self.frequency,
        }
