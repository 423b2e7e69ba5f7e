"""Detections drawn on images: the boxes land where they should."""

import numpy as np
import pytest
from PIL import Image

from kerasdl.viz import plot_detections

pytestmark = pytest.mark.one_backend


def test_boxes_are_drawn_on_the_image_and_nowhere_else(tmp_path):
    images = np.zeros((1, 32, 32, 3), "float32")  # black
    found = [
        {
            "boxes": np.array([[8.0, 8.0, 24.0, 24.0]]),
            "scores": np.array([0.9]),
            "classes": np.array([1]),
        }
    ]
    empty = [{k: v[:0] for k, v in found[0].items()}]
    drawn = plot_detections(images, found, tmp_path / "a.png", ("a", "b"), ncols=1)
    bare = plot_detections(images, empty, tmp_path / "b.png", ncols=1)
    with Image.open(drawn) as a, Image.open(bare) as b:
        assert a.format == "PNG" and a.size == b.size
        diff = np.abs(
            np.asarray(a.convert("RGB"), "float32") - np.asarray(b.convert("RGB"))
        )
    changed = np.argwhere(diff.max(-1) > 60)
    assert len(changed) > 50
    # The box (and its label above it) sits in the middle, off the edges.
    height, width = diff.shape[:2]
    assert changed[:, 1].min() > 0.15 * width and changed[:, 1].max() < 0.85 * width
    assert changed[:, 0].max() < 0.85 * height
    with pytest.raises(ValueError, match="2 detection lists"):
        plot_detections(images, found * 2, tmp_path / "c.png")
