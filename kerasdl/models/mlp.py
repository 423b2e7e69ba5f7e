"""Fully connected networks: Rosenblatt's perceptron and the multilayer perceptron.

Both flatten an input of any rank, so the same builder serves tabular vectors,
1-D signals (MNIST-1D) and images (MNIST).
"""

from __future__ import annotations

import keras
from keras import layers

from kerasdl.models._common import (
    check_activation,
    check_bool,
    check_choice,
    check_float,
    check_initializer,
    check_int,
    dense_stack,
    make_input,
)
from kerasdl.models._hparams import builder_sections, doc_sections
from kerasdl.models.heads import ClassificationHead, dense_head, finish_model
from kerasdl.registry import register_model

__all__ = ["mlp", "perceptron"]

# Output activations of the perceptron. Rosenblatt's hard threshold has a zero
# gradient almost everywhere, so gradient descent cannot train it; "tanh"
# (sign-like, targets in {-1, 1}) and "hard_sigmoid" (a piecewise-linear step)
# are its trainable stand-ins.
PERCEPTRON_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "tanh", "softmax", "linear", None)


def _flatten(inputs):
    # A rank-1 input is already flat; a Flatten layer there would be a no-op.
    if len(inputs.shape) > 2:
        return layers.Flatten(name="flatten")(inputs)
    return inputs


def perceptron(
    input_shape=(784,),
    num_classes=1,
    classifier_activation="sigmoid",
    kernel_initializer="glorot_uniform",
    weights=None,
):
    """Rosenblatt's single-layer perceptron: one Dense layer on the flat input.

    The model is `Flatten -> Dense(num_classes, classifier_activation)`: a
    linear decision function per output. With one output and "sigmoid" it is
    logistic regression; with "softmax" it is multinomial logistic regression.

    Args:
        input_shape: tuple. Input shape without the batch dimension, any rank; inputs of
            rank > 1 are flattened.
        num_classes: int. Number of outputs (1 for a binary perceptron).
        classifier_activation: str or None. Output activation: "sigmoid", "hard_sigmoid"
            (piecewise-linear step), "tanh" (sign-like, for targets in {-1, 1}),
            "softmax" (needs num_classes >= 2), "linear" or None.
        kernel_initializer: str. Initializer of the weights ("glorot_uniform", "zeros",
            "he_normal", ...).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Returns:
        A functional `keras.Model` named "perceptron".

    Raises:
        ValueError: if a hyperparameter is invalid, e.g. softmax with one output.

    Example:
    >>> model = perceptron(input_shape=(2,), num_classes=1)
    >>> model.count_params()
    3
    """
    check_int("num_classes", num_classes, minimum=1)
    check_choice("classifier_activation", classifier_activation, PERCEPTRON_ACTIVATIONS)
    if classifier_activation == "softmax" and num_classes < 2:
        raise ValueError(
            f"Invalid classifier_activation='softmax' with num_classes={num_classes}: "
            "a softmax over one output is constant; use 'sigmoid' or "
            "num_classes >= 2."
        )
    kernel_initializer = check_initializer(kernel_initializer)

    inputs = make_input(input_shape, rank=None)
    x = _flatten(inputs)
    # The perceptron accepts any Keras activation (step-like ones included),
    # so its head is the plain dense one.
    outputs = dense_head(
        x,
        num_classes,
        activation=classifier_activation,
        kernel_initializer=kernel_initializer,
    )
    return finish_model(inputs, outputs, "perceptron", weights)


@doc_sections(builder_sections("mlp"))
def mlp(
    input_shape=(784,),
    hidden_units=(256, 128),
    num_classes=10,
    activation="relu",
    dropout=0.0,
    batch_norm=False,
    l2=0.0,
    kernel_initializer="glorot_uniform",
    include_top=True,
    classifier_activation="softmax",
    weights=None,
):
    """Multilayer perceptron: a stack of Dense layers on the flat input.

    Each hidden layer i is `dense{i} -> [dense{i}_bn] -> dense{i}_act ->
    [dense{i}_dropout]`, followed by the shared classification head (a Dense
    layer named "predictions"). With `hidden_units=()` the model is
    multinomial logistic regression.

    Args:
        input_shape: tuple. Input shape without the batch dimension, any rank; inputs of
            rank > 1 are flattened.
        hidden_units: list of int. Width of each hidden layer, input to output; its
            length is the depth (may be empty).
        num_classes: int. Number of classes of the classifier.
        activation: str. Hidden activation ("relu", "leaky_relu", "gelu", "swish",
            "tanh", "sigmoid", ...).
        dropout: float. Dropout rate after every hidden layer, in [0, 1).
        batch_norm: bool. Add BatchNormalization between each hidden Dense layer and its
            activation.
        l2: float. L2 weight-decay factor on every Dense kernel, the
            classifier's included (kernel_regularizer); 0 disables it.
        kernel_initializer: str. Initializer of the Dense kernels ("glorot_uniform",
            "he_normal", aliases "he", "xavier", ...).
        include_top: bool. Add the classifier; if False the model outputs the last
            hidden features.
        classifier_activation: str or None. Activation of the classifier ("softmax",
            "sigmoid", None for logits, ...).
        weights: str or None. Path of a local weights file to load; never downloaded.

    Example:
    >>> model = mlp(input_shape=(28, 28), hidden_units=[128], num_classes=10)
    >>> model.count_params()  # 784*128 + 128 + 128*10 + 10
    101770
    """
    head = ClassificationHead(
        include_top, num_classes, None, classifier_activation, dropout
    )
    hidden_units = _check_units(hidden_units)
    check_activation(activation)
    check_bool("batch_norm", batch_norm)
    l2 = check_float("l2", l2, minimum=0.0)
    kernel_initializer = check_initializer(kernel_initializer)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None

    inputs = make_input(input_shape, rank=None)
    x = _flatten(inputs)
    x = dense_stack(
        x,
        hidden_units,
        "dense{i}",
        activation=activation,
        dropout=dropout,
        batch_norm=batch_norm,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=regularizer,
    )
    # Dropout was applied per hidden layer above; the head adds none.
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    return head.model(
        inputs, x, "mlp", weights, dropout=0.0, kernel_regularizer=regularizer
    )


def _check_units(value) -> list[int]:
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    )
    if not ok:
        raise ValueError(
            f"Invalid hidden_units={value!r}: expected a list of integers >= 1 "
            "(one width per hidden layer; may be empty)."
        )
    return list(value)


register_model(
    "perceptron",
    perceptron,
    family="mlp",
    tiny={"input_shape": (4, 4), "num_classes": 3},
)
register_model(
    "mlp",
    mlp,
    family="mlp",
    tiny={"input_shape": (4, 4), "hidden_units": (16, 8), "num_classes": 3},
)
