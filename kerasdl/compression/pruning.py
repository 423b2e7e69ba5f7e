"""Magnitude pruning for Keras 3 models, in TFMOT's vocabulary, on every backend.

`prune_low_magnitude` wraps the prunable layers of a model (Dense, Conv1D/2D/3D,
their transposes, DepthwiseConv, SeparableConv (pointwise kernel), EinsumDense,
Embedding, or any layer with a `get_prunable_weights()` method) in a
`PruneLowMagnitude` wrapper that holds a `mask`, a `threshold` and a
`pruning_step` variable, like TFMOT's wrapper of the same name. Training needs
the `UpdatePruningStep` callback, which advances the step before each batch,
recomputes the masks when the schedule says so, and writes `kernel * mask`
back into the kernel (TFMOT's order: step, mask update, re-mask, forward).

Backend notes. TFMOT assigns the masked kernel inside the wrapper's `call`;
on JAX the trainer runs `call` statelessly and drops assignments to trainable
variables, and values read from Python at trace time would be frozen into the
compiled step. Here the forward pass reads the kernel through a nested
`StatelessScope` that substitutes `kernel * mask` (mask read from its variable
inside the traced call), with a straight-through gradient to the whole kernel
(as in TFMOT, where the gradient reaches the pruned entries too), and the
callback does every assignment eagerly between batches. The mask and threshold
are computed with NumPy using TFMOT's rules (k-th largest magnitude, ties
kept; block max/avg pooling with TF "SAME" padding; m:n groups along the
input-channel axis), so masks are identical to TFMOT's for identical weights.

Example:
    >>> from kerasdl.compression import pruning
    >>> pruned = pruning.prune_low_magnitude(
    ...     model, pruning_schedule=pruning.PolynomialDecay(0.0, 0.8, 0, 500))
    >>> pruned.compile("adam", "sparse_categorical_crossentropy")
    >>> pruned.fit(x, y, callbacks=[pruning.UpdatePruningStep()])
    >>> small = pruning.strip_pruning(pruned)   # plain layers, exact zeros
    >>> pruning.sparsity(small)["total"]
"""

from __future__ import annotations

import logging

import keras
import numpy as np
from keras import ops
from keras.saving import register_keras_serializable

from kerasdl.compression import _wrapping
from kerasdl.compression.pruning_schedule import (
    ConstantSparsity,
    PolynomialDecay,
    PruningSchedule,
)

__all__ = [
    "ConstantSparsity",
    "PolynomialDecay",
    "PruneLowMagnitude",
    "PruningSchedule",
    "UpdatePruningStep",
    "m_by_n_mask",
    "magnitude_mask",
    "prunable_layer_types",
    "prune_low_magnitude",
    "sparsity",
    "strip_pruning",
]

logger = logging.getLogger(__name__)

_HOOK = "get_prunable_weights"
_SCOPES = ("layer", "global")
_POOLING = ("AVG", "MAX")
_CALLBACK_MESSAGE = (
    "PruneLowMagnitude layer '{name}' is being trained without the "
    "UpdatePruningStep callback; pass "
    "callbacks=[kerasdl.compression.pruning.UpdatePruningStep()] to model.fit "
    "(in a custom loop, call its on_train_begin/on_train_batch_begin)."
)


def prunable_layer_types():
    """Names of the built-in layer types `prune_low_magnitude` can wrap."""
    return _wrapping.type_names(_wrapping._PRUNABLE)


# --------------------------------------------------------------------------
# Mask computation (NumPy, TFMOT's rules)
# --------------------------------------------------------------------------


def _num_kept(size, sparsity):
    # TFMOT: k = max(round(float32(size) * (1 - sparsity)), 1), round half even.
    kept = np.float32(size) * (np.float32(1.0) - np.float32(sparsity))
    return max(int(np.round(kept)), 1)


def _threshold_of(scores, sparsity):
    """k-th largest score, the TFMOT threshold (scores >= threshold are kept)."""
    flat = np.ravel(scores)
    k = _num_kept(flat.size, sparsity)
    return np.partition(flat, flat.size - k)[flat.size - k]


