"""Training experiments of the fundamentals chapters, and one run per backend.

`test_train_curve_is_the_same_on_every_backend` holds numbers measured on
TensorFlow; CI runs it on JAX and PyTorch too, which is the check that the
three backends train the same model the same way.
"""

import math

import numpy as np
import pytest

from kerasdl.fundamentals.experiments import (
    compare_settings,
    deep_mlp,
    gradient_norm_study,
    small_digits,
)
from kerasdl.fundamentals.frameworks import (
    curve_differences,
    numpy_initial_weights,
    train_curve,
)
from kerasdl.viz.lines import plot_panels


@pytest.fixture(scope="module")
def tiny():
    return small_digits(train_size=64, val_size=32)


def test_train_curve_is_the_same_on_every_backend():
    # Initial weights drawn by NumPy, no shuffling, plain SGD: the first
    # epoch's loss agrees across backends to float32 rounding.
    result = train_curve(epochs=1, seed=0)
    assert result["weights_sha256"] == "32e482c3e0947b9d"
    assert result["loss"][0] == pytest.approx(2.1808503, abs=1e-5)
    assert result["test_accuracy"] == pytest.approx(0.4178273, abs=0.01)


@pytest.mark.one_backend
def test_numpy_initial_weights_are_glorot_with_zero_biases():
    model = deep_mlp(depth=1, width=4)
    weights = numpy_initial_weights(model, seed=0)
    again = numpy_initial_weights(model, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(weights, again))
    kernel, bias = weights[0], weights[1]
    assert np.all(np.abs(kernel) <= math.sqrt(6 / (64 + 4)))
    assert not bias.any()


@pytest.mark.one_backend
def test_curve_differences_against_the_first_backend():
    results = {
        "tensorflow": {"loss": [2.0, 1.0]},
        "jax": {"loss": [2.0, 1.5]},
        "torch": {"error": "failed"},
    }
    assert curve_differences(results) == {"tensorflow": 0.0, "jax": 0.5}


@pytest.mark.one_backend
def test_compare_settings_starts_every_setting_from_the_same_weights(tiny):
    settings = {
        "sgd": {"training": {"optimizer": {"name": "sgd", "learning_rate": 0.1}}},
        "sgd again": {"training": {"optimizer": {"name": "sgd", "learning_rate": 0.1}}},
        "too high": {"training": {"optimizer": {"name": "sgd", "learning_rate": 1e4}}},
        # A model wrapped with its augmentation declares no task: the
        # loss must still be cross-entropy, not the Trainer's regression guess.
        "augmented": {"augmentation": {"translation": 0.1}},
    }
    rows = compare_settings(settings, tiny, epochs=2, batch_size=16)
    assert [r["setting"] for r in rows] == list(settings)
    # Same seed, same setting: the same run, to the last digit.
    assert rows[0]["history"]["loss"] == rows[1]["history"]["loss"]
    assert not rows[0]["diverged"]
    assert rows[0]["history"]["loss"][1] < rows[0]["history"]["loss"][0]
    assert rows[2]["diverged"]
    assert rows[0]["initial_loss"] == pytest.approx(rows[1]["initial_loss"])
    assert 0.0 <= rows[0]["test_accuracy"] <= 1.0
    assert rows[3]["initial_loss"] == pytest.approx(rows[1]["initial_loss"], rel=0.2)
    assert not rows[3]["diverged"]


@pytest.mark.one_backend
def test_compare_settings_names_an_unknown_key(tiny):
    with pytest.raises(ValueError, match="optimiser"):
        compare_settings({"x": {"optimiser": "sgd"}}, tiny, epochs=1)


@pytest.mark.one_backend
def test_deep_mlp_variants_and_their_gradient_norms(tiny):
    model = deep_mlp(depth=3, width=8, residual=True, batch_norm=True)
    names = [layer.name for layer in model.layers]
    assert {"block3_dense", "block3_bn", "block3_add"} <= set(names)
    norms = gradient_norm_study(
        {
            "sigmoid": {"depth": 8, "width": 16},
            "residual": {"depth": 8, "width": 16, "residual": True},
        },
        tiny.x_train,
        tiny.y_train,
    )
    assert norms["sigmoid"][0][0] == "stem"
    ratio = {k: v[0][1] / v[-1][1] for k, v in norms.items()}
    # The identity path carries the gradient back to the first layer.
    assert ratio["residual"] > 100 * ratio["sigmoid"]
    with pytest.raises(ValueError, match="activation"):
        deep_mlp(activation="sigmoidal")


@pytest.mark.one_backend
def test_plot_panels_writes_a_png_and_skips_nan(tmp_path):
    path = plot_panels(
        {"optimizers": {"sgd": [2.0, 1.0], "too high": [2.0, math.nan]}},
        tmp_path / "curves.png",
        log_y=True,
    )
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert path.endswith("curves.png")
    with pytest.raises(ValueError, match="panel"):
        plot_panels({}, tmp_path / "x.png")
