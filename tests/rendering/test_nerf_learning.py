"""The chapter-17 target: a tiny NeRF reaches 25 dB PSNR on held-out views."""

import time

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.rendering import fit_nerf, make_nerf_data, psnr, render_rays

# The recipe's full settings (recipes/ch17_nerf.py), at fewer steps.
MODEL = {
    "num_samples": 16,
    "num_importance": 16,
    "width": 32,
    "depth": 4,
    "skip": 2,
    "point_frequencies": 6,
    "direction_frequencies": 2,
    "seed": 0,
}
STEPS = 600


@pytest.mark.slow
def test_tiny_nerf_reaches_25_db_on_held_out_views():
    started = time.perf_counter()
    data = make_nerf_data(image_size=32, train_views=40, test_views=4)
    keras.utils.set_random_seed(0)
    model = kerasdl.build("nerf", near=data.near, far=data.far, **MODEL)
    fit_nerf(model, data.train_rays, data.train_pixels, steps=STEPS, batch_size=1024)
    value = psnr(render_rays(model, data.test_rays), data.test_pixels)
    # The background alone (every pixel black) scores far below the target.
    blank = psnr(np.zeros_like(data.test_pixels), data.test_pixels)
    print(
        f"held-out PSNR {value:.2f} dB (blank {blank:.2f} dB), "
        f"{time.perf_counter() - started:.0f} s"
    )
    assert blank < 15.0
    assert value >= 25.0
