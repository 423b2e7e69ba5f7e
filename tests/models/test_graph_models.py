"""Graph models: Trainer on a transductive split, .keras round trip, learning."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.data import graph_batches, graphs
from kerasdl.training import Trainer


def _train(model, graph, epochs, learning_rate=0.01):
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 1,
            "shuffle": False,
            "optimizer": {"name": "adam", "learning_rate": learning_rate},
            "loss": "sparse_categorical_crossentropy",
            "verbose": 0,
        }
    )
    # Masked loss: only the training nodes weigh in.
    trainer.fit(
        model,
        graph.model_inputs(),
        graph.y[None],
        sample_weight=graph.sample_weight("train"),
    )
    return model


def _accuracy(model, graph, split="test"):
    probs = keras.ops.convert_to_numpy(model(graph.model_inputs(), training=False))
    return graph.accuracy(probs, split)


def _mlp(graph, hidden=16, dropout=0.5):
    x = keras.Input((None, graph.num_features))
    edges = keras.Input((2, None), dtype="int32")  # unused: features only
    h = keras.layers.Dropout(dropout)(x)
    h = keras.layers.Dense(hidden, activation="relu")(h)
    h = keras.layers.Dropout(dropout)(h)
    out = keras.layers.Dense(graph.num_classes, activation="softmax")(h)
    return keras.Model([x, edges], out)


@pytest.mark.parametrize("name", ["gcn", "graphsage", "gat"])
def test_trains_with_the_trainer_and_round_trips_as_keras(name, tmp_path):
    graph = graphs.karate_club()
    model = kerasdl.build(
        name, input_shape=(None, graph.num_features), num_classes=2, hidden_units=4
    )
    before = _accuracy(model, graph, "train")
    _train(model, graph, epochs=3)
    assert np.isfinite(_accuracy(model, graph)) and before >= 0
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    a = keras.ops.convert_to_numpy(model(graph.model_inputs(), training=False))
    b = keras.ops.convert_to_numpy(loaded(graph.model_inputs(), training=False))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _cycles_and_paths(count=12, seed=0):
    """Graph classification a model must see edges for: cycle (1) vs path (0)."""
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for i in range(count):
        n = int(rng.integers(4, 9))
        s = np.arange(n if i % 2 else n - 1)
        t = (s + 1) % n
        items.append(
            graphs.Graph(np.ones((n, 1)), np.concatenate([[s, t], [t, s]], axis=1))
        )
        labels.append(i % 2)
    return graphs.GraphCollection(items, labels, np.array([0, 1]))


@pytest.mark.one_backend  # pipeline, not backend, under test
def test_graph_classifier_trains_on_graph_batches_and_round_trips(tmp_path):
    data = _cycles_and_paths()
    model = kerasdl.build(
        "graph_classifier",
        input_shape=(None, 1),
        num_classes=2,
        hidden_units=8,
        num_layers=2,
        pooling="mean",
    )
    batches = graph_batches.GraphBatches(data, batch_size=4, shuffle=True)
    trainer = Trainer(
        {"seed": 0, "epochs": 2, "optimizer": "adam", "verbose": 0,
         "loss": "sparse_categorical_crossentropy"}
    )  # fmt: skip
    history = trainer.fit(model, batches)
    assert len(history.history["loss"]) == 2
    probs = model.predict(graph_batches.GraphBatches(data, batch_size=5), verbose=0)
    assert probs.shape == (12, 2)
    path = tmp_path / "graph_classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    inputs = batches[0][0]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(inputs)),
        keras.ops.convert_to_numpy(loaded(inputs)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.one_backend  # pipeline, not backend, under test
def test_graphsage_trains_on_sampled_neighbour_batches():
    graph = graphs.stochastic_block_model(num_nodes=90, num_features=4, seed=0)
    model = kerasdl.build("graphsage", input_shape=(None, 4), num_classes=3)
    batches = graph_batches.NeighbourBatches(graph, (5, 5), batch_size=32)
    trainer = Trainer(
        {"seed": 0, "epochs": 4, "optimizer": "adam", "verbose": 0,
         "loss": "sparse_categorical_crossentropy"}
    )  # fmt: skip
    loss = trainer.fit(model, batches).history["loss"]
    assert loss[-1] < loss[0], loss
    # Inference on the whole graph with the weights trained on samples.
    assert 0.0 <= _accuracy(model, graph, "val") <= 1.0


def _gcn_loss_curve_in_float64(graph, weights, learning_rate, steps):
    """The masked cross-entropy of a 2-layer GCN trained by full-batch SGD."""
    n = graph.num_nodes
    a = np.eye(n)
    np.add.at(a, (graph.edge_index[1], graph.edge_index[0]), 1.0)
    d = 1 / np.sqrt(a.sum(axis=1))
    a = d[:, None] * a * d[None, :]
    x = graph.x.astype("float64")
    onehot = np.eye(graph.num_classes)[graph.y]
    m = graph.train_mask.astype("float64")[:, None]
    w1, b1, w2, b2 = (w.astype("float64") for w in weights)
    curve = []
    for _ in range(steps):
        ax = a @ x
        z1 = ax @ w1 + b1
        h = np.maximum(z1, 0)
        ah = a @ h
        z2 = ah @ w2 + b2
        p = np.exp(z2 - z2.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        # Keras' "sum_over_batch_size": weighted sum over all N nodes, / N.
        curve.append(float(-(m * onehot * np.log(p)).sum() / n))
        dz2 = m * (p - onehot) / n
        dz1 = (a.T @ dz2 @ w2.T) * (z1 > 0)
        w2, b2 = w2 - learning_rate * ah.T @ dz2, b2 - learning_rate * dz2.sum(0)
        w1, b1 = w1 - learning_rate * ax.T @ dz1, b1 - learning_rate * dz1.sum(0)
    return curve


def test_loss_curve_matches_a_float64_numpy_gcn_on_every_backend():
    # Runs in each backend's pass; all three must follow the same reference
    # curve, so they agree with one another for the same seed and weights.
    graph = graphs.stochastic_block_model(
        num_nodes=40, num_features=6, p_in=0.2, labelled_per_class=5, num_val=5
    )
    rng = np.random.default_rng(0)
    weights = [
        rng.normal(0, 0.5, (6, 8)).astype("float32"),
        rng.normal(0, 0.1, (8,)).astype("float32"),
        rng.normal(0, 0.5, (8, 3)).astype("float32"),
        rng.normal(0, 0.1, (3,)).astype("float32"),
    ]
    model = kerasdl.build(
        "gcn", input_shape=(None, 6), num_classes=3, hidden_units=8, dropout=0.0
    )
    model.set_weights(weights)
    trainer = Trainer(
        {
            "seed": 0,
            "epochs": 8,
            "batch_size": 1,
            "shuffle": False,
            "optimizer": {"name": "sgd", "learning_rate": 2.0},
            "loss": "sparse_categorical_crossentropy",
            "verbose": 0,
        }
    )
    history = trainer.fit(
        model,
        graph.model_inputs(),
        graph.y[None],
        sample_weight=graph.sample_weight("train"),
    )
    expected = _gcn_loss_curve_in_float64(graph, weights, 2.0, 8)
    assert expected[-1] < 0.5 * expected[0]  # the curve really moves
    np.testing.assert_allclose(history.history["loss"], expected, rtol=2e-4)


@pytest.fixture(scope="module")
def sbm_and_mlp():
    """The SBM of the learning tests and its feature-only MLP's test accuracy."""
    graph = graphs.stochastic_block_model(num_nodes=600, feature_noise=4.0, seed=0)
    return graph, _accuracy(_train(_mlp(graph), graph, 200), graph)


