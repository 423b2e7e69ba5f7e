"""Graph layers against dense-adjacency references computed in numpy."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.layers import GATConv, GCNConv, GINConv, GlobalGraphPooling, SAGEConv


def _graph(n=6, e=14, f=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, f)).astype("float32")
    edges = rng.integers(0, n, (2, e)).astype("int32")
    edges = edges[:, edges[0] != edges[1]]  # no explicit self loops
    edges = np.unique(edges, axis=1)  # A has 0/1 entries
    return x, edges


def _dense(edges, n, weight=None):
    a = np.zeros((n, n), "float64")
    w = np.ones(edges.shape[1]) if weight is None else weight
    for (s, t), v in zip(edges.T, w):
        a[t, s] += v  # a message j -> i is A[i, j]
    return a


def _np(t):
    return ops.convert_to_numpy(t)


@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_equals_the_dense_normalized_adjacency_product(weighted):
    x, edges = _graph()
    n = x.shape[0]
    weight = (
        np.linspace(0.5, 2.0, edges.shape[1]).astype("float32") if weighted else None
    )
    layer = GCNConv(4, use_bias=False)
    out = _np(layer(x, edges, weight)) if weighted else _np(layer(x, edges))
    a_hat = _dense(edges, n, weight) + np.eye(n)
    d = 1 / np.sqrt(a_hat.sum(axis=1))
    expected = (d[:, None] * a_hat * d[None, :]) @ x @ _np(layer.kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_a_batch_of_graphs_is_their_disjoint_union():
    x1, e1 = _graph(seed=1)
    x2, e2 = _graph(seed=2)
    e = min(e1.shape[1], e2.shape[1])
    layer = GCNConv(2)
    batched = _np(layer(np.stack([x1, x2]), np.stack([e1[:, :e], e2[:, :e]])))
    np.testing.assert_allclose(batched[0], _np(layer(x1, e1[:, :e])), atol=1e-5)
    np.testing.assert_allclose(batched[1], _np(layer(x2, e2[:, :e])), atol=1e-5)


@pytest.mark.parametrize("aggregator", ["mean", "max"])
def test_sage_matches_the_dense_reference(aggregator):
    x, edges = _graph()
    n = x.shape[0]
    layer = SAGEConv(4, aggregator=aggregator, use_bias=False)
    out = _np(layer(x, edges))
    a = _dense(edges, n)
    if aggregator == "mean":
        deg = a.sum(axis=1, keepdims=True)
        agg = np.where(deg > 0, a @ x / np.maximum(deg, 1), 0.0)
    else:
        pooled = np.maximum(x @ _np(layer.pool_kernel) + _np(layer.pool_bias), 0)
        agg = np.zeros_like(pooled)
        for i in range(n):
            if a[i].any():
                agg[i] = pooled[a[i] > 0].max(axis=0)
    expected = x @ _np(layer.self_kernel) + agg @ _np(layer.neighbor_kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_gin_sums_neighbours_and_weighs_itself_by_one_plus_epsilon():
    x, edges = _graph()
    n = x.shape[0]
    weight = np.linspace(0.5, 2.0, edges.shape[1]).astype("float32")
    layer = GINConv(4, hidden_units=5, epsilon=0.3, learn_epsilon=True)
    out = _np(layer(x, edges, weight))
    h = 1.3 * x + _dense(edges, n, weight) @ x
    h = np.maximum(h @ _np(layer.hidden_kernel) + _np(layer.hidden_bias), 0)
    expected = h @ _np(layer.kernel) + _np(layer.bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert len(layer.trainable_weights) == 5  # eps trains with learn_epsilon
    fixed = GINConv(4)
    fixed(x, edges)
    assert len(fixed.trainable_weights) == 4  # GIN-0: eps stays fixed


def test_gat_attention_rows_sum_to_one_and_output_matches_dense_softmax():
    x, edges = _graph()
    n = x.shape[0]
    layer = GATConv(3, heads=2)
    out = _np(layer(x, edges))
    assert out.shape == (n, 6)
    _, target, alpha = (_np(t) for t in layer.attention(x, edges))
    sums = np.zeros((n, 2))
    np.add.at(sums, target, alpha)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
    # Dense reference: masked softmax over A + I per head.
    w = _np(layer.kernel).reshape(x.shape[1], 2, 3)
    h = np.einsum("nf,fkc->nkc", x, w)
    s_src = (h * _np(layer.attention_source)).sum(-1)
    s_dst = (h * _np(layer.attention_target)).sum(-1)
    mask = (_dense(edges, n) + np.eye(n)) > 0
    expected = []
    for k in range(2):
        e = s_dst[:, k][:, None] + s_src[:, k][None, :]
        e = np.where(e > 0, e, 0.2 * e)
        e = np.where(mask, e, -np.inf)
        att = np.exp(e - e.max(axis=1, keepdims=True))
        att /= att.sum(axis=1, keepdims=True)
        expected.append(att @ h[:, k])
    expected = np.concatenate(expected, axis=-1) + _np(layer.bias)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_gat_averages_heads_and_drops_attention_only_in_training():
    x, edges = _graph()
    layer = GATConv(3, heads=4, concat_heads=False, dropout=0.5, seed=1)
    a = _np(layer(x, edges))
    assert a.shape == (x.shape[0], 3)
    np.testing.assert_allclose(a, _np(layer(x, edges)))
    assert not np.allclose(a, _np(layer(x, edges, training=True)))


@pytest.mark.parametrize("mode", ["mean", "max", "sum", "attention"])
def test_global_pooling(mode):
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    layer = GlobalGraphPooling(mode)
    out = _np(layer(x, mask))
    first = x[0, :3]
    if mode == "attention":
        gate = first @ _np(layer.gate_kernel)
        gate = np.exp(gate - gate.max())
        gate /= gate.sum()
        expected = (gate * first).sum(0)
    else:
        expected = {"mean": first.mean(0), "max": first.max(0), "sum": first.sum(0)}[
            mode
        ]
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-6)


def test_gcn_in_a_functional_model_with_unknown_node_and_edge_counts():
    x_in = keras.Input((None, 3))
    e_in = keras.Input((2, None), dtype="int32")
    out = GCNConv(2)(GCNConv(4, activation="relu")(x_in, e_in), e_in)
    model = keras.Model([x_in, e_in], out)
    x, edges = _graph()
    assert _np(model([x[None], edges[None]])).shape == (1, x.shape[0], 2)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="aggregator"):
        SAGEConv(2, aggregator="lstm")
    with pytest.raises(ValueError, match="mode"):
        GlobalGraphPooling("median")
    with pytest.raises(ValueError, match="dropout"):
        GATConv(2, dropout=1.0)
