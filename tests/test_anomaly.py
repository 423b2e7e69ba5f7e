"""kerasdl.anomaly: metrics against hand-computed cases, thresholds, scores."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import anomaly


def test_roc_auc_and_average_precision_by_hand():
    labels = [0, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8]
    # Anomaly/normal pairs ordered correctly: (0.35 > 0.1), (0.8 > 0.1),
    # (0.8 > 0.4); wrong: (0.35 < 0.4) -> 3 / 4.
    assert anomaly.roc_auc(labels, scores) == 0.75
    # Ranked: 0.8 (a) P=1 R=.5; 0.4 (n); 0.35 (a) P=2/3 R=1; 0.1 (n).
    # AP = 0.5 * 1 + 0.5 * 2/3.
    assert anomaly.average_precision(labels, scores) == pytest.approx(5 / 6)
    # Ties count one half.
    assert anomaly.roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert anomaly.roc_auc([1, 0, 1], [3.0, 1.0, 2.0]) == 1.0


def test_metrics_match_scikit_learn_with_ties():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.standard_normal(300) + labels, 1)  # many ties
    assert anomaly.roc_auc(labels, scores) == pytest.approx(
        roc_auc_score(labels, scores)
    )
    assert anomaly.average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores)
    )


def test_thresholds():
    scores = np.arange(100, dtype=float)
    assert anomaly.choose_threshold(scores, percentile=90) == pytest.approx(89.1)
    labels = (scores >= 80).astype(int)
    labels[5] = 1  # one anomaly hidden among low scores
    cut = anomaly.choose_threshold(scores, labels, method="f1")
    assert 79 <= cut < 80
    assert anomaly.precision_recall_f1(labels, scores > cut) == pytest.approx(
        {"precision": 1.0, "recall": 20 / 21, "f1": 40 / 41}
    )
    with pytest.raises(ValueError, match="labels=None"):
        anomaly.choose_threshold(scores, method="f1")
    with pytest.raises(ValueError, match="method='best'"):
        anomaly.choose_threshold(scores, method="best")
    with pytest.raises(ValueError, match="percentile=100"):
        anomaly.choose_threshold(scores, percentile=100)
    with pytest.raises(ValueError, match=r"labels=\[0, 2\]"):
        anomaly.roc_auc([0, 2], [0.1, 0.2])


def test_detector_flags_what_the_autoencoder_cannot_reconstruct():
    rng = np.random.default_rng(0)
    # Normal: a bright left half; anomalies: a bright right half.
    normal = np.zeros((64, 4, 4, 1), "float32")
    normal[:, :, :2] = 1.0
    normal += 0.05 * rng.standard_normal(normal.shape).astype("float32")
    odd = normal[:8, :, ::-1].copy()
    ae = kerasdl.build(
        "autoencoder", image_shape=(4, 4, 1), latent_dim=2, hidden_units=[8],
        reconstruction_loss="mse",
    )  # fmt: skip
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    ae.fit(normal[:48], epochs=40, batch_size=16, verbose=0)
    detector = anomaly.Detector.fit(ae, normal[48:], percentile=99)
    x = np.concatenate([normal[48:], odd])
    labels = np.r_[np.zeros(16), np.ones(8)].astype(int)
    report = detector.evaluate(x, labels)
    assert report["auroc"] == 1.0 and report["recall"] == 1.0
    np.testing.assert_array_equal(detector.predict(odd), 1)
    with pytest.raises(ValueError, match="method='elbo'"):
        anomaly.anomaly_scores(ae, x, method="elbo")


def test_vae_negative_elbo_scores():
    vae = kerasdl.build("vae", image_shape=(4, 4, 1), latent_dim=2, hidden_units=[8])
    x = np.random.default_rng(1).random((5, 4, 4, 1)).astype("float32")
    np.testing.assert_allclose(
        anomaly.anomaly_scores(vae, x, method="elbo"), -vae.elbo(x), rtol=1e-6
    )


def test_injected_series_anomalies_and_windows():
    t = np.arange(400, dtype=float)
    series = np.sin(t / 10.0) + 0.01 * t
    values, labels = anomaly.inject_anomalies(series, count=6, magnitude=5.0, width=3)
    changed = np.abs(values - series) > 1e-6
    np.testing.assert_array_equal(changed, labels.astype(bool))
    assert 6 <= labels.sum() <= 6 * 3
    windows, window_labels = anomaly.series_windows(values, labels, window=10, stride=2)
    assert windows.shape == (196, 9)
    assert window_labels.sum() > 0 and window_labels.dtype == np.int32
    with pytest.raises(ValueError, match="count=500"):
        anomaly.inject_anomalies(series, count=500)


def test_statsmodels_series_with_injected_anomalies():
    from kerasdl.data.timeseries import load_series

    series = load_series("co2").values
    values, labels = anomaly.inject_anomalies(series, count=20, magnitude=6.0, seed=0)
    windows, window_labels = anomaly.series_windows(values, labels, 26, stride=2)
    half = len(windows) // 2
    train = windows[:half][window_labels[:half] == 0].reshape(-1, 1, 25, 1)
    ae = kerasdl.build(
        "autoencoder", image_shape=(1, 25, 1), latent_dim=4, hidden_units=[32],
        reconstruction_loss="mse", output_activation="linear",
    )  # fmt: skip
    ae.compile(optimizer=keras.optimizers.Adam(2e-3))
    ae.fit(train, epochs=10, batch_size=32, verbose=0)
    scores = anomaly.anomaly_scores(ae, windows[half:].reshape(-1, 1, 25, 1))
    auroc = anomaly.roc_auc(window_labels[half:], scores)
    assert auroc >= 0.9, auroc
