"""Choosing the next token from logits: greedy, temperature, top-k, top-p.

Shared by every autoregressive decoder in `kerasdl.generation`; runs on
`keras.ops`, so on every backend, seeded by a `keras.random.SeedGenerator`.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["STRATEGIES", "check_strategy", "filter_logits", "sample_logits"]

STRATEGIES = ("greedy", "sample")
_NEG_INF = -1e9


def filter_logits(logits, top_k=None, top_p=None):
    """Keeps the top-k and/or top-p (nucleus) tokens; others get -1e9.

    Args:
        logits: float tensor `(batch, vocab)`.
        top_k: int or None. Keep the `top_k` largest logits per row.
        top_p: float or None. Keep the smallest set of most likely tokens
            whose probabilities sum to at least `top_p` (Holtzman et al.
            2020); the most likely token is always kept.

    Returns:
        Logits of the same shape with the excluded tokens at -1e9.

    Raises:
        ValueError: for top_k < 1 or top_p outside (0, 1].
    """
    logits = ops.cast(logits, "float32")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"Invalid top_k={top_k!r}: expected an integer >= 1.")
        k = min(top_k, logits.shape[-1])
        kth = ops.top_k(logits, k)[0][:, -1:]  # (batch, 1)
        logits = ops.where(logits < kth, _NEG_INF, logits)
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise ValueError(f"Invalid top_p={top_p!r}: expected a number in (0, 1].")
        if not 0 < top_p <= 1:
            raise ValueError(f"Invalid top_p={top_p!r}: expected a number in (0, 1].")
        sorted_logits = ops.flip(ops.sort(logits, axis=-1), axis=-1)  # descending
        probs = ops.softmax(sorted_logits, axis=-1)
        # Mass of the strictly more likely tokens: a token stays while the
        # tokens before it have not reached top_p yet.
        before = ops.cumsum(probs, axis=-1) - probs
        keep = before < top_p
        n_keep = ops.sum(ops.cast(keep, "int32"), axis=-1, keepdims=True)
        threshold = ops.take_along_axis(sorted_logits, n_keep - 1, axis=-1)
        logits = ops.where(logits < threshold, _NEG_INF, logits)
    return logits


def sample_logits(
    logits,
    strategy="greedy",
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed_generator=None,
):
    """Chooses one token per row of `logits`.

    Args:
        logits: float tensor `(batch, vocab)`.
        strategy: str. "greedy" (argmax) or "sample".
        temperature: float. Logits are divided by it before sampling; 0
            means greedy.
        top_k: int or None. Sample among the k most likely tokens only.
        top_p: float or None. Sample within the nucleus of mass top_p.
        seed_generator: keras.random.SeedGenerator or None. Source of
            randomness for "sample" (seeded for reproducible runs).

    Returns:
        int32 tensor `(batch,)` of token ids.
    """
    check_strategy(strategy, temperature)
    if strategy == "greedy" or temperature == 0:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    logits = ops.cast(logits, "float32") / float(temperature)
    logits = filter_logits(logits, top_k=top_k, top_p=top_p)
    tokens = keras.random.categorical(logits, 1, seed=seed_generator, dtype="int32")
    return tokens[:, 0]


def check_strategy(strategy, temperature):
    """Raises a ValueError for an unknown strategy or a negative temperature."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Invalid strategy={strategy!r}. Accepted: 'greedy', 'sample'."
        )
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or temperature < 0
    ):
        raise ValueError(
            f"Invalid temperature={temperature!r}: expected a number >= 0."
        )
