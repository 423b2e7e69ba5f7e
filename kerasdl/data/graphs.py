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
  the standard split of Yang et al. (2016) / Kipf & Welling (2017).

`Graph.model_inputs()` gives the arrays a kerasdl graph model takes: a batch
of one graph, `[x[None], edge_index[None]]`, with labels `y[None]` and the
training mask as sample weights.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np

from kerasdl._checks import check_choice, check_float, check_int

__all__ = [
    "PLANETOID_FILES",
    "Graph",
    "karate_club",
    "load_planetoid",
    "stochastic_block_model",
]

PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


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
    root = Path(root)
    paths = {part: root / f"ind.{name}.{part}" for part in PLANETOID_FILES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Planetoid {name!r}: missing {', '.join(missing)}. Place the files "
            f"ind.{name}.{{{','.join(PLANETOID_FILES)}}} from "
            f"https://github.com/kimiyoung/planetoid/tree/master/data in {root}."
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
