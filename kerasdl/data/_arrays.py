"""NumPy helpers shared by the data loaders: resizing, label encoding, splits.

Everything here is pure NumPy so that a dataset comes out bit-identical on
every Keras backend and with or without TensorFlow installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def image_preprocessing(raw_max: int, **extra) -> dict:
    """The manifest's record of images scaled from 0..raw_max to [0, 1].

    Args:
        raw_max: int. Largest raw pixel value (255, or 16 for sklearn digits).
        **extra: Further entries (color mode, resize, ...).

    Returns:
        dict: scale, offset, layout ("HWC"), dtype, raw_range and `extra`.
    """
    return {
        "scale": 1.0 / raw_max,
        "offset": 0.0,
        "layout": "HWC",
        "dtype": "float32",
        "raw_range": [0, raw_max],
        **extra,
    }


def as_size(image_size, argument: str = "image_size") -> tuple[int, int]:
    """Normalizes an int or (height, width) pair to a tuple of two ints > 0."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, Sequence)
        and not isinstance(image_size, str)
        and len(image_size) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            for v in image_size
        )
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            f"`{argument}` must be an int or a (height, width) pair of ints; "
            f"received {argument}={image_size!r}."
        )
    if min(size) < 1:
        raise ValueError(
            f"`{argument}` must be positive; received {argument}={image_size!r}."
        )
    return size


def _interpolation_weights(in_size: int, out_size: int):
    # Half-pixel centres, as tf.image.resize(method="bilinear",
    # antialias=False) and jax.image.resize do when upsampling.
    centres = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    centres = np.clip(centres, 0.0, in_size - 1)
    low = np.floor(centres).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    frac = centres - low
    return low, high, frac


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (N, H, W, C) batch to (N, *size, C), in NumPy.

    Deterministic and backend-independent; no antialiasing, so it is meant
    for upsampling (e.g. 8x8 digits to LeNet-5's 32x32) and mild downsampling.

    Args:
        images: np.ndarray. Shape (N, H, W, C), any real dtype.
        size: tuple. (height, width) of the output.

    Returns:
        np.ndarray of shape (N, height, width, C), float32.
    """
    images = np.asarray(images, dtype=np.float64)
    out_h, out_w = size
    low, high, frac = _interpolation_weights(images.shape[1], out_h)
    frac = frac[None, :, None, None]
    rows = images[:, low] * (1.0 - frac) + images[:, high] * frac
    low, high, frac = _interpolation_weights(images.shape[2], out_w)
    frac = frac[None, None, :, None]
    out = rows[:, :, low] * (1.0 - frac) + rows[:, :, high] * frac
    return out.astype(np.float32)


def _sort_key(value: str):
    # Numeric labels sort as numbers ("2" before "10"), others as text.
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def encode_labels(labels, class_names=None, argument: str = "y"):
    """Maps labels (strings or numbers) to int32 class indices.

    Without `class_names`, the distinct values are sorted (numerically when
    they all parse as numbers) and numbered from 0; the class names are their
    string forms.

    Args:
        labels: array-like. One label per sample.
        class_names: sequence of str or None. Fixed order of the classes.
        argument: str. Name used in error messages.

    Returns:
        (np.ndarray int32 of shape (N,), tuple of str).

    Raises:
        ValueError: when a label is not among `class_names`.
    """
    values = np.asarray(labels)
    if values.ndim != 1:
        raise ValueError(
            f"`{argument}` must hold one label per sample (1-D); received "
            f"shape {values.shape}."
        )
    as_text = [_label_text(v) for v in values.tolist()]
    if class_names is None:
        class_names = tuple(sorted(set(as_text), key=_sort_key))
    else:
        class_names = tuple(str(name) for name in class_names)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(as_text) - set(index), key=_sort_key)
    if unknown:
        raise ValueError(
            f"`{argument}` holds labels that are not class names: "
            f"{unknown[:5]}; class names: {list(class_names)}."
        )
    return np.asarray([index[t] for t in as_text], dtype=np.int32), class_names


def _label_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Splits `total` over classes in proportion to `counts` (largest remainder)."""
    if total == 0:
        return np.zeros_like(counts)
    exact = counts * (total / counts.sum())
    alloc = np.floor(exact).astype(np.int64)
    remainder = int(total - alloc.sum())
    # Ties go to the lower class index: stable sort of the negated remainders.
    order = np.argsort(-(exact - alloc), kind="stable")
    alloc[order[:remainder]] += 1
    return np.minimum(alloc, counts)


def stratify_labels(y: np.ndarray) -> np.ndarray:
    """The class of each sample, for stratification: sparse or one-hot labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        return np.argmax(y, axis=1)
    if y.ndim == 1 and (y.dtype.kind in "iubUSO"):
        return y
    raise ValueError(
        "stratify=True needs class labels (integers, strings or one-hot rows); "
        f"received y of dtype {y.dtype} and shape {y.shape}. "
        "Pass stratify=False for regression targets."
    )


def split_indices(
    y: np.ndarray | None,
    num_samples: int,
    fractions: Sequence[float],
    seed,
    stratify: bool,
) -> list[np.ndarray]:
    """Index arrays for consecutive parts of sizes round(fraction * N).

    The first part takes what the others leave. Each part's indices are in
    random order.
    """
    rng = np.random.default_rng(seed)
    sizes = [round(f * num_samples) for f in fractions]
    if not stratify:
        order = rng.permutation(num_samples)
        parts, start = [], 0
        for size in sizes:
            parts.append(order[start : start + size])
            start += size
        return [order[start:], *parts]
    classes = stratify_labels(y)
    uniques, inverse = np.unique(classes, return_inverse=True)
    members = [
        rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(uniques))
    ]
    remaining = np.asarray([len(m) for m in members], dtype=np.int64)
    taken = np.zeros_like(remaining)
    parts = []
    for size in sizes:
        alloc = _allocate(remaining, size)
        parts.append(
            np.concatenate(
                [m[t : t + a] for m, t, a in zip(members, taken, alloc, strict=True)]
            ).astype(np.int64)
        )
        taken += alloc
        remaining -= alloc
    rest = np.concatenate([m[t:] for m, t in zip(members, taken, strict=True)]).astype(
        np.int64
    )
    return [rng.permutation(part) for part in [rest, *parts]]
