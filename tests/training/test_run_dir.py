"""The run directory never loses a user's files and trusts no run file blindly.

Files and folders only (the model is a one-layer classifier trained for a
step or two), so one backend.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest
from training_helpers import StopAt

from kerasdl.training import Trainer, load_history

pytestmark = pytest.mark.one_backend


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def _model():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax")]
    )


def _config(run_dir, **extra):
    return {
        "verbose": 0,
        "batch_size": 8,
        "epochs": 3,
        "run_dir": str(run_dir),
        "callbacks": {"plot": False, "early_stopping": {"patience": 9}},
        **extra,
    }


def _interrupted(run_dir):
    """A run stopped at the start of epoch 2 (backup of epoch 1 in place)."""
    x, y = _data()
    with pytest.raises(RuntimeError, match="simulated kill"):
        Trainer(_config(run_dir, resume=True)).fit(
            _model(), x, y, callbacks=[StopAt(2)]
        )
    return run_dir / "backup" / "latest.json"


def _user_folder(path):
    (path / "logs").mkdir(parents=True)
    (path / "logs" / "events.txt").write_text("my logs")
    (path / "backup").mkdir()
    (path / "backup" / "latest.json").write_text('{"mine": true}')
    (path / "notes.txt").write_text("my notes")
    (path / "config.yaml").write_text("epochs: 99\n")
    return {
        "logs/events.txt": "my logs",
        "backup/latest.json": '{"mine": true}',
        "notes.txt": "my notes",
        "config.yaml": "epochs: 99\n",
    }


def _assert_files(root, files):
    for name, text in files.items():
        assert (root / name).read_text() == text, name


@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_with_the_users_files_is_refused_and_left_alone(tmp_path, resume):
    files = _user_folder(tmp_path)
    x, y = _data()
    with pytest.raises(ValueError, match="not a kerasdl run folder") as info:
        Trainer(_config(tmp_path, resume=resume)).fit(_model(), x, y)
    assert "overwrite: true" in str(info.value) and "notes.txt" in str(info.value)
    _assert_files(tmp_path, files)
    assert sorted(os.listdir(tmp_path)) == [
        "backup",
        "config.yaml",
        "logs",
        "notes.txt",
    ]


def test_overwrite_replaces_only_kerasdl_run_files(tmp_path):
    _user_folder(tmp_path)
    x, y = _data()
    Trainer(_config(tmp_path, overwrite=True, epochs=1)).fit(_model(), x, y)
    assert (tmp_path / "notes.txt").read_text() == "my notes"
    assert load_history(tmp_path)["completed"] is True
    # A kerasdl run folder may be trained again without overwrite; a file the
    # user added to it stays.
    (tmp_path / "extra.txt").write_text("kept")
    Trainer(_config(tmp_path, epochs=1)).fit(_model(), x, y)
    assert (tmp_path / "extra.txt").read_text() == "kept"
    assert load_history(tmp_path)["epochs"] == [0]


# Edits of latest.json and the error each must give.
_TAMPERED = [
    (lambda text: text[: len(text) // 2], "Could not parse"),
    (lambda text: "[]", "expected the keys"),
    (lambda text: text.replace('"epoch-00002"', '"../../outside"'), "not a backup"),
    (lambda text: text.replace('"epoch-00002"', '"/etc"'), "not a backup folder"),
    (lambda text: text.replace('"epoch-00002"', '"epoch-00007"'), "is missing"),
    (lambda text: text.replace('"epoch": 2', '"epoch": -1'), "not an epoch count"),
    (lambda text: text.replace('"wait"', '"model"'), "unknown keys"),
]


def test_a_tampered_or_truncated_latest_json_is_refused_by_name(tmp_path):
    run_dir = tmp_path / "run"
    _interrupted(run_dir)
    # The config names its run_dir: each case edits a fresh copy in place.
    shutil.copytree(run_dir, tmp_path / "pristine")
    x, y = _data()
    for edit, match in _TAMPERED:
        shutil.rmtree(run_dir)
        shutil.copytree(tmp_path / "pristine", run_dir)
        pointer = run_dir / "backup" / "latest.json"
        pointer.write_text(edit(pointer.read_text()))
        with pytest.raises(ValueError, match=match) as info:
            Trainer(_config(run_dir, resume=True)).fit(_model(), x, y)
        message = str(info.value)
        assert str(pointer) in message and "resume: false" in message, message


def test_a_truncated_history_or_backup_weights_file_is_named(tmp_path):
    _interrupted(tmp_path)
    x, y = _data()
    config = _config(tmp_path, resume=True)
    weights = tmp_path / "backup" / "epoch-00002" / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="model.weights.h5.*resume: false"):
        Trainer(config).fit(_model(), x, y)
    _interrupted(tmp_path / "second")
    (tmp_path / "second" / "history.json").write_text('{"epochs": [0, 1], "hist')
    with pytest.raises(ValueError, match="history.json.*damaged"):
        Trainer(_config(tmp_path / "second", resume=True)).fit(_model(), x, y)


def test_resume_removes_temporaries_of_killed_writes(tmp_path):
    _interrupted(tmp_path)
    backup = tmp_path / "backup"
    stale = [
        tmp_path / ".best.keras.ab12cd34.keras",
        tmp_path / ".history.json.0a1b2c3d.tmp",
        backup / ".latest.json.zz12zz34.tmp",
    ]
    for path in stale:
        path.write_text("half")
    for folder in (".epoch-00003.staging-0123abcd", "epoch-00001"):
        (backup / folder).mkdir()
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.setdefault("root", sorted(os.listdir(tmp_path)))
            seen.setdefault("backup", sorted(os.listdir(backup)))

    x, y = _data()
    history = Trainer(_config(tmp_path, resume=True)).fit(
        _model(), x, y, callbacks=[Probe()]
    )
    assert history.epoch == [2]
    assert seen["backup"] == ["epoch-00002", "latest.json"]
    assert not [name for name in seen["root"] if name.startswith(".")]
    assert json.loads((tmp_path / "history.json").read_text())["completed"] is True
