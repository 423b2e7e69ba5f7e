"""Quantization-aware training (QAT) that ends in a full-integer int8 TFLite file.

`quantize_model` rewrites a Functional or Sequential Keras 3 model the way
TFMOT's `tfmot.quantization.keras.quantize_model` rewrites a tf_keras one
(default 8-bit scheme), with Keras-3 layers that train on TensorFlow, JAX and
PyTorch:

- Conv2D, DepthwiseConv2D and Dense become QuantConv2D, QuantDepthwiseConv2D
  and QuantDense: int8 symmetric narrow-range weights, one scale per output
  channel for convolutions, one per tensor for Dense (as TFMOT: the TFLite
  converter of TF 2.21 rejects per-axis fully-connected weights from a QAT
  graph with "'tfl.transpose' op has mismatched quantized axes").
- Each model input gets a QuantizeLayer (running min/max, TFMOT's
  AllValuesQuantizer); the outputs of kernel layers, activations, Add,
  Concatenate, average pooling and batch normalization get a QuantizeLayer
  (moving-average min/max, ema_decay 0.999, initial [-6, 6]), except where
  the converter fuses two layers into one int8 kernel: Conv/Dense ->
  BatchNormalization -> ReLU is quantized only after the ReLU; Dense/Conv
  with softmax, sigmoid or tanh are quantized before the activation. Layers that move int8 values without
  arithmetic (max pooling, flatten, reshape, dropout, padding) are left as
  they are.

Batch normalization is handled as TFMOT does by default: it stays a separate
layer (batch statistics in training, moving statistics in inference) with no
fake quantization between it and the convolution, and the TFLite converter
folds it into the convolution. This is exact for per-channel symmetric
weights: folding multiplies output channel c by gamma_c / sigma_c, which
scales that channel's int8 scale by the same factor and leaves its integer
weights unchanged, so the fake-quantized kernel seen in training is the one
the int8 file holds.

Conversion: `kerasdl.export(qat_model, dir, formats=["tflite_int8"],
representative_data=x)`. The TFLite converter reads the fake-quantization
ranges of the model (trained, not calibrated); models trained on JAX or
PyTorch are converted in a TensorFlow subprocess from their .keras file.
"""

from __future__ import annotations

import logging

import keras

from kerasdl import _keras_compat
from kerasdl.compression import _selection
from kerasdl.compression.qat_layers import (
    PRE_QUANT_ACTIVATIONS,
    QuantConv2D,
    QuantDense,
    QuantDepthwiseConv2D,
    QuantizeLayer,
)

__all__ = [
    "QuantConv2D",
    "QuantDense",
    "QuantDepthwiseConv2D",
    "QuantizeLayer",
    "activation_ranges",
    "quantize_model",
    "supported_layer_types",
]

logger = logging.getLogger(__name__)

_L = keras.layers
# Layers whose kernel is fake-quantized -> their QAT class.
KERNEL_LAYERS = {
    _L.Conv2D: QuantConv2D,
    _L.DepthwiseConv2D: QuantDepthwiseConv2D,
    _L.Dense: QuantDense,
}
# Layers whose output is a new int8 tensor: quantized after them.
OUTPUT_LAYERS = (
    _L.ReLU,
    _L.LeakyReLU,
    _L.Activation,
    _L.BatchNormalization,
    _L.Add,
    _L.Subtract,
    _L.Multiply,
    _L.Average,
    _L.Maximum,
    _L.Minimum,
    _L.Concatenate,
    _L.AveragePooling1D,
    _L.AveragePooling2D,
    _L.GlobalAveragePooling1D,
    _L.GlobalAveragePooling2D,
    _L.UpSampling2D,
)
# Layers that move int8 values unchanged: their input is quantized, their
# output keeps the input's scale.
PASS_THROUGH_LAYERS = (
    _L.MaxPooling1D,
    _L.MaxPooling2D,
    _L.GlobalMaxPooling1D,
    _L.GlobalMaxPooling2D,
    _L.Flatten,
    _L.Reshape,
    _L.Permute,
    _L.Dropout,
    _L.SpatialDropout1D,
    _L.SpatialDropout2D,
    _L.ZeroPadding1D,
    _L.ZeroPadding2D,
    _L.Cropping1D,
    _L.Cropping2D,
)
# Activations after which a new int8 tensor starts (others are quantized
# before they run, or not at all: softmax/sigmoid/tanh have fixed output
# scales in TFLite).
_RELU_LIKE = ("relu", "relu6")


