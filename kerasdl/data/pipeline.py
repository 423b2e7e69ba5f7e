"""Input pipelines from NumPy arrays that `model.fit` accepts on every backend.

With TensorFlow installed, `make_pipeline` returns a `tf.data.Dataset`:
Keras 3 trains from a tf.data.Dataset on the TensorFlow, JAX and PyTorch
backends alike (it converts each batch to the backend's tensors), and Keras'
augmentation layers run inside tf.data on all three. Without TensorFlow it
returns a `keras.utils.PyDataset` that slices the arrays and runs the
augmentation layers eagerly on the current backend.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Mapping, Sequence

import keras
import numpy as np

from kerasdl.data.augmentation import make_augmentation, mixes_labels

__all__ = ["ArrayPyDataset", "make_pipeline"]

logger = logging.getLogger(__name__)

_LOADERS = ("auto", "tf_data", "py_dataset")


def _tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _augmentation_layers(augment, seed) -> list[keras.layers.Layer]:
    if augment is None:
        return []
    if isinstance(augment, (Mapping, list, tuple)) and not all(
        isinstance(a, keras.layers.Layer) for a in augment
    ):
        augment = make_augmentation(augment, seed=seed)
    if isinstance(augment, (keras.Sequential, keras.layers.Pipeline)):
        return list(augment.layers)
    if isinstance(augment, keras.layers.Layer):
        return [augment]
    if isinstance(augment, (list, tuple)):
        return list(augment)
    raise ValueError(
        "`augment` must be None, an augmentation config (list or dict), a "
        "keras.Sequential/keras.layers.Pipeline or a list of layers; received "
        f"augment={augment!r}."
    )


def _apply(layers, images, labels):
    """Runs the layers on one batch; MixUp/CutMix also mix the labels."""
    for layer in layers:
        if mixes_labels(layer):
            mixed = layer({"images": images, "labels": labels}, training=True)
            images, labels = mixed["images"], mixed["labels"]
        else:
            images = layer(images, training=True)
    return images, labels


def _one_hot(y: np.ndarray, num_classes: int | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.astype(np.float32)  # already one-hot (or soft) labels
    if y.dtype.kind not in "iu":
        raise ValueError(
            "One-hot labels (for MixUp/CutMix or one_hot=True) need integer "
            f"class indices or one-hot rows; received y of dtype {y.dtype} and "
            f"shape {y.shape}."
        )
    y = y.reshape(-1)
    if num_classes is None:
        num_classes = int(y.max()) + 1
        logger.info(
            "One-hot encoding labels with num_classes=%d "
            "(largest label + 1); pass num_classes to fix it.",
            num_classes,
        )
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"Labels must lie in [0, {num_classes}) for num_classes="
            f"{num_classes}; received values from {y.min()} to {y.max()}."
        )
    return np.eye(num_classes, dtype=np.float32)[y]


class ArrayPyDataset(keras.utils.PyDataset):
    """Batches of in-memory arrays, for training without TensorFlow.

    Shuffles once per epoch with its own seeded NumPy generator and runs the
    augmentation layers eagerly with `training=True`. Random state advances
    with every batch made, so the same sequence of calls on a pipeline built
    with the same seed gives the same batches.

    Args:
        x: np.ndarray. Inputs.
        y: np.ndarray or None. Targets.
        batch_size: int. Samples per batch.
        shuffle: bool. Reshuffle the samples every epoch.
        seed: int or None. Seed of the shuffles.
        layers: list of keras.layers.Layer. Augmentation, applied per batch.
        drop_remainder: bool. Leave out the last, smaller batch.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        layers: Sequence[keras.layers.Layer] = (),
        drop_remainder: bool = False,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.layers = list(layers)
        self.drop_remainder = drop_remainder
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        n = len(self.x)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        n = len(self.x)
        if self.drop_remainder:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range for {len(self)} batches.")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows]
        y = None if self.y is None else self.y[rows]
        if self.layers:
            x, y = _apply(self.layers, x, y)
            x = keras.ops.convert_to_numpy(x)
            y = None if y is None else keras.ops.convert_to_numpy(y)
        return x if y is None else (x, y)

    def on_epoch_end(self):
        self._order = self._new_order()


