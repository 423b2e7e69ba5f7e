"""Tests of the optimizer factory (kerasdl/training/optimizers.py).

Each option is checked by its effect on a variable after `apply_gradients`,
against updates computed by hand.
"""

import copy
import math

import keras
import numpy as np
import pytest

from kerasdl.training.optimizers import OPTIMIZER_NAMES, make_optimizer
from kerasdl.training.schedules import StepDecay


def _np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


def _run(optimizer, initial, gradients):
    """Applies each gradient in turn; returns the values after every step.

    `initial` is a list of arrays (one per variable); each item of
    `gradients` is a list of arrays, one per variable.
    """
    variables = [keras.Variable(np.asarray(v, "float32")) for v in initial]
    history = []
    for grads in gradients:
        tensors = [keras.ops.convert_to_tensor(np.asarray(g, "float32")) for g in grads]
        optimizer.apply_gradients(zip(tensors, variables, strict=True))
        history.append([_np(v).copy() for v in variables])
    return history


def test_every_name_builds_its_keras_class_with_the_config():
    classes = {
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamax": keras.optimizers.Adamax,
        "adamw": keras.optimizers.AdamW,
        "lamb": keras.optimizers.Lamb,
        "lion": keras.optimizers.Lion,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    assert set(OPTIMIZER_NAMES) == set(classes)
    for name, cls in classes.items():
        # isinstance: on torch, Keras returns backend-specific subclasses.
        assert isinstance(make_optimizer(name), cls)
        optimizer = make_optimizer({"name": name.upper(), "learning_rate": 0.25})
        assert isinstance(optimizer, cls)
        assert optimizer.get_config()["learning_rate"] == 0.25
    sgd = make_optimizer({"name": "sgd", "momentum": 0.8, "nesterov": True})
    assert sgd.momentum == 0.8 and sgd.nesterov is True


def test_first_step_of_each_optimizer_matches_its_update_rule():
    # w = 1, g = 2, lr = 0.1.
    expected = {
        "sgd": 1 - 0.1 * 2,
        "adam": 0.9,  # lr * m_hat / sqrt(v_hat) = lr * sign(g) on step 1
        "adamax": 0.9,
        "adamw": 1 * (1 - 0.1 * 0.004) - 0.1,  # Keras' default weight decay
        "lamb": 0.9,  # trust ratio |w| / |sign(g)| = 1
        "lion": 0.9,  # lr * sign(g)
        "rmsprop": 1 - 0.1 * 2 / math.sqrt(0.1 * 4),
        "adagrad": 1 - 0.1 * 2 / math.sqrt(0.1 + 4),  # accumulator starts at 0.1
    }
    for name, value in expected.items():
        optimizer = make_optimizer({"name": name, "learning_rate": 0.1})
        [[w]] = _run(optimizer, [[1.0]], [[[2.0]]])
        np.testing.assert_allclose(w, [value], rtol=2e-6, err_msg=name)


def test_lamb_scales_the_step_by_the_trust_ratio():
    optimizer = make_optimizer({"name": "lamb", "learning_rate": 0.01})
    [[w]] = _run(optimizer, [[3.0, 4.0]], [[[1.0, 1.0]]])
    # r = sign(g) = [1, 1]; ratio = |w| / |r| = 5 / sqrt(2).
    np.testing.assert_allclose(
        w, np.array([3.0, 4.0]) - 0.01 * 5 / math.sqrt(2), rtol=1e-6
    )


def test_sgd_momentum_and_nesterov_updates():
    grads = [[[1.0]], [[2.0]]]
    plain = make_optimizer({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    nesterov = make_optimizer(
        {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}
    )
    # Velocity v1 = -0.1, v2 = 0.9 * v1 - 0.1 * 2 = -0.29.
    # Plain: w += v.  Nesterov: w += 0.9 * v - lr * g.
    plain_steps = [h[0][0] for h in _run(plain, [[1.0]], grads)]
    nesterov_steps = [h[0][0] for h in _run(nesterov, [[1.0]], grads)]
    np.testing.assert_allclose(plain_steps, [0.9, 0.61], rtol=1e-6)
    np.testing.assert_allclose(nesterov_steps, [0.81, 0.349], rtol=1e-6)


def test_clipping_bounds_the_update():
    huge = [[[3e6, 4e6]]]
    clipnorm = make_optimizer({"name": "sgd", "learning_rate": 1.0, "clipnorm": 1.0})
    [[w]] = _run(clipnorm, [[0.0, 0.0]], huge)
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-6)

    clipvalue = make_optimizer({"name": "sgd", "learning_rate": 1.0, "clipvalue": 0.5})
    [[w]] = _run(clipvalue, [[0.0, 0.0]], [[[3e6, -0.2]]])
    np.testing.assert_allclose(w, [-0.5, 0.2], rtol=1e-6)

    # Two variables with gradients 3e6 and 4e6: the global norm is clipped
    # to 1 jointly, the per-variable norm to 1 each.
    two = [[[3e6], [4e6]]]
    global_clip = make_optimizer(
        {"name": "sgd", "learning_rate": 1.0, "global_clipnorm": 1.0}
    )
    [[a, b]] = _run(global_clip, [[0.0], [0.0]], two)
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8], rtol=1e-6)
    [[a, b]] = _run(
        make_optimizer({"name": "sgd", "learning_rate": 1.0, "clipnorm": 1.0}),
        [[0.0], [0.0]],
        two,
    )
    np.testing.assert_allclose([a[0], b[0]], [-1.0, -1.0], rtol=1e-6)