@pytest.mark.slow
def test_gcn_beats_a_feature_only_mlp_on_an_sbm_graph(sbm_and_mlp):
    # Measured (TensorFlow, shared CPU): mlp 0.509, gcn 0.986 on the test nodes.
    graph, mlp = sbm_and_mlp
    model = kerasdl.build("gcn", input_shape=(None, graph.num_features), num_classes=3)
    gcn = _accuracy(_train(model, graph, 200), graph)
    print(f"SBM test accuracy: mlp {mlp:.3f}, gcn {gcn:.3f}")
    assert gcn >= mlp + 0.10, (gcn, mlp)


@pytest.mark.slow
def test_gat_beats_a_feature_only_mlp_on_an_sbm_graph(sbm_and_mlp):
    # The paper's dropout 0.6 leaves GAT undertrained here in 200 epochs
    # (0.484 measured); 0.2 reached 0.982 against the MLP's 0.509.
    graph, mlp = sbm_and_mlp
    model = kerasdl.build(
        "gat", input_shape=(None, graph.num_features), num_classes=3, dropout=0.2
    )
    gat = _accuracy(_train(model, graph, 200), graph)
    print(f"SBM test accuracy: mlp {mlp:.3f}, gat {gat:.3f}")
    assert gat >= mlp + 0.10, (gat, mlp)


