"""Chapter 3, frameworks: the same model trained on TensorFlow, JAX and PyTorch.

Thin recipe: `kerasdl.fundamentals.frameworks` runs one worker process per
backend; each builds the same MLP, sets the same NumPy-drawn initial weights
(their SHA-256 is printed), and trains it with plain SGD on the same batches
in the same order. Prints the loss curves side by side, epoch by epoch, with
the largest difference between backends, then each backend's test accuracy
and wall time.

    python recipes/ch03_frameworks.py            # full run, about a minute
    python recipes/ch03_frameworks.py --quick    # smoke run: 1 epoch, TF + torch
"""

import argparse
import sys

from kerasdl.fundamentals.frameworks import compare_backends, curve_differences


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--quick", action="store_true", help="1 epoch, two backends")
    parser.add_argument(
        "--run-root", default="runs/ch03", help="unused: nothing is written"
    )
    args = parser.parse_args(argv)
    backends = ["tensorflow", "torch"] if args.quick else args.backends
    results = compare_backends(
        backends, epochs=1 if args.quick else args.epochs, seed=args.seed
    )
    failed = {b: r["error"] for b, r in results.items() if "error" in r}
    for backend, error in failed.items():
        print(f"{backend} skipped: {error}", file=sys.stderr)
    ran = [b for b in backends if b not in failed]
    if len(ran) < 2:
        sys.exit(f"need two backends to compare; ran {ran}")
    digests = {results[b]["weights_sha256"] for b in ran}
    if len(digests) != 1:
        sys.exit(f"initial weights differ between backends: {digests}")
    rows = [
        (f"{epoch + 1}", [results[b]["loss"][epoch] for b in ran])
        for epoch in range(len(results[ran[0]]["loss"]))
    ]
    rows.append(("test acc", [results[b]["test_accuracy"] for b in ran]))
    print(
        f"{'epoch':<8} "
        + " ".join(f"{b + ' loss':>16}" for b in ran)
        + f" {'max abs diff':>12} {'rel diff':>9}"
    )
    for label, values in rows:
        spread = max(values) - min(values)
        print(
            f"{label:<8} "
            + " ".join(f"{v:>16.8f}" for v in values)
            + f" {spread:>12.2e} {spread / max(values):>9.1e}"
        )
    differences = curve_differences(results)
    for backend in ran:
        r = results[backend]
        print(
            f"{backend}: initial weights sha256 {r['weights_sha256']} (same on "
            f"every backend), max |loss - {ran[0]} loss| "
            f"{differences[backend]:.2e}, {r['seconds']:.1f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
