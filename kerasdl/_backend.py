"""Everything in kerasdl that differs per Keras backend, in one place.

Callers ask for what they need (`to_numpy`, `input_gradients`,
`apply_gradients_step`, ...) and never test the backend name themselves; a
scan test (tests/test_keras_compat.py) fails when a module other than this
one compares the backend name. Each function works on TensorFlow, JAX and
PyTorch, and tests/test_backend.py runs it on all three.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import weakref

import keras
import numpy as np

__all__ = [
    "after_new_variables",
    "apply_gradients_step",
    "check_steps_per_execution",
    "configure_cpu_devices",
    "float64_scope",
    "inference_output",
    "inference_outputs",
    "input_gradients",
    "is_tensorflow",
    "jit_per_model",
    "name",
    "require_tensorflow",
    "run_json_worker",
    "stateful_jit_compile",
    "stateful_test_step",
    "stateful_train_step",
    "to_numpy",
]

TENSORFLOW = "tensorflow"
JAX = "jax"
TORCH = "torch"


def name() -> str:
    """The active Keras backend's name, for reports and error messages.

    Do not branch on it outside this module: add a function here instead.
    """
    return keras.backend.backend()


def to_numpy(x) -> np.ndarray:
    """A backend tensor (or array-like) as a NumPy array on the host."""
    return np.asarray(keras.ops.convert_to_numpy(x))


def inference_output(model, inputs) -> np.ndarray:
    """Inference output of a single-output model as NumPy, by the fastest path.

    Used by iterative samplers (diffusion), which call one network hundreds
    of times with the same input shapes.

    Args:
        model: keras.Model with one output.
        inputs: its inputs (array or list of arrays).

    Returns:
        np.ndarray.
    """
    if keras.backend.backend() == TORCH:
        import torch

        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(inputs, training=False))
    # predict_on_batch compiles once per input shape (jit / tf.function).
    return np.asarray(model.predict_on_batch(inputs))


def inference_outputs(model, inputs) -> list[np.ndarray]:
    """Inference outputs of a multi-output model as NumPy, by the fastest path.

    Used by step-by-step decoders, which call a small model hundreds of
    times per sequence.

    Args:
        model: keras.Model with a list of outputs.
        inputs: its inputs (array or list of arrays).

    Returns:
        list of np.ndarray, one per output.
    """
    if keras.backend.backend() == TORCH:
        # predict_on_batch adds ~20 ms per call on torch; a no-grad call does not.
        import torch

        with torch.no_grad():
            outputs = model(inputs, training=False)
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    # Compiled once per input shape (jit on JAX, tf.function on TensorFlow):
    # 10-50x faster per step than eager calls.
    return [np.asarray(o) for o in model.predict_on_batch(inputs)]


# Compiled functions per model (weakly held: they go with the model).
_JIT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def jit_per_model(model, key: str, make_fn):
    """Returns `make_fn()`, jit-compiled and cached per model on JAX.

    JAX runs eager ops one compiled kernel at a time, which makes an
    op-by-op decoding loop very slow; jit-compiling the forward step fixes
    that. The functions close over the model's layers (weights enter as
    constants) and take fixed shapes, so one compilation serves every
    decoding step. TensorFlow and PyTorch run the step eagerly: for the
    small models kerasdl generates from, tracing a tf.function costs more
    than it saves.

    Args:
        model: object the compiled function belongs to (the cache key owner).
        key: str. Which function of that model.
        make_fn: callable returning the function to compile.

    Returns:
        callable.
    """
    if keras.backend.backend() != JAX:
        return make_fn()
    import jax

    cache = _JIT_CACHE.setdefault(model, {})
    if key not in cache:
        cache[key] = jax.jit(make_fn())
    return cache[key]


# ------------------------------------------------------------ gradients
def _float_tensor(x, what: str):
    tensor = keras.ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(tensor.dtype)):
        raise ValueError(
            f"{what} must hold floating-point values to be differentiated; "
            f"received dtype {keras.backend.standardize_dtype(tensor.dtype)}."
        )
    return tensor


def input_gradients(fn, x, differentiable: bool = False):
    """Gradient of `sum(fn(x))` with respect to the inputs `x`.

    The building block of saliency maps, Grad-CAM, integrated gradients and
    adversarial examples: `fn` is any function of keras.ops (a model call,
    a class score, a loss); its output is summed to a scalar first.

    With `differentiable=True` the gradients stay connected to the
    variables `fn` reads, so a loss built from them (the WGAN-GP gradient
    penalty) can itself be differentiated inside `apply_gradients_step`.

    Args:
        fn: callable. Takes `x` (same structure) and returns a tensor.
        x: a float tensor or array, or a list/tuple/dict of them.
        differentiable: bool. Keep the graph of the gradients (second-order
            derivatives); costs memory, so off by default.

    Returns:
        Gradients with the structure and shapes of `x`, as backend tensors.

    Raises:
        ValueError: if an input is not floating point.

    Example:
    >>> g = input_gradients(lambda v: keras.ops.sum(v**2), np.ones((2, 3)))
    >>> to_numpy(g)  # 2 * x
    """
    xs = keras.tree.map_structure(lambda v: _float_tensor(v, "input_gradients x"), x)
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(xs)
            total = keras.ops.sum(fn(xs))
        return tape.gradient(total, xs)
    if backend == JAX:
        import jax

        return jax.grad(lambda v: keras.ops.sum(fn(v)))(xs)
    if backend == TORCH:
        import torch

        xs = keras.tree.map_structure(
            lambda v: v.detach().clone().requires_grad_(True), xs
        )
        with torch.enable_grad():
            total = keras.ops.sum(fn(xs))
            grads = torch.autograd.grad(
                total,
                keras.tree.flatten(xs),
                allow_unused=True,
                create_graph=differentiable,
            )
        grads = [
            torch.zeros_like(v) if g is None else (g if differentiable else g.detach())
            for v, g in zip(keras.tree.flatten(xs), grads)
        ]
        return keras.tree.pack_sequence_as(xs, grads)
    raise NotImplementedError(f"input_gradients does not support backend {backend!r}.")


@contextlib.contextmanager
def float64_scope():
    """Lets float64 arrays stay float64 inside the block, on every backend.

    TensorFlow and PyTorch keep a float64 NumPy array in float64. JAX
    truncates it to float32 unless 64-bit mode is on (`jax_enable_x64`);
    the block turns it on for its duration only, so a gradient check can
    compare hand-written and automatic gradients to 1e-10 without changing
    the process's default precision.

    Example:
    >>> with float64_scope():
    ...     g = input_gradients(lambda v: keras.ops.sum(v**3), np.ones(3))
    """
    if name() != JAX:
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield


def apply_gradients_step(loss_fn, variables, optimizer, state=(), has_aux=False):
    """Computes `loss_fn()` and applies its gradients to `variables`.

    One optimizer step on one set of variables, the same on every backend,
    so a model with several optimizers (a GAN's generator and
    discriminator, a distillation student) writes its `train_step` once:

        def step(self, data):
            d_loss = _backend.apply_gradients_step(
                lambda: self.d_loss(data), self.disc.trainable_variables, self.d_opt)
            g_loss = _backend.apply_gradients_step(
                lambda: self.g_loss(data), self.gen.trainable_variables, self.g_opt)
            return {"d_loss": d_loss, "g_loss": g_loss}

        def train_step(self, *args):
            return _backend.stateful_train_step(self, args, self.step)

    The gradients are those of `optimizer.scale_loss(loss)`, which the
    optimizer unscales when it applies them: dynamic loss scaling for a
    `keras.optimizers.LossScaleOptimizer` (mixed_float16), the optimizer's
    `loss_scale_factor` otherwise.

    Variables are updated in place (on JAX too: see `stateful_train_step`).
    Gradients reach only `variables`; other variables that `loss_fn` reads
    stay as they are, except those in `state`: non-trainable variables that
    `loss_fn`'s layers assign while it runs (BatchNormalization's moving
    statistics, a spectral norm's power-iteration vector) keep the values
    assigned. TensorFlow and PyTorch assign in place anyway; JAX computes
    the loss in a stateless scope, whose assignments are written back here.

    Args:
        loss_fn: callable with no arguments returning a scalar loss tensor.
        variables: list of keras.Variable to differentiate and update.
        optimizer: keras.optimizers.Optimizer that applies the gradients.
        state: list of keras.Variable (non-trainable) whose assignments
            during `loss_fn` are kept, e.g. `model.non_trainable_variables`.
        has_aux: bool. `loss_fn` returns `(loss, aux)`, where aux is a
            structure of tensors to report (not differentiated), e.g. a
            gradient penalty's value.

    Returns:
        The loss (a scalar backend tensor), computed before the update;
        `(loss, aux)` when `has_aux`.
    """
    variables = list(variables)
    if not has_aux:
        plain_fn = loss_fn

        def loss_fn():
            return plain_fn(), ()

    reported_fn = loss_fn

    def loss_fn():
        # Differentiates the scaled loss; reports the loss itself.
        loss, aux = reported_fn()
        return optimizer.scale_loss(loss), (loss, aux)

    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        grads = tape.gradient(loss, variables)
    elif backend == JAX:
        import jax

        state = [v for v in state if all(v is not u for u in variables)]

        def loss_of(values):
            mapping = list(zip(variables, values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, aux = loss_fn()
                updated = [scope.get_current_value(v) for v in state]
            # Unassigned state reads as None: keep the variable's value.
            updated = [v.value if u is None else u for v, u in zip(state, updated)]
            return loss, (updated, aux)

        (loss, (updated, aux)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            [v.value for v in variables]
        )
        for variable, value in zip(state, updated):
            variable.assign(value)
    elif backend == TORCH:
        import torch

        with torch.enable_grad():
            loss, aux = loss_fn()
            grads = torch.autograd.grad(
                loss, [v.value for v in variables], allow_unused=True
            )
        loss = loss.detach()
        aux = keras.tree.map_structure(lambda t: t.detach(), aux)
    else:
        raise NotImplementedError(
            f"apply_gradients_step does not support backend {backend!r}."
        )
    loss, aux = aux  # the unscaled loss, and the caller's aux
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if pairs:
        with _eager_update_scope(backend, optimizer):
            optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
    return (loss, aux) if has_aux else loss


def _eager_update_scope(backend, optimizer):
    """Where an optimizer applies gradients in place, outside Keras' step."""
    if backend == TORCH:
        import torch

        return torch.no_grad()
    if backend == JAX and isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        import jax

        # A LossScaleOptimizer skips or applies a step with `ops.cond`
        # (jax.lax.cond), whose branches assign variables; traced, they
        # would leak tracers. Without jit, lax.cond on a concrete predicate
        # runs the chosen branch as plain Python.
        return jax.disable_jit()
    return contextlib.nullcontext()


