"""Decoding for every autoregressive kerasdl model: greedy, beam, sampling.

One package serves all families; the models stay free of decoding (imports
run one way: `kerasdl.generation` imports `kerasdl.models`, never the
reverse), and find layers by the names the builders export as constants.

- `search`: `greedy_search` and `beam_search_fn` over a step function, and
  the `DecodeResult` they return (any model that exposes a step function).
- `sampling`: next-token choice from logits (greedy, temperature, top-k,
  top-p), on `keras.ops`.
- `seq2seq`: `Seq2SeqDecoder`, `greedy_decode`, `beam_search` and
  `sequence_log_probs` for `kerasdl.build("seq2seq", ...)` models.
- `transformer`: `generate` (GPT, with a key/value cache) and `t5_generate`.

- `diffusion`: DDPM ancestral and DDIM samplers with classifier-free
  guidance for `kerasdl.build("ddpm", ...)` models (`diffusion.generate`,
  `denoising_trajectory`); importing it installs the sampler behind
  `DiffusionModel.generate`.

Example:
>>> from kerasdl.generation import generate, greedy_decode
>>> generate(gpt_model, [[1, 2, 3]], max_new_tokens=5)
>>> greedy_decode(seq2seq_model, source_tokens, start_id=1, end_id=2).tokens
"""

from kerasdl.generation import diffusion
from kerasdl.generation.diffusion import denoising_trajectory
from kerasdl.generation.sampling import STRATEGIES, filter_logits, sample_logits
from kerasdl.generation.search import (
    DecodeResult,
    beam_search_fn,
    greedy_search,
    log_softmax,
)
from kerasdl.generation.seq2seq import (
    Seq2SeqDecoder,
    beam_search,
    evaluate_seq2seq,
    greedy_decode,
    sequence_log_probs,
)
from kerasdl.generation.transformer import generate, t5_generate

__all__ = [
    "STRATEGIES",
    "DecodeResult",
    "Seq2SeqDecoder",
    "beam_search",
    "beam_search_fn",
    "denoising_trajectory",
    "diffusion",
    "evaluate_seq2seq",
    "filter_logits",
    "generate",
    "greedy_decode",
    "greedy_search",
    "log_softmax",
    "sample_logits",
    "sequence_log_probs",
    "t5_generate",
]
