"""Compression: pruning, quantization-aware training, post-training
quantization, weight clustering, knowledge distillation and LoRA/QLoRA, all
Keras-3-native and multi-backend, in TFMOT's vocabulary.

Example:
>>> from kerasdl.compression import prune_low_magnitude, PolynomialDecay
>>> pruned = prune_low_magnitude(model, PolynomialDecay(0.0, 0.8, 0, 1000))
"""

from kerasdl.compression import (  # noqa: F401
    clustering,
    distillation,
    lora,
    pruning,
    ptq,
    qat,
)
from kerasdl.compression.clustering import cluster_weights, strip_clustering
from kerasdl.compression.distillation import DistillationConfig, distill
from kerasdl.compression.lora import (
    enable_lora,
    load_adapters,
    merge_lora,
    qlora,
    save_adapters,
    trainable_fraction,
)
from kerasdl.compression.pipeline import compress
from kerasdl.compression.pruning import (
    ConstantSparsity,
    PolynomialDecay,
    UpdatePruningStep,
    prune_low_magnitude,
    sparsity,
    strip_pruning,
)
from kerasdl.compression.ptq import quantize
from kerasdl.compression.qat import activation_ranges, quantize_model
from kerasdl.compression.report import CompressionReport, report

__all__ = [
    "CompressionReport",
    "ConstantSparsity",
    "DistillationConfig",
    "PolynomialDecay",
    "UpdatePruningStep",
    "activation_ranges",
    "cluster_weights",
    "compress",
    "distill",
    "enable_lora",
    "load_adapters",
    "merge_lora",
    "prune_low_magnitude",
    "qlora",
    "quantize",
    "quantize_model",
    "report",
    "save_adapters",
    "sparsity",
    "strip_clustering",
    "strip_pruning",
    "trainable_fraction",
]
