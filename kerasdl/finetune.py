"""Fine-tuning a pre-trained language model: full, LoRA and QLoRA side by side.

`finetune(model, data, method)` adapts a copy of a pre-trained next-token
model (such as the character GPT, `kerasdl.build("gpt", ...)`) to new text
and measures what each method costs and gains:

- "full": every weight trains (the reference);
- "lora": the base is frozen and low-rank adapters train in its Dense /
  EinsumDense / Embedding / convolution layers (`compression.lora`);
- "qlora_int8" / "qlora_int4": the base of those layers is first quantized
  to int8 or packed int4 (Keras' `model.quantize`), then adapters train in
  float32 over the fixed integer base.

The result holds validation perplexity before and after training, trainable
parameters, the bytes of the file that must be shipped for the adaptation
(the adapters alone, or the whole weights file for full fine-tuning), the
peak memory of training and the wall time.

Peak memory is measured as the growth of the process's resident set size
(RSS) during training, sampled every millisecond (`kerasdl._memory.
PeakMemory`; the lifetime peak where /proc is missing): on CPU every
backend allocates its tensors in process memory, which `tracemalloc` cannot
see (it tracks Python's allocator only). It includes what the backend
allocates for activations and compilation, and it does not include
accelerator memory. The counted `state_bytes` (weights + gradients +
optimizer slots, from the real variables) is the deterministic part of it.

Example:
>>> source = lm_dataset(docs, tokenizer, seq_len=64)
>>> result = finetune(pretrained, source, method="lora", rank=8)
>>> result.perplexity_before, result.perplexity, result.adapter_bytes
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import tempfile
import time

import keras
import numpy as np

from kerasdl._checks import check_choice, check_int, invalid
from kerasdl._memory import PeakMemory
from kerasdl.compression.lora import enable_lora, lora_layers, qlora, save_adapters
from kerasdl.training import Trainer
from kerasdl.training.config import load_config

__all__ = ["METHODS", "FinetuneResult", "finetune", "perplexity"]

logger = logging.getLogger(__name__)

#: Accepted `method` values of `finetune`.
METHODS = ("full", "lora", "qlora_int8", "qlora_int4")

# Next-token training: the model outputs logits.
_LM_LOSS = {"name": "sparse_categorical_crossentropy", "from_logits": True}
# Windows per evaluation call (memory: batch x seq x vocabulary float32 logits).
_EVAL_BATCH = 64
_DEFAULT_TRAINING = {
    "seed": 0,
    "epochs": 1,
    "batch_size": 32,
    "optimizer": {"name": "adamw", "learning_rate": 1e-3, "global_clipnorm": 1.0},
    "loss": _LM_LOSS,
    "verbose": 0,
}


@dataclasses.dataclass(frozen=True, eq=False)
class FinetuneResult:
    """What one fine-tuning run gave and cost.

    Attributes:
        method: str. One of `METHODS`.
        model: keras.Model. The adapted copy (with adapters for LoRA/QLoRA).
        perplexity_before: float. Validation perplexity of the copy before
            training (for QLoRA: of the quantized base, so the cost of
            quantization shows).
        perplexity: float. Validation perplexity after training.
        trainable_params: int. Scalar elements that trained.
        total_params: int. Scalar elements of all variables (a packed int4
            kernel counts as stored, two values per int8 element).
        adapter_bytes: int. Size of the saved file that carries the
            adaptation: the adapters (.npz) for LoRA/QLoRA, the whole
            weights file (.weights.h5) for full fine-tuning.
        adapter_path: str or None. That file, when `save_dir` was given.
        peak_memory_bytes: int. Measured growth of the process RSS during
            training (see `memory_source`).
        memory_source: str. How `peak_memory_bytes` was measured.
        state_bytes: int. Counted bytes of weights + gradients + optimizer
            slots during training.
        seconds: float. Wall time of training (perplexity evaluations and
            saving excluded).
        history: dict. `History.history` of the training run.
    """

    method: str
    model: keras.Model
    perplexity_before: float
    perplexity: float
    trainable_params: int
    total_params: int
    adapter_bytes: int
    adapter_path: str | None
    peak_memory_bytes: int
    memory_source: str
    state_bytes: int
    seconds: float
    history: dict

    @property
    def trainable_fraction(self) -> float:
        """float: trainable_params / total_params."""
        return self.trainable_params / self.total_params if self.total_params else 0.0


# ------------------------------------------------------------------ measuring
def perplexity(model, x, y, batch_size: int = 64) -> float:
    """exp(mean next-token cross-entropy) of a logits model on (x, y).

    Args:
        model: keras.Model mapping token ids (batch, seq) to logits
            (batch, seq, vocabulary).
        x: int array (N, seq). Input windows.
        y: int array (N, seq). Next-token targets.
        batch_size: int. Windows per forward pass.

    Returns:
        float: the perplexity (1 is perfect; the vocabulary size is chance).

    Raises:
        ValueError: for empty data or mismatched shapes.
    """
    check_int("batch_size", batch_size, minimum=1)
    x, y = np.asarray(x), np.asarray(y)
    if not len(x) or x.shape != y.shape:
        raise ValueError(
            f"perplexity needs x and y of one non-empty (N, seq) shape; "
            f"received x {x.shape} and y {y.shape}."
        )
    total, count = 0.0, 0
    for start in range(0, len(x), batch_size):
        # An eager call: a few batches per model, so compiling a predict
        # function (jit / tf.function) would cost more than it saves.
        logits = model(x[start : start + batch_size], training=False)
        logits = np.asarray(keras.ops.convert_to_numpy(logits), np.float64)
        # log-softmax by the log-sum-exp trick: stable for large logits.
        top = logits.max(axis=-1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        target = np.take_along_axis(
            logits, y[start : start + batch_size, ..., None], -1
        )
        total += float((log_norm - target[..., 0]).sum())
        count += target.size
    return math.exp(total / count)


def _elements(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def _bytes(variables) -> int:
    return sum(
        int(np.prod(v.shape))
        * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
        for v in variables
    )


# ------------------------------------------------------------------ fine-tuning
def _split_data(data):
    """((x_train, y_train), (x_val, y_val)) from an LMDataset or a pair of pairs."""
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val
    if isinstance(data, (list, tuple)) and len(data) == 2:
        train, val = data
        if all(isinstance(p, (list, tuple)) and len(p) == 2 for p in (train, val)):
            return tuple(train), tuple(val)
    raise invalid(
        "data",
        data,
        "an LMDataset (kerasdl.data.text.lm_dataset) or "
        "((x_train, y_train), (x_val, y_val))",
    )


def _copy(model):
    # Every method starts from the same pre-trained weights; the caller's
    # model is never changed, and the copy is not compiled: clone_model would
    # compile it like the original, and the Trainer would then keep that
    # optimizer instead of the configured one.
    copy = type(model).from_config(model.get_config())
    if not copy.built:
        copy.build_from_config(model.get_build_config())
    copy.set_weights(model.get_weights())
    return copy


def _prepare(model, method: str, rank, alpha, layers):
    if method == "full":
        return model
    if method == "lora":
        return enable_lora(model, rank, alpha, layers=layers)
    return qlora(model, rank, mode=method.split("_")[1], alpha=alpha, layers=layers)


def _save(model, method: str, directory: str) -> str:
    if method == "full":
        path = os.path.join(directory, "full.weights.h5")
        model.save_weights(path)
    else:
        path = os.path.join(directory, f"{method}_adapters.npz")
        save_adapters(model, path)
    return path


def finetune(
    model,
    data,
    method="lora",
    rank=8,
    alpha=None,
    layers=None,
    training=None,
    save_dir=None,
) -> FinetuneResult:
    """Adapts a copy of a pre-trained language model to new data, measured.

    Args:
        model: keras.Model. A built float model mapping token ids to
            next-token logits (e.g. the GPT). It is not changed: a copy
            with the same weights is fine-tuned.
        data: `LMDataset` (from `kerasdl.data.text.lm_dataset`, with the
            tokenizer the model was trained with) or
            `((x_train, y_train), (x_val, y_val))` token-id arrays.
        method: str. "full", "lora", "qlora_int8" or "qlora_int4".
        rank: int. Adapter rank (>= 1) for the LoRA methods; not used by
            "full".
        alpha: float or None. LoRA scale numerator (None: alpha = rank).
        layers: None or list. Layers that get adapters (and, for QLoRA, a
            quantized base); None: every supported layer. See
            `kerasdl.compression.lora.enable_lora`.
        training: dict, str, os.PathLike or None. Trainer config (epochs,
            batch_size, optimizer, ...; see `kerasdl.training.Trainer`).
            Missing keys take: seed 0, 1 epoch, batch 32, AdamW at 1e-3 with
            global clipnorm 1, next-token cross-entropy on logits.
        save_dir: str, os.PathLike or None. Folder that keeps the adapter
            (or full weights) file; None: it is written to a temporary
            folder, measured and removed.

    Returns:
        `FinetuneResult`.

    Raises:
        ValueError: for an unknown method, a bad rank or alpha, bad data,
            or an invalid training config.

    Example:
    >>> result = finetune(pretrained, target, method="qlora_int4", rank=4)
    >>> print(result.perplexity_before, result.perplexity, result.adapter_bytes)
    """
    check_choice("method", method, METHODS)
    if method != "full":
        rank = check_int("rank", rank, minimum=1)
    (x_train, y_train), (x_val, y_val) = _split_data(data)
    if isinstance(training, dict) or training is None:
        training = {**_DEFAULT_TRAINING, **(training or {})}
    config = load_config(training)
    if config.loss is None:
        config = config.replace(loss=_LM_LOSS)
    if lora_layers(model):
        raise ValueError(
            f"Model {model.name!r} already has LoRA adapters; finetune needs the "
            "plain pre-trained model (merge them first with merge_lora)."
        )

    if config.seed is not None:
        # The adapters' random initial factors are drawn here.
        keras.utils.set_random_seed(config.seed)
    tuned = _prepare(_copy(model), method, rank, alpha, layers)
    before = perplexity(tuned, x_val, y_val, _EVAL_BATCH)
    trainer = Trainer(config)
    with PeakMemory() as memory:
        start = time.perf_counter()
        # No validation pass inside fit: perplexity is measured once, after.
        history = trainer.fit(tuned, x_train, y_train)
        seconds = time.perf_counter() - start
    after = perplexity(tuned, x_val, y_val, _EVAL_BATCH)
    state = (
        _bytes(tuned.weights)
        + _bytes(tuned.trainable_weights)  # one gradient per trainable weight
        + _bytes(tuned.optimizer.variables)
    )
    with contextlib.ExitStack() as stack:
        directory = (
            os.fspath(save_dir)
            if save_dir is not None
            else stack.enter_context(tempfile.TemporaryDirectory())
        )
        os.makedirs(directory, exist_ok=True)
        path = _save(tuned, method, directory)
        size = os.path.getsize(path)
    result = FinetuneResult(
        method=method,
        model=tuned,
        perplexity_before=before,
        perplexity=after,
        trainable_params=_elements(tuned.trainable_weights),
        total_params=_elements(tuned.weights),
        adapter_bytes=size,
        adapter_path=path if save_dir is not None else None,
        peak_memory_bytes=memory.growth_bytes,
        memory_source=f"growth of {memory.source}",
        state_bytes=state,
        seconds=seconds,
        history=dict(history.history),
    )
    logger.info(
        "finetune %s: perplexity %.3f -> %.3f, %d trainable, %d bytes saved",
        method,
        before,
        after,
        result.trainable_params,
        size,
    )
    return result