def _same_pool_1d(x, axis, size, kind):
    """TF `nn.pool` with window == stride == size and "SAME" padding, on one axis."""
    n = x.shape[axis]
    out = -(-n // size)
    pad_total = max(out * size - n, 0)
    before = pad_total // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (before, pad_total - before)
    fill = -np.inf if kind == "MAX" else 0.0
    padded = np.pad(x, pad, constant_values=fill)
    shape = list(x.shape)
    shape[axis : axis + 1] = [out, size]
    blocks = padded.reshape(shape)
    if kind == "MAX":
        return blocks.max(axis=axis + 1)
    # Average over the real (unpadded) entries only, like TF's SAME avg pool.
    ones = np.pad(np.ones(x.shape, x.dtype), pad).reshape(shape)
    return blocks.sum(axis=axis + 1) / ones.sum(axis=axis + 1)


def _block_scores(weights, block_size, pooling):
    pooled = np.abs(weights)
    for axis, size in enumerate(block_size):
        if size > 1:
            pooled = _same_pool_1d(pooled, axis, size, pooling)
    return pooled


def _expand_blocks(block_mask, block_size, shape):
    # TFMOT expands with a Kronecker product and slices from the origin.
    mask = block_mask
    for axis, size in enumerate(block_size):
        if size > 1:
            mask = np.repeat(mask, size, axis=axis)
    return mask[: shape[0], : shape[1]]


def _m_by_n_mask(weights, m_by_n):
    """Keep the n - m largest |w| of every n consecutive input channels."""
    zeros, group = m_by_n
    w = np.abs(weights)
    if w.ndim == 2:  # (in, out) -> (out, in)
        rows = w.T
    else:  # (*spatial, in, out) -> (out, *spatial, in) -> (-1, in)
        moved = np.moveaxis(w, -1, 0)
        rows = moved.reshape(-1, w.shape[-2])
    n_rows, n_cols = rows.shape
    padded_cols = -(-n_cols // group) * group
    padded = np.zeros((n_rows, padded_cols), w.dtype)
    padded[:, :n_cols] = rows
    blocks = padded.reshape(-1, group)
    # Stable sort: among equal magnitudes the lower index wins (TF top_k).
    keep = np.argsort(-blocks, axis=1, kind="stable")[:, : group - zeros]
    block_mask = np.zeros_like(blocks)
    np.put_along_axis(block_mask, keep, 1.0, axis=1)
    mask_rows = block_mask.reshape(n_rows, padded_cols)[:, :n_cols]
    if w.ndim == 2:
        return mask_rows.T
    moved_shape = (w.shape[-1], *w.shape[:-1])
    return np.moveaxis(mask_rows.reshape(moved_shape), 0, -1)


def _layer_masks(weights_list, sparsity_value, block_size, pooling, m_by_n):
    """(threshold, mask) for each weight of one layer, per-layer magnitude."""
    results = []
    for w in weights_list:
        if m_by_n:
            # TFMOT returns an arbitrary threshold for m:n masks.
            results.append((np.float32(999.0), _m_by_n_mask(w, m_by_n)))
            continue
        scores = _block_scores(w, block_size, pooling)
        threshold = _threshold_of(scores, sparsity_value)
        mask = (scores >= threshold).astype(w.dtype)
        if tuple(block_size) != (1, 1):
            mask = _expand_blocks(mask, block_size, w.shape)
        results.append((threshold, mask.astype(w.dtype)))
    return results


def _global_masks(weights_list, sparsity_value, block_sizes, poolings):
    """One threshold over all (pooled) weights of a group of layers."""
    scores = [
        _block_scores(w, b, p) for w, b, p in zip(weights_list, block_sizes, poolings)
    ]
    threshold = _threshold_of(
        np.concatenate([s.ravel() for s in scores]), sparsity_value
    )
    results = []
    for w, s, b in zip(weights_list, scores, block_sizes):
        mask = (s >= threshold).astype(w.dtype)
        if tuple(b) != (1, 1):
            mask = _expand_blocks(mask, b, w.shape)
        results.append((threshold, mask.astype(w.dtype)))
    return results


# --------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------


def _to_schedule(value):
    if isinstance(value, PruningSchedule):
        return value
    if isinstance(value, dict):
        restored = keras.saving.deserialize_keras_object(value)
        if isinstance(restored, PruningSchedule):
            return restored
    raise TypeError(
        "`pruning_schedule` must be a PruningSchedule (ConstantSparsity, "
        f"PolynomialDecay). Received: {value!r}"
    )


def _int_pair(value):
    """`value` as a tuple of two Python ints, or None when it is not one."""
    try:
        values = tuple(value)
    except TypeError:
        return None
    is_int = [isinstance(v, int) and not isinstance(v, bool) for v in values]
    return values if len(values) == 2 and all(is_int) else None


def _check_block_size(block_size):
    values = _int_pair(block_size)
    if values is None or min(values) < 1:
        raise ValueError(
            "`block_size` must be a pair of positive ints (block height, block "
            f"width). Received: block_size={block_size!r}"
        )
    return values


def _check_m_by_n(value):
    if value is None:
        return None
    values = _int_pair(value)
    if values is None or not 0 < values[0] < values[1]:
        raise ValueError(
            "`sparsity_m_by_n` must be None or a pair of ints (m, n) with "
            f"0 < m < n, e.g. (2, 4). Received: sparsity_m_by_n={value!r}"
        )
    return values


@register_keras_serializable(package="kerasdl")
class PruneLowMagnitude(_wrapping.CompressionWrapper):
    """Wraps a layer so that its kernel is magnitude-pruned during training.

    The forward pass uses `kernel * mask`; `UpdatePruningStep` advances
    `pruning_step` and recomputes `mask` and `threshold` from the kernel's
    magnitudes on the steps where `pruning_schedule.should_prune(step)`.

    Args:
        layer: keras.layers.Layer, the layer to prune (a prunable type or a
            layer with a `get_prunable_weights()` method).
        pruning_schedule: PruningSchedule, when and how much to prune.
        block_size: (int, int), prune blocks of this shape of rank-2 kernels,
            scored by pooled |w| (TFMOT's block sparsity); (1, 1) prunes
            single weights.
        block_pooling_type: str, "AVG" (TFMOT's default) or "MAX" pooling of
            |w| within a block.
        sparsity_m_by_n: None or (m, n): m zeros in every n consecutive
            weights along the input-channel axis (e.g. (2, 4)); the mask is
            computed once, at step 1, as in TFMOT.
        scope: str, "layer" (threshold per layer) or "global" (one threshold
            over every global-scope kernel of the model).
        **kwargs: base layer arguments (name, ...); the default name is
            "prune_low_magnitude_<layer name>".
    """

    TABLE = _wrapping._PRUNABLE
    HOOK = _HOOK
    VERB, GERUND, KIND = "prune", "pruning", "Prunable"
    NAME_PREFIX = "prune_low_magnitude_"
    MODEL_REFUSAL = "Wrap the layers of model '{name}', not the model itself."

    def __init__(
        self,
        layer,
        pruning_schedule=None,
        block_size=(1, 1),
        block_pooling_type="AVG",
        sparsity_m_by_n=None,
        scope="layer",
        **kwargs,
    ):
        super().__init__(layer, **kwargs)
        self.pruning_schedule = _to_schedule(
            ConstantSparsity(0.5, 0) if pruning_schedule is None else pruning_schedule
        )
        self.block_size = _check_block_size(block_size)
        if block_pooling_type not in _POOLING:
            raise ValueError(
                f"`block_pooling_type` must be one of {_POOLING}. "
                f"Received: block_pooling_type={block_pooling_type!r}"
            )
        self.block_pooling_type = block_pooling_type
        self.sparsity_m_by_n = _check_m_by_n(sparsity_m_by_n)
        if self.sparsity_m_by_n and self.block_size != (1, 1):
            raise ValueError(
                "`sparsity_m_by_n` and `block_size` cannot be combined. Received: "
                f"sparsity_m_by_n={self.sparsity_m_by_n}, block_size={self.block_size}"
            )
        if scope not in _SCOPES:
            raise ValueError(
                f"`scope` must be one of {_SCOPES}. Received: scope={scope!r}"
            )
        if scope == "global" and self.sparsity_m_by_n:
            raise ValueError(
                "`sparsity_m_by_n` is a per-group pattern and cannot use "
                "scope='global'; use scope='layer'."
            )
        self.scope = scope
        # Set by UpdatePruningStep while model.fit runs; read at trace time.
        self._update_step_active = False

    # -- building ----------------------------------------------------------

    def build(self, input_shape=None):
        self.prunable_weights = self._build_layer(input_shape)
        for var in self.prunable_weights:
            rank = len(var.shape)
            if self.block_size != (1, 1) and rank != 2:
                raise ValueError(
                    f"Block sparsity applies to rank-2 kernels only; layer "
                    f"'{self.layer.name}' has a weight of shape {tuple(var.shape)}. "
                    f"Received: block_size={self.block_size}"
                )
            if self.sparsity_m_by_n and rank < 2:
                raise ValueError(
                    f"`sparsity_m_by_n` needs weights of rank >= 2; layer "
                    f"'{self.layer.name}' has a weight of shape {tuple(var.shape)}."
                )
        single = len(self.prunable_weights) == 1
        self.masks, self.thresholds = [], []
        for var in self.prunable_weights:
            base = var.name.split("/")[-1]
            self.masks.append(
                self.add_weight(
                    name="mask" if single else f"mask_{base}",
                    shape=var.shape,
                    initializer="ones",
                    dtype=var.dtype,
                    trainable=False,
                )
            )
            self.thresholds.append(
                self.add_weight(
                    name="threshold" if single else f"threshold_{base}",
                    shape=(),
                    initializer="zeros",
                    dtype=var.dtype,
                    trainable=False,
                )
            )
        self.pruning_step = self.add_weight(
            name="pruning_step",
            shape=(),
            initializer=keras.initializers.Constant(-1),
            dtype="int32",
            trainable=False,
        )
        self.built = True

    # -- forward -----------------------------------------------------------

    def call(self, inputs, training=None):
        if training is True and not self._update_step_active:
            raise ValueError(_CALLBACK_MESSAGE.format(name=self.name))
        substitutes = {}
        for var, mask_var in zip(self.prunable_weights, self.masks):
            w = var.value
            masked = w * ops.cast(mask_var.value, w.dtype)
            # Forward: kernel * mask. Backward: identity to the whole kernel,
            # like TFMOT (whose forward reads the re-masked kernel variable).
            substitutes[id(var)] = w + ops.stop_gradient(masked - w)
        return _wrapping.call_with_substitutes(
            self.layer, substitutes, inputs, training=training
        )

    # -- pruning operations (eager, called by UpdatePruningStep) -----------

    def _numpy_weights(self):
        return [np.asarray(ops.convert_to_numpy(v)) for v in self.prunable_weights]

    def _assign_masks(self, results):
        for (threshold, mask), mask_var, thr_var in zip(
            results, self.masks, self.thresholds
        ):
            mask_var.assign(mask)
            thr_var.assign(np.asarray(threshold, dtype=thr_var.dtype))

    def update_masks(self, step=None):
        """Recompute this layer's masks at `step` (per-layer magnitude).

        Args:
            step: int, the pruning step; defaults to `pruning_step`.
        """
        if step is None:
            step = int(ops.convert_to_numpy(self.pruning_step))
        results = _layer_masks(
            self._numpy_weights(),
            self.pruning_schedule.sparsity(step),
            self.block_size,
            self.block_pooling_type,
            self.sparsity_m_by_n,
        )
        self._assign_masks(results)

    def apply_masks(self):
        """Write `weight * mask` into the wrapped layer's weights (exact zeros)."""
        for var, mask_var in zip(self.prunable_weights, self.masks):
            var.assign(
                ops.stop_gradient(var.value * ops.cast(mask_var.value, var.dtype))
            )

    def _mask_update_due(self, step):
        if self.sparsity_m_by_n:
            return step == 1  # TFMOT computes m:n masks once, at step 1.
        return self.pruning_schedule.should_prune(step)

    def training_callbacks(self):
        """Callbacks that fitting this layer needs: `[UpdatePruningStep()]`.

        Part of the `training_callbacks()` protocol: the Trainer collects
        these from every layer of a model (see
        `kerasdl.training.callbacks.requested_callbacks`), so a pruned model
        trains correctly without the caller naming the callback.
        """
        return [UpdatePruningStep()]

    # -- config ------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pruning_schedule": keras.saving.serialize_keras_object(
                    self.pruning_schedule
                ),
                "block_size": list(self.block_size),
                "block_pooling_type": self.block_pooling_type,
                "sparsity_m_by_n": (
                    list(self.sparsity_m_by_n) if self.sparsity_m_by_n else None
                ),
                "scope": self.scope,
            }
        )
        return config

    @classmethod
    def _config_objects(cls, config):
        config["pruning_schedule"] = _to_schedule(config["pruning_schedule"])
        return config

    def stripped_values(self):
        """`kernel * mask` for each pruned weight, in the weight's dtype."""
        out = []
        for src, mask in zip(self.prunable_weights, self.masks):
            value = ops.convert_to_numpy(src) * ops.convert_to_numpy(mask)
            out.append(value.astype(np.asarray(ops.convert_to_numpy(src)).dtype))
        return out


