"""Graphs for node classification: the `Graph` object and offline loaders.

- `Graph`: node features, edge index `(2, E)` (row 0 source, row 1 target),
  optional edge weights, labels and train/val/test masks, validated on
  construction;
- `karate_club()`: Zachary's karate club from networkx (ships offline), the
  label being the faction ("Mr. Hi" = 0, "Officer" = 1);
- `stochastic_block_model(...)`: a seeded synthetic graph whose blocks are
  the classes, with class-dependent (noisy) features;
- `load_planetoid(name, root)`: Cora / CiteSeer / PubMed from the standard
  Planetoid files `ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`, with
  the standard split of Yang et al. (2016) / Kipf & Welling (2017);
- `load_tu(name, root)`: a graph-classification set (MUTAG, PROTEINS, ...)
  from the TU format files `<name>_A.txt`, `<name>_graph_indicator.txt`,
  `<name>_graph_labels.txt` and, if present, `<name>_node_labels.txt` /
  `<name>_node_attributes.txt`, as a `GraphCollection`.

Mini-batch pipelines for both tasks are in `kerasdl.data.graph_batches`.

`Graph.model_inputs()` gives the arrays a kerasdl graph model takes: a batch
of one graph, `[x[None], edge_index[None]]`, with labels `y[None]` and the
training mask as sample weights.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from pathlib import Path

import numpy as np

from kerasdl._checks import check_choice, check_float, check_int

__all__ = [
    "PLANETOID_FILES",
    "TU_FILES",
    "Graph",
    "GraphCollection",
    "karate_club",
    "load_planetoid",
    "load_tu",
    "stochastic_block_model",
]

PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
TU_FILES = ("A", "graph_indicator", "graph_labels")  # required; node files optional
_TU_URL = "https://chrsmrrs.github.io/datasets/docs/datasets/"


@dataclasses.dataclass
class Graph:
    """One graph with node features, edges, labels and split masks.

    Attributes:
        x: float `(N, F)` node features.
        edge_index: int `(2, E)`; row 0 the source, row 1 the target node.
        edge_weight: None or float `(E,)`, non-negative.
        y: None or int `(N,)` node labels.
        train_mask, val_mask, test_mask: None or bool `(N,)`.
        name: str. For messages.

    Raises:
        ValueError: on an empty graph, an edge index of the wrong shape or
            out of range, features / labels / masks / weights whose length
            does not match, or negative edge weights.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_weight: np.ndarray | None = None
    y: np.ndarray | None = None
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    name: str = "graph"

    def __post_init__(self):
        where = f"Graph {self.name!r}"
        self.x = np.asarray(self.x, dtype="float32")
        if self.x.ndim != 2 or self.x.shape[0] == 0:
            raise ValueError(
                f"{where}: x must be (num_nodes, num_features) with at least "
                f"one node; got shape {self.x.shape}."
            )
        n = self.x.shape[0]
        _check_finite(where, "x", self.x)
        edge_index = np.asarray(self.edge_index)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(
                f"{where}: edge_index must have shape (2, num_edges); got "
                f"{edge_index.shape}."
            )
        if edge_index.size and not np.issubdtype(edge_index.dtype, np.integer):
            raise ValueError(
                f"{where}: edge_index must hold integers; got dtype {edge_index.dtype}."
            )
        self.edge_index = edge_index.astype("int32")
        if self.edge_index.size:
            low, high = int(self.edge_index.min()), int(self.edge_index.max())
            if low < 0 or high >= n:
                bad = low if low < 0 else high
                raise ValueError(
                    f"{where}: edge_index holds node {bad}, outside [0, {n - 1}] "
                    f"(x has {n} rows)."
                )
        num_edges = self.edge_index.shape[1]
        if self.edge_weight is not None:
            self.edge_weight = np.asarray(self.edge_weight, dtype="float32")
            if self.edge_weight.shape != (num_edges,):
                raise ValueError(
                    f"{where}: edge_weight must have shape ({num_edges},), one "
                    f"per edge; got {self.edge_weight.shape}."
                )
            _check_finite(where, "edge_weight", self.edge_weight)
            if (self.edge_weight < 0).any():
                raise ValueError(
                    f"{where}: edge_weight must be non-negative; got "
                    f"{float(self.edge_weight.min())}."
                )
        if self.y is not None:
            self.y = np.asarray(self.y).astype("int32")
            if self.y.shape != (n,):
                raise ValueError(
                    f"{where}: y must have shape ({n},), one label per row of "
                    f"x; got {self.y.shape}."
                )
        for field in ("train_mask", "val_mask", "test_mask"):
            mask = getattr(self, field)
            if mask is None:
                continue
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (n,):
                raise ValueError(
                    f"{where}: {field} must have shape ({n},), one entry per "
                    f"row of x; got {mask.shape}."
                )
            setattr(self, field, mask)

    @property
    def num_nodes(self) -> int:
        """Number of nodes N."""
        return self.x.shape[0]

    @property
    def num_edges(self) -> int:
        """Number of (directed) edges E."""
        return self.edge_index.shape[1]

    @property
    def num_features(self) -> int:
        """Features per node F."""
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        """1 + the largest label (0 without labels)."""
        return 0 if self.y is None else int(self.y.max()) + 1

    def model_inputs(self) -> list:
        """`[x[None], edge_index[None]]`: the graph as a batch of one."""
        return [self.x[None], self.edge_index[None]]

    def sample_weight(self, split: str = "train") -> np.ndarray:
        """The split's mask as float sample weights `(1, N)` (masked loss)."""
        check_choice("split", split, ("train", "val", "test"))
        mask = getattr(self, f"{split}_mask")
        if mask is None:
            raise ValueError(f"Graph {self.name!r} has no {split}_mask.")
        return mask.astype("float32")[None]

    def accuracy(self, probabilities, split: str = "test") -> float:
        """Accuracy of per-node predictions on the split's nodes.

        Args:
            probabilities: `(N, C)` or `(1, N, C)` scores (a graph model's
                output for `model_inputs()`), as an array or tensor.
            split: "train", "val" or "test".
        """
        scores = np.asarray(probabilities).reshape(self.num_nodes, -1)
        mask = self.sample_weight(split)[0] > 0
        if self.y is None or not mask.any():
            raise ValueError(f"Graph {self.name!r} has no labelled {split} nodes.")
        return float((scores.argmax(-1)[mask] == self.y[mask]).mean())


