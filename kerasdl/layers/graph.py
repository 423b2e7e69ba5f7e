"""Graph neural network layers: GCN, GraphSAGE, GAT and global graph pooling.

Sparse message passing in `keras.ops`: every layer gathers node rows along
the edges and reduces them per target node with `segment_sum` /
`segment_max`, so the cost grows with the number of edges E, not with N^2.

Inputs. A layer is called as `layer(x, edge_index)` or
`layer(x, edge_index, edge_weight)`:

- `x`: node features, `(batch, N, F)` (a batch of graphs that each have N
  nodes, padded if need be) or `(N, F)` (one graph);
- `edge_index`: int, `(batch, 2, E)` or `(2, E)`; row 0 holds the source
  node and row 1 the target node of each edge, numbered within its graph
  (0..N-1). A message flows from source to target, so an undirected graph
  lists each edge in both directions;
- `edge_weight` (optional): float, `(batch, E)` or `(E,)`; 0 disables an
  edge (a padded one).

A batch of graphs is processed as their disjoint union: node ids of graph b
are offset by b * N, so the segment reductions run once over all edges. In
a Keras functional model a node-classification graph is a batch of one:
`keras.Input((None, F))` and `keras.Input((2, None), dtype="int32")`.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
from keras import ops

from kerasdl._checks import check_bool, check_choice, check_float, check_int
from kerasdl.layers._config import InitConfig

__all__ = [
    "GATConv",
    "GCNConv",
    "GINConv",
    "GlobalGraphPooling",
    "SAGEConv",
    "flatten_graph",
]


def flatten_graph(x, edge_index, edge_weight=None):
    """The disjoint union of a batch of graphs, as flat node and edge arrays.

    Args:
        x: node features, `(batch, N, F)` or `(N, F)`.
        edge_index: int, `(batch, 2, E)` or `(2, E)`.
        edge_weight: None or float, `(batch, E)` or `(E,)`.

    Returns:
        `(nodes, source, target, weight, batch, n)`: nodes `(batch * N, F)`,
        source and target `(batch * E,)` int32 global node ids, weight
        `(batch * E,)` float (ones when `edge_weight` is None), and the batch
        size and node count per graph.
    """
    if len(x.shape) == 2:
        x = ops.expand_dims(x, 0)
    if len(edge_index.shape) == 2:
        edge_index = ops.expand_dims(edge_index, 0)
    if edge_weight is not None and len(edge_weight.shape) == 1:
        edge_weight = ops.expand_dims(edge_weight, 0)
    batch, n, features = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
    edge_index = ops.cast(edge_index, "int32")
    offsets = ops.reshape(ops.arange(batch, dtype="int32") * n, (-1, 1))
    source = ops.reshape(edge_index[:, 0, :] + offsets, (-1,))
    target = ops.reshape(edge_index[:, 1, :] + offsets, (-1,))
    if edge_weight is None:
        weight = ops.ones(ops.shape(source), dtype=x.dtype)
    else:
        weight = ops.reshape(ops.cast(edge_weight, x.dtype), (-1,))
    nodes = ops.reshape(x, (batch * n, features))
    return nodes, source, target, weight, batch, n


class _Flat(NamedTuple):
    """A batch of graphs as one disjoint union (see `flatten_graph`)."""

    nodes: object  # (num, F)
    source: object  # (edges,) global node ids
    target: object
    weight: object  # (edges,)
    batch: object
    n: object
    single: bool  # the input was one (N, F) graph, not a batch

    @property
    def num(self):
        return self.batch * self.n

    def unflatten(self, out):
        """`(num, units)` back to the input's layout."""
        if self.single:
            return out
        return ops.reshape(out, (self.batch, self.n, ops.shape(out)[-1]))


def _flat(x, edge_index, edge_weight=None, self_loops=False) -> _Flat:
    single = len(x.shape) == 2
    nodes, source, target, weight, batch, n = flatten_graph(x, edge_index, edge_weight)
    if self_loops:
        loops = ops.arange(batch * n, dtype="int32")
        source = ops.concatenate([source, loops])
        target = ops.concatenate([target, loops])
        weight = ops.concatenate([weight, ops.ones((batch * n,), dtype=nodes.dtype)])
    return _Flat(nodes, source, target, weight, batch, n, single)


def _out_shape(x_shape, units):
    return (*tuple(x_shape)[:-1], units)


