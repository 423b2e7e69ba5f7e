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
from kerasdl.models._hparams import Arg, builder_args, builder_sections
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
    builder's arguments: horizon, num_targets, head_dropout and weights.
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


# The forecasters' shared arguments: the window in, the forecast out.
_WINDOW = {
    "input_shape": Arg(
        (24, 1), "tuple. (lookback, features); lookback may be None (any length)."
    ),
    "horizon": Arg(1, "int. Number of future steps forecast at once."),
    "num_targets": Arg(1, "int. Number of series forecast per step."),
}
_HEAD = {
    "head_dropout": Arg(0.0, "float. Dropout before the output layer, in [0, 1)."),
    "weights": Arg(
        None, "str or None. Path of a local weights file to load; never downloaded."
    ),
}


@builder_args(
    _WINDOW,
    {
        "cell": Arg("lstm", 'str. Recurrent cell: "lstm", "gru" or "simple_rnn".'),
        "units": Arg(
            (64,), "int or list of int. Hidden size of each stacked recurrent layer."
        ),
        "dropout": Arg(
            0.0, "float. Dropout on each recurrent layer's inputs, in [0, 1)."
        ),
        "recurrent_dropout": Arg(
            0.0, "float. Dropout on the recurrent state, in [0, 1)."
        ),
    },
    _HEAD,
    sections=builder_sections("<cell>_forecaster"),
)
def rnn_forecaster(hparams):
    """Recurrent forecaster: stacked LSTM/GRU, last output -> horizon steps.

    Layers: input -> {cell}1 ... {cell}N (last returns its final output) ->
    [head_dropout] -> forecast_dense -> forecast (horizon, num_targets).

    Args:
        {args}

    Example:
    >>> model = rnn_forecaster(input_shape=(48, 3), horizon=6, num_targets=1)
    >>> model.output_shape
    (None, 6, 1)
    """
    cell = hparams["cell"]
    check_choice("cell", cell, tuple(KERAS_CELLS))
    units = check_recurrent_args(
        cell,
        hparams["units"],
        False,
        "concat",
        hparams["dropout"],
        hparams["recurrent_dropout"],
    )
    shape = _check_window_shape(hparams["input_shape"], fixed_length=False)
    inputs = keras.Input(shape=shape, name="input")
    x = recurrent_stack(
        inputs,
        cell=cell,
        units=units,
        dropout=hparams["dropout"],
        recurrent_dropout=hparams["recurrent_dropout"],
    )
    return _forecast_model(inputs, x, f"{cell}_forecaster", hparams)


@builder_args(
    _WINDOW,
    {
        "filters": Arg(
            (32, 32), "int or list of int. Filters of each causal convolution."
        ),
        "kernel_size": Arg(3, "int. Kernel size of every convolution."),
        "dilation_base": Arg(
            2, "int. Dilation of conv i is dilation_base**(i-1); 1 disables dilation."
        ),
        "activation": Arg(
            "relu", 'str. Activation after each convolution ("relu", "gelu", ...).'
        ),
        "pooling": Arg(
            "flatten",
            'str. How the feature sequence reaches the head: "flatten" (all '
            'steps), "avg" (mean over time) or "last" (the last, causal step).',
        ),
    },
    _HEAD,
    sections=builder_sections("cnn_forecaster"),
    input_shape=Arg(
        (24, 1),
        'tuple. (lookback, features); lookback must be fixed for pooling="flatten".',
    ),
)
def cnn_forecaster(hparams):
    """1-D convolutional forecaster: causal dilated convolutions (WaveNet/TCN).

    Conv i (named "conv{i}") is causal, so step t sees only steps <= t, with
    dilation dilation_base**(i-1): the receptive field grows exponentially
    with depth, 1 + (kernel_size - 1) * sum of dilations steps.

    Args:
        {args}

    Example:
    >>> model = cnn_forecaster(input_shape=(32, 2), horizon=4, filters=[16, 16])
    >>> model.output_shape
    (None, 4, 1)
    """
    filters = check_int_list("filters", hparams["filters"])
    kernel_size, dilation_base = hparams["kernel_size"], hparams["dilation_base"]
    activation, pooling = hparams["activation"], hparams["pooling"]
    check_int("kernel_size", kernel_size, minimum=1)
    check_int("dilation_base", dilation_base, minimum=1)
    check_activation(activation)
    check_choice("pooling", pooling, CNN_POOLINGS)
    shape = _check_window_shape(hparams["input_shape"], fixed_length=pooling != "avg")
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
    return _forecast_model(inputs, x, "cnn_forecaster", hparams, pooling)


@builder_args(
    _WINDOW,
    {
        "hidden_dim": Arg(
            32, "int. Width of each step's token (must be divisible by num_heads)."
        ),
        "num_layers": Arg(2, "int. Number of encoder blocks."),
        "num_heads": Arg(4, "int. Attention heads per block."),
        "intermediate_dim": Arg(
            64, "int. Hidden width of each block's feed-forward network."
        ),
        "dropout": Arg(
            0.1, "float. Dropout in the blocks (residual branches and attention)."
        ),
        "activation": Arg(
            "gelu", 'str. Feed-forward activation ("gelu", "relu", ...).'
        ),
        "pooling": Arg(
            "flatten",
            'str. How the token sequence reaches the head: "flatten", "avg" or "last".',
        ),
    },
    _HEAD,
    sections=builder_sections("transformer_forecaster"),
    input_shape=Arg(
        (24, 1),
        "tuple. (lookback, features); lookback must be fixed (it sizes the "
        "position table).",
    ),
)
def transformer_forecaster(hparams):
    """Transformer-encoder forecaster: steps as tokens, learned positions.

    Layers: input -> input_projection (Dense to hidden_dim per step) ->
    position_embedding (learned, kerasdl.layers.PositionEmbedding) ->
    encoder_block1..N (pre-norm TransformerEncoderBlock: self-attention over
    the window, feed-forward) -> final_norm -> [flatten | avg_pool | last step]
    -> forecast_dense -> forecast.

    Args:
        {args}

    Example:
    >>> model = transformer_forecaster(input_shape=(24, 1), horizon=3)
    >>> model.output_shape
    (None, 3, 1)
    """
    shape = _check_window_shape(hparams["input_shape"], fixed_length=True)
    num_layers = hparams["num_layers"]
    block_args = check_stack_args(
        num_layers,
        hparams["num_heads"],
        hparams["hidden_dim"],
        hparams["intermediate_dim"],
        hparams["dropout"],
        hparams["activation"],
    )
    pooling = hparams["pooling"]
    check_choice("pooling", pooling, CNN_POOLINGS)
    inputs = keras.Input(shape=shape, name="input")
    x = layers.Dense(hparams["hidden_dim"], name="input_projection")(inputs)
    x = PositionEmbedding(sequence_length=shape[0], name="position_embedding")(x)
    block_args["norm_first"] = True
    x = block_stack(x, num_layers, "encoder_block", block_args)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return _forecast_model(inputs, x, "transformer_forecaster", hparams, pooling)


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
