"""kerasdl._backend: the per-backend pieces, checked by what they compute.

CI runs this file on TensorFlow, JAX and PyTorch (KERAS_BACKEND).
"""

import keras
import numpy as np
import pytest

from kerasdl import _backend


def test_name_and_to_numpy():
    assert _backend.name() == keras.backend.backend()
    assert _backend.is_tensorflow() == (_backend.name() == "tensorflow")
    array = _backend.to_numpy(keras.ops.convert_to_tensor([[1.0, 2.0]]))
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, [[1.0, 2.0]])


# ------------------------------------------------------------ input_gradients
def test_input_gradients_match_the_analytic_gradient():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], "float32")
    w = np.array([2.0, -1.0, 4.0], "float32")
    # d/dx sum(w * x**2) = 2 * w * x
    grads = _backend.input_gradients(lambda v: keras.ops.multiply(w, v**2), x)
    np.testing.assert_allclose(_backend.to_numpy(grads), 2 * w * x, rtol=1e-6)


def test_input_gradients_through_a_keras_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, use_bias=False)])
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    grads = _backend.input_gradients(lambda v: model(v, training=False), x)
    # d/dx sum(x @ W) = the row sums of W, for every sample.
    expected = np.broadcast_to(kernel.sum(axis=1), x.shape)
    np.testing.assert_allclose(_backend.to_numpy(grads), expected, rtol=1e-5)
    # The model's weights are untouched.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.layers[0].kernel), kernel
    )


def test_input_gradients_keep_the_input_structure():
    a = np.array([1.0, 2.0], "float32")
    b = np.array([3.0, -1.0], "float32")
    grads = _backend.input_gradients(lambda v: v[0] * v[1], [a, b])
    assert isinstance(grads, (list, tuple)) and len(grads) == 2
    np.testing.assert_allclose(_backend.to_numpy(grads[0]), b)
    np.testing.assert_allclose(_backend.to_numpy(grads[1]), a)


def test_input_gradients_refuse_integer_inputs():
    with pytest.raises(ValueError, match="floating-point.*int32"):
        _backend.input_gradients(lambda v: v, np.array([1, 2], "int32"))


# ------------------------------------------------------------ apply_gradients_step
def test_apply_gradients_step_takes_one_descent_step():
    w = keras.Variable(0.0)
    frozen = keras.Variable(5.0)
    optimizer = keras.optimizers.SGD(0.1)

    def loss():
        return (w - 3.0) ** 2 + 0.0 * frozen  # d/dw = 2 (w - 3) = -6 at w = 0

    value = _backend.apply_gradients_step(loss, [w], optimizer)
    assert float(_backend.to_numpy(value)) == pytest.approx(9.0)
    assert float(_backend.to_numpy(w)) == pytest.approx(0.6)  # 0 - 0.1 * -6
    assert float(_backend.to_numpy(frozen)) == 5.0  # not in `variables`
    again = _backend.apply_gradients_step(loss, [w], optimizer)
    assert float(_backend.to_numpy(again)) < float(_backend.to_numpy(value))


def test_apply_gradients_step_scales_the_loss_and_skips_overflowing_steps():
    # A LossScaleOptimizer (mixed_float16) gets the gradients of the scaled
    # loss and unscales them; the reported loss is the loss itself. A step
    # whose scaled gradients overflow is skipped and the scale halved.
    w = keras.Variable(0.0)
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1), initial_scale=8.0
    )
    optimizer.build([w])
    value = _backend.apply_gradients_step(lambda: (w - 3.0) ** 2, [w], optimizer)
    assert float(_backend.to_numpy(value)) == pytest.approx(9.0)
    assert float(_backend.to_numpy(w)) == pytest.approx(0.6)  # as unscaled
    huge = _backend.apply_gradients_step(lambda: w * 1e38, [w], optimizer)
    assert float(_backend.to_numpy(huge)) == pytest.approx(0.6e38)
    assert float(_backend.to_numpy(w)) == pytest.approx(0.6)  # skipped
    assert float(_backend.to_numpy(optimizer.dynamic_scale)) == 4.0


