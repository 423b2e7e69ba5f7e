"""Tests of the Trainer (kerasdl/training/trainer.py) and precision handling."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from training_helpers import Snapshots, StopAt

from kerasdl.training import (
    TerminateOnNaN,
    Trainer,
    cast_model,
    load_config,
    load_history,
    model_precision,
    policy_scope,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUIET = {"verbose": 0, "batch_size": 16}


def _blobs(n=160, classes=3, seed=0):
    """Three well-separated Gaussian blobs in 6-D, integer labels."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, 6)) * 4
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, 6))).astype("float32")
    return x, y.astype("int32")


def _mlp(units=3, activation="softmax", hidden=16):
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )


def _assert_weights_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


# --------------------------------------------------------------- basic fit
def test_fit_learns_and_keeps_a_complete_run_directory(tmp_path):
    x, y = _blobs(200)
    run_dir = tmp_path / "run"
    trainer = Trainer(
        {
            **QUIET,
            "epochs": 6,
            "seed": 0,
            "optimizer": {"name": "adam", "learning_rate": 0.02},
            "run_dir": str(run_dir),
        }
    )
    history = trainer.fit(_mlp(), x[:160], y[:160], validation_data=(x[160:], y[160:]))
    assert history.history["val_accuracy"][-1] >= 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.model is trainer.model
    assert sorted(os.listdir(run_dir)) == [
        "best.keras",
        "config.yaml",
        "curves.png",
        "history.csv",
        "history.json",
    ]
    # config.yaml reloads to the resolved config, with the loss it chose.
    saved = load_config(str(run_dir / "config.yaml"))
    assert saved.loss == {
        "name": "sparse_categorical_crossentropy",
        "from_logits": False,
    }
    assert saved.metrics == ["accuracy"] and saved.epochs == 6
    data = load_history(run_dir)
    assert data["completed"] is True and data["epochs"] == list(range(6))
    assert data["history"]["learning_rate"] == pytest.approx([0.02] * 6)
    assert data["history"]["val_loss"] == pytest.approx(history.history["val_loss"])
    assert len((run_dir / "history.csv").read_text().splitlines()) == 7
    # best.keras is the epoch with the lowest val_loss.
    best = keras.saving.load_model(run_dir / "best.keras")
    val_loss = best.evaluate(x[160:], y[160:], verbose=0, return_dict=True)["loss"]
    assert val_loss == pytest.approx(min(data["history"]["val_loss"]), rel=1e-4)
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_without_run_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = _blobs(32)
    history = Trainer({**QUIET, "epochs": 2}).fit(_mlp(), x, y, validation_split=0.25)
    assert len(history.epoch) == 2 and "val_loss" in history.history
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("units", "activation", "labels", "loss_class", "from_logits", "metric"),
    [
        (3, "softmax", "int", "SparseCategoricalCrossentropy", False, "accuracy"),
        (3, "softmax", "onehot", "CategoricalCrossentropy", False, "accuracy"),
        (3, "linear", "int", "SparseCategoricalCrossentropy", True, "accuracy"),
        (1, "sigmoid", "binary", "BinaryCrossentropy", False, "accuracy"),
        (1, "linear", "binary", "BinaryCrossentropy", True, "accuracy"),
        (1, "linear", "float", "MeanSquaredError", None, "mae"),
    ],
)
def test_default_loss_follows_the_output_and_labels(
    units, activation, labels, loss_class, from_logits, metric
):
    x, y = _blobs(32)
    targets = {
        "int": y,
        "onehot": np.eye(3, dtype="float32")[y],
        "binary": (y > 0).astype("int32"),
        "float": x[:, :1] * 2.0,
    }[labels]
    trainer = Trainer({**QUIET, "epochs": 1})
    history = trainer.fit(_mlp(units, activation), x, targets)
    loss = trainer.model.loss
    assert type(loss).__name__ == loss_class
    if from_logits is not None:
        assert loss.from_logits is from_logits
    assert metric in history.history


