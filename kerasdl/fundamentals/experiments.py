"""One problem, many settings: the experiments of the fundamentals chapters.

Every setting is trained the same way (same data, same seed, so the same
initial weights for the same architecture, same epochs) through
`kerasdl.training.Trainer`, so a row differs from the next only in what the
setting changes: the activation, the loss, the optimizer and its learning
rate or schedule, depth and normalization, or a regularizer.

Example:
>>> data = small_digits(train_size=300)
>>> rows = compare_settings(
...     {"sgd": {"training": {"optimizer": {"name": "sgd", "learning_rate": 0.1}}},
...      "adam": {"training": {"optimizer": "adam"}}},
...     data, epochs=5)
>>> [(r["setting"], r["test_accuracy"]) for r in rows]
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
from keras import layers

import kerasdl.data
from kerasdl import _backend
from kerasdl._checks import check_bool, check_choice, check_int
from kerasdl.data.augmentation import make_augmentation
from kerasdl.data.dataset import Dataset
from kerasdl.fundamentals.gradients import layer_gradient_norms
from kerasdl.spec import build
from kerasdl.training import Trainer

__all__ = [
    "Split",
    "compare_settings",
    "deep_mlp",
    "gradient_norm_study",
    "small_digits",
]

# Hidden activations of `deep_mlp` (any Keras activation name works; these
# are the ones the chapters compare).
DEEP_ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "elu", "selu", "swish")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Split(Dataset):
    """A `kerasdl.data.Dataset` with a validation part held out of training.

    The validation part picks early-stopping points and draws curves; the
    test part is only scored.
    """

    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def small_digits(train_size=None, val_size=300, seed=0) -> Split:
    """The scikit-learn digits (8x8, 10 classes) with an optional small train set.

    Args:
        train_size: int or None. Training examples kept (a small set shows
            overfitting); None keeps all that remain after validation.
        val_size: int. Examples held out of the training part for validation
            (early stopping, curves).
        seed: int. Seed of the split.

    Returns:
        Split with images (n, 8, 8, 1) in [0, 1] and integer labels; the test
        part is the dataset's own.
    """
    check_int("val_size", val_size, minimum=1)
    digits = kerasdl.data.load("digits")
    order = np.random.default_rng(seed).permutation(len(digits.x_train))
    val, rest = order[:val_size], order[val_size:]
    if train_size is not None:
        check_int("train_size", train_size, minimum=1, maximum=len(rest))
        rest = rest[:train_size]
    return dataclasses.replace(
        Split(**{f.name: getattr(digits, f.name) for f in dataclasses.fields(digits)}),
        x_train=digits.x_train[rest],
        y_train=digits.y_train[rest],
        x_val=digits.x_train[val],
        y_val=digits.y_train[val],
    )


def deep_mlp(
    input_shape=(8, 8, 1),
    depth=10,
    width=32,
    num_classes=10,
    activation="sigmoid",
    residual=False,
    batch_norm=False,
) -> keras.Model:
    """A deep, narrow MLP for studying how gradients travel through depth.

    `Flatten -> stem Dense(width) -> depth x block -> predictions`, where a
    block is `Dense -> [BatchNormalization] -> activation`, added to its
    input when `residual` (x + f(x), the identity path that carries the
    gradient past the activations' derivatives).

    Args:
        input_shape: tuple. Input shape without the batch axis.
        depth: int. Number of hidden blocks.
        width: int. Units per hidden layer.
        num_classes: int. Softmax outputs.
        activation: str. Hidden activation (sigmoid, tanh, relu, gelu, ...).
        residual: bool. Add each block's output to its input.
        batch_norm: bool. Normalize each block's pre-activations.

    Returns:
        A functional keras.Model named "deep_mlp"; the hidden Dense layers are
        "block{i}_dense", i = 1..depth.
    """
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    check_int("num_classes", num_classes, minimum=2)
    check_choice("activation", activation, DEEP_ACTIVATIONS)
    check_bool("residual", residual)
    check_bool("batch_norm", batch_norm)
    inputs = keras.Input(tuple(input_shape))
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(width, activation=activation, name="stem")(x)
    for i in range(1, depth + 1):
        h = layers.Dense(width, name=f"block{i}_dense")(x)
        if batch_norm:
            h = layers.BatchNormalization(name=f"block{i}_bn")(h)
        h = layers.Activation(activation, name=f"block{i}_act")(h)
        x = layers.Add(name=f"block{i}_add")([x, h]) if residual else h
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="deep_mlp")


def gradient_norm_study(variants: dict, x, y, seed=0) -> dict:
    """Per-layer gradient norms of several `deep_mlp` variants at initialization.

    Args:
        variants: dict. label -> `deep_mlp` keyword arguments.
        x: one batch of inputs.
        y: its integer labels.
        seed: int. Seed of every variant's initial weights.

    Returns:
        dict. label -> list of (layer name, gradient norm), input to output
        (the stem, the blocks, the classifier).
    """
    norms = {}
    for label, kwargs in variants.items():
        keras.utils.set_random_seed(seed)
        model = deep_mlp(**kwargs)
        norms[label] = layer_gradient_norms(model, x, y)
    return norms


def _accuracy(model, x, y) -> float:
    # One direct call: predict() would trace a new function per model.
    probabilities = _backend.to_numpy(model(x, training=False))
    return float(np.mean(np.argmax(probabilities, axis=-1) == np.asarray(y)))


class _FirstBatchLoss(keras.callbacks.Callback):
    """Records the loss of the first training batch: the initial weights' loss."""

    def __init__(self):
        super().__init__()
        self.loss = None

    def on_train_batch_end(self, batch, logs=None):
        if self.loss is None and logs and "loss" in logs:
            self.loss = float(logs["loss"])


def _finite(values) -> list:
    # A diverged run logs inf/nan losses: kept as nan, which plots skip.
    return [v if math.isfinite(v) else math.nan for v in map(float, values)]


def compare_settings(
    settings: dict,
    data: Split,
    epochs=10,
    batch_size=32,
    seed=0,
    model=None,
    training=None,
) -> list[dict]:
    """Trains one model per setting on the same data and reports each.

    Args:
        settings: dict. label -> {"model": changes to the model spec,
            "training": changes to the Trainer config (optimizer, loss,
            callbacks, ...), "augmentation": a `make_augmentation` config
            applied to the training images inside the model, "one_hot":
            True to train on one-hot labels (for losses such as "mse")}.
            Every key is optional.
        data: Split.
        epochs: int. Epochs per setting (early stopping may end one sooner).
        batch_size: int.
        seed: int. Seeds the initial weights and the shuffling of every
            setting alike.
        model: dict, callable or None. Base model spec for `kerasdl.build`
            (default: a 64-unit ReLU MLP), or a function returning a
            keras.Model from a setting's "model" keywords (e.g. `deep_mlp`).
        training: dict or None. Base Trainer config; its loss defaults to
            (sparse) categorical cross-entropy.

    Returns:
        list of dicts, one per setting, in order: setting, history (Keras
        history dict), initial_loss (of the first batch, before any
        update), final_loss (last epoch's training loss; nan if it was
        not finite), diverged (bool: not finite, or above twice
        initial_loss), train_accuracy, test_accuracy, epochs (run), params,
        seconds.
    """
    check_int("epochs", epochs, minimum=1)
    base_model = model or {"model": "mlp", "hidden_units": [64]}
    if not callable(base_model):
        base_model = {
            "input_shape": list(data.x_train.shape[1:]),
            "num_classes": data.num_classes,
            **base_model,
        }
    base_training = {
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "verbose": 0,
        **(training or {}),
    }
    rows = []
    for label, setting in settings.items():
        unknown = set(setting) - {"model", "training", "augmentation", "one_hot"}
        if unknown:
            raise ValueError(
                f"Invalid settings[{label!r}] keys {sorted(unknown)}; accepted: "
                "model, training, augmentation, one_hot."
            )
        started = time.perf_counter()
        keras.utils.set_random_seed(seed)
        if callable(base_model):
            net = base_model(**setting.get("model", {}))
        else:
            net = build({**base_model, **setting.get("model", {})})
        if setting.get("augmentation"):
            augment = make_augmentation(setting["augmentation"], seed=seed)
            net = keras.Sequential([augment, net], name=f"augmented_{net.name}")
        y_train, y_val = data.y_train, data.y_val
        if setting.get("one_hot"):
            y_train = keras.utils.to_categorical(y_train, data.num_classes)
            y_val = keras.utils.to_categorical(y_val, data.num_classes)
        config = {**base_training, **setting.get("training", {})}
        # The loss is named: a model wrapped with its augmentation declares
        # no task, and the Trainer's guess from its output would be wrong.
        config.setdefault(
            "loss",
            "categorical_crossentropy"
            if setting.get("one_hot")
            else "sparse_categorical_crossentropy",
        )
        trainer = Trainer(config)
        first = _FirstBatchLoss()
        history = trainer.fit(
            net,
            data.x_train,
            y_train,
            validation_data=(data.x_val, y_val),
            callbacks=[first],
        ).history
        losses = _finite(history["loss"])
        # Diverged: a nan/inf loss (terminate_on_nan, on by default, stops
        # there), or training that ends at more than twice the loss it
        # started from (a margin for the noise of short runs). A softmax
        # classifier's cross-entropy stays finite (Keras clips the
        # probabilities), so a too-high learning rate shows as the latter.
        diverged = not math.isfinite(losses[-1]) or losses[-1] > 2 * first.loss
        rows.append(
            {
                "setting": label,
                "history": {k: _finite(v) for k, v in history.items()},
                "initial_loss": first.loss,
                "final_loss": losses[-1],
                "diverged": diverged,
                "train_accuracy": _accuracy(trainer.model, data.x_train, data.y_train),
                "test_accuracy": _accuracy(trainer.model, data.x_test, data.y_test),
                "epochs": len(history["loss"]),
                "params": trainer.model.count_params(),
                "seconds": time.perf_counter() - started,
            }
        )
    return rows
