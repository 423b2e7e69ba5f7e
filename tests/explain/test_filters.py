"""Feature maps are the layer's outputs; filter patterns excite their filter."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from kerasdl import explain, viz
from tests.explain.shapes import shapes_dataset, template, template_cnn


def test_feature_maps_peak_where_the_shape_is():
    model = template_cnn()
    x, y, boxes = shapes_dataset(6, seed=4)
    maps = explain.feature_maps(model, x, layer="templates")
    assert maps.shape == (6, 16, 16, 3)
    for i in range(6):
        row, col = np.unravel_index(np.argmax(maps[i, :, :, y[i]]), (16, 16))
        top, left, bottom, right = boxes[i]
        assert top <= row < bottom and left <= col < right


def test_filter_patterns_excite_their_filter():
    model = template_cnn()
    patterns, activations = explain.filter_patterns(model, "templates", steps=15)
    assert patterns.shape == (3, 16, 16, 1)
    assert patterns.min() >= 0.0 and patterns.max() <= 1.0
    start, end = activations[:, 0], activations[:, 1]
    assert np.all(end > 2 * start + 1e-3)
    # The plus and X filters' patterns look like their own template more
    # than like the other's, at the window of the strongest response.
    maps = explain.feature_maps(model, patterns, layer="templates")
    for c in (1, 2):
        row, col = np.unravel_index(np.argmax(maps[c, :, :, c]), (16, 16))
        padded = np.pad(patterns[c, :, :, 0], 2)
        window = padded[row : row + 5, col : col + 5]
        scores = [np.sum((window - window.mean()) * template(k)) for k in (1, 2)]
        assert np.argmax(scores) == c - 1


@pytest.mark.one_backend
def test_plots_write_images(tmp_path):
    x, _, _ = shapes_dataset(3, seed=5)
    heat = np.random.default_rng(0).uniform(size=(3, 16, 16))
    for path in (
        viz.plot_heatmaps(x, heat, tmp_path / "heat.png", captions=["a", "b", "c"]),
        viz.plot_image_grid(x, tmp_path / "grid.png", ncols=2),
        viz.plot_feature_maps(np.moveaxis(x[..., 0], 0, -1), tmp_path / "maps.png"),
    ):
        assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="heatmaps"):
        viz.plot_heatmaps(x, heat[:2], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="maps"):
        viz.plot_feature_maps(x, tmp_path / "bad.png")
