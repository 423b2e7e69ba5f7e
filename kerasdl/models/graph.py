"""Graph models: GCN, GraphSAGE and GAT node classifiers, a graph classifier.

Each node classifier takes two inputs, a batch of graphs (for transductive node
classification, a batch of one, `kerasdl.data.graphs.Graph.model_inputs()`):

- node features `(batch, N, F)`, `input_shape = (N or None, F)`;
- edge index `(batch, 2, E)` int32 (row 0 source, row 1 target node);

and returns class probabilities per node, `(batch, N, num_classes)`. A
transductive split trains with the labels `(1, N)` and the training mask as
sample weights `(1, N)`, so only the labelled nodes contribute to the loss
(`kerasdl.data.graph_batches.NeighbourBatches` gives sampled mini-batches
in the same layout).

`graph_classifier` takes a batch of padded small graphs and a node mask
(`kerasdl.data.graph_batches.GraphBatches`) and returns one class
distribution per graph.
"""

from __future__ import annotations

import keras

from kerasdl._checks import check_choice, check_float, check_int
from kerasdl.layers.graph import GATConv, GCNConv, GINConv, GlobalGraphPooling, SAGEConv
from kerasdl.registry import register_model

__all__ = ["gat", "gcn", "graph_classifier", "graphsage"]

_CONVS = ("gcn", "gin", "sage", "gat")
_POOLINGS = ("mean", "max", "sum", "attention")


def _inputs(input_shape):
    if len(tuple(input_shape)) != 2:
        raise ValueError(
            "input_shape must be (num_nodes or None, num_features) for a graph "
            f"model; got {input_shape!r}."
        )
    x = keras.Input(tuple(input_shape), name="node_features")
    edges = keras.Input((2, None), dtype="int32", name="edge_index")
    return x, edges


def _check(num_classes, hidden_units, dropout):
    check_int("num_classes", num_classes, minimum=2)
    check_int("hidden_units", hidden_units, minimum=1)
    check_float("dropout", dropout, 0.0, 1.0, max_inclusive=False)


def _node_classifier(input_shape, convs, dropout, name):
    """Dropout before each graph layer, softmax after the last."""
    x, edges = _inputs(input_shape)
    h = x
    for i, conv in enumerate(convs, 1):
        h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
        h = conv(h, edges)
    out = keras.layers.Activation("softmax", name="predictions")(h)
    return keras.Model([x, edges], out, name=name)


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
    _check(num_classes, hidden_units, dropout)
    convs = [
        GCNConv(hidden_units, activation="relu", name="gcn_1"),
        GCNConv(num_classes, name="gcn_2"),
    ]
    return _node_classifier(input_shape, convs, dropout, name)


def graphsage(
    input_shape=(None, 1433),
    num_classes=7,
    hidden_units=64,
    aggregator="mean",
    dropout=0.5,
    name="graphsage",
):
    """Two-layer GraphSAGE (Hamilton et al., 2017), full-batch or sampled.

    Trains full-batch on `Graph.model_inputs()` or on sampled mini-batches
    from `kerasdl.data.graph_batches.NeighbourBatches` (the same inputs).

    Args:
        input_shape: tuple. `(num_nodes or None, num_features)`, as in `gcn`.
        num_classes: int. Number of node classes.
        hidden_units: int. Width of the hidden layer.
        aggregator: str. "mean" or "max" (max-pooling).
        dropout: float. Dropout rate on the node features before each layer.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x, edge_index] -> (batch, N, num_classes)` softmax.
    """
    _check(num_classes, hidden_units, dropout)
    check_choice("aggregator", aggregator, ("mean", "max"))
    convs = [
        SAGEConv(hidden_units, aggregator, activation="relu", name="sage_1"),
        SAGEConv(num_classes, aggregator, name="sage_2"),
    ]
    return _node_classifier(input_shape, convs, dropout, name)


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
        input_shape: tuple. `(num_nodes or None, num_features)`, as in `gcn`.
        num_classes: int. Number of node classes.
        hidden_units: int. Features per head of the hidden layer.
        heads: int. Attention heads of the hidden layer (concatenated).
        dropout: float. Dropout on the features and on the attention.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x, edge_index] -> (batch, N, num_classes)` softmax.
    """
    _check(num_classes, hidden_units, dropout)
    check_int("heads", heads, minimum=1)
    convs = [
        GATConv(hidden_units, heads, dropout=dropout, activation="elu", name="gat_1"),
        GATConv(num_classes, 1, concat_heads=False, dropout=dropout, name="gat_2"),
    ]
    return _node_classifier(input_shape, convs, dropout, name)


def _conv(kind, units, index):
    name = f"{kind}_{index}"
    if kind == "gin":
        # No ReLU after GIN's MLP: with constant node features (unlabelled
        # TU sets) it left every unit dead on some graphs (measured: max
        # pooling stuck at chance on cycles vs paths; 1.0 without it).
        return GINConv(units, name=name)
    if kind == "gcn":
        return GCNConv(units, activation="relu", name=name)
    if kind == "sage":
        return SAGEConv(units, activation="relu", name=name)
    return GATConv(units, heads=1, activation="elu", name=name)


def graph_classifier(
    input_shape=(None, 7),
    num_classes=2,
    conv="gin",
    hidden_units=64,
    num_layers=3,
    pooling="sum",
    dropout=0.5,
    name="graph_classifier",
):
    """Graph classification: graph convolutions, a global pooling, an MLP head.

    GIN with sum pooling is the setting of Xu et al. (2019) for the TU sets
    (MUTAG, PROTEINS, ...); GCN / GraphSAGE / GAT convolutions and mean,
    max or attention pooling are the usual alternatives. Sum pooling grows
    with the graph's size; where sizes vary widely and node features are
    constant, max or attention pooling trains more easily (cycles vs paths
    of 6-20 nodes: sum stayed at chance in 30 epochs, max and attention
    reached 1.0).

    Args:
        input_shape: tuple. `(num_nodes or None, num_features)` of each graph.
        num_classes: int. Number of graph classes.
        conv: str. "gin", "gcn", "sage" or "gat" (one head).
        hidden_units: int. Width of every graph layer and of the head.
        num_layers: int. Number of graph layers.
        pooling: str. "sum", "mean", "max" or "attention" (`GlobalGraphPooling`).
        dropout: float. Dropout before the output layer.
        name: str. Model name.

    Returns:
        A `keras.Model` `[x (B, N, F), edge_index (B, 2, E), node_mask (B, N)]
        -> (B, num_classes)` softmax; `kerasdl.data.graph_batches.GraphBatches`
        yields batches in that layout.
    """
    _check(num_classes, hidden_units, dropout)
    check_choice("conv", conv, _CONVS)
    check_int("num_layers", num_layers, minimum=1)
    check_choice("pooling", pooling, _POOLINGS)
    x, edges = _inputs(input_shape)
    mask = keras.Input((None,), name="node_mask")
    h = x
    for i in range(1, num_layers + 1):
        h = _conv(conv, hidden_units, i)(h, edges)
    h = GlobalGraphPooling(pooling, name="pooling")(h, mask)
    h = keras.layers.Dense(hidden_units, activation="relu", name="head_dense")(h)
    h = keras.layers.Dropout(dropout, name="head_dropout")(h)
    out = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(h)
    return keras.Model([x, edges, mask], out, name=name)


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
register_model(
    "graph_classifier",
    graph_classifier,
    family="graph",
    tiny={**_TINY, "hidden_units": 8, "num_layers": 2},
)
