"""TFMOT reference values for the pruning/clustering parity tests.

Run in a subprocess with TF_USE_LEGACY_KERAS=1 (TFMOT works on tf_keras only):

    TF_USE_LEGACY_KERAS=1 python pruning_tfmot_reference.py OUT.npz

Writes the inputs it used (seeded kernels, data, initial weights) next to
TFMOT's outputs, so the Keras 3 side recomputes from exactly the same values.
"""

import json
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as tfk
from tensorflow_model_optimization.python.core.clustering.keras import (
    clustering_centroids,
)
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_impl,
    pruning_schedule,
)

SCHEDULES = {
    "constant_window": (
        "ConstantSparsity",
        {"target_sparsity": 0.6, "begin_step": 3, "end_step": 20, "frequency": 4},
    ),
    "constant_default": ("ConstantSparsity", {"target_sparsity": 0.5, "begin_step": 0}),
    "poly_cubic": (
        "PolynomialDecay",
        {
            "initial_sparsity": 0.1,
            "final_sparsity": 0.85,
            "begin_step": 2,
            "end_step": 40,
            "power": 3,
            "frequency": 3,
        },
    ),
    "poly_square": (
        "PolynomialDecay",
        {
            "initial_sparsity": 0.0,
            "final_sparsity": 0.9,
            "begin_step": 0,
            "end_step": 17,
            "power": 2,
            "frequency": 1,
        },
    ),
}
STEPS = list(range(-2, 61))

# name: (shape, sparsity, block_size, pooling, m_by_n)
MASK_CASES = {
    "dense_unstructured": ((16, 12), 0.6, (1, 1), "AVG", None),
    "conv_unstructured": ((3, 3, 4, 8), 0.7, (1, 1), "AVG", None),
    "dense_ties": ((8, 8), 0.5, (1, 1), "AVG", None),
    "dense_block22_avg": ((16, 12), 0.5, (2, 2), "AVG", None),
    "dense_block22_max": ((16, 12), 0.5, (2, 2), "MAX", None),
    "dense_block14_max_ragged": ((10, 7), 0.4, (1, 4), "MAX", None),
    "dense_block32_avg_ragged": ((11, 9), 0.45, (3, 2), "AVG", None),
    "dense_2by4": ((16, 12), 0.5, (1, 1), "AVG", (2, 4)),
    "dense_1by4": ((12, 8), 0.5, (1, 1), "AVG", (1, 4)),
    "dense_2by4_ragged": ((10, 6), 0.5, (1, 1), "AVG", (2, 4)),
    "conv_2by4": ((3, 3, 8, 4), 0.5, (1, 1), "AVG", (2, 4)),
}

# name: (schedule class, kwargs, block_size, m_by_n)
TRAIN_CASES = {
    "train_poly": (
        "PolynomialDecay",
        {
            "initial_sparsity": 0.2,
            "final_sparsity": 0.7,
            "begin_step": 1,
            "end_step": 5,
            "frequency": 2,
        },
        (1, 1),
        None,
    ),
    "train_block22": (
        "ConstantSparsity",
        {"target_sparsity": 0.5, "begin_step": 1, "frequency": 3},
        (2, 2),
        None,
    ),
    "train_2by4": (
        "ConstantSparsity",
        {"target_sparsity": 0.5, "begin_step": 0, "frequency": 100},
        (1, 1),
        (2, 4),
    ),
}


def schedule_values(out):
    for name, (cls_name, kwargs) in SCHEDULES.items():
        schedule = getattr(pruning_schedule, cls_name)(**kwargs)
        flags, values = [], []
        for step in STEPS:
            flag, value = schedule(tf.constant(step, tf.int64))
            flags.append(bool(flag.numpy()))
            values.append(float(value.numpy()))
        out[f"schedule/{name}/should_prune"] = np.array(flags)
        out[f"schedule/{name}/sparsity"] = np.array(values, np.float32)


def masks(out, rng):
    for name, (shape, sparsity, block, pooling, m_by_n) in MASK_CASES.items():
        w = rng.standard_normal(shape).astype(np.float32)
        if name == "dense_ties":
            w = np.round(w, 1)
        weight = tf.Variable(w)
        mask = tf.Variable(tf.ones_like(w))
        threshold = tf.Variable(0.0)
        pruning = pruning_impl.Pruning(
            training_step_fn=lambda: tf.constant(1, tf.int64),
            pruning_vars=[(weight, mask, threshold)],
            pruning_schedule=pruning_schedule.ConstantSparsity(
                sparsity, 0, frequency=1
            ),
            block_size=block,
            block_pooling_type=pooling,
            sparsity_m_by_n=m_by_n,
        )
        new_threshold, new_mask = pruning._maybe_update_block_mask(weight)
        out[f"mask/{name}/weights"] = w
        out[f"mask/{name}/mask"] = np.asarray(new_mask).astype(np.float32)
        out[f"mask/{name}/threshold"] = np.float32(new_threshold)


def training(out, rng):
    x = rng.standard_normal((32, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    out["train/x"] = x
    out["train/y"] = y
    init = [
        rng.standard_normal((8, 12)).astype(np.float32) * 0.5,
        np.zeros(12, np.float32),
        rng.standard_normal((12, 3)).astype(np.float32) * 0.5,
        np.zeros(3, np.float32),
    ]
    for i, w in enumerate(init):
        out[f"train/init/{i}"] = w
    sparsity = tfmot.sparsity.keras
    for name, (cls_name, kwargs, block, m_by_n) in TRAIN_CASES.items():
        model = tfk.Sequential(
            [
                tfk.Input((8,)),
                tfk.layers.Dense(12, activation="relu"),
                tfk.layers.Dense(3),
            ]
        )
        model.set_weights(init)
        pruned = sparsity.prune_low_magnitude(
            model,
            pruning_schedule=getattr(sparsity, cls_name)(**kwargs),
            block_size=block,
            sparsity_m_by_n=m_by_n,
        )
        pruned.compile(
            tfk.optimizers.SGD(0.1),
            tfk.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        pruned.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[sparsity.UpdatePruningStep()],
        )
        for i, layer in enumerate(pruned.layers):
            out[f"{name}/mask/{i}"] = layer.pruning_vars[0][1].numpy()
        stripped = sparsity.strip_pruning(pruned)
        for i, w in enumerate(stripped.get_weights()):
            out[f"{name}/weights/{i}"] = w
        out[f"{name}/logits"] = stripped(x).numpy()


def centroids(out, rng):
    w = rng.standard_normal((16, 12)).astype(np.float32)
    out["cluster/weights"] = w
    for init, cls in (
        ("linear", clustering_centroids.LinearCentroidsInitialisation),
        ("density_based", clustering_centroids.DensityBasedCentroidsInitialisation),
    ):
        for k in (4, 16):
            c = cls(tf.constant(w), k).get_cluster_centroids()
            out[f"cluster/{init}/{k}"] = np.asarray(c, np.float32)


def main(path):
    rng = np.random.default_rng(20241)
    out = {}
    schedule_values(out)
    masks(out, rng)
    training(out, rng)
    centroids(out, rng)
    out["meta"] = np.array(
        json.dumps(
            {
                "tfmot": tfmot.__version__,
                "tensorflow": tf.__version__,
                "steps": STEPS,
                "schedules": SCHEDULES,
                "mask_cases": {
                    k: [list(v[0]), v[1], list(v[2]), v[3], v[4]]
                    for k, v in MASK_CASES.items()
                },
                "train_cases": TRAIN_CASES,
            }
        )
    )
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
