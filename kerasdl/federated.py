"""Federated learning, simulated: FedAvg over clients with non-IID data.

Clients never share data, only weights: each round, the server sends the
global weights to a fraction of the clients, each trains a few local epochs
on its own examples, and the server replaces the global weights by the
average of the clients' weights, weighted by their numbers of examples
(McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks
from Decentralized Data").

- `dirichlet_split`: label-skewed (non-IID) client partitions: each class
  spread over the clients by Dirichlet(alpha) proportions (small alpha:
  each client sees few classes; large alpha: close to IID).
- `average_weights`: the weighted average at the heart of FedAvg.
- `fedavg`: the simulation, with the test accuracy after every round.
- `rounds_to_reach`: the first round whose accuracy reaches a target.

Example:
>>> clients = dirichlet_split(y_train, num_clients=10, alpha=0.1)
>>> result = fedavg(lambda: kerasdl.build("mlp", input_shape=(8, 8, 1)),
...                 [(x_train[i], y_train[i]) for i in clients], rounds=30,
...                 test=(x_test, y_test))
>>> result["accuracy"][-1]
"""

from __future__ import annotations

import time

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_float, check_int

__all__ = ["average_weights", "dirichlet_split", "fedavg", "rounds_to_reach"]


def dirichlet_split(y, num_clients=10, alpha=0.5, seed=0) -> list[np.ndarray]:
    """Splits example indices over clients with Dirichlet label skew.

    Args:
        y: integer labels.
        num_clients: int. Number of clients.
        alpha: float. Concentration; 0.1 gives each client mostly one or two
            classes, 100 close to an IID split.
        seed: int.

    Returns:
        list of index arrays, one per client; together they hold every index
        exactly once. A client may be empty for very small alpha.
    """
    check_int("num_clients", num_clients, minimum=1)
    check_float("alpha", alpha, minimum=0.0, min_inclusive=False)
    y = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(num_clients)]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
        for client, chunk in enumerate(np.split(members, cuts)):
            parts[client].extend(chunk.tolist())
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def average_weights(weight_lists, sizes) -> list[np.ndarray]:
    """Average of several models' weights, weighted by `sizes`.

    Args:
        weight_lists: list of weight lists (`model.get_weights()`), same shapes.
        sizes: list of numbers (examples per client), not all zero.

    Returns:
        list of np.ndarray.
    """
    sizes = np.asarray(sizes, np.float64)
    if len(sizes) != len(weight_lists) or sizes.sum() <= 0 or (sizes < 0).any():
        raise ValueError(
            f"average_weights needs one non-negative size per weight list, not all "
            f"zero; received {len(weight_lists)} lists and sizes {sizes.tolist()}."
        )
    share = sizes / sizes.sum()
    return [
        np.sum([s * w[i] for s, w in zip(share, weight_lists)], axis=0).astype(
            weight_lists[0][i].dtype
        )
        for i in range(len(weight_lists[0]))
    ]


def _accuracy(model, x, y) -> float:
    scores = _backend.to_numpy(model(x, training=False))
    return float(np.mean(scores.argmax(-1) == np.asarray(y).reshape(-1)))


def fedavg(
    build_model,
    clients,
    rounds=20,
    local_epochs=1,
    client_fraction=1.0,
    batch_size=32,
    learning_rate=0.1,
    test=None,
    seed=0,
) -> dict:
    """Federated averaging, simulated in one process.

    Every client trains the same Keras model object in turn (its weights
    set to the global ones first) with plain SGD, which keeps no state
    between rounds, so one compiled model serves all clients.

    Args:
        build_model: callable returning an uncompiled keras.Model with class
            probabilities out (called once, after seeding).
        clients: list of (x, y) arrays, one per client.
        rounds: int. Communication rounds.
        local_epochs: int. Epochs each selected client trains per round.
        client_fraction: float in (0, 1]. Fraction of clients per round.
        batch_size: int. Local batch size.
        learning_rate: float. Local SGD learning rate.
        test: (x, y) or None. Scored after every round.
        seed: int. Seeds the initial weights and the client sampling.

    Returns:
        dict: model (with the final global weights), accuracy (test
        accuracy per round, empty without `test`), seconds.
    """
    check_int("rounds", rounds, minimum=1)
    check_int("local_epochs", local_epochs, minimum=1)
    check_float(
        "client_fraction",
        client_fraction,
        minimum=0.0,
        maximum=1.0,
        min_inclusive=False,
    )
    clients = [(x, y) for x, y in clients if len(x)]
    if not clients:
        raise ValueError(
            "fedavg needs at least one client with examples; received none."
        )
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss="sparse_categorical_crossentropy",
    )
    rng = np.random.default_rng(seed)
    per_round = max(1, round(client_fraction * len(clients)))
    global_weights = model.get_weights()
    accuracy = []
    for _ in range(rounds):
        chosen = rng.choice(len(clients), per_round, replace=False)
        updates, sizes = [], []
        for c in chosen:
            x, y = clients[c]
            model.set_weights(global_weights)
            model.fit(x, y, epochs=local_epochs, batch_size=batch_size, verbose=0)
            updates.append(model.get_weights())
            sizes.append(len(x))
        global_weights = average_weights(updates, sizes)
        model.set_weights(global_weights)
        if test is not None:
            accuracy.append(_accuracy(model, *test))
    return {
        "model": model,
        "accuracy": accuracy,
        "seconds": time.perf_counter() - started,
    }


def rounds_to_reach(accuracy, target) -> int | None:
    """First round (1-based) whose accuracy is at least `target`, else None."""
    for i, value in enumerate(accuracy):
        if value >= target:
            return i + 1
    return None
