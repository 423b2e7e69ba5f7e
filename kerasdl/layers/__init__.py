"""kerasdl's own Keras layers, all registered under package "kerasdl"."""

from kerasdl.layers.channel_padding import ChannelPadding
from kerasdl.layers.diffusion import SinusoidalTimeEmbedding, SpatialSelfAttention
from kerasdl.layers.graph import GATConv, GCNConv, GINConv, GlobalGraphPooling, SAGEConv
from kerasdl.layers.latent import GaussianSampling
from kerasdl.layers.local_response_normalization import LocalResponseNormalization
from kerasdl.layers.position import (
    PositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionEncoding,
)
from kerasdl.layers.rendering import (
    ImportanceSamples,
    PositionalEncoding,
    RayPoints,
    StratifiedSamples,
    VolumeRendering,
)
from kerasdl.layers.rnn_cells import BasicGRUCell, BasicLSTMCell, BasicRNNCell
from kerasdl.layers.seq2seq_attention import (
    BahdanauAttention,
    DecoderRNN,
    LuongAttention,
)
from kerasdl.layers.spectral_norm import SpectralNorm
from kerasdl.layers.spiking import (
    AdaptiveLIFCell,
    DeltaEncoder,
    LatencyEncoder,
    LIFCell,
    MembraneReadout,
    PoissonEncoder,
    RepeatEncoder,
    SpikeCount,
)
from kerasdl.layers.transformer import (
    PaddingMask,
    RelativePositionBias,
    TiedLMHead,
    TokenEmbedding,
    TransformerAttention,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from kerasdl.layers.vit import ClassToken, PatchEmbedding, TokenPooling

__all__ = [
    "AdaptiveLIFCell",
    "BahdanauAttention",
    "BasicGRUCell",
    "BasicLSTMCell",
    "BasicRNNCell",
    "ChannelPadding",
    "ClassToken",
    "DecoderRNN",
    "DeltaEncoder",
    "GATConv",
    "GCNConv",
    "GINConv",
    "GaussianSampling",
    "GlobalGraphPooling",
    "ImportanceSamples",
    "LIFCell",
    "LatencyEncoder",
    "LocalResponseNormalization",
    "LuongAttention",
    "MembraneReadout",
    "PaddingMask",
    "PatchEmbedding",
    "PoissonEncoder",
    "PositionEmbedding",
    "PositionalEncoding",
    "RayPoints",
    "RelativePositionBias",
    "RepeatEncoder",
    "RotaryEmbedding",
    "SAGEConv",
    "SinusoidalPositionEncoding",
    "SinusoidalTimeEmbedding",
    "SpatialSelfAttention",
    "SpectralNorm",
    "SpikeCount",
    "StratifiedSamples",
    "TiedLMHead",
    "TokenEmbedding",
    "TokenPooling",
    "TransformerAttention",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "VolumeRendering",
]
