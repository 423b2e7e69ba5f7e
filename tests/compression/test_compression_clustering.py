"""Weight clustering (kerasdl.compression.clustering) on the current backend."""

import keras
import numpy as np
import pytest

from kerasdl.compression import clustering
from kerasdl.compression.clustering import ClusterWeights


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _mlp(hidden=32, inputs=64, classes=10):
    x = keras.Input((inputs,), name="x")
    h = keras.layers.Dense(hidden, activation="relu", name="d1")(x)
    h = keras.layers.Dropout(0.1, name="drop")(h)
    y = keras.layers.Dense(classes, name="d2")(h)
    return keras.Model(x, y)


def _compile(model, lr):
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _wrappers(model):
    return [w for w in model.layers if isinstance(w, ClusterWeights)]


@pytest.mark.parametrize("init", clustering.CENTROID_INITS)
def test_centroid_inits(init):
    w = np.random.default_rng(0).standard_normal((20, 10)).astype("float32")
    c = clustering.init_centroids(w, 6, init)
    assert c.shape == (6,) and c.dtype == np.float32
    assert w.min() - 0.011 <= c.min() and c.max() <= w.max() + 0.011
    np.testing.assert_array_equal(c, clustering.init_centroids(w, 6, init))  # seeded
    if init == "linear":
        np.testing.assert_allclose(c, np.linspace(w.min(), w.max(), 6), rtol=1e-6)
    if init == "kmeans_plus_plus":
        assert len(np.unique(c)) == 6 and set(c) <= set(w.ravel())
    if init == "density_based":
        # Denser regions get more centroids: the middle half of the sorted
        # weights holds at least half of the centroids.
        lo, hi = np.quantile(w, [0.2, 0.8])
        assert ((c >= lo) & (c <= hi)).sum() >= 3


def test_forward_uses_centroids_and_gradients_reach_them():
    layer = clustering.cluster_weights(keras.layers.Dense(5, name="dense"), 3, "linear")
    assert layer.name == "cluster_dense"
    x = np.random.default_rng(1).standard_normal((4, 7)).astype("float32")
    out = _np(layer(x))
    kernel, centroids = _np(layer.layer.kernel), _np(layer.cluster_centroids[0])
    np.testing.assert_allclose(
        centroids, np.linspace(kernel.min(), kernel.max(), 3), rtol=1e-6
    )
    clustered = centroids[np.argmin(np.abs(kernel[..., None] - centroids), axis=-1)]
    np.testing.assert_allclose(out, x @ clustered + _np(layer.layer.bias), atol=1e-5)
    assert len(np.unique(clustered)) <= 3
    # One SGD step through a model: centroids and original weights both move.
    model = keras.Sequential([keras.Input((7,)), layer])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, np.ones((4, 5), "float32"), batch_size=4, epochs=1, verbose=0)
    assert np.abs(_np(layer.cluster_centroids[0]) - centroids).max() > 1e-4
    assert np.abs(_np(layer.layer.kernel) - kernel).max() > 1e-4
    indices = _np(layer.pulling_indices[0])
    assert indices.shape == kernel.shape and set(np.unique(indices)) <= {0, 1, 2}


def test_selection_and_errors():
    model = _mlp()
    assert [w.layer.name for w in _wrappers(clustering.cluster_weights(model, 4))] == [
        "d1",
        "d2",
    ]
    assert [
        w.layer.name
        for w in _wrappers(clustering.cluster_weights(model, 4, layers=["d2"]))
    ] == ["d2"]
    with pytest.raises(ValueError, match="drop") as info:
        clustering.cluster_weights(model, 4, layers=["drop"])
    assert "Dense" in str(info.value)
    with pytest.raises(ValueError, match="missing"):
        clustering.cluster_weights(model, 4, layers=["missing"])
    with pytest.raises(ValueError, match="number_of_clusters"):
        clustering.cluster_weights(model, 1)
    with pytest.raises(ValueError, match="cluster_centroids_init"):
        clustering.cluster_weights(model, 4, "kmeans")


def test_conv_embedding_and_round_trip(tmp_path):
    tokens = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 8, name="embedding")(tokens)
    h = keras.layers.Reshape((6, 8, 1))(h)
    h = keras.layers.SeparableConv2D(4, 3, name="separable")(h)
    h = keras.layers.Conv2D(3, 2, name="conv")(h)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(h))
    model = keras.Model(tokens, out)
    clustered = clustering.cluster_weights(model, 5, "density_based")
    separable = clustered.get_layer("cluster_separable")
    assert len(separable.cluster_centroids) == 2  # depthwise and pointwise (TFMOT)
    x = np.random.default_rng(0).integers(0, 20, (3, 6)).astype("int32")
    path = tmp_path / "clustered.keras"
    clustered.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(clustered(x)), _np(restored(x)), atol=1e-6)
    stripped = clustering.strip_clustering(restored)
    assert [type(layer).__name__ for layer in stripped.layers if layer.weights] == [
        "Embedding",
        "SeparableConv2D",
        "Conv2D",
        "Dense",
    ]
    np.testing.assert_allclose(_np(clustered(x)), _np(stripped(x)), atol=1e-5)
    for name, attrs in {
        "embedding": ["embeddings"],
        "separable": ["depthwise_kernel", "pointwise_kernel"],
        "conv": ["kernel"],
        "head": ["kernel"],
    }.items():
        for attr in attrs:
            values = _np(getattr(stripped.get_layer(name), attr))
            assert len(np.unique(values)) <= 5, (name, attr)


def _accuracy(model, x, y):
    # Eager forward instead of evaluate(): no extra compiled function per model.
    return float(np.mean(np.argmax(_np(model(x)), axis=-1) == y))


def test_digits_accuracy_stays_close():
    """Cluster a trained MLP on sklearn digits: <= 8 values per kernel, same accuracy."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    model = _compile(_mlp(), 1e-2)
    model.fit(x_train, y_train, epochs=4, batch_size=64, verbose=0)
    baseline = _accuracy(model, x_test, y_test)
    assert baseline > 0.85
    clustered = _compile(clustering.cluster_weights(model, 8), 1e-3)
    clustered.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    stripped = clustering.strip_clustering(clustered)
    accuracy = _accuracy(stripped, x_test, y_test)
    for name in ("d1", "d2"):
        assert len(np.unique(_np(stripped.get_layer(name).kernel))) <= 8
    assert accuracy >= baseline - 0.04, (baseline, accuracy)
    np.testing.assert_allclose(_np(clustered(x_test)), _np(stripped(x_test)), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("init", clustering.CENTROID_INITS)
@pytest.mark.parametrize("clusters", [4, 16])
def test_digits_accuracy_every_init(init, clusters):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target
    model = _compile(_mlp(64), 1e-2)
    model.fit(x[:1400], y[:1400], epochs=8, batch_size=32, verbose=0)
    baseline = model.evaluate(x[1400:], y[1400:], verbose=0)[1]
    clustered = _compile(clustering.cluster_weights(model, clusters, init), 1e-3)
    clustered.fit(x[:1400], y[:1400], epochs=3, batch_size=32, verbose=0)
    stripped = _compile(clustering.strip_clustering(clustered), 1e-3)
    accuracy = stripped.evaluate(x[1400:], y[1400:], verbose=0)[1]
    assert accuracy >= baseline - (0.05 if clusters == 4 else 0.02), (
        baseline,
        accuracy,
    )
