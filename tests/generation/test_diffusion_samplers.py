"""Diffusion samplers against an exact denoiser, seeds, guidance and bad arguments.

The oracle model's data are Gaussian per pixel with a mean per class, so its
ideal noise prediction is known in closed form: E[eps | x_t] =
sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a) with a = alpha_bar[t]. Run
through the samplers, it must give samples with mean mu and std s: a wrong
coefficient in a DDPM or DDIM step shows up as a wrong mean or spread.
"""

import keras
import numpy as np
import pytest
from keras import ops

import kerasdl
from kerasdl.generation import diffusion
from kerasdl.models.generative.diffusion import DiffusionModel, alphas_cumprod

T = 200
MEANS = np.array([-0.5, 0.3, 0.0])  # classes 0, 1 and the null class
STD = 0.2


class _Oracle(keras.layers.Layer):
    """The exact network output for Gaussian data with a mean per label."""

    def __init__(self, prediction, schedule, **kwargs):
        super().__init__(**kwargs)
        self.prediction, self.schedule = prediction, schedule

    def call(self, x, t, label):
        abar = ops.take(
            ops.convert_to_tensor(alphas_cumprod(self.schedule, T), "float32"),
            ops.cast(t, "int32"),
        )[:, None, None, None]
        mu = ops.take(ops.convert_to_tensor(MEANS, "float32"), label)[
            :, None, None, None
        ]
        eps = (
            ops.sqrt(1 - abar) * (x - ops.sqrt(abar) * mu) / (abar * STD**2 + 1 - abar)
        )
        if self.prediction == "epsilon":
            return eps
        x0 = (x - ops.sqrt(1 - abar) * eps) / ops.sqrt(abar)
        return ops.sqrt(abar) * eps - ops.sqrt(1 - abar) * x0


def _oracle(prediction="epsilon", schedule="linear"):
    x = keras.Input((4, 4, 1))
    t = keras.Input(())
    label = keras.Input((), dtype="int32")
    out = _Oracle(prediction, schedule)(x, t, label)
    return DiffusionModel(
        inputs=[x, t, label],
        outputs=out,
        timesteps=T,
        schedule=schedule,
        prediction=prediction,
        num_classes=2,
        pixel_range=(-1.0, 1.0),
    )


def _ddim_std(schedule, steps):
    """Exact std of deterministic DDIM samples for this oracle's data.

    With Gaussian data every DDIM step maps the deviation d = x_t -
    sqrt(a) mu linearly: d' = (sqrt(a' a) s^2 + sqrt((1 - a')(1 - a))) d / V
    with V = a s^2 + 1 - a (coarse steps shrink the spread; the exact flow
    would keep d / sqrt(V) fixed).
    """
    abar = alphas_cumprod(schedule, T)
    ts = diffusion.timestep_sequence(T, steps)
    std = 1.0
    for i, t in enumerate(ts):
        a, a_prev = abar[t], (abar[ts[i + 1]] if i + 1 < len(ts) else 1.0)
        v = a * STD**2 + 1 - a
        std *= (np.sqrt(a_prev * a) * STD**2 + np.sqrt((1 - a_prev) * (1 - a))) / v
    return std


@pytest.mark.parametrize(
    "prediction, schedule, sampler, steps, eta",
    [
        ("epsilon", "linear", "ddpm", None, None),
        ("v", "cosine", "ddpm", None, None),
        ("epsilon", "cosine", "ddpm", 20, None),
        ("epsilon", "linear", "ddim", 10, 0.0),
        ("v", "cosine", "ddim", 50, 0.0),
        ("v", "linear", "ddim", T, 1.0),
    ],
)
def test_samplers_reproduce_the_data_distribution(
    prediction, schedule, sampler, steps, eta
):
    model = _oracle(prediction, schedule)
    x = model.generate(
        400, labels=np.arange(400) % 2, seed=0, sampler=sampler, steps=steps, eta=eta
    )
    if eta == 0.0:
        expected_std, tolerance = _ddim_std(schedule, steps), 0.05
    elif steps in (None, T):
        # Full-length ancestral sampling (or DDIM with eta=1) recovers the data.
        expected_std, tolerance = STD, 0.1
    else:
        expected_std, tolerance = None, None  # respaced: only the mean is exact
    for label in (0, 1):
        values = x[label::2]
        assert abs(values.mean() - MEANS[label]) < 0.03, (label, values.mean())
        if expected_std is not None:
            assert abs(values.std() / expected_std - 1) < tolerance, (
                label,
                values.std(),
                expected_std,
            )


