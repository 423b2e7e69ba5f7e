"""Sample quality, measured offline: digits FID, KID, class consistency, VAE nats.

The Inception network behind the usual FID is neither offline nor suited
to 16x16 digits, so the feature space here is that of a small classifier
trained on the same offline data ("digits FID"): `feature_classifier`
trains one (cached by the data it saw) and exposes its penultimate layer.
FID and KID then compare the feature statistics of generated and real
images; class consistency asks that classifier, which never saw the
generator (and is not the one a diffusion model is guided by), to label
conditional samples. Scores from different classifiers are not comparable:
compare models under one classifier.

- `frechet_distance(a, b)`: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2)
  of two feature sets (`frechet_distance_from_stats` for given moments).
- `kernel_distance(a, b)`: KID, the unbiased MMD^2 with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over subsets.
- `fid`, `kid`: the same on images, through a `FeatureClassifier`.
- `class_consistency(images, labels, classifier)`: share labelled as asked.
- `vae_nats(vae, x)`: test ELBO and importance-weighted NLL per image in
  nats (and bits per dimension).
- `baseline_samples(images, n, kind)`: uniform noise, or a Gaussian fitted to
  the training images (mean and full covariance): what a generator must beat.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os

import keras
import numpy as np

from kerasdl._checks import check_choice, check_int, invalid

__all__ = [
    "FeatureClassifier",
    "baseline_samples",
    "class_consistency",
    "feature_classifier",
    "fid",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kernel_distance",
    "kid",
    "vae_nats",
]

logger = logging.getLogger(__name__)

FEATURE_LAYER = "features"


def _features_2d(name, features) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2:
        raise invalid(
            name, f"array of shape {array.shape}", "a 2-D array (n >= 2, features)"
        )
    return array


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    """Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b).

    Args:
        mu_a, mu_b: arrays (d,). Means.
        cov_a, cov_b: arrays (d, d). Covariances.

    Returns:
        float: ||mu_a - mu_b||^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2)).
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    # Tr((A B)^1/2) = sum of sqrt(eigenvalues of A^1/2 B A^1/2), a symmetric
    # PSD matrix: stable for singular covariances, where sqrtm is not.
    vals, vecs = np.linalg.eigh((cov_a + cov_a.T) / 2.0)
    root_a = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    inner = root_a @ ((cov_b + cov_b.T) / 2.0) @ root_a
    trace_root = np.sum(
        np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None))
    )
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(value, 0.0))


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, d)."""
    a = _features_2d("features_a", features_a)
    b = _features_2d("features_b", features_b)
    return frechet_distance_from_stats(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )


def kernel_distance(
    features_a, features_b, num_subsets=10, subset_size=500, seed=0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018).

    Args:
        features_a, features_b: arrays (n, d).
        num_subsets: int. Random subsets averaged over.
        subset_size: int. Samples per subset (capped by the smaller set).
        seed: int. Seed of the subset draws.

    Returns:
        (mean, std) over the subsets; about 0 for two samples of one
        distribution (the estimate is unbiased, so it can be slightly
        negative).
    """
    a = _features_2d("features_a", features_a)
    b = _features_2d("features_b", features_b)
    num_subsets = check_int("num_subsets", num_subsets, minimum=1)
    m = min(check_int("subset_size", subset_size, minimum=2), len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx = (x @ x.T / d + 1.0) ** 3
        k_yy = (y @ y.T / d + 1.0) ** 3
        k_xy = (x @ y.T / d + 1.0) ** 3
        same = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (
            m * (m - 1)
        )
        values.append(same - 2.0 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


# ------------------------------------------------------------ classifier
class FeatureClassifier:
    """A classifier trained on real images, used as a feature space.

    Attributes:
        model: keras.Model. Image -> class logits.
        feature_model: keras.Model. Image -> penultimate features.
        image_shape: tuple. The images it takes.
        test_accuracy: float or None. Accuracy on held-out images, when
            given at training time.
    """

    def __init__(self, model, test_accuracy=None):
        self.model = model
        self.feature_model = keras.Model(
            model.inputs, model.get_layer(FEATURE_LAYER).output, name="features"
        )
        self.image_shape = tuple(model.inputs[0].shape[1:])
        self.test_accuracy = test_accuracy

    def _check(self, images) -> np.ndarray:
        images = np.asarray(images, "float32")
        if images.shape[1:] != self.image_shape:
            raise invalid(
                "images",
                f"array of shape {images.shape}",
                f"images of shape (n, {', '.join(map(str, self.image_shape))}) "
                "(the classifier's input)",
            )
        return images

    def features(self, images, batch_size=512) -> np.ndarray:
        """Penultimate-layer features (n, d)."""
        images = self._check(images)
        return self.feature_model.predict(images, batch_size=batch_size, verbose=0)

    def predict(self, images, batch_size=512) -> np.ndarray:
        """Predicted class ids (n,)."""
        images = self._check(images)
        logits = self.model.predict(images, batch_size=batch_size, verbose=0)
        return np.argmax(logits, axis=-1)


def _build_classifier(image_shape, num_classes, seed):
    layers = keras.layers
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input(image_shape, name="image")
    x = layers.Conv2D(
        32, 3, padding="same", activation="relu", kernel_initializer=init
    )(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(
        64, 3, padding="same", activation="relu", kernel_initializer=init
    )(x)
    x = layers.MaxPooling2D()(x) if min(image_shape[:2]) >= 8 else x
    x = layers.Flatten()(x)
    x = layers.Dense(
        64, activation="relu", kernel_initializer=init, name=FEATURE_LAYER
    )(x)
    outputs = layers.Dense(num_classes, kernel_initializer=init, name="logits")(x)
    return keras.Model(inputs, outputs, name="feature_classifier")


_CACHE: dict[str, FeatureClassifier] = {}


def feature_classifier(
    images,
    labels,
    *,
    test_images=None,
    test_labels=None,
    epochs=20,
    seed=0,
    cache_dir=None,
) -> FeatureClassifier:
    """Trains (or returns the cached) classifier whose features FID/KID use.

    The cache key is a hash of the images, labels, epochs and seed: the same
    data gives the same classifier within a process, and across processes
    when `cache_dir` is given (a `.keras` file per key).

    Args:
        images: array (n, H, W, C) in [0, 1]. Real training images.
        labels: int array (n,). Their classes.
        test_images, test_labels: optional held-out images to report the
            classifier's accuracy (`test_accuracy`).
        epochs: int. Training epochs (Adam, batch 64).
        seed: int. Seed of initialization and shuffling.
        cache_dir: str or None. Folder for cached classifiers.

    Returns:
        FeatureClassifier.
    """
    images = np.asarray(images, "float32")
    labels = np.asarray(labels).astype("int32")
    if images.ndim != 4 or len(images) != len(labels):
        raise invalid(
            "images",
            f"array of shape {images.shape} with {len(labels)} labels",
            "(n, height, width, channels) with n labels",
        )
    epochs = check_int("epochs", epochs, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    digest = hashlib.sha256()
    for part in (images.tobytes(), labels.tobytes(), f"{epochs}:{seed}".encode()):
        digest.update(part)
    key = digest.hexdigest()[:16]
    if key in _CACHE:
        return _CACHE[key]
    num_classes = int(labels.max()) + 1
    path = (
        os.path.join(cache_dir, f"feature_classifier_{key}.keras")
        if cache_dir
        else None
    )
    if path and os.path.isfile(path):
        model = keras.saving.load_model(path)
    else:
        model = _build_classifier(images.shape[1:], num_classes, seed)
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        # One NumPy permutation per epoch, fed in order: Keras' own shuffle
        # follows the backend's global random state, which moves with
        # whatever ran before in the process, and so would the classifier,
        # the feature space and every FID measured in it.
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(len(images)) for _ in range(epochs)])
        model.fit(
            images[order],
            labels[order],
            epochs=1,
            batch_size=64,
            shuffle=False,
            verbose=0,
        )
        if path:
            os.makedirs(cache_dir, exist_ok=True)
            model.save(path)
    classifier = FeatureClassifier(model)
    if test_images is not None:
        predicted = classifier.predict(test_images)
        classifier.test_accuracy = float(np.mean(predicted == np.asarray(test_labels)))
        logger.info("Feature classifier test accuracy: %.4f", classifier.test_accuracy)
    _CACHE[key] = classifier
    return classifier


def fid(real_images, generated_images, classifier: FeatureClassifier) -> float:
    """Fréchet distance of generated vs real images in the classifier's features."""
    return frechet_distance(
        classifier.features(real_images), classifier.features(generated_images)
    )


def kid(real_images, generated_images, classifier: FeatureClassifier, **kwargs):
    """KID (mean, std) of generated vs real images in the classifier's features."""
    return kernel_distance(
        classifier.features(real_images),
        classifier.features(generated_images),
        **kwargs,
    )


def class_consistency(images, labels, classifier: FeatureClassifier) -> float:
    """Share of conditional samples that the classifier labels as requested."""
    labels = np.asarray(labels)
    predicted = classifier.predict(images)
    if len(predicted) != len(labels):
        raise invalid(
            "labels", f"{len(labels)} labels", f"{len(predicted)}, one per image"
        )
    return float(np.mean(predicted == labels))


# ------------------------------------------------------------ baselines
BASELINES = ("uniform", "gaussian")


def baseline_samples(images, n, kind="gaussian", seed=0) -> np.ndarray:
    """Samples of a trivial generator, the floor a model must beat.

    Args:
        images: array (m, H, W, C) in [0, 1]. Training images.
        n: int. Samples to draw.
        kind: str. "uniform" (independent U(0, 1) pixels) or "gaussian" (a
            multivariate normal with the images' mean and covariance,
            clipped to [0, 1]).
        seed: int. Seed of the draw.

    Returns:
        np.ndarray (n, H, W, C) of float32.
    """
    check_choice("kind", kind, BASELINES)
    n = check_int("n", n, minimum=0)
    images = np.asarray(images, "float32")
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, *images.shape[1:])).astype("float32")
    flat = images.reshape(len(images), -1).astype(np.float64)
    draws = rng.multivariate_normal(flat.mean(0), np.cov(flat, rowvar=False), size=n)
    return np.clip(draws, 0.0, 1.0).reshape(n, *images.shape[1:]).astype("float32")


# ------------------------------------------------------------ VAE likelihood
def vae_nats(vae, images, num_samples=64, seed=0) -> dict:
    """Test ELBO and importance-weighted NLL of a VAE, per image.

    Args:
        vae: kerasdl VAE (has `elbo` and `log_likelihood`).
        images: array (n, H, W, C) in [0, 1].
        num_samples: int. Importance samples for the NLL.
        seed: int. Seed of the z samples.

    Returns:
        dict with "elbo" (nats, higher is better), "nll" (nats, lower is
        better; at most -elbo up to sampling noise) and "bits_per_dim"
        (nll / (pixels * ln 2)).
    """
    images = np.asarray(images, "float32")
    elbo = float(np.mean(vae.elbo(images, seed=seed)))
    nll = -float(
        np.mean(vae.log_likelihood(images, num_samples=num_samples, seed=seed))
    )
    pixels = int(np.prod(images.shape[1:]))
    return {"elbo": elbo, "nll": nll, "bits_per_dim": nll / (pixels * math.log(2.0))}
