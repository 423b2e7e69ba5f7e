"""Autoregressive text generation for kerasdl's GPT and T5 models.

`generate(gpt_model, prompt, ...)` extends a batch of prompts token by
token. With `use_cache=True` (the default) every decoder block keeps the
keys and values of the tokens seen so far, so the prompt is processed once
and each later step feeds a single token through the network; with
`use_cache=False` each step re-runs the whole model on the sequence so far
(the reference the cached path is tested against). Next tokens are chosen
greedily or by sampling with temperature, top-k and top-p (nucleus)
filtering, seeded for reproducibility.

`t5_generate(t5_model, encoder_tokens, ...)` decodes greedily: the encoder
runs once, the decoder one token per step with a cache.

Both are plain Python loops over eager `keras.ops` calls, so they run on
every backend; the models are found by their layer names (see
`kerasdl.models.transformer.gpt` and `.t5`).
"""

from __future__ import annotations

import dataclasses
import logging
import weakref

import keras
import numpy as np
from keras import ops

from kerasdl.layers.transformer import TiedLMHead

__all__ = ["filter_logits", "generate", "sample_logits", "t5_generate"]

logger = logging.getLogger(__name__)
STRATEGIES = ("greedy", "sample")
_NEG_INF = -1e9


# ------------------------------------------------------------------ sampling
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
    _check_strategy(strategy, temperature)
    if strategy == "greedy" or temperature == 0:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    logits = ops.cast(logits, "float32") / float(temperature)
    logits = filter_logits(logits, top_k=top_k, top_p=top_p)
    tokens = keras.random.categorical(logits, 1, seed=seed_generator, dtype="int32")
    return tokens[:, 0]


def _check_strategy(strategy, temperature):
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