class _TwoPlayers(keras.Model):
    """A GAN-shaped model: two parts, two losses, two optimizers.

    Player a fits y = x; player b's loss reads a's output (as a generator's
    loss reads the discriminator), but only b's weights may move with it.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
        self.b = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
        self.opt_a = keras.optimizers.SGD(0.1)
        self.opt_b = keras.optimizers.SGD(0.1)

    def call(self, x):
        return self.a(x) + self.b(x)

    def _step(self, data):
        x, y = data

        def loss_a():
            return keras.ops.mean((self.a(x) - y) ** 2)

        def loss_b():
            return keras.ops.mean((self.b(x) + self.a(x) + y) ** 2)

        la = _backend.apply_gradients_step(
            loss_a, self.a.trainable_variables, self.opt_a
        )
        lb = _backend.apply_gradients_step(
            loss_b, self.b.trainable_variables, self.opt_b
        )
        return {"loss_a": la, "loss_b": lb}

    def train_step(self, *args):
        return _backend.stateful_train_step(self, args, self._step)


def test_apply_gradients_step_in_a_train_step_with_two_optimizers():
    model = _TwoPlayers()
    model.build((None, 1))
    # JAX can update several variable sets only eagerly (see stateful_train_step).
    model.compile(jit_compile=False)
    x = np.ones((4, 1), "float32")
    y = np.ones((4, 1), "float32")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)

    w_a = float(_backend.to_numpy(model.a.kernel)[0, 0])
    w_b = float(_backend.to_numpy(model.b.kernel)[0, 0])
    # a: loss (w_a - 1)^2, gradient -2 at 0: w_a = 0 + 0.1 * 2 = 0.2.
    assert w_a == pytest.approx(0.2, abs=1e-6)
    # b, after a's step: loss (w_b + 0.2 + 1)^2, gradient 2.4: w_b = -0.24.
    assert w_b == pytest.approx(-0.24, abs=1e-6)
    assert history.history["loss_a"][0] == pytest.approx(1.0)
    assert history.history["loss_b"][0] == pytest.approx(1.44, abs=1e-5)
    assert int(_backend.to_numpy(model.opt_a.iterations)) == 1
    assert int(_backend.to_numpy(model.opt_b.iterations)) == 1

    # A second epoch lowers both losses.
    second = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert second.history["loss_a"][0] < history.history["loss_a"][0]
    assert second.history["loss_b"][0] < history.history["loss_b"][0]


def test_stateful_train_step_refuses_jit_on_jax():
    if _backend.name() != _backend.JAX:
        pytest.skip("only JAX traces the train step with state arguments")
    model = _TwoPlayers()
    model.build((None, 1))
    model.compile()  # jit_compile defaults to True on JAX
    x = np.ones((4, 1), "float32")
    with pytest.raises(ValueError, match="jit_compile=False"):
        model.fit(x, x, batch_size=4, epochs=1, verbose=0)


# ------------------------------------------------------------ backend facts
def test_require_tensorflow_names_the_backend():
    if _backend.is_tensorflow():
        _backend.require_tensorflow("never raised {backend}")
        return
    with pytest.raises(RuntimeError, match=f"runs on '{_backend.name()}'"):
        _backend.require_tensorflow("runs on {backend}", RuntimeError)


def test_check_steps_per_execution():
    _backend.check_steps_per_execution(1)
    if _backend.name() == _backend.TORCH:
        with pytest.raises(ValueError, match="steps_per_execution=4"):
            _backend.check_steps_per_execution(4)
    else:
        _backend.check_steps_per_execution(4)


def test_after_new_variables_lets_added_variables_train():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    layer = model.get_layer("d")
    layer.enable_lora(1)
    _backend.after_new_variables(model)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = keras.ops.convert_to_numpy(layer.lora_kernel_a).copy()
    x = np.ones((4, 3), "float32")
    model.fit(x, np.ones((4, 2), "float32"), epochs=1, verbose=0)
    # B starts at zero, so A's first gradient is zero but B must move.
    assert np.any(keras.ops.convert_to_numpy(layer.lora_kernel_b) != 0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.lora_kernel_a), before
    )


# ------------------------------------------------------------ generative steps
def test_differentiable_input_gradients_give_a_gradient_penalty_step():
    """WGAN-GP: a penalty on input gradients, differentiated w.r.t. weights.

    f(x) = w * sum(x**2): df/dx = 2 w x, penalty = mean((df/dx)**2) =
    4 w**2 mean(x**2), d penalty / dw = 8 w mean(x**2).
    """
    w = keras.Variable(np.array([1.5], "float32"))
    x = np.array([[1.0, 2.0]], "float32")
    optimizer = keras.optimizers.SGD(0.01)

    def penalty():
        grads = _backend.input_gradients(
            lambda v: w * keras.ops.sum(v**2, axis=-1), x, differentiable=True
        )
        norm = keras.ops.sqrt(keras.ops.sum(grads**2))
        return keras.ops.mean(grads**2), {"norm": norm}

    loss, aux = _backend.apply_gradients_step(penalty, [w], optimizer, has_aux=True)
    assert float(_backend.to_numpy(loss)) == pytest.approx(4 * 1.5**2 * 2.5)
    # |2 w x| = 3 * sqrt(5), reported but not differentiated.
    assert float(_backend.to_numpy(aux["norm"])) == pytest.approx(3 * 5**0.5, rel=1e-5)
    expected = 1.5 - 0.01 * 8 * 1.5 * 2.5
    assert float(_backend.to_numpy(w)[0]) == pytest.approx(expected, rel=1e-5)
    plain = _backend.input_gradients(lambda v: w * keras.ops.sum(v**2), x)
    np.testing.assert_allclose(_backend.to_numpy(plain), 2 * expected * x, rtol=1e-5)


def test_apply_gradients_step_keeps_state_assigned_during_the_loss():
    layer = keras.layers.BatchNormalization(momentum=0.5)
    layer.build((None, 2))
    x = np.array([[2.0, 4.0], [4.0, 8.0]], "float32")
    optimizer = keras.optimizers.SGD(0.1)

    def loss():
        return keras.ops.mean(layer(x, training=True) ** 2)

    _backend.apply_gradients_step(
        loss, layer.trainable_variables, optimizer, state=layer.non_trainable_variables
    )
    # moving_mean = 0.5 * 0 + 0.5 * batch mean.
    np.testing.assert_allclose(
        _backend.to_numpy(layer.moving_mean), [1.5, 3.0], rtol=1e-5
    )


def test_stateful_jit_compile():
    assert _backend.stateful_jit_compile(False) is False
    if _backend.name() == _backend.JAX:
        assert _backend.stateful_jit_compile("auto") is False
        with pytest.raises(ValueError, match="jit_compile=True"):
            _backend.stateful_jit_compile(True)
    else:
        assert _backend.stateful_jit_compile("auto") == "auto"
        assert _backend.stateful_jit_compile(True) is True


@pytest.mark.one_backend
def test_run_json_worker_runs_under_the_given_backend_and_reports_failures():
    import sys

    script = (
        "import json, os, sys; print('noise'); "
        "print('RESULT ' + json.dumps({'backend': os.environ['KERAS_BACKEND']})); "
        "sys.exit(int(sys.argv[1]))"
    )
    command = [sys.executable, "-c", script]
    done = _backend.run_json_worker([*command, "0"], "jax", "RESULT ", timeout=60)
    assert done == {"backend": "jax"}
    failed = _backend.run_json_worker(
        [sys.executable, "-c", "import sys; sys.exit('no luck')"], "torch", "R ", 60
    )
    assert failed == {"error": "failed: no luck"}
    with pytest.raises(ValueError, match="backend='mxnet'"):
        _backend.run_json_worker(command, "mxnet", "R ", 60)