def supported_layer_types() -> list[str]:
    """Names of the layer types `quantize_model` can quantize.

    Returns:
        list of str: sorted class names (e.g. "Conv2D", "Dense", "ReLU").

    Example:
    >>> "DepthwiseConv2D" in supported_layer_types()
    True
    """
    types = [*KERNEL_LAYERS, *OUTPUT_LAYERS, *PASS_THROUGH_LAYERS]
    return sorted(t.__name__ for t in types)


def _kind(layer) -> str | None:
    """ "kernel", "output", "pass" or None (not supported) for a layer."""
    if type(layer) in KERNEL_LAYERS:
        return "kernel"
    if isinstance(layer, OUTPUT_LAYERS):
        if isinstance(layer, _L.Activation):
            name = getattr(layer.activation, "__name__", "")
            return "pre_activation" if name in PRE_QUANT_ACTIVATIONS else "output"
        return "output"
    if isinstance(layer, PASS_THROUGH_LAYERS):
        return "pass"
    return None


def _is_relu(layer) -> bool:
    if isinstance(layer, _L.ReLU):
        return True
    if isinstance(layer, _L.Activation):
        return getattr(layer.activation, "__name__", "") in _RELU_LIKE
    return False


def _is_linear(layer) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") == "linear"


def _fuses(producer, consumer) -> bool:
    """True when the converter merges `producer` into `consumer` (no int8
    tensor between them): Conv/Dense (linear) -> BatchNormalization, and
    Conv/Dense (linear)/BatchNormalization/Add -> ReLU."""
    if isinstance(consumer, _L.BatchNormalization):
        return type(producer) in KERNEL_LAYERS and _is_linear(producer)
    if _is_relu(consumer):
        if type(producer) in KERNEL_LAYERS:
            return _is_linear(producer)
        return isinstance(producer, (_L.BatchNormalization, _L.Add))
    return False


def _all_layers(model):
    return [layer for layer in model.layers if not isinstance(layer, _L.InputLayer)]


def _select(model, layers) -> set[int]:
    """ids of the layers to quantize (nested models' layers too); validates `layers`."""
    chosen = _selection.select_layers(
        model,
        layers,
        accepts=lambda layer: _kind(layer) is not None,
        what="quantize",
        supported=supported_layer_types(),
        refusal="cannot be quantized",
        into_layers=False,  # quantize_model rebuilds the graph by cloning it
    )
    if layers is None:
        skipped = sorted(
            {
                type(layer).__name__
                for layer in _selection.graph_layers(model, into_held=False)
                if not isinstance(layer, keras.Model)
            }
            - {type(layer).__name__ for layer in chosen}
        )
        if skipped:
            logger.warning(
                "quantize_model leaves layer types %s in float; the int8 TFLite "
                "file needs every op quantized.",
                skipped,
            )
    return {id(layer) for layer in chosen}


def _check_not_quantized(model):
    for layer in _all_layers(model):
        if isinstance(
            layer, (QuantizeLayer, QuantConv2D, QuantDense, QuantDepthwiseConv2D)
        ):
            raise ValueError(
                f"model {model.name!r} is already quantization-aware (layer "
                f"{layer.name!r} is a {type(layer).__name__})."
            )
        if getattr(layer, "lora_enabled", False):
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} has LoRA enabled; "
                "merge the adapters first (kerasdl.compression.lora.merge_lora)."
            )
        mode = getattr(layer, "quantization_mode", None)
        if mode is not None:
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} is already "
                f"quantized (quantization_mode={mode!r}); quantize_model needs "
                "a float model."
            )


