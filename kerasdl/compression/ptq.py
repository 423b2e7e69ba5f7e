"""Post-training quantization: Keras' `model.quantize`, on a copy, measured.

`quantize(model, mode, evaluation_data=(x, y))` clones the model, quantizes
the copy with Keras (int8, int4, float8 or GPTQ) and reports what it cost:
accuracy and loss before and after, the largest output change, and the
bytes of the parameters before and after.

What each mode stores (Keras 3.15, Dense / EinsumDense / Embedding layers;
other layers stay float32):

- "int8": int8 kernel + a float32 scale per output channel; inputs are
  quantized per row on the fly.
- "int4": int4 kernel packed two per int8 byte, with per-group scales and
  zero points (block size 128 by default, `block_size=-1` for per channel).
- "float8": float8 (e4m3/e5m2) compute with delayed scaling; Keras keeps
  the kernel in float32 and adds scale/amax-history variables, so the
  stored model does not shrink.
- "gptq": GPTQ (Frantar et al. 2022) 2/3/4/8-bit weights calibrated on
  data, with error correction from the layer's input Hessian. Keras drives
  GPTQ with token ids and a block structure (it was written for language
  models); kerasdl also supports a plain chain of Dense layers on feature
  vectors (an MLP) by feeding calibration vectors through a lookup "token"
  table. Pass `calibration_data=x` for such a model, or a Keras
  `GPTQConfig` as `config=` for a language model.

Example:
>>> quantized, metrics = quantize(model, "int8", evaluation_data=(x, y))
>>> metrics["accuracy_before"], metrics["accuracy_after"]  # digits MLP
(0.9647, 0.9647)
>>> metrics["compression_ratio"]  # float32 -> int8 kernels + scales
3.59...
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np

from kerasdl._checks import closest
from kerasdl.compression import _selection

__all__ = ["PTQ_MODES", "param_bytes", "quantize"]

logger = logging.getLogger(__name__)

#: Modes accepted by `quantize`.
PTQ_MODES = ("int8", "int4", "float8", "gptq")
_QUANTIZABLE = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Embedding)
_GPTQ_OPTIONS = {
    "weight_bits": 4,
    "group_size": -1,
    "num_samples": 256,
    "hessian_damping": 0.01,
    "symmetric": False,
    "activation_order": False,
}
_GPTQ_CHUNK = 64  # calibration vectors per GPTQ forward pass


def param_bytes(model) -> int:
    """Bytes of all the model's variables, at their stored dtypes.

    Args:
        model: keras.Model.

    Returns:
        int: sum over variables of elements x bytes per element (a packed
        int4 kernel counts one byte per two values, as stored).
    """
    total = 0
    for variable in model.weights:
        total += int(np.prod(variable.shape)) * np.dtype(str(variable.dtype)).itemsize
    return total


def _clone(model):
    clone = keras.models.clone_model(model)
    if not clone.built:
        clone.build_from_config(model.get_build_config())
    clone.set_weights(model.get_weights())
    return clone


def _predict(model, x, batch_size: int) -> np.ndarray:
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(outputs, (list, tuple, dict)):
        raise ValueError(
            "evaluation_data needs a single-output model; this one returns "
            f"{type(outputs).__name__} of {len(outputs)} outputs."
        )
    return np.asarray(outputs, dtype="float64")


def _outputs_probabilities(model) -> bool:
    layer = model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or (
        getattr(activation, "__name__", "") == "softmax"
    )


def _scores(outputs: np.ndarray, y, probabilities: bool) -> dict:
    """Accuracy and cross-entropy for class labels, else MSE and MAE."""
    y = np.asarray(y)
    classification = outputs.ndim == 2 and outputs.shape[1] >= 2
    if classification and y.ndim in (1, 2) and y.shape[0] == outputs.shape[0]:
        if y.ndim == 2 and y.shape[1] == outputs.shape[1]:
            labels = np.argmax(y, axis=1)
        else:
            labels = y.reshape(-1).astype("int64")
        if probabilities:
            log_probs = np.log(np.clip(outputs, 1e-7, 1.0))
        else:
            shifted = outputs - outputs.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(len(labels)), labels].mean()
        accuracy = (outputs.argmax(axis=1) == labels).mean()
        return {"accuracy": float(accuracy), "loss": float(loss)}
    y = y.reshape(outputs.shape).astype("float64")
    return {
        "loss": float(np.mean((outputs - y) ** 2)),
        "mae": float(np.mean(np.abs(outputs - y))),
    }


def quantize(model, mode, evaluation_data=None, **options):
    """Quantizes a copy of `model` with Keras and measures the effect.

    Args:
        model: keras.Model. A built, trained float model; it is not changed.
        mode: str. "int8", "int4", "float8" or "gptq".
        evaluation_data: tuple (x, y) of arrays or None. With it, the
            metrics include accuracy and cross-entropy (class labels, one
            per row, or one-hot) or MSE and MAE (anything else), before and
            after, and the largest absolute output change.
        **options: mode options.
            all modes: `layers` (list of layer names; default every Dense,
            EinsumDense and Embedding layer), `batch_size` (evaluation batch,
            default 256).
            "int4": `block_size` (int, default 128; -1 for one scale per
            output channel).
            "gptq": either `calibration_data` (array of model inputs, for a
            chain of Dense/elementwise layers on (batch, features) inputs)
            plus optional `weight_bits` (2, 3, 4, 8; default 4),
            `group_size` (-1 per channel or a positive int; default -1),
            `num_samples` (default 256), `hessian_damping` (0.01),
            `symmetric` (False), `activation_order` (False); or `config`,
            a `keras.quantizers.GPTQConfig` with dataset, tokenizer and
            layer structure (language models).

    Returns:
        tuple (quantized_model, metrics). metrics is a dict with "mode",
        "param_bytes_before", "param_bytes_after", "compression_ratio",
        "quantized_layers" and, with evaluation_data, "accuracy_before" /
        "accuracy_after" (classification), "loss_before" / "loss_after"
        (and "mae_*" for regression) and "max_abs_output_diff".

    Raises:
        ValueError: for an unknown mode or option, a layer that Keras
            cannot quantize, or a model that GPTQ cannot calibrate (with
            what it needs).

    Example:
    >>> q, m = quantize(model, "gptq", evaluation_data=(x_test, y_test),
    ...                 calibration_data=x_train[:256], weight_bits=4)
    """
    if mode not in PTQ_MODES:
        raise ValueError(
            f"Invalid mode={mode!r}.{closest(str(mode), PTQ_MODES)} Accepted: "
            f"{', '.join(repr(m) for m in PTQ_MODES)}."
        )
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            f"Invalid model={model!r}: expected a built keras.Model (call it "
            "on data or give it an Input first)."
        )
    options = dict(options)
    layer_names = options.pop("layers", None)
    batch_size = options.pop("batch_size", 256)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(f"Invalid batch_size={batch_size!r}: expected an int >= 1.")
    if evaluation_data is not None and (
        not isinstance(evaluation_data, (tuple, list)) or len(evaluation_data) != 2
    ):
        raise ValueError(
            "Invalid evaluation_data: expected a tuple (x, y) of arrays, "
            f"received {type(evaluation_data).__name__}."
        )

    quantized = _clone(model)
    targets = _targets(quantized, layer_names)
    ids = {id(layer) for layer in targets}

    if mode == "gptq":
        config = _gptq_config(quantized, targets, options)
        with _quiet_progress(), _hessian_capture(targets):
            quantized.quantize(
                "gptq", config=config, filters=lambda layer: id(layer) in ids
            )
        _drop_calibration(targets, config)
    else:
        config = None
        if mode == "int4":
            block_size = options.pop("block_size", 128)
            if block_size != -1 and (
                isinstance(block_size, bool)
                or not isinstance(block_size, int)
                or block_size < 1
            ):
                raise ValueError(
                    f"Invalid block_size={block_size!r}: expected -1 (per "
                    "output channel) or an int >= 1."
                )
            config = keras.quantizers.Int4QuantizationConfig(block_size=block_size)
        if options:
            raise ValueError(
                f"Unknown options for mode={mode!r}: {sorted(options)}. Accepted: "
                "layers, batch_size" + (", block_size" if mode == "int4" else "") + "."
            )
        quantized.quantize(mode, config=config, filters=lambda layer: id(layer) in ids)

    metrics: dict = {
        "mode": mode,
        "quantized_layers": [layer.name for layer in targets],
        "param_bytes_before": param_bytes(model),
        "param_bytes_after": param_bytes(quantized),
    }
    metrics["compression_ratio"] = (
        metrics["param_bytes_before"] / metrics["param_bytes_after"]
    )
    if evaluation_data is not None:
        x, y = evaluation_data
        before = _predict(model, x, batch_size)
        after = _predict(quantized, x, batch_size)
        probabilities = _outputs_probabilities(model)
        for suffix, outputs in (("before", before), ("after", after)):
            for key, value in _scores(outputs, y, probabilities).items():
                metrics[f"{key}_{suffix}"] = value
        metrics["max_abs_output_diff"] = float(np.max(np.abs(before - after)))
    logger.info("PTQ %s: %s", mode, metrics)
    return quantized, metrics


def _targets(model, layer_names) -> list:
    """The layers to quantize, by the one selection rule (nested ones too)."""
    chosen = _selection.select_layers(
        model,
        layer_names,
        accepts=lambda layer: isinstance(layer, _QUANTIZABLE),
        what="quantize",
        supported=[t.__name__ for t in _QUANTIZABLE],
        refusal="cannot be quantized by Keras",
    )
    if layer_names is None and not chosen:
        raise ValueError(
            f"Model {model.name!r} has no layer Keras can quantize "
            "(Dense, EinsumDense, Embedding)."
        )
    return chosen


# ---------------------------------------------------------------- GPTQ
def _no_tokenizer(text):
    # Keras requires a tokenizer; the calibration "tokens" are already ids.
    raise ValueError(f"kerasdl's GPTQ calibration has no text to tokenize: {text!r}")


class _CalibrationLookup(keras.layers.Layer):
    """Maps a GPTQ "token id" to a chunk of calibration vectors.

    Keras' GPTQ feeds int32 token windows through `pre_block_layers`; with
    this lookup as the only pre-block layer, token i becomes chunk i of the
    calibration inputs, shape (1, chunk, features).
    """

    def __init__(self, chunks: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self._chunks = keras.ops.convert_to_tensor(chunks, dtype="float32")

    def call(self, ids):
        ids = keras.ops.reshape(ids, (-1,))  # (1, 1) -> (1,)
        return keras.ops.take(self._chunks, ids, axis=0)  # (1, chunk, features)


def _gptq_requirements(model, reason: str) -> ValueError:
    return ValueError(
        f"GPTQ cannot calibrate model {model.name!r}: {reason}. Keras' GPTQ "
        "runs calibration data through the model block by block and needs "
        "either (a) a `keras.quantizers.GPTQConfig` passed as config= with a "
        "dataset, a tokenizer and a quantization_layer_structure "
        "(pre_block_layers, sequential_blocks), as for keras-hub language "
        "models, or (b) for kerasdl's own path, calibration_data= and a "
        "single-input model whose layers form one chain on (batch, features) "
        "tensors (Dense, activations, normalization, dropout), i.e. an MLP "
        "on feature vectors. Use mode='int8' or 'int4' for other models."
    )


def _chain(model) -> list:
    """The model's layers if they form one chain on rank-2 tensors."""
    if len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        raise _gptq_requirements(model, "it does not have exactly one input/output")
    current = model.inputs[0]
    if len(current.shape) != 2:
        raise _gptq_requirements(
            model, f"its input has shape {tuple(current.shape)}, not (batch, features)"
        )
    chain = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            layer_input, layer_output = layer.input, layer.output
        except (AttributeError, ValueError) as err:
            raise _gptq_requirements(
                model, f"layer {layer.name!r} is used more than once"
            ) from err
        if layer_input is not current:
            raise _gptq_requirements(
                model, f"layer {layer.name!r} does not follow the previous layer"
            )
        if len(layer_output.shape) != 2:
            raise _gptq_requirements(
                model,
                f"layer {layer.name!r} outputs shape {tuple(layer_output.shape)}, "
                "not (batch, features)",
            )
        chain.append(layer)
        current = layer_output
    if current is not model.outputs[0]:
        raise _gptq_requirements(model, "its layers do not form a single chain")
    return chain


