"""Time series for forecasting: real series, windows, splits, baselines, metrics.

The pieces, in the order a forecasting run uses them:

- `load_series("sunspots" | "co2")`: real series shipped with statsmodels
  (read offline): yearly sunspot numbers 1700-2008 and weekly Mauna Loa CO2
  1958-2001 (missing weeks linearly interpolated).
- `make_windows(series, lookback, horizon, stride)`: supervised pairs; x holds
  `lookback` past steps of every feature, y the next `horizon` steps of the
  target columns.
- `make_forecasting_data(...)`: splits the series in time order
  (train | val | test, no shuffling), standardizes with statistics fitted on
  the training part only, and windows each part. A validation or test window
  may look back into the part before it (that past is known at forecast
  time), but its targets all lie inside its own part.
- `naive_forecast`, `seasonal_naive_forecast`: the baselines every model has
  to beat; `mae`, `rmse`, `mape`: the usual errors.

Shapes: a series is (T,) or (T, F); x windows are (N, lookback, F); y windows
and forecasts are (N, horizon, K) with K target columns.

Example:
>>> series = load_series("sunspots")
>>> data = make_forecasting_data(series.values, lookback=24, horizon=3)
>>> naive = data.inverse_targets(naive_forecast(data.x_test, horizon=3))
>>> mae(data.inverse_targets(data.y_test), naive)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from kerasdl._checks import check_int, check_rate, closest

__all__ = [
    "ForecastingData",
    "Series",
    "Standardizer",
    "list_series",
    "load_series",
    "mae",
    "make_forecasting_data",
    "make_windows",
    "mape",
    "naive_forecast",
    "rmse",
    "seasonal_naive_forecast",
    "time_split",
]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- real series
@dataclasses.dataclass(frozen=True, eq=False)
class Series:
    """A real time series with its metadata.

    Attributes:
        name: str. Series name ("sunspots", "co2").
        values: np.ndarray. float32 values, shape (T,).
        time: np.ndarray. Time stamps, shape (T,): years (int) or datetime64.
        frequency: str. "yearly", "weekly", ...
        season: int. Length of the main seasonal cycle in steps (11 years for
            the solar cycle, 52 weeks for CO2); used by the seasonal-naive
            baseline.
        units: str. Units of the values.
        source: str. Where the data comes from.
    """

    name: str
    values: np.ndarray
    time: np.ndarray
    frequency: str
    season: int
    units: str
    source: str

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return (
            f"Series(name={self.name!r}, length={len(self)}, "
            f"frequency={self.frequency!r}, season={self.season})"
        )


def _load_sunspots() -> Series:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    return Series(
        name="sunspots",
        values=frame["SUNACTIVITY"].to_numpy(np.float32),
        time=frame["YEAR"].to_numpy().astype(np.int64),
        frequency="yearly",
        season=11,
        units="yearly mean sunspot number",
        source="statsmodels.datasets.sunspots (NOAA NGDC), 1700-2008",
    )


def _load_co2() -> Series:
    from statsmodels.datasets import co2

    column = co2.load_pandas().data["co2"]
    missing = int(column.isna().sum())
    # Gaps are single missing weeks between measurements; a straight line
    # between the neighbours is what the usual analyses (statsmodels' STL
    # examples) use.
    values = column.interpolate(method="linear", limit_direction="both")
    logger.debug("co2: interpolated %d missing weeks", missing)
    return Series(
        name="co2",
        values=values.to_numpy(np.float32),
        time=column.index.to_numpy(),
        frequency="weekly",
        season=52,
        units="ppm (CO2 mole fraction, Mauna Loa)",
        source=(
            "statsmodels.datasets.co2 (Keeling & Whorf, SIO), 1958-2001; "
            f"{missing} missing weeks linearly interpolated"
        ),
    )


_SERIES = {"sunspots": _load_sunspots, "co2": _load_co2}


def list_series() -> list[str]:
    """Names accepted by `load_series`."""
    return sorted(_SERIES)


def load_series(name: str) -> Series:
    """Loads a real time series that ships with an installed package (offline).

    Args:
        name: str. "sunspots" (309 yearly values, 1700-2008) or "co2" (2,284
            weekly values, 1958-2001, missing weeks interpolated).

    Returns:
        A `Series`.

    Raises:
        ValueError: for an unknown name.

    Example:
    >>> load_series("sunspots").values[:3]
    array([ 5., 11., 16.], dtype=float32)
    """
    if name not in _SERIES:
        raise ValueError(
            f"Unknown series {name!r}.{closest(name, _SERIES)} "
            f"Known: {', '.join(list_series())}."
        )
    return _SERIES[name]()


# ---------------------------------------------------------------- windows
def _as_2d(series, arg: str = "series") -> np.ndarray:
    array = np.asarray(series, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(
            f"Invalid {arg} of shape {np.shape(series)}: expected (timesteps,) or "
            "(timesteps, features) with at least one step."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"Invalid {arg}: it holds {int(np.sum(~np.isfinite(array)))} NaN or "
            "infinite values; fill them first (e.g. pandas interpolate)."
        )
    return array


def _check_targets(targets, num_features: int) -> list[int]:
    if targets is None:
        return list(range(num_features))
    values = [targets] if isinstance(targets, (int, np.integer)) else targets
    ok = (
        isinstance(values, (list, tuple))
        and len(values) > 0
        and all(
            isinstance(t, (int, np.integer))
            and not isinstance(t, bool)
            and -num_features <= t < num_features
            for t in values
        )
    )
    if not ok:
        raise ValueError(
            f"Invalid targets={targets!r}: expected None (every column), a column "
            f"index or a list of column indices in [0, {num_features})."
        )
    columns = [int(t) % num_features for t in values]
    if len(set(columns)) != len(columns):
        raise ValueError(f"Invalid targets={targets!r}: columns repeat.")
    return columns


def _window_starts(first: int, last: int, stride: int) -> np.ndarray:
    """Window starts in [first, last] (inclusive), every `stride` steps."""
    if last < first:
        return np.zeros((0,), dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def _gather(array: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    index = starts[:, None] + np.arange(length)[None, :]
    return array[index]  # (N, length, F)


def make_windows(series, lookback: int, horizon: int = 1, stride: int = 1,
                 targets=None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Cuts a series into (past window, future targets) pairs.

    Window i starts at step s = i * stride: x[i] = series[s : s + lookback]
    (every feature), y[i] = series[s + lookback : s + lookback + horizon]
    (the target columns).

    Args:
        series: array. Shape (T,) (univariate) or (T, F) (multivariate).
        lookback: int. Past steps each input holds.
        horizon: int. Future steps each target holds (multi-step forecast).
        stride: int. Steps between the starts of consecutive windows.
        targets: int, list of int or None. Columns to forecast; None means
            every column.

    Returns:
        (x, y): float32 arrays of shapes (N, lookback, F) and
        (N, horizon, K), K the number of target columns; N may be 0.

    Raises:
        ValueError: for non-positive sizes, bad columns or NaN values.

    Example:
    >>> x, y = make_windows(np.arange(6), lookback=3, horizon=2)
    >>> x[:, :, 0], y[:, :, 0]
    (array([[0., 1., 2.], [1., 2., 3.]]), array([[3., 4.], [4., 5.]]))
    """
    array = _as_2d(series)
    lookback = check_int("lookback", lookback, minimum=1)
    horizon = check_int("horizon", horizon, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    columns = _check_targets(targets, array.shape[1])
    starts = _window_starts(0, len(array) - lookback - horizon, stride)
    return _pairs(array, starts, lookback, horizon, columns)


def _pairs(array, starts, lookback, horizon, columns):
    x = _gather(array, starts, lookback).reshape(len(starts), lookback, array.shape[1])
    y = _gather(array[:, columns], starts + lookback, horizon).reshape(
        len(starts), horizon, len(columns)
    )
    return x.astype(np.float32), y.astype(np.float32)


def time_split(length: int, val_fraction: float = 0.15,
               test_fraction: float = 0.15) -> tuple[int, int]:  # fmt: skip
    """Boundaries of a time-ordered train | val | test split.

    Args:
        length: int. Number of steps of the series.
        val_fraction: float. Share of the steps in the validation part.
        test_fraction: float. Share of the steps in the test part (the end).

    Returns:
        (train_end, val_end): train is [0, train_end), validation
        [train_end, val_end), test [val_end, length).

    Example:
    >>> time_split(100, 0.1, 0.2)
    (70, 80)
    """
    length = check_int("length", length, minimum=1)
    check_rate("val_fraction", val_fraction)
    check_rate("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"Invalid val_fraction={val_fraction!r} with test_fraction="
            f"{test_fraction!r}: together they must leave steps for training "
            "(sum < 1)."
        )
    val_end = length - round(length * test_fraction)
    train_end = val_end - round(length * val_fraction)
    return train_end, val_end


# ---------------------------------------------------------------- scaling
@dataclasses.dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-feature standardization z = (v - mean) / std, fitted on train only.

    Attributes:
        mean: np.ndarray. Per-feature mean, shape (F,).
        std: np.ndarray. Per-feature standard deviation, shape (F,) (1 where
            a feature is constant).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values) -> Standardizer:
        """Fits mean and std on `values` of shape (T,) or (T, F)."""
        array = _as_2d(values, "values")
        std = array.std(axis=0)
        return cls(
            mean=array.mean(axis=0).astype(np.float32),
            std=np.where(std > 0, std, 1.0).astype(np.float32),
        )

    def transform(self, values, columns=None) -> np.ndarray:
        """Standardizes `values` whose last axis holds `columns` (all if None)."""
        mean, std = self._stats(columns)
        return ((np.asarray(values, np.float32) - mean) / std).astype(np.float32)

    def inverse_transform(self, values, columns=None) -> np.ndarray:
        """Maps standardized `values` (last axis = `columns`) back to units."""
        mean, std = self._stats(columns)
        return (np.asarray(values, np.float32) * std + mean).astype(np.float32)

    def _stats(self, columns):
        if columns is None:
            return self.mean, self.std
        return self.mean[list(columns)], self.std[list(columns)]

    def get_config(self) -> dict[str, list[float]]:
        """JSON-serializable statistics (for an export manifest)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


@dataclasses.dataclass(frozen=True, eq=False)
class ForecastingData:
    """Windowed train/val/test data of one series, in time order.

    Attributes:
        x_train, y_train, x_val, y_val, x_test, y_test: np.ndarray. Windows
            (N, lookback, F) and targets (N, horizon, K), standardized when
            `scaler` is not None.
        lookback: int. Input steps.
        horizon: int. Forecast steps.
        targets: list of int. Target columns of the series.
        train_end: int. First step after the training part.
        val_end: int. First step of the test part.
        scaler: Standardizer or None. Fitted on series[:train_end].
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    lookback: int
    horizon: int
    targets: list
    train_end: int
    val_end: int
    scaler: Standardizer | None = None

    def inverse_targets(self, y) -> np.ndarray:
        """Maps targets or forecasts (..., K) back to the series' units."""
        if self.scaler is None:
            return np.asarray(y, np.float32)
        return self.scaler.inverse_transform(y, columns=self.targets)

    def metadata(self) -> dict[str, Any]:
        """JSON-serializable description (for an export manifest)."""
        return {
            "layout": "TC",
            "lookback": self.lookback,
            "horizon": self.horizon,
            "targets": list(self.targets),
            "num_features": int(self.x_train.shape[-1]),
            "num_train": len(self.x_train),
            "num_val": len(self.x_val),
            "num_test": len(self.x_test),
            "standardization": None
            if self.scaler is None
            else self.scaler.get_config(),
        }

    def __repr__(self) -> str:
        return (
            f"ForecastingData(lookback={self.lookback}, horizon={self.horizon}, "
            f"train={len(self.x_train)}, val={len(self.x_val)}, "
            f"test={len(self.x_test)}, features={self.x_train.shape[-1]})"
        )


