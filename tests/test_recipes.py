"""Every recipe runs its real loop on tiny settings (--quick)."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

RECIPES = sorted(pathlib.Path(__file__).parents[1].glob("recipes/ch*.py"))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="recipes are smoke-tested once, in the TensorFlow pass",
)
@pytest.mark.one_backend
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_quick(recipe, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, str(recipe), "--quick", "--run-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(rows) >= 2, done.stdout  # header plus at least one result row
    assert all(0.0 <= float(row.split()[-2]) <= 1.0 for row in rows[1:])
