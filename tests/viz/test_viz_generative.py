"""Sample grids, latent scatter plots and interpolations as PNG files."""

import numpy as np
import pytest
from PIL import Image

import kerasdl
from kerasdl.generative import latent_interpolation
from kerasdl.viz import plot_interpolation, plot_latent_scatter, plot_sample_grid


def _png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("L"), np.float32)


def test_sample_grid_shows_the_images(tmp_path):
    images = np.zeros((12, 8, 8, 1), "float32")
    images[::2] = 1.0  # alternate white and black cells
    path = plot_sample_grid(
        images, tmp_path / "grid.png", labels=list(range(12)), ncols=6
    )
    pixels = _png(path)
    assert pixels.max() > 200 and pixels.min() < 50
    with pytest.raises(ValueError, match="labels"):
        plot_sample_grid(images, tmp_path / "bad.png", labels=[1, 2])
    with pytest.raises(ValueError, match=r"images=.*shape \(2, 3\)"):
        plot_sample_grid(np.zeros((2, 3)), tmp_path / "bad.png")


def test_latent_scatter(tmp_path):
    rng = np.random.default_rng(0)
    path = plot_latent_scatter(
        rng.standard_normal((100, 2)), np.arange(100) % 10, tmp_path / "z.png"
    )
    assert _png(path).std() > 0
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_latent_scatter(np.zeros((5, 3)), np.zeros(5), tmp_path / "bad.png")


def test_interpolation_goes_from_start_to_end(tmp_path):
    vae = kerasdl.build("vae", image_shape=(8, 8, 1), latent_dim=2, hidden_units=[8])
    z = np.array([[-2.0, 0.0], [2.0, 1.0]], "float32")
    rows = latent_interpolation(vae, z[0], z[1], steps=5)
    assert rows.shape == (1, 5, 8, 8, 1)
    np.testing.assert_allclose(rows[0, 0], vae.decode(z[:1])[0], atol=1e-6)
    np.testing.assert_allclose(rows[0, -1], vae.decode(z[1:])[0], atol=1e-6)
    assert _png(plot_interpolation(rows, tmp_path / "interp.png")).std() > 0
    with pytest.raises(ValueError, match=r"latent_dim=2"):
        latent_interpolation(vae, np.zeros(3), np.zeros(3))
    gan = kerasdl.build(
        "cgan", image_shape=(8, 8, 1), latent_dim=4, filters=[4], num_classes=3
    )
    rows = latent_interpolation(
        gan, np.zeros((2, 4)), np.ones((2, 4)), steps=3, labels=[0, 2]
    )
    assert rows.shape == (2, 3, 8, 8, 1)