@pytest.mark.parametrize(
    ("loss", "activation", "labels", "metric_class"),
    [
        ("categorical_crossentropy", "softmax", "onehot", "CategoricalAccuracy"),
        (
            "sparse_categorical_crossentropy",
            "softmax",
            "int",
            "SparseCategoricalAccuracy",
        ),
        ("binary_crossentropy", "sigmoid", "multilabel", "BinaryAccuracy"),
    ],
)
def test_an_explicit_loss_gets_the_matching_accuracy(
    loss, activation, labels, metric_class
):
    x, y = _blobs(32)
    targets = {
        "int": y,
        "onehot": np.eye(3, dtype="float32")[y],
        "multilabel": (x[:, :3] > 0).astype("float32"),
    }[labels]
    trainer = Trainer({**QUIET, "epochs": 1, "loss": loss})
    history = trainer.fit(_mlp(3, activation), x, targets)
    accuracy = [m for m in trainer.model.metrics[1].metrics if m.name == "accuracy"]
    assert [type(m).__name__ for m in accuracy] == [metric_class]
    assert 0.0 <= history.history["accuracy"][0] <= 1.0


def test_multi_output_model_needs_an_explicit_loss():
    inputs = keras.Input((6,))
    model = keras.Model(
        inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(1)(inputs)]
    )
    x, y = _blobs(16)
    with pytest.raises(ValueError, match="2 outputs: set `loss`"):
        Trainer({**QUIET, "epochs": 1}).fit(model, x, [y, y])


def test_config_compiles_with_optimizer_jit_and_steps_per_execution():
    x, y = _blobs(64)
    if keras.backend.backend() == "torch":
        with pytest.raises(
            ValueError, match="steps_per_execution=2 is not supported on the torch"
        ):
            Trainer({"steps_per_execution": 2})
        steps = 1
    else:
        steps = 2
    trainer = Trainer(
        {
            **QUIET,
            "epochs": 1,
            "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
            "metrics": ["accuracy", "f1"],
            "jit_compile": False,
            "steps_per_execution": steps,
        }
    )
    history = trainer.fit(_mlp(), x, y)
    model = trainer.model
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.9)
    assert model.jit_compile is False
    assert model.steps_per_execution == steps
    assert int(model.optimizer.iterations) == 4  # 64 / 16 steps
    assert {"accuracy", "f1", "loss"} <= set(history.history)


def test_a_compiled_model_keeps_its_own_compile():
    x, y = _blobs(32)
    model = _mlp()
    optimizer = keras.optimizers.SGD(0.5)
    model.compile(optimizer, keras.losses.CategoricalFocalCrossentropy(), metrics=[])
    trainer = Trainer({**QUIET, "epochs": 1, "optimizer": "adam"})
    trainer.fit(model, x, np.eye(3, dtype="float32")[y])
    assert trainer.model is model and model.optimizer is optimizer
    assert isinstance(model.loss, keras.losses.CategoricalFocalCrossentropy)
    assert int(optimizer.iterations) == 2

    # A compiled model that must be rebuilt (precision) is recompiled from
    # its own compile config, not from the Trainer's.
    model = _mlp()
    model.compile(keras.optimizers.SGD(0.3, momentum=0.5), "mse", metrics=["mae"])
    trainer = Trainer({**QUIET, "epochs": 1, "precision": "mixed_float16"})
    history = trainer.fit(model, x, np.eye(3, dtype="float32")[y])
    rebuilt = trainer.model.optimizer
    assert isinstance(rebuilt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(rebuilt.inner_optimizer, keras.optimizers.SGD)
    assert float(rebuilt.inner_optimizer.learning_rate) == pytest.approx(0.3)
    assert rebuilt.inner_optimizer.momentum == pytest.approx(0.5)
    assert "mae" in history.history and "accuracy" not in history.history


def test_schedule_and_plateau_from_the_config_drive_the_learning_rate():
    x, y = _blobs(64)
    step = {"name": "step", "learning_rate": 0.1, "step_size": 4, "gamma": 0.5}
    trainer = Trainer(
        {**QUIET, "epochs": 3, "optimizer": {"name": "sgd", "learning_rate": step}}
    )
    history = trainer.fit(_mlp(), x, y)  # 4 steps per epoch
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])

    plateau = {
        "name": "reduce_on_plateau",
        "learning_rate": 0.1,
        "monitor": "loss",
        "factor": 0.5,
        "patience": 0,
        "min_delta": 100.0,  # no epoch ever counts as an improvement after the first
    }
    trainer = Trainer(
        {**QUIET, "epochs": 4, "optimizer": {"name": "sgd", "learning_rate": plateau}}
    )
    history = trainer.fit(_mlp(), x, y)
    # Logged before the callback reduces it at the end of the epoch.
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert float(trainer.model.optimizer.learning_rate) == pytest.approx(0.0125)
    trainer = Trainer(
        {
            **QUIET,
            "epochs": 3,
            "optimizer": {"name": "sgd", "learning_rate": 0.2},
            "callbacks": {
                "reduce_on_plateau": {
                    "monitor": "loss",
                    "patience": 0,
                    "factor": 0.5,
                    "min_delta": 100.0,
                }
            },
        }
    )
    history = trainer.fit(_mlp(), x, y)
    assert history.history["learning_rate"] == pytest.approx([0.2, 0.2, 0.1])