def _check_finite(where, field, values):
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: {field} must be finite; got {values[tuple(first)]} at "
            f"index {tuple(int(i) for i in first)}."
        )


def _undirected(edges: np.ndarray) -> np.ndarray:
    """Both directions of every edge, without duplicates or self loops."""
    both = np.concatenate([edges, edges[::-1]], axis=1)
    both = both[:, both[0] != both[1]]
    return np.unique(both, axis=1).astype("int32")


def _labelled_mask(y, per_class, rng):
    mask = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[rng.choice(idx, per_class, replace=False)] = True
    return mask


def karate_club(labelled_per_class: int = 2, seed: int = 0) -> Graph:
    """Zachary's karate club (34 members, 78 friendships), from networkx.

    Features are one-hot node ids (the graph alone must carry the signal);
    labels the faction each member joined. `labelled_per_class` members of
    each faction, drawn with `seed`, form the training mask; the rest are
    the test mask.

    Raises:
        ImportError: networkx is not installed (`pip install kerasdl[data]`).
    """
    check_int("labelled_per_class", labelled_per_class, minimum=1, maximum=16)
    try:
        import networkx as nx
    except ImportError as error:
        raise ImportError(
            "karate_club needs networkx: pip install 'kerasdl[data]' (or networkx)."
        ) from error
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    y = np.array([0 if g.nodes[i]["club"] == "Mr. Hi" else 1 for i in range(n)])
    edges = _undirected(np.array(list(g.edges())).T)
    train = _labelled_mask(y, labelled_per_class, np.random.default_rng(seed))
    return Graph(
        np.eye(n, dtype="float32"),
        edges,
        y=y,
        train_mask=train,
        val_mask=np.zeros(n, bool),
        test_mask=~train,
        name="karate_club",
    )


