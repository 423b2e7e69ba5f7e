"""Recurrent networks: SimpleRNN, LSTM and GRU classifiers, regressors, taggers.

Three builders share one recurrent body (`_sequence_input` then
`_recurrent_stack`) and differ only in their head:

- `rnn_classifier`: one label per sequence (the last state, or the states
  pooled over time, into a softmax classifier);
- `rnn_regressor`: real-valued outputs per sequence;
- `rnn_tagger`: one label per time step (every layer returns sequences).

The body takes either float features of shape (timesteps, features) or token
ids of shape (timesteps,) with `vocab_size` set (an Embedding front end),
stacks one recurrent layer per entry of `units`, optionally bidirectional,
with Keras' input and recurrent dropout. `cell` picks Keras' fused layers
("simple_rnn", "lstm", "gru") or kerasdl's teaching cells with explicit gates
("basic_rnn", "basic_lstm", "basic_gru", kerasdl.layers.rnn_cells) inside
`keras.layers.RNN`; both compute the same function from the same weights.

Example:
>>> model = kerasdl.build("lstm_classifier", input_shape=(40, 1), num_classes=10)
>>> model = kerasdl.build("bilstm_tagger", vocab_size=5000, num_classes=17,
...                       input_shape=(None,), mask_zero=True)
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl.layers.rnn_cells import BasicGRUCell, BasicLSTMCell, BasicRNNCell
from kerasdl.models._common import (
    check_activation_or_softmax,
    check_bool,
    check_choice,
    check_input_shape,
    check_int,
    check_int_list,
    check_rate,
)
from kerasdl.models._hparams import BUILDER_RAISES, Arg, builder_args
from kerasdl.models.heads import dense_head, finish_model, pool
from kerasdl.registry import register_model

__all__ = ["rnn_classifier", "rnn_regressor", "rnn_tagger"]

# cell name -> Keras recurrent layer class (fused, cuDNN-capable).
KERAS_CELLS = {
    "simple_rnn": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
}
# cell name -> kerasdl teaching cell, run by keras.layers.RNN.
BASIC_CELLS = {
    "basic_rnn": BasicRNNCell,
    "basic_lstm": BasicLSTMCell,
    "basic_gru": BasicGRUCell,
}
CELLS = tuple(KERAS_CELLS) + tuple(BASIC_CELLS)
MERGE_MODES = ("concat", "sum", "mul", "ave")
POOLINGS = ("last", "avg", "max")


# ---------------------------------------------------------------- shared body
def check_recurrent_args(
    cell, units, bidirectional, merge_mode, dropout, recurrent_dropout
) -> list[int]:
    """Validates the recurrent-stack hyperparameters; returns `units` as a list.

    Raises:
        ValueError: naming the argument, the value and what is accepted.
    """
    check_choice("cell", cell, CELLS)
    units = check_int_list("units", units)
    check_bool("bidirectional", bidirectional)
    check_choice("merge_mode", merge_mode, MERGE_MODES)
    check_rate("dropout", dropout)
    check_rate("recurrent_dropout", recurrent_dropout)
    if cell in BASIC_CELLS and (dropout > 0 or recurrent_dropout > 0):
        raise ValueError(
            f"Invalid dropout={dropout!r}, recurrent_dropout={recurrent_dropout!r} "
            f"for cell={cell!r}: the teaching cells have no dropout; use 0.0 or "
            f"one of {', '.join(repr(c) for c in KERAS_CELLS)}."
        )
    return units


def sequence_input(input_shape, vocab_size, embedding_dim, mask_zero):
    """The input and front end: float features, or token ids with an Embedding.

    Args:
        input_shape: tuple or None. (timesteps, features) for float inputs,
            (timesteps,) for token ids; timesteps may be None. None means
            (None, 1) or (None,).
        vocab_size: int or None. Token vocabulary size; None for float inputs.
        embedding_dim: int. Embedding width (token inputs only).
        mask_zero: bool. Token id 0 (or an all-zero feature step) is padding:
            recurrent layers skip it and pooling ignores it.

    Returns:
        (inputs, x): the `keras.Input` and the (timesteps, width) sequence.
    """
    check_bool("mask_zero", mask_zero)
    if vocab_size is None:
        shape = check_input_shape(
            (None, 1) if input_shape is None else input_shape, rank=2
        )
        inputs = keras.Input(shape=shape, name="input")
        x = layers.Masking(0.0, name="masking")(inputs) if mask_zero else inputs
        return inputs, x
    check_int("vocab_size", vocab_size, minimum=2)
    check_int("embedding_dim", embedding_dim, minimum=1)
    shape = check_input_shape((None,) if input_shape is None else input_shape, rank=1)
    inputs = keras.Input(shape=shape, dtype="int32", name="input")
    x = layers.Embedding(
        vocab_size, embedding_dim, mask_zero=mask_zero, name="embedding"
    )(inputs)
    return inputs, x


def recurrent_layer(cell, units, return_sequences, dropout, recurrent_dropout, name):
    """One recurrent layer of kind `cell` (see `CELLS`)."""
    if cell in BASIC_CELLS:
        return layers.RNN(
            BASIC_CELLS[cell](units, name=f"{name}_cell"),
            return_sequences=return_sequences,
            name=name,
        )
    return KERAS_CELLS[cell](
        units,
        return_sequences=return_sequences,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        name=name,
    )


def recurrent_stack(
    x,
    *,
    cell,
    units,
    bidirectional=False,
    merge_mode="concat",
    dropout=0.0,
    recurrent_dropout=0.0,
    return_sequences=False,
):
    """Stacks one recurrent layer per entry of `units` ("lstm1", "bilstm2", ...).

    Every layer but the last returns its full sequence; the last returns it
    only if `return_sequences`, else its final output.
    """
    prefix = cell.replace("_", "")  # "simple_rnn" -> "simplernn"
    for i, width in enumerate(units, start=1):
        sequences = return_sequences or i < len(units)
        name = f"{prefix}{i}"
        if bidirectional:
            inner = recurrent_layer(
                cell, width, sequences, dropout, recurrent_dropout, name
            )
            x = layers.Bidirectional(inner, merge_mode=merge_mode, name=f"bi{name}")(x)
        else:
            x = recurrent_layer(
                cell, width, sequences, dropout, recurrent_dropout, name
            )(x)
    return x


_RECURRENT_ARGS = (
    "cell",
    "units",
    "bidirectional",
    "merge_mode",
    "dropout",
    "recurrent_dropout",
)

# The builders' shared arguments (one default and one Args line each).
_INPUT = {
    "input_shape": Arg(
        None,
        "tuple or None. (timesteps, features) for float inputs, (timesteps,) for "
        "token ids (with vocab_size); timesteps may be None (any length). None "
        "means (None, 1) or (None,).",
    ),
}
_RECURRENT = {
    "cell": Arg(
        "lstm",
        'str. Recurrent cell: "simple_rnn", "lstm", "gru" (Keras layers) or '
        '"basic_rnn", "basic_lstm", "basic_gru" (kerasdl\'s explicit-gate '
        "teaching cells in keras.layers.RNN).",
    ),
    "units": Arg(
        (64,),
        "int or list of int. Hidden size of each stacked recurrent layer, input "
        "to output; its length is the number of layers.",
    ),
    "bidirectional": Arg(
        False, "bool. Run every recurrent layer both ways (keras Bidirectional)."
    ),
    "merge_mode": Arg(
        "concat",
        'str. How the two directions combine: "concat", "sum", "mul", "ave".',
    ),
    "dropout": Arg(0.0, "float. Dropout on each recurrent layer's inputs, in [0, 1)."),
    "recurrent_dropout": Arg(0.0, "float. Dropout on the recurrent state, in [0, 1)."),
}
_POOLING = {
    "pooling": Arg(
        "last",
        'str. Sequence summary fed to the head: "last" (final output of the last '
        'real step), "avg" (mean over the real steps) or "max" over time.',
    ),
}
_TOKENS = {
    "vocab_size": Arg(
        None,
        "int or None. Token vocabulary size: inputs are int ids fed to an "
        "Embedding; None for float feature inputs.",
    ),
    "embedding_dim": Arg(64, "int. Embedding width (token inputs only)."),
    "mask_zero": Arg(
        False,
        "bool. Treat token id 0 (or an all-zero feature step) as padding that the "
        "recurrent layers skip.",
    ),
}
_WEIGHTS = {
    "weights": Arg(
        None,
        "str or None. Path of a local weights file to load; never downloaded.",
    ),
}
_HEAD_DROPOUT = Arg(0.0, "float. Dropout before the output layer, in [0, 1).")
_OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softplus", "softmax")


def _model_name(cell, bidirectional, role):
    return f"{'bi' if bidirectional else ''}{cell}_{role}"


# ---------------------------------------------------------------- builders
def _recurrent_model(role, hparams):
    """Sequence input -> recurrent features -> Dense head "predictions".

    `hparams` are the calling builder's arguments: a classifier and a
    regressor pool the sequence into one vector (`pooling`); a tagger has no
    `pooling` and keeps every step, so its head classifies each step. A
    regressor has `num_outputs` and `output_activation`, the others
    `num_classes` and `classifier_activation`.
    """
    units = check_recurrent_args(*(hparams[key] for key in _RECURRENT_ARGS))
    if role == "regressor":
        num_units = check_int("num_outputs", hparams["num_outputs"], minimum=1)
        activation = hparams["output_activation"]
        if activation is not None:
            check_choice("output_activation", activation, _OUTPUT_ACTIVATIONS)
    else:
        num_units = check_int("num_classes", hparams["num_classes"], minimum=1)
        activation = hparams["classifier_activation"]
        if activation is not None:
            check_activation_or_softmax(activation)
    cell, bidirectional = hparams["cell"], hparams["bidirectional"]
    inputs, x = sequence_input(
        hparams["input_shape"],
        hparams["vocab_size"],
        hparams["embedding_dim"],
        hparams["mask_zero"],
    )
    features = {key: hparams[key] for key in _RECURRENT_ARGS}
    features["units"] = units
    # A tagger (no `pooling`) keeps every step; "last" keeps the final one.
    pooling = hparams.get("pooling")
    if "pooling" in hparams:
        check_choice("pooling", pooling, POOLINGS)
    x = recurrent_stack(x, **features, return_sequences=pooling != "last")
    x = pool(x, None if pooling == "last" else pooling)
    outputs = dense_head(
        x, num_units, activation=activation, dropout=hparams["head_dropout"]
    )
    name = _model_name(cell, bidirectional, role)
    return finish_model(inputs, outputs, name, hparams["weights"])


def _sections(role: str) -> dict:
    """The Returns and Raises sections of the builder of `role`."""
    return {
        "Returns": f'A functional `keras.Model` named "<cell>_{role}" (with a "bi" '
        "prefix when bidirectional).",
        "Raises": BUILDER_RAISES,
    }


def _recurrent_args(role, count, activation, pooling=True, **overrides):
    """`builder_args` of the builder of `role`: the shared groups in order.

    `count` ({name: Arg}) is the head's size, second; `activation` the head's
    activation, before `weights`; a tagger has no `pooling`; `overrides`
    reword shared arguments.
    """
    return builder_args(
        _INPUT,
        count,
        _RECURRENT,
        _POOLING if pooling else {},
        {"head_dropout": _HEAD_DROPOUT},
        _TOKENS,
        activation,
        _WEIGHTS,
        sections=_sections(role),
        **overrides,
    )


@_recurrent_args(
    "classifier",
    {"num_classes": Arg(10, "int. Number of classes.")},
    {
        "classifier_activation": Arg(
            "softmax",
            'str or None. Output activation ("softmax", None for logits, '
            '"sigmoid", ...).',
        )
    },
)
def rnn_classifier(hparams):
    """Recurrent sequence classifier: recurrent stack, then one softmax label.

    Layers: input -> [embedding | masking] -> {cell}1 ... {cell}N (or
    bi{cell}k with `bidirectional`) -> [avg_pool | max_pool] ->
    [head_dropout] -> predictions.

    Args:
        {args}

    Example:
    >>> model = rnn_classifier(input_shape=(40, 1), cell="gru", units=[64, 64])
    >>> model.output_shape
    (None, 10)
    """
    return _recurrent_model("classifier", hparams)


@_recurrent_args(
    "regressor",
    {"num_outputs": Arg(1, "int. Number of real-valued outputs per sequence.")},
    {
        "output_activation": Arg(
            None,
            'str or None. Output activation (None: linear; "sigmoid" for targets '
            "in (0, 1), ...).",
        )
    },
)
def rnn_regressor(hparams):
    """Recurrent sequence regressor: recurrent stack, then real-valued outputs.

    Same body as `rnn_classifier`; the head is a Dense layer "predictions"
    with `num_outputs` units and no activation by default (for mean squared
    error). For multi-step time-series forecasts see kerasdl.models.forecasting.

    Args:
        {args}

    Example:
    >>> model = rnn_regressor(input_shape=(24, 3), num_outputs=2, cell="gru")
    >>> model.output_shape
    (None, 2)
    """
    return _recurrent_model("regressor", hparams)


@_recurrent_args(
    "tagger",
    {"num_classes": Arg(10, "int. Number of tags.")},
    {
        "classifier_activation": Arg(
            "softmax",
            'str or None. Per-step output activation ("softmax", None for '
            "logits, ...).",
        )
    },
    pooling=False,
    # Reworded for tagging: both contexts are known, padding is left out.
    bidirectional=Arg(
        False,
        "bool. Run every recurrent layer both ways (keras Bidirectional); the "
        "usual choice for tagging, where both contexts are known.",
    ),
    mask_zero=Arg(
        False,
        "bool. Treat token id 0 (or an all-zero feature step) as padding, skipped "
        "by the recurrent layers and left out of loss and metrics.",
    ),
)
def rnn_tagger(hparams):
    """Recurrent sequence tagger: one label per time step (POS, NER, frames).

    Every recurrent layer returns its full sequence and the classifier
    "predictions" is a Dense layer applied at each step, so the output has
    shape (batch, timesteps, num_classes). With `mask_zero`, the padding mask
    reaches the output, and Keras leaves padded steps out of the loss and
    metrics.

    Args:
        {args}

    Example:
    >>> model = rnn_tagger(input_shape=(None,), vocab_size=100, num_classes=5,
    ...                    bidirectional=True)
    >>> model.output_shape
    (None, None, 5)
    """
    return _recurrent_model("tagger", hparams)


# ---------------------------------------------------------------- registry
# Generic names take `cell` as a hyperparameter; the others fix it. Tiny
# variants are small and spread over the options (stacking, pooling, token
# input, bidirectional, teaching cells) so the sweep exercises each path.
register_model(
    "rnn_classifier",
    rnn_classifier,
    family="rnn",
    tiny={"input_shape": (4, 2), "num_classes": 3, "cell": "basic_lstm",
          "units": 3, "pooling": "avg"},
)  # fmt: skip
register_model(
    "rnn_regressor",
    rnn_regressor,
    family="rnn",
    task="regression",
    tiny={"input_shape": (None, 3), "num_outputs": 2, "cell": "gru",
          "units": [3, 3]},
)  # fmt: skip
register_model(
    "rnn_tagger",
    rnn_tagger,
    family="rnn",
    task="tagging",
    tiny={"input_shape": (4,), "num_classes": 3, "cell": "basic_gru", "units": 3,
          "vocab_size": 6, "embedding_dim": 3},
)  # fmt: skip
register_model(
    "simple_rnn_classifier",
    rnn_classifier,
    family="rnn",
    description="Elman RNN sequence classifier (keras SimpleRNN).",
    presets={"cell": "simple_rnn"},
    tiny={"input_shape": (4, 2), "num_classes": 3, "units": 3, "pooling": "max"},
)
register_model(
    "lstm_classifier",
    rnn_classifier,
    family="rnn",
    description="LSTM sequence classifier (Hochreiter & Schmidhuber 1997).",
    presets={"cell": "lstm"},
    tiny={"input_shape": (4,), "num_classes": 3, "units": 3, "vocab_size": 8,
          "embedding_dim": 3, "bidirectional": True, "merge_mode": "sum"},
)  # fmt: skip
register_model(
    "gru_classifier",
    rnn_classifier,
    family="rnn",
    description="GRU sequence classifier (Cho et al. 2014).",
    presets={"cell": "gru"},
    tiny={"input_shape": (4, 2), "num_classes": 3, "units": 3},
)
