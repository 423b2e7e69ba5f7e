"""Datasets read from the Keras cache: tiny synthetic files in a temp KERAS_HOME.

Parity tests run keras.datasets' own loaders on the same files (with its
`get_file` patched to return the local path, so nothing downloads) and
compare arrays.
"""

import datetime
import gzip
import io
import json
import pickle
import socket
import tarfile

import numpy as np
import pytest

import kerasdl.data
from kerasdl.data import DatasetNotFoundError

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty KERAS_HOME; returns its datasets/ folder."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "datasets"
    folder.mkdir()
    return folder


def _images(n, shape):
    return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_mnist(folder, n_train=5, n_test=3):
    arrays = {
        "x_train": _images(n_train, (28, 28)),
        "y_train": RNG.integers(0, 10, n_train).astype(np.uint8),
        "x_test": _images(n_test, (28, 28)),
        "y_test": RNG.integers(0, 10, n_test).astype(np.uint8),
    }
    np.savez(folder / "mnist.npz", **arrays)
    return arrays


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in array.shape
    )
    return gzip.compress(header + array.tobytes())


def write_fashion_mnist(folder):
    sub = folder / "fashion-mnist"
    sub.mkdir()
    arrays = {
        "x_train": _images(4, (28, 28)),
        "y_train": np.array([0, 9, 3, 3], np.uint8),
        "x_test": _images(2, (28, 28)),
        "y_test": np.array([1, 2], np.uint8),
    }
    (sub / "train-images-idx3-ubyte.gz").write_bytes(_idx(arrays["x_train"], 2051))
    (sub / "train-labels-idx1-ubyte.gz").write_bytes(_idx(arrays["y_train"], 2049))
    (sub / "t10k-images-idx3-ubyte.gz").write_bytes(_idx(arrays["x_test"], 2051))
    (sub / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx(arrays["y_test"], 2049))
    return arrays


def _batch(n, label_key="labels", **extra):
    return {
        b"batch_label": b"synthetic",
        label_key.encode(): RNG.integers(0, 10, n).tolist(),
        b"data": _images(n, (3072,)),
        b"filenames": [b"f%d.png" % i for i in range(n)],
        **extra,
    }