def _gptq_config(model, targets, options: dict):
    if "config" in options:
        config = options.pop("config")
        if options:
            raise ValueError(
                f"Give either config= or kerasdl's GPTQ options, not both; "
                f"received config and {sorted(options)}."
            )
        if not isinstance(config, keras.quantizers.GPTQConfig):
            raise ValueError(
                f"Invalid config={config!r}: expected a keras.quantizers.GPTQConfig."
            )
        return config
    if "calibration_data" not in options:
        raise _gptq_requirements(model, "no calibration_data was given")
    x = np.asarray(options.pop("calibration_data"), dtype="float32")
    unknown = sorted(set(options) - set(_GPTQ_OPTIONS))
    if unknown:
        raise ValueError(
            f"Unknown GPTQ options {unknown}. Accepted: calibration_data, "
            f"config, layers, batch_size, {', '.join(_GPTQ_OPTIONS)}."
        )
    settings = {**_GPTQ_OPTIONS, **options}
    chain = _chain(model)
    features = model.inputs[0].shape[1]
    if x.ndim != 2 or x.shape[1] != features or len(x) == 0:
        raise ValueError(
            f"Invalid calibration_data of shape {x.shape}: expected "
            f"(samples, {features}) like the model input."
        )
    num_samples = settings["num_samples"]
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or num_samples < 1
    ):
        raise ValueError(f"Invalid num_samples={num_samples!r}: expected an int >= 1.")
    x = x[:num_samples]
    chunk = min(_GPTQ_CHUNK, len(x))
    count = math.ceil(len(x) / chunk)
    # Repeat the first rows to fill the last chunk: a few duplicated rows only
    # reweight the Hessian estimate slightly.
    chunks = np.resize(x, (count * chunk, features)).reshape(count, chunk, features)
    try:
        return keras.quantizers.GPTQConfig(
            dataset=np.arange(count, dtype="int32"),
            tokenizer=_no_tokenizer,
            weight_bits=settings["weight_bits"],
            num_samples=count,
            sequence_length=1,
            hessian_damping=settings["hessian_damping"],
            group_size=settings["group_size"],
            symmetric=settings["symmetric"],
            activation_order=settings["activation_order"],
            quantization_layer_structure={
                "pre_block_layers": [_CalibrationLookup(chunks, name="calibration")],
                "sequential_blocks": chain,
            },
        )
    except ValueError as err:
        raise ValueError(f"Invalid GPTQ option: {err}") from None