def test_gradient_accumulation_applies_the_mean_every_nth_step():
    optimizer = make_optimizer(
        {"name": "sgd", "learning_rate": 1.0, "gradient_accumulation_steps": 3}
    )
    history = _run(optimizer, [[10.0]], [[[1.0]], [[2.0]], [[6.0]], [[3.0]]])
    values = [h[0][0] for h in history]
    # Unchanged for two calls, then 10 - mean(1, 2, 6) = 7; the 4th call
    # starts a new accumulation.
    np.testing.assert_allclose(values, [10.0, 10.0, 7.0, 7.0], rtol=1e-6)
    assert int(_np(optimizer.iterations)) == 1

    no_accumulation = make_optimizer(
        {"name": "sgd", "learning_rate": 1.0, "gradient_accumulation_steps": 1}
    )
    assert no_accumulation.gradient_accumulation_steps is None
    [[w]] = _run(no_accumulation, [[10.0]], [[[1.0]]])
    np.testing.assert_allclose(w, [9.0])


def test_ema_overwrite_replaces_weights_with_their_average():
    config = {
        "name": "sgd",
        "learning_rate": 1.0,
        "use_ema": True,
        "ema_momentum": 0.5,
    }
    grads = [[[1.0]], [[1.0]]]
    # Weights after the SGD steps: -1, -2. Average: -1 (first step copies),
    # then 0.5 * -1 + 0.5 * -2 = -1.5, written back on step 2.
    without = _run(make_optimizer(config), [[0.0]], grads)
    with_overwrite = _run(
        make_optimizer({**config, "ema_overwrite_frequency": 2}), [[0.0]], grads
    )
    assert [h[0][0] for h in without] == [-1.0, -2.0]
    np.testing.assert_allclose([h[0][0] for h in with_overwrite], [-1.0, -1.5])


def test_weight_decay_shrinks_weights_on_zero_gradient():
    zero = [[[0.0, 0.0]], [[0.0, 0.0]]]
    for name in ("adamw", "sgd", "lion"):
        optimizer = make_optimizer(
            {"name": name, "learning_rate": 0.1, "weight_decay": 0.5}
        )
        history = _run(optimizer, [[2.0, -4.0]], zero)
        # Each step multiplies by 1 - lr * wd = 0.95.
        np.testing.assert_allclose(
            history[-1][0], [2.0 * 0.95**2, -4.0 * 0.95**2], rtol=1e-6, err_msg=name
        )
    untouched = make_optimizer({"name": "adamw", "weight_decay": 0.0})
    np.testing.assert_array_equal(_run(untouched, [[2.0]], [[[0.0]]])[0][0], [2.0])


