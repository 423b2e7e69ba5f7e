"""Chapter 4, convolutional networks: LeNet-5 vs a VGG-style net on digits.

Thin recipe: a config function with plain values and a run function that
only calls library code (kerasdl.train). Prints test accuracy and parameter
counts side by side.

    python recipes/ch04_cnn_digits.py            # full run, a few minutes
    python recipes/ch04_cnn_digits.py --quick    # smoke run, seconds
"""

import argparse

import kerasdl


def config(model: dict, epochs: int, run_dir: str) -> dict:
    """One run: digits upsampled to 32x32, Adam with cosine decay."""
    return {
        "data": {"name": "digits", "image_size": 32, "seed": 0},
        "model": model,
        "training": {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 32,
            "validation_split": 0.1,
            "optimizer": {
                "name": "adam",
                "learning_rate": {
                    "name": "cosine",
                    "learning_rate": 0.002,
                    "decay_steps": epochs * 41,
                },
            },
            "callbacks": {"early_stopping": {"monitor": "val_loss", "patience": 6}},
            "run_dir": run_dir,
            "verbose": 0,
        },
    }


MODELS = {
    "lenet5 (tanh, paper)": {"model": "lenet5"},
    "lenet5 (relu + bn)": {"model": "lenet5", "activation": "relu", "batch_norm": True},
    "vgg11 (narrow)": {
        "model": "vgg11",
        "block_filters": [16, 32, 64, 64, 64],
        "fc_units": 128,
        "batch_norm": True,
    },
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="1 epoch, for smoke tests")
    parser.add_argument("--run-root", default="runs/ch04")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    print(f"{'model':<22} {'params':>10} {'test acc':>9} {'epochs':>7}")
    for label, spec in MODELS.items():
        run_dir = f"{args.run_root}/{label.split()[0]}_{abs(hash(label)) % 1000}"
        result = kerasdl.train(config(spec, epochs, run_dir), export=False)
        print(
            f"{label:<22} {result.model.count_params():>10,} "
            f"{result.test_metrics['accuracy']:>9.4f} {len(result.history.epoch):>7}"
        )


if __name__ == "__main__":
    main()