class _hessian_capture:
    """Lets Keras' GPTQ see the calibration activations.

    Keras 3.15 collects each layer's input Hessian by wrapping `layer.call`,
    but a layer in "gptq" mode is run through `quantized_call`, so the
    wrapper never fires and GPTQ silently degrades to round-to-nearest with
    an identity Hessian. While calibrating, an uncalibrated GPTQ layer is
    routed through `call` (which computes with its float kernel, exactly as
    its uncalibrated `quantized_call` does); once calibrated, it runs its
    quantized kernel again.
    """

    def __init__(self, layers):
        self._layers = list(layers)
        self.routed = 0

    def _route(self, layer, quantized_call):
        def call(*args, **kwargs):
            if getattr(layer, "is_gptq_calibrated", True):
                return quantized_call(*args, **kwargs)
            self.routed += 1
            return layer.call(*args, **kwargs)

        return call

    def __enter__(self):
        for layer in self._layers:
            layer.quantized_call = self._route(layer, layer.quantized_call)
        return self

    def __exit__(self, exc_type, *exc):
        for layer in self._layers:
            del layer.quantized_call
        if exc_type is None and self.routed == 0:
            raise RuntimeError(
                "GPTQ calibration did not run any quantized layer on the "
                "calibration data; the Hessians would be empty."
            )


class _quiet_progress:
    """Routes Keras' GPTQ progress bar to logging while it runs."""

    def __enter__(self):
        self._was = keras.config.is_interactive_logging_enabled()
        keras.config.disable_interactive_logging()

    def __exit__(self, *exc):
        if self._was:
            keras.config.enable_interactive_logging()


def _drop_calibration(targets, config) -> None:
    # Each GPTQ layer keeps the config (calibration table, block references)
    # for get_config; keep only its serializable settings so the quantized
    # model saves and clones.
    plain = keras.quantizers.GPTQConfig(
        dataset=None,
        tokenizer=None,
        weight_bits=config.weight_bits,
        num_samples=config.num_samples,
        sequence_length=config.sequence_length,
        hessian_damping=config.hessian_damping,
        group_size=config.group_size,
        symmetric=config.symmetric,
        activation_order=config.activation_order,
    )
    for layer in targets:
        if getattr(layer, "quantization_config", None) is config:
            layer.quantization_config = plain