class _GraphConv(InitConfig, keras.layers.Layer):
    """Shared arguments: units, activation, bias and initializers."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = type(self).__name__
        self.units = check_int("units", units, minimum=1, where=where)
        self.activation = activation
        self._activation = keras.activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias, where=where)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _kernel(self, name, shape):
        return self.add_weight(
            name=name, shape=shape, initializer=self.kernel_initializer
        )

    def _bias(self, size):
        if not self.use_bias:
            return None
        return self.add_weight(
            name="bias", shape=(size,), initializer=self.bias_initializer
        )

    def _finish(self, out):
        if self.bias is not None:
            out = out + self.bias
        return self._activation(out)

    def compute_output_shape(self, x_shape, edge_index_shape, edge_weight_shape=None):
        return _out_shape(x_shape, self.units)


@keras.saving.register_keras_serializable(package="kerasdl")
class GCNConv(_GraphConv):
    """Graph convolution of Kipf & Welling (2017).

    `out = D^-1/2 (A + I) D^-1/2 X W + b`, where `A[i, j]` is the weight of
    the edge j -> i and D the diagonal of the row sums of `A + I`. Computed
    per edge: each message `x_j W` is scaled by `w_ji / sqrt(d_i d_j)` and
    summed at its target.

    Args:
        units: int. Output features per node.
        activation: str or None. Activation after the bias.
        use_bias: bool. Add a bias.
        add_self_loops: bool. Use `A + I` (True, as in the paper) or `A`.
        kernel_initializer: str. Initializer of W.
        bias_initializer: str. Initializer of b.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        x, edge_index, edge_weight: see the module docstring.

    Output shape: `x`'s shape with the last axis `units`.
    """

    def __init__(
        self, units, activation=None, use_bias=True, add_self_loops=True, **kwargs
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.add_self_loops = check_bool(
            "add_self_loops", add_self_loops, where="GCNConv"
        )

    def build(self, x_shape, edge_index_shape=None, edge_weight_shape=None):
        self.kernel = self._kernel("kernel", (x_shape[-1], self.units))
        self.bias = self._bias(self.units)

    def call(self, x, edge_index, edge_weight=None):
        g = _flat(x, edge_index, edge_weight, self.add_self_loops)
        degree = ops.segment_sum(g.weight, g.target, num_segments=g.num)
        # Isolated nodes without self loops have degree 0: no message, no inf.
        inv_sqrt = ops.where(degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0)
        norm = ops.take(inv_sqrt, g.source) * g.weight * ops.take(inv_sqrt, g.target)
        h = ops.matmul(g.nodes, self.kernel)
        messages = ops.take(h, g.source, axis=0) * ops.expand_dims(norm, -1)
        out = ops.segment_sum(messages, g.target, num_segments=g.num)
        return g.unflatten(self._finish(out))


@keras.saving.register_keras_serializable(package="kerasdl")
class SAGEConv(_GraphConv):
    """GraphSAGE convolution of Hamilton et al. (2017).

    `out_i = x_i W_self + agg_{j -> i}(x_j) W_neigh + b`, with the aggregator

    - "mean": the (edge-weighted) mean of the neighbours' features;
    - "max": the element-wise max of `relu(x_j W_pool + b_pool)` (the
      paper's max-pooling aggregator).

    A node without incoming edges aggregates zeros.

    Args:
        units: int. Output features per node.
        aggregator: "mean" or "max".
        normalize: bool. L2-normalize each output row (as in the paper).
        activation, use_bias, kernel_initializer, bias_initializer: as in
            `GCNConv`.
        **kwargs: Standard `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        units,
        aggregator="mean",
        normalize=False,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.aggregator = check_choice(
            "aggregator", aggregator, ("mean", "max"), where="SAGEConv"
        )
        self.normalize = check_bool("normalize", normalize, where="SAGEConv")

    def build(self, x_shape, edge_index_shape=None, edge_weight_shape=None):
        features = x_shape[-1]
        self.self_kernel = self._kernel("self_kernel", (features, self.units))
        self.neighbor_kernel = self._kernel("neighbor_kernel", (features, self.units))
        if self.aggregator == "max":
            self.pool_kernel = self._kernel("pool_kernel", (features, features))
            self.pool_bias = self.add_weight(
                name="pool_bias", shape=(features,), initializer="zeros"
            )
        self.bias = self._bias(self.units)

    def call(self, x, edge_index, edge_weight=None):
        g = _flat(x, edge_index, edge_weight)
        count = ops.segment_sum(g.weight, g.target, num_segments=g.num)
        if self.aggregator == "mean":
            messages = ops.take(g.nodes, g.source, axis=0)
            messages = messages * ops.expand_dims(g.weight, -1)
            total = ops.segment_sum(messages, g.target, num_segments=g.num)
            agg = total / ops.expand_dims(ops.maximum(count, 1e-12), -1)
        else:
            pooled = ops.relu(ops.matmul(g.nodes, self.pool_kernel) + self.pool_bias)
            messages = ops.take(pooled, g.source, axis=0)
            agg = ops.segment_max(messages, g.target, num_segments=g.num)
        # No incoming edge: zeros (segment_max gives -inf or the lowest value).
        agg = ops.where(ops.expand_dims(count, -1) > 0, agg, 0.0)
        out = ops.matmul(g.nodes, self.self_kernel) + ops.matmul(
            agg, self.neighbor_kernel
        )
        out = self._finish(out)
        if self.normalize:
            out = out / ops.maximum(ops.norm(out, axis=-1, keepdims=True), 1e-12)
        return g.unflatten(out)


@keras.saving.register_keras_serializable(package="kerasdl")
class GINConv(_GraphConv):
    """Graph isomorphism network convolution of Xu et al. (2019).

    `out_i = MLP((1 + eps) x_i + sum_{j -> i} w_ji x_j)`, the MLP being
    `Dense(hidden_units, relu) -> Dense(units)`, then `activation`. The sum
    aggregator (not a mean) lets it count neighbours, which is what makes
    GIN as discriminative as the Weisfeiler-Lehman test on graph
    classification.

    Args:
        units: int. Output features per node.
        hidden_units: int or None. Width of the MLP's hidden layer
            (None: `units`).
        epsilon: float. Initial weight `eps` of the node's own features.
        learn_epsilon: bool. Train `eps` (GIN-eps) or keep it fixed (GIN-0).
        activation, use_bias, kernel_initializer, bias_initializer: as in
            `GCNConv`.
        **kwargs: Standard `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        units,
        hidden_units=None,
        epsilon=0.0,
        learn_epsilon=False,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.hidden_units = check_int(
            "hidden_units", hidden_units, minimum=1, allow_none=True, where="GINConv"
        )
        self.epsilon = check_float("epsilon", epsilon, where="GINConv")
        self.learn_epsilon = check_bool("learn_epsilon", learn_epsilon, where="GINConv")

    def build(self, x_shape, edge_index_shape=None, edge_weight_shape=None):
        hidden = self.hidden_units or self.units
        self.hidden_kernel = self._kernel("hidden_kernel", (x_shape[-1], hidden))
        self.hidden_bias = self.add_weight(
            name="hidden_bias", shape=(hidden,), initializer=self.bias_initializer
        )
        self.kernel = self._kernel("kernel", (hidden, self.units))
        self.bias = self._bias(self.units)
        self.eps = self.add_weight(
            name="eps",
            shape=(),
            initializer=keras.initializers.Constant(self.epsilon),
            trainable=self.learn_epsilon,
        )

    def call(self, x, edge_index, edge_weight=None):
        g = _flat(x, edge_index, edge_weight)
        messages = ops.take(g.nodes, g.source, axis=0) * ops.expand_dims(g.weight, -1)
        total = ops.segment_sum(messages, g.target, num_segments=g.num)
        h = (1.0 + self.eps) * g.nodes + total
        h = ops.relu(ops.matmul(h, self.hidden_kernel) + self.hidden_bias)
        return g.unflatten(self._finish(ops.matmul(h, self.kernel)))


@keras.saving.register_keras_serializable(package="kerasdl")
class GATConv(_GraphConv):
    """Graph attention of Veličković et al. (2018).

    Per head k: `h = x W_k`, edge score `e_ji = LeakyReLU(a_src . h_j +
    a_dst . h_i)` (slope 0.2), `alpha_ji = softmax_j(e_ji)` over the edges
    into i (a softmax by segment: max-shifted exp, segment sum), and
    `out_i = sum_j alpha_ji h_j`. Heads are concatenated (`units * heads`
    features) or averaged (`units`).

    Args:
        units: int. Features per head.
        heads: int. Number of attention heads.
        concat_heads: bool. Concatenate (True) or average (False) the heads.
        dropout: float in [0, 1). Dropout on the attention coefficients
            while training.
        negative_slope: float. Slope of the LeakyReLU on the scores.
        add_self_loops: bool. Let every node attend to itself.
        activation, use_bias, kernel_initializer, bias_initializer: as in
            `GCNConv`.
        seed: int or None. Seed of the attention dropout.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Edge weights, if given, are ignored by the attention (GAT has none).
    """

    def __init__(
        self,
        units,
        heads=1,
        concat_heads=True,
        dropout=0.0,
        negative_slope=0.2,
        add_self_loops=True,
        activation=None,
        use_bias=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.heads = check_int("heads", heads, minimum=1, where="GATConv")
        self.concat_heads = check_bool("concat_heads", concat_heads, where="GATConv")
        self.dropout = check_float(
            "dropout", dropout, 0.0, 1.0, max_inclusive=False, where="GATConv"
        )
        self.negative_slope = check_float(
            "negative_slope", negative_slope, 0.0, where="GATConv"
        )
        self.add_self_loops = check_bool(
            "add_self_loops", add_self_loops, where="GATConv"
        )
        self.seed = check_int("seed", seed, allow_none=True, where="GATConv")
        self._dropout_seed = keras.random.SeedGenerator(seed) if self.dropout else None

    @property
    def output_units(self):
        return self.units * self.heads if self.concat_heads else self.units

    def build(self, x_shape, edge_index_shape=None, edge_weight_shape=None):
        self.kernel = self._kernel("kernel", (x_shape[-1], self.heads * self.units))
        self.attention_source = self._kernel(
            "attention_source", (self.heads, self.units)
        )
        self.attention_target = self._kernel(
            "attention_target", (self.heads, self.units)
        )
        self.bias = self._bias(self.output_units)

    def _attend(self, x, edge_index, training=None):
        g = _flat(x, edge_index, self_loops=self.add_self_loops)
        h = ops.matmul(g.nodes, self.kernel)
        h = ops.reshape(h, (g.num, self.heads, self.units))
        score_source = ops.sum(h * self.attention_source, axis=-1)  # (num, heads)
        score_target = ops.sum(h * self.attention_target, axis=-1)
        scores = ops.take(score_source, g.source, axis=0) + ops.take(
            score_target, g.target, axis=0
        )
        scores = ops.leaky_relu(scores, self.negative_slope)
        # Softmax over the edges into each node: shift by the per-node max.
        top = ops.segment_max(scores, g.target, num_segments=g.num)
        exp = ops.exp(scores - ops.stop_gradient(ops.take(top, g.target, axis=0)))
        total = ops.segment_sum(exp, g.target, num_segments=g.num)
        alpha = exp / ops.take(total, g.target, axis=0)
        if training and self.dropout:
            alpha = keras.random.dropout(alpha, self.dropout, seed=self._dropout_seed)
        return h, g, alpha

    def attention(self, x, edge_index):
        """The attention coefficients (inference), one row per edge.

        Returns:
            `(source, target, alpha)`: flat global node ids of every edge
            (self loops appended after the given edges) and `alpha`,
            `(edges, heads)`; for each target node and head the alphas of
            its incoming edges sum to 1.
        """
        if not self.built:
            self.build(tuple(x.shape))
        _, g, alpha = self._attend(x, edge_index)
        return g.source, g.target, alpha

    def call(self, x, edge_index, edge_weight=None, training=None):
        h, g, alpha = self._attend(x, edge_index, training)
        messages = ops.take(h, g.source, axis=0) * ops.expand_dims(alpha, -1)
        out = ops.segment_sum(messages, g.target, num_segments=g.num)
        if self.concat_heads:
            out = ops.reshape(out, (g.num, self.heads * self.units))
        else:
            out = ops.mean(out, axis=1)
        return g.unflatten(self._finish(out))

    def compute_output_shape(self, x_shape, edge_index_shape, edge_weight_shape=None):
        return _out_shape(x_shape, self.output_units)


@keras.saving.register_keras_serializable(package="kerasdl")
class GlobalGraphPooling(InitConfig, keras.layers.Layer):
    """One vector per graph from its node features, for graph-level tasks.

    Args:
        mode: "mean", "max", "sum" or "attention" (a learned gate: softmax
            over the graph's nodes of `x W_gate`, then the gated sum, as in
            Li et al. 2016's gated readout).
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        x: `(batch, N, F)` node features.
        node_mask: optional `(batch, N)` 1 for real nodes, 0 for padding.

    Output shape: `(batch, F)`.
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice(
            "mode",
            mode,
            ("mean", "max", "sum", "attention"),
            where="GlobalGraphPooling",
        )

    def build(self, x_shape, node_mask_shape=None):
        if self.mode == "attention":
            self.gate_kernel = self.add_weight(
                name="gate_kernel", shape=(x_shape[-1], 1), initializer="glorot_uniform"
            )

    def call(self, x, node_mask=None):
        if node_mask is None:
            node_mask = ops.ones(ops.shape(x)[:-1], dtype=x.dtype)
        mask = ops.expand_dims(ops.cast(node_mask, x.dtype), -1)
        if self.mode == "sum":
            return ops.sum(x * mask, axis=1)
        if self.mode == "mean":
            return ops.sum(x * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        if self.mode == "max":
            lowest = ops.min(x) - 1.0
            return ops.max(ops.where(mask > 0, x, lowest), axis=1)
        gate = ops.matmul(x, self.gate_kernel)
        gate = ops.where(mask > 0, gate, -1e9)
        gate = ops.softmax(gate, axis=1)
        return ops.sum(gate * x, axis=1)

    def compute_output_shape(self, x_shape, node_mask_shape=None):
        return (x_shape[0], x_shape[-1])
