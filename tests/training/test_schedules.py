"""Tests of the learning-rate schedules (kerasdl/training/schedules.py)."""

import math

import keras
import numpy as np
import pytest

from kerasdl.training.schedules import (
    SCHEDULE_NAMES,
    OneCycle,
    StepDecay,
    is_callback_schedule,
    make_plateau_callback,
    make_schedule,
    resolve_schedule,
)

# One config per step schedule, used by the sweep tests below.
CONFIGS = {
    "step": {"name": "step", "learning_rate": 0.1, "step_size": 3, "gamma": 0.5},
    "step_milestones": {
        "name": "step",
        "learning_rate": 1.0,
        "milestones": [2, 5],
        "gamma": 0.1,
    },
    "exponential": {
        "name": "exponential",
        "learning_rate": 1.0,
        "decay_steps": 2,
        "decay_rate": 0.5,
    },
    "exponential_staircase": {
        "name": "exponential",
        "learning_rate": 1.0,
        "decay_steps": 2,
        "decay_rate": 0.5,
        "staircase": True,
    },
    "piecewise_constant": {
        "name": "piecewise_constant",
        "learning_rate": 1.0,
        "boundaries": [2, 4],
        "values": [1.0, 0.5, 0.1],
    },
    "cosine": {"name": "cosine", "learning_rate": 1.0, "decay_steps": 4, "alpha": 0.1},
    "cosine_restarts": {
        "name": "cosine_restarts",
        "learning_rate": 1.0,
        "first_decay_steps": 2,
        "t_mul": 2.0,
        "m_mul": 0.5,
    },
    "warmup_cosine": {
        "name": "warmup_cosine",
        "learning_rate": 1.0,
        "warmup_steps": 4,
        "decay_steps": 8,
    },
    "warmup_cosine_from": {
        "name": "warmup_cosine",
        "learning_rate": 1.0,
        "warmup_steps": 4,
        "decay_steps": 8,
        "warmup_start": 0.2,
        "alpha": 0.1,
    },
    "one_cycle": {
        "name": "one_cycle",
        "learning_rate": 1.0,
        "total_steps": 10,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
    },
    "polynomial": {
        "name": "polynomial",
        "learning_rate": 1.0,
        "decay_steps": 4,
        "power": 2.0,
    },
    "polynomial_cycle": {
        "name": "polynomial",
        "learning_rate": 1.0,
        "decay_steps": 4,
        "power": 2.0,
        "cycle": True,
    },
}

_ONE_CYCLE_DOWN = [  # 0.001 + 0.999 / 2 * (cos(pi * k / 7) + 1), k = 0..7
    1.0,
    0.9505339495,
    0.8119331560,
    0.6116492065,
    0.3893507935,
    0.1890668440,
    0.0504660505,
    0.001,
]

# {config key: {step: expected learning rate}}, computed by hand.
EXPECTED = {
    "step": {0: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025, 10: 0.0125},
    "step_milestones": {0: 1.0, 1: 1.0, 2: 0.1, 4: 0.1, 5: 0.01, 9: 0.01},
    "exponential": {0: 1.0, 2: 0.5, 3: 0.5**1.5, 4: 0.25},
    "exponential_staircase": {0: 1.0, 1: 1.0, 3: 0.5, 4: 0.25},
    "piecewise_constant": {0: 1.0, 2: 1.0, 3: 0.5, 4: 0.5, 5: 0.1, 100: 0.1},
    "cosine": {
        0: 1.0,
        1: 0.1 + 0.45 * (1 + math.cos(math.pi / 4)),
        2: 0.55,
        4: 0.1,
        8: 0.1,
    },
    # Restarts at steps 2 (period 4, peak 0.5) and 6 (period 8, peak 0.25).
    "cosine_restarts": {0: 1.0, 1: 0.5, 2: 0.5, 4: 0.25, 6: 0.25, 10: 0.125},
    "warmup_cosine": {0: 0.0, 1: 0.25, 2: 0.5, 4: 1.0, 8: 0.5, 12: 0.0, 20: 0.0},
    "warmup_cosine_from": {0: 0.2, 2: 0.6, 4: 1.0, 8: 0.55, 12: 0.1, 30: 0.1},
    "one_cycle": {
        0: 0.1,
        1: 0.55,  # 1 + (0.1 - 1) / 2 * (cos(pi / 2) + 1)
        **{2 + k: v for k, v in enumerate(_ONE_CYCLE_DOWN)},
        50: 0.001,  # held after the cycle
    },
    "polynomial": {0: 1.0, 1: 0.5625, 2: 0.25, 3: 0.0625, 4: 0.0, 9: 0.0},
    "polynomial_cycle": {0: 1.0, 2: 0.25, 4: 0.0, 6: 0.0625, 8: 0.0},
}