def stochastic_block_model(
    num_nodes: int = 600,
    num_classes: int = 3,
    num_features: int = 16,
    p_in: float = 0.05,
    p_out: float = 0.005,
    feature_noise: float = 2.0,
    labelled_per_class: int = 20,
    num_val: int = 100,
    seed: int = 0,
) -> Graph:
    """A seeded stochastic block model whose blocks are the classes.

    Two nodes of the same class are joined with probability `p_in`, of
    different classes with `p_out`. Node features are the class's random
    mean vector plus Gaussian noise of std `feature_noise`, so features
    alone classify poorly and the neighbourhood (mostly same-class) helps.
    Split: `labelled_per_class` training nodes per class, `num_val`
    validation nodes, the rest test.
    """
    check_int("num_nodes", num_nodes, minimum=2)
    check_int("num_classes", num_classes, minimum=2, maximum=num_nodes)
    check_int("num_features", num_features, minimum=1)
    check_float("p_in", p_in, 0.0, 1.0)
    check_float("p_out", p_out, 0.0, 1.0)
    check_float("feature_noise", feature_noise, 0.0)
    check_int("seed", seed)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_nodes) % num_classes)
    same = y[:, None] == y[None, :]
    upper = np.triu(rng.random((num_nodes, num_nodes)) < np.where(same, p_in, p_out), 1)
    edges = _undirected(np.array(np.nonzero(upper)))
    means = rng.standard_normal((num_classes, num_features))
    x = means[y] + feature_noise * rng.standard_normal((num_nodes, num_features))
    check_int(
        "labelled_per_class",
        labelled_per_class,
        minimum=1,
        maximum=num_nodes // num_classes,
    )
    train = _labelled_mask(y, labelled_per_class, rng)
    rest = rng.permutation(np.flatnonzero(~train))
    val = np.zeros(num_nodes, bool)
    val[rest[:num_val]] = True
    return Graph(
        x.astype("float32"),
        edges,
        y=y,
        train_mask=train,
        val_mask=val,
        test_mask=~(train | val),
        name=f"sbm_{num_nodes}",
    )


def _required_files(what: str, root: Path, names: dict, source: str) -> dict:
    """`{part: path}` under `root`; FileNotFoundError naming the missing ones."""
    paths = {part: root / filename for part, filename in names.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{what}: missing {', '.join(missing)}. Place {source} in {root}."
        )
    return paths


def _dense(matrix) -> np.ndarray:
    # scipy sparse matrices (the published files) or plain arrays (tests).
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def load_planetoid(name: str, root) -> Graph:
    """Cora, CiteSeer or PubMed from the standard Planetoid files.

    Reads `root/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}` (the
    files of github.com/kimiyoung/planetoid, `data/`), pickles written by
    Python 2 (read with latin-1). Only open files you trust: they are
    pickles. Split as in Kipf & Welling (2017): the `y` rows train, the
    next 500 nodes validate, `test.index` tests. CiteSeer's isolated test
    nodes missing from `tx` get zero features and label 0 (not in a mask).

    Args:
        name: "cora", "citeseer" or "pubmed" (any case).
        root: folder holding the files.

    Raises:
        FileNotFoundError: naming every missing file and where it goes.
    """
    name = check_choice("name", str(name).lower(), ("cora", "citeseer", "pubmed"))
    paths = _required_files(
        f"Planetoid {name!r}",
        Path(root),
        {part: f"ind.{name}.{part}" for part in PLANETOID_FILES},
        f"the files ind.{name}.{{{','.join(PLANETOID_FILES)}}} from "
        "https://github.com/kimiyoung/planetoid/tree/master/data",
    )
    objects = {}
    for part in ("x", "tx", "allx", "y", "ty", "ally", "graph"):
        with open(paths[part], "rb") as f:
            objects[part] = pickle.load(f, encoding="latin1")
    test_index = np.array(
        [int(line) for line in paths["test.index"].read_text().split()], "int64"
    )
    tx, ty = _dense(objects["tx"]), _dense(objects["ty"])
    allx, ally = _dense(objects["allx"]), _dense(objects["ally"])
    test_sorted = np.sort(test_index)
    if name == "citeseer":
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_full = np.zeros((len(full), tx.shape[1]), tx.dtype)
        tx_full[test_sorted - test_sorted.min()] = tx
        ty_full = np.zeros((len(full), ty.shape[1]), ty.dtype)
        ty_full[test_sorted - test_sorted.min()] = ty
        tx, ty = tx_full, ty_full
    x = np.concatenate([allx, tx])
    labels = np.concatenate([ally, ty])
    x[test_index] = x[test_sorted]
    labels[test_index] = labels[test_sorted]
    n = x.shape[0]
    adjacency = objects["graph"]
    edges = [(int(s), int(t)) for s, ts in adjacency.items() for t in ts]
    edges = (
        _undirected(np.array(edges, "int64").T) if edges else np.zeros((2, 0), "int32")
    )
    num_train = _dense(objects["y"]).shape[0]

    def mask(idx):
        m = np.zeros(n, bool)
        m[idx] = True
        return m

    return Graph(
        x.astype("float32"),
        edges,
        y=labels.argmax(axis=1),
        train_mask=mask(np.arange(num_train)),
        val_mask=mask(np.arange(num_train, min(num_train + 500, allx.shape[0]))),
        test_mask=mask(test_index),
        name=name,
    )


