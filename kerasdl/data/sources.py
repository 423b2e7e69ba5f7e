"""Your own data as a `Dataset`: arrays, CSV files, folders of images.

Each source splits off a test set (stratified by class, seeded) and records
class names and preprocessing, so the result plugs into `make_pipeline`,
`model.fit` and the export manifest exactly like `kerasdl.data.load(...)`.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kerasdl._checks import check_float
from kerasdl.data import _arrays
from kerasdl.data.dataset import Dataset

__all__ = ["from_arrays", "from_csv", "from_image_folder", "split"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_COLOR_MODES = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}


def split(
    x,
    y,
    val_fraction: float = 0.0,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = True,
):
    """Splits samples into train, validation and test parts.

    Part sizes are round(fraction * N); with `stratify` every class is spread
    over the parts in the same proportions (largest-remainder rounding), as
    scikit-learn's `train_test_split(stratify=y)` does. Each part comes out
    in random order.

    Args:
        x: array-like. Inputs, first axis = samples.
        y: array-like. Labels: class indices, strings or one-hot rows (for
            stratification), or any targets with `stratify=False`.
        val_fraction: float. Share of samples for validation, in [0, 1).
        test_fraction: float. Share of samples for testing, in [0, 1).
        seed: int or None. Seed of the shuffle; None draws a fresh one.
        stratify: bool. Keep class proportions equal across the parts.

    Returns:
        ((x_train, y_train), (x_val, y_val), (x_test, y_test)), NumPy arrays;
        a part with fraction 0 is empty.

    Raises:
        ValueError: for fractions outside [0, 1), fractions that leave no
            training sample, mismatched lengths, or `stratify=True` with
            continuous targets.

    Example:
    >>> (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(
    ...     x, y, val_fraction=0.1, test_fraction=0.2, seed=0)
    """
    val_fraction = check_float("val_fraction", val_fraction, 0, 1, max_inclusive=False)
    test_fraction = check_float(
        "test_fraction", test_fraction, 0, 1, max_inclusive=False
    )
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same number of samples; received {len(x)} "
            f"and {len(y)}."
        )
    n = len(x)
    if n - round(val_fraction * n) - round(test_fraction * n) < 1:
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} "
            f"leave no training sample out of {n}."
        )
    train, val, test = _arrays.split_indices(
        y, n, [val_fraction, test_fraction], seed, stratify
    )
    return (x[train], y[train]), (x[val], y[val]), (x[test], y[test])


def _dataset_from_split(
    x, labels, class_names, name, preprocessing, test_fraction, seed, stratify
) -> Dataset:
    (x_train, y_train), _, (x_test, y_test) = split(
        x, labels, test_fraction=test_fraction, seed=seed, stratify=stratify
    )
    return Dataset(
        x_train, y_train, x_test, y_test, len(class_names), class_names,
        x_train.shape[1:], name, preprocessing,
    )  # fmt: skip


def from_arrays(
    x,
    y,
    *,
    x_test=None,
    y_test=None,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = True,
    class_names: Sequence[str] | None = None,
    name: str = "arrays",
    preprocessing: dict | None = None,
) -> Dataset:
    """Wraps in-memory arrays as a `Dataset`, splitting off a test set.

    Integer labels are used as class indices as they are (class names
    default to "0", "1", ...); string labels are numbered in sorted order
    (or in the order of `class_names`).

    Args:
        x: array-like. Inputs, first axis = samples.
        y: array-like. One label per sample: ints or strings.
        x_test: array-like or None. A given test set; no split is made then.
        y_test: array-like or None. Its labels.
        test_fraction: float. Share held out when no test set is given.
        seed: int or None. Seed of the split.
        stratify: bool. Keep class proportions in the split.
        class_names: sequence of str or None. Names (and order) of classes.
        name: str. Dataset name.
        preprocessing: dict or None. What was done to the raw inputs (see
            `Dataset`); defaults to {"scale": 1.0, "offset": 0.0}.

    Returns:
        Dataset.

    Raises:
        ValueError: for mismatched lengths, a label that is not a class name
            or a negative or out-of-range class index.

    Example:
    >>> data = from_arrays(np.random.rand(100, 4), np.arange(100) % 3)
    >>> data.num_classes, data.x_test.shape
    (3, (20, 4))
    """
    if (x_test is None) != (y_test is None):
        raise ValueError("Pass both x_test and y_test, or neither.")
    x = np.asarray(x)
    y_all = np.asarray(y) if x_test is None else np.concatenate([y, y_test])
    labels, class_names = _class_indices(y_all, class_names)
    preprocessing = (
        {"scale": 1.0, "offset": 0.0} if preprocessing is None else preprocessing
    )
    if x_test is None:
        return _dataset_from_split(
            x, labels, class_names, name, preprocessing, test_fraction, seed, stratify
        )
    x_test = np.asarray(x_test)
    if len(x) != len(y) or len(x_test) != len(y_test):
        raise ValueError(
            "x/y and x_test/y_test must pair up; received "
            f"{len(x)}/{len(y)} and {len(x_test)}/{len(y_test)} samples."
        )
    return Dataset(
        x, labels[: len(x)], x_test, labels[len(x) :], len(class_names),
        class_names, x.shape[1:], name, preprocessing,
    )  # fmt: skip


def _class_indices(y: np.ndarray, class_names):
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dtype.kind in "iu":
        if y.size and y.min() < 0:
            raise ValueError(
                f"Integer labels must be class indices >= 0; received {y.min()}."
            )
        count = int(y.max()) + 1 if y.size else 0
        if class_names is None:
            class_names = tuple(str(i) for i in range(count))
        class_names = tuple(str(c) for c in class_names)
        if count > len(class_names):
            raise ValueError(
                f"Label {count - 1} is out of range for {len(class_names)} "
                f"class_names {list(class_names)}."
            )
        return y.astype(np.int32), class_names
    return _arrays.encode_labels(y, class_names)


def _resolve_column(column, header: list[str], argument: str) -> int:
    from kerasdl._checks import closest

    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        if not -len(header) <= column < len(header):
            raise ValueError(
                f"`{argument}` index {column} is out of range for "
                f"{len(header)} columns."
            )
        return int(column) % len(header)
    if column in header:
        return header.index(column)
    raise ValueError(
        f"`{argument}`: no column {column!r}.{closest(str(column), header)} "
        f"Columns: {', '.join(header)}."
    )


def from_csv(
    path: str | os.PathLike,
    label_column: str | int,
    *,
    feature_columns: Sequence[str | int] | None = None,
    delimiter: str = ",",
    header: bool = True,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = True,
    standardize: bool = False,
    name: str | None = None,
) -> Dataset:
    """Reads a classification table from a CSV file.

    Features must be numeric. Labels are any text: their distinct values are
    sorted (numerically when they are all numbers) and numbered from 0, and
    `class_names` records the original values.

    Args:
        path: str or PathLike. The CSV file.
        label_column: str or int. Header name or index of the label column.
        feature_columns: sequence of str/int or None. Feature columns; None
            takes every other column.
        delimiter: str. Field separator.
        header: bool. Whether the first row names the columns (without one,
            columns are "0", "1", ... and are referred to by index).
        test_fraction: float. Share of rows held out.
        seed: int or None. Seed of the split.
        stratify: bool. Keep class proportions in the split.
        standardize: bool. Scale each feature to mean 0, std 1 with
            statistics of the training rows only (recorded in preprocessing
            as per-feature "scale" and "offset").
        name: str or None. Dataset name; defaults to the file's stem.

    Returns:
        Dataset with float32 features of shape (num_features,).

    Raises:
        ValueError: for an unknown column, a non-numeric or empty feature
            value (naming the row and column), or ragged rows.
        FileNotFoundError: when `path` does not exist.

    Example:
    >>> data = from_csv("iris.csv", label_column="species", standardize=True)
    >>> data.class_names
    ('setosa', 'versicolor', 'virginica')
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f, delimiter=delimiter) if row]
    if not rows:
        raise ValueError(f"{path} is empty.")
    names = rows[0] if header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if header else rows
    if not body:
        raise ValueError(f"{path} has a header but no data rows.")
    names = [n.strip() for n in names]
    label_index = _resolve_column(label_column, names, "label_column")
    if feature_columns is None:
        feature_index = [i for i in range(len(names)) if i != label_index]
    else:
        feature_index = [
            _resolve_column(c, names, "feature_columns") for c in feature_columns
        ]
    if not feature_index:
        raise ValueError(f"{path} has no feature column besides the label.")
    first_line = 2 if header else 1
    features = np.empty((len(body), len(feature_index)), dtype=np.float32)
    labels = []
    for r, row in enumerate(body):
        line = first_line + r
        if len(row) != len(names):
            raise ValueError(
                f"{path}, line {line}: {len(row)} fields, expected {len(names)}."
            )
        labels.append(row[label_index].strip())
        for j, c in enumerate(feature_index):
            text = row[c].strip()
            try:
                features[r, j] = float(text)
            except ValueError:
                raise ValueError(
                    f"{path}, line {line}, column {names[c]!r}: feature values "
                    f"must be numbers; received {text!r}."
                ) from None
    y, class_names = _arrays.encode_labels(labels, argument="label_column")
    preprocessing = {
        "scale": 1.0,
        "offset": 0.0,
        "layout": "features",
        "dtype": "float32",
        "feature_names": [names[c] for c in feature_index],
    }
    data = _dataset_from_split(
        features, y, class_names, name or path.stem, preprocessing,
        test_fraction, seed, stratify,
    )  # fmt: skip
    if not standardize:
        return data
    mean = data.x_train.mean(axis=0, dtype=np.float64)
    std = data.x_train.std(axis=0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # constant features: shift only
    scale, offset = 1.0 / std, -mean / std
    preprocessing = {
        **preprocessing,
        "scale": scale.tolist(),
        "offset": offset.tolist(),
        "standardized": {"mean": mean.tolist(), "std": std.tolist()},
    }
    return Dataset(
        (data.x_train * scale + offset).astype(np.float32), data.y_train,
        (data.x_test * scale + offset).astype(np.float32), data.y_test,
        data.num_classes, data.class_names, data.input_shape, data.name,
        preprocessing,
    )  # fmt: skip


def from_image_folder(
    path: str | os.PathLike,
    image_size: int | tuple[int, int],
    *,
    color_mode: str = "rgb",
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = True,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    name: str | None = None,
) -> Dataset:
    """Reads images from one sub-folder per class (PNG, JPEG, BMP, GIF).

    Class names are the sub-folder names in sorted order. Images are decoded
    by Pillow, converted to `color_mode`, resized to `image_size` with
    bilinear filtering and scaled to [0, 1]. Files with other extensions are
    ignored.

    Args:
        path: str or PathLike. Folder holding one sub-folder per class.
        image_size: int or (height, width). Size of every image.
        color_mode: str. "rgb" (3 channels), "grayscale" (1) or "rgba" (4).
        test_fraction: float. Share of images held out.
        seed: int or None. Seed of the split.
        stratify: bool. Keep class proportions in the split.
        extensions: sequence of str. File endings read (case-insensitive).
        name: str or None. Dataset name; defaults to the folder's name.

    Returns:
        Dataset with float32 images of shape (height, width, channels).

    Raises:
        ValueError: for an unknown color_mode, a folder without class
            sub-folders or images, or a file that cannot be decoded.
        FileNotFoundError: when `path` is not a folder.

    Example:
    >>> data = from_image_folder("flowers/", image_size=64, test_fraction=0.1)
    >>> data.input_shape
    (64, 64, 3)
    """
    from PIL import Image, UnidentifiedImageError

    from kerasdl._checks import closest

    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f"`color_mode` must be one of {sorted(_COLOR_MODES)}; received "
            f"color_mode={color_mode!r}.{closest(str(color_mode), _COLOR_MODES)}"
        )
    size = _arrays.as_size(image_size)
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} does not exist.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise ValueError(
            f"{root} has no sub-folders: put each class's images in a "
            "sub-folder named after the class."
        )
    endings = tuple(e.lower() for e in extensions)
    files, labels = [], []
    for index, folder in enumerate(class_dirs):
        found = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in endings
        )
        if not found:
            logger.warning("Class folder %s holds no images; class kept.", folder)
        files += found
        labels += [index] * len(found)
    if not files:
        raise ValueError(f"No images with endings {list(endings)} under {root}.")
    mode = _COLOR_MODES[color_mode]
    images = np.empty((len(files), *size, len(mode)), dtype=np.float32)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = image.convert(mode)
                if image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.float32)
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"Cannot decode image {file}: {error}") from None
        images[i] = pixels.reshape(*size, len(mode)) / np.float32(255.0)
    preprocessing = _arrays.image_preprocessing(
        255,
        color_mode=color_mode,
        resize={"size": list(size), "method": "bilinear (Pillow)"},
    )
    class_names = tuple(p.name for p in class_dirs)
    return _dataset_from_split(
        images, np.asarray(labels, dtype=np.int32), class_names,
        name or root.name, preprocessing, test_fraction, seed, stratify,
    )  # fmt: skip
