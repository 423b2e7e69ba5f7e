"""kerasdl.data.graph_batches: padded graph batches and neighbour sampling."""

import keras
import numpy as np
import pytest

from kerasdl.data import graph_batches, graphs
from kerasdl.layers import GCNConv, SAGEConv


def _ring(n, features=3, seed=0):
    rng = np.random.default_rng(seed)
    edges = np.array([np.arange(n), (np.arange(n) + 1) % n])
    return graphs.Graph(
        rng.standard_normal((n, features)), np.concatenate([edges, edges[::-1]], 1)
    )


@pytest.mark.one_backend
def test_pad_graphs_keeps_a_padding_node_and_points_padding_edges_at_it():
    x, edge_index, mask = graph_batches.pad_graphs([_ring(3), _ring(8)], 4)
    assert x.shape == (2, 12, 3) and edge_index.shape == (2, 2, 16)
    assert mask.sum(axis=1).tolist() == [3, 8]
    assert (edge_index[0, :, 6:] == 11).all() and (edge_index[1] < 8).all()
    np.testing.assert_array_equal(x[0, 3:], 0.0)
    with pytest.raises(ValueError, match=r"8 nodes and 16 edges does not fit"):
        graph_batches.pad_graphs([_ring(8)], sizes=(8, 16))


@pytest.mark.one_backend  # pipeline, not backend, under test
def test_a_padded_batch_gives_each_graph_its_own_output():
    small, large = _ring(3, seed=1), _ring(7, seed=2)
    x, edge_index, _ = graph_batches.pad_graphs([small, large])
    layer = GCNConv(2)
    out = keras.ops.convert_to_numpy(layer(x, edge_index))
    for b, g in enumerate([small, large]):
        alone = keras.ops.convert_to_numpy(layer(g.x, g.edge_index))
        np.testing.assert_allclose(out[b, : g.num_nodes], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.one_backend
def test_graph_batches_are_seeded_and_cover_every_graph_once_per_epoch():
    data = graphs.GraphCollection(
        [_ring(n) for n in range(3, 10)], np.arange(7) % 2, np.array([0, 1])
    )
    batches = graph_batches.GraphBatches(data, batch_size=3, shuffle=True, seed=1)
    assert len(batches) == 3
    seen = [int(m.sum()) for i in range(3) for m in batches[i][0][2]]
    # Every batch has the shapes of the largest graph (9 nodes, 18 edges).
    assert {batches[i][0][1].shape[1:] for i in range(3)} == {(2, 24)}
    assert {batches[i][0][0].shape[1:] for i in range(3)} == {(16, 3)}
    assert sorted(seen) == list(range(3, 10))
    labels = np.concatenate([batches[i][1] for i in range(3)])
    assert labels.tolist() == [(n - 3) % 2 for n in seen]
    again = graph_batches.GraphBatches(data, batch_size=3, shuffle=True, seed=1)
    np.testing.assert_array_equal(again[0][0][0], batches[0][0][0])
    batches.on_epoch_end()
    assert [int(m.sum()) for i in range(3) for m in batches[i][0][2]] != seen
    unlabelled = graph_batches.GraphBatches(data.graphs, batch_size=4)
    assert len(unlabelled[0]) == 1 and len(unlabelled[0][0]) == 3
    with pytest.raises(ValueError, match=r"labels must have shape \(7,\)"):
        graph_batches.GraphBatches(data.graphs, labels=[0, 1])


@pytest.mark.one_backend
def test_sampled_neighbourhoods_respect_fanouts_and_real_edges():
    graph = graphs.stochastic_block_model(num_nodes=200, p_in=0.2, seed=0)
    sampler = graph_batches.NeighbourSampler(graph)
    seeds = np.array([5, 17, 40])
    sub, nodes = sampler.sample(seeds, (4, 3), np.random.default_rng(0))
    assert nodes[:3].tolist() == seeds.tolist() and len(set(nodes)) == len(nodes)
    assert sub.train_mask.sum() == 3 and sub.train_mask[:3].all()
    np.testing.assert_array_equal(sub.y, graph.y[nodes])
    real = set(map(tuple, graph.edge_index.T.tolist()))
    assert all((nodes[s], nodes[t]) in real for s, t in sub.edge_index.T)
    in_degree = np.bincount(sub.edge_index[1], minlength=sub.num_nodes)
    assert in_degree[:3].tolist() == [4, 4, 4]  # each seed has > 4 neighbours
    assert in_degree.max() <= 4
    again, _ = sampler.sample(seeds, (4, 3), np.random.default_rng(0))
    np.testing.assert_array_equal(again.edge_index, sub.edge_index)
    with pytest.raises(ValueError, match=r"seeds must be node ids in \[0, 199\]"):
        sampler.sample([200], (2,), np.random.default_rng(0))


@pytest.mark.one_backend  # pipeline, not backend, under test
def test_unlimited_fanouts_give_the_seeds_their_full_graph_outputs():
    graph = graphs.stochastic_block_model(num_nodes=60, p_in=0.2, seed=1)
    sage_1, sage_2 = SAGEConv(4, activation="relu"), SAGEConv(3)
    full = sage_2(sage_1(graph.x, graph.edge_index), graph.edge_index)
    seeds = np.array([0, 7, 33])
    sampler = graph_batches.NeighbourSampler(graph)
    sub, _ = sampler.sample(seeds, (60, 60), np.random.default_rng(0))
    part = sage_2(sage_1(sub.x, sub.edge_index), sub.edge_index)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(part)[:3],
        keras.ops.convert_to_numpy(full)[seeds],
        rtol=1e-5,
        atol=1e-5,
    )
    # A cut neighbourhood changes them: the check above can fail.
    cut, _ = sampler.sample(seeds, (1, 1), np.random.default_rng(0))
    part = sage_2(sage_1(cut.x, cut.edge_index), cut.edge_index)
    assert not np.allclose(
        keras.ops.convert_to_numpy(part)[:3], keras.ops.convert_to_numpy(full)[seeds]
    )


@pytest.mark.one_backend
def test_neighbour_batches_weigh_only_their_seed_nodes():
    graph = graphs.stochastic_block_model(num_nodes=90, seed=2)
    batches = graph_batches.NeighbourBatches(graph, (3, 2), batch_size=16, seed=0)
    assert len(batches) == 4  # 60 training nodes
    (x, edge_index), y, weight = batches[0]
    assert x.shape[0] == 1 and x.shape[1] % 64 == 0 and edge_index.shape[1] == 2
    assert weight.sum() == 16 and weight[0, :16].all()
    seeds = batches.seed_nodes[batches._order[:16]]
    np.testing.assert_array_equal(y[0, :16], graph.y[seeds])
    with pytest.raises(ValueError, match="non-empty val_mask"):
        graph_batches.NeighbourBatches(graphs.karate_club(), split="val")
