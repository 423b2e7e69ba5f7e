"""Tests of the training callbacks (kerasdl/training/callbacks.py)."""

import json
import os

import keras
import numpy as np
import pytest
from training_helpers import Snapshots, StopAt

from kerasdl.training.callbacks import (
    BestModelCheckpoint,
    LearningRateLogger,
    ResumableBackup,
    RunHistory,
    current_learning_rate,
    load_history,
    plot_history,
    requested_callbacks,
)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return x, y


def _model(lr=0.1):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy")
    return model


def test_current_learning_rate_evaluates_the_schedule_at_iterations():
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
    optimizer = keras.optimizers.SGD(schedule)
    assert current_learning_rate(optimizer) == pytest.approx(1.0)
    optimizer.iterations.assign(20)
    assert current_learning_rate(optimizer) == pytest.approx(0.25)
    assert current_learning_rate(keras.optimizers.Adam(0.003)) == pytest.approx(0.003)
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.02))
    assert current_learning_rate(wrapped) == pytest.approx(0.02)


def test_learning_rate_logger_logs_the_schedule_every_epoch():
    x, y = _data(32)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [4, 8], [0.3, 0.2, 0.1]
    )
    model = _model()
    model.compile(keras.optimizers.SGD(schedule), "sparse_categorical_crossentropy")
    history = model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[LearningRateLogger()]
    )
    # 4 steps per epoch: after epochs 1, 2, 3 the step is 4, 8, 12.
    expected = [float(schedule(s)) for s in (4, 8, 12)]
    assert history.history["learning_rate"] == pytest.approx(expected)
    assert expected == pytest.approx([0.3, 0.2, 0.1])  # x <= boundary keeps


def test_run_history_writes_json_and_csv_every_epoch(tmp_path):
    x, y = _data()
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(load_history(tmp_path)["epochs"])

    history = _model().fit(
        x,
        y,
        epochs=3,
        verbose=0,
        validation_split=0.25,
        callbacks=[LearningRateLogger(), RunHistory(tmp_path, plot=False), Probe()],
    )
    assert seen == [[0], [0, 1], [0, 1, 2]]
    data = load_history(tmp_path)
    assert data["completed"] is True
    assert data["history"]["loss"] == pytest.approx(history.history["loss"])
    assert data["history"]["learning_rate"] == pytest.approx([0.1] * 3)
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == ["epoch", *data["history"]]
    assert [float(v) for v in lines[3].split(",")[1:]] == pytest.approx(
        [data["history"][k][2] for k in data["history"]]
    )
    assert not (tmp_path / "curves.png").exists()
    assert sorted(os.listdir(tmp_path)) == ["history.csv", "history.json"]


def test_run_history_resume_keeps_earlier_epochs_and_replaces_later_ones(tmp_path):
    previous = {
        "epochs": [0, 1, 2, 3],
        "history": {"loss": [4.0, 3.0, 2.0, 1.0]},
        "completed": False,
    }
    (tmp_path / "history.json").write_text(json.dumps(previous))
    recorder = RunHistory(tmp_path, csv_log=False, plot=False, resume=True)
    recorder.set_model(_model())
    recorder.on_train_begin()
    recorder.on_epoch_end(2, {"loss": 9.0})
    data = load_history(tmp_path)
    assert data["epochs"] == [0, 1, 2]
    assert data["history"]["loss"] == [4.0, 3.0, 9.0]
    fresh = RunHistory(tmp_path, csv_log=False, plot=False, resume=False)
    fresh.set_model(_model())
    fresh.on_train_begin()
    fresh.on_epoch_end(0, {"loss": 5.0})
    assert load_history(tmp_path)["epochs"] == [0]


def test_plot_history_writes_a_png(tmp_path):
    path = tmp_path / "curves.png"
    plot_history(
        {
            "epochs": [0, 1, 2],
            "history": {
                "loss": [1.0, 0.5, 0.4],
                "val_loss": [1.1, None, 0.6],
                "accuracy": [0.5, 0.7, 0.8],
                "learning_rate": [0.1, 0.05, 0.01],
            },
        },
        path,
    )
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert os.listdir(tmp_path) == ["curves.png"]
    with pytest.raises(ValueError, match="no metric"):
        plot_history({}, tmp_path / "empty.png")


