"""Chapter 19, adversarial robustness: FGSM and PGD attacks, adversarial training.

Thin recipe: plain settings and library calls (kerasdl.robustness). Trains an
MLP on the digits the ordinary way and the same MLP (built from the same seed)
with PGD adversarial training, then attacks both with FGSM and PGD at several
L-infinity budgets (pixels in [0, 1]). Prints one row per model, attack and
epsilon: the accuracy on the attacked test images.

    python recipes/ch19_robustness.py            # full run, a few minutes
    python recipes/ch19_robustness.py --quick    # smoke run, seconds
"""

import argparse
import time

import keras

import kerasdl
import kerasdl.data
from kerasdl.robustness import adversarial_fit, robust_accuracy
from kerasdl.training import Trainer

MODEL = {"model": "mlp", "input_shape": [8, 8, 1], "hidden_units": [256, 128]}
SETTINGS = {
    "full": {"epochs": 30, "epsilons": (0.05, 0.1, 0.2), "test": None},
    "quick": {"epochs": 1, "epsilons": (0.1,), "test": 100},
}
# PGD adversarial training at the middle budget (Madry et al.): 5 steps.
TRAIN_ATTACK = {"attack": "pgd", "epsilon": 0.1, "steps": 5}
# The evaluation's PGD is stronger than the training's: 20 steps.
EVAL_PGD_STEPS = 20


def training(epochs: int) -> dict:
    return {"seed": 0, "epochs": epochs, "batch_size": 32, "verbose": 0}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, 100 test images")
    parser.add_argument("--run-root", default="runs/ch19", help="unused")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    digits = kerasdl.data.load("digits")
    x_test, y_test = (
        digits.x_test[: settings["test"]],
        digits.y_test[: settings["test"]],
    )

    started = time.perf_counter()
    trainer = Trainer(training(settings["epochs"]))
    trainer.fit(MODEL, digits.x_train, digits.y_train)
    models = {"standard": (trainer.model, time.perf_counter() - started)}

    started = time.perf_counter()
    keras.utils.set_random_seed(0)  # built from the same seed as above
    robust = kerasdl.build(MODEL)
    robust.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    adversarial_fit(
        robust,
        digits.x_train,
        digits.y_train,
        epochs=settings["epochs"],
        **TRAIN_ATTACK,
    )
    models["pgd-trained"] = (robust, time.perf_counter() - started)

    print(f"{'model':<12} {'attack':<14} {'epsilon':>7} {'accuracy':>8} {'seconds':>7}")
    for label, (model, seconds) in models.items():
        clean = robust_accuracy(model, x_test, y_test, "fgsm", epsilon=0.0)
        print(f"{label:<12} {'none':<14} {0.0:>7.2f} {clean:>8.4f} {seconds:>7.1f}")
        for epsilon in settings["epsilons"]:
            for attack, options in (
                ("fgsm", {}),
                (f"pgd-{EVAL_PGD_STEPS}", {"steps": EVAL_PGD_STEPS}),
            ):
                started = time.perf_counter()
                accuracy = robust_accuracy(
                    model,
                    x_test,
                    y_test,
                    attack.split("-")[0],
                    epsilon=epsilon,
                    **options,
                )
                seconds = time.perf_counter() - started
                print(
                    f"{label:<12} {attack:<14} {epsilon:>7.2f} {accuracy:>8.4f} {seconds:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