@pytest.mark.slow
def test_karate_club_factions_from_two_labels_per_class():
    graph = graphs.karate_club(labelled_per_class=2, seed=0)
    model = kerasdl.build("gcn", input_shape=(None, 34), num_classes=2, hidden_units=16)
    accuracy = _accuracy(_train(model, graph, 200), graph)
    print(f"karate club test accuracy (GCN, 2 labels per class): {accuracy:.3f}")
    assert accuracy >= 0.90, accuracy


@pytest.mark.slow
def test_graphsage_on_sampled_neighbourhoods_beats_a_feature_only_mlp(sbm_and_mlp):
    # Measured: 0.923 against the MLP's 0.509 (20 epochs of 3 batches).
    graph, mlp = sbm_and_mlp
    model = kerasdl.build(
        "graphsage", input_shape=(None, graph.num_features), num_classes=3
    )
    batches = graph_batches.NeighbourBatches(graph, (10, 10), batch_size=20, seed=0)
    trainer = Trainer(
        {"seed": 0, "epochs": 20, "optimizer": {"name": "adam", "learning_rate": 0.01},
         "loss": "sparse_categorical_crossentropy", "verbose": 0}
    )  # fmt: skip
    trainer.fit(model, batches)
    sage = _accuracy(model, graph)  # inference on the whole graph
    print(f"SBM test accuracy: mlp {mlp:.3f}, graphsage (sampled) {sage:.3f}")
    assert sage >= mlp + 0.10, (sage, mlp)


def _write_cycles_and_paths_as_tu(root, count=200, seed=0):
    """Cycles (label 1) and paths (label -1) of 6..20 nodes, TU files."""
    rng = np.random.default_rng(seed)
    edges, indicator, labels, first = [], [], [], 1
    for g in range(count):
        n = int(rng.integers(6, 21))
        cycle = g % 2 == 1
        for i in range(n if cycle else n - 1):
            s, t = first + i, first + (i + 1) % n
            edges += [(s, t), (t, s)]
        indicator += [g + 1] * n
        labels.append(1 if cycle else -1)
        first += n
    (root / "CYC_A.txt").write_text("\n".join(f"{s}, {t}" for s, t in edges))
    (root / "CYC_graph_indicator.txt").write_text("\n".join(map(str, indicator)))
    (root / "CYC_graph_labels.txt").write_text("\n".join(map(str, labels)))


@pytest.mark.slow
def test_gin_tells_cycles_from_paths_read_from_tu_files(tmp_path):
    # Constant node features and the same size range in both classes: only
    # the edges tell the classes apart (an edge-blind model is at chance).
    # Measured: 1.000 on the 40 test graphs.
    _write_cycles_and_paths_as_tu(tmp_path)
    data = graphs.load_tu("CYC", tmp_path)
    train, test = data.split(0.2, seed=0)
    model = kerasdl.build(
        "graph_classifier",
        input_shape=(None, 1),
        num_classes=2,
        hidden_units=32,
        pooling="max",
    )
    trainer = Trainer(
        {"seed": 0, "epochs": 30, "optimizer": {"name": "adam", "learning_rate": 0.01},
         "loss": "sparse_categorical_crossentropy", "verbose": 0}
    )  # fmt: skip
    trainer.fit(model, graph_batches.GraphBatches(train, batch_size=16, shuffle=True))
    probs = model.predict(graph_batches.GraphBatches(test.graphs), verbose=0)
    accuracy = float((probs.argmax(-1) == test.labels).mean())
    print(f"cycles vs paths, GIN test accuracy: {accuracy:.3f}")
    assert accuracy >= 0.9, accuracy