def _check_tokens(arg, tokens):
    array = np.asarray(keras.ops.convert_to_numpy(tokens))
    if array.ndim == 1:
        array = array[None]
    if (
        array.ndim != 2
        or array.shape[1] < 1
        or not np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(
            f"Invalid {arg}: expected integer token ids of shape (batch, length) "
            f"with length >= 1; received dtype {array.dtype}, shape {array.shape}."
        )
    return array.astype("int32")


# Compiled inference functions per model, reused by later calls.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model, key, make_fn):
    """Returns `make_fn()` compiled for JAX (jax.jit), cached per model.

    JAX runs eager ops one compiled kernel at a time, which makes an
    op-by-op decoding loop very slow; jit-compiling the forward step fixes
    that. The functions close over the model's layers (weights enter as
    constants) and take fixed shapes, so one compilation serves every
    decoding step. TensorFlow and PyTorch run the step eagerly: for the
    small models generated from here, tracing a tf.function costs more than
    it saves.
    """
    if keras.backend.backend() != "jax":
        return make_fn()
    import jax

    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache[key] = jax.jit(make_fn())
    return cache[key]


# ---------------------------------------------------------------- GPT models
@dataclasses.dataclass
class _GPTParts:
    embedding: keras.layers.Layer
    position: keras.layers.Layer | None
    blocks: list
    final_norm: keras.layers.Layer
    head: keras.layers.Layer
    max_length: int | None


def _layer(model, name, required=True):
    try:
        return model.get_layer(name)
    except ValueError:
        if required:
            raise ValueError(
                f"generate() needs a kerasdl GPT or T5 model (see "
                f"kerasdl.models.transformer); model {model.name!r} has no layer "
                f"{name!r}."
            ) from None
        return None


def _blocks(model, prefix):
    blocks, i = [], 1
    while (block := _layer(model, f"{prefix}{i}", required=False)) is not None:
        blocks.append(block)
        i += 1
    if not blocks:
        _layer(model, f"{prefix}1")  # raises the descriptive error
    return blocks


def _gpt_parts(model) -> _GPTParts:
    position = _layer(model, "position_embedding", required=False)
    return _GPTParts(
        embedding=_layer(model, "token_embedding"),
        position=position,
        blocks=_blocks(model, "decoder_block"),
        final_norm=_layer(model, "final_norm"),
        head=_layer(model, "lm_head"),
        max_length=getattr(position, "sequence_length", None),
    )


def _empty_cache(block, batch, length, dtype):
    attention = block.self_attention
    shape = (batch, 2, length, attention.num_heads, attention.head_dim)
    return ops.zeros(shape, dtype=dtype)


def _head(head, embedding, x):
    if isinstance(head, TiedLMHead):
        return head([x, ops.convert_to_tensor(embedding.embeddings)])
    return head(x)


def _index(i):
    # A tensor, so that compiled steps are traced once for all positions.
    return ops.convert_to_tensor(np.int32(i))


def _gpt_step(parts, tokens, caches, index):
    # tokens (batch, t) at absolute positions index..index+t-1 -> logits of
    # the last position (batch, vocab) and the updated caches.
    x = parts.embedding.embed(tokens)  # (batch, t, hidden)
    if parts.position is not None:
        x = parts.position(x, start_index=index)
    new_caches = []
    for block, cache in zip(parts.blocks, caches):
        x, cache = block(x, cache=cache, cache_index=index, training=False)
        new_caches.append(cache)
    x = parts.final_norm(x[:, -1:, :])
    return _head(parts.head, parts.embedding, x)[:, 0, :], new_caches


def generate(
    model,
    prompt,
    max_new_tokens,
    strategy="greedy",
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    end_token_id=None,
    use_cache=True,
):
    """Extends prompts with a GPT model (`kerasdl.build("gpt", ...)`).

    Args:
        model: keras.Model. A kerasdl GPT model.
        prompt: int array `(batch, length)` (or `(length,)`) of token ids;
            all prompts of a batch have the same length.
        max_new_tokens: int. Number of tokens to add.
        strategy: str. "greedy" or "sample".
        temperature: float. Sampling temperature; 0 is greedy.
        top_k: int or None. Sample among the k most likely tokens only.
        top_p: float or None. Nucleus sampling mass.
        seed: int or None. Seed of the sampler (same seed, same tokens).
        end_token_id: int or None. A sequence that emits it is finished: its
            later positions repeat it; generation stops when all finished.
        use_cache: bool. Key/value cache (one token per step) or full
            recomputation of the sequence at every step.

    Returns:
        int32 numpy array `(batch, length + max_new_tokens)`: prompt and
        continuation (shorter when every sequence ended early).

    Raises:
        ValueError: for invalid arguments, or when the result would exceed
            the model's learned position table.

    Example:
    >>> model = kerasdl.build("gpt", vocabulary_size=64, max_sequence_length=32,
    ...                       num_layers=2, num_heads=2, hidden_dim=16,
    ...                       intermediate_dim=32)
    >>> generate(model, [[1, 2, 3]], max_new_tokens=5).shape
    (1, 8)
    """
    _check_strategy(strategy, temperature)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise ValueError(
            f"Invalid max_new_tokens={max_new_tokens!r}: expected an integer >= 1."
        )
    if max_new_tokens < 1:
        raise ValueError(
            f"Invalid max_new_tokens={max_new_tokens!r}: expected an integer >= 1."
        )
    tokens = _check_tokens("prompt", prompt)
    parts = _gpt_parts(model)
    batch, length = tokens.shape
    total = length + max_new_tokens
    if parts.max_length is not None and total > parts.max_length:
        raise ValueError(
            f"Prompt length {length} + max_new_tokens={max_new_tokens} = {total} "
            f"exceeds the model's max_sequence_length={parts.max_length}."
        )
    seed_generator = keras.random.SeedGenerator(seed) if strategy == "sample" else None
    out = np.zeros((batch, total), dtype="int32")
    out[:, :length] = tokens
    finished = np.zeros(batch, dtype=bool)

    if use_cache:
        step = _compiled(
            model, "gpt_step", lambda: lambda *args: _gpt_step(parts, *args)
        )
        dtype = parts.final_norm.compute_dtype
        caches = [_empty_cache(b, batch, total, dtype) for b in parts.blocks]
        logits, caches = step(ops.convert_to_tensor(tokens), caches, _index(0))
    else:
        # The whole model on a fixed-length buffer: causal attention makes
        # the logits at `position - 1` independent of the zeros after it.
        forward = _compiled(
            model, "forward", lambda: lambda ids: model(ids, training=False)
        )
        logits = forward(ops.convert_to_tensor(out))[:, length - 1, :]
    end = total
    for position in range(length, total):
        next_tokens = keras.ops.convert_to_numpy(
            sample_logits(logits, strategy, temperature, top_k, top_p, seed_generator)
        ).astype("int32")
        if end_token_id is not None:
            next_tokens = np.where(finished, end_token_id, next_tokens)
            finished |= next_tokens == end_token_id
        out[:, position] = next_tokens
        if position == total - 1 or (end_token_id is not None and finished.all()):
            end = position + 1
            break
        if use_cache:
            ids = ops.convert_to_tensor(next_tokens[:, None])
            logits, caches = step(ids, caches, _index(position))
        else:
            logits = forward(ops.convert_to_tensor(out))[:, position, :]
    logger.debug("generated %d tokens for %d prompts", end - length, batch)
    return out[:, :end]


# ----------------------------------------------------------------- T5 models
def t5_generate(
    model,
    encoder_tokens,
    max_new_tokens,
    start_token_id=0,
    end_token_id=None,
    use_cache=True,
):
    """Greedy decoding with a T5 model (`kerasdl.build("t5", ...)`).

    The encoder runs once; the decoder starts from `start_token_id` (T5
    uses the padding id 0) and adds the most likely token at every step.

    Args:
        model: keras.Model. A kerasdl T5 model.
        encoder_tokens: int array `(batch, length)` of encoder token ids
            (0 = padding).
        max_new_tokens: int. Number of decoder tokens to produce.
        start_token_id: int. First decoder input token.
        end_token_id: int or None. A sequence that emits it is finished;
            decoding stops when all are.
        use_cache: bool. Decoder key/value cache (one token per step) or
            full re-run of the model at every step.

    Returns:
        int32 numpy array `(batch, 1 + n)`: the start token and the n <=
        max_new_tokens generated tokens.

    Raises:
        ValueError: for invalid arguments or a model that is not a T5 model.
    """
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 1
    ):
        raise ValueError(
            f"Invalid max_new_tokens={max_new_tokens!r}: expected an integer >= 1."
        )
    enc = _check_tokens("encoder_tokens", encoder_tokens)
    batch = enc.shape[0]
    total = max_new_tokens + 1
    out = np.full((batch, total), start_token_id, dtype="int32")
    finished = np.zeros(batch, dtype=bool)
    for name in ("token_embedding", "encoder_block1", "decoder_block1", "lm_head"):
        _layer(model, name)  # a kerasdl T5 model, or a descriptive error

    if use_cache:
        encode = _compiled(model, "t5_encode", lambda: lambda e: _t5_encode(model, e))
        encoder_output, encoder_mask = encode(ops.convert_to_tensor(enc))
        step = _compiled(model, "t5_step", lambda: _t5_step(model))
        blocks = _blocks(model, "decoder_block")
        dtype = _layer(model, "decoder_final_norm").compute_dtype
        caches = [_empty_cache(b, batch, total, dtype) for b in blocks]
    else:
        forward = _compiled(
            model, "forward", lambda: lambda e, d: model([e, d], training=False)
        )
        enc_tensor = ops.convert_to_tensor(enc)

    end = total
    for position in range(max_new_tokens):
        if use_cache:
            ids = ops.convert_to_tensor(out[:, position : position + 1])
            logits, caches = step(
                ids, caches, _index(position), encoder_output, encoder_mask
            )
        else:
            # Fixed-length decoder buffer; causal, so later slots do not matter.
            logits = forward(enc_tensor, ops.convert_to_tensor(out))[:, position]
        next_tokens = keras.ops.convert_to_numpy(ops.argmax(logits, axis=-1))
        next_tokens = next_tokens.astype("int32")
        if end_token_id is not None:
            next_tokens = np.where(finished, end_token_id, next_tokens)
            finished |= next_tokens == end_token_id
        out[:, position + 1] = next_tokens
        if end_token_id is not None and finished.all():
            end = position + 2
            break
    return out[:, :end]


