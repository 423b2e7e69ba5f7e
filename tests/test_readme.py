"""Every code block of README.md runs, so the README cannot drift from the code.

Fenced blocks are executed by their language tag, in a temporary working
folder, on tiny data:

- ``python``: executed as written (each block is self-contained);
- ``yaml``: a model spec is built with `kerasdl.build`; a training config is
  validated and trains for one epoch; a run config (`kerasdl train` /
  `kerasdl compress`) is validated completely;
- ``bash``: each `kerasdl ...` line runs through the launcher's `main` (the
  README's own example files are written first); `make` lines are what CI
  itself runs (`.ci/run` calls `make test`; the quickstart has its own slow
  test), so they are checked to name Makefile targets instead; `pip install`
  lines must pin what pyproject.toml pins.

An untagged block is output or a drawing, never code. A block whose tag is
none of the above fails the test, so new kinds of blocks get a runner.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import keras
import pytest
import yaml

import kerasdl

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# README blocks train and export real (tiny) models: once, on TensorFlow.
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="README blocks run once, on the TensorFlow backend",
)


def _blocks():
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        lang, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(pytest.param(lang, body, id=f"L{line}-{lang or 'text'}"))
    return blocks


BLOCKS = _blocks()


def test_readme_has_code_blocks():
    langs = {p.values[0] for p in BLOCKS}
    assert {"python", "yaml", "bash"} <= langs, langs


def _run_yaml(body: str) -> None:
    data = yaml.safe_load(body)
    assert isinstance(data, dict), f"YAML block is not a mapping: {body[:80]!r}"
    if "data" in data or "compression" in data:
        # A run config: validated end to end (no data is loaded).
        from kerasdl.runconfig import load_run_config

        load_run_config(data, "compress" if "compression" in data else "train")
    elif "epochs" in data or "optimizer" in data:
        from kerasdl.training import Trainer

        data = {**data, "epochs": 1, "verbose": 0}
        model = kerasdl.build("mlp", input_shape=(8,), num_classes=3, hidden_units=[8])
        x = keras.random.normal((256, 8), seed=0)
        y = keras.ops.arange(256) % 3
        before = [w.copy() for w in model.get_weights()]
        Trainer(data).fit(model, x, y, validation_data=(x, y))
        assert any((a != b).any() for a, b in zip(before, model.get_weights())), (
            "the README's training config did not train the model"
        )
    else:
        model = kerasdl.build(body)
        assert model.count_params() > 0


def _run_bash(body: str) -> None:
    from kerasdl_cli import main

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for raw in body.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        if argv[0] == "make":
            assert re.search(rf"^{argv[1]}:", makefile, re.M), line
            continue
        if argv[:2] == ["pip", "install"]:
            # Installs are not run here; a pinned package must match the pin
            # in pyproject.toml so the README cannot drift from it.
            pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
            for requirement in argv[2:]:
                if "==" in requirement:
                    assert f'"{requirement}"' in pyproject, line
            continue
        assert argv[0] == "kerasdl", (
            f"README bash line is not a kerasdl command: {line}"
        )
        if argv[1:2] == ["quickstart"]:
            continue  # tests/test_workflow.py runs it (marked slow)
        assert main(argv[1:]) == 0, f"README command failed: {line}"


def _write_example_files() -> None:
    """The files the README's command-line block refers to, written small."""
    Path("my_spec.yaml").write_text(
        "model: mlp\ninput_shape: [8]\nnum_classes: 3\nhidden_units: [8]\n",
        encoding="utf-8",
    )
    run = {
        "data": {"name": "digits", "image_size": 8, "seed": 0},
        "model": {"model": "mlp", "hidden_units": [16]},
        "training": {"epochs": 1, "batch_size": 64, "verbose": 0},
    }
    Path("run.yaml").write_text(yaml.safe_dump(run), encoding="utf-8")
    compress = {
        **run,
        "compression": [{"prune": {"final_sparsity": 0.5}}],
        "export": {"directory": "savedmodels/readme", "formats": ["tflite"]},
    }
    Path("compress.yaml").write_text(yaml.safe_dump(compress), encoding="utf-8")


@pytest.mark.parametrize("lang, body", BLOCKS)
def test_readme_block_runs(lang, body, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if lang == "python":
        exec(compile(body, str(README), "exec"), {"__name__": "__readme__"})
    elif lang == "yaml":
        _run_yaml(body)
    elif lang == "bash":
        _write_example_files()
        _run_bash(body)
    elif lang != "":
        pytest.fail(f"README block with tag {lang!r} has no runner in this test")
