"""Reads the files `keras.datasets` caches, without ever downloading.

`keras.datasets.mnist.load_data()` and friends download into
`$KERAS_HOME/datasets` (by default `~/.keras/datasets`) and read from there.
This module reads those same files directly, under the names Keras gives
them, so a machine without internet can use datasets copied there by hand.
Pickled files are read with an unpickler that only rebuilds NumPy arrays,
so a tampered file cannot run code.

Accepted layouts (folder = the Keras cache, or `data_dir` when given):

- mnist: `mnist.npz` (keys x_train, y_train, x_test, y_test).
- fashion_mnist: `fashion-mnist/` with `train-images-idx3-ubyte.gz`,
  `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
  `t10k-labels-idx1-ubyte.gz`.
- cifar10: `cifar-10-batches-py/`, or `cifar-10-batches-py-target/
  cifar-10-batches-py/` (Keras 3.15's extraction), or the archive
  `cifar-10-python.tar.gz` / `cifar-10-batches-py-target_archive`.
- cifar100: the same with `cifar-100-python`.
- imdb: `imdb.npz` (and `imdb_word_index.json` for `load_word_index`).
- reuters: `reuters.npz` (and `reuters_word_index.json`).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["DatasetNotFoundError", "cache_dir", "load_word_index", "read"]

logger = logging.getLogger(__name__)

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"

CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FASHION_MNIST_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMDB_NAMES = ("negative", "positive")
# Keras' word-index conventions for imdb and reuters.
START_CHAR, OOV_CHAR, INDEX_FROM, SHUFFLE_SEED = 1, 2, 3, 113


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's file is not in the local cache; kerasdl never downloads.

    The message names the file or folder to place, where to place it and
    where to get it. Subclasses FileNotFoundError, so `except OSError` and
    `except FileNotFoundError` both catch it.
    """


@dataclasses.dataclass(frozen=True)
class RawData:
    """Arrays as stored (uint8 images, int labels) plus what is known of them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    preprocessing: dict


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder searched for dataset files.

    Args:
        data_dir: str, PathLike or None. Used as is when given.

    Returns:
        Path: `data_dir`, else `$KERAS_HOME/datasets` when KERAS_HOME is set
        (read at call time), else `~/.keras/datasets` (or
        `/tmp/.keras/datasets` when the home folder is not writable, as
        Keras does).

    Example:
    >>> cache_dir("/data/keras")
    PosixPath('/data/keras')
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser() / "datasets"
    home = os.path.expanduser("~")
    base = home if os.access(home, os.W_OK) else "/tmp"
    return Path(base) / ".keras" / "datasets"


def _missing(name: str, folder: Path, wanted: str, source: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"Dataset {name!r} is not in the local cache: no {wanted} in {folder}. "
        f"kerasdl never downloads data. On a machine with internet access, "
        f"{source}, then copy it to {folder}{os.sep}. To read from another "
        "folder, set KERAS_HOME (files go in $KERAS_HOME/datasets) or pass "
        "data_dir=... to kerasdl.data.load."
    )


def _keras_source(name: str, filename: str) -> str:
    return (
        f"download {KERAS_URL}{filename} (or run keras.datasets.{name}."
        "load_data(), which saves it to ~/.keras/datasets)"
    )


# ---------------------------------------------------------------- safe loading

_NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain Python containers and NumPy arrays, nothing else."""

    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to load {module}.{name} from a dataset file: only NumPy "
            "arrays are allowed. The file may be corrupt or tampered with."
        )


def _unpickle(stream, source) -> object:
    try:
        return _ArrayUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(f"Cannot read {source}: {error}") from None


def _read_npy(buffer: io.BytesIO, source: str) -> np.ndarray:
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:
        # Object arrays (ragged word-index lists) are pickled after the header.
        buffer.seek(0)
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(buffer)
        else:
            np.lib.format.read_array_header_2_0(buffer)
        return _unpickle(buffer, source)


