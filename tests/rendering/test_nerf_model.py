"""The NeRF family's graph, its checks, and the image writers."""

import numpy as np
import pytest
from PIL import Image

import kerasdl
from kerasdl.rendering import fit_nerf, render_rays, save_animation, save_png

TINY = {"width": 8, "depth": 2, "skip": 1, "point_frequencies": 2}


# The graph's structure does not depend on the backend; the registry sweep
# runs the model forward, trains and saves it on every backend.
@pytest.mark.one_backend
def test_coarse_and_fine_passes_are_outputs_fine_first():
    model = kerasdl.build("nerf", num_samples=4, num_importance=3, **TINY)
    assert [t.shape for t in model.outputs] == [(None, 3), (None, 3)]
    assert model.get_layer("fine_samples").output.shape == (None, 7)
    assert model.get_layer("fine_skip") is not None  # the skip connection
    # The colour head reads the features (width 8) and the encoded viewing
    # direction (3 * (1 + 2 * 2 octaves) = 15).
    view = model.get_layer("fine_view").input
    assert [t.shape[-1] for t in view] == [8, 15]
    rays = np.random.default_rng(0).standard_normal((5, 6)).astype("float32")
    colours = render_rays(model, rays)
    assert colours.shape == (5, 3) and np.all((colours >= 0) & (colours <= 1))


@pytest.mark.one_backend
def test_coarse_only_nerf_has_one_output():
    model = kerasdl.build("nerf", num_samples=4, num_importance=0, **TINY)
    assert len(model.outputs) == 1
    assert "fine_render" not in [layer.name for layer in model.layers]


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "hparams, match",
    [
        ({"near": 3.0, "far": 2.0}, "far"),
        ({"num_samples": 1, "num_importance": 0}, "num_samples"),
        ({"num_samples": 2, "num_importance": 2}, "num_samples"),
        ({"num_importance": -1}, "num_importance"),
        ({"skip": 5, "depth": 4}, "skip"),
        ({"background": 2.0}, "background"),
    ],
)
def test_invalid_hyperparameters_are_named(hparams, match):
    with pytest.raises(ValueError, match=match):
        kerasdl.build("nerf", **hparams)


@pytest.mark.one_backend
def test_fit_nerf_checks_its_arrays():
    model = kerasdl.build("nerf", num_samples=4, num_importance=0, **TINY)
    with pytest.raises(ValueError, match="rays"):
        fit_nerf(model, np.zeros((4, 3)), np.zeros((4, 3)), steps=1)
    with pytest.raises(ValueError, match="steps"):
        fit_nerf(model, np.zeros((4, 6)), np.zeros((4, 3)), steps=0)


@pytest.mark.one_backend
def test_png_and_gif_writers(tmp_path):
    frames = np.random.default_rng(0).random((3, 4, 5, 3)).astype("float32")
    png = save_png(frames[0], tmp_path / "views" / "a.png", scale=2)
    with Image.open(png) as image:
        assert image.size == (10, 8)
        pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels[::2, ::2], np.round(frames[0] * 255))
    gif = save_animation(frames, tmp_path / "orbit.gif", duration_ms=50)
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 3
    with pytest.raises(ValueError, match="image"):
        save_png(np.zeros((4, 4)), tmp_path / "bad.png")