def _tf_dataset(
    x, y, batch_size, shuffle, seed, cache, prefetch, layers, drop_remainder
):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if layers:
        if y is None:
            ds = ds.map(lambda images: _apply(layers, images, None)[0])
        else:
            # Sequential map: the layers' seed generators advance in a fixed
            # order, which keeps seeded runs reproducible.
            ds = ds.map(lambda images, labels: _apply(layers, images, labels))
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def make_pipeline(
    x,
    y=None,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int | None = None,
    cache: bool = True,
    prefetch: bool = True,
    augment=None,
    drop_remainder: bool = False,
    *,
    num_classes: int | None = None,
    one_hot: bool | None = None,
    loader: str = "auto",
):
    """Builds a batched, shuffled, optionally augmented training input.

    The result goes straight into `model.fit(pipeline, epochs=...)` on the
    TensorFlow, JAX and PyTorch backends.

    Order of operations: cache -> shuffle (whole array, reshuffled each
    epoch) -> batch -> augment (per batch, `training=True`) -> prefetch, so
    augmentation is drawn afresh every epoch.

    MixUp and CutMix (from `augment`) mix labels as well as images: sparse
    integer labels are converted to one-hot float32 rows first (with
    `num_classes`, or the largest label + 1), so compile the model with
    `categorical_crossentropy`, not the sparse loss, and build the
    validation pipeline with `one_hot=True` (and the same `num_classes`).

    tf.data path: the arrays are copied into the dataset (TensorFlow's
    `from_tensor_slices`), which suits in-memory datasets up to a few GB.
    PyDataset path on JAX: the augmentation runs eagerly, and JAX compiles
    each op the first time it sees a batch shape (MixUp takes about ten
    seconds); `drop_remainder=True` avoids a second compile for the last,
    smaller batch.

    Args:
        x: array-like. Inputs, first axis = samples.
        y: array-like or None. Targets; None yields input-only batches (for
            `predict`).
        batch_size: int. Samples per batch.
        shuffle: bool. Shuffle the samples, anew every epoch.
        seed: int or None. Seeds the shuffle and, for an augmentation config,
            the augmentation layers: the same seed gives the same batches.
        cache: bool. tf.data `cache()` of the un-augmented samples. The
            PyDataset path keeps the arrays in memory anyway; there it has no
            effect.
        prefetch: bool. tf.data `prefetch(AUTOTUNE)`. The PyDataset path
            builds each batch on demand (threaded prefetching would make
            seeded augmentation depend on thread timing); there it has no
            effect.
        augment: None, a config for `make_augmentation` (list or dict), or
            a keras.Sequential / keras.layers.Pipeline / list of Keras
            augmentation layers. Layers passed in keep their random state,
            so reusing them continues their random sequence.
        drop_remainder: bool. Leave out the last, smaller batch.
        num_classes: int or None. Width of one-hot labels; None uses the
            largest label + 1.
        one_hot: bool or None. One-hot encode integer labels. None does so
            only when `augment` holds MixUp or CutMix.
        loader: str. "auto" (tf.data when TensorFlow is installed, else
            PyDataset), "tf_data" or "py_dataset".

    Returns:
        tf.data.Dataset or ArrayPyDataset yielding (x, y) batches (x alone
        when y is None).

    Raises:
        ValueError: for a bad batch_size, loader or augment, mismatched
            lengths, MixUp/CutMix without labels, or loader="tf_data"
            without TensorFlow.

    Example:
    >>> x_train, y_train, x_test, y_test = kerasdl.data.load("digits")
    >>> train = make_pipeline(x_train, y_train, batch_size=64, seed=0,
    ...                       augment=[{"rotation": 0.05}, {"mixup": 0.2}])
    >>> val = make_pipeline(x_test, y_test, shuffle=False, one_hot=True,
    ...                     num_classes=10)
    >>> model.compile("adam", "categorical_crossentropy")
    >>> model.fit(train, validation_data=val, epochs=5)
    """
    from kerasdl._checks import closest

    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be a positive int; received batch_size={batch_size!r}."
        )
    if loader not in _LOADERS:
        raise ValueError(
            f"`loader` must be one of {list(_LOADERS)}; received "
            f"loader={loader!r}.{closest(str(loader), _LOADERS)}"
        )
    x = np.asarray(x)
    if y is not None:
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(
                f"x and y must hold the same number of samples; received "
                f"{len(x)} and {len(y)}."
            )
    if len(x) == 0:
        raise ValueError("`x` holds no samples.")
    layers = _augmentation_layers(augment, seed)
    mixing = any(mixes_labels(layer) for layer in layers)
    if mixing and y is None:
        raise ValueError("MixUp/CutMix in `augment` need labels: pass y.")
    if mixing and one_hot is False:
        raise ValueError(
            "one_hot=False conflicts with MixUp/CutMix in `augment`, which "
            "mix one-hot labels."
        )
    if one_hot or (one_hot is None and mixing):
        if y is None:
            raise ValueError("one_hot=True needs labels: pass y.")
        y = _one_hot(y, num_classes)
    if loader == "auto":
        loader = "tf_data" if _tensorflow_available() else "py_dataset"
    if loader == "tf_data":
        if not _tensorflow_available():
            raise ValueError(
                "loader='tf_data' needs TensorFlow, which is not installed; "
                "use loader='py_dataset' or 'auto', or pip install tensorflow."
            )
        return _tf_dataset(
            x, y, batch_size, shuffle, seed, cache, prefetch, layers, drop_remainder
        )
    return ArrayPyDataset(x, y, batch_size, shuffle, seed, layers, drop_remainder)