@dataclasses.dataclass
class GraphCollection:
    """A graph-classification set: many small graphs, one label each.

    Attributes:
        graphs: list of `Graph` (node features and edges; no node labels).
        labels: int `(num_graphs,)` class of each graph, in
            `[0, num_classes)`.
        label_values: `(num_classes,)` the label each class had in the
            files (TU sets use e.g. -1/1 or 1/2).
        name: str. For messages.
    """

    graphs: list
    labels: np.ndarray
    label_values: np.ndarray
    name: str = "graphs"

    def __post_init__(self):
        self.labels = np.asarray(self.labels).astype("int32")
        if len(self.graphs) == 0 or self.labels.shape != (len(self.graphs),):
            raise ValueError(
                f"GraphCollection {self.name!r}: needs at least one graph and "
                f"one label per graph; got {len(self.graphs)} graphs and "
                f"labels of shape {self.labels.shape}."
            )
        features = {g.num_features for g in self.graphs}
        if len(features) != 1:
            raise ValueError(
                f"GraphCollection {self.name!r}: every graph needs the same "
                f"number of node features; got {sorted(features)}."
            )

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_features(self) -> int:
        """Features per node F."""
        return self.graphs[0].num_features

    @property
    def num_classes(self) -> int:
        """Number of graph classes."""
        return len(self.label_values)

    def subset(self, indices) -> GraphCollection:
        """The graphs at `indices` (int array), with their labels."""
        indices = np.asarray(indices, dtype="int64")
        return GraphCollection(
            [self.graphs[i] for i in indices],
            self.labels[indices],
            self.label_values,
            self.name,
        )

    def split(self, test_fraction: float = 0.1, seed: int = 0):
        """A seeded, class-stratified (train, test) split of the collection."""
        check_float(
            "test_fraction",
            test_fraction,
            0.0,
            1.0,
            min_inclusive=False,
            max_inclusive=False,
        )
        rng = np.random.default_rng(check_int("seed", seed))
        test = []
        for c in np.unique(self.labels):
            idx = rng.permutation(np.flatnonzero(self.labels == c))
            test.extend(idx[: max(1, round(test_fraction * len(idx)))])
        is_test = np.zeros(len(self), bool)
        is_test[test] = True
        return self.subset(np.flatnonzero(~is_test)), self.subset(
            np.flatnonzero(is_test)
        )


def _read_table(path: Path, dtype) -> np.ndarray:
    """A comma-separated numeric file as `(rows, columns)`; no rows if empty."""
    text = path.read_text()
    if not text.strip():
        return np.zeros((0, 1), dtype)
    try:
        return np.loadtxt(io.StringIO(text), delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path}: not a table of {dtype} values ({error}).") from None


def _tu_root(name: str, root: Path) -> Path:
    # The published zip unpacks to <name>/<name>_A.txt; accept both layouts.
    nested = root / name
    return nested if (nested / f"{name}_A.txt").is_file() else root


