"""Weight clustering (weight sharing) for Keras 3 models, TFMOT-style, on every backend.

`cluster_weights` wraps the clusterable layers of a model in `ClusterWeights`:
each kernel gets `number_of_clusters` trainable centroids and a non-trainable
`pulling_indices` variable. The forward pass uses
`centroids[argmin |w - centroids|]` (indices re-assigned to the nearest
centroid at every call); the backward pass sends the gradient to the centroids
(summed over each cluster) and, straight through, to the original weights,
exactly like TFMOT's `ClusterWeights`. `strip_clustering` writes the clustered
values into plain layers, so each kernel holds at most `number_of_clusters`
distinct values (and compresses well, e.g. in a zipped TFLite file).

Centroid initializations follow TFMOT: "linear" (evenly spaced in
[min, max]), "random" (uniform in [min, max]), "density_based" (inverse of
the weights' CDF sampled on a 30-point grid) and "kmeans_plus_plus" (k-means++
seeding; NumPy, seeded, so deterministic but not TFMOT's random stream).

Example:
    >>> from kerasdl.compression import clustering
    >>> clustered = clustering.cluster_weights(model, number_of_clusters=16)
    >>> clustered.compile("adam", "sparse_categorical_crossentropy")
    >>> clustered.fit(x, y, epochs=1)
    >>> final = clustering.strip_clustering(clustered)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from keras.saving import register_keras_serializable

from kerasdl.compression import _wrapping

__all__ = [
    "CENTROID_INITS",
    "ClusterWeights",
    "cluster_weights",
    "clusterable_layer_types",
    "init_centroids",
    "strip_clustering",
]

_HOOK = "get_clusterable_weights"
CENTROID_INITS = ("kmeans_plus_plus", "linear", "random", "density_based")


def clusterable_layer_types():
    """Names of the built-in layer types `cluster_weights` can wrap."""
    return _wrapping.type_names(_wrapping._CLUSTERABLE)


# --------------------------------------------------------------------------
# Centroid initialization (NumPy)
# --------------------------------------------------------------------------


def _linear(w, k, rng):
    del rng
    return np.linspace(w.min(), w.max(), k, dtype=np.float32)


def _random(w, k, rng):
    return rng.uniform(w.min(), w.max(), size=k).astype(np.float32)


def _density_based(w, k, rng):
    del rng
    # TFMOT: CDF on a 30-point grid widened by 0.01 on each side; centroid i is
    # the first grid point whose CDF exceeds linspace(0.01, 1, k)[i]. (TFMOT
    # then "interpolates" on the line through that very point, which returns
    # the point itself.)
    grid = np.linspace(w.min() - 0.01, w.max() + 0.01, 30, dtype=np.float32)
    flat = np.sort(w.ravel())
    cdf = np.searchsorted(flat, grid, side="right").astype(np.float32) / np.float32(
        flat.size
    )
    probs = np.linspace(0.01, 1.0, k, dtype=np.float32)
    idx = np.searchsorted(cdf, probs, side="right")
    return grid[np.minimum(idx, grid.size - 1)].astype(np.float32)


def _kmeans_plus_plus(w, k, rng):
    # k-means++ seeding with 2 + log(k) candidates per centroid (TFMOT's
    # num_retries_per_sample=-1), on the flattened weights.
    x = w.ravel().astype(np.float64)
    centers = [x[rng.integers(x.size)]]
    d2 = (x - centers[0]) ** 2
    trials = 2 + int(np.log(k))
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:
            candidates = rng.integers(x.size, size=trials)
        else:
            candidates = rng.choice(x.size, size=trials, p=d2 / total)
        new_d2 = np.minimum(d2[None, :], (x[None, :] - x[candidates, None]) ** 2)
        best = int(np.argmin(new_d2.sum(axis=1)))
        centers.append(x[candidates[best]])
        d2 = new_d2[best]
    return np.asarray(centers, dtype=np.float32)


_INITS = {
    "kmeans_plus_plus": _kmeans_plus_plus,
    "linear": _linear,
    "random": _random,
    "density_based": _density_based,
}


def init_centroids(
    weights, number_of_clusters, cluster_centroids_init="kmeans_plus_plus", seed=9
):
    """Initial centroids for one weight array, TFMOT's initializations.

    Args:
        weights: array-like, the weights to cluster.
        number_of_clusters: int >= 2.
        cluster_centroids_init: one of "kmeans_plus_plus", "linear", "random",
            "density_based".
        seed: int, seed of the random initializations.

    Returns:
        float32 array of shape (number_of_clusters,).
    """
    _check_init(cluster_centroids_init)
    w = np.asarray(weights, dtype=np.float32)
    rng = np.random.default_rng(seed)
    return _INITS[cluster_centroids_init](w, int(number_of_clusters), rng)


def _check_init(value):
    if value not in _INITS:
        raise ValueError(
            f"`cluster_centroids_init` must be one of {CENTROID_INITS}. "
            f"Received: cluster_centroids_init={value!r}"
        )


def _check_clusters(value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"`number_of_clusters` must be an int. Received: number_of_clusters={value!r}"
        )
    if value < 2:
        raise ValueError(
            "`number_of_clusters` must be >= 2 (TFMOT: greater than 1). "
            f"Received: number_of_clusters={value}"
        )
    return int(value)


def _nearest(w, centroids):
    """Index of the nearest centroid for every weight, in O(size) memory.

    Sorting the k centroids and bisecting the midpoints between neighbours
    gives the same assignment as TFMOT's argmin over |w - c| (which needs a
    (size, k) tensor), up to weights lying exactly on a midpoint.
    """
    order = ops.argsort(centroids)
    ordered = ops.take(centroids, order)
    midpoints = (ordered[1:] + ordered[:-1]) / 2
    position = ops.searchsorted(midpoints, ops.reshape(w, (-1,)), side="left")
    return ops.reshape(ops.take(order, position), ops.shape(w))


def _nearest_np(w, centroids):
    order = np.argsort(centroids, kind="stable")
    ordered = centroids[order]
    midpoints = (ordered[1:] + ordered[:-1]) / 2
    return order[np.searchsorted(midpoints, w.ravel(), side="left")].reshape(w.shape)


# --------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------


@register_keras_serializable(package="kerasdl")
class ClusterWeights(_wrapping.CompressionWrapper):
    """Wraps a layer so that its kernel is clustered (weight sharing).

    Args:
        layer: keras.layers.Layer, a clusterable layer (or one with a
            `get_clusterable_weights()` method returning variables).
        number_of_clusters: int >= 2, distinct values per kernel.
        cluster_centroids_init: str, "kmeans_plus_plus", "linear", "random"
            or "density_based".
        **kwargs: base layer arguments; default name "cluster_<layer name>".
    """

    TABLE = _wrapping._CLUSTERABLE
    HOOK = _HOOK
    VERB, GERUND, KIND = "cluster", "clustering", "Clusterable"
    NAME_PREFIX = "cluster_"

    def __init__(
        self,
        layer,
        number_of_clusters,
        cluster_centroids_init="kmeans_plus_plus",
        **kwargs,
    ):
        super().__init__(layer, **kwargs)
        self.number_of_clusters = _check_clusters(number_of_clusters)
        _check_init(cluster_centroids_init)
        self.cluster_centroids_init = cluster_centroids_init

    def build(self, input_shape=None):
        self.clusterable_weights = self._build_layer(input_shape)
        single = len(self.clusterable_weights) == 1
        self.cluster_centroids, self.pulling_indices = [], []
        for var in self.clusterable_weights:
            base = var.name.split("/")[-1]
            values = np.asarray(ops.convert_to_numpy(var), dtype=np.float32)
            centroids = init_centroids(
                values, self.number_of_clusters, self.cluster_centroids_init
            )
            indices = _nearest_np(values, centroids)
            self.cluster_centroids.append(
                self.add_weight(
                    name="cluster_centroids" if single else f"cluster_centroids_{base}",
                    shape=(self.number_of_clusters,),
                    initializer=keras.initializers.Constant(centroids),
                    dtype=var.dtype,
                    trainable=True,
                )
            )
            self.pulling_indices.append(
                self.add_weight(
                    name="pulling_indices" if single else f"pulling_indices_{base}",
                    shape=var.shape,
                    initializer=keras.initializers.Constant(indices.astype("int32")),
                    dtype="int32",
                    trainable=False,
                )
            )
        self.built = True

    def call(self, inputs, training=None):
        substitutes = {}
        for var, centroids_var, indices_var in zip(
            self.clusterable_weights, self.cluster_centroids, self.pulling_indices
        ):
            w = var.value
            centroids = centroids_var.value
            indices = ops.stop_gradient(_nearest(w, centroids))
            indices_var.assign(ops.cast(indices, "int32"))
            clustered = ops.take(centroids, indices)
            # Forward: the centroid values. Backward: the gather's gradient
            # to the centroids (summed per cluster) and the identity to the
            # original weights (TFMOT's straight-through estimator).
            substitutes[id(var)] = clustered + (w - ops.stop_gradient(w))
        return _wrapping.call_with_substitutes(
            self.layer, substitutes, inputs, training=training
        )

    def clustered_values(self):
        """NumPy arrays `centroids[nearest index]` for each clustered weight."""
        out = []
        for var, centroids_var in zip(self.clusterable_weights, self.cluster_centroids):
            w = np.asarray(ops.convert_to_numpy(var))
            c = np.asarray(ops.convert_to_numpy(centroids_var))
            out.append(c[_nearest_np(w, c)].astype(w.dtype))
        return out

    stripped_values = clustered_values

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "number_of_clusters": self.number_of_clusters,
                "cluster_centroids_init": self.cluster_centroids_init,
            }
        )
        return config


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def cluster_weights(
    to_cluster,
    number_of_clusters,
    cluster_centroids_init="kmeans_plus_plus",
    layers=None,
):
    """Wrap the clusterable layers of a model (or one layer) for weight clustering.

    Args:
        to_cluster: a functional or Sequential keras.Model (cloned; the
            original is left untouched) or a single layer.
        number_of_clusters: int >= 2, distinct values per clustered kernel.
        cluster_centroids_init: "kmeans_plus_plus" (default, TFMOT's),
            "linear", "random" or "density_based".
        layers: None (every clusterable layer) or a list of layer names, type
            names and/or layer classes.

    Returns:
        The model with `ClusterWeights` wrappers, or the wrapped layer.

    Raises:
        ValueError: unknown/unclusterable layers, invalid arguments.

    Example:
        >>> clustered = cluster_weights(model, 8, "linear", layers=["dense"])
    """
    _check_clusters(number_of_clusters)
    _check_init(cluster_centroids_init)
    params = {
        "number_of_clusters": number_of_clusters,
        "cluster_centroids_init": cluster_centroids_init,
    }
    return ClusterWeights.wrap(to_cluster, layers, params, "to_cluster")


def strip_clustering(model):
    """Remove the clustering wrappers, keeping the clustered weight values.

    Args:
        model: a keras.Model with `ClusterWeights` layers, or one wrapper.

    Returns:
        A new model (or layer) of plain layers; each clustered kernel holds at
        most `number_of_clusters` distinct values.
    """
    return ClusterWeights.strip(model)