def test_fit_overrides_and_extra_callbacks():
    x, y = _blobs(32)
    snapshots = Snapshots()
    trainer = Trainer({**QUIET, "epochs": 5})
    history = trainer.fit(_mlp(), x, y, epochs=2, callbacks=[snapshots], shuffle=False)
    assert history.epoch == [0, 1] and sorted(snapshots.weights) == [0, 1]
    assert trainer.config.epochs == 5  # the Trainer's config is unchanged
    with pytest.raises(ValueError, match="Unknown argument 'epcohs'.*'epochs'"):
        trainer.fit(_mlp(), x, y, epcohs=2)
    with pytest.raises(ValueError, match="Callback instances"):
        trainer.fit(_mlp(), x, y, callbacks=["early_stopping"])
    with pytest.raises(ValueError, match="optimizer.momentm"):
        Trainer({"optimizer": {"name": "sgd", "momentm": 0.9}})


def test_model_given_as_a_spec_is_built():
    import kerasdl

    x, y = _blobs(96)
    trainer = Trainer(
        {
            **QUIET,
            "epochs": 8,
            "seed": 0,
            "optimizer": {"name": "adam", "learning_rate": 0.02},
        }
    )
    spec = {"model": "mlp", "input_shape": [6], "hidden_units": [8], "num_classes": 3}
    history = trainer.fit(spec, x, y)
    assert isinstance(trainer.model, keras.Model)
    assert trainer.model.output_shape == (None, 3) and "accuracy" in history.history
    # It is the spec's architecture, and it is the model that was trained:
    # the loss fell and it separates the blobs.
    assert trainer.model.count_params() == kerasdl.build(spec).count_params()
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    predicted = np.argmax(trainer.model.predict(x, verbose=0), axis=-1)
    assert np.mean(predicted == y) > 0.9


# --------------------------------------------------------------- seeds
def _seeded_weights(seed):
    x, y = _blobs(64)
    spec = {
        "model": "mlp",
        "input_shape": [6],
        "hidden_units": [16],
        "dropout": 0.3,
        "num_classes": 3,
    }
    trainer = Trainer({**QUIET, "epochs": 2, "seed": seed})
    trainer.fit(spec, x, y)
    return trainer.model.get_weights()


def test_seed_makes_runs_identical():
    first, second = _seeded_weights(7), _seeded_weights(7)
    _assert_weights_equal(first, second)
    other = _seeded_weights(8)
    assert not np.allclose(first[0], other[0])