def _load_npz(path: Path, keys) -> dict[str, np.ndarray]:
    """Reads the given arrays from an .npz; object arrays via _ArrayUnpickler."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {m[: -len(".npy")]: m for m in archive.namelist()}
            missing = [k for k in keys if k not in members]
            if missing:
                raise ValueError(
                    f"{path} lacks the arrays {missing}; found {sorted(members)}. "
                    "Is it the file Keras downloads?"
                )
            for key in keys:
                buffer = io.BytesIO(archive.read(members[key]))
                arrays[key] = _read_npy(buffer, f"{path}:{key}")
    except zipfile.BadZipFile as error:
        raise ValueError(f"Cannot read {path}: {error}") from None
    return arrays


# --------------------------------------------------------------------- readers


def _labels(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1).astype(np.int32)


def _read_mnist(folder: Path) -> RawData:
    path = folder / "mnist.npz"
    if not path.is_file():
        raise _missing(
            "mnist", folder, "mnist.npz", _keras_source("mnist", "mnist.npz")
        )
    f = _load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    return RawData(
        f["x_train"], _labels(f["y_train"]), f["x_test"], _labels(f["y_test"]),
        tuple(str(i) for i in range(10)), {"source": path.name},
    )  # fmt: skip


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 + ndim:
        raise ValueError(
            f"{path} is not an IDX file of {ndim} dimension(s) (magic number "
            f"{magic:#x}, expected {0x0800 + ndim:#x})."
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _read_fashion_mnist(folder: Path) -> RawData:
    sub = folder / "fashion-mnist"
    files = {
        "y_train": "train-labels-idx1-ubyte.gz",
        "x_train": "train-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz",
    }
    missing = [name for name in files.values() if not (sub / name).is_file()]
    if missing:
        raise _missing(
            "fashion_mnist", sub, ", ".join(missing),
            f"download each file from {KERAS_URL}<file name> (or run "
            "keras.datasets.fashion_mnist.load_data(), which saves them to "
            "~/.keras/datasets/fashion-mnist)",
        )  # fmt: skip
    arrays = {
        key: _read_idx(sub / name, 1 if key.startswith("y") else 3)
        for key, name in files.items()
    }
    return RawData(
        arrays["x_train"], _labels(arrays["y_train"]),
        arrays["x_test"], _labels(arrays["y_test"]),
        FASHION_MNIST_NAMES, {"source": sub.name},
    )  # fmt: skip


class _CifarSource:
    """A CIFAR folder or .tar.gz archive; members read by base name."""

    def __init__(self, name: str, folder: Path, dirname: str, archive: str):
        self.name = name
        candidates = [folder / dirname, folder / f"{dirname}-target" / dirname]
        self.directory = next((c for c in candidates if c.is_dir()), None)
        archives = [
            folder / archive,
            folder / f"{dirname}-target_archive",
            folder / f"{dirname}.tar.gz",
        ]
        self.archive = next((a for a in archives if a.is_file()), None)
        if self.directory is None and self.archive is None:
            raise _missing(
                name, folder, f"folder {dirname}/ (nor archive {archive})",
                f"download {CIFAR_URL}{archive} (or run keras.datasets.{name}."
                "load_data()) and extract it, or place the archive itself",
            )  # fmt: skip
        self._tar = None
        self.location = str(self.directory or self.archive)

    def __enter__(self):
        if self.directory is None:
            try:
                self._tar = tarfile.open(self.archive, "r:*")
            except tarfile.TarError as error:
                raise ValueError(f"Cannot read {self.archive}: {error}") from None
            self._members = {
                Path(m.name).name: m for m in self._tar.getmembers() if m.isfile()
            }
        return self

    def __exit__(self, *exc):
        if self._tar is not None:
            self._tar.close()

    def has(self, member: str) -> bool:
        if self.directory is not None:
            return (self.directory / member).is_file()
        return member in self._members

    def load(self, member: str) -> dict:
        if not self.has(member):
            raise ValueError(
                f"{self.location} has no {member!r}: the {self.name} files are "
                "incomplete. Re-extract the archive."
            )
        if self.directory is not None:
            with open(self.directory / member, "rb") as f:
                data = _unpickle(f, self.directory / member)
        else:
            with self._tar.extractfile(self._members[member]) as f:
                data = _unpickle(io.BytesIO(f.read()), f"{self.archive}:{member}")
        return {
            (k.decode("utf-8") if isinstance(k, bytes) else k): v
            for k, v in data.items()
        }


def _cifar_images(batch: dict) -> np.ndarray:
    data = np.asarray(batch["data"], dtype=np.uint8)
    # Stored as (N, 3072) rows of R, G, B planes: (N, C, H, W) -> (N, H, W, C).
    return data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)


def _names(meta: dict, key: str) -> tuple:
    return tuple(
        n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in meta[key]
    )


def _read_cifar10(folder: Path) -> RawData:
    source = _CifarSource(
        "cifar10", folder, "cifar-10-batches-py", "cifar-10-python.tar.gz"
    )
    with source:
        train = [source.load(f"data_batch_{i}") for i in range(1, 6)]
        test = source.load("test_batch")
        names = (
            _names(source.load("batches.meta"), "label_names")
            if source.has("batches.meta")
            else CIFAR10_NAMES
        )
    return RawData(
        np.concatenate([_cifar_images(b) for b in train]),
        np.concatenate([_labels(b["labels"]) for b in train]),
        _cifar_images(test), _labels(test["labels"]),
        names, {"source": Path(source.location).name},
    )  # fmt: skip


def _read_cifar100(folder: Path, label_mode: str = "fine") -> RawData:
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            f"`label_mode` must be 'fine' or 'coarse'; received label_mode={label_mode!r}."
        )
    source = _CifarSource(
        "cifar100", folder, "cifar-100-python", "cifar-100-python.tar.gz"
    )
    with source:
        train, test = source.load("train"), source.load("test")
        meta = source.load("meta")
    key = f"{label_mode}_labels"
    return RawData(
        _cifar_images(train), _labels(train[key]),
        _cifar_images(test), _labels(test[key]),
        _names(meta, f"{label_mode}_label_names"),
        {"source": Path(source.location).name, "label_mode": label_mode},
    )  # fmt: skip


def _index_words(sequences, num_words: int | None) -> np.ndarray:
    """Keras' word indexing: start char, index offset, out-of-vocabulary char."""
    out = []
    for seq in sequences:
        ids = np.asarray(seq, dtype=np.int64) + INDEX_FROM
        if num_words is not None:
            ids = np.where(ids < num_words, ids, OOV_CHAR)
        out.append([START_CHAR, *ids.tolist()])
    array = np.empty(len(out), dtype=object)
    array[:] = out
    return array