def test_guidance_extrapolates_from_the_null_class():
    model = _oracle()
    means = {
        g: model.generate(200, labels=0, seed=1, steps=10, guidance=g).mean()
        for g in (0.0, 1.0, 2.0)
    }
    np.testing.assert_allclose(means[0.0], MEANS[2], atol=0.03)  # unconditional
    np.testing.assert_allclose(means[1.0], MEANS[0], atol=0.03)  # conditional
    assert means[2.0] < means[1.0] - 0.1, means  # pushed past the class mean


def test_same_seed_same_images_and_trajectory_ends_in_the_sample(tmp_path):
    model = kerasdl.build(
        "ddpm",
        image_shape=(8, 8, 1),
        num_classes=3,
        channels=8,
        channel_multipliers=(1, 2),
        groups=4,
        timesteps=12,
    )
    a = kerasdl.generative.sample(model, 5, labels=[0, 1, 2, 0, 1], seed=3, steps=6)
    b = model.generate(5, labels=[0, 1, 2, 0, 1], seed=3, steps=6)
    c = model.generate(5, labels=[0, 1, 2, 0, 1], seed=4, steps=6)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert a.shape == (5, 8, 8, 1) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0  # the model's pixel_range
    d1 = model.generate(4, seed=5, sampler="ddim", steps=5)
    d2 = model.generate(4, seed=5, sampler="ddim", steps=5, batch_size=3)
    # Float noise only (the random draws are the same): DDIM's direction
    # term carries the network's output, whose last bits depend on the batch
    # size, and x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) scales them up
    # at the noisiest steps (abar ~ 1e-7 at t = 11 here): 2.3e-5 measured.
    np.testing.assert_allclose(d1, d2, atol=1e-4)

    frames = diffusion.denoising_trajectory(model, 3, seed=3, steps=6, frames=4)
    assert frames.shape == (4, 3, 8, 8, 1)
    np.testing.assert_allclose(
        frames[-1], model.generate(3, seed=3, steps=6), atol=1e-6
    )
    path = kerasdl.viz.plot_denoising_trajectory(
        frames, tmp_path / "trajectory.png", step_labels=["noise", "2", "4", "6"]
    )
    from PIL import Image

    width, height = Image.open(path).size
    assert width > height > 0  # 4 columns, 3 rows
    with pytest.raises(ValueError, match="expected 4 labels"):
        kerasdl.viz.plot_denoising_trajectory(
            frames, tmp_path / "x.png", step_labels=["a"]
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": -1}, r"steps=-1: expected an integer in \[1, 200\]"),
        ({"steps": 0}, r"steps=0"),
        ({"steps": 201}, r"steps=201: .*training timesteps"),
        (
            {"sampler": "ddim", "eta": 1.5},
            r"eta=1.5: expected a number in \[0.0, 1.0\]",
        ),
        ({"sampler": "ddim", "eta": -0.1}, r"eta=-0.1"),
        ({"eta": 0.5}, r"eta=0.5: expected None for sampler='ddpm'"),
        ({"labels": 2}, r"labels=2: expected class ids in \[0, 1\]"),
        ({"labels": [0, -1]}, r"labels=-1"),
        ({"guidance": -1.0}, r"guidance=-1.0"),
        ({"sampler": "dpm"}, r"sampler='dpm'.*Accepted: 'ddpm', 'ddim'"),
        ({"n": -2}, r"n=-2"),
    ],
)
def test_bad_arguments_name_the_value_and_what_is_accepted(kwargs, match):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        _oracle().generate(**kwargs)


def test_guidance_and_labels_need_a_conditional_model():
    model = kerasdl.build(
        "ddpm",
        image_shape=(8, 8, 1),
        channels=8,
        channel_multipliers=(1, 2),
        groups=4,
        timesteps=12,
    )
    with pytest.raises(
        ValueError, match=r"guidance=2.0: expected None: .*num_classes=None"
    ):
        model.generate(2, guidance=2.0)
    with pytest.raises(ValueError, match=r"labels=1: .*unconditional"):
        model.generate(2, labels=1)
    with pytest.raises(ValueError, match="DiffusionModel"):
        diffusion.generate(keras.Sequential([keras.Input((2,))]), 2)
