"""The tiny character GPT that the alignment tests train and compare."""

import kerasdl

VOCAB = 12


def tiny_gpt():
    return kerasdl.build(
        "gpt",
        vocabulary_size=VOCAB,
        max_sequence_length=16,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        dropout=0.0,
    )
