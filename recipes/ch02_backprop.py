"""Chapter 2, backpropagation: gradient checks, vanishing gradients, overfitting and its cures.

Thin recipe: plain settings and library calls (kerasdl.fundamentals).

1. Hand-written backprop of a NumPy MLP against central finite differences
   and against the active Keras backend's autodiff, in float64.
2. Per-layer gradient norms at initialization of a deep sigmoid MLP against
   ReLU, residual and batch-normalized versions (plot and per-layer CSV),
   and the test accuracy each reaches in the same few epochs.
3. Overfitting on a small training set, and its cures: dropout, L2, early
   stopping, augmentation.

Prints one row per figure: experiment, setting, what is measured, its value
(a fraction in [0, 1]) and the seconds it took.

    python recipes/ch02_backprop.py            # full run, a few minutes
    python recipes/ch02_backprop.py --quick    # smoke run, seconds
"""

import argparse
import csv
import os
import time

from kerasdl import _backend
from kerasdl.fundamentals import (
    NumpyMLP,
    autodiff_gradients,
    finite_difference_gradients,
    relative_error,
)
from kerasdl.fundamentals.experiments import (
    compare_settings,
    deep_mlp,
    gradient_norm_study,
    small_digits,
)
from kerasdl.viz.lines import plot_panels

DEPTH = 10
# label -> deep_mlp keywords: the same depth and width, one change each.
DEEP_VARIANTS = {
    "sigmoid": {"activation": "sigmoid"},
    "relu": {"activation": "relu"},
    "sigmoid + residual": {"activation": "sigmoid", "residual": True},
    "sigmoid + batch norm": {"activation": "sigmoid", "batch_norm": True},
}
# A wide MLP on 150 training images: it memorizes them.
OVERFIT_MODEL = {"model": "mlp", "hidden_units": [256, 256]}
CURES = {
    "none": {},
    "dropout 0.5": {"model": {"dropout": 0.5}},
    "l2 1e-3": {"model": {"l2": 1e-3}},
    "early stopping": {
        "training": {
            "callbacks": {
                "early_stopping": {"patience": 10, "restore_best_weights": True}
            }
        }
    },
    # Shifts of at most one pixel and small zooms: an 8x8 digit has little
    # room for more.
    "augmentation": {"augmentation": {"translation": 0.1, "zoom": 0.1}},
}


def gradient_checks(data, rows):
    """Hand-written gradients vs finite differences and autodiff, float64."""
    x = data.x_train[:16].reshape(16, -1)
    y = data.y_train[:16]
    for activation in ("sigmoid", "tanh", "relu"):
        net = NumpyMLP([64, 12, 10], activation=activation, seed=0)
        started = time.perf_counter()
        _, by_hand = net.loss_and_gradients(x, y)
        finite = finite_difference_gradients(lambda n=net: n.loss(x, y), net.params)
        error = relative_error(by_hand, finite)
        rows.append(
            (
                "backprop check",
                f"{activation} mlp",
                "rel err vs finite diff",
                error,
                started,
            )
        )
        started = time.perf_counter()
        error = relative_error(by_hand, autodiff_gradients(net, x, y))
        measure = f"rel err vs {_backend.name()} autodiff"
        rows.append(("backprop check", f"{activation} mlp", measure, error, started))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="deep MLPs")
    parser.add_argument("--overfit-epochs", type=int, default=150)
    parser.add_argument("--quick", action="store_true", help="1 epoch, fewer settings")
    parser.add_argument("--run-root", default="runs/ch02")
    args = parser.parse_args(argv)
    os.makedirs(args.run_root, exist_ok=True)
    data = small_digits()
    print(
        f"{'experiment':<16} {'setting':<22} {'measure':<60} {'value':>9} {'seconds':>7}"
    )

    def emit(rows):
        for experiment, setting, measure, value, started in rows:
            seconds = time.perf_counter() - started
            print(
                f"{experiment:<16} {setting:<22} {measure:<60} {value:>9.3g} {seconds:>7.1f}",
                flush=True,
            )
        rows.clear()

    rows = []
    gradient_checks(data, rows)
    emit(rows)

    # Gradient norms at initialization, on one batch of 256 images.
    variants = {
        k: {**v, "depth": DEPTH}
        for k, v in DEEP_VARIANTS.items()
        if not args.quick or k in ("sigmoid", "relu")
    }
    started = time.perf_counter()
    norms = gradient_norm_study(variants, data.x_train[:256], data.y_train[:256])
    with open(os.path.join(args.run_root, "gradient_norms.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", *norms])
        layer_names = [name for name, _ in next(iter(norms.values()))]
        for i, name in enumerate(layer_names):
            writer.writerow([name, *(f"{v[i][1]:.4g}" for v in norms.values())])
    for label, per_layer in norms.items():
        values = [n for _, n in per_layer]
        first, last = values[0], values[-1]
        # Smallest over largest: 1 when every layer learns at the same
        # pace, tiny when the gradient vanishes on its way to the input.
        measure = f"min/max layer norm (first {first:.1e}, last {last:.1e})"
        rows.append(
            ("gradient norms", label, measure, min(values) / max(values), started)
        )
    plot_panels(
        {
            f"gradient norm per layer, depth {DEPTH}": {
                k: [n for _, n in v] for k, v in norms.items()
            }
        },
        os.path.join(args.run_root, "gradient_norms.png"),
        xlabel="layer (input -> output)",
        ylabel="||dL/dW||",
        log_y=True,
    )
    emit(rows)
    results = compare_settings(
        {label: {"model": kwargs} for label, kwargs in variants.items()},
        data,
        epochs=1 if args.quick else args.epochs,
        model=deep_mlp,
        # Plain SGD (with momentum): an adaptive optimizer would rescale the
        # vanishing gradients and hide the effect.
        training={"optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}},
    )
    for r in results:
        measure = f"test acc after {r['epochs']} epochs (sgd + momentum)"
        print(
            f"{'deep training':<16} {r['setting']:<22} {measure:<60} "
            f"{r['test_accuracy']:>9.3g} {r['seconds']:>7.1f}",
            flush=True,
        )

    small = small_digits(train_size=150)
    quick_cures = ("none", "augmentation")
    cures = {k: v for k, v in CURES.items() if not args.quick or k in quick_cures}
    results = compare_settings(
        cures,
        small,
        epochs=1 if args.quick else args.overfit_epochs,
        model=OVERFIT_MODEL,
    )
    for r in results:
        val_loss = r["history"]["val_loss"]
        measure = (
            f"test acc (train {r['train_accuracy']:.3f}, val loss "
            f"{min(val_loss):.2f} min / {val_loss[-1]:.2f} end, {r['epochs']} ep)"
        )
        print(
            f"{'overfitting':<16} {r['setting']:<22} {measure:<60} "
            f"{r['test_accuracy']:>9.3g} {r['seconds']:>7.1f}",
            flush=True,
        )
    plot_panels(
        {
            "validation loss, 150 training images": {
                r["setting"]: r["history"]["val_loss"] for r in results
            }
        },
        os.path.join(args.run_root, "overfitting.png"),
    )


if __name__ == "__main__":
    main()