def stateful_train_step(model, args, step):
    """Runs `step(data)`, which updates variables in place, as `train_step`.

    TensorFlow and PyTorch call `train_step(data)` and let it update
    variables in place. JAX calls `train_step(state, data)` with the
    model's state as arrays and expects the new state back: here the state
    is written into the variables, `step` runs eagerly, and the variables
    are read back. On JAX the model must be compiled with
    `jit_compile=False` (JAX cannot update variables inside a traced
    function).

    Args:
        model: keras.Model whose `train_step` this is.
        args: tuple. The arguments Keras passed to `train_step`.
        step: callable(data) -> dict of logs.

    Returns:
        What Keras expects from `train_step` on the active backend.

    Raises:
        ValueError: on JAX, when the step is being jit-compiled.
    """
    return _stateful_step(model, args, step, with_optimizer=True)


def stateful_test_step(model, args, step):
    """Runs `step(data)` as `test_step` of a model that trains with
    `stateful_train_step`: the same calling convention (on JAX the state is
    trainable, non-trainable and metrics variables: no optimizer).

    Args:
        model: keras.Model whose `test_step` this is.
        args: tuple. The arguments Keras passed to `test_step`.
        step: callable(data) -> dict of logs (updates only metrics and
            state such as a noise generator's seed).

    Returns:
        What Keras expects from `test_step` on the active backend.
    """
    return _stateful_step(model, args, step, with_optimizer=False)


