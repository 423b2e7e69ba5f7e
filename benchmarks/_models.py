"""Untrained benchmark models whose batch-norm statistics match their inputs.

An untrained deep CNN in inference mode normalizes with the initial moving
statistics (mean 0, variance 1): activations drift through the layers until
ReLU6 saturates and every input gives the same output, which an export's
verification rightly refuses ("reference outputs that differ between
samples"). Setting each batch-norm layer's moving statistics to those of one
batch (momentum 0 for one training-mode call) gives the outputs of a model
whose statistics were tracked on such inputs, in one forward pass instead of
a training run; the work an export or an inference does is the same.
"""

from __future__ import annotations


def calibrated_model(spec: dict, input_shape, num_classes: int, images, seed: int = 0):
    """Builds `spec` with its batch-norm moving statistics set from `images`."""
    import keras

    import kerasdl
    from kerasdl._keras_compat import flatten_layers

    keras.utils.set_random_seed(seed)
    model = kerasdl.build({**spec, "input_shape": list(input_shape),
                           "num_classes": num_classes})  # fmt: skip
    norms = [
        layer
        for layer in flatten_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    return model
