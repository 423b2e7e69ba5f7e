"""A dataset whose class is decided by an object at a known place, and a CNN
with hand-set weights that recognizes it (shared by the explain and
evaluation tests).

Noise images (16x16x1) with one 5x5 object: a filled square (class 0), a
plus (1) or an X (2), at a random place whose box is returned.
"""

from __future__ import annotations

import keras
import numpy as np

SIZE, OBJECT = 16, 5


def shapes_dataset(n: int, seed: int = 0):
    """(images (n, 16, 16, 1), classes (n,), boxes (n, 4) top/left/bottom/right)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.3, (n, SIZE, SIZE, 1)).astype("float32")
    y = rng.integers(0, 3, n)
    boxes = np.zeros((n, 4), int)
    for i in range(n):
        top, left = rng.integers(0, SIZE - OBJECT + 1, 2)
        region = x[i, top : top + OBJECT, left : left + OBJECT, 0]
        x[i, top : top + OBJECT, left : left + OBJECT, 0] = np.maximum(
            region, template(y[i])
        )
        boxes[i] = (top, left, top + OBJECT, left + OBJECT)
    return x, y, boxes


def template(label: int) -> np.ndarray:
    patch = np.zeros((OBJECT, OBJECT), np.float32)
    middle, diagonal = OBJECT // 2, np.arange(OBJECT)
    if label == 0:
        patch[:] = 1.0
    elif label == 1:
        patch[middle, :] = patch[:, middle] = 1.0
    else:
        patch[diagonal, diagonal] = patch[diagonal, OBJECT - 1 - diagonal] = 1.0
    return patch


def pointing_game(heat, boxes) -> float:
    """Fraction of maps whose peak falls inside the object's box."""
    hits = 0
    for h, (top, left, bottom, right) in zip(heat, boxes):
        row, col = np.unravel_index(np.argmax(h), h.shape)
        hits += top <= row < bottom and left <= col < right
    return hits / len(heat)


def template_cnn():
    """A CNN whose filters are the three shape templates.

    Filter c is the mean of the pixels of shape c minus the mean of the
    other pixels of the 5x5 window (the filled square has none), so channel
    c peaks at 1 where shape c is; global max pooling and a scaled identity
    classifier turn the peaks into class scores.
    """
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(
                3,
                OBJECT,
                padding="same",
                use_bias=False,
                activation="relu",
                name="templates",
            ),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(3, activation="softmax", name="scores"),
        ]
    )
    filters = []
    for c in range(3):
        on = template(c)
        off = 1.0 - on
        filters.append(on / on.sum() - off / max(off.sum(), 1.0))
    kernel = np.stack(filters, -1)[:, :, None, :]
    model.get_layer("templates").set_weights([kernel])
    model.get_layer("scores").set_weights(
        [np.eye(3, dtype="float32") * 10, np.zeros(3, "float32")]
    )
    return model
