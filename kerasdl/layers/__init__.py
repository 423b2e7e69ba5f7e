"""kerasdl's own Keras layers, all registered under package "kerasdl"."""

from kerasdl.layers.channel_padding import ChannelPadding  # noqa: F401
from kerasdl.layers.local_response_normalization import LocalResponseNormalization  # noqa: F401
from kerasdl.layers.rnn_cells import BasicGRUCell, BasicLSTMCell, BasicRNNCell  # noqa: F401
from kerasdl.layers.position import PositionEmbedding, RotaryEmbedding, SinusoidalPositionEncoding  # noqa: F401
from kerasdl.layers.transformer import PaddingMask, RelativePositionBias, TiedLMHead, TokenEmbedding, TransformerAttention, TransformerDecoderBlock, TransformerEncoderBlock  # noqa: F401
from kerasdl.layers.seq2seq_attention import BahdanauAttention, DecoderRNN, LuongAttention  # noqa: F401
from kerasdl.layers.vit import ClassToken, PatchEmbedding, TokenPooling  # noqa: F401
