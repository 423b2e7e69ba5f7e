"""Chapter 11, LLM fine-tuning: full fine-tuning, LoRA and QLoRA side by side.

Thin recipe: plain config values at the top and a main that only calls
library code. A character GPT is pre-trained on the Python documentation,
then adapted to Python source code (standard-library modules) by full
fine-tuning, LoRA, and QLoRA over an int8 and an int4 base
(`kerasdl.finetune`). One character vocabulary, fitted on both corpora, lets
the model carry over. Prints one row per method: validation perplexity on
the source code before and after adaptation, trainable parameters, the size
of the file that carries the adaptation (the adapters; the whole weights
file for full fine-tuning), the peak RSS growth during training, the counted
training state (weights + gradients + optimizer slots), the trainable
fraction and the training time.

    python recipes/ch11_llm_finetune.py            # full run, several minutes
    python recipes/ch11_llm_finetune.py --quick    # smoke run, seconds
"""

import argparse
import sys

import kerasdl
from kerasdl.data.text import CharTokenizer, lm_dataset, load_corpus
from kerasdl.finetune import METHODS, finetune, perplexity
from kerasdl.training import Trainer

SEQ_LEN = 64
GPT = {
    "model": "gpt",
    "max_sequence_length": SEQ_LEN,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 64,
    "intermediate_dim": 256,
    "dropout": 0.0,
}
SOURCE, TARGET = "python_docs", "python_source"
RANK = 8
# Adapters start at B = 0 and are few: they take a larger step than full
# fine-tuning, which moves every pre-trained weight.
LEARNING_RATE = {"full": 1e-3, "lora": 1e-2, "qlora_int8": 1e-2, "qlora_int4": 1e-2}
SETTINGS = {
    # pre-training epochs and windows (None: all ~6,500), fine-tuning epochs
    # and windows of the target, validation windows of the target
    "full": {
        "pretrain_epochs": 1,
        "pretrain_windows": None,
        "finetune_epochs": 2,
        "finetune_windows": 1500,
        "val_windows": 256,
    },
    "quick": {
        "pretrain_epochs": 1,
        "pretrain_windows": 64,
        "finetune_epochs": 1,
        "finetune_windows": 32,
        "val_windows": 16,
    },
}


def training(method: str, epochs: int) -> dict:
    """AdamW with global clipping; next-token loss on logits by default."""
    return {
        "seed": 0,
        "epochs": epochs,
        "batch_size": 32,
        "optimizer": {
            "name": "adamw",
            "learning_rate": LEARNING_RATE.get(method, 3e-3),
            "weight_decay": 0.01,
            "global_clipnorm": 1.0,
        },
        "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
        "verbose": 0,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, 1 epoch")
    parser.add_argument("--run-root", default="runs/ch11")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]

    source_text, target_text = load_corpus(SOURCE), load_corpus(TARGET)
    # One vocabulary for both corpora, so the pre-trained model transfers.
    tokenizer = CharTokenizer.fit(source_text + target_text)
    source = lm_dataset(
        source_text, tokenizer, SEQ_LEN, max_windows=settings["pretrain_windows"]
    )
    target = lm_dataset(
        target_text, tokenizer, SEQ_LEN, max_windows=settings["finetune_windows"]
    )
    val = tuple(part[: settings["val_windows"]] for part in target.val)

    pretrain = Trainer(training("pretrain", settings["pretrain_epochs"]))
    pretrain.fit(
        kerasdl.build({**GPT, "vocabulary_size": tokenizer.vocabulary_size}),
        *source.train,
    )
    model = pretrain.model
    # On stderr: stdout is the table (a header, then one row per method).
    print(
        f"pre-trained on {SOURCE}: validation perplexity "
        f"{perplexity(model, *source.val):.2f} on {SOURCE}, "
        f"{perplexity(model, *val):.2f} on {TARGET}",
        file=sys.stderr,
    )

    print(
        f"{'method':<11} {'ppl_before':>10} {'ppl_after':>9} {'trainable':>9} "
        f"{'file_KB':>8} {'peak_MB':>7} {'state_KB':>8} {'fraction':>8} {'time_s':>6}"
    )
    for method in METHODS:
        result = finetune(
            model,
            (target.train, val),
            method,
            rank=RANK,
            training=training(method, settings["finetune_epochs"]),
            save_dir=f"{args.run_root}/{method}",
        )
        print(
            f"{method:<11} {result.perplexity_before:>10.2f} "
            f"{result.perplexity:>9.2f} {result.trainable_params:>9,} "
            f"{result.adapter_bytes / 1024:>8.1f} "
            f"{result.peak_memory_bytes / 2**20:>7.1f} "
            f"{result.state_bytes / 1024:>8.1f} "
            f"{result.trainable_fraction:>8.4f} {result.seconds:>6.1f}"
        )
    print(f"peak memory: {result.memory_source}", file=sys.stderr)


if __name__ == "__main__":
    main()
