"""kerasdl's own Keras layers, all registered under package "kerasdl"."""

from kerasdl.layers.channel_padding import ChannelPadding
from kerasdl.layers.diffusion import SinusoidalTimeEmbedding, SpatialSelfAttention
from kerasdl.layers.graph import GATConv, GCNConv, GlobalGraphPooling, SAGEConv
from kerasdl.layers.latent import GaussianSampling
from kerasdl.layers.local_response_normalization import LocalResponseNormalization
from kerasdl.layers.position import (
    PositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionEncoding,
)
from kerasdl.layers.rnn_cells import BasicGRUCell, BasicLSTMCell, BasicRNNCell
from kerasdl.layers.seq2seq_attention import (
    BahdanauAttention,
    DecoderRNN,
    LuongAttention,
)
from kerasdl.layers.spectral_norm import SpectralNorm
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
    "BahdanauAttention",
    "BasicGRUCell",
    "BasicLSTMCell",
    "BasicRNNCell",
    "ChannelPadding",
    "ClassToken",
    "DecoderRNN",
    "GATConv",
    "GCNConv",
    "GaussianSampling",
    "GlobalGraphPooling",
    "LocalResponseNormalization",
    "LuongAttention",
    "PaddingMask",
    "PatchEmbedding",
    "PositionEmbedding",
    "RelativePositionBias",
    "RotaryEmbedding",
    "SAGEConv",
    "SinusoidalPositionEncoding",
    "SinusoidalTimeEmbedding",
    "SpatialSelfAttention",
    "SpectralNorm",
    "TiedLMHead",
    "TokenEmbedding",
    "TokenPooling",
    "TransformerAttention",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
]
