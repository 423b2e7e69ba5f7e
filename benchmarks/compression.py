"""Benchmark: what compression buys on LeNet-5 / digits, against fixed targets.

Runs `kerasdl.compression.pipeline.compress` twice on scikit-learn's digits
at 32x32 (offline) and prints, from one run:

1. int8 vs float TFLite. The trained LeNet-5 (the quickstart model: ReLU,
   batch norm, dropout 0.2; 61,706 parameters) as float32 TFLite and as
   full-integer int8 TFLite (post-training, 300 calibration images): file
   size ratio (target <= 0.27x) and test accuracy drop (target <= 1 point).
2. Pruned + int8 vs float, gzipped. The same model pruned to 80% sparsity
   (polynomial schedule during fine-tuning, then stripped) and exported as
   int8 TFLite; gzipped size over the float TFLite's gzipped size (target
   <= 0.12x) and accuracy drop (target <= 2 points).
3. Distillation. A CNN student with <= 10% of the teacher's parameters,
   trained by `kerasdl.compression.distillation.distill` from the teacher;
   its accuracy must be within 1.5 points of the teacher's. A student of the
   same shape trained on the labels alone is shown for comparison.
4. Latency. int8 over float TFLite batch-1 latency (LiteRT, p50), printed
   without a target (it depends on the CPU's int8 kernels).

Accuracies are on the held-out 20% (360 images), computed from each file's
own outputs (LiteRT); every file is verified against its Keras model when
exported. Exits 0 whatever the figures (timings and small test sets are
noisy), 1 only if a step fails to run.

Usage:
    python benchmarks/compression.py                  # ~3 min on 2 CPUs
    python benchmarks/compression.py --quick          # smoke test, ~1 min
    python benchmarks/compression.py --output-dir /tmp/bench   # keep files
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEED = 0
DATA = {"name": "digits", "image_size": 32, "test_fraction": 0.2, "seed": 0}
# The quickstart's LeNet-5 (kerasdl/workflow.py QUICKSTART_CONFIG).
TEACHER = {"model": "lenet5", "activation": "relu", "batch_norm": True, "dropout": 0.2}
# 4,834 parameters (7.8% of LeNet-5's 61,706).
STUDENT = {
    "name": "student",
    "input_shape": [32, 32, 1],
    "sequential": [
        {"Conv2D": {"filters": 6, "kernel_size": 5, "activation": "relu"}},
        {"MaxPooling2D": {}},
        {"Conv2D": {"filters": 12, "kernel_size": 5, "activation": "relu"}},
        {"MaxPooling2D": {}},
        {"Conv2D": {"filters": 24, "kernel_size": 3, "activation": "relu"}},
        "GlobalAveragePooling2D",
        {"Dense": {"units": 10, "activation": "softmax"}},
    ],
}
TARGETS = {
    "int8_size": 0.27,
    "int8_drop": 1.0,
    "sparse_gzip": 0.12,
    "sparse_drop": 2.0,
    "student_params": 0.10,
    "student_gap": 1.5,
}
SETTINGS = {
    # epochs of teacher training, pruning fine-tuning, distillation; latency runs
    "full": {"train": 30, "prune": 8, "distill": 40, "latency": 200},
    "quick": {"train": 2, "prune": 1, "distill": 2, "latency": 10},
}


def _train_config(epochs: int) -> dict:
    steps = 45 * epochs  # 1,437 training images / batch 32
    return {
        "seed": SEED,
        "epochs": epochs,
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
    }


def _verdict(value, target, below=True) -> str:
    ok = value <= target if below else value >= target
    return "PASS" if ok else "FAIL"


def _prune_run(output_dir, settings):
    from kerasdl.compression.pipeline import compress

    return compress(
        {
            "name": "lenet5_pruned",
            "seed": SEED,
            "data": DATA,
            "model": TEACHER,
            "training": _train_config(settings["train"]),
            "compression": [
                {
                    "prune": {
                        "final_sparsity": 0.8,
                        "epochs": settings["prune"],
                        "learning_rate": 5e-4,
                    }
                }
            ],
            # Per-tensor weight scales (the per-channel scales and zero points
            # of LeNet-5's 388 channels are ~2% of the float file; the
            # per-channel size is printed too) and no intermediate tensor
            # names (~2 kB of debug strings) in every TFLite file, float too.
            "export": {
                "directory": os.path.join(output_dir, "lenet5_pruned"),
                "formats": ["keras", "tflite", "tflite_int8"],
                "per_channel": False,
                "strip_tensor_names": True,
            },
            "report": {"latency_runs": settings["latency"]},
        }
    )


def _distill_run(output_dir, teacher_file, settings):
    from kerasdl.compression.pipeline import compress

    return compress(
        {
            "name": "lenet5_distilled",
            "seed": SEED,
            "data": DATA,
            "model": teacher_file,
            "compression": [
                {
                    "distill": {
                        "student": STUDENT,
                        "temperature": 4.0,
                        "alpha": 0.9,
                        "epochs": settings["distill"],
                        "batch_size": 32,
                        "learning_rate": 3e-3,
                    }
                }
            ],
            "export": {
                "directory": os.path.join(output_dir, "lenet5_distilled"),
                "formats": ["tflite"],
            },
            "report": {"latency_runs": settings["latency"]},
        }
    )


def _per_channel_line(output_dir, float_row, teacher_acc) -> str:
    """The baseline as int8 TFLite with per-channel scales (TFLite's default)."""
    import keras

    import kerasdl.data
    from kerasdl.exporters import export

    data = kerasdl.data.load(
        DATA["name"], **{k: v for k, v in DATA.items() if k != "name"}
    )
    baseline = os.path.join(output_dir, "lenet5_pruned", "baseline", "model.keras")
    manifest = export(
        keras.saving.load_model(baseline, compile=False),
        os.path.join(output_dir, "per_channel"),
        formats=["tflite_int8"],
        strip_tensor_names=True,
        representative_data=data.x_train[:300],
        sample_inputs=data.x_test,
    )
    entry = manifest["files"]["tflite_int8"]
    agreement = entry["verification"]["class_agreement"]
    return (
        f"  (per-channel int8 instead: {entry['bytes'] / float_row.bytes:.3f}x, "
        f"{entry['bytes']:,} bytes; class agreement with Keras {agreement:.3f}; "
        f"float accuracy {teacher_acc:.2f}%)"
    )


def _student_from_labels(settings) -> float:
    """Test accuracy of the student architecture trained on labels alone."""
    import numpy as np

    import kerasdl
    import kerasdl.data
    from kerasdl.training import Trainer

    data = kerasdl.data.load(
        DATA["name"], **{k: v for k, v in DATA.items() if k != "name"}
    )
    trainer = Trainer(
        {
            "seed": SEED,
            "epochs": settings["distill"],
            "batch_size": 32,
            "optimizer": {"name": "adam", "learning_rate": 3e-3},
            "verbose": 0,
        }
    )
    trainer.fit(kerasdl.build(STUDENT), data.x_train, data.y_train)
    probs = trainer.model.predict(data.x_test, verbose=0)
    return float(np.mean(np.argmax(probs, -1) == data.y_test))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-test settings")
    parser.add_argument("--output-dir", default=None, help="keep the exported files")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]

    import keras

    print(
        f"kerasdl compression benchmark: LeNet-5 on digits 32x32 "
        f"(keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{os.cpu_count()} CPUs{', quick settings' if args.quick else ''})"
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerasdl-bench-") as scratch:
        output_dir = args.output_dir or scratch
        pruned = _prune_run(output_dir, settings)
        rep = pruned.report
        print("\n" + rep.table())
        float_row = rep.row("baseline", "tflite")
        int8_row = rep.row("baseline", "tflite_int8")
        sparse_row = rep.row("compressed", "tflite_int8")
        teacher_acc = 100 * float_row.metric
        lines = []
        size = int8_row.bytes / float_row.bytes
        drop = teacher_acc - 100 * int8_row.metric
        lines.append(
            f"int8 vs float TFLite size: {size:.3f}x ({int8_row.bytes:,} vs "
            f"{float_row.bytes:,} bytes)  target <= {TARGETS['int8_size']}x  "
            f"{_verdict(size, TARGETS['int8_size'])}"
        )
        lines.append(_per_channel_line(output_dir, float_row, teacher_acc))
        lines.append(
            f"int8 accuracy drop: {drop:.2f} points ({100 * int8_row.metric:.2f}% "
            f"vs {teacher_acc:.2f}%)  target <= {TARGETS['int8_drop']}  "
            f"{_verdict(drop, TARGETS['int8_drop'])}"
        )
        gz = sparse_row.gzip_bytes / float_row.gzip_bytes
        sparse_drop = teacher_acc - 100 * sparse_row.metric
        lines.append(
            f"80%-sparse int8 vs float TFLite, gzipped: {gz:.3f}x "
            f"({sparse_row.gzip_bytes:,} vs {float_row.gzip_bytes:,} bytes; "
            f"sparsity {sparse_row.sparsity:.3f} of all weights)  target <= "
            f"{TARGETS['sparse_gzip']}x  {_verdict(gz, TARGETS['sparse_gzip'])}"
        )
        lines.append(
            f"80%-sparse int8 accuracy drop: {sparse_drop:.2f} points "
            f"({100 * sparse_row.metric:.2f}%)  target <= {TARGETS['sparse_drop']}  "
            f"{_verdict(sparse_drop, TARGETS['sparse_drop'])}"
        )
        try:
            import kerasdl.compression.distillation  # noqa: F401
        except ImportError as error:
            lines.append(f"distilled student: not run ({error})")
        else:
            teacher_file = os.path.join(
                output_dir, "lenet5_pruned", "baseline", "model.keras"
            )
            distilled = _distill_run(output_dir, teacher_file, settings)
            print("\n" + distilled.report.table())
            student = distilled.report.row("compressed", "tflite")
            teacher = distilled.report.row("baseline", "tflite")
            share = student.parameters / teacher.parameters
            gap = 100 * (teacher.metric - student.metric)
            alone = _student_from_labels(settings)
            lines.append(
                f"distilled student: {student.parameters:,} parameters = "
                f"{100 * share:.1f}% of the teacher's {teacher.parameters:,}  "
                f"target <= {100 * TARGETS['student_params']:.0f}%  "
                f"{_verdict(share, TARGETS['student_params'])}"
            )
            lines.append(
                f"distilled student accuracy: {100 * student.metric:.2f}% vs teacher "
                f"{100 * teacher.metric:.2f}% (gap {gap:.2f} points; trained on "
                f"labels alone: {100 * alone:.2f}%)  target gap <= "
                f"{TARGETS['student_gap']}  {_verdict(gap, TARGETS['student_gap'])}"
            )
        ratio = int8_row.latency_p50_ms / float_row.latency_p50_ms
        lines.append(
            f"int8 vs float TFLite batch-1 latency (p50): {ratio:.2f}x "
            f"({int8_row.latency_p50_ms:.3f} vs {float_row.latency_p50_ms:.3f} ms, "
            f"{settings['latency']} runs)"
        )
        print("\n" + "\n".join(lines))
        if args.output_dir:
            print(f"\nfiles and reports: {args.output_dir}")
    print(f"\ntotal time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