def _np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return keras.ops.convert_to_numpy(x)


def _values(schedule, steps):
    return np.array([float(_np(schedule(s))) for s in steps])


def test_schedule_values_at_given_steps():
    for key, expected in EXPECTED.items():
        steps = sorted(expected)
        got = _values(make_schedule(CONFIGS[key]), steps)
        np.testing.assert_allclose(
            got, [expected[s] for s in steps], rtol=1e-5, atol=1e-7, err_msg=key
        )


def test_kerasdl_schedules_accept_step_tensors_and_vectors():
    for key in ("step", "step_milestones", "one_cycle"):
        schedule = make_schedule(CONFIGS[key])
        steps = sorted(EXPECTED[key])
        expected = [EXPECTED[key][s] for s in steps]
        scalar = _np(schedule(keras.ops.convert_to_tensor(steps[-1], dtype="int32")))
        np.testing.assert_allclose(scalar, expected[-1], rtol=1e-5, err_msg=key)
        vector = _np(schedule(keras.ops.convert_to_tensor(steps, dtype="int32")))
        np.testing.assert_allclose(vector, expected, rtol=1e-5, err_msg=key)


def test_constant_and_passthrough():
    assert make_schedule(0.01) == 0.01
    assert make_schedule(1) == 1.0 and isinstance(make_schedule(1), float)
    assert make_schedule({"name": "constant", "learning_rate": 3e-4}) == 3e-4
    schedule = StepDecay(0.1, step_size=2)
    assert make_schedule(schedule) is schedule


def test_factory_uses_keras_schedules_where_keras_has_them():
    schedules = keras.optimizers.schedules
    assert isinstance(make_schedule(CONFIGS["cosine"]), schedules.CosineDecay)
    warmup = make_schedule(CONFIGS["warmup_cosine_from"])
    assert isinstance(warmup, schedules.CosineDecay)
    assert warmup.warmup_target == 1.0 and warmup.initial_learning_rate == 0.2
    assert isinstance(make_schedule(CONFIGS["step"]), StepDecay)
    assert isinstance(make_schedule(CONFIGS["one_cycle"]), OneCycle)


# ------------------------------------------------------- PyTorch cross-checks
def _torch_lrs(make_scheduler, steps, lr):
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return np.array(lrs)


TORCH_CASES = {
    "StepLR": (
        {"name": "step", "learning_rate": 0.1, "step_size": 3, "gamma": 0.5},
        lambda s, o: s.StepLR(o, step_size=3, gamma=0.5),
        12,
    ),
    "MultiStepLR": (
        {"name": "step", "learning_rate": 0.1, "milestones": [2, 5, 6]},
        lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 6], gamma=0.1),
        9,
    ),
    "ExponentialLR": (
        {
            "name": "exponential",
            "learning_rate": 0.1,
            "decay_steps": 1,
            "decay_rate": 0.9,
        },
        lambda s, o: s.ExponentialLR(o, gamma=0.9),
        15,
    ),
    "CosineAnnealingLR": (
        {"name": "cosine", "learning_rate": 0.1, "decay_steps": 10, "alpha": 0.1},
        lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
        11,  # torch's cosine rises again after T_max; Keras holds the floor
    ),
    "CosineAnnealingWarmRestarts": (
        {
            "name": "cosine_restarts",
            "learning_rate": 0.1,
            "first_decay_steps": 3,
            "t_mul": 2.0,
            "alpha": 0.1,
        },
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
        20,
    ),
    "CosineAnnealingWarmRestarts_T1": (
        {
            "name": "cosine_restarts",
            "learning_rate": 0.1,
            "first_decay_steps": 4,
            "t_mul": 1.0,
        },
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=1),
        13,
    ),
    "OneCycleLR": (
        {"name": "one_cycle", "learning_rate": 0.1, "total_steps": 20},
        lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=20, cycle_momentum=False),
        20,
    ),
    "OneCycleLR_linear": (
        {
            "name": "one_cycle",
            "learning_rate": 0.1,
            "total_steps": 20,
            "pct_start": 0.25,
            "anneal_strategy": "linear",
            "div_factor": 5.0,
        },
        lambda s, o: s.OneCycleLR(
            o,
            max_lr=0.1,
            total_steps=20,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=5.0,
            cycle_momentum=False,
        ),
        20,
    ),
    "OneCycleLR_three_phase": (
        {
            "name": "one_cycle",
            "learning_rate": 0.1,
            "total_steps": 25,
            "three_phase": True,
        },
        lambda s, o: s.OneCycleLR(
            o, max_lr=0.1, total_steps=25, three_phase=True, cycle_momentum=False
        ),
        25,
    ),
    "PolynomialLR": (
        {"name": "polynomial", "learning_rate": 0.1, "decay_steps": 8, "power": 2.0},
        lambda s, o: s.PolynomialLR(o, total_iters=8, power=2.0),
        12,
    ),
}


