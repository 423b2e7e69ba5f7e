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