def _pruning_wrappers(model):
    if isinstance(model, PruneLowMagnitude):
        return [model]
    return [
        layer
        for layer in _wrapping.iter_layers(model)
        if isinstance(layer, PruneLowMagnitude)
    ]


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def prune_low_magnitude(
    to_prune,
    pruning_schedule=None,
    block_size=(1, 1),
    sparsity_m_by_n=None,
    layers=None,
    scope="layer",
    block_pooling_type="AVG",
):
    """Wrap the prunable layers of a model (or one layer) for magnitude pruning.

    Args:
        to_prune: a functional or Sequential keras.Model, or a single layer.
            A model is cloned: the original keeps its weights untouched; the
            clone's layers hold copies of them.
        pruning_schedule: PruningSchedule; default `ConstantSparsity(0.5, 0)`
            (TFMOT's default).
        block_size: (int, int), block shape for block sparsity of rank-2
            kernels; (1, 1) prunes individual weights.
        sparsity_m_by_n: None or (m, n), e.g. (2, 4): m zeros in each group of
            n consecutive input channels (structured N:M sparsity).
        layers: None (every prunable layer) or a list of layer names, type
            names ("Dense") and/or layer classes. Naming a layer that cannot
            be pruned (e.g. BatchNormalization) raises ValueError.
        scope: "layer" (each layer pruned to the target sparsity) or "global"
            (one magnitude threshold over all selected kernels).
        block_pooling_type: "AVG" (TFMOT's default) or "MAX": how |w| is
            pooled over a block.

    Returns:
        The pruned model (with `PruneLowMagnitude` wrappers), or the wrapped
        layer.

    Raises:
        ValueError: unknown/unprunable layers in `layers`, invalid arguments.
        TypeError: `to_prune` is not a layer or model.

    Example:
        >>> pruned = prune_low_magnitude(model, ConstantSparsity(0.8, 0, frequency=50),
        ...                              layers=["dense_1"], scope="global")
    """
    params = {
        "pruning_schedule": _to_schedule(
            ConstantSparsity(0.5, 0) if pruning_schedule is None else pruning_schedule
        ),
        "block_size": block_size,
        "block_pooling_type": block_pooling_type,
        "sparsity_m_by_n": sparsity_m_by_n,
        "scope": scope,
    }
    # Validate once, up front, before cloning anything.
    _check_block_size(block_size)
    _check_m_by_n(sparsity_m_by_n)
    if scope not in _SCOPES:
        raise ValueError(f"`scope` must be one of {_SCOPES}. Received: scope={scope!r}")

    wrapped = PruneLowMagnitude.wrap(to_prune, layers, params, "to_prune")
    if isinstance(to_prune, keras.Model):
        _check_global_groups(wrapped)
    return wrapped


