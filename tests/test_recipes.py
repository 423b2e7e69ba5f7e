"""Every recipe runs its real loop on tiny settings (--quick)."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

# ch15 prints two tables and a YAML spec: test_neuroevolution_recipe checks it.
# ch05 prints counts and a file next to fractions: test_detection_recipe.
OWN_TESTS = ("ch15_neuroevolution", "ch05_detection")
RECIPES = sorted(
    p
    for p in pathlib.Path(__file__).parents[1].glob("recipes/ch*.py")
    if p.stem not in OWN_TESTS
)


def _run_quick(recipe, run_root):
    """Runs `recipe --quick` on TensorFlow; returns the finished process."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, str(recipe), "--quick", "--run-root", str(run_root)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="recipes are smoke-tested once, in the TensorFlow pass",
)
@pytest.mark.one_backend
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_quick(recipe, tmp_path):
    done = _run_quick(recipe, tmp_path)
    rows = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(rows) >= 2, done.stdout  # header plus at least one result row
    assert all(0.0 <= float(row.split()[-2]) <= 1.0 for row in rows[1:])


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="recipes are smoke-tested once, in the TensorFlow pass",
)
@pytest.mark.one_backend
def test_neuroevolution_recipe_prints_trajectories_and_a_buildable_spec(tmp_path):
    import yaml

    import kerasdl

    recipe = pathlib.Path(__file__).parents[1] / "recipes" / "ch15_neuroevolution.py"
    done = _run_quick(recipe, tmp_path)
    search, rest = done.stdout.split("ES generation", 1)
    rows = [line.split() for line in search.splitlines()[1:] if line.strip()]
    assert [row[0] for row in rows] == ["c00000", "c00001", "c00002"]
    best = [float(row[-1]) for row in rows]
    assert best == sorted(best) and all(0 < b <= 1 for b in best)
    es_rows, spec_text = rest.split("YAML for `kerasdl build", 1)
    assert len([r for r in es_rows.splitlines()[1:] if r[:1].isdigit()]) == 2
    spec = yaml.safe_load(spec_text.split("\n", 1)[1])
    params = int(es_rows.rsplit("parameters", 1)[0].rsplit(",", 1)[1].split()[0])
    assert kerasdl.build(spec).count_params() == params
    assert yaml.safe_load((tmp_path / "best_spec.yaml").read_text()) == spec


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="recipes are smoke-tested once, in the TensorFlow pass",
)
@pytest.mark.one_backend
def test_detection_recipe_prints_map_and_tflite_agreement_and_draws_boxes(tmp_path):
    import kerasdl

    recipe = pathlib.Path(__file__).parents[1] / "recipes" / "ch05_detection.py"
    done = _run_quick(recipe, tmp_path)
    rows = {}
    for line in done.stdout.splitlines()[1:]:
        name, value = line[:32].strip(), line[32:].split()[0]
        rows[name] = value
    for name in ("mAP@0.5", "mAP@[.5:.95]", "mAP@0.75"):
        assert 0.0 <= float(rows[name]) <= 1.0, rows
    # Decoding + NMS on the TFLite outputs gives the Keras detections.
    assert float(rows["TFLite decode agreement"]) == 1.0, rows
    assert float(rows["TFLite max abs output diff"]) < 1e-3, rows
    assert (tmp_path / "fcos" / "model.tflite").stat().st_size == int(
        rows["TFLite bytes"]
    )
    fcos = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
    assert int(rows["fcos parameters"]) == fcos.count_params()
    assert rows["image"] == str(tmp_path / "detections.png")
    assert (tmp_path / "detections.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.one_backend
def test_the_readme_chapter_map_names_every_recipe():
    # The map is a table (tests/test_readme.py runs code blocks, not tables):
    # one row per chapter, "not yet" where no recipe exists.
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text("utf-8")
    rows = re.findall(r"^\| (\d+) \|[^|]*\| ([^|]*) \|", readme, re.M)
    assert [int(n) for n, _ in rows] == list(range(1, len(rows) + 1)), rows
    named = {m for _, cell in rows for m in re.findall(r"`(ch\d\d_\w+\.py)`", cell)}
    recipes = pathlib.Path(__file__).parents[1].glob("recipes/ch*.py")
    assert named == {p.name for p in recipes}
    for number, cell in rows:
        assert "`ch" in cell or cell.startswith("not yet"), (number, cell)