def _t5_encode(model, enc):
    embedding = _layer(model, "token_embedding")
    mask = _layer(model, "encoder_padding_mask")(ops.convert_to_tensor(enc))
    x = embedding.embed(ops.convert_to_tensor(enc))
    bias = _layer(model, "encoder_position_bias")(x)
    for block in _blocks(model, "encoder_block"):
        x = block(x, padding_mask=mask, position_bias=bias, training=False)
    return _layer(model, "encoder_final_norm")(x), mask


def _t5_step(model):
    """Returns the cached decoder step of a T5 model (one token per call)."""
    embedding = _layer(model, "token_embedding")
    head = _layer(model, "lm_head")
    blocks = _blocks(model, "decoder_block")
    bias_layer = _layer(model, "decoder_position_bias")
    final_norm = _layer(model, "decoder_final_norm")

    def step(ids, caches, index, encoder_output, encoder_mask):
        # ids (batch, 1) at position `index`; caches (batch, 2, total, h, d).
        y = embedding.embed(ids)
        total = caches[0].shape[2]
        bias = ops.cast(bias_layer.bias(1, total, query_offset=index), y.dtype)
        new_caches = []
        for block, cache in zip(blocks, caches):
            y, cache = block(
                y,
                encoder_output,
                encoder_padding_mask=encoder_mask,
                self_position_bias=bias,
                cache=cache,
                cache_index=index,
                training=False,
            )
            new_caches.append(cache)
        return _head(head, embedding, final_norm(y))[:, 0, :], new_caches

    return step
