"""An offline detection dataset: rendered shapes with boxes and classes."""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasdl._checks import check_float, check_int

__all__ = ["SHAPE_CLASSES", "DetectionData", "shapes_detection"]

SHAPE_CLASSES = ("circle", "square", "triangle")


@dataclasses.dataclass(frozen=True)
class DetectionData:
    """Train, validation and test splits of a detection dataset.

    Each split is (images, boxes, classes): float32 images (N, H, W, 3) in
    [0, 1], float32 boxes (N, max_objects, 4) as pixel (x_min, y_min, x_max,
    y_max), int64 classes (N, max_objects); rows with class -1 are padding.
    """

    train: tuple
    val: tuple
    test: tuple
    class_names: tuple = SHAPE_CLASSES


def _mask(kind: int, xs, ys, box) -> np.ndarray:
    """Pixels (centres xs, ys) covered by shape `kind` filling `box`."""
    x0, y0, x1, y1 = box
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    if kind == 1:  # square: the whole box
        return inside
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if kind == 0:  # circle inscribed in the box
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= half**2
    # Triangle pointing up: apex at the top centre, base on the bottom edge.
    return inside & (np.abs(xs - cx) <= half * (ys - y0) / (y1 - y0))


def _render(rng, size, max_objects, min_size, max_size, noise):
    """One image and its padded boxes and classes."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    background = rng.uniform(0.0, 1.0, 3)
    # A smooth gradient plus pixel noise, so that the background is not flat.
    tilt = rng.uniform(-0.15, 0.15, (2, 3))
    image = (
        background
        + (xs[..., None] / size - 0.5) * tilt[0]
        + (ys[..., None] / size - 0.5) * tilt[1]
    )
    boxes = np.zeros((max_objects, 4), "float32")
    classes = np.full(max_objects, -1, "int64")
    count = rng.integers(1, max_objects + 1)
    placed = 0
    for _ in range(20 * max_objects):  # rejection sampling of free places
        if placed == count:
            break
        side = int(rng.integers(min_size, max_size + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        box = np.array([x0, y0, x0 + side, y0 + side], "float32")
        if placed:
            low = np.maximum(boxes[:placed, :2], box[:2])
            high = np.minimum(boxes[:placed, 2:], box[2:])
            if np.any(np.all(high > low, axis=-1)):
                continue  # objects never overlap: every box is unambiguous
        kind = int(rng.integers(len(SHAPE_CLASSES)))
        # A colour at least 0.35 away (RGB distance) from the background.
        for _ in range(50):
            colour = rng.uniform(0.0, 1.0, 3)
            if np.linalg.norm(colour - background) > 0.35:
                break
        image[_mask(kind, xs, ys, box)] = colour
        boxes[placed], classes[placed] = box, kind
        placed += 1
    image = image + rng.normal(0.0, noise, image.shape)
    return np.clip(image, 0.0, 1.0).astype("float32"), boxes, classes


def _split(rng, n, size, max_objects, min_size, max_size, noise):
    images = np.zeros((n, size, size, 3), "float32")
    boxes = np.zeros((n, max_objects, 4), "float32")
    classes = np.full((n, max_objects), -1, "int64")
    for i in range(n):
        images[i], boxes[i], classes[i] = _render(
            rng, size, max_objects, min_size, max_size, noise
        )
    return images, boxes, classes


def shapes_detection(
    num_train: int = 2000,
    num_val: int = 200,
    num_test: int = 500,
    image_size: int = 64,
    max_objects: int = 3,
    min_size: int = 10,
    max_size: int = 24,
    noise: float = 0.05,
    seed: int = 0,
) -> DetectionData:
    """Rendered circles, squares and triangles on noisy backgrounds, with boxes.

    Every image holds 1..max_objects non-overlapping shapes of random size,
    position and colour (kept apart from the background colour) on a
    random-colour background with a gradient and Gaussian pixel noise. Boxes
    are tight: a circle's box is its bounding square, a triangle's its base
    and apex. Generated offline, deterministically from `seed`; each split
    has its own stream, so changing num_train leaves the test set as it was.

    Args:
        num_train, num_val, num_test: int. Images per split (val may be 0).
        image_size: int. Height and width in pixels.
        max_objects: int. Most shapes per image (the padded box rows).
        min_size, max_size: int. Range of the shapes' side in pixels.
        noise: float. Standard deviation of the pixel noise.
        seed: int. Seed of the generator.

    Returns:
        DetectionData with train, val and test splits; class names
        ("circle", "square", "triangle").

    Example:
    >>> data = shapes_detection(num_train=100, num_val=0, num_test=20)
    >>> images, boxes, classes = data.train
    >>> images.shape, boxes.shape
    ((100, 64, 64, 3), (100, 3, 4))
    """
    counts = [
        check_int("num_train", num_train, minimum=1),
        check_int("num_val", num_val, minimum=0),
        check_int("num_test", num_test, minimum=1),
    ]
    image_size = check_int("image_size", image_size, minimum=8, maximum=1024)
    max_objects = check_int("max_objects", max_objects, minimum=1, maximum=64)
    min_size = check_int("min_size", min_size, minimum=3)
    max_size = check_int("max_size", max_size, minimum=min_size, maximum=image_size)
    noise = check_float("noise", noise, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    streams = np.random.SeedSequence(seed).spawn(3)
    splits = [
        _split(
            np.random.default_rng(stream),
            n,
            image_size,
            max_objects,
            min_size,
            max_size,
            noise,
        )
        for stream, n in zip(streams, counts, strict=True)
    ]
    return DetectionData(*splits)
