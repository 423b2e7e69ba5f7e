"""Chapter 7, sequences: a GRU on MNIST-1D and an attention seq2seq on dates.

Thin recipe: plain config values at the top and a main that only calls
library code (kerasdl.train, the Trainer, greedy decoding). Prints, per
task, the test accuracy (MNIST-1D classes; date characters, teacher-forced)
and, for dates, the exact match of greedy decoding on held-out dates.

    python recipes/ch07_sequences.py            # full run, a few minutes
    python recipes/ch07_sequences.py --quick    # smoke run, seconds
"""

import argparse

# The MNIST-1D training config chapter 6 compares its recurrent cells with.
from ch06_recurrent import config as mnist1d_config

import kerasdl
from kerasdl.data import tasks
from kerasdl.generation import evaluate_seq2seq
from kerasdl.training import Trainer

# GRU classifier on MNIST-1D (published GRU accuracy: 91%).
GRU = {"model": "gru_classifier", "units": 64}
# Dates in 12 human formats -> ISO "2021-03-03", held-out dates.
DATES = {"num_train": 10000, "num_test": 1000, "seed": 0}
SEQ2SEQ = {"model": "seq2seq_bahdanau", "embedding_dim": 32, "units": 64}
SETTINGS = {
    "full": {"gru_epochs": 20, "date_epochs": 6, "date_train": 10000},
    "quick": {"gru_epochs": 1, "date_epochs": 1, "date_train": 1000},
}


def seq2seq_config(epochs: int, run_dir: str) -> dict:
    """Teacher-forced training; padding steps are ignored by the loss."""
    return {
        "seed": 0,
        "epochs": epochs,
        "batch_size": 64,
        "optimizer": {"name": "adam", "learning_rate": 5e-3},
        "loss": {
            "name": "sparse_categorical_crossentropy",
            "from_logits": True,
            "ignore_class": 0,
        },
        "run_dir": run_dir,
        "verbose": 0,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, small data")
    parser.add_argument("--run-root", default="runs/ch07")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    print(f"{'task':<28} {'params':>10} {'test acc':>9} {'exact':>7}")

    result = kerasdl.train(
        mnist1d_config(GRU, settings["gru_epochs"], f"{args.run_root}/gru"),
        export=False,
    )
    print(
        f"{'mnist1d gru_classifier':<28} {result.model.count_params():>10,} "
        f"{result.test_metrics['accuracy']:>9.4f} {'-':>7}"
    )

    train, test = tasks.date_splits(
        settings["date_train"], DATES["num_test"], seed=DATES["seed"]
    )
    spec = {
        **SEQ2SEQ,
        "source_vocab_size": train.source_vocab_size,
        "target_vocab_size": train.target_vocab_size,
    }
    trainer = Trainer(seq2seq_config(settings["date_epochs"], f"{args.run_root}/dates"))
    trainer.fit(spec, train.inputs, train.target)
    model = trainer.model
    # Character accuracy (teacher-forced, real steps) and greedy exact match.
    scores = evaluate_seq2seq(model, test, max_length=12)
    print(
        f"{'dates seq2seq_bahdanau':<28} {model.count_params():>10,} "
        f"{scores['char_accuracy']:>9.4f} {scores['exact_match']:>7.4f}"
    )


if __name__ == "__main__":
    main()