def test_schedules_match_pytorch():
    for case, (config, make_scheduler, steps) in TORCH_CASES.items():
        expected = _torch_lrs(make_scheduler, steps, config["learning_rate"])
        got = _values(make_schedule(config), range(steps))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8, err_msg=case)


# ------------------------------------------------------------ serialization
def test_schedule_config_round_trip():
    steps = range(0, 16, 3)
    for key, config in CONFIGS.items():
        schedule = make_schedule(config)
        serialized = keras.optimizers.schedules.serialize(schedule)
        restored = keras.optimizers.schedules.deserialize(serialized)
        assert type(restored) is type(schedule), key
        assert restored.get_config() == schedule.get_config(), key
        np.testing.assert_array_equal(
            _values(restored, steps), _values(schedule, steps), err_msg=key
        )


def test_kerasdl_schedules_are_registered():
    assert keras.saving.get_registered_name(StepDecay) == "kerasdl>StepDecay"
    assert keras.saving.get_registered_name(OneCycle) == "kerasdl>OneCycle"


@pytest.mark.parametrize("key", ["step_milestones", "one_cycle"])
def test_schedule_survives_keras_file_inside_optimizer(key, tmp_path):
    schedule = make_schedule(CONFIGS[key])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    x = np.ones((8, 3), "float32")
    model.fit(x, np.zeros((8, 1), "float32"), batch_size=2, epochs=1, verbose=0)
    assert int(_np(model.optimizer.iterations)) == 4
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config == model.optimizer.get_config()["learning_rate"]
    assert int(_np(loaded.optimizer.iterations)) == 4
    expected = float(_np(schedule(4)))
    assert expected != float(_np(schedule(0)))
    np.testing.assert_allclose(
        float(_np(loaded.optimizer.learning_rate)),
        expected,
        rtol=1e-6,
    )


# ------------------------------------------------------------------- errors
BAD_SCHEDULE_CONFIGS = [  # (config, message pattern)
    ({"name": "cosin", "learning_rate": 0.1}, r"name='cosin'.*'cosine'.*Accepted"),
    (
        {"name": "cosine", "learning_rate": 0.1, "decay_step": 10},
        r"'decay_step'.*'decay_steps'.*Accepted: learning_rate, decay_steps",
    ),
    (
        {"name": "cosine", "learning_rate": 0.1},
        r"requires key\(s\) \['decay_steps'\]",
    ),
    (
        {"name": "cosine", "decay_steps": 10},
        r"requires key\(s\) \['learning_rate'\]",
    ),
    ({"learning_rate": 0.1}, r"no 'name'.*warmup_cosine"),
    ("cosine", r"number, a LearningRateSchedule or a dict"),
    (True, r"number, a LearningRateSchedule or a dict"),
    ({"name": "constant", "learning_rate": -1.0}, r"learning_rate=-1.0"),
    (
        {"name": "step", "learning_rate": 0.1, "step_size": 2, "milestones": [3]},
        r"exactly one of `step_size` and `milestones`",
    ),
    (
        {"name": "step", "learning_rate": 0.1, "milestones": [5, 3]},
        r"strictly increasing.*\[5, 3\]",
    ),
    (
        {"name": "cosine", "learning_rate": 0.1, "decay_steps": 0},
        r"decay_steps=0: expected an integer >= 1",
    ),
    (
        {"name": "cosine", "learning_rate": 0.1, "decay_steps": 5, "alpha": 2},
        r"alpha.*\[0, 1\]",
    ),
    (
        {
            "name": "one_cycle",
            "learning_rate": 0.1,
            "total_steps": 10,
            "pct_start": 1.5,
        },
        r"pct_start=1.5",
    ),
    (
        {
            "name": "one_cycle",
            "learning_rate": 0.1,
            "total_steps": 3,
            "pct_start": 0.2,
        },
        r"phases must each have at least one step",
    ),
    (
        {
            "name": "one_cycle",
            "learning_rate": 0.1,
            "total_steps": 10,
            "anneal_strategy": "cosine",
        },
        r"anneal_strategy='cosine'",
    ),
    (
        {
            "name": "piecewise_constant",
            "learning_rate": 0.1,
            "boundaries": [2],
            "values": [1.0, 0.5],
        },
        r"must equal values\[0\]",
    ),
    (
        {"name": "reduce_on_plateau", "learning_rate": 0.1},
        r"callback.*resolve_schedule",
    ),
]