def _as_functional(model):
    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = None
        if not inputs:
            raise ValueError(
                f"Sequential model {model.name!r} is not built; give it a "
                "keras.Input (or call build()) before quantize_model."
            )
        return keras.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            outputs[0] if len(outputs) == 1 else outputs,
            name=model.name,
        )
    if not isinstance(model, keras.Model) or not _keras_compat.is_functional(model):
        raise ValueError(
            "quantize_model needs a Functional or Sequential keras.Model; "
            f"received {type(model).__name__}."
        )
    return model


def quantize_model(model, layers=None):
    """Makes a float Keras model quantization-aware (int8 fake quantization).

    Conv2D, DepthwiseConv2D and Dense kernels are fake-quantized to symmetric
    int8 (narrow range [-127, 127]; one scale per output channel for
    convolutions, per tensor for Dense); batch normalization after them is
    left to the converter to fold (exact for per-channel weights); the model
    input and every int8 activation get a QuantizeLayer that learns its range
    in training (moving average of batch min/max, decay 0.999) and freezes it
    in inference. Weights are copied from `model`, which is left unchanged.
    Fit the result as usual on any backend, then export it with
    `kerasdl.export(qat, dir, formats=["tflite_int8"],
    representative_data=x)`.

    Args:
        model: keras.Model. A built Functional or Sequential float model.
        layers: None, or a list of layer names and/or layer types (classes or
            class names such as "Conv2D"). None quantizes every supported
            layer (other layer types stay float, with a warning); a list
            quantizes only those layers (plus the input quantization they
            need).

    Returns:
        keras.Model: a new Functional model with the same inputs, outputs and
        layer names (plus "<name>_quant" QuantizeLayers); not compiled.

    Raises:
        ValueError: if `model` is not a built Functional/Sequential model, is
            already quantized, or `layers` names a missing layer or a layer
            that cannot be quantized (the message lists the supported types).

    Example:
    >>> model = kerasdl.build("lenet5", input_shape=(32, 32, 1), num_classes=10)
    >>> qat = quantize_model(model)          # after training `model` in float
    >>> qat.compile("adam", "sparse_categorical_crossentropy")
    >>> qat.fit(x, y, epochs=2)              # TensorFlow, JAX or PyTorch
    >>> kerasdl.export(qat, "savedmodels/lenet5_qat",
    ...                       formats=["tflite_int8"], representative_data=x[:300])
    """
    functional = _as_functional(model)
    _check_not_quantized(functional)
    selected = _select(functional, layers)

    clones = {}  # id(original layer) -> new layer
    originals = {}  # id(new layer) -> original layer

    nested = set()  # ids of nested models quantized on their own

    def clone(layer):
        if id(layer) in clones:
            return clones[id(layer)]
        held = _selection.held_model(layer)  # e.g. HubModel's keras-hub backbone
        container = layer if isinstance(layer, keras.Model) else held
        inner = (
            [x for x in _selection.graph_layers(container) if id(x) in selected]
            if container is not None
            else []
        )
        if inner:
            # A nested model with selected layers: quantized by the same
            # rules as a model of its own (weights copied there); a layer
            # holding one is rebuilt around the quantized model.
            new = quantize_model(container, layers=inner)
            if held is not None:
                new = layer.with_model(new)
            nested.add(id(layer))
            clones[id(layer)] = new
            originals[id(new)] = layer
            return new
        config = layer.get_config()
        if id(layer) in selected and type(layer) in KERNEL_LAYERS:
            per_channel = not isinstance(layer, _L.Dense)
            new = KERNEL_LAYERS[type(layer)].from_config(
                {**config, "per_channel": per_channel}
            )
        else:
            new = layer.__class__.from_config(config)
        clones[id(layer)] = new
        originals[id(new)] = layer
        return new

    # id(new tensor) -> (producer original layer or None, quantized: bool)
    produced = {}
    quantized_copy = {}  # id(raw tensor) -> its quantized tensor

    def quantize(tensor, producer):
        key = id(tensor)
        if key not in quantized_copy:
            if producer is None:
                name = f"{tensor.name}_quant" if tensor.name else None
                mode = "all_values"
            else:
                name, mode = f"{producer.name}_quant", "moving_average"
            out = QuantizeLayer(mode=mode, name=name)(tensor)
            produced[id(out)] = (producer, True)
            quantized_copy[key] = out
        return quantized_copy[key]

    def call(new_layer, *args, **kwargs):
        layer = originals[id(new_layer)]
        chosen = id(layer) in selected

        def prepare(value):
            if not isinstance(value, keras.KerasTensor):
                return value
            producer, is_quantized = produced.get(id(value), (None, False))
            if is_quantized:
                return value
            producer_selected = producer is not None and id(producer) in selected
            if producer_selected and _kind(producer) in ("kernel", "output"):
                # A quantized layer's output is int8, unless the converter
                # fuses it into this (quantized) consumer.
                if chosen and _fuses(producer, layer):
                    return value
                return quantize(value, producer)
            # A float tensor entering a quantized layer gets a range.
            return quantize(value, producer) if chosen else value

        args = keras.tree.map_structure(prepare, args)
        kwargs = keras.tree.map_structure(prepare, kwargs)
        outputs = new_layer(*args, **kwargs)
        kind = _kind(layer) if chosen else None
        if kind == "pass":
            inputs = [
                t for t in keras.tree.flatten(args) if isinstance(t, keras.KerasTensor)
            ]
            done = all(produced.get(id(t), (None, False))[1] for t in inputs)
        else:
            done = kind == "pre_activation" or (
                kind == "kernel" and new_layer.pre_quantizes_activation
            )
        for tensor in keras.tree.flatten(outputs):
            produced[id(tensor)] = (layer, done)
        return outputs

    new_inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in functional.inputs
    ]
    for tensor in new_inputs:
        produced[id(tensor)] = (None, False)
    input_structure = keras.tree.pack_sequence_as(functional.input, new_inputs)
    cloned = keras.models.clone_model(
        functional,
        input_tensors=input_structure,
        clone_function=clone,
        call_function=call,
    )
    outputs = []
    for tensor in keras.tree.flatten(cloned.output):
        producer, is_quantized = produced.get(id(tensor), (None, True))
        if (
            not is_quantized
            and producer is not None
            and id(producer) in selected
            and _kind(producer) in ("kernel", "output")
        ):
            tensor = quantize(tensor, producer)
        outputs.append(tensor)
    qat = keras.Model(
        input_structure,
        keras.tree.pack_sequence_as(cloned.output, outputs),
        name=model.name,
    )
    for layer in _all_layers(functional):
        if id(layer) in nested:
            continue
        new = clones[id(layer)]
        for target, source in zip(new.weights, layer.weights, strict=False):
            # A copy: on JAX, assigning the array itself shares its buffer,
            # which fitting the QAT model donates, deleting `model`'s weight.
            target.assign(keras.ops.copy(source))
    return qat


def activation_ranges(model) -> dict[str, tuple[float, float]]:
    """The learned int8 ranges of a quantization-aware model.

    Args:
        model: keras.Model made by `quantize_model`.

    Returns:
        dict: {layer name: (min, max)} for each QuantizeLayer, plus
        "<layer>/pre_activation" for kernel layers quantized before a
        softmax/sigmoid/tanh.

    Example:
    >>> activation_ranges(qat)["conv1_quant"]
    (0.0, 5.91)
    """
    ranges = {}
    for layer in model.layers:
        if isinstance(layer, QuantizeLayer):
            ranges[layer.name] = (
                float(keras.ops.convert_to_numpy(layer.range_min)),
                float(keras.ops.convert_to_numpy(layer.range_max)),
            )
        pre = getattr(layer, "_pre_range", None)
        if pre is not None:
            ranges[f"{layer.name}/pre_activation"] = (
                float(keras.ops.convert_to_numpy(pre.min)),
                float(keras.ops.convert_to_numpy(pre.max)),
            )
    return ranges