def make_forecasting_data(
    series,
    lookback: int,
    horizon: int = 1,
    stride: int = 1,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    targets=None,
    normalize: bool = True,
) -> ForecastingData:
    """Splits a series in time order, standardizes it and windows each part.

    The series is cut into train [0, train_end), validation
    [train_end, val_end) and test [val_end, T) (see `time_split`). Mean and
    std come from the training part only, so no statistic of the future leaks
    into training. A window belongs to the part that holds all of its target
    steps; its input may reach back into the previous part; windows whose
    targets straddle a boundary are dropped.

    Args:
        series: array or Series. Shape (T,) or (T, F).
        lookback: int. Input steps per window.
        horizon: int. Forecast steps per window.
        stride: int. Steps between consecutive window starts.
        val_fraction: float. Share of the steps used for validation.
        test_fraction: float. Share of the steps used for testing (the end).
        targets: int, list of int or None. Columns to forecast (None: all).
        normalize: bool. Standardize with train statistics.

    Returns:
        A `ForecastingData`.

    Raises:
        ValueError: for invalid sizes, or when the training part is too short
            to hold one window.

    Example:
    >>> data = make_forecasting_data(np.arange(100.0), lookback=8, horizon=2)
    >>> data.x_train.shape, data.train_end, data.val_end
    ((61, 8, 1), 70, 85)
    """
    if isinstance(series, Series):
        series = series.values
    array = _as_2d(series)
    lookback = check_int("lookback", lookback, minimum=1)
    horizon = check_int("horizon", horizon, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    if not isinstance(normalize, bool):
        raise ValueError(f"Invalid normalize={normalize!r}: expected a bool.")
    columns = _check_targets(targets, array.shape[1])
    train_end, val_end = time_split(len(array), val_fraction, test_fraction)
    if train_end < lookback + horizon:
        raise ValueError(
            f"The training part holds {train_end} steps, fewer than one window "
            f"(lookback={lookback} + horizon={horizon}); use a shorter window or "
            "smaller val_fraction/test_fraction."
        )
    scaler = Standardizer.fit(array[:train_end]) if normalize else None
    scaled = scaler.transform(array) if normalize else array

    # Targets start at s + lookback; each part keeps windows whose targets
    # [s + lookback, s + lookback + horizon) lie inside it.
    def part(begin, end):
        first = max(begin - lookback, 0)
        starts = _window_starts(first, end - lookback - horizon, stride)
        return _pairs(scaled, starts, lookback, horizon, columns)

    x_train, y_train = part(0, train_end)
    x_val, y_val = part(train_end, val_end)
    x_test, y_test = part(val_end, len(array))
    return ForecastingData(
        x_train, y_train, x_val, y_val, x_test, y_test,
        lookback, horizon, columns, train_end, val_end, scaler,
    )  # fmt: skip


# ---------------------------------------------------------------- baselines
def _check_windows(x) -> np.ndarray:
    array = np.asarray(x, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(
            f"Invalid x of shape {np.shape(x)}: expected windows of shape "
            "(N, lookback, features) as made by make_windows."
        )
    return array


def naive_forecast(x, horizon: int = 1, targets=None) -> np.ndarray:
    """Persistence baseline: every future step equals the last observed value.

    Args:
        x: array. Windows (N, lookback, F).
        horizon: int. Forecast steps.
        targets: int, list of int or None. Columns to forecast (None: all).

    Returns:
        float32 array (N, horizon, K).

    Example:
    >>> naive_forecast(np.array([[[1.0], [2.0], [5.0]]]), horizon=2)[0, :, 0]
    array([5., 5.], dtype=float32)
    """
    array = _check_windows(x)
    horizon = check_int("horizon", horizon, minimum=1)
    columns = _check_targets(targets, array.shape[-1])
    last = array[:, -1:, columns]  # (N, 1, K)
    return np.repeat(last, horizon, axis=1)


def seasonal_naive_forecast(x, horizon: int, season: int, targets=None) -> np.ndarray:
    """Seasonal persistence: step h repeats the value one season earlier.

    The forecast for step h (1-based) after the window is the window's value
    at h - season steps from its end, cycling through the last season when
    the horizon is longer than one season.

    Args:
        x: array. Windows (N, lookback, F) with lookback >= season.
        horizon: int. Forecast steps.
        season: int. Season length in steps (e.g. 52 for weekly data).
        targets: int, list of int or None. Columns to forecast (None: all).

    Returns:
        float32 array (N, horizon, K).

    Raises:
        ValueError: if the windows are shorter than one season.

    Example:
    >>> x = np.arange(6.0).reshape(1, 6, 1)  # values 0..5, season 4
    >>> seasonal_naive_forecast(x, horizon=5, season=4)[0, :, 0]
    array([2., 3., 4., 5., 2.], dtype=float32)
    """
    array = _check_windows(x)
    horizon = check_int("horizon", horizon, minimum=1)
    season = check_int("season", season, minimum=1)
    lookback = array.shape[1]
    if lookback < season:
        raise ValueError(
            f"Invalid season={season}: the windows hold lookback={lookback} steps, "
            "fewer than one season."
        )
    columns = _check_targets(targets, array.shape[-1])
    index = lookback - season + (np.arange(horizon) % season)
    return array[:, index][:, :, columns]


# ---------------------------------------------------------------- metrics
def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; received {true.shape} "
            f"and {pred.shape}."
        )
    if true.size == 0:
        raise ValueError("y_true and y_pred are empty; nothing to score.")
    return true, pred


def mae(y_true, y_pred) -> float:
    """Mean absolute error over every element.

    Example:
    >>> mae([1.0, 2.0, 4.0], [2.0, 2.0, 1.0])  # (1 + 0 + 3) / 3
    1.3333333333333333
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(true - pred)))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error over every element.

    Example:
    >>> rmse([1.0, 2.0, 4.0], [2.0, 2.0, 1.0])  # sqrt((1 + 0 + 9) / 3)
    1.8257418583505538
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error, in percent: 100 * mean(|e| / |y_true|).

    Raises:
        ValueError: if some true value is 0 (the percentage is undefined
            there; use mae or rmse for series that reach zero, such as
            sunspots).

    Example:
    >>> mape([100.0, 200.0], [110.0, 150.0])  # (10% + 25%) / 2
    17.5
    """
    true, pred = _pair(y_true, y_pred)
    zeros = int(np.sum(true == 0))
    if zeros:
        raise ValueError(
            f"mape is undefined: y_true holds {zeros} zero value(s); use mae or "
            "rmse for series that reach zero."
        )
    return float(100.0 * np.mean(np.abs(true - pred) / np.abs(true)))
