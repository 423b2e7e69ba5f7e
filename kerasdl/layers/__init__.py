"""kerasdl's own Keras layers, all registered under package "kerasdl"."""

from kerasdl.layers.channel_padding import ChannelPadding  # noqa: F401
from kerasdl.layers.local_response_normalization import LocalResponseNormalization  # noqa: F401
