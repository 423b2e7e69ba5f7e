"""kerasdl.data.load for the generated/bundled datasets and the Dataset record."""

import json
import random
import socket

import keras
import numpy as np
import pytest

import kerasdl.data
from kerasdl.data import Dataset, datasets
from kerasdl.data._arrays import resize_bilinear


@pytest.fixture(scope="module")
def digits():
    return kerasdl.data.load("digits")


def _sorted_rows(x):
    flat = np.asarray(x).reshape(len(x), -1)
    return flat[np.lexsort(flat.T[::-1])]


def test_digits_split_values_and_metadata(digits):
    from sklearn.datasets import load_digits

    x_train, y_train, x_test, y_test = digits  # unpacks like Keras' arrays
    assert x_train.shape == (1438, 8, 8, 1) and x_test.shape == (359, 8, 8, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert digits.input_shape == (8, 8, 1)
    assert digits.class_names == tuple("0123456789") and digits.num_classes == 10
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # Train and test together are exactly the raw images / 16, labels paired.
    raw = load_digits()
    both = np.concatenate([x_train, x_test]).reshape(-1, 64)
    labels = np.concatenate([y_train, y_test])
    expected = np.c_[raw.data / 16.0, raw.target]
    np.testing.assert_array_equal(
        _sorted_rows(np.c_[both, labels]), _sorted_rows(expected.astype(np.float32))
    )
    # Stratified: every class holds 20% +-1 of its images in the test set.
    counts = np.bincount(raw.target)
    assert np.all(np.abs(np.bincount(y_test) - 0.2 * counts) <= 1)
    meta = json.loads(json.dumps(digits.metadata()))
    assert meta["preprocessing"] == {
        "scale": 0.0625,
        "offset": 0.0,
        "layout": "HWC",
        "dtype": "float32",
        "raw_range": [0, 16],
    }
    assert meta["num_train"] == 1438 and meta["input_shape"] == [8, 8, 1]


def test_digits_split_is_seeded(digits):
    again = kerasdl.data.load("digits")
    np.testing.assert_array_equal(again.x_test, digits.x_test)
    other = kerasdl.data.load("digits", seed=1, test_fraction=0.5)
    assert len(other.x_test) == round(0.5 * 1797)
    assert not np.array_equal(other.y_test[:359], digits.y_test)


def test_digits_resize_matches_keras_bilinear(digits):
    big = kerasdl.data.load("digits", image_size=32)
    assert big.input_shape == (32, 32, 1) and big.x_train.dtype == np.float32
    assert big.preprocessing["resize"] == {"size": [32, 32], "method": "bilinear"}
    expected = keras.ops.convert_to_numpy(
        keras.ops.image.resize(
            digits.x_train[:16], (32, 32), interpolation="bilinear", antialias=False
        )
    )
    np.testing.assert_allclose(big.x_train[:16], expected, atol=1e-5)
    flat = kerasdl.data.load("digits", flatten=True)
    assert flat.input_shape == (64,) and flat.preprocessing["layout"] == "flat"
    assert flat.preprocessing["flattened_from"] == {"layout": "HWC", "shape": [8, 8, 1]}
    np.testing.assert_array_equal(flat.x_train, digits.x_train.reshape(-1, 64))


def test_resize_bilinear_exact_values():
    image = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)[None, ..., None]
    out = resize_bilinear(image, (4, 4))[0, ..., 0]
    # Half-pixel centres: output column j samples input x = (j + .5) / 2 - .5.
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.5, 2.0])
    np.testing.assert_array_equal(resize_bilinear(image, (2, 2)), image)


def test_mnist1d_offline_standard_split_and_global_rng_untouched(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("mnist1d tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    datasets._generate_mnist1d.cache_clear()
    np.random.seed(7)
    random.seed(7)
    data = kerasdl.data.load("mnist1d")
    assert np.random.rand() == np.random.RandomState(7).rand()
    assert random.random() == random.Random(7).random()
    assert data.x_train.shape == (4000, 40, 1) and data.x_test.shape == (1000, 40, 1)
    assert data.y_train.dtype == np.int32 and set(np.unique(data.y_test)) == set(
        range(10)
    )
    both = np.concatenate([data.x_train, data.x_test])
    assert abs(both.mean()) < 1e-4 and abs(both.std() - 1.0) < 1e-4
    flat = kerasdl.data.load("mnist1d", flatten=True)
    assert flat.input_shape == (40,) and flat.preprocessing["layout"] == "T"
    np.testing.assert_array_equal(flat.x_train, data.x_train[..., 0])


def test_load_rejects_unknown_names_and_options():
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnst'\. Did you mean"):
        kerasdl.data.load("mnst")
    with pytest.raises(ValueError, match="Known: cifar10, cifar100, digits"):
        kerasdl.data.load("svhn")
    with pytest.raises(ValueError, match=r"Unknown option 'sed'.*Did you mean 'seed'"):
        kerasdl.data.load("digits", sed=1)
    with pytest.raises(ValueError, match="image_size"):
        kerasdl.data.load("digits", image_size=(32, "a"))
    assert kerasdl.data.load("  DIGITS ", flatten=True).input_shape == (64,)


def test_dataset_validates_its_fields():
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int32)
    with pytest.raises(ValueError, match="x_test and y_test"):
        Dataset(x, y, x, y[:3], 1, ("a",), (2,), "t")
    with pytest.raises(ValueError, match="num_classes=2 but received 1"):
        Dataset(x, y, x, y, 2, ("a",), (2,), "t")
    with pytest.raises(ValueError, match="JSON-serializable"):
        Dataset(x, y, x, y, 1, ("a",), (2,), "t", {"scale": np.float32(1)})
    data = Dataset(x, y, x, y, 1, ["a"], [2], "t")
    assert data.class_names == ("a",) and data.input_shape == (2,)
    assert "x_train=(4, 2)" in repr(data)
    with pytest.raises(AttributeError):
        data.name = "other"
