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
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from kerasdl.layers.spiking import (
    RESETS,
    SURROGATES,
    AdaptiveLIFCell,
    LatencyEncoder,
    LIFCell,
    MembraneReadout,
    PoissonEncoder,
    RepeatEncoder,
)
from kerasdl.models._common import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    make_input,
)
from kerasdl.models.heads import finish_model
from kerasdl.registry import register_model

__all__ = ["activity_report", "spiking_cnn", "spiking_mlp"]

ENCODERS = ("direct", "poisson", "latency")
NEURONS = ("lif", "adaptive_lif")


def _encode(x, encoder: str, time_steps: int):
    if encoder == "direct":
        return RepeatEncoder(time_steps, name="encoder")(x)
    if encoder == "poisson":
        return PoissonEncoder(time_steps, name="encoder")(x)
    return LatencyEncoder(time_steps, name="encoder")(x)


def _cell(neuron: str, units: int, neuron_args: dict, **extra):
    cls = LIFCell if neuron == "lif" else AdaptiveLIFCell
    return cls(units, **neuron_args, **extra)


def _check_common(
    time_steps, num_classes, encoder, neuron, beta, threshold, reset, surrogate, slope
):
    check_int("time_steps", time_steps, minimum=1)
    check_int("num_classes", num_classes, minimum=2)
    check_choice("encoder", encoder, ENCODERS)
    check_choice("neuron", neuron, NEURONS)
    check_float(
        "beta", beta, minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False
    )
    check_float("threshold", threshold, minimum=0.0, min_inclusive=False)
    check_choice("reset", reset, RESETS)
    check_choice("surrogate", surrogate, SURROGATES)
    check_float("slope", slope, minimum=0.0, min_inclusive=False)


def _readout(x, num_classes, beta):
    logits = MembraneReadout(num_classes, beta=beta, name="readout")(x)
    return layers.Activation("softmax", name="predictions", dtype="float32")(logits)


def spiking_mlp(
    input_shape=(784,),
    hidden_units=(128,),
    num_classes=10,
    time_steps=8,
    encoder="direct",
    neuron="lif",
    beta=0.9,
    threshold=1.0,
    learn_beta=False,
    learn_threshold=False,
    reset="subtract",
    surrogate="fast_sigmoid",
    slope=25.0,
    weights=None,
):
    """Spiking multilayer perceptron: encoder -> LIF layers -> membrane readout.

    Layers: "encoder" (batch, T, features), then per hidden layer i a
    `keras.layers.RNN` "lif{i}" returning spike trains (batch, T, units), then
    "readout" (leaky integrators, mean membrane = logits) and "predictions"
    (softmax).

    Args:
        input_shape: tuple. Input shape without the batch axis (flattened).
        hidden_units: tuple of int. Width of each spiking layer.
        num_classes: int. Number of classes (>= 2).
        time_steps: int. Simulation steps T.
        encoder: str. "direct" (analog input repeated), "poisson" or "latency"
            (inputs in [0, 1]).
        neuron: str. "lif" or "adaptive_lif".
        beta: float. Membrane decay per step.
        threshold: float. Firing threshold.
        learn_beta: bool. Train the decay per neuron.
        learn_threshold: bool. Train the threshold per neuron.
        reset: str. "subtract" or "zero".
        surrogate: str. "fast_sigmoid", "arctan" or "straight_through".
        slope: float. Sharpness of the surrogate gradient.
        weights: str or None. Local weights file; never downloaded.

    Returns:
        A functional `keras.Model` named "spiking_mlp".

    Example:
    >>> model = spiking_mlp(input_shape=(4,), hidden_units=(8,), num_classes=3, time_steps=4)
    >>> model.output_shape
    (None, 3)
    """
    _check_common(
        time_steps,
        num_classes,
        encoder,
        neuron,
        beta,
        threshold,
        reset,
        surrogate,
        slope,
    )
    hidden_units = tuple(hidden_units)
    for i, units in enumerate(hidden_units):
        check_int(f"hidden_units[{i}]", units, minimum=1)
    check_bool("learn_beta", learn_beta)
    check_bool("learn_threshold", learn_threshold)
    args = dict(
        beta=beta,
        threshold=threshold,
        learn_beta=learn_beta,
        learn_threshold=learn_threshold,
        reset=reset,
        surrogate=surrogate,
        slope=slope,
    )
    inputs = make_input(input_shape, rank=None)
    x = layers.Flatten(name="flatten")(inputs) if len(inputs.shape) > 2 else inputs
    x = _encode(x, encoder, time_steps)
    for i, units in enumerate(hidden_units):
        x = layers.RNN(
            _cell(neuron, units, args, name=f"lif{i}_cell"),
            return_sequences=True,
            name=f"lif{i}",
        )(x)
    return finish_model(inputs, _readout(x, num_classes, beta), "spiking_mlp", weights)