# --------------------------------------------------------------- early stopping
def test_early_stopping_restores_the_best_epochs_weights():
    x, y = _blobs(96)
    snapshots = Snapshots()

    class Corrupt(keras.callbacks.Callback):
        """From epoch 3 on, wrecks the weights so val_loss gets worse."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch >= 3:
                rng = np.random.default_rng(epoch)
                self.model.set_weights(
                    [
                        w + rng.normal(0, 5, w.shape).astype(w.dtype)
                        for w in self.model.get_weights()
                    ]
                )

    trainer = Trainer(
        {
            **QUIET,
            "epochs": 20,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "callbacks": {"early_stopping": {"patience": 2}},
        }
    )
    history = trainer.fit(
        _mlp(),
        x[:64],
        y[:64],
        validation_data=(x[64:], y[64:]),
        callbacks=[Corrupt(), snapshots],
    )
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 20  # it stopped early
    assert best <= 2
    _assert_weights_equal(trainer.model.get_weights(), snapshots.weights[best])
    assert not np.allclose(
        trainer.model.get_weights()[0], snapshots.weights[len(val_loss) - 1][0]
    )


# --------------------------------------------------------------- resuming
def _resume_config(run_dir, **extra):
    return {
        **QUIET,
        "epochs": 5,
        "seed": 1,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "callbacks": {"early_stopping": {"patience": 10}},
        "run_dir": str(run_dir),
        "resume": True,
        **extra,
    }


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    x, y = _blobs(64)
    val = _blobs(32, seed=1)
    snapshots = Snapshots()
    with pytest.raises(RuntimeError, match="simulated kill"):
        Trainer(_resume_config(tmp_path)).fit(
            _mlp(), x, y, validation_data=val, callbacks=[StopAt(2), snapshots]
        )
    partial = load_history(tmp_path)
    assert partial["epochs"] == [0, 1] and partial["completed"] is False
    assert (tmp_path / "backup" / "latest.json").exists()

    at_start = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            at_start.setdefault("epoch", epoch)
            at_start.setdefault("weights", self.model.get_weights())
            at_start.setdefault("iterations", int(self.model.optimizer.iterations))

    trainer = Trainer(_resume_config(tmp_path))
    history = trainer.fit(_mlp(), x, y, validation_data=val, callbacks=[Probe()])
    assert history.epoch == [2, 3, 4]
    assert at_start["epoch"] == 2 and at_start["iterations"] == 8
    _assert_weights_equal(at_start["weights"], snapshots.weights[1])
    full = load_history(tmp_path)
    assert full["epochs"] == [0, 1, 2, 3, 4] and full["completed"] is True
    assert full["history"]["loss"][:2] == partial["history"]["loss"]
    assert full["history"]["loss"][2:] == pytest.approx(history.history["loss"])
    assert not (tmp_path / "backup").exists()
    # The model's own fit is not left starting at the resumed epoch.
    assert len(trainer.model.fit(x, y, epochs=1, verbose=0).epoch) == 1

    with pytest.raises(ValueError, match="already completed"):
        Trainer(_resume_config(tmp_path)).fit(_mlp(), x, y, validation_data=val)
    # resume=false starts over and replaces the files.
    again = Trainer(_resume_config(tmp_path, resume=False, epochs=2))
    again.fit(_mlp(), x, y, validation_data=val)
    assert load_history(tmp_path)["epochs"] == [0, 1]


def test_resuming_with_a_changed_config_is_refused(tmp_path):
    x, y = _blobs(32)
    with pytest.raises(RuntimeError):
        Trainer(_resume_config(tmp_path)).fit(_mlp(), x, y, callbacks=[StopAt(1)])
    changed = _resume_config(tmp_path, optimizer={"name": "adam", "learning_rate": 0.5})
    with pytest.raises(ValueError, match=r"different config \(optimizer:"):
        Trainer(changed).fit(_mlp(), x, y)
    # More epochs are fine: a resumed run may be extended.
    history = Trainer(_resume_config(tmp_path, epochs=3)).fit(_mlp(), x, y)
    assert history.epoch == [1, 2]


_KILLED_SCRIPT = """
import os, signal, sys
import numpy as np, keras
from kerasdl.training import Trainer

run_dir = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int32")


