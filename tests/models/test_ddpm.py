"""ddpm: schedules against their formulas, the diffusion loss through fit, label
dropout, weight EMA, save/load and argument errors (tiny shapes, every backend)."""

import math

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.generative.diffusion import DiffusionModel, alphas_cumprod

TINY = dict(
    image_shape=(8, 8, 1),
    channels=8,
    channel_multipliers=(1, 2),
    attention_resolutions=(4,),
    groups=4,
    timesteps=20,
)


# DiffusionModel's training step is backend-independent Keras code (ops in
# compute_loss), and the sweep fits, round-trips and saves the tiny ddpm on
# every backend; the longer fits below each trace a U-Net's training step (tens
# of seconds per model), so they run once, on TensorFlow.
ONE_BACKEND = pytest.mark.one_backend


def _images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, 1)).astype("float32")


def _weights(model, name):
    return keras.ops.convert_to_numpy(model.get_layer(name).weights[0]).copy()


def test_linear_schedule_is_ho_et_al():
    abar = alphas_cumprod("linear", 1000)
    betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
    np.testing.assert_allclose(
        betas[[0, 500, 999]],
        [1e-4, 1e-4 + 0.5 * (0.02 - 1e-4) * 1000 / 999, 0.02],
        rtol=1e-6,
    )
    # Fewer steps rescale the betas so the process still ends near pure noise.
    assert alphas_cumprod("linear", 100)[-1] < 1e-3


def test_cosine_schedule_is_nichol_dhariwal():
    abar = alphas_cumprod("cosine", 1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(abar[499], f(500) / f(0), rtol=1e-9)
    assert np.all(np.diff(abar) < 0) and 0 < abar[-1] < 1e-4


def test_inputs_and_null_class():
    model = kerasdl.build("ddpm", num_classes=3, **TINY)
    assert isinstance(model, DiffusionModel)
    assert [t.name for t in model.inputs] == ["noisy_image", "timestep", "label"]
    # One embedding row per class plus the null class of guidance.
    assert model.get_layer("label_embedding").input_dim == 4
    assert model.sampling_steps == 20 and model.num_classes == 3
    uncond = kerasdl.build("ddpm", **TINY)
    assert len(uncond.inputs) == 2 and uncond.num_classes is None


@ONE_BACKEND
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_fit_on_images_lowers_the_diffusion_loss(prediction):
    # One resolution level, no attention: the loss is what is tested here, and
    # tracing the smaller U-Net's training step takes half the time.
    small = {**TINY, "channel_multipliers": (1,), "attention_resolutions": ()}
    model = kerasdl.build("ddpm", prediction=prediction, **small)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = np.tile(_images(1), (32, 1, 1, 1))  # one image: easy to denoise
    history = model.fit(x, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert history[0] > 0.3, history  # regressing unit-variance targets
    assert np.mean(history[-3:]) < 0.6 * history[0], history


@ONE_BACKEND
def test_label_dropout_trains_the_null_class_row_only_as_often_as_asked():
    x, y = _images(16), np.arange(16) % 3
    for dropout, trained_rows, frozen_rows in (
        (1.0, [3], [0, 1, 2]),
        (0.0, [0, 1, 2], [3]),
    ):
        model = kerasdl.build("ddpm", num_classes=3, label_dropout=dropout, **TINY)
        # One step: eager is cheaper than tracing the U-Net's training step.
        model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
        before = _weights(model, "label_embedding")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        after = _weights(model, "label_embedding")
        changed = np.abs(after - before).max(axis=1) > 0
        assert changed[trained_rows].all() and not changed[frozen_rows].any(), dropout


@ONE_BACKEND
def test_default_compile_keeps_an_ema_that_fit_leaves_in_the_weights():
    x = _images(32)
    runs = {}
    for momentum in (0.0, 0.9):
        keras.utils.set_random_seed(7)
        model = kerasdl.build("ddpm", ema_momentum=momentum, **TINY)
        model.compile(run_eagerly=True)  # 4 steps: cheaper than tracing
        assert model.optimizer.use_ema is (momentum > 0)
        start = _weights(model, "output")
        model.fit(x, epochs=1, batch_size=8, verbose=0)
        runs[momentum] = np.abs(_weights(model, "output") - start).sum()
    # The average lags behind the raw weights: it has moved less.
    assert 0 < runs[0.9] < 0.8 * runs[0.0], runs


@ONE_BACKEND
def test_save_load_keeps_config_optimizer_and_outputs(tmp_path):
    model = kerasdl.build(
        "ddpm",
        num_classes=3,
        prediction="v",
        schedule="cosine",
        pixel_range=(-1, 1),
        **TINY,
    )
    model.compile(run_eagerly=True)  # 2 steps: cheaper than tracing
    model.fit(_images(8) * 2 - 1, np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "ddpm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DiffusionModel)
    for key in ("timesteps", "schedule", "prediction", "num_classes", "pixel_range"):
        assert getattr(loaded, key) == getattr(model, key), key
    assert loaded.optimizer.use_ema and loaded.optimizer.iterations.numpy() == 2
    inputs = [_images(2), np.array([3.0, 11.0], "float32"), np.array([0, 3], "int32")]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(inputs)),
        keras.ops.convert_to_numpy(model(inputs)),
        atol=1e-5,
    )
    loaded.run_eagerly = True
    loaded.fit(_images(8), np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    assert loaded.optimizer.iterations.numpy() == 4  # it goes on training


def test_fit_errors_name_the_labels():
    conditional = kerasdl.build("ddpm", num_classes=3, **TINY)
    conditional.compile()
    with pytest.raises(ValueError, match=r"y=None .*num_classes=3"):
        conditional.fit(_images(4), epochs=1, verbose=0)
    unconditional = kerasdl.build("ddpm", **TINY)
    unconditional.compile()
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.fit(_images(4), np.zeros(4), epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"schedule": "cosin"}, r"schedule='cosin'. Did you mean 'cosine'"),
        ({"prediction": "x0"}, r"prediction='x0'"),
        ({"timesteps": 0}, r"timesteps=0"),
        ({"image_shape": (9, 9, 1)}, r"image_shape=\(9, 9, 1\).*divisible by 2"),
        ({"label_dropout": 1.5}, r"label_dropout=1.5"),
        ({"pixel_range": (1, 0)}, r"pixel_range=\(1, 0\)"),
        ({"num_classes": 0}, r"num_classes=0"),
    ],
)
def test_bad_hyperparameters_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kerasdl.build("ddpm", **{**TINY, **kwargs})