def spiking_cnn(
    input_shape=(28, 28, 1),
    filters=(16, 32),
    kernel_size=3,
    dense_units=(128,),
    num_classes=10,
    time_steps=6,
    encoder="direct",
    neuron="lif",
    beta=0.9,
    threshold=1.0,
    learn_beta=False,
    learn_threshold=False,
    reset="subtract",
    surrogate="fast_sigmoid",
    slope=25.0,
    weights=None,
):
    """Spiking convolutional net: encoder -> [conv -> LIF -> pool]* -> LIF -> readout.

    Each convolutional stage i applies "conv{i}" (a Conv2D, same padding) at
    every step, then LIF neurons "lif_conv{i}" over the flattened feature map
    (the current is the convolution, no extra weights), then 2x2 max pooling
    of the spikes ("pool{i}"). Then spiking dense layers "lif{j}" and the
    membrane readout.

    Args:
        input_shape: tuple. (height, width, channels).
        filters: tuple of int. Filters of each convolutional stage.
        kernel_size: int. Convolution kernel size.
        dense_units: tuple of int. Widths of the spiking dense layers.
        num_classes: int. Number of classes.
        time_steps: int. Simulation steps T.
        encoder: str. "direct", "poisson" or "latency".
        neuron: str. "lif" or "adaptive_lif".
        beta: float. Membrane decay per step.
        threshold: float. Firing threshold.
        learn_beta: bool. Train the decay per neuron.
        learn_threshold: bool. Train the threshold per neuron.
        reset: str. "subtract" or "zero".
        surrogate: str. "fast_sigmoid", "arctan" or "straight_through".
        slope: float. Sharpness of the surrogate gradient.
        weights: str or None. Local weights file; never downloaded.

    Returns:
        A functional `keras.Model` named "spiking_cnn".
    """
    _check_common(
        time_steps,
        num_classes,
        encoder,
        neuron,
        beta,
        threshold,
        reset,
        surrogate,
        slope,
    )
    check_int("kernel_size", kernel_size, minimum=1)
    filters, dense_units = tuple(filters), tuple(dense_units)
    for i, f in enumerate(filters):
        check_int(f"filters[{i}]", f, minimum=1)
    for i, u in enumerate(dense_units):
        check_int(f"dense_units[{i}]", u, minimum=1)
    args = dict(
        beta=beta,
        threshold=threshold,
        learn_beta=learn_beta,
        learn_threshold=learn_threshold,
        reset=reset,
        surrogate=surrogate,
        slope=slope,
    )
    inputs = make_input(input_shape, rank=3)
    x = _encode(inputs, encoder, time_steps)
    for i, f in enumerate(filters):
        x = layers.TimeDistributed(
            layers.Conv2D(f, kernel_size, padding="same", name=f"conv{i}_step"),
            name=f"conv{i}",
        )(x)
        h, w, c = x.shape[2:]
        x = layers.Reshape((time_steps, h * w * c), name=f"conv{i}_flat")(x)
        cell = _cell(
            neuron, h * w * c, args, use_kernel=False, name=f"lif_conv{i}_cell"
        )
        x = layers.RNN(cell, return_sequences=True, name=f"lif_conv{i}")(x)
        x = layers.Reshape((time_steps, h, w, c), name=f"conv{i}_map")(x)
        if h >= 2 and w >= 2:
            x = layers.TimeDistributed(
                layers.MaxPooling2D(2, name=f"pool{i}_step"), name=f"pool{i}"
            )(x)
    x = layers.Reshape((time_steps, int(np.prod(x.shape[2:]))), name="flatten")(x)
    for j, units in enumerate(dense_units):
        x = layers.RNN(
            _cell(neuron, units, args, name=f"lif{j}_cell"),
            return_sequences=True,
            name=f"lif{j}",
        )(x)
    return finish_model(inputs, _readout(x, num_classes, beta), "spiking_cnn", weights)


