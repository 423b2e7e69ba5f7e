"""Mini-batch pipelines for graph models, as `keras.utils.PyDataset`s.

- `GraphBatches`: graph classification. A batch of B small graphs is padded
  to node and edge counts shared by every batch (those of the largest graph,
  rounded up to `pad_multiple`), and the graph layers process it as the
  disjoint union of the B graphs. Fixed shapes mean one traced / compiled
  train step for all batches (and `tf.data`, which fixes its element shapes
  from the first batches, accepts them). Each graph keeps at least one padding node; the padding
  edges all join the last (padding) node to itself, so no real node ever
  receives a padded message, and the node mask keeps padding nodes out of
  the pooling.
- `NeighbourBatches`: node classification on one large graph by sampled
  neighbourhoods (GraphSAGE, Hamilton et al. 2017): each batch is the
  subgraph that `NeighbourSampler` draws around a batch of training
  nodes (at most `fanouts[k]` in-neighbours per node at hop k), with the
  loss on the batch's own nodes only. Its batches are padded to the largest
  subgraph the fanouts allow, for the same reason.

Both feed `model.fit` / `Trainer.fit` directly (the models of
`kerasdl.models.graph`).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kerasdl._checks import check_bool, check_choice, check_int
from kerasdl.data.graphs import Graph, GraphCollection

__all__ = [
    "GraphBatches",
    "NeighbourBatches",
    "NeighbourSampler",
    "pad_graphs",
    "padded_sizes",
]


def _round_up(value: int, multiple: int) -> int:
    return multiple * math.ceil(value / multiple)


def padded_sizes(max_nodes: int, max_edges: int, pad_multiple: int = 8):
    """`(N, E)` for graphs of up to `max_nodes` nodes and `max_edges` edges.

    N leaves at least one padding node; both are rounded up to a multiple of
    `pad_multiple`.
    """
    check_int("pad_multiple", pad_multiple, minimum=1)
    return (
        _round_up(max_nodes + 1, pad_multiple),
        _round_up(max(max_edges, 1), pad_multiple),
    )


def pad_graphs(graphs, pad_multiple: int = 8, sizes=None):
    """A batch of graphs as padded arrays for the graph layers.

    Args:
        graphs: list of `Graph` with the same number of features.
        pad_multiple: int. See `padded_sizes`.
        sizes: `(N, E)` or None: the padded node and edge counts (None:
            `padded_sizes` of this batch's largest graph).

    Returns:
        `(x, edge_index, node_mask)`: float32 `(B, N, F)`, int32 `(B, 2, E)`
        and float32 `(B, N)` (1 for real nodes), where N exceeds the largest
        graph by at least one padding node and padding edges join node N-1
        to itself.

    Raises:
        ValueError: if a graph does not fit `sizes`.
    """
    big_n = max(g.num_nodes for g in graphs)
    big_e = max(g.num_edges for g in graphs)
    n, e = sizes or padded_sizes(big_n, big_e, pad_multiple)
    if big_n >= n or big_e > e:
        raise ValueError(
            f"pad_graphs: a graph of {big_n} nodes and {big_e} edges does not fit "
            f"sizes={(n, e)} (nodes must stay below N, leaving a padding node)."
        )
    x = np.zeros((len(graphs), n, graphs[0].num_features), "float32")
    edge_index = np.full((len(graphs), 2, e), n - 1, "int32")
    node_mask = np.zeros((len(graphs), n), "float32")
    for b, g in enumerate(graphs):
        x[b, : g.num_nodes] = g.x
        edge_index[b, :, : g.num_edges] = g.edge_index
        node_mask[b, : g.num_nodes] = 1.0
    return x, edge_index, node_mask


class _Batches(keras.utils.PyDataset):
    """Seeded per-epoch order of `count` items cut into batches."""

    def __init__(self, count, batch_size, shuffle, seed, pad_multiple):
        super().__init__(workers=1, use_multiprocessing=False)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.shuffle = check_bool("shuffle", shuffle)
        self.seed = check_int("seed", seed)
        self.pad_multiple = check_int("pad_multiple", pad_multiple, minimum=1)
        self._count = count
        self._epoch = 0
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self._count)
        return np.random.default_rng([self.seed, self._epoch]).permutation(self._count)

    def __len__(self) -> int:
        return math.ceil(self._count / self.batch_size)

    def _rows(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range for {len(self)} batches.")
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._new_order()


class GraphBatches(_Batches):
    """Mini-batches of small graphs for graph classification.

    Each batch is `((x, edge_index, node_mask), y)` as made by `pad_graphs`,
    with `y` the int labels `(B,)` (or `((x, edge_index, node_mask),)`
    without labels, for `predict`).

    Args:
        graphs: `GraphCollection`, or a list of `Graph`.
        labels: int `(num_graphs,)` or None; taken from the collection if
            `graphs` is one.
        batch_size: int. Graphs per batch.
        shuffle: bool. A new seeded order every epoch.
        seed: int. Seed of the order.
        pad_multiple: int. See `pad_graphs`.

    Example:
    >>> data = load_tu("MUTAG", "data/tu")
    >>> train, test = data.split(0.1, seed=0)
    >>> model.fit(GraphBatches(train, batch_size=32, shuffle=True), epochs=50)
    """

    def __init__(
        self,
        graphs,
        labels=None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        pad_multiple: int = 8,
    ):
        if isinstance(graphs, GraphCollection):
            labels = graphs.labels if labels is None else labels
            graphs = graphs.graphs
        self.graphs = list(graphs)
        if not self.graphs:
            raise ValueError("GraphBatches: graphs must hold at least one graph.")
        self.labels = None if labels is None else np.asarray(labels, "int32")
        if self.labels is not None and self.labels.shape != (len(self.graphs),):
            raise ValueError(
                f"GraphBatches: labels must have shape ({len(self.graphs)},), one "
                f"per graph; got {self.labels.shape}."
            )
        super().__init__(len(self.graphs), batch_size, shuffle, seed, pad_multiple)
        self.sizes = padded_sizes(
            max(g.num_nodes for g in self.graphs),
            max(g.num_edges for g in self.graphs),
            self.pad_multiple,
        )

    def __getitem__(self, index: int):
        rows = self._rows(index)
        inputs = pad_graphs([self.graphs[i] for i in rows], sizes=self.sizes)
        if self.labels is None:
            return (inputs,)
        return inputs, self.labels[rows]


class NeighbourSampler:
    """Draws the subgraph a GraphSAGE mini-batch needs around its seed nodes.

    Hop k draws, without replacement, at most `fanouts[k]` incoming edges of
    every node first reached at hop k - 1 (hop 0: the seeds). With as many
    hops as the model has graph layers, the seeds' outputs on the subgraph
    equal their outputs on the whole graph wherever no neighbourhood was
    cut (a fanout at least the largest in-degree cuts none).

    Args:
        graph: Graph.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        # CSR of the incoming edges: sources of v are sources[ptr[v]:ptr[v+1]].
        order = np.argsort(graph.edge_index[1], kind="stable")
        self._sources = graph.edge_index[0][order]
        self._ptr = np.searchsorted(
            graph.edge_index[1][order], np.arange(graph.num_nodes + 1)
        )

    def sample(self, seeds, fanouts, rng: np.random.Generator):
        """The sampled subgraph around `seeds`.

        Args:
            seeds: int array of distinct node ids.
            fanouts: sequence of int, one per hop (per model layer).
            rng: np.random.Generator.

        Returns:
            `(subgraph, nodes)`: a `Graph` whose first `len(seeds)` nodes are
            the seeds, with the sampled edges renumbered, labels carried and
            `train_mask` marking the seeds; `nodes` are the original node ids
            of its rows.
        """
        seeds = np.asarray(seeds, dtype="int64")
        fanouts = [check_int("fanouts", f, minimum=1) for f in fanouts]
        n = self.graph.num_nodes
        if seeds.size == 0 or seeds.min() < 0 or seeds.max() >= n:
            raise ValueError(
                f"NeighbourSampler: seeds must be node ids in [0, {n - 1}]; got "
                f"{seeds.tolist()[:10]}."
            )
        local = {int(v): i for i, v in enumerate(seeds)}
        if len(local) != len(seeds):
            raise ValueError("NeighbourSampler: seeds must be distinct node ids.")
        frontier, edges = seeds, []
        for fanout in fanouts:
            reached = []
            for v in frontier:
                neighbours = self._sources[self._ptr[v] : self._ptr[v + 1]]
                if len(neighbours) > fanout:
                    neighbours = rng.choice(neighbours, fanout, replace=False)
                for u in neighbours.tolist():
                    if u not in local:
                        local[u] = len(local)
                        reached.append(u)
                    edges.append((local[u], local[int(v)]))
            frontier = np.array(reached, dtype="int64")
        nodes = np.fromiter(local, dtype="int64", count=len(local))
        edge_index = np.array(edges, "int32").T if edges else np.zeros((2, 0), "int32")
        y = self.graph.y
        subgraph = Graph(
            self.graph.x[nodes],
            edge_index,
            y=None if y is None else y[nodes],
            train_mask=np.arange(len(nodes)) < len(seeds),
            name=f"{self.graph.name} sample",
        )
        return subgraph, nodes


class NeighbourBatches(_Batches):
    """Node-classification mini-batches by sampled neighbourhoods.

    Each batch is `((x, edge_index), y, sample_weight)` for a graph model
    (a batch of one graph, `x (1, N, F)`, `edge_index (1, 2, E)`), `y
    (1, N)` the labels and `sample_weight (1, N)` 1 on the batch's seed
    nodes only, so the loss is theirs.

    Args:
        graph: Graph with labels and the split's mask.
        fanouts: sequence of int. Neighbours sampled per node at each hop;
            one entry per graph layer of the model (paper: (25, 10)).
        batch_size: int. Seed nodes per batch.
        split: "train", "val" or "test": whose nodes are the seeds.
        shuffle: bool. A new seeded order every epoch.
        seed: int. Seed of the order and of the sampling (batch `i` of
            epoch `k` draws the same subgraph on every run).
        pad_multiple: int. See `pad_graphs`.
    """

    def __init__(
        self,
        graph: Graph,
        fanouts=(25, 10),
        batch_size: int = 64,
        split: str = "train",
        shuffle: bool = True,
        seed: int = 0,
        pad_multiple: int = 64,
    ):
        check_choice("split", split, ("train", "val", "test"))
        mask = getattr(graph, f"{split}_mask")
        if graph.y is None or mask is None or not mask.any():
            raise ValueError(
                f"NeighbourBatches: graph {graph.name!r} needs labels and a "
                f"non-empty {split}_mask."
            )
        self.graph = graph
        self.fanouts = tuple(check_int("fanouts", f, minimum=1) for f in fanouts)
        self.seed_nodes = np.flatnonzero(mask)
        self._sampler = NeighbourSampler(graph)
        super().__init__(len(self.seed_nodes), batch_size, shuffle, seed, pad_multiple)
        # The largest subgraph the fanouts allow: every hop multiplies.
        reached, nodes, edges = self.batch_size, self.batch_size, 0
        for fanout in self.fanouts:
            reached *= fanout
            nodes, edges = nodes + reached, edges + reached
        self.sizes = padded_sizes(
            min(nodes, graph.num_nodes),
            min(edges, graph.num_edges),
            self.pad_multiple,
        )

    def __getitem__(self, index: int):
        seeds = self.seed_nodes[self._rows(index)]
        rng = np.random.default_rng([self.seed, self._epoch, index])
        subgraph, _ = self._sampler.sample(seeds, self.fanouts, rng)
        x, edge_index, node_mask = pad_graphs([subgraph], sizes=self.sizes)
        y = np.zeros(node_mask.shape, "int32")
        y[0, : subgraph.num_nodes] = subgraph.y
        weight = np.zeros(node_mask.shape, "float32")
        weight[0, : len(seeds)] = 1.0
        return (x, edge_index), y, weight
