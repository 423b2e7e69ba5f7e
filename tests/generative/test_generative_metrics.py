"""kerasdl.generative.metrics on cases with known answers."""

import numpy as np
import pytest

from kerasdl.generative import metrics


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(
        (np.sqrt(var_a) - np.sqrt(var_b)) ** 2
    )
    got = metrics.frechet_distance_from_stats(
        mu_a, np.diag(var_a), mu_b, np.diag(var_b)
    )
    assert got == pytest.approx(expected, rel=1e-9)  # 5 + 1 + 0 + 4 = 10


def test_frechet_distance_of_samples():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 4))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    b = rng.standard_normal((20000, 4)) + shift
    # Same covariance, shifted mean: FD = |shift|^2 = 5.25.
    assert metrics.frechet_distance(a, b) == pytest.approx(5.25, abs=0.05)
    # Scaled covariance 4 I: each dimension adds (1 - 2)^2.
    c = 2.0 * rng.standard_normal((20000, 4))
    assert metrics.frechet_distance(a, c) == pytest.approx(4.0, abs=0.1)
    with pytest.raises(ValueError, match="features_a"):
        metrics.frechet_distance(np.ones(5), a)


def test_kernel_distance_zero_for_one_distribution_and_grows_with_shift():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1000, 8))
    same = metrics.kernel_distance(a[:500], a[500:], num_subsets=5, subset_size=400)[0]
    near = metrics.kernel_distance(a, a + 0.3, num_subsets=5)[0]
    far = metrics.kernel_distance(a, a + 1.0, num_subsets=5)[0]
    assert abs(same) < 0.02 and 0.02 < near < far


def test_kernel_distance_matches_a_direct_computation():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 1.0

    def k(u, v):
        return (u @ v / 3 + 1.0) ** 3

    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (
        m * (m - 1)
    )
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (
        m * (m - 1)
    )
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    got, std = metrics.kernel_distance(x, y, num_subsets=1, subset_size=6)
    assert got == pytest.approx(xx + yy - 2 * xy, rel=1e-9) and std == 0.0


def test_baselines():
    rng = np.random.default_rng(3)
    images = rng.random((200, 4, 4, 1)).astype("float32") * 0.5
    uniform = metrics.baseline_samples(images, 50, "uniform", seed=0)
    assert uniform.shape == (50, 4, 4, 1) and uniform.min() >= 0 and uniform.max() <= 1
    gauss = metrics.baseline_samples(images, 4000, "gaussian", seed=0)
    np.testing.assert_allclose(gauss.mean(0), images.mean(0), atol=0.03)
    with pytest.raises(ValueError, match="kind='normal'"):
        metrics.baseline_samples(images, 5, "normal")


def test_feature_classifier_fid_and_class_consistency():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target
    clf = metrics.feature_classifier(
        x[:1400], y[:1400], test_images=x[1400:], test_labels=y[1400:], epochs=8
    )
    assert clf.test_accuracy > 0.9
    assert metrics.feature_classifier(x[:1400], y[:1400], epochs=8) is clf  # cached
    real, other = x[1400:1600], x[1600:]
    noise = metrics.baseline_samples(x[:1400], 200, "uniform")
    assert metrics.fid(real, other, clf) < metrics.fid(real, noise, clf)
    assert metrics.kid(real, other, clf)[0] < metrics.kid(real, noise, clf)[0]
    assert metrics.class_consistency(x[1400:], y[1400:], clf) == clf.test_accuracy
    assert metrics.class_consistency(x[1400:], (y[1400:] + 1) % 10, clf) < 0.1
    with pytest.raises(ValueError, match=r"shape \(n, 8, 8, 1\)"):
        clf.features(np.zeros((2, 16, 16, 1)))
