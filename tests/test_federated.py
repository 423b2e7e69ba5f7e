"""FedAvg over simulated clients (kerasdl.federated)."""

import keras
import numpy as np
import pytest

from kerasdl import federated


@pytest.mark.one_backend
def test_dirichlet_split_covers_every_index_once_and_skews_labels():
    y = np.repeat(np.arange(10), 50)
    skewed = federated.dirichlet_split(y, num_clients=10, alpha=0.05, seed=0)
    flat = np.sort(np.concatenate(skewed))
    np.testing.assert_array_equal(flat, np.arange(len(y)))
    near_iid = federated.dirichlet_split(y, num_clients=10, alpha=1000.0, seed=0)

    def classes(parts):
        return np.mean([len(np.unique(y[p])) for p in parts if len(p)])

    assert classes(skewed) < 4 < 9 <= classes(near_iid)
    with pytest.raises(ValueError, match="alpha"):
        federated.dirichlet_split(y, alpha=0.0)


@pytest.mark.one_backend
def test_average_weights_is_weighted_by_client_size():
    a = [np.zeros((2, 2), "float32"), np.zeros(2, "float32")]
    b = [np.ones((2, 2), "float32"), np.full(2, 4.0, "float32")]
    mean = federated.average_weights([a, b], [1, 3])
    np.testing.assert_allclose(mean[0], 0.75)
    np.testing.assert_allclose(mean[1], 3.0)
    assert mean[0].dtype == np.float32
    with pytest.raises(ValueError, match="sizes"):
        federated.average_weights([a, b], [0, 0])
    assert federated.rounds_to_reach([0.2, 0.6, 0.9], 0.5) == 2
    assert federated.rounds_to_reach([0.2], 0.5) is None


def test_fedavg_learns_from_clients_that_each_see_one_class():
    # Two clients, one class each: neither could learn the task alone; the
    # averaged model separates both classes.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    clients = [(x[y == 0], y[y == 0]), (x[y == 1], y[y == 1])]

    def build():
        return keras.Sequential(
            [keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]
        )

    # One local step per round (batch = client): FedAvg of equal-sized
    # clients is then one full-batch gradient step per round.
    result = federated.fedavg(
        build, clients, rounds=15, batch_size=64, learning_rate=0.5, test=(x, y)
    )
    assert len(result["accuracy"]) == 15
    assert result["accuracy"][-1] >= 0.9
