"""Windows, time-ordered splits, train-only scaling, baselines and metrics."""

import numpy as np
import pytest

from kerasdl.data.timeseries import (
    Series,
    Standardizer,
    list_series,
    load_series,
    mae,
    make_forecasting_data,
    make_windows,
    mape,
    naive_forecast,
    rmse,
    seasonal_naive_forecast,
    time_split,
)


# ---------------------------------------------------------------- windows
def test_univariate_windows_by_hand():
    x, y = make_windows(np.arange(6), lookback=3, horizon=2)
    np.testing.assert_array_equal(x[..., 0], [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(y[..., 0], [[3, 4], [4, 5]])
    assert x.shape == (2, 3, 1) and y.shape == (2, 2, 1)
    assert x.dtype == y.dtype == np.float32


def test_stride_skips_window_starts():
    x, y = make_windows(np.arange(10), lookback=3, horizon=1, stride=2)
    np.testing.assert_array_equal(x[:, 0, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(y[:, 0, 0], [3, 5, 7, 9])


def test_multivariate_windows_keep_all_features_and_chosen_targets():
    t = np.arange(8.0)
    series = np.stack([t, 10 * t, -t], axis=1)  # (8, 3)
    x, y = make_windows(series, lookback=4, horizon=2, targets=[1])
    assert x.shape == (3, 4, 3) and y.shape == (3, 2, 1)
    np.testing.assert_array_equal(x[1, :, 2], [-1, -2, -3, -4])
    np.testing.assert_array_equal(y[:, :, 0], [[40, 50], [50, 60], [60, 70]])
    _, y_all = make_windows(series, lookback=4, horizon=2)
    assert y_all.shape == (3, 2, 3)


def test_series_shorter_than_a_window_gives_no_windows():
    x, y = make_windows(np.arange(4), lookback=3, horizon=2)
    assert x.shape == (0, 3, 1) and y.shape == (0, 2, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lookback": 0}, "lookback"),
        ({"lookback": 3, "horizon": 0}, "horizon"),
        ({"lookback": 3, "stride": 1.5}, "stride"),
        ({"lookback": 3, "targets": [5]}, "targets"),
        ({"lookback": 3, "targets": [0, 0]}, "targets"),
    ],
)
def test_invalid_window_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_windows(np.arange(10.0), **kwargs)


def test_nan_in_series_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        make_windows(np.array([1.0, np.nan, 3.0, 4.0]), lookback=2)


# ---------------------------------------------------------------- splits
def test_time_split_boundaries():
    assert time_split(100, 0.1, 0.2) == (70, 80)
    assert time_split(309, 0.15, 0.15) == (217, 263)
    with pytest.raises(ValueError, match="val_fraction"):
        time_split(100, 0.5, 0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        time_split(100, 0.1, 1.2)


def test_forecasting_data_splits_in_time_order_without_straddling():
    series = np.arange(100.0)
    data = make_forecasting_data(series, lookback=8, horizon=2, normalize=False)
    assert (data.train_end, data.val_end) == (70, 85)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (61, 14, 14)
    # Every target lies inside its own part; inputs may look back before it.
    assert data.y_train.max() < 70
    assert data.y_val.min() >= 70 and data.y_val.max() < 85
    assert data.y_test.min() >= 85 and data.y_test.max() == 99
    assert data.x_val.min() == 62  # first val window looks back into train
    # Consecutive, in time order.
    np.testing.assert_array_equal(np.diff(data.x_test[:, 0, 0]), np.ones(13))


def test_normalisation_is_fitted_on_the_training_part_only():
    series = np.arange(100.0)
    series[70:] = 1e6  # a future that must not leak into the statistics
    data = make_forecasting_data(series, lookback=8, horizon=2)
    train = np.arange(70.0)
    np.testing.assert_allclose(data.scaler.mean, [train.mean()], rtol=1e-6)
    np.testing.assert_allclose(data.scaler.std, [train.std()], rtol=1e-6)
    np.testing.assert_allclose(
        data.x_train[0, :, 0], (np.arange(8) - 34.5) / train.std(), rtol=1e-5
    )
    np.testing.assert_allclose(data.inverse_targets(data.y_test), 1e6, rtol=1e-6)
    assert data.metadata()["standardization"]["mean"] == pytest.approx([34.5])


def test_multivariate_standardizer_inverts_target_columns():
    rng = np.random.default_rng(0)
    series = rng.standard_normal((60, 3)) * [1.0, 5.0, 100.0] + [0.0, 2.0, 50.0]
    data = make_forecasting_data(series, lookback=5, horizon=3, targets=[2])
    assert data.x_train.shape[1:] == (5, 3) and data.y_train.shape[1:] == (3, 1)
    raw = make_forecasting_data(
        series, lookback=5, horizon=3, targets=[2], normalize=False
    )
    np.testing.assert_allclose(
        data.inverse_targets(data.y_val), raw.y_val, rtol=1e-5, atol=1e-4
    )
    scaler = Standardizer.fit(series[: data.train_end])
    np.testing.assert_allclose(
        scaler.inverse_transform(scaler.transform(series)), series, atol=1e-3
    )


def test_too_short_training_part_is_refused():
    with pytest.raises(ValueError, match="lookback"):
        make_forecasting_data(np.arange(20.0), lookback=12, horizon=3)


# ---------------------------------------------------------------- baselines
def test_naive_forecast_repeats_the_last_value():
    x = np.array([[[1.0, 10.0], [2.0, 20.0], [5.0, 50.0]]])
    np.testing.assert_array_equal(naive_forecast(x, horizon=2)[0], [[5, 50], [5, 50]])
    np.testing.assert_array_equal(naive_forecast(x, 3, targets=1)[0, :, 0], [50] * 3)


def test_seasonal_naive_repeats_last_season():
    x = np.arange(6.0).reshape(1, 6, 1)  # season 4: last season is 2, 3, 4, 5
    np.testing.assert_array_equal(
        seasonal_naive_forecast(x, horizon=5, season=4)[0, :, 0], [2, 3, 4, 5, 2]
    )
    with pytest.raises(ValueError, match="season"):
        seasonal_naive_forecast(x, horizon=2, season=7)


def test_seasonal_naive_is_exact_on_a_periodic_series():
    period = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    x, y = make_windows(np.tile(period, 8), lookback=10, horizon=7)
    np.testing.assert_array_equal(seasonal_naive_forecast(x, 7, season=5), y)
    assert mae(y, naive_forecast(x, 7)) > 1.0


# ---------------------------------------------------------------- metrics
def test_metrics_by_hand():
    y, p = [1.0, 2.0, 4.0], [2.0, 2.0, 1.0]
    assert mae(y, p) == pytest.approx(4 / 3)
    assert rmse(y, p) == pytest.approx(np.sqrt(10 / 3))
    assert mape([100.0, 200.0], [110.0, 150.0]) == pytest.approx(17.5)
    assert mape([-50.0], [-25.0]) == pytest.approx(50.0)
    assert mae(np.ones((2, 3, 1)), np.ones((2, 3, 1))) == 0.0


def test_metric_errors():
    with pytest.raises(ValueError, match="zero"):
        mape([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        mae([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="empty"):
        rmse([], [])


# ---------------------------------------------------------------- real series
def test_sunspots_load_offline():
    series = load_series("sunspots")
    assert isinstance(series, Series) and list_series() == ["co2", "sunspots"]
    assert len(series) == 309 and series.season == 11
    np.testing.assert_array_equal(series.values[:3], [5.0, 11.0, 16.0])
    assert series.time[0] == 1700 and series.time[-1] == 2008


def test_co2_loads_offline_with_gaps_interpolated():
    from statsmodels.datasets import co2

    raw = co2.load_pandas().data["co2"].to_numpy()
    series = load_series("co2")
    assert len(series) == 2284 and series.frequency == "weekly"
    assert np.isnan(raw).sum() == 59 and np.all(np.isfinite(series.values))
    kept = ~np.isnan(raw)
    np.testing.assert_allclose(series.values[kept], raw[kept], rtol=1e-6)
    gap = int(np.flatnonzero(np.isnan(raw))[0])  # a single missing week
    assert not np.isnan(raw[gap - 1]) and not np.isnan(raw[gap + 1])
    assert series.values[gap] == pytest.approx((raw[gap - 1] + raw[gap + 1]) / 2)


def test_unknown_series_is_named():
    with pytest.raises(ValueError, match="sunspot"):
        load_series("sunspot")
