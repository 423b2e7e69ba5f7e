"""Learning tests of the recurrent models, trained through kerasdl's Trainer.

- GRU on MNIST-1D reaches the published GRU accuracy, 91% (Greydanus &
  Kobak, MNIST-1D).
- The LSTM forecaster beats the naive (persistence) baseline on a real
  series: yearly sunspot numbers (statsmodels), 3 years ahead from the last
  12, errors in sunspot units on the last 15% of the years (1963-2008).

Marked slow (under a minute each on 2 free cores): scripts/test.sh runs them
once, on TensorFlow.
"""

import pytest

import kerasdl.data
from kerasdl.data.timeseries import (
    load_series,
    mae,
    make_forecasting_data,
    naive_forecast,
    seasonal_naive_forecast,
)
from kerasdl.training import Trainer


@pytest.mark.slow
def test_gru_reaches_published_mnist1d_accuracy():
    data = kerasdl.data.load("mnist1d")
    epochs = 20
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 64,
            "verbose": 0,
            "optimizer": {
                "name": "adamw",
                "weight_decay": 1e-4,
                "clipnorm": 1.0,
                "learning_rate": {
                    "name": "cosine",
                    "learning_rate": 0.005,
                    "decay_steps": epochs * 63,  # 4,000 samples / 64
                },
            },
        }
    )
    spec = {"model": "gru_classifier", "input_shape": [40, 1], "units": 64}
    trainer.fit(spec, data.x_train, data.y_train)
    scores = trainer.model.evaluate(
        data.x_test, data.y_test, verbose=0, return_dict=True
    )
    assert scores["accuracy"] >= 0.91


@pytest.mark.slow
def test_lstm_forecaster_beats_naive_baseline_on_sunspots():
    lookback, horizon = 12, 3
    data = make_forecasting_data(
        load_series("sunspots"), lookback=lookback, horizon=horizon
    )
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": 300,
            "batch_size": 32,
            "verbose": 0,
            "loss": "mse",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            # 44 validation windows (1917-1962) pick the epoch.
            "callbacks": {"early_stopping": {"patience": 30}},
        }
    )
    spec = {
        "model": "lstm_forecaster",
        "input_shape": [lookback, 1],
        "horizon": horizon,
        "units": 32,
    }
    trainer.fit(
        spec, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val)
    )
    truth = data.inverse_targets(data.y_test)
    lstm = mae(
        truth, data.inverse_targets(trainer.model.predict(data.x_test, verbose=0))
    )
    naive = mae(truth, data.inverse_targets(naive_forecast(data.x_test, horizon)))
    seasonal = mae(
        truth, data.inverse_targets(seasonal_naive_forecast(data.x_test, horizon, 11))
    )
    # Measured (TensorFlow, seed 0): LSTM 16.1, naive 42.9, seasonal naive
    # (11-year cycle) 26.6 sunspots per year.
    assert lstm < 0.75 * naive, (lstm, naive, seasonal)
