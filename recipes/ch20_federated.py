"""Chapter 20, federated learning: FedAvg over simulated non-IID clients against centralized training.

Thin recipe: plain settings and library calls (kerasdl.federated). Splits the
digits' training set over 10 clients, IID (Dirichlet alpha 100) and label-
skewed (alpha 0.1: most clients see one or two classes), runs federated
averaging with local SGD, and trains the same MLP centrally with the same
SGD for as many epochs as rounds. Prints one row per setting: rounds, the
first round reaching 95% of the centralized accuracy, and test accuracy.

    python recipes/ch20_federated.py            # full run, a few minutes
    python recipes/ch20_federated.py --quick    # smoke run, seconds
"""

import argparse

import numpy as np

import kerasdl
import kerasdl.data
from kerasdl.federated import dirichlet_split, fedavg, rounds_to_reach

MODEL = {"model": "mlp", "input_shape": [8, 8, 1], "hidden_units": [64]}
SETTINGS = {
    "full": {"rounds": 40, "local_epochs": 2, "alphas": (100.0, 1.0, 0.1)},
    "quick": {"rounds": 2, "local_epochs": 1, "alphas": (0.1,)},
}
CLIENTS = 10


def build():
    return kerasdl.build(MODEL)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, one split")
    parser.add_argument("--run-root", default="runs/ch20", help="unused")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    digits = kerasdl.data.load("digits")
    test = (digits.x_test, digits.y_test)
    rounds = settings["rounds"]

    # Centralized: the whole training set as one client, one epoch a round.
    central = fedavg(
        build, [(digits.x_train, digits.y_train)], rounds=rounds, test=test
    )
    target = 0.95 * central["accuracy"][-1]
    print(
        f"{'setting':<26} {'classes/client':>14} {'rounds':>6} "
        f"{'to 95% of central':>17} {'test acc':>8} {'seconds':>7}"
    )

    def row(label, classes, result):
        reached = rounds_to_reach(result["accuracy"], target)
        print(
            f"{label:<26} {classes:>14} {rounds:>6} {reached or '-':>17} "
            f"{result['accuracy'][-1]:>8.4f} {result['seconds']:>7.1f}",
            flush=True,
        )

    row("centralized", "10", central)
    for alpha in settings["alphas"]:
        parts = dirichlet_split(digits.y_train, CLIENTS, alpha=alpha, seed=0)
        clients = [(digits.x_train[p], digits.y_train[p]) for p in parts]
        # Classes holding at least 5% of a client's examples, on average.
        classes = np.mean(
            [
                np.sum(np.bincount(digits.y_train[p], minlength=10) >= 0.05 * len(p))
                for p in parts
                if len(p)
            ]
        )
        result = fedavg(
            build,
            clients,
            rounds=rounds,
            local_epochs=settings["local_epochs"],
            test=test,
        )
        row(f"fedavg, alpha {alpha:g}", f"{classes:.1f}", result)


if __name__ == "__main__":
    main()