def _check_global_groups(model):
    schedules = {
        repr(w.pruning_schedule)
        for w in _pruning_wrappers(model)
        if w.scope == "global"
    }
    if len(schedules) > 1:
        raise ValueError(
            "All scope='global' pruning wrappers of a model share one threshold "
            f"and must use the same schedule. Found: {sorted(schedules)}"
        )


class UpdatePruningStep(keras.callbacks.Callback):
    """Advance the pruning step and update masks; required to fit a pruned model.

    Before each training batch: step += 1, masks recomputed when the schedule
    says so (all scope="global" layers together), then `kernel * mask` is
    written back into each kernel (TFMOT's order). At the end of each epoch
    and of training the kernels are re-masked, so the stored weights hold
    exact zeros. Needs `steps_per_execution=1` (one step per batch).

    In a custom training loop, call `set_model(model)`, `on_train_begin()`,
    then `on_train_batch_begin(i)` before each step and `on_train_end()`.

    Example:
        >>> pruned.fit(x, y, epochs=2, callbacks=[UpdatePruningStep()])
    """

    def __init__(self):
        super().__init__()
        self.prunable_layers = []
        self._steps = []

    def on_train_begin(self, logs=None):
        model = self.model  # on JAX this syncs the trainer's state
        self.prunable_layers = _pruning_wrappers(model)
        self._steps = []
        if not self.prunable_layers:
            logger.warning(
                "UpdatePruningStep: the model has no PruneLowMagnitude layer."
            )
            return
        steps_per_execution = getattr(model, "steps_per_execution", 1) or 1
        if steps_per_execution != 1:
            raise ValueError(
                "UpdatePruningStep advances the pruning step once per batch and "
                "needs steps_per_execution=1 in compile(). Received: "
                f"steps_per_execution={steps_per_execution}"
            )
        for layer in self.prunable_layers:
            step = int(ops.convert_to_numpy(layer.pruning_step))
            if step < 0:
                # New model: step 0. A restored model keeps its step.
                step = 0
                layer.pruning_step.assign(step)
            self._steps.append(step)
            layer._update_step_active = True
        self._check_schedules()

    def _check_schedules(self):
        """Warns when this fit ends before a schedule reaches its sparsity."""
        params = getattr(self, "params", None) or {}
        epochs, steps = params.get("epochs"), params.get("steps")
        if not epochs or not steps:
            return  # a dataset of unknown length: the plan is unknown
        planned = int(epochs) * int(steps)
        short = {}  # one warning per schedule, naming its layers
        for layer, step in zip(self.prunable_layers, self._steps, strict=True):
            if layer.sparsity_m_by_n:
                continue
            schedule = layer.pruning_schedule
            target = schedule.end_sparsity()
            reached = schedule.reached_by(step + planned, step + 1)
            if reached is None or reached < target - 1e-6:
                key = (repr(schedule), step, reached, target)
                short.setdefault(key, []).append(layer.name)
        for (schedule, step, reached, target), names in short.items():
            logger.warning(
                "Pruning stops short: this fit runs %d epochs x %d steps "
                "(pruning steps %d..%d), so %s reaches sparsity %s, not its "
                "target %.3g, in layers %s. Set end_step <= %d with (end_step "
                "- begin_step) a multiple of frequency, or train longer.",
                epochs,
                steps,
                step + 1,
                step + planned,
                schedule,
                "none" if reached is None else f"{reached:.3g}",
                target,
                ", ".join(names),
                step + planned,
            )

    def on_train_batch_begin(self, batch, logs=None):
        if not self.prunable_layers:
            return
        _ = self.model  # JAX: make the variables hold the current state
        global_due, global_step = [], None
        for i, layer in enumerate(self.prunable_layers):
            self._steps[i] += 1
            step = self._steps[i]
            layer.pruning_step.assign(step)
            if not layer._mask_update_due(step):
                continue
            if layer.scope == "global":
                global_due.append(layer)
                global_step = step
            else:
                layer.update_masks(step)
        if global_due:
            _update_global_masks(global_due, global_step)
        for layer in self.prunable_layers:
            layer.apply_masks()

    def on_epoch_end(self, epoch, logs=None):
        self._remask()

    def on_train_end(self, logs=None):
        self._remask()
        for layer in self.prunable_layers:
            layer._update_step_active = False
        # TF and JAX trace the train step once per compiled function; dropping
        # it makes a later fit() retrace, so fitting without this callback is
        # detected again instead of silently reusing a stale trace.
        model = self.model
        if model is not None:
            model.train_function = None

    def _remask(self):
        if not self.prunable_layers:
            return
        _ = self.model
        for layer in self.prunable_layers:
            layer.apply_masks()


