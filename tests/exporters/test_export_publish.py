"""Publishing an export: a kill never loses the folder, leftovers are cleaned.

Folder moves only (the "keras" format of a one-layer model), so one backend.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

from kerasdl import _io
from kerasdl._io import recover_folder
from kerasdl.exporters import export

pytestmark = pytest.mark.one_backend

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD = {
    "manifest.json": b'{"name": "previous"}',
    "model.tflite": b"old tflite bytes",
    "notes.txt": b"kept by the user",
}


def _small_model():
    inputs = keras.Input((6,), name="features")
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(inputs)
    return keras.Model(inputs, outputs, name="small")


def _previous(folder):
    folder.mkdir(parents=True)
    for name, data in OLD.items():
        (folder / name).write_bytes(data)
    return folder


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _assert_new_export(folder):
    names = sorted(_files(folder))
    assert names == ["manifest.json", "model.keras", "notes.txt"], names
    assert (folder / "notes.txt").read_bytes() == OLD["notes.txt"]
    assert list(json.loads((folder / "manifest.json").read_text())["files"]) == [
        "keras"
    ]


# Exports into argv[1] and, between the two renames of the publish step
# (the path taken where no atomic swap exists), writes argv[2] and sleeps
# until it is killed.
_KILLED_EXPORT = """
import sys, time
import keras
from kerasdl import _io
from kerasdl.exporters import export

def pause():
    open(sys.argv[2], "w").close()
    time.sleep(600)

_io._exchange = lambda first, second: False
_io._between_renames = pause
inputs = keras.Input((6,), name="features")
model = keras.Model(inputs, keras.layers.Dense(3, name="probs")(inputs))
export(model, sys.argv[1], formats=("keras",))
"""


def _kill_inside_the_publish_step(tmp_path, target):
    """Runs an export in a subprocess and SIGKILLs it inside the publish step."""
    script = tmp_path / "killed_export.py"
    script.write_text(textwrap.dedent(_KILLED_EXPORT))
    flag = tmp_path / "in_window"
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, str(script), str(target), str(flag)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not flag.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the export never reached the window"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()


def test_a_kill_after_the_atomic_swap_leaves_the_new_folder(tmp_path, monkeypatch):
    probe = [tmp_path / "probe_a", tmp_path / "probe_b"]
    for folder in probe:
        folder.mkdir()
    if not _io._exchange(*map(str, probe)):
        pytest.skip("no atomic exchange (renameat2) on this system")
    target = _previous(tmp_path / "models" / "small")
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):  # as if killed before the old is deleted
        if ".export-" not in str(path):
            real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(_io.shutil, "rmtree", rmtree)
    export(_small_model(), target, formats=("keras",))
    monkeypatch.undo()
    # The target was never missing: it is the new export, complete; the old
    # folder waits under the staging name and the next export removes it.
    _assert_new_export(target)
    leftovers = sorted(os.listdir(target.parent))
    assert leftovers[0].startswith(".small.export-") and leftovers[1] == "small"
    assert _files(target.parent / leftovers[0]) == OLD
    export(_small_model(), target, formats=("keras",))
    _assert_new_export(target)
    assert os.listdir(target.parent) == ["small"]


def test_a_kill_between_the_publish_renames_is_restored_by_the_next_export(tmp_path):
    target = _previous(tmp_path / "models" / "small")
    _kill_inside_the_publish_step(tmp_path, target)
    # Killed inside the window: the target is missing, the old folder is
    # complete beside it, under its aside name, next to the new staging one.
    leftovers = sorted(os.listdir(target.parent))
    assert "small" not in leftovers
    assert [n[:11] for n in leftovers] == [".small.expo", ".small.old-"], leftovers
    old = target.parent / leftovers[1]
    assert _files(old) == OLD
    # Recovery alone puts the old folder back, byte for byte, and cleans up.
    recover_folder(target)
    assert _files(target) == OLD
    assert os.listdir(target.parent) == ["small"]
    # Killed again in the same place, the next export restores and publishes.
    os.replace(target, old)
    (target.parent / ".small.export-0123abcd").mkdir()
    export(_small_model(), target, formats=("keras",))
    _assert_new_export(target)
    assert os.listdir(target.parent) == ["small"]


def test_staging_and_old_folders_of_killed_exports_are_cleaned(tmp_path):
    target = _previous(tmp_path / "small")
    for name in (
        ".small.export-0123abcd",
        ".small.old-89abcdef",
        ".small.scratch-4567cdef",
        ".small.mine",
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.bin").write_bytes(b"x")
    export(_small_model(), target, formats=("keras",))
    _assert_new_export(target)
    assert sorted(os.listdir(tmp_path)) == [".small.mine", "small"]


def test_exporting_into_a_symlinked_folder_writes_through_the_link(tmp_path):
    real = _previous(tmp_path / "store" / "small")
    (tmp_path / "models").mkdir()
    link = tmp_path / "models" / "small"
    link.symlink_to(real, target_is_directory=True)
    export(_small_model(), link, formats=("keras",))
    assert link.is_symlink() and os.readlink(link) == str(real)
    _assert_new_export(real)
    assert os.listdir(tmp_path / "store") == ["small"]
    assert os.listdir(tmp_path / "models") == ["small"]
