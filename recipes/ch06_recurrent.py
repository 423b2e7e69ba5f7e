"""Chapter 6, recurrent networks: Elman RNN, LSTM, GRU, stacked and bidirectional.

Thin recipe: one training config and the list of models at the top; main
only calls `kerasdl.train`. Every model reads the same MNIST-1D sequences
(40 steps, 10 classes; published accuracies: GRU 91%, CNN 94%) with the
same optimizer, schedule and epochs, so the table compares the cells:
parameters, test accuracy and training time per model.

    python recipes/ch06_recurrent.py            # full run, a few minutes
    python recipes/ch06_recurrent.py --quick    # smoke run, seconds
"""

import argparse
import time

import numpy as np

import kerasdl

MODELS = {
    "simple_rnn": {"model": "simple_rnn_classifier", "units": 64},
    "lstm": {"model": "lstm_classifier", "units": 64},
    "gru": {"model": "gru_classifier", "units": 64},
    "lstm x2 (stacked)": {"model": "lstm_classifier", "units": [64, 64]},
    "bidirectional gru": {
        "model": "gru_classifier",
        "units": 64,
        "bidirectional": True,
    },
}
EPOCHS = {"full": 20, "quick": 1}


def config(model: dict, epochs: int, run_dir: str) -> dict:
    """MNIST-1D, AdamW with cosine decay and gradient clipping (RNNs need it)."""
    return {
        "data": {"name": "mnist1d"},
        "model": model,
        "training": {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 64,
            "optimizer": {
                "name": "adamw",
                "weight_decay": 1e-4,
                "clipnorm": 1.0,
                "learning_rate": {
                    "name": "cosine",
                    "learning_rate": 0.005,
                    "decay_steps": epochs * 63,  # 4,000 samples / 64
                },
            },
            "run_dir": run_dir,
            "verbose": 0,
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch")
    parser.add_argument("--run-root", default="runs/ch06")
    args = parser.parse_args(argv)
    epochs = EPOCHS["quick" if args.quick else "full"]
    print(f"{'model':<20} {'params':>8} {'test acc':>9} {'seconds':>8}")
    for name, model in MODELS.items():
        if args.quick:  # 8 units per layer: the same graphs, in seconds
            model = {**model, "units": [8] * len(np.atleast_1d(model["units"]))}
        start = time.perf_counter()
        run_dir = f"{args.run_root}/{name.replace(' ', '_')}"
        result = kerasdl.train(config(model, epochs, run_dir), export=False)
        print(
            f"{name:<20} {result.model.count_params():>8,} "
            f"{result.test_metrics['accuracy']:>9.4f} {time.perf_counter() - start:>8.1f}"
        )


if __name__ == "__main__":
    main()
