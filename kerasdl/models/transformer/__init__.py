"""Transformer language models: BERT-, GPT- and T5-style builders.

| name            | architecture                                   | output               |
|-----------------|------------------------------------------------|----------------------|
| bert_classifier | post-norm encoder, [CLS] pooler + classifier   | class scores         |
| bert_mlm        | post-norm encoder + masked-LM head (tied)      | token logits         |
| gpt             | pre-norm causal decoder, learned positions     | next-token logits    |
| t5              | pre-norm encoder-decoder, relative pos. bias   | decoder token logits |

Defaults are the published base configurations (BERT-base, GPT-2 small,
t5-small); every model is a functional `keras.Model` built from
`kerasdl.layers.transformer` blocks. Generation: `kerasdl.generation`.
"""

from kerasdl.models.transformer.bert import bert
from kerasdl.models.transformer.gpt import gpt
from kerasdl.models.transformer.t5 import t5

__all__ = ["bert", "gpt", "t5"]