def _text_options(num_words) -> dict:
    if num_words is not None and (
        not isinstance(num_words, int) or num_words <= INDEX_FROM
    ):
        raise ValueError(
            f"`num_words` must be None or an int > {INDEX_FROM}; received "
            f"num_words={num_words!r}."
        )
    return {
        "num_words": num_words,
        "start_char": START_CHAR,
        "oov_char": OOV_CHAR,
        "index_from": INDEX_FROM,
    }


def _read_imdb(folder: Path, num_words: int | None = None) -> RawData:
    options = _text_options(num_words)
    path = folder / "imdb.npz"
    if not path.is_file():
        raise _missing("imdb", folder, "imdb.npz", _keras_source("imdb", "imdb.npz"))
    f = _load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    rng = np.random.RandomState(SHUFFLE_SEED)  # the order keras.datasets gives
    parts = []
    for key in ("train", "test"):
        x, y = f[f"x_{key}"], _labels(f[f"y_{key}"])
        order = np.arange(len(x))
        rng.shuffle(order)
        parts += [_index_words(x[order], num_words), y[order]]
    return RawData(*parts, IMDB_NAMES, {"source": path.name, **options})


def _read_reuters(
    folder: Path, num_words: int | None = None, test_fraction: float = 0.2
) -> RawData:
    options = _text_options(num_words)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            "`test_fraction` must be between 0 and 1 (exclusive); received "
            f"test_fraction={test_fraction!r}."
        )
    path = folder / "reuters.npz"
    if not path.is_file():
        raise _missing(
            "reuters", folder, "reuters.npz", _keras_source("reuters", "reuters.npz")
        )
    f = _load_npz(path, ["x", "y"])
    order = np.arange(len(f["x"]))
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    x, y = _index_words(f["x"][order], num_words), _labels(f["y"])[order]
    cut = int(len(x) * (1 - test_fraction))
    from keras.datasets import reuters  # get_label_names only returns a tuple

    return RawData(
        x[:cut], y[:cut], x[cut:], y[cut:], tuple(reuters.get_label_names()),
        {"source": path.name, **options},
    )  # fmt: skip


_READERS = {
    "mnist": _read_mnist,
    "fashion_mnist": _read_fashion_mnist,
    "cifar10": _read_cifar10,
    "cifar100": _read_cifar100,
    "imdb": _read_imdb,
    "reuters": _read_reuters,
}


def read(name: str, data_dir=None, **options) -> RawData:
    """Reads one cached dataset in its stored form (uint8 images, int labels).

    Args:
        name: str. "mnist", "fashion_mnist", "cifar10", "cifar100", "imdb" or
            "reuters".
        data_dir: str, PathLike or None. See `cache_dir`.
        **options: reader options (cifar100: label_mode; imdb: num_words;
            reuters: num_words, test_fraction).

    Returns:
        RawData; its preprocessing["source"] names the file or folder read.

    Raises:
        DatasetNotFoundError: when the files are absent.
        ValueError: when a file is unreadable or an option is invalid.
    """
    folder = cache_dir(data_dir)
    raw = _READERS[name](folder, **options)
    logger.info("Read %s from %s (%s).", name, folder, raw.preprocessing["source"])
    return raw


def load_word_index(name: str, data_dir=None) -> dict[str, int]:
    """The word -> frequency-rank map of "imdb" or "reuters", from the cache.

    A word of rank r appears as index r + 3 in `load("imdb")` sequences.

    Args:
        name: str. "imdb" or "reuters".
        data_dir: str, PathLike or None. See `cache_dir`.

    Returns:
        dict mapping words to ranks (1 = most frequent).

    Raises:
        ValueError: for another name.
        DatasetNotFoundError: when `<name>_word_index.json` is absent.

    Example:
    >>> index = load_word_index("imdb")
    >>> index["the"]
    1
    """
    if name not in ("imdb", "reuters"):
        raise ValueError(f"`name` must be 'imdb' or 'reuters'; received name={name!r}.")
    folder = cache_dir(data_dir)
    filename = f"{name}_word_index.json"
    path = folder / filename
    if not path.is_file():
        raise _missing(name, folder, filename, f"download {KERAS_URL}{filename}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
