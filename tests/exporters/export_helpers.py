"""Tiny trained models and synthetic data shared by the export tests.

Models are built and trained on the backend under test (KERAS_BACKEND), so on
JAX and PyTorch the exports go through the TensorFlow conversion subprocess.
"""

import keras
import numpy as np

import kerasdl
from kerasdl.layers import ChannelPadding


def image_data(n=240, seed=0):
    """16x16 one-channel images; the class is the quadrant holding a bright patch."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = 0.3 * rng.standard_normal((n, 16, 16, 1)).astype("float32")
    for i, label in enumerate(y):
        row, col = divmod(int(label), 2)
        x[i, 8 * row + 1 : 8 * row + 7, 8 * col + 1 : 8 * col + 7, 0] += 1.5
    return x, y


def tiny_cnn():
    """A small residual conv net with BatchNorm, Dropout and a kerasdl layer."""
    layers = keras.layers
    inputs = keras.Input((16, 16, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem_conv")(inputs)
    # momentum 0.9: the moving statistics settle within the few training steps.
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="block_conv")(x)
    shortcut = ChannelPadding((4, 4), name="block_shortcut")(x)
    x = layers.Add(name="block_add")([y, shortcut])
    x = layers.MaxPooling2D(name="block_pool")(x)
    x = layers.Flatten(name="flatten")(x)  # keeps where the patch is
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def trained_cnn():
    keras.utils.set_random_seed(0)
    x, y = image_data()
    model = tiny_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model, x, y


def cluster_data(n=400, features=40, classes=10, seed=0):
    """Gaussian clusters: one random center per class plus unit noise."""
    rng = np.random.default_rng(seed)
    centers = 2.0 * rng.standard_normal((classes, features))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, features))).astype("float32")
    return x, y


def trained_mlp():
    """kerasdl's MLP with ~290k weights: enough for a clear int8 size ratio."""
    keras.utils.set_random_seed(0)
    x, y = cluster_data()
    model = kerasdl.build(
        "mlp", input_shape=(40,), hidden_units=[512, 512], num_classes=10
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model, x, y


def two_io_model():
    """Two named inputs, a class head and a regression head, trained briefly."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    pixels = keras.Input((8,), name="pixels")
    meta = keras.Input((3,), name="meta")
    h = layers.Concatenate(name="concat")(
        [layers.Dense(16, name="embed")(pixels), meta]
    )
    h = layers.Dense(32, activation="relu", name="hidden")(h)
    label = layers.Dense(4, activation="softmax", name="label")(h)
    score = layers.Dense(1, name="score")(h)
    model = keras.Model([pixels, meta], [label, score], name="two_io")
    rng = np.random.default_rng(1)
    px = rng.standard_normal((256, 8)).astype("float32")
    mt = rng.standard_normal((256, 3)).astype("float32")
    y_label = np.argmax(px[:, :4] + mt[:, :1], axis=-1)
    y_score = (px[:, 4:5] - 2.0 * mt[:, 1:2]).astype("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=["sparse_categorical_crossentropy", "mse"],
    )
    model.fit([px, mt], [y_label, y_score], epochs=8, batch_size=32, verbose=0)
    return model, {"pixels": px, "meta": mt}