def _update_global_masks(layers, step):
    weights, owners = [], []
    for layer in layers:
        for w in layer._numpy_weights():
            weights.append(w)
            owners.append(layer)
    results = _global_masks(
        weights,
        layers[0].pruning_schedule.sparsity(step),
        [o.block_size for o in owners],
        [o.block_pooling_type for o in owners],
    )
    start = 0
    for layer in layers:
        count = len(layer.prunable_weights)
        layer._assign_masks(results[start : start + count])
        start += count


def strip_pruning(model):
    """Remove the pruning wrappers: plain layers whose kernels hold exact zeros.

    Args:
        model: a keras.Model (functional or Sequential) with
            `PruneLowMagnitude` layers, or a single wrapper.

    Returns:
        A new model (or layer) with the original layer types and names;
        each pruned kernel equals `kernel * mask`.
    """
    return PruneLowMagnitude.strip(model)


def sparsity(model):
    """Fraction of zeros in the (effective) kernel of every prunable layer.

    Args:
        model: a keras.Model, pruned or stripped (or a single layer).

    Returns:
        dict {layer name: fraction of zeros} keyed by the wrapped layer's
        own name, plus "total" (zeros / size over all listed kernels).
    """
    layers = (
        [model]
        if not isinstance(model, keras.Model)
        else list(_wrapping.iter_layers(model))
    )
    report, zeros, size = {}, 0, 0
    for layer in layers:
        if isinstance(layer, PruneLowMagnitude):
            if not layer.built:
                continue
            arrays = [
                ops.convert_to_numpy(w) * ops.convert_to_numpy(m)
                for w, m in zip(layer.prunable_weights, layer.masks)
            ]
            name = layer.layer.name
        else:
            names = _wrapping.weight_names(layer, _wrapping._PRUNABLE, _HOOK)
            if names is None or not layer.built or isinstance(layer, keras.Model):
                continue
            arrays = [
                ops.convert_to_numpy(w)
                for w in _wrapping.resolve_weights(layer, names, _HOOK)
            ]
            name = layer.name
        layer_zeros = sum(int(np.sum(a == 0)) for a in arrays)
        layer_size = sum(int(a.size) for a in arrays)
        report[name] = layer_zeros / layer_size if layer_size else 0.0
        zeros += layer_zeros
        size += layer_size
    report["total"] = zeros / size if size else 0.0
    return report


