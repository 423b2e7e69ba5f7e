"""Compression: pruning, quantization-aware training, post-training
quantization, weight clustering, knowledge distillation and LoRA/QLoRA, all
Keras-3-native and multi-backend, in TFMOT's vocabulary.
"""
