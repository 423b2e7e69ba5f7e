"""Rendering building blocks against closed forms, on every backend."""

import math

import numpy as np
import pytest
from keras import ops

import kerasdl
from kerasdl.rendering import (
    SPHERES,
    Sphere,
    camera_rays,
    look_at,
    make_nerf_data,
    orbit_poses,
    positional_encoding,
    psnr,
    sample_pdf,
    stratified_depths,
    trace_spheres,
    volume_render,
)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_constant_density_gives_the_analytic_transmittance():
    # A homogeneous medium of density s: the light reaching depth t is
    # exp(-s (t - t0)), and a ray through length L is opaque 1 - exp(-s L).
    sigma, n, step = 0.7, 16, 0.25
    t = 2.0 + step * np.arange(n, dtype="float32")[None]
    directions = np.array([[0.0, 0.0, -1.0]], "float32")
    colour = np.array([0.2, 0.5, 0.9], "float32")
    out = volume_render(
        np.broadcast_to(colour, (1, n, 3)),
        np.full((1, n), sigma, "float32"),
        t,
        directions,
        background=1.0,
    )
    expected_t = np.exp(-sigma * step * np.arange(n))
    np.testing.assert_allclose(_np(out["transmittance"])[0], expected_t, rtol=1e-5)
    acc = 1 - math.exp(-sigma * step * n)  # the last sample spans one step too
    np.testing.assert_allclose(_np(out["acc"])[0], acc, rtol=1e-5)
    np.testing.assert_allclose(
        _np(out["rgb"])[0], colour * acc + (1 - acc) * 1.0, rtol=1e-5
    )
    # Expected depth: the weights' mean of t.
    weights = expected_t * (1 - math.exp(-sigma * step))
    np.testing.assert_allclose(_np(out["depth"])[0], np.sum(weights * t[0]), rtol=1e-5)


def test_distances_scale_with_the_direction_length():
    # Doubling the direction doubles the distance between samples.
    t = np.linspace(0, 1, 8, dtype="float32")[None]
    sigma = np.ones((1, 8), "float32")
    rgb = np.zeros((1, 8, 3), "float32")
    unit = _np(volume_render(rgb, sigma, t, np.array([[1.0, 0, 0]], "float32"))["acc"])
    double = _np(
        volume_render(rgb, sigma, t, np.array([[2.0, 0, 0]], "float32"))["acc"]
    )
    np.testing.assert_allclose(1 - double, (1 - unit) ** 2, rtol=1e-5)


def test_an_opaque_wall_hides_what_is_behind_it():
    t = np.linspace(2, 6, 8, dtype="float32")[None]
    sigma = np.zeros((1, 8), "float32")
    sigma[0, 3] = 1e4  # a wall at the fourth sample
    rgb = np.zeros((1, 8, 3), "float32")
    rgb[0, 3] = [1, 0, 0]
    rgb[0, 5] = [0, 1, 0]  # behind the wall: never seen
    sigma[0, 5] = 1e4
    out = volume_render(rgb, sigma, t, np.array([[0, 0, -1.0]], "float32"))
    np.testing.assert_allclose(_np(out["rgb"])[0], [1, 0, 0], atol=1e-5)
    np.testing.assert_allclose(_np(out["depth"])[0], t[0, 3], rtol=1e-5)


def test_hierarchical_sampling_concentrates_samples_where_the_weights_are():
    edges = np.linspace(0.0, 8.0, 9, dtype="float32")[None]  # 8 bins of 1
    weights = np.zeros((1, 8), "float32")
    weights[0, 5] = 1.0  # all the mass between 5 and 6
    u = np.random.default_rng(0).random((1, 64)).astype("float32")
    samples = _np(sample_pdf(edges, weights, u))[0]
    inside = np.mean((samples >= 5.0) & (samples <= 6.0))
    # The PDF floor (1e-5 per bin) leaves about 7e-5 of the mass elsewhere.
    assert inside == 1.0, samples
    # Within the bin the CDF is linear: sorted uniforms map to increasing depths.
    order = np.argsort(u[0])
    assert np.all(np.diff(samples[order]) >= 0)
    # Two bins with weights 3:1 get about three times the samples.
    weights = np.zeros((1, 8), "float32")
    weights[0, 1], weights[0, 6] = 3.0, 1.0
    u = ((np.arange(400) + 0.5) / 400).astype("float32")[None]
    samples = _np(sample_pdf(edges, weights, u))[0]
    in_1 = np.sum((samples >= 1) & (samples < 2))
    in_6 = np.sum((samples >= 6) & (samples < 7))
    assert in_1 + in_6 == 400 and abs(in_1 / in_6 - 3.0) < 0.05


def test_importance_samples_layer_merges_sorted_depths():
    layer = kerasdl.layers.ImportanceSamples(16, seed=0)
    t = np.linspace(2.0, 6.0, 9, dtype="float32")[None]
    weights = np.zeros((1, 9), "float32")
    weights[0, 4] = 1.0  # the coarse pass found matter at t = 4
    out = _np(layer([t, weights], training=False))[0]
    assert out.shape == (25,) and np.all(np.diff(out) >= 0)
    # The 16 new depths lie in the bin around t = 4 (between the midpoints
    # 3.75 and 4.25), so it now holds 17 of the 25.
    assert np.sum((out >= 3.75) & (out <= 4.25)) == 17
    trained = _np(layer([t, weights], training=True))[0]
    assert np.sum((trained >= 3.75) & (trained <= 4.25)) == 17