def _stateful_step(model, args, step, with_optimizer):
    if name() != JAX:
        (data,) = args
        return step(data)
    import jax

    # Keras' JAX state: trainable, non-trainable, (optimizer,) metrics.
    groups = [model.trainable_variables, model.non_trainable_variables]
    if with_optimizer:
        optimizer = model.optimizer
        groups.append(optimizer.variables if optimizer is not None else [])
    groups.append(model.metrics_variables)
    state, data = args
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(state)):
        raise ValueError(
            f"Model {model.name!r} updates several variable sets in its train "
            "step, which JAX can only do eagerly; compile it with "
            "jit_compile=False on the JAX backend."
        )
    for variables, values in zip(groups, state):
        for variable, value in zip(variables, values):
            variable.assign(value)
    logs = step(data)
    new_state = tuple(
        [v.value for v in variables] for variables in groups[: len(state)]
    )
    return logs, new_state


def stateful_jit_compile(jit_compile="auto"):
    """The `jit_compile` value for a model whose train step uses
    `stateful_train_step` (several optimizers, variables updated in place).

    JAX can run such a step only eagerly, so "auto" becomes False there;
    TensorFlow and PyTorch compile it as usual.

    Args:
        jit_compile: bool or "auto". What the caller asked for.

    Returns:
        bool or "auto": the value to pass to `Model.compile`.

    Raises:
        ValueError: for `jit_compile=True` on JAX.
    """
    if name() != JAX:
        return jit_compile
    if jit_compile is True:
        raise ValueError(
            "Invalid jit_compile=True: expected False or 'auto' on the jax "
            "backend; a train step that updates several variable sets in place "
            "runs eagerly there."
        )
    return False


