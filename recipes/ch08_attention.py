"""Chapter 8, attention: one encoder-decoder without attention, with Bahdanau's and Luong's.

Thin recipe: the settings at the top; main only calls library code (the
Trainer, `evaluate_seq2seq`, `seq2seq_attention`, `plot_attention`). The
three models share the encoder and decoder (bidirectional GRU, 64 units) and
differ only in attention; they translate dates written in 12 human formats
into ISO dates, on held-out dates. Prints, per model, the parameters, the
teacher-forced character accuracy, the greedy exact match and the training
time, and draws each attention model's (target x source) weights for one
test date in `<run-root>/attention_<name>.png`.

    python recipes/ch08_attention.py            # full run, a few minutes
    python recipes/ch08_attention.py --quick    # smoke run, seconds
"""

import argparse
import os
import time

from kerasdl.data import tasks
from kerasdl.explain import seq2seq_attention
from kerasdl.generation import evaluate_seq2seq
from kerasdl.training import Trainer
from kerasdl.viz import plot_attention

ENCODER_DECODER = {"model": "seq2seq", "cell": "gru", "bidirectional": True,
                   "embedding_dim": 32, "units": 64}  # fmt: skip
ATTENTION = {"none": None, "bahdanau": "bahdanau", "luong": "luong"}
TRAINING = {
    "seed": 0,
    "batch_size": 64,
    "optimizer": {"name": "adam", "learning_rate": 5e-3},
    # Padding steps (id 0) carry no loss.
    "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True,
             "ignore_class": 0},
    "verbose": 0,
}  # fmt: skip
SETTINGS = {
    "full": {"epochs": 6, "num_train": 10000, "num_test": 1000},
    "quick": {"epochs": 1, "num_train": 500, "num_test": 50},
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, small data")
    parser.add_argument("--run-root", default="runs/ch08")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    train, test = tasks.date_splits(settings["num_train"], settings["num_test"], seed=0)
    vocabularies = {"source_vocab_size": train.source_vocab_size,
                    "target_vocab_size": train.target_vocab_size}  # fmt: skip
    print(
        f"{'attention':<10} {'params':>8} {'char acc':>9} {'exact':>7} {'seconds':>8}"
    )
    for name, attention in ATTENTION.items():
        start = time.perf_counter()
        trainer = Trainer({**TRAINING, "epochs": settings["epochs"],
                           "run_dir": os.path.join(args.run_root, name)})  # fmt: skip
        trainer.fit({**ENCODER_DECODER, **vocabularies, "attention": attention},
                    train.inputs, train.target)  # fmt: skip
        model = trainer.model
        scores = evaluate_seq2seq(model, test)
        seconds = time.perf_counter() - start
        print(
            f"{name:<10} {model.count_params():>8,} {scores['char_accuracy']:>9.4f} "
            f"{scores['exact_match']:>7.4f} {seconds:>8.1f}"
        )
        if attention is not None:
            weights = seq2seq_attention(model, test.source[:1], test.decoder_input[:1])
            # Row t predicts target character t; the last row, the end token.
            source, target = list(test.source_texts[0]), list(test.target_texts[0])
            target.append("<end>")
            plot_attention(weights[0, : len(target), : len(source)], source, target,
                           os.path.join(args.run_root, f"attention_{name}.png"),
                           title=f"{name} attention")  # fmt: skip


if __name__ == "__main__":
    main()