def _spiking_layers(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, layers.RNN) and isinstance(layer.cell, LIFCell)
    ]


def _fan_out(model, layer) -> int:
    # Synapses each spike of `layer` drives: the weights of the next synaptic
    # layer per input element (Dense-like: its width; a convolution: k*k*filters;
    # the readout: its width).
    index = model.layers.index(layer)
    for nxt in model.layers[index + 1 :]:
        inner = nxt.layer if isinstance(nxt, layers.TimeDistributed) else nxt
        if isinstance(inner, layers.Conv2D):
            k = int(np.prod(inner.kernel_size))
            return k * inner.filters
        if (
            isinstance(nxt, layers.RNN)
            and isinstance(nxt.cell, LIFCell)
            and nxt.cell.use_kernel
        ):
            return nxt.cell.units
        if isinstance(nxt, MembraneReadout):
            return nxt.units
    return 0


def activity_report(model, x, batch_size: int = 256) -> dict:
    """Firing rates and synaptic operations of a spiking model on inputs `x`.

    For each spiking layer (a `keras.layers.RNN` of `LIFCell`s): its mean
    firing rate (spikes per neuron per step) and the synaptic operations its
    spikes cause, `spikes * fan_out` (fan_out: synapses per neuron into the
    next synaptic layer; for a convolution k*k*filters, ignoring borders).
    The ordinary network of the same shape does `neurons * fan_out`
    multiply-accumulates once per example; `synops / macs` is the energy
    proxy: the spiking net does fewer operations when it is below 1, i.e.
    when the mean number of spikes per neuron over all T steps is below 1.

    Args:
        model: keras.Model. A spiking model (from `spiking_mlp`/`spiking_cnn`
            or any functional model with RNN(LIFCell) layers).
        x: array. Inputs (batch first).
        batch_size: int. Batch size of the measurement.

    Returns:
        A dict with "layers" (a list of dicts: name, neurons, firing_rate,
        synops_per_example, macs_per_example), "synops_per_example",
        "macs_per_example" (totals over the spiking layers' outgoing synapses)
        and "synops_to_macs".

    Raises:
        ValueError: if the model has no spiking layer.
    """
    check_int("batch_size", batch_size, minimum=1)
    spiking = _spiking_layers(model)
    if not spiking:
        raise ValueError(
            f"activity_report needs a model with keras.layers.RNN(LIFCell) layers; "
            f"model {model.name!r} has none."
        )
    probe = keras.Model(model.inputs, [layer.output for layer in spiking])
    outputs = probe.predict(x, batch_size=batch_size, verbose=0)
    if len(spiking) == 1:
        outputs = [outputs]
    rows = []
    for layer, spikes in zip(spiking, outputs):
        spikes = np.asarray(spikes, dtype=np.float64)
        n_examples, steps, neurons = spikes.shape[0], spikes.shape[1], spikes.shape[2]
        fan_out = _fan_out(model, layer)
        spikes_per_example = spikes.sum() / n_examples
        rows.append(
            {
                "name": layer.name,
                "neurons": int(neurons),
                "time_steps": int(steps),
                "firing_rate": float(spikes.mean()),
                "spikes_per_example": float(spikes_per_example),
                "fan_out": int(fan_out),
                "synops_per_example": float(spikes_per_example * fan_out),
                "macs_per_example": float(neurons * fan_out),
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
