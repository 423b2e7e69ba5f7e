"""kerasdl.data.graphs: validation, karate club, SBM and the Planetoid reader."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from kerasdl.data import graphs


def test_bad_graphs_fail_naming_the_value():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="node 3, outside"):
        graphs.Graph(x, [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="node -1"):
        graphs.Graph(x, [[0, -1], [2, 1]])
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        graphs.Graph(x, [[0], [1]], y=[0, 1])
    with pytest.raises(ValueError, match="train_mask must have shape"):
        graphs.Graph(x, [[0], [1]], train_mask=[True])
    with pytest.raises(ValueError, match="non-negative; got -0.5"):
        graphs.Graph(x, [[0], [1]], edge_weight=[-0.5])
    with pytest.raises(ValueError, match="at least one node"):
        graphs.Graph(np.zeros((0, 2)), np.zeros((2, 0), int))
    with pytest.raises(ValueError, match=r"shape \(2, num_edges\)"):
        graphs.Graph(x, [[0, 1, 2]])


def test_karate_club():
    g = graphs.karate_club(labelled_per_class=2)
    assert (g.num_nodes, g.num_edges, g.num_classes) == (34, 156, 2)
    assert g.train_mask.sum() == 4 and (g.test_mask == ~g.train_mask).all()
    assert np.bincount(g.y[g.train_mask]).tolist() == [2, 2]


def test_accuracy_counts_only_the_split_nodes():
    g = graphs.karate_club(labelled_per_class=2)
    scores = np.eye(2)[g.y]  # all right
    scores[g.test_mask.nonzero()[0][:3]] = scores[g.test_mask.nonzero()[0][:3]][:, ::-1]
    assert g.accuracy(scores[None], "train") == 1.0
    assert g.accuracy(scores, "test") == pytest.approx(27 / 30)
    with pytest.raises(ValueError, match="no labelled val nodes"):
        g.accuracy(scores, "val")


def test_sbm_is_seeded_and_homophilous():
    a = graphs.stochastic_block_model(num_nodes=120, seed=3)
    b = graphs.stochastic_block_model(num_nodes=120, seed=3)
    np.testing.assert_array_equal(a.edge_index, b.edge_index)
    np.testing.assert_array_equal(a.x, b.x)
    same = (a.y[a.edge_index[0]] == a.y[a.edge_index[1]]).mean()
    assert same > 0.7
    assert a.train_mask.sum() == 60 and a.val_mask.sum() == 60
    assert not (a.train_mask & a.test_mask).any()
    assert (a.train_mask | a.val_mask | a.test_mask).all()


def _write_planetoid(root, name, n_all=30, n_train=6, n_test=5, features=7, classes=3):
    rng = np.random.default_rng(0)
    onehot = lambda k: np.eye(classes)[rng.integers(0, classes, k)]  # noqa: E731
    test_index = rng.permutation(np.arange(n_all, n_all + n_test))
    objs = {
        "x": sp.csr_matrix(rng.random((n_train, features))),
        "allx": sp.csr_matrix(rng.random((n_all, features))),
        "tx": sp.csr_matrix(rng.random((n_test, features))),
        "y": onehot(n_train),
        "ally": onehot(n_all),
        "ty": onehot(n_test),
        "graph": {
            i: [(i + 1) % (n_all + n_test), (i + 3) % (n_all + n_test)]
            for i in range(n_all + n_test)
        },
    }
    for part, obj in objs.items():
        with open(root / f"ind.{name}.{part}", "wb") as f:
            pickle.dump(obj, f)
    (root / f"ind.{name}.test.index").write_text("\n".join(map(str, test_index)))
    return objs, test_index


def test_planetoid_reader_reproduces_counts_and_splits(tmp_path):
    objs, test_index = _write_planetoid(tmp_path, "cora")
    g = graphs.load_planetoid("Cora", tmp_path)
    assert (g.num_nodes, g.num_features, g.num_classes <= 3) == (35, 7, True)
    assert (g.train_mask.sum(), g.val_mask.sum(), g.test_mask.sum()) == (6, 24, 5)
    # Row k of tx belongs to node test_index[k], as in the published files.
    np.testing.assert_allclose(g.x[test_index], objs["tx"].toarray(), rtol=1e-6)
    np.testing.assert_array_equal(g.y[test_index], objs["ty"].argmax(1))
    np.testing.assert_allclose(g.x[:30], objs["allx"].toarray(), rtol=1e-6)
    assert g.num_edges == 140  # 35 nodes x (+1, +3) neighbours, both directions


def test_planetoid_missing_files_are_named(tmp_path):
    _write_planetoid(tmp_path, "cora")
    (tmp_path / "ind.cora.graph").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"ind\.cora\.graph.*kimiyoung/planetoid"
    ):
        graphs.load_planetoid("cora", tmp_path)


def test_non_finite_features_and_weights_are_named():
    x = np.zeros((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"x must be finite; got nan at index \(1, 0\)"
    ):
        graphs.Graph(x, [[0], [1]])
    with pytest.raises(ValueError, match="edge_weight must be finite; got inf"):
        graphs.Graph(np.zeros((3, 2)), [[0], [1]], edge_weight=[np.inf])


# Three graphs: a triangle (nodes 1-3), an edge (4-5) and a path (6-9), in
# the TU layout: global 1-based node ids, both directions of every edge.
_TU_EDGES = [(1, 2), (2, 1), (2, 3), (3, 2), (1, 3), (3, 1), (4, 5), (5, 4),
             (6, 7), (7, 6), (7, 8), (8, 7), (8, 9), (9, 8)]  # fmt: skip
_TU_INDICATOR = [1, 1, 1, 2, 2, 3, 3, 3, 3]


def _write_tu(root, name="TOY", attributes=True, **override):
    files = {
        "A": "\n".join(f"{s}, {t}" for s, t in _TU_EDGES),
        "graph_indicator": "\n".join(map(str, _TU_INDICATOR)),
        "graph_labels": "-1\n1\n1",
        "node_labels": "0\n1\n2\n0\n0\n1\n1\n2\n0",
    }
    if attributes:
        files["node_attributes"] = "\n".join(f"{i}.5, {-i}" for i in range(9))
    files.update(override)
    for part, text in files.items():
        if text is not None:
            (root / f"{name}_{part}.txt").write_text(text + "\n")


@pytest.mark.one_backend
def test_tu_reader_splits_the_set_into_graphs_with_local_node_ids(tmp_path):
    _write_tu(tmp_path)
    data = graphs.load_tu("TOY", tmp_path)
    assert len(data) == 3 and data.num_classes == 2 and data.num_features == 3 + 2
    assert data.labels.tolist() == [0, 1, 1] and data.label_values.tolist() == [-1, 1]
    assert [g.num_nodes for g in data.graphs] == [3, 2, 4]
    assert [g.num_edges for g in data.graphs] == [6, 2, 6]
    np.testing.assert_array_equal(data.graphs[1].edge_index, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(data.graphs[2].edge_index[:, :2], [[0, 1], [1, 0]])
    # One-hot node labels, then the attributes of the same nodes.
    np.testing.assert_allclose(data.graphs[2].x[0], [0, 1, 0, 5.5, -5])
    np.testing.assert_allclose(data.graphs[0].x[2], [0, 0, 1, 2.5, -2])
    train, test = data.split(0.34, seed=0)
    assert (len(train), len(test)) == (1, 2)  # one graph of each class in test
    assert sorted(test.labels.tolist()) == [0, 1]


@pytest.mark.one_backend
def test_tu_reader_finds_the_unzipped_folder_and_defaults_features(tmp_path):
    (tmp_path / "TOY").mkdir()
    _write_tu(tmp_path / "TOY", attributes=False, node_labels=None)
    data = graphs.load_tu("TOY", tmp_path)
    assert data.num_features == 1
    np.testing.assert_array_equal(data.graphs[0].x, np.ones((3, 1)))


@pytest.mark.one_backend
def test_tu_reader_names_missing_files_and_where_they_go(tmp_path):
    _write_tu(tmp_path, graph_indicator=None)
    with pytest.raises(
        FileNotFoundError,
        match=r"TOY_graph_indicator\.txt\. Place .*TOY\.zip of https://chrsmrrs",
    ):
        graphs.load_tu("TOY", tmp_path)


@pytest.mark.one_backend
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"A": "1, 2\n2, 10"}, r"TOY_A\.txt line 2 holds node \[ 2 10\], outside"),
        ({"A": "1, 4"}, r"line 1 joins node 1 of graph 1 to node 4 of graph 2"),
        ({"graph_labels": "-1\n1\n1\n1"}, r"graph 4 has no nodes"),
        ({"graph_indicator": "1\n1\n1\n2\n2\n3\n3\n3\n7"}, r"line 9 names graph 7"),
        ({"node_attributes": "1.0, 2.0"}, r"node_attributes\.txt has 1 rows; .* 9"),
        ({"A": "1, 2, 3"}, r"'source, target' per line; got 3 columns"),
    ],
)
def test_bad_tu_files_fail_naming_file_line_and_value(tmp_path, override, message):
    _write_tu(tmp_path, **override)
    with pytest.raises(ValueError, match=message):
        graphs.load_tu("TOY", tmp_path)
