"""Tests of the time-series forecasters (kerasdl/models/forecasting.py)."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.forecasting import (
    cnn_forecaster,
    rnn_forecaster,
    transformer_forecaster,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _names(model):
    return [layer.name for layer in model.layers]


X = np.random.default_rng(0).standard_normal((2, 8, 3)).astype("float32")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("lstm_forecaster", {"units": 4}),
        ("gru_forecaster", {"units": 4}),
        ("cnn_forecaster", {"filters": [4, 4]}),
        ("transformer_forecaster", {"hidden_dim": 8, "num_heads": 2,
                                    "intermediate_dim": 8, "num_layers": 1}),
    ],
)  # fmt: skip
def test_multivariate_multistep_forecast_shape(name, kwargs):
    model = kerasdl.build(name, input_shape=(8, 3), horizon=4, num_targets=2, **kwargs)
    assert model.output_shape == (None, 4, 2)
    assert _names(model)[-2:] == ["forecast_dense", "forecast"]
    out = _np(model(X))
    assert out.shape == (2, 4, 2) and np.all(np.isfinite(out))


def test_lstm_forecaster_layers_and_param_count():
    model = rnn_forecaster(input_shape=(None, 3), horizon=5, num_targets=2, units=[8])
    assert _names(model) == ["input", "lstm1", "forecast_dense", "forecast"]
    assert model.count_params() == 4 * (3 * 8 + 8 * 8 + 8) + 8 * 10 + 10
    # Any lookback: the recurrent forecaster is not tied to the window length.
    assert _np(model(np.ones((1, 13, 3), "float32"))).shape == (1, 5, 2)


def test_cnn_forecaster_is_causal_with_the_stated_receptive_field():
    # kernel 3, dilations 1, 2, 4: field = 1 + 2 * (1 + 2 + 4) = 15 steps.
    model = cnn_forecaster(
        input_shape=(20, 1), filters=[4, 4, 4], kernel_size=3, dilation_base=2
    )
    assert [model.get_layer(f"conv{i}").dilation_rate for i in (1, 2, 3)] == [
        (1,),
        (2,),
        (4,),
    ]
    features = keras.Model(model.input, model.get_layer("conv3_act").output)
    x = np.random.default_rng(1).standard_normal((1, 20, 1)).astype("float32")
    bumped = x.copy()
    bumped[0, 2, 0] += 10.0  # a change at step 2
    diff = np.abs(_np(features(bumped)) - _np(features(x))).max(axis=-1)[0]
    assert np.all(diff[:2] == 0)  # the past does not see the future
    assert np.all(diff[17:] == 0)  # beyond the receptive field: 2 + 15 = 17
    assert diff[2] > 0 and diff[16] > 0


def test_cnn_last_pooling_reads_the_final_step_only():
    model = cnn_forecaster(input_shape=(6, 2), filters=[3], pooling="last")
    assert "last_step" in _names(model)
    assert model.get_layer("forecast_dense").kernel.shape == (3, 1)


def test_transformer_forecaster_reuses_kerasdl_blocks():
    model = transformer_forecaster(
        input_shape=(8, 3),
        hidden_dim=8,
        num_heads=2,
        intermediate_dim=16,
        num_layers=2,
        horizon=2,
    )
    names = _names(model)
    assert names[:3] == ["input", "input_projection", "position_embedding"]
    assert "encoder_block1" in names and "encoder_block2" in names
    assert model.get_layer("position_embedding").embeddings.shape == (8, 8)
    # Positions matter: attention alone is permutation-equivariant, the
    # position table is what makes step order visible to the flatten head.
    reversed_x = X[:, ::-1]
    assert not np.allclose(_np(model(X)), _np(model(reversed_x)))


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (rnn_forecaster, {"cell": "basic_lstm"}, "cell"),
        (rnn_forecaster, {"horizon": 0}, "horizon"),
        (rnn_forecaster, {"input_shape": (8,)}, "input_shape"),
        (cnn_forecaster, {"input_shape": (None, 2)}, "fixed lookback"),
        (cnn_forecaster, {"pooling": "max"}, "pooling"),
        (transformer_forecaster, {"input_shape": (None, 1)}, "fixed lookback"),
        (transformer_forecaster, {"hidden_dim": 10, "num_heads": 4}, "divisible"),
        (transformer_forecaster, {"num_targets": 0}, "num_targets"),
    ],
)
def test_invalid_hyperparameters_are_named(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)
