"""Chapter 9, transformers: a char-level GPT on real text and a ViT on digits.

Thin recipe: plain config values at the top and a main that only calls
library code (the Trainer, kerasdl.train, generation). Prints next-token
validation accuracy and perplexity of the GPT on the Python documentation
(last 10% held out), the ViT's test accuracy on sklearn's 8x8 digits, and a
text sample from the GPT (on stderr).

    python recipes/ch09_transformers.py            # full run, a few minutes
    python recipes/ch09_transformers.py --quick    # smoke run, seconds
"""

import argparse
import math
import sys

import numpy as np

import kerasdl
from kerasdl.data.text import lm_dataset, load_corpus
from kerasdl.generation import generate
from kerasdl.training import Trainer

SEQ_LEN = 64
GPT = {
    "model": "gpt",
    "max_sequence_length": SEQ_LEN + 64,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 64,
    "intermediate_dim": 256,
    "dropout": 0.0,
}
# Patch size 2 on 8x8 images: 16 patch tokens plus the class token.
VIT = {
    "model": "vit",
    "patch_size": 2,
    "hidden_dim": 32,
    "num_layers": 2,
    "num_heads": 4,
    "mlp_dim": 64,
}
PROMPT = "The "
SETTINGS = {
    # GPT epochs and training windows (None: all ~6,500), ViT epochs
    "full": {"gpt_epochs": 2, "gpt_windows": None, "vit_epochs": 20},
    "quick": {"gpt_epochs": 1, "gpt_windows": 256, "vit_epochs": 1},
}


def gpt_config(epochs: int, run_dir: str) -> dict:
    """Next-token cross-entropy on logits, AdamW with global clipping."""
    return {
        "seed": 0,
        "epochs": epochs,
        "batch_size": 64,
        "optimizer": {
            "name": "adamw",
            "learning_rate": 3e-3,
            "weight_decay": 0.01,
            "global_clipnorm": 1.0,
        },
        "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
        "run_dir": run_dir,
        "verbose": 0,
    }


def vit_config(epochs: int, run_dir: str) -> dict:
    """Digits at 8x8 (1,437 training images), AdamW with warmup + cosine."""
    steps = 45 * epochs  # 1,437 / 32
    return {
        "data": {"name": "digits", "seed": 0},
        "model": VIT,
        "training": {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 32,
            "optimizer": {
                "name": "adamw",
                "weight_decay": 1e-4,
                "learning_rate": {
                    "name": "warmup_cosine",
                    "learning_rate": 3e-3,
                    "warmup_steps": steps // 10,
                    "decay_steps": steps,
                },
            },
            "run_dir": run_dir,
            "verbose": 0,
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, few windows")
    parser.add_argument("--run-root", default="runs/ch09")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]

    data = lm_dataset(
        load_corpus("python_docs"),
        "char",
        seq_len=SEQ_LEN,
        max_windows=settings["gpt_windows"],
    )
    trainer = Trainer(gpt_config(settings["gpt_epochs"], f"{args.run_root}/gpt"))
    history = trainer.fit(
        {**GPT, "vocabulary_size": data.vocabulary_size},
        *data.train,
        validation_data=data.val,
    )
    gpt = trainer.model
    perplexity = math.exp(history.history["val_loss"][-1])

    vit = kerasdl.train(
        vit_config(settings["vit_epochs"], f"{args.run_root}/vit"), export=False
    )

    print(f"{'model':<26} {'params':>10} {'perplexity':>11} {'acc':>7} {'epochs':>7}")
    print(
        f"{'gpt (char, next token)':<26} {gpt.count_params():>10,} "
        f"{perplexity:>11.2f} {history.history['val_accuracy'][-1]:>7.4f} "
        f"{len(history.epoch):>7}"
    )
    print(
        f"{'vit (digits 8x8)':<26} {vit.model.count_params():>10,} {'-':>11} "
        f"{vit.test_metrics['accuracy']:>7.4f} {len(vit.history.epoch):>7}"
    )
    prompt = np.array([data.encode(PROMPT)], "int32")
    tokens = generate(gpt, prompt, 100, strategy="sample", top_k=10, seed=0)
    # On stderr: stdout is the table (a header, then one row per model).
    sample = PROMPT + data.decode(tokens[0, prompt.shape[1] :])
    print(f"sample: {sample!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
