"""Arguments that the transformer builders share (default and Args line each),
as `builder_args` tables."""

from __future__ import annotations

from kerasdl.layers.transformer import check_stack_args
from kerasdl.models._common import check_float
from kerasdl.models._hparams import Arg

#: The block sizes of BERT-base and GPT-2 small, in signature order.
BLOCK_SIZES = {
    "num_heads": Arg(12, "int. Attention heads per block; must divide hidden_dim."),
    "hidden_dim": Arg(768, "int. Model width."),
    "intermediate_dim": Arg(3072, "int. Width of the feed-forward layers."),
}

LAYER_NORM_DOC = "float. Epsilon of every LayerNorm."

WEIGHTS = {
    "weights": Arg(
        None, "str or None. Path of a local weights file to load; never downloaded."
    )
}


def check_blocks(hp: dict, activation: str) -> dict:
    """Checks the block arguments of a builder's hyperparameters `hp` (sizes,
    dropout, layer_norm_epsilon); returns `check_stack_args`'s block options
    with feed-forward `activation`."""
    block_args = check_stack_args(
        hp["num_layers"],
        hp["num_heads"],
        hp["hidden_dim"],
        hp["intermediate_dim"],
        hp["dropout"],
        activation,
    )
    check_float(
        "layer_norm_epsilon", hp["layer_norm_epsilon"], 0.0, 1.0, max_inclusive=False
    )
    return block_args
