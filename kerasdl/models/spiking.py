"""Spiking neural networks: spiking MLP and CNN, and their activity measures.

Both models are `encoder -> spiking layers over time_steps -> readout ->
softmax`: the encoder turns a static input into a sequence (direct repetition
of the analog input, Poisson rate or latency spikes), each hidden layer is a
`keras.layers.RNN` of `LIFCell`s (or `AdaptiveLIFCell`s) returning its spike
train, and the readout is non-spiking leaky integrators whose mean membrane
potential gives the logits. They train with surrogate gradients through
backpropagation through time, like any classifier.

`activity_report` measures a trained model: the firing rate of every spiking
layer and its synaptic operations (one accumulate per spike per outgoing
synapse), against the multiply-accumulates of the same-shaped ordinary network
run once, an energy proxy (an accumulate costs less than a multiply-accumulate
on neuromorphic hardware).

`convert` turns a trained ReLU network into a rate-coded spiking one
(integrate-and-fire neurons, weights balanced by data-based max-activation
normalization); `accuracy_by_time_steps` reads its accuracy after each number
of steps from one simulation.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import layers

from kerasdl import _backend
from kerasdl._checks import check_float, check_known_keys
from kerasdl.layers import spiking
from kerasdl.models._common import (
    check_choice,
    check_int,
    check_int_list,
    make_input,
)
from kerasdl.models._hparams import Arg, builder_args
from kerasdl.models.heads import finish_model
from kerasdl.registry import register_model

__all__ = [
    "accuracy_by_time_steps",
    "activity_report",
    "convert",
    "spiking_cnn",
    "spiking_mlp",
]

ENCODERS = ("direct", "poisson", "latency")
NEURONS = {"lif": spiking.LIFCell, "adaptive_lif": spiking.AdaptiveLIFCell}
# Constructor arguments of the cells that `neuron_options` may set (the
# builders set units, use_kernel and the names themselves).
_CELL_FIXED = ("self", "units", "use_kernel", "kwargs")


def _encode(x, encoder: str, time_steps: int):
    if encoder == "direct":
        return spiking.RepeatEncoder(time_steps, name="encoder")(x)
    if encoder == "poisson":
        return spiking.PoissonEncoder(time_steps, name="encoder")(x)
    return spiking.LatencyEncoder(time_steps, name="encoder")(x)


def _neuron_factory(neuron: str, neuron_options):
    """Checks `neuron`/`neuron_options` up front; returns a cell factory.

    The cell classes own the defaults and the range checks: one probe cell
    is built here so that a bad option fails before any layer is made.
    """
    check_choice("neuron", neuron, tuple(NEURONS))
    options = {} if neuron_options is None else neuron_options
    if not isinstance(options, dict):
        raise ValueError(
            f"Invalid neuron_options={neuron_options!r}: expected a dict of "
            f"{NEURONS[neuron].__name__} arguments (e.g. {{'beta': 0.95}}) or None."
        )
    cls = NEURONS[neuron]
    accepted = [
        name
        for klass in reversed(cls.__mro__[: cls.__mro__.index(spiking.LIFCell) + 1])
        for name in inspect.signature(klass.__init__).parameters
        if name not in _CELL_FIXED
    ]
    check_known_keys(options, accepted, "neuron", neuron, word="neuron_options key")
    probe = cls(1, **options)

    def make(units, **extra):
        return cls(units, **options, **extra)

    return make, probe


def _check_common(hparams):
    """Checks the shared arguments; returns the neuron factory and probe."""
    check_int("time_steps", hparams["time_steps"], minimum=1)
    check_int("num_classes", hparams["num_classes"], minimum=2)
    check_choice("encoder", hparams["encoder"], ENCODERS)
    return _neuron_factory(hparams["neuron"], hparams["neuron_options"])


def _readout(x, num_classes, beta):
    # The readout integrators leak like the neurons (at most 1: MembraneReadout
    # accepts beta = 1, a plain integrator).
    logits = spiking.MembraneReadout(num_classes, beta=beta, name="readout")(x)
    return layers.Activation("softmax", name="predictions", dtype="float32")(logits)


def _spiking_dense(x, hidden_units, make_cell):
    # (batch, T, features) -> (batch, T, units) spike trains, layer "lif{i}".
    for i, units in enumerate(hidden_units):
        x = layers.RNN(
            make_cell(units, name=f"lif{i}_cell"),
            return_sequences=True,
            name=f"lif{i}",
        )(x)
    return x


# The spiking builders' shared arguments: classes, simulation, neurons.
_SPIKING = {
    "num_classes": Arg(10, "int. Number of classes (>= 2)."),
    "time_steps": Arg(8, "int. Simulation steps T."),
    "encoder": Arg(
        "direct",
        'str. "direct" (analog input repeated), "poisson" or "latency" (inputs '
        "in [0, 1]).",
    ),
    "neuron": Arg(
        "lif", 'str. "lif" (`LIFCell`) or "adaptive_lif" (`AdaptiveLIFCell`).'
    ),
    "neuron_options": Arg(
        None,
        'dict or None. Arguments of the neuron cell, e.g. {"beta": 0.95, '
        '"threshold": 1.0, "learn_beta": True, "reset": "zero", "surrogate": '
        '"arctan", "slope": 25.0}; unset ones take the cell\'s defaults. The '
        "readout leaks with the same beta.",
    ),
    "weights": Arg(None, "str or None. Local weights file; never downloaded."),
}


def _returns(name: str) -> dict:
    return {"Returns": f'A functional `keras.Model` named "{name}".'}


@builder_args(
    {
        "input_shape": Arg(
            (784,), "tuple. Input shape without the batch axis (flattened)."
        ),
        "hidden_units": Arg((128,), "tuple of int. Width of each spiking layer."),
    },
    _SPIKING,
    sections=_returns("spiking_mlp"),
)
def spiking_mlp(hparams):
    """Spiking multilayer perceptron: encoder -> LIF layers -> membrane readout.

    Layers: "encoder" (batch, T, features), then per hidden layer i a
    `keras.layers.RNN` "lif{i}" returning spike trains (batch, T, units), then
    "readout" (leaky integrators, mean membrane = logits) and "predictions"
    (softmax).

    Args:
        {args}

    Example:
    >>> model = spiking_mlp(input_shape=(4,), hidden_units=(8,), num_classes=3, time_steps=4)
    >>> model.output_shape
    (None, 3)
    """
    encoder, time_steps = hparams["encoder"], hparams["time_steps"]
    make_cell, probe = _check_common(hparams)
    hidden_units = tuple(check_int_list("hidden_units", list(hparams["hidden_units"])))
    inputs = make_input(hparams["input_shape"], rank=None)
    x = layers.Flatten(name="flatten")(inputs) if len(inputs.shape) > 2 else inputs
    x = _encode(x, encoder, time_steps)
    x = _spiking_dense(x, hidden_units, make_cell)
    outputs = _readout(x, hparams["num_classes"], probe.beta)
    return finish_model(inputs, outputs, "spiking_mlp", hparams["weights"])


@builder_args(
    {
        "input_shape": Arg((28, 28, 1), "tuple. (height, width, channels)."),
        "filters": Arg((16, 32), "tuple of int. Filters of each convolutional stage."),
        "kernel_size": Arg(3, "int. Convolution kernel size."),
        "dense_units": Arg((128,), "tuple of int. Widths of the spiking dense layers."),
    },
    _SPIKING,
    sections=_returns("spiking_cnn"),
    time_steps=Arg(6, "int. Simulation steps T."),
)
def spiking_cnn(hparams):
    """Spiking convolutional net: encoder -> [conv -> LIF -> pool]* -> LIF -> readout.

    Each convolutional stage i applies "conv{i}" (a Conv2D, same padding) at
    every step, then LIF neurons "lif_conv{i}" over the flattened feature map
    (the current is the convolution, no extra weights), then 2x2 max pooling
    of the spikes ("pool{i}"). Then spiking dense layers "lif{j}" and the
    membrane readout. With the "direct" encoder the input is the same at
    every step, so the first convolution runs once and its output is
    repeated ("conv0" before "encoder"): the same numbers, T times cheaper.

    Args:
        {args}
    """
    encoder, time_steps = hparams["encoder"], hparams["time_steps"]
    make_cell, probe = _check_common(hparams)
    kernel_size = hparams["kernel_size"]
    check_int("kernel_size", kernel_size, minimum=1)
    filters = tuple(check_int_list("filters", list(hparams["filters"])))
    dense_units = tuple(check_int_list("dense_units", list(hparams["dense_units"])))
    inputs = make_input(hparams["input_shape"], rank=3)
    x = inputs
    if encoder == "direct":
        x = layers.Conv2D(filters[0], kernel_size, padding="same", name="conv0")(x)
    x = _encode(x, encoder, time_steps)
    for i, f in enumerate(filters):
        if i or encoder != "direct":
            x = layers.TimeDistributed(
                layers.Conv2D(f, kernel_size, padding="same", name=f"conv{i}_step"),
                name=f"conv{i}",
            )(x)
        h, w, c = x.shape[2:]
        x = layers.Reshape((time_steps, h * w * c), name=f"conv{i}_flat")(x)
        cell = make_cell(h * w * c, use_kernel=False, name=f"lif_conv{i}_cell")
        x = layers.RNN(cell, return_sequences=True, name=f"lif_conv{i}")(x)
        x = layers.Reshape((time_steps, h, w, c), name=f"conv{i}_map")(x)
        if h >= 2 and w >= 2:
            x = layers.TimeDistributed(
                layers.MaxPooling2D(2, name=f"pool{i}_step"), name=f"pool{i}"
            )(x)
    x = layers.Reshape((time_steps, int(np.prod(x.shape[2:]))), name="flatten")(x)
    x = _spiking_dense(x, dense_units, make_cell)
    outputs = _readout(x, hparams["num_classes"], probe.beta)
    return finish_model(inputs, outputs, "spiking_cnn", hparams["weights"])


def _spiking_layers(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, layers.RNN) and isinstance(layer.cell, spiking.LIFCell)
    ]


# Layers between a spiking layer and its synapses that only move or pool
# the spikes (pooling makes fewer, the synapses see the pooled ones).
_SPIKE_CARRIERS = (
    layers.Reshape,
    layers.Flatten,
    layers.MaxPooling2D,
    layers.AveragePooling2D,
)


def _synapses(model, layer):
    """(fan_out, spikes as they reach the next synaptic layer) of `layer`.

    fan_out is the number of weights each input element of the next synaptic
    layer drives: a Dense-like layer's width (LIF with a kernel, the membrane
    readout, the Dense readout on the rates of a converted net) or a
    convolution's k*k*filters. The spikes are `layer`'s output carried
    through reshapes and pooling; other layers (SpikeCount) pass them as is.
    """
    spikes = layer.output
    for nxt in model.layers[model.layers.index(layer) + 1 :]:
        inner = nxt.layer if isinstance(nxt, layers.TimeDistributed) else nxt
        if isinstance(inner, layers.Conv2D):
            return int(np.prod(inner.kernel_size)) * inner.filters, spikes
        if isinstance(nxt, layers.RNN) and isinstance(nxt.cell, spiking.LIFCell):
            if nxt.cell.use_kernel:
                return nxt.cell.units, spikes
        elif isinstance(nxt, (spiking.MembraneReadout, layers.Dense)):
            return nxt.units, spikes
        elif isinstance(inner, _SPIKE_CARRIERS):
            spikes = nxt.output
    return 0, spikes


def activity_report(model, x, batch_size: int = 256) -> dict:
    """Firing rates and synaptic operations of a spiking model on inputs `x`.

    For each spiking layer (a `keras.layers.RNN` of `LIFCell`s): its mean
    firing rate (spikes per neuron per step) and the synaptic operations its
    spikes cause in the next synaptic layer, `events * fan_out` (events: the
    nonzero inputs that layer receives over all steps, i.e. the spikes after
    any pooling; fan_out: its weights per input element, k*k*filters for a
    convolution, ignoring borders). The ordinary network of the same shape
    does `inputs * fan_out` multiply-accumulates once per example (inputs:
    the size of that layer's input per step); `synops / macs` is the energy
    proxy: the spiking net does fewer operations when it is below 1, i.e.
    when the mean number of spikes per input over all T steps is below 1.

    Args:
        model: keras.Model. A spiking model (from `spiking_mlp`,
            `spiking_cnn`, `convert`, or any functional model with
            RNN(LIFCell) layers).
        x: array. Inputs (batch first).
        batch_size: int. Batch size of the measurement.

    Returns:
        A dict with "layers" (a list of dicts: name, neurons, time_steps,
        firing_rate, spikes_per_example, fan_out, synops_per_example,
        macs_per_example), "synops_per_example", "macs_per_example" (totals
        over the spiking layers' outgoing synapses) and "synops_to_macs".

    Raises:
        ValueError: if the model has no spiking layer.

    Example:
    >>> report = activity_report(model, x_test)
    >>> [row["firing_rate"] for row in report["layers"]]
    """
    check_int("batch_size", batch_size, minimum=1)
    spiking_layers = _spiking_layers(model)
    if not spiking_layers:
        raise ValueError(
            f"activity_report needs a model with keras.layers.RNN(LIFCell) layers; "
            f"model {model.name!r} has none."
        )
    synapses = [_synapses(model, layer) for layer in spiking_layers]
    probe = keras.Model(
        model.inputs,
        [layer.output for layer in spiking_layers] + [tensor for _, tensor in synapses],
    )
    outputs = probe.predict(x, batch_size=batch_size, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    rows = []
    for i, (layer, (fan_out, _)) in enumerate(zip(spiking_layers, synapses)):
        spikes = np.asarray(outputs[i], dtype=np.float64)
        arriving = np.asarray(outputs[len(spiking_layers) + i])
        n_examples, steps = spikes.shape[0], spikes.shape[1]
        events = np.count_nonzero(arriving) / n_examples
        inputs_per_step = int(np.prod(arriving.shape[2:]))
        rows.append(
            {
                "name": layer.name,
                "neurons": int(np.prod(spikes.shape[2:])),
                "time_steps": int(steps),
                "firing_rate": float(spikes.mean()),
                "spikes_per_example": float(spikes.sum() / n_examples),
                "fan_out": int(fan_out),
                "synops_per_example": float(events * fan_out),
                "macs_per_example": float(inputs_per_step * fan_out),
            }
        )
    synops = sum(r["synops_per_example"] for r in rows)
    macs = sum(r["macs_per_example"] for r in rows)
    return {
        "layers": rows,
        "synops_per_example": synops,
        "macs_per_example": macs,
        "synops_to_macs": synops / macs if macs else float("nan"),
    }


# ------------------------------------------------------------- conversion
# Layers a converted network may contain, besides Dense/Conv2D (synaptic) and
# their ReLU (the spiking neurons): pass-through and shape layers.
_CONVERT_SKIPPED = (layers.InputLayer, layers.Dropout)
_CONVERT_POOLS = (layers.AveragePooling2D, layers.MaxPooling2D)
_CONVERT_SYNAPTIC = (layers.Dense, layers.Conv2D)


def _activation_name(layer) -> str:
    if isinstance(layer, layers.ReLU):
        plain = (
            layer.max_value is None
            and float(layer.negative_slope) == 0.0
            and float(layer.threshold) == 0.0
        )
        return "relu" if plain else "relu_variant"
    name = keras.activations.serialize(layer.activation)
    return name if isinstance(name, str) else str(name)


def _conversion_plan(model):
    """Splits a plain ReLU stack into stages: (kind, layer, relu output)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"convert needs a model with one input and one output; model "
            f"{model.name!r} has {len(model.inputs)} and {len(model.outputs)}."
        )
    accepted = "Dense, Conv2D, ReLU/Activation('relu'), Flatten, AveragePooling2D, MaxPooling2D, Dropout"
    stages, previous = [], None
    for layer in model.layers:
        if previous is not None and layer.input is not previous.output:
            raise ValueError(
                f"convert handles a plain stack of layers; layer {layer.name!r} of "
                f"model {model.name!r} does not take the previous layer's output."
            )
        previous = layer
        if isinstance(layer, _CONVERT_SKIPPED):
            continue
        if isinstance(layer, (layers.ReLU, layers.Activation)):
            name = _activation_name(layer)
            last = stages[-1] if stages else None
            if name == "relu" and last and last[0] == "synaptic" and last[2] is None:
                last[2] = layer.output
                continue
            if name == "softmax" and last and last[0] == "synaptic":
                continue
            raise ValueError(
                f"convert cannot place activation layer {layer.name!r} ({name}): "
                f"a plain ReLU must follow a Dense/Conv2D layer, softmax must end "
                f"the model."
            )
        if isinstance(layer, _CONVERT_SYNAPTIC):
            name = _activation_name(layer)
            if name not in ("relu", "linear", "softmax"):
                raise ValueError(
                    f"convert needs ReLU networks; layer {layer.name!r} has "
                    f"activation={name!r} (accepted: 'relu', or 'linear'/'softmax' "
                    f"on the output layer)."
                )
            stages.append(["synaptic", layer, layer.output if name == "relu" else None])
        elif isinstance(layer, _CONVERT_POOLS):
            stages.append(["pool", layer, None])
        elif isinstance(layer, layers.Flatten):
            stages.append(["flatten", layer, None])
        else:
            raise ValueError(
                f"convert cannot convert layer {layer.name!r} "
                f"({type(layer).__name__}); accepted layers: {accepted}."
            )
    synaptic = [s for s in stages if s[0] == "synaptic"]
    if not synaptic or not isinstance(synaptic[-1][1], layers.Dense):
        raise ValueError(
            f"convert needs a Dense output layer; model {model.name!r} ends with "
            f"{type(model.layers[-1]).__name__} {model.layers[-1].name!r}."
        )
    if synaptic[-1][2] is not None or any(s[2] is None for s in synaptic[:-1]):
        raise ValueError(
            f"convert needs ReLU after every hidden Dense/Conv2D layer and none on "
            f"the output layer; model {model.name!r} does not follow that."
        )
    return stages


def _activation_scales(model, stages, x, percentile, batch_size):
    # Data-based normalization (Diehl et al. 2015, Rueckauer et al. 2017): the
    # p-th percentile of each ReLU layer's positive activations on x.
    hidden = [s for s in stages if s[0] == "synaptic" and s[2] is not None]
    probe = keras.Model(model.inputs, [s[2] for s in hidden])
    acts = probe.predict(x, batch_size=batch_size, verbose=0)
    acts = acts if isinstance(acts, list) else [acts]
    scales = []
    for a, (_, layer, _) in zip(acts, hidden):
        positive = np.asarray(a, dtype=np.float64)
        positive = positive[positive > 0]
        if positive.size == 0:
            raise ValueError(
                f"convert: the ReLU output of layer {layer.name!r} is zero on every "
                f"calibration example; pass x_calibration from the training data."
            )
        scales.append(float(np.percentile(positive, percentile)))
    return scales


def convert(
    model,
    x_calibration,
    time_steps: int = 64,
    percentile: float = 99.9,
    batch_size: int = 256,
):
    """Converts a trained ReLU network into a rate-coded spiking network.

    Every hidden Dense/Conv2D + ReLU becomes the same synaptic layer driving
    integrate-and-fire neurons (`LIFCell` with beta=1, threshold 1, reset by
    subtraction), whose firing rate approximates the ReLU output divided by
    the layer's activation scale. Weights are balanced with data-based
    normalization: the scale `lambda_l` of layer l is the `percentile`-th
    percentile of its positive activations on `x_calibration`, and
    `W_l <- W_l * lambda_{l-1} / lambda_l`, `b_l <- b_l / lambda_l` (the
    input's scale is 1: the analog input is the current at every step). The
    output layer "readout" is the original Dense applied to the mean spike
    rate of the last hidden layer ("rates") times its scale, so its logits
    approximate the ReLU network's; a final softmax is kept. Max pooling
    pools the spikes (an approximation); average pooling is exact in rate.

    Args:
        model: keras.Model. A plain stack of Dense/Conv2D layers with ReLU
            (as activation or a following ReLU/Activation layer), Flatten,
            pooling and Dropout layers, ending with a Dense output layer.
        x_calibration: array. Inputs (training data) whose activations set
            the scales.
        time_steps: int. Simulation steps T of the returned model.
        percentile: float in (0, 100]. Percentile of the activations taken
            as each layer's maximum (100: the maximum; 99.9 ignores outliers).
        batch_size: int. Batch size of the calibration.

    Returns:
        A functional `keras.Model` named "<model.name>_spiking" with layers
        "encoder", "lif{i}"/"conv{i}"+"lif_conv{i}", "rates", "readout".

    Raises:
        ValueError: for a layer or activation it cannot convert, a model that
            is not a plain stack, or a ReLU that is silent on all the
            calibration data.

    Example:
    >>> snn = convert(relu_mlp, x_train[:500], time_steps=64)
    >>> curve = accuracy_by_time_steps(snn, x_test, y_test, (8, 16, 32, 64))
    """
    check_int("time_steps", time_steps, minimum=1)
    check_float(
        "percentile", percentile, minimum=0.0, maximum=100.0, min_inclusive=False
    )
    check_int("batch_size", batch_size, minimum=1)
    stages = _conversion_plan(model)
    scales = iter(
        _activation_scales(model, stages, x_calibration, percentile, batch_size)
    )
    inputs = keras.Input(model.input_shape[1:], name="input")
    x = spiking.RepeatEncoder(time_steps, name="encoder")(inputs)
    previous_scale, assignments = 1.0, []
    for index, (kind, layer, relu) in enumerate(stages):
        if kind == "flatten":
            x = layers.Reshape(
                (time_steps, int(np.prod(x.shape[2:]))), name=f"flatten{index}"
            )(x)
        elif kind == "pool":
            x = layers.TimeDistributed(
                type(layer).from_config(layer.get_config()), name=f"pool{index}"
            )(x)
        elif relu is None:  # the output layer, on the rates
            x = spiking.SpikeCount(normalize=True, name="rates")(x)
            out = layers.Dense(layer.units, name="readout")
            x = out(x)
            kernel, bias = _kernel_bias(layer)
            assignments.append((out, kernel * previous_scale, bias))
        else:
            scale = next(scales)
            kernel, bias = _kernel_bias(layer)
            kernel, bias = kernel * (previous_scale / scale), bias / scale
            if isinstance(layer, layers.Dense):
                cell = spiking.LIFCell(
                    layer.units, beta=1.0, threshold=1.0, name=f"lif{index}_cell"
                )
                x = layers.RNN(cell, return_sequences=True, name=f"lif{index}")(x)
            else:
                conv_config = {
                    **layer.get_config(),
                    "activation": "linear",
                    "name": f"conv{index}_step",
                }
                cell = layers.Conv2D.from_config(conv_config)
                x = layers.TimeDistributed(cell, name=f"conv{index}")(x)
                h, w, c = x.shape[2:]
                x = layers.Reshape((time_steps, h * w * c), name=f"conv{index}_flat")(x)
                lif = spiking.LIFCell(
                    h * w * c,
                    beta=1.0,
                    threshold=1.0,
                    use_kernel=False,
                    name=f"lif_conv{index}_cell",
                )
                x = layers.RNN(lif, return_sequences=True, name=f"lif_conv{index}")(x)
                x = layers.Reshape((time_steps, h, w, c), name=f"conv{index}_map")(x)
            assignments.append((cell, kernel, bias))
            previous_scale = scale
    if _activation_name(model.layers[-1]) == "softmax":
        x = layers.Activation("softmax", name="predictions", dtype="float32")(x)
    snn = keras.Model(inputs, x, name=f"{model.name}_spiking")
    for target, kernel, bias in assignments:
        target.kernel.assign(kernel.astype(target.kernel.dtype))
        if bias is not None:
            target.bias.assign(bias.astype(target.bias.dtype))
    return snn


def _kernel_bias(layer):
    kernel = np.asarray(_backend.to_numpy(layer.kernel), dtype=np.float64)
    if not layer.use_bias:
        return kernel, None
    return kernel, np.asarray(_backend.to_numpy(layer.bias), dtype=np.float64)


def accuracy_by_time_steps(model, x, y, time_steps, batch_size: int = 256) -> dict:
    """Accuracy of a converted spiking network read out after each of `time_steps`.

    One simulation over the model's T steps: the readout of the mean spike
    rate over the first t steps gives the prediction at t, so the whole
    curve costs one run.

    Args:
        model: keras.Model. A model from `convert` (layers "rates", "readout").
        x: array. Inputs.
        y: array. Integer labels (or one-hot rows).
        time_steps: list of int. Steps at which to read out, each at most the
            model's T.
        batch_size: int. Batch size of the simulation.

    Returns:
        dict {t: accuracy} in the order of `time_steps`.

    Raises:
        ValueError: if the model has no "rates"/"readout" layers or a step
            is out of range.
    """
    names = {layer.name for layer in model.layers}
    if not {"rates", "readout"} <= names:
        raise ValueError(
            f"accuracy_by_time_steps needs a model from convert (layers 'rates' and "
            f"'readout'); model {model.name!r} has {sorted(names)}."
        )
    check_int("batch_size", batch_size, minimum=1)
    probe = keras.Model(model.inputs, model.get_layer("rates").input)
    spikes = np.asarray(probe.predict(x, batch_size=batch_size, verbose=0), np.float64)
    steps = spikes.shape[1]
    time_steps = check_int_list("time_steps", list(time_steps))
    for i, t in enumerate(time_steps):
        check_int(f"time_steps[{i}]", t, maximum=steps)
    labels = np.asarray(y)
    labels = labels.argmax(axis=-1) if labels.ndim > 1 else labels.reshape(-1)
    kernel, bias = _kernel_bias(model.get_layer("readout"))
    counts = np.cumsum(spikes, axis=1)  # (batch, T, features)
    curve = {}
    for t in time_steps:
        logits = (counts[:, t - 1] / t) @ kernel + bias
        curve[t] = float(np.mean(logits.argmax(axis=-1) == labels))
    return curve


register_model(
    "spiking_mlp",
    spiking_mlp,
    family="spiking",
    tiny={
        "input_shape": (4, 4),
        "hidden_units": (8,),
        "num_classes": 3,
        "time_steps": 3,
    },
)
register_model(
    "spiking_cnn",
    spiking_cnn,
    family="spiking",
    tiny={
        "input_shape": (6, 6, 1),
        "filters": (2,),
        "dense_units": (4,),
        "num_classes": 3,
        "time_steps": 2,
    },
)