class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        np.save(os.path.join(run_dir, "w%d.npy" % epoch), self.model.get_weights()[0])
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax")])
config = {"epochs": 5, "batch_size": 16, "verbose": 0, "run_dir": run_dir, "resume": True}
Trainer(config).fit(model, x, y, callbacks=[Kill()])
"""


def test_a_sigkilled_run_resumes_from_its_last_backup(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(_KILLED_SCRIPT))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(script), str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    # Killed inside epoch 2's end: the last backup is epoch 1's.
    pointer = json.loads((run_dir / "backup" / "latest.json").read_text())
    assert pointer["epoch"] == 2
    assert load_history(run_dir)["epochs"] == [0, 1]  # epoch 2 never recorded
    at_start = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            at_start.setdefault("kernel", self.model.get_weights()[0])

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(2, activation="softmax")]
    )
    config = {
        "epochs": 5,
        "batch_size": 16,
        "verbose": 0,
        "run_dir": str(run_dir),
        "resume": True,
    }
    history = Trainer(config).fit(model, x, y, callbacks=[Probe()])
    assert history.epoch == [2, 3, 4]
    np.testing.assert_array_equal(at_start["kernel"], np.load(run_dir / "w1.npy"))
    assert load_history(run_dir)["epochs"] == [0, 1, 2, 3, 4]


# --------------------------------------------------------------- precision
@pytest.mark.parametrize(
    ("precision", "compute", "scaled"),
    [("mixed_float16", "float16", True), ("mixed_bfloat16", "bfloat16", False)],
)
def test_mixed_precision_rebuilds_a_float32_model(precision, compute, scaled):
    x, y = _blobs(96)
    model = _mlp(hidden=32)
    original = model.get_weights()
    converted = cast_model(model, precision)
    _assert_weights_equal(converted.get_weights(), original)
    assert model_precision(converted) == precision

    trainer = Trainer(
        {
            **QUIET,
            "epochs": 4,
            "precision": precision,
            "optimizer": {"name": "adam", "learning_rate": 0.02},
        }
    )
    history = trainer.fit(model, x, y)
    trained = trainer.model
    assert trained is not model
    hidden, output = trained.layers
    assert hidden.compute_dtype == compute and hidden.variable_dtype == "float32"
    assert output.compute_dtype == "float32"
    assert trained.outputs[0].dtype == "float32"
    assert trained.predict(x[:4], verbose=0).dtype == np.float32
    assert isinstance(trained.optimizer, keras.optimizers.LossScaleOptimizer) is scaled
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert (
        keras.config.dtype_policy().name == "float32"
    )  # the global policy is untouched
    # The user's model is the trained one (issue 10): the copy's weights were
    # copied back, and it was compiled like the copy, so it evaluates.
    _assert_weights_equal(model.get_weights(), trained.get_weights())
    assert any((a != b).any() for a, b in zip(model.get_weights(), original))
    assert model.layers[0].compute_dtype == "float32"  # its own policy kept
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.8 and loss < losses[0]


def test_mixed_precision_for_a_spec_and_policy_scope():
    x, y = _blobs(32)
    trainer = Trainer({**QUIET, "epochs": 1, "precision": "mixed_bfloat16"})
    trainer.fit(
        {"model": "mlp", "input_shape": [6], "hidden_units": [8], "num_classes": 3},
        x,
        y,
    )
    dense = [
        layer for layer in trainer.model.layers if isinstance(layer, keras.layers.Dense)
    ]
    assert [d.compute_dtype for d in dense] == ["bfloat16", "float32"]
    with policy_scope("mixed_float16"):
        layer = keras.layers.Dense(2)
    assert layer.compute_dtype == "float16"
    assert keras.config.dtype_policy().name == "float32"
    with (
        pytest.raises(ValueError, match="Unknown precision='fp16'"),
        policy_scope("fp16"),
    ):
        pass


def test_a_model_that_cannot_be_rebuilt_gets_a_clear_error():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3, activation="softmax")

        def call(self, inputs):
            return self.dense(inputs)

    model = Custom()
    x, y = _blobs(16)
    model(x[:1])  # builds it
    with pytest.raises(ValueError, match="policy_scope\\('mixed_float16'\\)"):
        Trainer({**QUIET, "epochs": 1, "precision": "mixed_float16"}).fit(model, x, y)


# ---------------------------------------------------------------- NaN guard
def test_default_nan_guard_is_async_safe_and_stops_a_diverging_run():
    # async_safe: on JAX/PyTorch Keras dispatches its per-batch check from a
    # thread, so the guard adds no host synchronisation per step (issue 17).
    assert TerminateOnNaN.async_safe is True
    x, y = _blobs(160)
    x[:, 0] *= 1e30  # a squared error of ~1e60 overflows float32 at once
    trainer = Trainer(
        {
            **QUIET,
            "epochs": 5,
            "loss": "mse",
            "optimizer": {"name": "sgd", "learning_rate": 1.0},
        }
    )
    history = trainer.fit(_mlp(units=1, activation=None), x, y.astype("float32"))
    # Stopped within the first epoch, not after five.
    assert len(history.history["loss"]) == 1
    assert not np.isfinite(history.history["loss"][0])


def test_nan_guard_never_writes_state_back_from_its_thread():
    # The check runs in Keras' callback thread on JAX/PyTorch. Reading
    # `Callback.model` there would call `jax_state_sync()` on JAX, racing with
    # the next step's buffer donation: the epoch's end then read deleted
    # arrays ("Buffer has been deleted or donated") in 24 of 60 diverging runs.
    class Model:
        stop_training = False

        def jax_state_sync(self):
            raise AssertionError("state written back from the callback thread")

    guard = TerminateOnNaN()
    model = Model()
    guard.set_model(model)
    guard.on_batch_end(0, {"loss": 1.0})
    assert model.stop_training is False
    guard.on_batch_end(1, {"loss": float("nan")})
    assert model.stop_training is True
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        TerminateOnNaN(raise_error=True).on_batch_end(2, {"loss": float("inf")})