def test_make_schedule_rejects_bad_configs():
    for config, match in BAD_SCHEDULE_CONFIGS:
        with pytest.raises(ValueError, match=match):
            make_schedule(config)


def test_schedule_names_are_listed():
    assert set(SCHEDULE_NAMES) == {
        "constant",
        "step",
        "exponential",
        "piecewise_constant",
        "cosine",
        "cosine_restarts",
        "warmup_cosine",
        "one_cycle",
        "polynomial",
        "reduce_on_plateau",
    }
    for name in SCHEDULE_NAMES:
        with pytest.raises(ValueError, match="Accepted"):
            make_schedule({"name": name, "learning_rate": 0.1, "bogus": 1})


# ------------------------------------------------------- reduce on plateau
PLATEAU = {
    "name": "reduce_on_plateau",
    "learning_rate": 0.1,
    "monitor": "loss",
    "factor": 0.5,
    "patience": 1,
    "min_delta": 1e9,  # no epoch after the first counts as an improvement
}


def test_plateau_config_is_recognized_as_callback():
    assert is_callback_schedule(PLATEAU)
    assert is_callback_schedule({"name": "Reduce_On_Plateau"})
    assert not is_callback_schedule(CONFIGS["cosine"])
    assert not is_callback_schedule(0.1)


def test_make_plateau_callback_sets_arguments():
    callback = make_plateau_callback(PLATEAU)
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau)
    assert (callback.monitor, callback.factor, callback.patience) == ("loss", 0.5, 1)
    assert callback.min_delta == 1e9 and callback.min_lr == 0.0
    default = make_plateau_callback({"name": "reduce_on_plateau", "learning_rate": 1})
    assert (default.monitor, default.factor, default.patience) == ("val_loss", 0.1, 10)


BAD_PLATEAU_CONFIGS = [  # (config, message pattern)
    ({**PLATEAU, "factor": 1.5}, r"factor=1.5"),
    ({**PLATEAU, "mode": "down"}, r"mode='down'"),
    ({**PLATEAU, "patince": 2}, r"'patince'.*'patience'"),
    (CONFIGS["cosine"], r"name='cosine'"),
]


def test_make_plateau_callback_rejects_bad_configs():
    for config, match in BAD_PLATEAU_CONFIGS:
        with pytest.raises(ValueError, match=match):
            make_plateau_callback(config)


def test_resolve_schedule_plateau_reduces_learning_rate_during_fit():
    lr, callbacks = resolve_schedule(PLATEAU)
    assert lr == 0.1 and len(callbacks) == 1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    x = np.ones((4, 2), "float32")
    model.fit(x, np.ones((4, 1), "float32"), epochs=4, callbacks=callbacks, verbose=0)
    # Epochs 2, 3 and 4 each see no improvement with patience 1: three halvings.
    np.testing.assert_allclose(
        float(_np(model.optimizer.learning_rate)),
        0.1 * 0.5**3,
        rtol=1e-6,
    )


def test_resolve_schedule_step_schedule_has_no_callbacks():
    schedule, callbacks = resolve_schedule(CONFIGS["one_cycle"])
    assert isinstance(schedule, OneCycle) and callbacks == []
    assert resolve_schedule(0.5) == (0.5, [])
