"""Graph models: Trainer on a transductive split, .keras round trip, learning."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.data import graphs
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
    probs = keras.ops.convert_to_numpy(model(graph.model_inputs(), training=False))[0]
    mask = getattr(graph, f"{split}_mask")
    return float((probs.argmax(-1)[mask] == graph.y[mask]).mean())


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


@pytest.mark.slow
def test_gcn_beats_a_feature_only_mlp_on_an_sbm_graph():
    # Measured (TensorFlow, shared CPU): mlp 0.477, gcn 0.986 on the test nodes.
    graph = graphs.stochastic_block_model(num_nodes=600, feature_noise=4.0, seed=0)
    mlp = _accuracy(_train(_mlp(graph), graph, 200), graph)
    model = kerasdl.build("gcn", input_shape=(None, graph.num_features), num_classes=3)
    gcn = _accuracy(_train(model, graph, 200), graph)
    print(f"SBM test accuracy: mlp {mlp:.3f}, gcn {gcn:.3f}")
    assert gcn >= mlp + 0.10, (gcn, mlp)


@pytest.mark.slow
def test_gat_beats_a_feature_only_mlp_on_an_sbm_graph():
    # The paper's dropout 0.6 leaves GAT undertrained here in 200 epochs
    # (0.484 measured); 0.2 reached 0.968 against the MLP's 0.477.
    graph = graphs.stochastic_block_model(num_nodes=600, feature_noise=4.0, seed=0)
    mlp = _accuracy(_train(_mlp(graph), graph, 200), graph)
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