# Kept for readers of TFMOT code: the public per-weight mask function.
def magnitude_mask(
    weights, target_sparsity, block_size=(1, 1), block_pooling_type="AVG"
):
    """TFMOT's magnitude mask of one weight array (NumPy in, NumPy out).

    Args:
        weights: array-like, the weights.
        target_sparsity: float in [0, 1).
        block_size: (int, int) block shape (rank-2 weights only unless (1, 1)).
        block_pooling_type: "AVG" or "MAX".

    Returns:
        (threshold, mask) with mask of the same shape as `weights` (1 keeps).
    """
    w = np.asarray(weights)
    block_size = _check_block_size(block_size)
    if block_size != (1, 1) and w.ndim != 2:
        raise ValueError(
            f"Block sparsity applies to rank-2 weights only. Received shape {w.shape}"
        )
    if block_pooling_type not in _POOLING:
        raise ValueError(
            f"`block_pooling_type` must be one of {_POOLING}. "
            f"Received: {block_pooling_type!r}"
        )
    return _layer_masks([w], target_sparsity, block_size, block_pooling_type, None)[0]


def m_by_n_mask(weights, sparsity_m_by_n=(2, 4)):
    """TFMOT's m:n mask of one weight array (groups along the input-channel axis).

    Args:
        weights: array-like of rank >= 2, (..., in, out).
        sparsity_m_by_n: (m, n), m zeros in every n consecutive inputs.

    Returns:
        The 0/1 mask, same shape as `weights`.
    """
    w = np.asarray(weights)
    if w.ndim < 2:
        raise ValueError(
            f"m:n sparsity needs rank >= 2 weights. Received shape {w.shape}"
        )
    return _m_by_n_mask(w, _check_m_by_n(sparsity_m_by_n))
