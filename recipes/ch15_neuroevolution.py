"""Chapter 15, neuroevolution: networks that design networks, and weights without gradients.

Thin recipe: configs with plain values and a run function that only calls
library code. Evolves convolutional architectures for MNIST-1D with
regularized (aging) evolution (every candidate trained by the Trainer and
selected on a validation split), then trains a CartPole-v1 policy's weights
with OpenAI-ES, and prints:

- the search trajectory: each evaluation's id, how it was made, its
  parameters, its validation accuracy and the best so far;
- the ES trajectory: mean and best episode return per generation;
- the best architecture as a spec in YAML, which `kerasdl build` accepts
  (also written to <run-root>/best_spec.yaml).

    python recipes/ch15_neuroevolution.py            # full run, ~10 minutes
    python recipes/ch15_neuroevolution.py --quick    # smoke run, seconds
"""

import argparse
import os

import yaml

import kerasdl
from kerasdl.search import TrainEvaluator, episode_return, evolve, openai_es

SETTINGS = {
    "full": {"cycles": 40, "population": 10, "sample": 3, "epochs": 8,
             "generations": 150},
    "quick": {"cycles": 3, "population": 2, "sample": 2, "epochs": 1,
              "generations": 2},
}  # fmt: skip

SEED_SPEC = {
    "name": "seed",
    "input_shape": [40, 1],
    "sequential": [
        {"Conv1D": {"filters": 8, "kernel_size": 5, "padding": "same",
                    "activation": "relu"}},
        "Flatten",
        {"Dense": {"units": 10, "activation": "softmax"}},
    ],
}  # fmt: skip


def run_config(epochs: int) -> dict:
    """MNIST-1D, Adam 3e-3, batch 128, 20% validation, seed 0."""
    return {
        "data": {"name": "mnist1d"},
        "training": {
            "seed": 0, "epochs": epochs, "batch_size": 128,
            "validation_split": 0.2,
            "optimizer": {"name": "adam", "learning_rate": 0.003},
            "callbacks": {"plot": False, "checkpoint": False},
        },
    }  # fmt: skip


POLICY = {"model": "mlp", "input_shape": [4], "num_classes": 2,
          "hidden_units": [16], "activation": "tanh"}  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 evaluations, 1 epoch")
    parser.add_argument("--run-root", default="runs/ch15")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]

    print(
        f"{'evaluation':<12} {'made by':<28} {'params':>8} {'val acc':>8} {'best':>8}"
    )
    result = evolve(
        SEED_SPEC,
        TrainEvaluator(run_config(settings["epochs"]), f"{args.run_root}/candidates"),
        cycles=settings["cycles"], population_size=settings["population"],
        sample_size=settings["sample"], max_params=100_000,
        directory=args.run_root,
    )  # fmt: skip
    best = 0.0
    for entry in result.history:
        accuracy = entry["metrics"].get("val_accuracy", 0.0)
        best = max(best, accuracy)
        print(
            f"{entry['id']:<12} {entry['operator']:<28} "
            f"{entry['metrics']['parameters']:>8} {accuracy:>8.4f} {best:>8.4f}"
        )

    print(f"{'ES generation':<12} {'mean return / 500':>24} {'best / 500':>10}")
    policy = kerasdl.build(POLICY)
    es = openai_es(
        policy,
        lambda predict: episode_return(predict, "CartPole-v1", episodes=3),
        generations=settings["generations"], population=32, sigma=0.5,
        learning_rate=0.1, target=500, seed=0,
    )  # fmt: skip
    for row in es.history:
        print(
            f"{row['generation']:<12} {row['mean'] / 500:>24.3f} {row['best'] / 500:>10.3f}"
        )

    spec = result.best["spec"]
    os.makedirs(args.run_root, exist_ok=True)
    path = os.path.join(args.run_root, "best_spec.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    print(f"\nbest spec ({result.best['id']}, {result.best['genome']['params']} "
          f"parameters), YAML for `kerasdl build {path}`:")  # fmt: skip
    print(yaml.safe_dump(spec, sort_keys=False))


if __name__ == "__main__":
    main()
