"""Time-series forecasters: LSTM, GRU, 1-D CNN and a small Transformer.

Every forecaster maps a window of `lookback` past steps of F features,
shape (lookback, F), to the next `horizon` steps of `num_targets` target
series, shape (horizon, num_targets): a direct multi-step forecast, all
steps at once from one Dense layer "forecast_dense" reshaped by "forecast".
Feed them the windows of `kerasdl.data.timeseries.make_forecasting_data`
and train with mean squared (or absolute) error.

Example:
>>> data = make_forecasting_data(load_series("sunspots"), lookback=24, horizon=3)
>>> model = kerasdl.build("lstm_forecaster", input_shape=(24, 1), horizon=3)
>>> model.output_shape
(None, 3, 1)
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl.layers.position import PositionEmbedding
from kerasdl.layers.transformer import block_stack, check_stack_args
from kerasdl.models._common import (
    activation_layer,
    check_activation,
    check_choice,
    check_input_shape,
    check_int,
    check_int_list,
)
from kerasdl.models.heads import dense_head, finish_model, pool
from kerasdl.models.rnn import KERAS_CELLS, check_recurrent_args, recurrent_stack
from kerasdl.registry import register_model

__all__ = ["cnn_forecaster", "rnn_forecaster", "transformer_forecaster"]

CNN_POOLINGS = ("flatten", "avg", "last")


def _check_window_shape(input_shape, fixed_length: bool):
    shape = check_input_shape(input_shape, rank=2)
    if shape[-1] is None:
        raise ValueError(
            f"Invalid input_shape={tuple(input_shape)!r}: the number of features "
            "(last entry) must be known."
        )
    if fixed_length and shape[0] is None:
        raise ValueError(
            f"Invalid input_shape={tuple(input_shape)!r}: this forecaster needs a "
            "fixed lookback (first entry), not None."
        )
    return shape


def _forecast_model(inputs, x, name, hparams, pooling=None):
    """Summarizes `x` by `pooling`, then the shared dense head reshaped.

    The head is Dense(horizon * num_targets) "forecast_dense" reshaped to
    (horizon, num_targets) by "forecast". `hparams` are the calling
    builder's arguments (its `locals()`): horizon, num_targets,
    head_dropout and weights.
    """
    horizon = check_int("horizon", hparams["horizon"], minimum=1)
    num_targets = check_int("num_targets", hparams["num_targets"], minimum=1)
    x = _last_step(x) if pooling == "last" else pool(x, pooling)
    x = dense_head(
        x, horizon * num_targets, dropout=hparams["head_dropout"], name="forecast_dense"
    )
    outputs = layers.Reshape((horizon, num_targets), name="forecast")(x)
    return finish_model(inputs, outputs, name, hparams["weights"])


def _last_step(x):
    """(batch, T, C) -> (batch, C): the last step, with layers only."""
    length = x.shape[1]
    if length > 1:
        x = layers.Cropping1D((length - 1, 0), name="last_step_crop")(x)
    return layers.Flatten(name="last_step")(x)


def rnn_forecaster(
    input_shape=(24, 1),
    horizon=1,
    num_targets=1,
    cell="lstm",
    units=(64,),
    dropout=0.0,
    recurrent_dropout=0.0,
    head_dropout=0.0,
    weights=None,
):
    """Recurrent forecaster: stacked LSTM/GRU, last output -> horizon steps.

    Layers: input -> {cell}1 ... {cell}N (last returns its final output) ->
    [head_dropout] -> forecast_dense -> forecast (horizon, num_targets).

    Args:
        input_shape: tuple. (lookback, features); lookback may be None (any length).
        horizon: int. Number of future steps forecast at once.
        num_targets: int. Number of series forecast per step.
        cell: str. Recurrent cell: "lstm", "gru" or "simple_rnn".
        units: int or list of int. Hidden size of each stacked recurrent layer.
        dropout: float. Dropout on each recurrent layer's inputs, in [0, 1).
        recurrent_dropout: float. Dropout on the recurrent state, in [0, 1).
        head_dropout: float. Dropout before the output layer, in [0, 1).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Returns:
        A functional `keras.Model` named "<cell>_forecaster".

    Raises:
        ValueError: if a hyperparameter is invalid.

    Example:
    >>> model = rnn_forecaster(input_shape=(48, 3), horizon=6, num_targets=1)
    >>> model.output_shape
    (None, 6, 1)
    """
    check_choice("cell", cell, tuple(KERAS_CELLS))
    units = check_recurrent_args(
        cell, units, False, "concat", dropout, recurrent_dropout
    )
    shape = _check_window_shape(input_shape, fixed_length=False)
    inputs = keras.Input(shape=shape, name="input")
    x = recurrent_stack(
        inputs,
        cell=cell,
        units=units,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
    )
    return _forecast_model(inputs, x, f"{cell}_forecaster", locals())


def cnn_forecaster(
    input_shape=(24, 1),
    horizon=1,
    num_targets=1,
    filters=(32, 32),
    kernel_size=3,
    dilation_base=2,
    activation="relu",
    pooling="flatten",
    head_dropout=0.0,
    weights=None,
):
    """1-D convolutional forecaster: causal dilated convolutions (WaveNet/TCN).

    Conv i (named "conv{i}") is causal, so step t sees only steps <= t, with
    dilation dilation_base**(i-1): the receptive field grows exponentially
    with depth, 1 + (kernel_size - 1) * sum of dilations steps.

    Args:
        input_shape: tuple. (lookback, features); lookback must be fixed for
            pooling="flatten".
        horizon: int. Number of future steps forecast at once.
        num_targets: int. Number of series forecast per step.
        filters: int or list of int. Filters of each causal convolution.
        kernel_size: int. Kernel size of every convolution.
        dilation_base: int. Dilation of conv i is dilation_base**(i-1); 1 disables
            dilation.
        activation: str. Activation after each convolution ("relu", "gelu", ...).
        pooling: str. How the feature sequence reaches the head: "flatten" (all steps),
            "avg" (mean over time) or "last" (the last, causal step).
        head_dropout: float. Dropout before the output layer, in [0, 1).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Returns:
        A functional `keras.Model` named "cnn_forecaster".

    Raises:
        ValueError: if a hyperparameter is invalid.

    Example:
    >>> model = cnn_forecaster(input_shape=(32, 2), horizon=4, filters=[16, 16])
    >>> model.output_shape
    (None, 4, 1)
    """
    filters = check_int_list("filters", filters)
    check_int("kernel_size", kernel_size, minimum=1)
    check_int("dilation_base", dilation_base, minimum=1)
    check_activation(activation)
    check_choice("pooling", pooling, CNN_POOLINGS)
    shape = _check_window_shape(input_shape, fixed_length=pooling != "avg")
    inputs = keras.Input(shape=shape, name="input")
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = layers.Conv1D(
            width,
            kernel_size,
            padding="causal",
            dilation_rate=dilation_base ** (i - 1),
            name=f"conv{i}",
        )(x)
        x = activation_layer(activation, name=f"conv{i}_act")(x)
    return _forecast_model(inputs, x, "cnn_forecaster", locals(), pooling)


def transformer_forecaster(
    input_shape=(24, 1),
    horizon=1,
    num_targets=1,
    hidden_dim=32,
    num_layers=2,
    num_heads=4,
    intermediate_dim=64,
    dropout=0.1,
    activation="gelu",
    pooling="flatten",
    head_dropout=0.0,
    weights=None,
):
    """Transformer-encoder forecaster: steps as tokens, learned positions.

    Layers: input -> input_projection (Dense to hidden_dim per step) ->
    position_embedding (learned, kerasdl.layers.PositionEmbedding) ->
    encoder_block1..N (pre-norm TransformerEncoderBlock: self-attention over
    the window, feed-forward) -> final_norm -> [flatten | avg_pool | last step]
    -> forecast_dense -> forecast.

    Args:
        input_shape: tuple. (lookback, features); lookback must be fixed (it sizes
            the position table).
        horizon: int. Number of future steps forecast at once.
        num_targets: int. Number of series forecast per step.
        hidden_dim: int. Width of each step's token (must be divisible by num_heads).
        num_layers: int. Number of encoder blocks.
        num_heads: int. Attention heads per block.
        intermediate_dim: int. Hidden width of each block's feed-forward network.
        dropout: float. Dropout in the blocks (residual branches and attention).
        activation: str. Feed-forward activation ("gelu", "relu", ...).
        pooling: str. How the token sequence reaches the head: "flatten", "avg" or
            "last".
        head_dropout: float. Dropout before the output layer, in [0, 1).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Returns:
        A functional `keras.Model` named "transformer_forecaster".

    Raises:
        ValueError: if a hyperparameter is invalid.

    Example:
    >>> model = transformer_forecaster(input_shape=(24, 1), horizon=3)
    >>> model.output_shape
    (None, 3, 1)
    """
    shape = _check_window_shape(input_shape, fixed_length=True)
    block_args = check_stack_args(
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout, activation
    )
    check_choice("pooling", pooling, CNN_POOLINGS)
    inputs = keras.Input(shape=shape, name="input")
    x = layers.Dense(hidden_dim, name="input_projection")(inputs)
    x = PositionEmbedding(sequence_length=shape[0], name="position_embedding")(x)
    block_args["norm_first"] = True
    x = block_stack(x, num_layers, "encoder_block", block_args)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return _forecast_model(inputs, x, "transformer_forecaster", locals(), pooling)


_TINY = {"input_shape": (6, 2), "horizon": 3, "num_targets": 2}
# name -> (builder, presets, description or None for the docstring's, tiny)
_FORECASTERS = {
    "lstm_forecaster": (rnn_forecaster, {"cell": "lstm"},
                        "LSTM multi-step time-series forecaster.", {"units": 4}),
    "gru_forecaster": (rnn_forecaster, {"cell": "gru"},
                       "GRU multi-step time-series forecaster.", {"units": 4}),
    "cnn_forecaster": (cnn_forecaster, {}, None,
                       {"filters": [4, 4], "pooling": "last"}),
    "transformer_forecaster": (transformer_forecaster, {}, None,
                               {"hidden_dim": 8, "num_layers": 1, "num_heads": 2,
                                "intermediate_dim": 8, "dropout": 0.0}),
}  # fmt: skip
for _name, (_builder, _presets, _description, _tiny) in _FORECASTERS.items():
    register_model(
        _name,
        _builder,
        family="forecasting",
        task="forecasting",
        description=_description,
        presets=_presets,
        tiny={**_TINY, **_tiny},
    )