def test_learning_rate_may_be_a_schedule_config():
    config = {
        "name": "sgd",
        "learning_rate": {
            "name": "step",
            "learning_rate": 1.0,
            "step_size": 1,
            "gamma": 0.5,
        },
    }
    snapshot = copy.deepcopy(config)
    optimizer = make_optimizer(config)
    assert config == snapshot  # the caller's config is not modified
    assert isinstance(optimizer._learning_rate, StepDecay)
    history = _run(optimizer, [[0.0]], [[[1.0]]] * 3)
    # Steps of 1, 0.5 and 0.25.
    np.testing.assert_allclose([h[0][0] for h in history], [-1.0, -1.5, -1.75])
    np.testing.assert_allclose(float(_np(optimizer.learning_rate)), 0.125)


def test_learning_rate_argument():
    optimizer = make_optimizer("adam", learning_rate=0.01)
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    schedule = StepDecay(0.1, step_size=10)
    assert make_optimizer("sgd", learning_rate=schedule)._learning_rate is schedule
    with pytest.raises(ValueError, match=r"given twice.*learning_rate=0.1"):
        make_optimizer({"name": "sgd", "learning_rate": 0.1}, learning_rate=0.2)


def test_all_options_together_train_a_linear_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    optimizer = make_optimizer(
        {
            "name": "adamw",
            "weight_decay": 1e-4,
            "global_clipnorm": 10.0,
            "gradient_accumulation_steps": 2,
            "use_ema": True,
            "ema_momentum": 0.9,
            "learning_rate": {
                "name": "warmup_cosine",
                "learning_rate": 0.3,
                "warmup_steps": 5,
                "decay_steps": 150,
            },
        }
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=40, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert int(_np(optimizer.iterations)) == 40 * 4 // 2
    assert after < 0.01 * before


# ------------------------------------------------------------------- errors
BAD_CONFIGS = [  # (config, message pattern)
    ("adm", r"name='adm'.*'adam'.*Accepted: adagrad"),
    ({"name": "sgd", "momentm": 0.9}, r"'momentm'.*'momentum'.*Accepted"),
    ({"name": "adam", "nesterov": True}, r"'nesterov' for optimizer 'adam'"),
    ({"learning_rate": 0.1}, r"no 'name'"),
    (42, r"name or a dict.*42"),
    (
        {"name": "sgd", "clipnorm": 1.0, "global_clipnorm": 1.0},
        r"At most one of clipnorm, clipvalue and global_clipnorm",
    ),
    ({"name": "sgd", "clipnorm": -1.0}, r"clipnorm=-1.0: expected a number > 0"),
    ({"name": "adamw", "weight_decay": -0.1}, r"weight_decay=-0.1"),
    ({"name": "sgd", "gradient_accumulation_steps": 0}, r"steps=0"),
    ({"name": "sgd", "gradient_accumulation_steps": 2.5}, r"integer.*2.5"),
    ({"name": "sgd", "ema_momentum": 0.9}, r"ema_momentum only take effect.*use_ema"),
    (
        {"name": "sgd", "use_ema": True, "ema_overwrite_frequency": 0},
        r"ema_overwrite_frequency=0",
    ),
    ({"name": "sgd", "use_ema": True, "ema_momentum": 1.5}, r"ema_momentum=1.5"),
    ({"name": "sgd", "learning_rate": {"name": "cosin"}}, r"schedule name='cosin'"),
]


def test_make_optimizer_rejects_bad_configs():
    for config, match in BAD_CONFIGS:
        with pytest.raises(ValueError, match=match):
            make_optimizer(config)