def test_stratified_depths_stay_in_their_bins():
    noise = np.random.default_rng(0).random((3, 8)).astype("float32")
    t = _np(stratified_depths(3, 2.0, 6.0, 8, noise))
    bins = np.floor((t - 2.0) / 0.5)
    np.testing.assert_array_equal(bins, np.broadcast_to(np.arange(8), (3, 8)))
    np.testing.assert_allclose(
        _np(stratified_depths(1, 2.0, 6.0, 8))[0], 2.25 + 0.5 * np.arange(8)
    )
    layer = kerasdl.layers.StratifiedSamples(2.0, 6.0, 8, seed=1)
    jittered = _np(layer(np.zeros((4, 6), "float32"), training=True))
    assert jittered.shape == (4, 8) and np.all(
        np.floor((jittered - 2) / 0.5) == bins[0]
    )
    assert not np.allclose(jittered, _np(stratified_depths(4, 2.0, 6.0, 8)))


def test_positional_encoding_values():
    x = np.array([[0.25, -0.5]], "float32")
    got = _np(positional_encoding(x, 2))[0]
    expected = [0.25, -0.5]
    for k in range(2):
        a = np.pi * 2**k * x[0]
        expected += [*np.sin(a), *np.cos(a)]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    layer = kerasdl.layers.PositionalEncoding(3, include_input=False)
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 18)


def test_rays_from_poses_hit_the_known_sphere():
    # A camera on the x axis at distance 3 looking at a unit sphere at the
    # origin: the centre pixel's ray hits it at depth 2, the corner rays miss.
    pose = look_at((3.0, 0.0, 0.0))
    rays = _np(camera_rays(pose, 5, 5, focal=5.0))
    assert rays.shape == (25, 6)
    np.testing.assert_allclose(rays[:, :3], np.broadcast_to([3, 0, 0], (25, 3)))
    np.testing.assert_allclose(rays[12, 3:], [-1, 0, 0], atol=1e-6)
    sphere = (Sphere((0.0, 0.0, 0.0), 1.0, (1.0, 1.0, 1.0)),)
    rgb, depth = trace_spheres(rays, sphere, background=0.0)
    assert depth[12] == pytest.approx(2.0, abs=1e-5)
    assert np.isinf(depth[[0, 4, 20, 24]]).all() and (rgb[0] == 0).all()
    # The image's rows run top to bottom: the top row looks up (+z).
    assert rays[2, 5] > 0 > rays[22, 5]
    # A pixel's ray passes through the point at its depth, on the sphere.
    hits = np.isfinite(depth)
    points = rays[hits, :3] + depth[hits, None] * rays[hits, 3:]
    np.testing.assert_allclose(np.linalg.norm(points, axis=-1), 1.0, atol=1e-5)


def test_orbit_cameras_look_at_the_origin():
    poses = orbit_poses([0.0, 90.0, 200.0], 30.0, radius=4.0)
    for pose in poses:
        position, back = pose[:3, 3], pose[:3, 2]
        assert np.linalg.norm(position) == pytest.approx(4.0, rel=1e-6)
        np.testing.assert_allclose(back, position / 4.0, atol=1e-6)
        np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-6)


@pytest.mark.one_backend
def test_scene_data_and_psnr():
    data = make_nerf_data(image_size=8, train_views=3, test_views=2)
    assert data.train_rays.shape == (3 * 64, 6) and data.test_pixels.shape == (128, 3)
    assert data.images("test").shape == (2, 8, 8, 3)
    # Every sphere lies between near and far from every camera.
    for sphere in SPHERES:
        distance = np.linalg.norm(data.train_poses[:, :3, 3] - sphere.center, axis=-1)
        assert np.all(distance - sphere.radius > data.near)
        assert np.all(distance + sphere.radius < data.far)
    # Some pixels show a sphere, some the background.
    assert 0.1 < np.mean(data.test_pixels.max(-1) > 0) < 0.9
    assert psnr(np.full((4, 3), 0.5), np.full((4, 3), 0.6)) == pytest.approx(20.0)
    assert psnr(np.ones(3), np.ones(3)) == math.inf
    with pytest.raises(ValueError, match="prediction"):
        psnr(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="split"):
        data.images("val")


def test_a_denser_medium_is_more_opaque():
    layer = kerasdl.layers.VolumeRendering()
    rgb = np.full((1, 4, 3), 0.5, "float32")
    t = np.linspace(2, 3, 4, dtype="float32")[None]
    rays = np.array([[0, 0, 0, 0, 0, -1]], "float32")
    acc = [
        _np(layer([rgb, np.full((1, 4, 1), s, "float32"), t, rays])[2])[0, 0]
        for s in (0.0, 0.3, 3.0)
    ]
    assert acc[0] == 0.0 and 0.0 < acc[1] < acc[2] < 1.0
