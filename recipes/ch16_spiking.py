"""Chapter 16, brain-inspired computing: spiking networks trained with surrogate gradients.

Thin recipe: configs with plain values and a run function that only calls
library code. Trains a spiking MLP on digits (and a spiking CNN on the offline
MNIST sample), converts a trained ReLU MLP into a rate-coded spiking network,
and prints, per row: time steps, synaptic operations and the multiply-
accumulates of the same-shaped ordinary network per example (the energy
proxy), per-layer firing rates, and test accuracy.

    python recipes/ch16_spiking.py            # full run, a few minutes
    python recipes/ch16_spiking.py --quick    # smoke run, seconds
"""

import argparse

import kerasdl
import kerasdl.data
from kerasdl.models.spiking import accuracy_by_time_steps, activity_report, convert
from kerasdl.training import Trainer

SETTINGS = {
    # epochs of the spiking MLP, the spiking CNN (None: skipped), the ReLU MLP,
    # and the time steps of the converted network.
    "full": {
        "snn_mlp": 30,
        "snn_cnn": 5,
        "relu": 20,
        "steps": (1, 2, 4, 8, 16, 32, 64),
    },
    "quick": {"snn_mlp": 1, "snn_cnn": None, "relu": 1, "steps": (2, 8)},
}


def training(epochs: int, run_dir: str) -> dict:
    """Adam at 2e-3, batch 64, seed 0; a run directory per model."""
    return {
        "seed": 0,
        "epochs": epochs,
        "batch_size": 64,
        "verbose": 0,
        "run_dir": run_dir,
        "optimizer": {"name": "adam", "learning_rate": 0.002},
    }


SPIKING_MLP = {
    "model": "spiking_mlp",
    "input_shape": [8, 8, 1],
    "num_classes": 10,
    "hidden_units": [128],
    "time_steps": 8,
}
SPIKING_CNN = {
    "model": "spiking_cnn",
    "input_shape": [28, 28, 1],
    "time_steps": 4,
    # A wider surrogate (slope 5, not 25) lets gradients reach neurons far
    # from threshold, so a silent start recovers within the first epoch.
    "neuron_options": {"slope": 5.0},
}
RELU_MLP = {"model": "mlp", "input_shape": [8, 8, 1], "hidden_units": [128, 64]}


def row(label, steps, report, accuracy, epochs) -> str:
    if report is None:
        synops = ratio = rates = "-"
        macs = "-"
    else:
        synops = f"{report['synops_per_example']:,.0f}"
        macs = f"{report['macs_per_example']:,.0f}"
        ratio = f"{report['synops_to_macs']:.3f}"
        rates = "/".join(f"{r['firing_rate']:.3f}" for r in report["layers"])
    return (
        f"{label:<22} {steps:>5} {synops:>10} {macs:>10} {ratio:>8} "
        f"{rates:>20} {accuracy:>8.4f} {epochs:>6}"
    )


def train(spec: dict, data, epochs: int, run_dir: str):
    trainer = Trainer(training(epochs, run_dir))
    history = trainer.fit(spec, data.x_train, data.y_train)
    scores = trainer.model.evaluate(
        data.x_test, data.y_test, verbose=0, return_dict=True
    )
    return trainer.model, scores["accuracy"], len(history.epoch)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, no CNN")
    parser.add_argument("--run-root", default="runs/ch16")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    digits = kerasdl.data.load("digits")
    print(
        f"{'model':<22} {'T':>5} {'synops':>10} {'MACs':>10} {'syn/MAC':>8} "
        f"{'firing rates':>20} {'test acc':>8} {'epochs':>6}"
    )
    model, acc, epochs = train(
        SPIKING_MLP, digits, settings["snn_mlp"], f"{args.run_root}/spiking_mlp"
    )
    report = activity_report(model, digits.x_test)
    print(row("spiking_mlp (digits)", SPIKING_MLP["time_steps"], report, acc, epochs))
    if settings["snn_cnn"]:
        mnist = kerasdl.data.load("mnist5k")
        model, acc, epochs = train(
            SPIKING_CNN, mnist, settings["snn_cnn"], f"{args.run_root}/spiking_cnn"
        )
        report = activity_report(model, mnist.x_test[:500])
        print(
            row("spiking_cnn (mnist5k)", SPIKING_CNN["time_steps"], report, acc, epochs)
        )
    relu, acc, epochs = train(
        RELU_MLP, digits, settings["relu"], f"{args.run_root}/relu"
    )
    print(row("relu mlp (digits)", "-", None, acc, epochs))
    for steps in settings["steps"]:
        snn = convert(relu, digits.x_train, time_steps=steps)
        curve = accuracy_by_time_steps(snn, digits.x_test, digits.y_test, [steps])
        report = activity_report(snn, digits.x_test)
        print(row("converted relu mlp", steps, report, curve[steps], "-"))


if __name__ == "__main__":
    main()