# ------------------------------------------------------------ backend facts
def is_tensorflow() -> bool:
    """True when the TensorFlow backend is active (export runs in-process)."""
    return name() == TENSORFLOW


def require_tensorflow(message: str, error: type[Exception] = ValueError) -> None:
    """Raises `error(message)` unless the TensorFlow backend is active.

    Args:
        message: str. The error text; "{backend}" is replaced by the active
            backend's name in quotes.
        error: the exception class to raise.
    """
    if name() != TENSORFLOW:
        raise error(message.replace("{backend}", repr(name())))


def check_steps_per_execution(steps_per_execution: int) -> None:
    """Raises when the backend cannot run several steps per call.

    Keras' torch trainer runs one step per call; TensorFlow and JAX batch
    `steps_per_execution` steps into one compiled call.
    """
    if name() == TORCH and steps_per_execution != 1:
        raise ValueError(
            f"steps_per_execution={steps_per_execution} is not supported "
            "on the torch backend (Keras runs one step per call there); "
            "accepted: 1."
        )


def after_new_variables(model) -> None:
    """Lets the backend see variables added to a built model (LoRA, quantize).

    The torch backend registers each layer's variables as module parameters
    when the layer is built; variables added later must be re-tracked, as
    `Model.quantize` does. TensorFlow and JAX read variables at trace time.
    """
    if name() == TORCH:
        from kerasdl import _keras_compat

        _keras_compat.retrack_torch_variables(model)


#: Keras backend -> the package whose absence makes it "not installed".
BACKEND_PACKAGES = {TENSORFLOW: "tensorflow", JAX: "jax", TORCH: "torch"}


def run_json_worker(
    command: list, backend: str, marker: str, timeout: float, pythonpath=None
) -> dict:
    """Runs `command` in a fresh process under `backend`; returns its JSON line.

    A process picks its Keras backend once (KERAS_BACKEND), so comparing
    backends side by side takes one process each. The worker prints one
    line `marker + json.dumps(result)` on stdout; everything else it
    prints is ignored.

    Args:
        command: list of str. The worker's command line, e.g.
            [sys.executable, "-m", "package.module", "--worker"].
        backend: str. "tensorflow", "jax" or "torch".
        marker: str. Prefix of the result line.
        timeout: float. Seconds before the worker is stopped.
        pythonpath: str or None. Prepended to PYTHONPATH.

    Returns:
        dict: the worker's result, or {"error": reason} when it timed out
        or failed (the last line of its stderr, or its exit code).

    Raises:
        ValueError: for an unknown backend.
    """
    if backend not in BACKEND_PACKAGES:
        raise ValueError(
            f"Invalid backend={backend!r}; accepted: {sorted(BACKEND_PACKAGES)}."
        )
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # torch's busy-waiting OpenMP threads are much slower on shared cores.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p
        )
    try:
        done = subprocess.run(
            [str(c) for c in command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    stderr = [line for line in done.stderr.splitlines() if line.strip()]
    return {
        "error": "failed: " + (stderr[-1] if stderr else f"exit code {done.returncode}")
    }


def configure_cpu_devices(count: int) -> None:
    """Makes sure the backend sees at least `count` CPU devices.

    TensorFlow: splits the host CPU into logical devices; JAX: sets
    `jax_num_cpu_devices`. Works before the runtime starts; afterwards it
    succeeds only when enough devices already exist.

    Raises:
        ValueError: if the runtime already started with fewer devices, or on
            a backend without CPU device splitting (torch).
    """
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
            return
        except RuntimeError:  # the runtime has started
            found = len(tf.config.list_logical_devices("CPU"))
        advice = (
            "Create them before TensorFlow runs anything (first thing in a "
            f"fresh process): kerasdl.training.distribution.configure_cpu_devices({count})."
        )
    elif backend == JAX:
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", count)
            return
        except RuntimeError:  # the runtime has started
            found = len(jax.devices("cpu"))
        advice = (
            f"Set XLA_FLAGS=--xla_force_host_platform_device_count={count} "
            "before starting Python, or call configure_cpu_devices before any "
            "JAX operation."
        )
    else:
        raise ValueError(
            "configure_cpu_devices supports the tensorflow and jax backends; "
            f"received backend {backend!r}."
        )
    if found < count:
        raise ValueError(
            f"Cannot make {count} CPU devices: {backend} is already initialized "
            f"with {found}. {advice}"
        )