def test_best_model_checkpoint_keeps_the_best_epoch_atomically(tmp_path):
    x, y = _data()
    path = tmp_path / "best.keras"
    losses = iter([3.0, 1.0, 2.0])

    class FakeMonitor(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = next(losses)

    snapshots = Snapshots()
    model = _model(lr=0.5)
    model.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[
            FakeMonitor(),
            snapshots,
            BestModelCheckpoint(
                str(path), monitor="score", mode="min", save_best_only=True
            ),
        ],
    )
    assert os.listdir(tmp_path) == ["best.keras"]
    best = keras.saving.load_model(path)
    for a, b in zip(best.get_weights(), snapshots.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(snapshots.weights[1][0], snapshots.weights[2][0])


def test_best_model_checkpoint_never_leaves_a_partial_file(tmp_path):
    x, y = _data()
    path = tmp_path / "best.keras"
    model = _model()
    checkpoint = BestModelCheckpoint(str(path), monitor="loss", save_best_only=False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    before = path.read_bytes()

    def broken_save(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise OSError("disk full")

    model.save = broken_save
    with pytest.raises(OSError, match="disk full"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["best.keras"]


def test_resumable_backup_restores_weights_optimizer_and_callback_state(tmp_path):
    x, y = _data(32)
    backup_dir = tmp_path / "backup"
    model = _model()
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    early = keras.callbacks.EarlyStopping(
        monitor="loss", patience=10, restore_best_weights=True
    )
    snapshots = Snapshots()
    with pytest.raises(RuntimeError, match="simulated kill"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=5,
            verbose=0,
            callbacks=[
                StopAt(2),
                snapshots,
                early,
                ResumableBackup(backup_dir, [early]),
            ],
        )
    pointer = json.loads((backup_dir / "latest.json").read_text())
    assert pointer["epoch"] == 2 and pointer["dir"] == "epoch-00002"
    assert sorted(os.listdir(backup_dir)) == ["epoch-00002", "latest.json"]
    saved_state = pointer["callbacks"][0]
    assert saved_state["best"] == pytest.approx(early.best)

    # A new process: fresh model and callbacks, same backup directory.
    resumed = _model()
    resumed.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    early2 = keras.callbacks.EarlyStopping(
        monitor="loss", patience=10, restore_best_weights=True
    )
    at_start = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not at_start:
                at_start["epoch"] = epoch
                at_start["weights"] = self.model.get_weights()
                at_start["iterations"] = int(self.model.optimizer.iterations)
                at_start["best"] = early2.best
                at_start["best_weights"] = early2.best_weights

    backup = ResumableBackup(backup_dir, [early2])
    history = resumed.fit(
        x,
        y,
        batch_size=8,
        epochs=5,
        verbose=0,
        callbacks=[Probe(), early2, backup],
    )
    assert history.epoch == [2, 3, 4]
    assert at_start["epoch"] == 2 and backup.restored_epoch == 2
    assert at_start["iterations"] == 8  # 2 epochs x 4 steps
    for a, b in zip(at_start["weights"], snapshots.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert at_start["best"] == pytest.approx(saved_state["best"])
    assert at_start["best_weights"] is not None
    # A finished run deletes its backup, as keras.callbacks.BackupAndRestore does.
    assert not backup_dir.exists()


def test_resumable_backup_refuses_a_different_callback_set(tmp_path):
    x, y = _data(16)
    early = keras.callbacks.EarlyStopping(monitor="loss", patience=3)
    with pytest.raises(RuntimeError):
        _model().fit(
            x,
            y,
            epochs=3,
            verbose=0,
            callbacks=[StopAt(1), early, ResumableBackup(tmp_path / "b", [early])],
        )
    with pytest.raises(ValueError, match="same callbacks configuration"):
        _model().fit(
            x, y, epochs=3, verbose=0, callbacks=[ResumableBackup(tmp_path / "b", [])]
        )


class _Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.batches += 1


class _NeedsCounter(keras.layers.Dense):
    """A layer that asks the Trainer for a callback (the public protocol)."""

    def training_callbacks(self):
        self.requested = _Counter()
        return [self.requested]


def test_requested_callbacks_walks_nested_models_and_wrappers():
    inner = keras.Sequential([keras.Input((4,)), _NeedsCounter(3, name="inner")])
    wrapped = keras.layers.TimeDistributed(_NeedsCounter(2, name="wrapped"))
    outer = keras.Sequential([keras.Input((5, 4)), wrapped])
    assert [type(c) for c in requested_callbacks(inner)] == [_Counter]
    assert [type(c) for c in requested_callbacks(outer)] == [_Counter]
    # One instance per class across all layers, none when already given.
    both = keras.Sequential([keras.Input((4,)), inner, _NeedsCounter(2)])
    assert len(requested_callbacks(both)) == 1
    assert requested_callbacks(both, given=[_Counter()]) == []
    assert requested_callbacks(_model()) == []


def test_requested_callbacks_rejects_a_bad_protocol_answer():
    class Bad(keras.layers.Dense):
        def training_callbacks(self):
            return ["not a callback"]

    model = keras.Sequential([keras.Input((4,)), Bad(2)])
    with pytest.raises(TypeError, match="training_callbacks"):
        requested_callbacks(model)


def test_trainer_runs_the_callbacks_a_layer_requests():
    from kerasdl.training import Trainer

    x, y = _data(32)
    layer = _NeedsCounter(2, activation="softmax")
    model = keras.Sequential([keras.Input((4,)), layer])
    Trainer({"epochs": 1, "batch_size": 8, "verbose": 0}).fit(model, x, y)
    assert layer.requested.batches == 4  # 32 samples / batch 8, one epoch
