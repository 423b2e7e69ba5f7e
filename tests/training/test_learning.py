"""Learning tests: Trainer-trained models reach the published MNIST-1D accuracies.

Greydanus & Kobak (MNIST-1D): MLP 68%, CNN 94% test accuracy. Marked slow
(about a minute each): scripts/test.sh runs them once, on TensorFlow.
"""

import pytest

import kerasdl.data
from kerasdl.training import Trainer


def _conv(filters, kernel, strides=1):
    return [
        {
            "Conv1D": {
                "filters": filters,
                "kernel_size": kernel,
                "strides": strides,
                "padding": "same",
                "use_bias": False,
            }
        },
        "BatchNormalization",
        {"Activation": {"activation": "relu"}},
    ]


CNN = {
    "name": "mnist1d_cnn",
    "input_shape": [40, 1],
    "sequential": _conv(32, 5)
    + _conv(64, 3, 2)
    + _conv(64, 3)
    + _conv(128, 3, 2)
    + [
        "GlobalAveragePooling1D",
        {"Dropout": {"rate": 0.2}},
        {"Dense": {"units": 10, "activation": "softmax"}},
    ],
}
MLP = {
    "model": "mlp",
    "input_shape": [40, 1],
    "hidden_units": [512, 512],
    "dropout": 0.2,
    "num_classes": 10,
}


@pytest.fixture(scope="module")
def mnist1d():
    return kerasdl.data.load("mnist1d")


def _train(spec, data, epochs):
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 64,
            "verbose": 0,
            "optimizer": {
                "name": "adamw",
                "weight_decay": 1e-4,
                "learning_rate": {
                    "name": "cosine",
                    "learning_rate": 0.003,
                    "decay_steps": epochs * 63,
                },
            },
        }
    )
    trainer.fit(spec, data.x_train, data.y_train)
    scores = trainer.model.evaluate(
        data.x_test, data.y_test, verbose=0, return_dict=True
    )
    return scores["accuracy"]


@pytest.mark.slow
def test_mlp_reaches_published_mnist1d_accuracy(mnist1d):
    assert _train(MLP, mnist1d, epochs=40) >= 0.68


@pytest.mark.slow
def test_cnn_reaches_published_mnist1d_accuracy(mnist1d):
    assert _train(CNN, mnist1d, epochs=20) >= 0.94
