"""Chapter 12, compression: LeNet-5 on digits, pruned to 80%, exported as int8.

Thin recipe: one `kerasdl.compression.compress` config of plain values and a
main that only calls it. The pipeline trains LeNet-5, prunes it to 80%
sparsity while fine-tuning, exports the model before (baseline) and after
(compressed) as Keras, float TFLite and int8 TFLite, and measures every file
on the held-out digits. Prints one row per model and format: size, gzipped
size, sparsity, test accuracy and the file; the folder is written to
<run-root>/lenet5_pruned.

    python recipes/ch12_compression.py            # full run, a few minutes
    python recipes/ch12_compression.py --quick    # smoke run, under a minute
"""

import argparse
import os
import sys

from kerasdl.compression import compress

DATA = {"name": "digits", "image_size": 32, "test_fraction": 0.2, "seed": 0}
MODEL = {"model": "lenet5", "activation": "relu", "batch_norm": True, "dropout": 0.2}
SETTINGS = {
    # epochs of base training and of pruning fine-tuning; latency runs
    "full": {"train": 30, "prune": 8, "latency": 50},
    "quick": {"train": 2, "prune": 1, "latency": 2},
}


def config(settings: dict, output_dir: str) -> dict:
    """Train, prune to 80% (polynomial schedule), export keras + 2 TFLite."""
    steps = 45 * settings["train"]  # 1,437 training images / batch 32
    return {
        "name": "lenet5_pruned",
        "seed": 0,
        "data": DATA,
        "model": MODEL,
        "training": {
            "seed": 0,
            "epochs": settings["train"],
            "batch_size": 32,
            "optimizer": {
                "name": "adam",
                "learning_rate": {
                    "name": "warmup_cosine",
                    "learning_rate": 0.002,
                    "warmup_steps": min(100, steps // 4),
                    "decay_steps": steps,
                },
            },
            "verbose": 0,
        },
        "compression": [
            {
                "prune": {
                    "final_sparsity": 0.8,
                    "epochs": settings["prune"],
                    "learning_rate": 5e-4,
                }
            }
        ],
        "export": {
            "directory": os.path.join(output_dir, "lenet5_pruned"),
            "formats": ["keras", "tflite", "tflite_int8"],
        },
        "report": {"latency_runs": settings["latency"]},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2+1 epochs")
    parser.add_argument("--run-root", default="savedmodels")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    result = compress(config(settings, args.run_root))
    print(
        f"{'model':<11} {'format':<12} {'bytes':>9} {'gzip':>9} {'sparsity':>9} "
        f"{'test acc':>9} file"
    )
    folders = result.report.directories  # model -> folder inside the output
    for row in result.report.rows:
        folder = os.path.join(result.directory, folders.get(row.model, "."))
        path = os.path.normpath(os.path.join(folder, row.file))
        print(
            f"{row.model:<11} {row.format:<12} {row.bytes:>9,} {row.gzip_bytes:>9,} "
            f"{row.sparsity:>9.3f} {row.metric:>9.4f} {path}"
        )
    # On stderr: stdout is the table (a header, then one row per file).
    print(f"written: {result.directory}", file=sys.stderr)


if __name__ == "__main__":
    main()
