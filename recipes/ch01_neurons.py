"""Chapter 1, neurons: a neuron and an MLP from scratch, then activations, losses and optimizers.

Thin recipe: plain settings and library calls. A NumPy neuron (3 vs 8) and a
NumPy MLP trained with hand-written backpropagation; then one Keras MLP on
the digits trained under each activation, loss, optimizer and learning-rate
setting with the same initial weights, including a learning rate that
diverges and the same SGD with and without a schedule. Prints one row per
setting (final training loss, test accuracy) and draws the loss curves.

    python recipes/ch01_neurons.py            # full run, about a minute
    python recipes/ch01_neurons.py --quick    # smoke run, seconds
"""

import argparse
import os
import time

import numpy as np

from kerasdl.fundamentals import NumpyMLP, numpy_neuron
from kerasdl.fundamentals.experiments import compare_settings, small_digits
from kerasdl.viz.lines import plot_panels


def sgd(learning_rate, **options):
    return {"optimizer": {"name": "sgd", "learning_rate": learning_rate, **options}}


def experiments(decay_steps: int) -> dict:
    """experiment -> {setting: compare_settings entry}.

    The base model is a 64-unit ReLU MLP trained with Adam at 1e-3 on sparse
    cross-entropy; each setting changes one thing. `decay_steps`: the
    cosine schedule's length, the whole run.
    """
    return {
        "activation": {
            name: {"model": {"activation": name}}
            for name in ("sigmoid", "tanh", "relu", "gelu")
        },
        "loss": {
            "cross-entropy": {},
            "mse (one-hot)": {"training": {"loss": "mse"}, "one_hot": True},
            "mae (one-hot)": {"training": {"loss": "mae"}, "one_hot": True},
            "focal": {"training": {"loss": "sparse_categorical_focal_crossentropy"}},
        },
        "optimizer": {
            "sgd 0.05": {"training": sgd(0.05)},
            "momentum 0.05": {"training": sgd(0.05, momentum=0.9)},
            "adam 1e-3": {"training": {"optimizer": "adam"}},
            "adamw 1e-3": {
                "training": {"optimizer": {"name": "adamw", "weight_decay": 0.01}}
            },
            "rmsprop 1e-3": {"training": {"optimizer": "rmsprop"}},
        },
        "learning rate": {
            "sgd 50 (too high)": {"training": sgd(50.0)},
            # Too high to settle at a constant rate; the same start decayed
            # to zero by a cosine schedule converges.
            "momentum 0.5, constant": {"training": sgd(0.5, momentum=0.9)},
            "momentum 0.5, cosine": {
                "training": sgd(
                    {
                        "name": "cosine",
                        "learning_rate": 0.5,
                        "decay_steps": decay_steps,
                    },
                    momentum=0.9,
                )
            },
        },
    }


def numpy_rows(data, epochs):
    """The neuron (3 vs 8) and the MLP (10 classes), NumPy only."""
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    rows = []
    started = time.perf_counter()
    pick = lambda y: np.isin(y, (3, 8))  # noqa: E731
    train, test = pick(data.y_train), pick(data.y_test)
    neuron = numpy_neuron(64, seed=0)
    losses = neuron.fit(
        flat(data.x_train[train]),
        data.y_train[train] == 8,
        epochs=epochs,
        learning_rate=0.5,
    )
    accuracy = neuron.accuracy(flat(data.x_test[test]), data.y_test[test] == 8)
    seconds = time.perf_counter() - started
    rows.append(("numpy", "neuron, 3 vs 8", losses[-1], accuracy, seconds))
    started = time.perf_counter()
    mlp = NumpyMLP([64, 32, 10], activation="tanh", seed=0)
    losses = mlp.fit(flat(data.x_train), data.y_train, epochs=epochs, learning_rate=0.2)
    accuracy = mlp.accuracy(flat(data.x_test), data.y_test)
    seconds = time.perf_counter() - started
    rows.append(("numpy", "mlp 64-32-10 tanh", losses[-1], accuracy, seconds))
    return rows, {"numpy mlp (hand backprop)": losses}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--quick", action="store_true", help="1 epoch, one setting each"
    )
    parser.add_argument("--run-root", default="runs/ch01")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    data = small_digits()
    print(
        f"{'experiment':<14} {'setting':<24} {'final loss':>10} {'test acc':>8} {'seconds':>8}"
    )
    rows, curves = numpy_rows(data, epochs)
    for experiment, setting, loss, accuracy, seconds in rows:
        print(
            f"{experiment:<14} {setting:<24} {loss:>10.4f} {accuracy:>8.4f} {seconds:>8.1f}"
        )
    panels = {"numpy": curves}
    steps = -(-len(data.x_train) // 32) * epochs  # batches of 32
    for experiment, settings in experiments(steps).items():
        if args.quick:
            settings = dict(list(settings.items())[:1])
        results = compare_settings(settings, data, epochs=epochs)
        for r in results:
            loss = "diverged" if r["diverged"] else f"{r['final_loss']:.4f}"
            print(
                f"{experiment:<14} {r['setting']:<24} {loss:>10} "
                f"{r['test_accuracy']:>8.4f} {r['seconds']:>8.1f}",
                flush=True,
            )
        if experiment != "loss":  # losses differ in scale: compared by accuracy
            panels[experiment] = {r["setting"]: r["history"]["loss"] for r in results}
    os.makedirs(args.run_root, exist_ok=True)
    plot_panels(panels, os.path.join(args.run_root, "curves.png"), log_y=True)


if __name__ == "__main__":
    main()
