"""One tiny example per public kerasdl layer, for the layer sweep.

`tests/layers/test_layer_sweep.py` runs every layer registered under package
"kerasdl" (a `keras.layers.Layer` that is not a `keras.Model`) through the
checks of Keras' `run_layer_test`: config round trip, `.keras` round trip,
output shapes and a training step, on every backend. It FAILS for a
registered layer that has no entry here, so a new layer is covered by adding
one entry to `EXAMPLES`, keyed by its registered class name:

    "MyLayer": LayerExample(
        make=lambda: MyLayer(units=3),
        inputs=(Inp((5, 4)),),       # shapes without the batch axis
    ),

Keep the shapes tiny: the sweep runs each example on three backends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from kerasdl import layers as kl
from kerasdl.compression import clustering, pruning, qat_layers
from kerasdl.models.hub import HubModel


@dataclasses.dataclass(frozen=True)
class Inp:
    """One model input: shape without the batch axis, dtype, value range.

    Float inputs are standard normal; integer inputs are drawn uniformly
    from [low, high).
    """

    shape: tuple
    dtype: str = "float32"
    low: int = 1
    high: int = 4


@dataclasses.dataclass(frozen=True)
class LayerExample:
    """How to build and call one layer in a tiny model.

    Attributes:
        make: returns a fresh instance of the layer.
        inputs: the model inputs, in order.
        call: None (the layer is called as `layer(*inputs)`), "list" (as
            `layer([inputs...])`), or a function `(layer, inputs) ->
            outputs` for layers used inside another one (RNN cells) or fed
            by another layer (the tied head). `compute_output_shape` is
            checked only when `call` is not a function.
        frozen: names (substrings) of trainable weights that one training
            step legitimately leaves unchanged, with the reason in a comment.
    """

    make: Callable[[], keras.layers.Layer]
    inputs: tuple
    call: str | Callable | None = None
    frozen: tuple = ()


def _in_rnn(layer, inputs):
    return keras.layers.RNN(layer, return_sequences=True)(*inputs)


def _tied_head(layer, inputs):
    # The head's table comes from a TokenEmbedding, as in GPT-2 and T5.
    hidden, table = kl.TokenEmbedding(11, 4, return_table=True)(inputs[0])
    return layer([hidden, table])


def _hub_bert():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=11,
        num_layers=1,
        num_heads=2,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=6,
        num_segments=2,
        dropout=0.0,
    )
    return HubModel(
        backbone,
        input_names=["token_ids", "segment_ids", "padding_mask"],
        output_names=["pooled_output"],
    )


SEQ = Inp((5, 4))  # (time, features)
TOKENS = Inp((5,), "int32", 1, 11)  # token ids, none is the padding id 0
IMAGE = Inp((6, 6, 2))
NODES = Inp((4, 3))  # (nodes, features) of one graph
EDGES = Inp((2, 6), "int32", 0, 4)  # (source/target, edges), ids in [0, 4)

EXAMPLES: dict[str, LayerExample] = {
    # kerasdl.layers
    "BahdanauAttention": LayerExample(
        make=lambda: kl.BahdanauAttention(3), inputs=(Inp((4,)), SEQ)
    ),
    "LuongAttention": LayerExample(
        make=lambda: kl.LuongAttention("general"), inputs=(Inp((4,)), SEQ)
    ),
    "BasicRNNCell": LayerExample(
        make=lambda: kl.BasicRNNCell(3), inputs=(SEQ,), call=_in_rnn
    ),
    "BasicLSTMCell": LayerExample(
        make=lambda: kl.BasicLSTMCell(3), inputs=(SEQ,), call=_in_rnn
    ),
    "BasicGRUCell": LayerExample(
        make=lambda: kl.BasicGRUCell(3), inputs=(SEQ,), call=_in_rnn
    ),
    "ChannelPadding": LayerExample(
        make=lambda: kl.ChannelPadding((1, 2)), inputs=(IMAGE,)
    ),
    "ClassToken": LayerExample(make=lambda: kl.ClassToken(), inputs=(SEQ,)),
    "DecoderRNN": LayerExample(
        make=lambda: kl.DecoderRNN("lstm", 3),
        inputs=(SEQ, Inp((3,)), Inp((3,))),
    ),
    "LocalResponseNormalization": LayerExample(
        make=lambda: kl.LocalResponseNormalization(depth_radius=1), inputs=(IMAGE,)
    ),
    "PaddingMask": LayerExample(
        make=lambda: kl.PaddingMask(), inputs=(Inp((5,), "int32", 0, 3),)
    ),
    "PatchEmbedding": LayerExample(
        make=lambda: kl.PatchEmbedding(patch_size=3, hidden_dim=4), inputs=(IMAGE,)
    ),
    "PositionEmbedding": LayerExample(
        make=lambda: kl.PositionEmbedding(sequence_length=5), inputs=(SEQ,)
    ),
    "RelativePositionBias": LayerExample(
        make=lambda: kl.RelativePositionBias(2, num_buckets=4, max_distance=4),
        inputs=(SEQ,),
    ),
    "RotaryEmbedding": LayerExample(
        make=lambda: kl.RotaryEmbedding(),
        inputs=(Inp((5, 2, 4)),),  # (seq, heads, dim)
    ),
    "SinusoidalPositionEncoding": LayerExample(
        make=lambda: kl.SinusoidalPositionEncoding(), inputs=(SEQ,)
    ),
    "SinusoidalTimeEmbedding": LayerExample(
        make=lambda: kl.SinusoidalTimeEmbedding(6), inputs=(Inp(()),)
    ),
    "SpatialSelfAttention": LayerExample(
        make=lambda: kl.SpatialSelfAttention(num_heads=2, groups=2),
        inputs=(Inp((3, 3, 4)),),
    ),
    # Graph layers: the sweep's batch of 2 is 2 graphs of 4 nodes, 6 edges each.
    "GCNConv": LayerExample(make=lambda: kl.GCNConv(3), inputs=(NODES, EDGES)),
    "SAGEConv": LayerExample(
        make=lambda: kl.SAGEConv(3, aggregator="max"), inputs=(NODES, EDGES)
    ),
    "GATConv": LayerExample(make=lambda: kl.GATConv(2, heads=2), inputs=(NODES, EDGES)),
    "GINConv": LayerExample(
        make=lambda: kl.GINConv(3, learn_epsilon=True), inputs=(NODES, EDGES)
    ),
    "GlobalGraphPooling": LayerExample(
        make=lambda: kl.GlobalGraphPooling("attention"), inputs=(NODES,)
    ),
    "GaussianSampling": LayerExample(
        make=lambda: kl.GaussianSampling(seed=1),
        inputs=(Inp((3,)), Inp((3,))),
        call="list",
    ),
    "LIFCell": LayerExample(
        make=lambda: kl.LIFCell(3, learn_beta=True, learn_threshold=True),
        inputs=(SEQ,),
        call=_in_rnn,
    ),
    "AdaptiveLIFCell": LayerExample(
        make=lambda: kl.AdaptiveLIFCell(3, reset="zero", surrogate="arctan"),
        inputs=(SEQ,),
        call=_in_rnn,
    ),
    "RepeatEncoder": LayerExample(
        make=lambda: kl.RepeatEncoder(3), inputs=(Inp((4,)),)
    ),
    "PoissonEncoder": LayerExample(
        make=lambda: kl.PoissonEncoder(3, seed=1), inputs=(Inp((4,)),)
    ),
    "LatencyEncoder": LayerExample(
        make=lambda: kl.LatencyEncoder(3), inputs=(Inp((4,)),)
    ),
    "DeltaEncoder": LayerExample(
        make=lambda: kl.DeltaEncoder(0.1, off_spikes=True), inputs=(SEQ,)
    ),
    "SpikeCount": LayerExample(
        make=lambda: kl.SpikeCount(normalize=True), inputs=(SEQ,)
    ),
    "MembraneReadout": LayerExample(make=lambda: kl.MembraneReadout(3), inputs=(SEQ,)),
    "SpectralNorm": LayerExample(
        make=lambda: kl.SpectralNorm(keras.layers.Conv2D(3, 2, activation="relu")),
        inputs=(Inp((4, 4, 2)),),
    ),
    "TiedLMHead": LayerExample(
        make=lambda: kl.TiedLMHead(use_bias=True), inputs=(TOKENS,), call=_tied_head
    ),
    "TokenEmbedding": LayerExample(
        make=lambda: kl.TokenEmbedding(11, 4), inputs=(TOKENS, TOKENS), call="list"
    ),
    "TokenPooling": LayerExample(
        make=lambda: kl.TokenPooling(mode="avg"), inputs=(SEQ,)
    ),
    "TransformerAttention": LayerExample(
        make=lambda: kl.TransformerAttention(2, key_dim=2), inputs=(SEQ, SEQ)
    ),
    "TransformerEncoderBlock": LayerExample(
        make=lambda: kl.TransformerEncoderBlock(2, intermediate_dim=8), inputs=(SEQ,)
    ),
    "TransformerDecoderBlock": LayerExample(
        make=lambda: kl.TransformerDecoderBlock(2, intermediate_dim=8),
        inputs=(SEQ, SEQ),
    ),
    # kerasdl.models
    "HubModel": LayerExample(
        make=_hub_bert,
        inputs=(
            Inp((6,), "int32", 1, 11),
            Inp((6,), "int32", 0, 2),
            Inp((6,), "int32", 1, 2),  # padding mask: every token is real
        ),
        call="list",
    ),
    # kerasdl.compression
    "PruneLowMagnitude": LayerExample(
        make=lambda: pruning.PruneLowMagnitude(keras.layers.Dense(3)),
        inputs=(Inp((4,)),),
    ),
    "ClusterWeights": LayerExample(
        make=lambda: clustering.ClusterWeights(
            keras.layers.Dense(3), number_of_clusters=2
        ),
        inputs=(Inp((4,)),),
    ),
    "QuantizeLayer": LayerExample(
        make=lambda: qat_layers.QuantizeLayer(), inputs=(Inp((4,)),)
    ),
    "QuantDense": LayerExample(
        make=lambda: qat_layers.QuantDense(3), inputs=(Inp((4,)),)
    ),
    "QuantConv2D": LayerExample(
        make=lambda: qat_layers.QuantConv2D(3, 3), inputs=(IMAGE,)
    ),
    "QuantDepthwiseConv2D": LayerExample(
        make=lambda: qat_layers.QuantDepthwiseConv2D(3), inputs=(IMAGE,)
    ),
    # Neural rendering (kerasdl.layers.rendering): rays are (batch, 6),
    # depths (batch, 4).
    "PositionalEncoding": LayerExample(
        make=lambda: kl.PositionalEncoding(2), inputs=(Inp((5, 3)),)
    ),
    "StratifiedSamples": LayerExample(
        make=lambda: kl.StratifiedSamples(2.0, 6.0, 4, seed=0), inputs=(Inp((6,)),)
    ),
    "ImportanceSamples": LayerExample(
        make=lambda: kl.ImportanceSamples(3, seed=0),
        inputs=(Inp((4,)), Inp((4,))),
        call="list",
    ),
    "RayPoints": LayerExample(
        make=lambda: kl.RayPoints(), inputs=(Inp((6,)), Inp((4,))), call="list"
    ),
    "VolumeRendering": LayerExample(
        make=lambda: kl.VolumeRendering(background=1.0),
        inputs=(Inp((4, 3)), Inp((4, 1)), Inp((4,)), Inp((6,))),
        call="list",
    ),
}
