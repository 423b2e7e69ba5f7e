"""make_pipeline on both paths: tf.data and the pure-Python PyDataset."""

import keras
import numpy as np
import pytest

from kerasdl.data import ArrayPyDataset, make_pipeline, pipeline

N = 20
X = np.arange(N * 8 * 8, dtype="float32").reshape(N, 8, 8, 1) / (N * 64)
Y = (np.arange(N) % 4).astype("int32")
LOADERS = ["tf_data", "py_dataset"]


def _epochs(data, epochs):
    """Batches as NumPy, the way Keras iterates a pipeline over epochs."""
    out = []
    for _ in range(epochs):
        batches = []
        if isinstance(data, keras.utils.PyDataset):
            for i in range(len(data)):
                batches.append(data[i])
            data.on_epoch_end()
        else:
            batches = list(data.as_numpy_iterator())
        out.append(
            [
                tuple(np.asarray(t) for t in b)
                if isinstance(b, tuple)
                else np.asarray(b)
                for b in batches
            ]
        )
    return out


def _ids(batch_x):
    # Each sample's first pixel identifies it: X[i, 0, 0, 0] = i * 64 / (N * 64).
    return np.rint(batch_x[:, 0, 0, 0] * N).astype(int)


@pytest.mark.parametrize("loader", LOADERS)
def test_batches_cover_every_sample_shuffled_and_seeded(loader):
    data = make_pipeline(X, Y, batch_size=8, seed=3, loader=loader)
    if loader == "py_dataset":
        assert isinstance(data, ArrayPyDataset)
    else:
        import tensorflow as tf

        assert isinstance(data, tf.data.Dataset)
    epochs = _epochs(data, 2)
    for batches in epochs:
        assert [len(x) for x, _ in batches] == [8, 8, 4]
        ids = np.concatenate([_ids(x) for x, _ in batches])
        np.testing.assert_array_equal(np.sort(ids), np.arange(N))  # each once
        labels = np.concatenate([y for _, y in batches])
        np.testing.assert_array_equal(labels, Y[ids])  # pairs kept
    first, second = (np.concatenate([_ids(x) for x, _ in b]) for b in epochs)
    assert not np.array_equal(first, np.arange(N))  # shuffled
    assert not np.array_equal(first, second)  # reshuffled every epoch
    again = _epochs(make_pipeline(X, Y, batch_size=8, seed=3, loader=loader), 2)
    for a, b in zip(epochs, again, strict=True):
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("loader", LOADERS)
def test_order_drop_remainder_and_inputs_only(loader):
    data = make_pipeline(
        X, None, batch_size=8, shuffle=False, drop_remainder=True, loader=loader
    )
    (batches,) = _epochs(data, 1)
    assert len(batches) == 2 and all(isinstance(b, np.ndarray) for b in batches)
    np.testing.assert_array_equal(
        np.concatenate([_ids(b) for b in batches]), np.arange(16)
    )
    # A validation pipeline for a model trained with MixUp: one-hot, in order.
    val = make_pipeline(
        X, Y, batch_size=N, shuffle=False, one_hot=True, num_classes=6, loader=loader
    )
    ((x, y),) = _epochs(val, 1)[0]
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, np.eye(6, dtype="float32")[Y])


def test_auto_falls_back_to_pydataset_without_tensorflow(monkeypatch):
    monkeypatch.setattr(pipeline, "_tensorflow_available", lambda: False)
    assert isinstance(make_pipeline(X, Y), ArrayPyDataset)
    with pytest.raises(ValueError, match="loader='tf_data' needs TensorFlow"):
        make_pipeline(X, Y, loader="tf_data")
    with pytest.raises(ValueError, match=r"loader='tfdata'.*Did you mean 'tf_data'"):
        make_pipeline(X, Y, loader="tfdata")
    with pytest.raises(ValueError, match="batch_size=0"):
        make_pipeline(X, Y, batch_size=0)
    with pytest.raises(ValueError, match="received 20 and 19"):
        make_pipeline(X, Y[:-1])


@pytest.mark.parametrize("loader", LOADERS)
def test_mixup_one_hot_soft_labels_and_seeded(loader):
    config = [{"flip": "horizontal"}, {"mixup": 1.0}]
    data = make_pipeline(
        X, Y, batch_size=10, seed=0, augment=config, num_classes=5, loader=loader
    )
    (batches,) = _epochs(data, 1)
    labels = np.concatenate([y for _, y in batches])
    assert labels.shape == (N, 5) and labels.dtype == np.float32  # one-hot width 5
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert ((labels > 0.01) & (labels < 0.99)).any()  # mixed, not one-hot
    np.testing.assert_array_equal(labels[:, 4], 0.0)  # class 4 never occurs
    images = np.concatenate([x for x, _ in batches])
    assert images.shape == X.shape and images.min() >= 0.0 and images.max() <= 1.0
    (again,) = _epochs(
        make_pipeline(
            X, Y, batch_size=10, seed=0, augment=config, num_classes=5, loader=loader
        ),
        1,
    )
    for (xa, ya), (xb, yb) in zip(batches, again, strict=True):
        np.testing.assert_allclose(xa, xb, atol=1e-6)
        np.testing.assert_allclose(ya, yb, atol=1e-6)
    with pytest.raises(ValueError, match="need labels"):
        make_pipeline(X, augment=config, loader=loader)
    with pytest.raises(ValueError, match="one_hot=False conflicts"):
        make_pipeline(X, Y, augment=config, one_hot=False, loader=loader)
    with pytest.raises(ValueError, match="dtype float"):
        make_pipeline(X, Y.astype("float32"), augment=config, loader=loader)


def test_augmentation_changes_images_only_in_the_pipeline():
    plain = _epochs(make_pipeline(X, Y, batch_size=N, shuffle=False), 1)[0][0][0]
    np.testing.assert_array_equal(plain, X)
    flipped = _epochs(
        make_pipeline(
            X, Y, batch_size=N, shuffle=False, augment={"flip": "horizontal"}, seed=1
        ),
        1,
    )[0][0][0]
    # Each image is either unchanged or mirrored left-right, and some are mirrored.
    mirrored = np.all(flipped == X[:, :, ::-1], axis=(1, 2, 3))
    unchanged = np.all(flipped == X, axis=(1, 2, 3))
    assert np.all(mirrored | unchanged) and mirrored.any()


@pytest.mark.parametrize("loader", LOADERS)
def test_model_fit_accepts_the_pipeline(loader):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile("sgd", "categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    data = make_pipeline(
        X, Y, batch_size=10, seed=0, augment={"mixup": 0.2}, loader=loader
    )
    history = model.fit(data, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    assert any(
        not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    )