def load_tu(name: str, root) -> GraphCollection:
    """A graph-classification set in the TU format (Morris et al., 2020).

    Reads, from `root` or `root/<name>`, `<name>_A.txt` (one edge
    `source, target` per line, node ids 1..n over the whole set),
    `<name>_graph_indicator.txt` (the graph id, 1..G, of node i on line i)
    and `<name>_graph_labels.txt` (one label per graph); node features are
    the one-hot `<name>_node_labels.txt` followed by the columns of
    `<name>_node_attributes.txt`, whichever exist, else a constant 1 per
    node. Edges are kept as listed (TU files list both directions of an
    undirected edge). Edge labels and attributes are not read.

    Args:
        name: str. The set's name as in its file names (e.g. "MUTAG").
        root: folder holding the files (or their `<name>/` folder).

    Returns:
        GraphCollection.

    Raises:
        FileNotFoundError: naming every missing required file and where it
            goes.
        ValueError: naming the file, line and value of a node id out of
            range, an edge joining two graphs, a graph without nodes, or a
            node file whose row count differs from the node count.
    """
    root = _tu_root(name, Path(root))
    paths = _required_files(
        f"TU dataset {name!r}",
        root,
        {part: f"{name}_{part}.txt" for part in TU_FILES},
        f"the files {name}_{{{','.join(TU_FILES)}}}.txt (and, if the set has "
        f"them, {name}_node_labels.txt / {name}_node_attributes.txt) from "
        f"{name}.zip of {_TU_URL}",
    )
    indicator = _read_table(paths["graph_indicator"], "int64")[:, 0]
    raw_labels = _read_table(paths["graph_labels"], "int64")[:, 0]
    num_nodes, num_graphs = len(indicator), len(raw_labels)
    where = f"TU dataset {name!r}"
    bad = np.flatnonzero((indicator < 1) | (indicator > num_graphs))
    if bad.size:
        raise ValueError(
            f"{where}: {paths['graph_indicator'].name} line {bad[0] + 1} names graph "
            f"{indicator[bad[0]]}, outside [1, {num_graphs}] ({num_graphs} lines "
            f"in {paths['graph_labels'].name})."
        )
    sizes = np.bincount(indicator - 1, minlength=num_graphs)
    if (sizes == 0).any():
        raise ValueError(
            f"{where}: graph {int(np.argmin(sizes)) + 1} has no nodes (no line of "
            f"{paths['graph_indicator'].name} names it); empty graphs are not "
            "accepted."
        )
    edges = _read_table(paths["A"], "int64")
    if edges.size and edges.shape[1] != 2:
        raise ValueError(
            f"{where}: {paths['A'].name} must hold 'source, target' per line; got "
            f"{edges.shape[1]} columns."
        )
    edges = edges.reshape(-1, 2) - 1
    bad = np.flatnonzero(((edges < 0) | (edges >= num_nodes)).any(axis=1))
    if bad.size:
        raise ValueError(
            f"{where}: {paths['A'].name} line {bad[0] + 1} holds node "
            f"{edges[bad[0]] + 1}, outside [1, {num_nodes}] ({num_nodes} nodes in "
            f"{paths['graph_indicator'].name})."
        )
    edge_graph = indicator[edges[:, 0]]
    bad = np.flatnonzero(edge_graph != indicator[edges[:, 1]])
    if bad.size:
        s, t = edges[bad[0]]
        raise ValueError(
            f"{where}: {paths['A'].name} line {bad[0] + 1} joins node {s + 1} of "
            f"graph {indicator[s]} to node {t + 1} of graph {indicator[t]}."
        )
    x = _tu_node_features(name, root, num_nodes)
    label_values, labels = np.unique(raw_labels, return_inverse=True)
    # Node ids local to their graph: rank among the nodes of the same graph.
    order = np.argsort(indicator, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    local = np.empty(num_nodes, "int64")
    local[order] = np.arange(num_nodes) - starts[indicator[order] - 1]
    edge_order = np.argsort(edge_graph, kind="stable")
    edge_starts = np.concatenate(
        [[0], np.cumsum(np.bincount(edge_graph - 1, minlength=num_graphs))]
    )
    graphs = []
    for g in range(num_graphs):
        nodes = order[starts[g] : starts[g + 1]]
        e = edges[edge_order[edge_starts[g] : edge_starts[g + 1]]]
        graphs.append(Graph(x[nodes], local[e].T, name=f"{name}[{g + 1}]"))
    return GraphCollection(graphs, labels, label_values, name)


def _tu_node_features(name: str, root: Path, num_nodes: int) -> np.ndarray:
    parts = []
    for part, dtype in (("node_labels", "int64"), ("node_attributes", "float32")):
        path = root / f"{name}_{part}.txt"
        if not path.is_file():
            continue
        table = _read_table(path, dtype)
        if len(table) != num_nodes:
            raise ValueError(
                f"TU dataset {name!r}: {path.name} has {len(table)} rows; "
                f"{name}_graph_indicator.txt names {num_nodes} nodes (one row per "
                "node expected)."
            )
        if part == "node_labels":
            _, codes = np.unique(table[:, 0], return_inverse=True)
            table = np.eye(codes.max() + 1, dtype="float32")[codes]
        parts.append(table.astype("float32"))
    if not parts:
        return np.ones((num_nodes, 1), "float32")
    return np.concatenate(parts, axis=1)