def cifar10_files(n=2):
    files = {f"data_batch_{i}": _batch(n) for i in range(1, 6)}
    files["test_batch"] = _batch(n + 1)
    names = [b"plane", b"car", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    files["batches.meta"] = {b"label_names": names}
    return files


def write_folder(folder, files):
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(pickle.dumps(content, protocol=4))


def write_tar(path, dirname, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = pickle.dumps(content, protocol=4)
            info = tarfile.TarInfo(f"{dirname}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def cifar100_files():
    def batch(n):
        return {
            b"data": _images(n, (3072,)),
            b"fine_labels": RNG.integers(0, 100, n).tolist(),
            b"coarse_labels": RNG.integers(0, 20, n).tolist(),
        }

    meta = {
        b"fine_label_names": [b"fine%d" % i for i in range(100)],
        b"coarse_label_names": [b"coarse%d" % i for i in range(20)],
    }
    return {"train": batch(4), "test": batch(2), "meta": meta}


def _ragged(seqs):
    array = np.empty(len(seqs), dtype=object)
    array[:] = [list(s) for s in seqs]
    return array


def _word_lists(n):
    return _ragged(
        [RNG.integers(1, 30, RNG.integers(1, 12)).tolist() for _ in range(n)]
    )


def write_imdb(folder):
    np.savez(
        folder / "imdb.npz",
        x_train=_word_lists(7),
        y_train=RNG.integers(0, 2, 7),
        x_test=_word_lists(5),
        y_test=RNG.integers(0, 2, 5),
    )


def write_reuters(folder):
    np.savez(folder / "reuters.npz", x=_word_lists(10), y=RNG.integers(0, 46, 10))


def _patch_get_file(monkeypatch, module, path_for):
    import importlib

    target = importlib.import_module(f"keras.src.datasets.{module}")
    monkeypatch.setattr(
        target, "get_file", lambda fname=None, *a, **k: str(path_for(fname))
    )


def test_mnist_values_shapes_and_keras_parity(home, monkeypatch):
    from keras.datasets import mnist

    raw = write_mnist(home)
    data = kerasdl.data.load("mnist")
    assert data.x_train.shape == (5, 28, 28, 1) and data.input_shape == (28, 28, 1)
    np.testing.assert_array_equal(
        data.x_train[..., 0], raw["x_train"].astype(np.float32) / np.float32(255)
    )
    np.testing.assert_array_equal(data.y_test, raw["y_test"])
    assert data.y_test.dtype == np.int32 and data.class_names[3] == "3"
    assert data.preprocessing["scale"] == 1 / 255
    assert data.preprocessing["source"] == "mnist.npz"
    _patch_get_file(monkeypatch, "mnist", lambda fname: home / fname)
    (x_train, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(np.rint(data.x_train[..., 0] * 255), x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    small = kerasdl.data.load("mnist", image_size=32, flatten=True)
    assert small.x_train.shape == (5, 1024)


def test_data_dir_overrides_keras_home(home, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    raw = write_mnist(other, n_train=2, n_test=1)
    with pytest.raises(DatasetNotFoundError):
        kerasdl.data.load("mnist")
    data = kerasdl.data.load("mnist", data_dir=str(other))
    np.testing.assert_array_equal(data.y_train, raw["y_train"])
    assert kerasdl.data.cache_dir() == home


def test_fashion_mnist_idx_files_and_parity(home, monkeypatch):
    from keras.datasets import fashion_mnist

    raw = write_fashion_mnist(home)
    data = kerasdl.data.load("Fashion-MNIST")
    np.testing.assert_array_equal(data.y_train, [0, 9, 3, 3])
    np.testing.assert_array_equal(np.rint(data.x_test[..., 0] * 255), raw["x_test"])
    assert data.class_names[9] == "Ankle boot" and data.num_classes == 10
    _patch_get_file(
        monkeypatch, "fashion_mnist", lambda fname: home / "fashion-mnist" / fname
    )
    (x_train, _), (_, y_test) = fashion_mnist.load_data()
    np.testing.assert_array_equal(np.rint(data.x_train[..., 0] * 255), x_train)
    np.testing.assert_array_equal(data.y_test, y_test)


def test_cifar10_folder_layouts_archive_and_parity(home, tmp_path):
    from keras.src.datasets.cifar import load_batch

    files = cifar10_files()
    # Keras 3.15 extracts to cifar-10-batches-py-target/cifar-10-batches-py.
    write_folder(home / "cifar-10-batches-py-target" / "cifar-10-batches-py", files)
    data = kerasdl.data.load("cifar10")
    assert data.x_train.shape == (10, 32, 32, 3) and data.x_test.shape == (3, 32, 32, 3)
    assert data.class_names[0] == "plane"  # read from batches.meta
    raw = files["data_batch_2"][b"data"].reshape(2, 3, 32, 32)
    # Stored as R, G, B planes: pixel (h, w) of channel c is data[c * 1024 + h * 32 + w].
    assert data.x_train[2, 5, 7, 1] == np.float32(raw[0, 1, 5, 7]) / np.float32(255)
    np.testing.assert_array_equal(
        data.y_train,
        [v for i in range(1, 6) for v in files[f"data_batch_{i}"][b"labels"]],
    )
    # Parity with Keras' own batch parser (its load_data wants 10,000 per batch).
    folder = home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    parsed = [load_batch(str(folder / f"data_batch_{i}")) for i in range(1, 6)]
    x_keras = np.concatenate([x for x, _ in parsed]).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(np.rint(data.x_train * 255), x_keras)
    np.testing.assert_array_equal(data.y_train, np.concatenate([y for _, y in parsed]))

    archive_home = tmp_path / "archive"
    archive_home.mkdir()
    write_tar(archive_home / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    from_tar = kerasdl.data.load("cifar10", data_dir=archive_home)
    np.testing.assert_array_equal(from_tar.x_train, data.x_train)
    np.testing.assert_array_equal(from_tar.y_test, data.y_test)
    assert from_tar.preprocessing["source"] == "cifar-10-python.tar.gz"
    assert data.preprocessing["source"] == "cifar-10-batches-py"


def test_cifar100_fine_and_coarse(home, monkeypatch):
    from keras.datasets import cifar100

    files = cifar100_files()
    write_folder(home / "cifar-100-python", files)
    fine = kerasdl.data.load("cifar100")
    coarse = kerasdl.data.load("cifar100", label_mode="coarse")
    assert fine.num_classes == 100 and coarse.num_classes == 20
    assert coarse.class_names[4] == "coarse4"
    np.testing.assert_array_equal(fine.y_train, files["train"][b"fine_labels"])
    np.testing.assert_array_equal(coarse.y_test, files["test"][b"coarse_labels"])
    assert coarse.preprocessing["label_mode"] == "coarse"
    with pytest.raises(ValueError, match="label_mode='medium'"):
        kerasdl.data.load("cifar100", label_mode="medium")
    # Keras' own loader expects the -target layout; point it at our folder.
    _patch_get_file(monkeypatch, "cifar100", lambda fname: home)
    (x_train, y_train), _ = cifar100.load_data(label_mode="coarse")
    np.testing.assert_array_equal(np.rint(coarse.x_train * 255), x_train)
    np.testing.assert_array_equal(coarse.y_train, y_train[:, 0])


def test_imdb_matches_keras_indexing_and_pads(home, monkeypatch):
    from keras.datasets import imdb

    write_imdb(home)
    ragged = kerasdl.data.load("imdb", num_words=20, sequence_length=None)
    assert ragged.input_shape == (None,) and ragged.class_names == (
        "negative",
        "positive",
    )
    _patch_get_file(monkeypatch, "imdb", lambda fname: home / fname)
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=20)
    assert [list(s) for s in ragged.x_train] == [list(s) for s in x_train]
    assert [list(s) for s in ragged.x_test] == [list(s) for s in x_test]
    np.testing.assert_array_equal(ragged.y_train, y_train)
    np.testing.assert_array_equal(ragged.y_test, y_test)
    assert max(max(s) for s in ragged.x_train) < 20  # rarer words became 2

    padded = kerasdl.data.load("imdb", num_words=20, sequence_length=6)
    assert padded.x_train.shape == (7, 6) and padded.x_train.dtype == np.int32
    for row, seq in zip(padded.x_train, ragged.x_train, strict=True):
        seq = seq[-6:]  # truncating="pre" keeps the end
        np.testing.assert_array_equal(row, [0] * (6 - len(seq)) + seq)
    post = kerasdl.data.load(
        "imdb", num_words=20, sequence_length=6, padding="post", truncating="post"
    )
    seq = ragged.x_test[0][:6]
    np.testing.assert_array_equal(post.x_test[0], seq + [0] * (6 - len(seq)))
    assert post.preprocessing["padding"] == "post" and post.input_shape == (6,)
    with pytest.raises(ValueError, match="padding='middle'"):
        kerasdl.data.load("imdb", padding="middle")
    with pytest.raises(ValueError, match="num_words=2"):
        kerasdl.data.load("imdb", num_words=2)


def test_reuters_split_matches_keras(home, monkeypatch):
    from keras.datasets import reuters

    write_reuters(home)
    data = kerasdl.data.load("reuters", num_words=15, sequence_length=None)
    assert data.num_classes == 46 and data.class_names[3] == "earn"
    _patch_get_file(monkeypatch, "reuters", lambda fname: home / fname)
    (x_train, _), (_, y_test) = reuters.load_data(num_words=15)
    assert len(data.x_train) == 8 and len(data.x_test) == 2
    assert [list(s) for s in data.x_train] == [list(s) for s in x_train]
    np.testing.assert_array_equal(data.y_test, y_test)


def test_word_index(home):
    (home / "imdb_word_index.json").write_text(json.dumps({"the": 1, "film": 19}))
    assert kerasdl.data.load_word_index("imdb") == {"the": 1, "film": 19}
    with pytest.raises(DatasetNotFoundError, match=r"reuters_word_index\.json"):
        kerasdl.data.load_word_index("reuters")
    with pytest.raises(ValueError, match="name='mnist'"):
        kerasdl.data.load_word_index("mnist")


MISSING = [
    ("mnist", "mnist.npz", "tf-keras-datasets/mnist.npz"),
    ("fashion_mnist", "train-labels-idx1-ubyte.gz", "tf-keras-datasets/"),
    ("cifar10", "cifar-10-batches-py/", "kriz/cifar-10-python.tar.gz"),
    ("cifar100", "cifar-100-python/", "kriz/cifar-100-python.tar.gz"),
    ("imdb", "imdb.npz", "tf-keras-datasets/imdb.npz"),
    ("reuters", "reuters.npz", "tf-keras-datasets/reuters.npz"),
]


def test_missing_files_say_what_to_place_where(home):
    for name, wanted, source in MISSING:
        with pytest.raises(FileNotFoundError) as info:
            kerasdl.data.load(name)
        message = str(info.value)
        assert isinstance(info.value, DatasetNotFoundError)
        assert wanted in message and source in message, message
        assert str(home) in message and "never downloads" in message
    assert not any(home.iterdir())  # nothing was created while looking


def test_refuses_pickles_with_foreign_objects(home):
    files = cifar10_files()
    files["test_batch"] = {b"data": datetime.date(2020, 1, 1), b"labels": [0]}
    write_folder(home / "cifar-10-batches-py", files)
    with pytest.raises(ValueError, match=r"Refusing to load datetime\.date"):
        kerasdl.data.load("cifar10")


def test_incomplete_or_wrong_files_are_named(home):
    files = cifar10_files()
    del files["data_batch_3"]
    write_folder(home / "cifar-10-batches-py", files)
    with pytest.raises(ValueError, match="no 'data_batch_3'"):
        kerasdl.data.load("cifar10")
    np.savez(home / "mnist.npz", images=np.zeros(3))
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_train'"):
        kerasdl.data.load("mnist")
