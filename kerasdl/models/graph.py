"""Node classification models on graphs: GCN, GraphSAGE and GAT.

Each model takes two inputs, a batch of graphs (for transductive node
classification, a batch of one, `kerasdl.data.graphs.Graph.model_inputs()`):

- node features `(batch, N, F)`, `input_shape = (N or None, F)`;
- edge index `(batch, 2, E)` int32 (row 0 source, row 1 target node);

and returns class probabilities per node, `(batch, N, num_classes)`. A
transductive split trains with the labels `(1, N)` and the training mask as
sample weights `(1, N)`, so only the labelled nodes contribute to the loss.
"""

from __future__ import annotations

import keras

from kerasdl._checks import check_choice, check_float, check_int
from kerasdl.layers.graph import GATConv, GCNConv, SAGEConv
from kerasdl.registry import register_model

__all__ = ["gat", "gcn", "graphsage"]


def _inputs(input_shape):
    if len(tuple(input_shape)) != 2:
        raise ValueError(
            "input_shape must be (num_nodes or None, num_features) for a graph "
            f"model; got {input_shape!r}."
        )
    x = keras.Input(tuple(input_shape), name="node_features")
    edges = keras.Input((2, None), dtype="int32", name="edge_index")
    return x, edges


def gcn(
    input_shape=(None, 1433), num_classes=7, hidden_units=16, dropout=0.5, name="gcn"
):
    """Two-layer graph convolutional network (Kipf & Welling, 2017).

    Args:
        input_shape: tuple. `(num_nodes or None, num_features)` of the node features.
        num_classes: int. Number of node classes.
        hidden_units: int. Width of the hidden graph convolution.
        dropout: float. Dropout rate on the node features before each layer.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x, edge_index] -> (batch, N, num_classes)` softmax.
    """
    check_int("num_classes", num_classes, minimum=2)
    check_int("hidden_units", hidden_units, minimum=1)
    check_float("dropout", dropout, 0.0, 1.0, max_inclusive=False)
    x, edges = _inputs(input_shape)
    h = keras.layers.Dropout(dropout, name="dropout_1")(x)
    h = GCNConv(hidden_units, activation="relu", name="gcn_1")(h, edges)
    h = keras.layers.Dropout(dropout, name="dropout_2")(h)
    h = GCNConv(num_classes, name="gcn_2")(h, edges)
    out = keras.layers.Activation("softmax", name="predictions")(h)
    return keras.Model([x, edges], out, name=name)


def graphsage(
    input_shape=(None, 1433),
    num_classes=7,
    hidden_units=64,
    aggregator="mean",
    dropout=0.5,
    name="graphsage",
):
    """Two-layer GraphSAGE (Hamilton et al., 2017), full-batch.

    Args:
        input_shape: tuple. `(num_nodes or None, num_features)` of the node features.
        num_classes: int. Number of node classes.
        hidden_units: int. Width of the hidden layer.
        aggregator: str. "mean" or "max" (max-pooling).
        dropout: float. Dropout rate on the node features before each layer.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x, edge_index] -> (batch, N, num_classes)` softmax.
    """
    check_int("num_classes", num_classes, minimum=2)
    check_int("hidden_units", hidden_units, minimum=1)
    check_choice("aggregator", aggregator, ("mean", "max"))
    check_float("dropout", dropout, 0.0, 1.0, max_inclusive=False)
    x, edges = _inputs(input_shape)
    h = keras.layers.Dropout(dropout, name="dropout_1")(x)
    h = SAGEConv(hidden_units, aggregator, activation="relu", name="sage_1")(h, edges)
    h = keras.layers.Dropout(dropout, name="dropout_2")(h)
    h = SAGEConv(num_classes, aggregator, name="sage_2")(h, edges)
    out = keras.layers.Activation("softmax", name="predictions")(h)
    return keras.Model([x, edges], out, name=name)


def gat(
    input_shape=(None, 1433),
    num_classes=7,
    hidden_units=8,
    heads=8,
    dropout=0.6,
    name="gat",
):
    """Two-layer graph attention network (Veličković et al., 2018).

    Args:
        input_shape: tuple. `(num_nodes or None, num_features)` of the node features.
        num_classes: int. Number of node classes.
        hidden_units: int. Features per head of the hidden layer.
        heads: int. Attention heads of the hidden layer (concatenated).
        dropout: float. Dropout on the features and on the attention.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x, edge_index] -> (batch, N, num_classes)` softmax.
    """
    check_int("num_classes", num_classes, minimum=2)
    check_int("hidden_units", hidden_units, minimum=1)
    check_int("heads", heads, minimum=1)
    check_float("dropout", dropout, 0.0, 1.0, max_inclusive=False)
    x, edges = _inputs(input_shape)
    h = keras.layers.Dropout(dropout, name="dropout_1")(x)
    h = GATConv(hidden_units, heads, dropout=dropout, activation="elu", name="gat_1")(
        h, edges
    )
    h = keras.layers.Dropout(dropout, name="dropout_2")(h)
    h = GATConv(num_classes, 1, concat_heads=False, dropout=dropout, name="gat_2")(
        h, edges
    )
    out = keras.layers.Activation("softmax", name="predictions")(h)
    return keras.Model([x, edges], out, name=name)


_TINY = {"input_shape": (None, 5), "num_classes": 3}
register_model("gcn", gcn, family="graph", tiny={**_TINY, "hidden_units": 4})
register_model(
    "graphsage",
    graphsage,
    family="graph",
    tiny={**_TINY, "hidden_units": 4, "aggregator": "max"},
)
register_model(
    "gat", gat, family="graph", tiny={**_TINY, "hidden_units": 2, "heads": 2}
)
