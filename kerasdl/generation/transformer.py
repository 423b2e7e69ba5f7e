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
the `GPT_*` and `T5_*` constants of `kerasdl.models.transformer.gpt` and
`.t5`).
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
from keras import ops

from kerasdl._backend import jit_per_model
from kerasdl.generation.sampling import check_strategy, sample_logits
from kerasdl.layers.transformer import TiedLMHead
from kerasdl.models.transformer.gpt import (
    GPT_BLOCK_PREFIX,
    GPT_EMBEDDING,
    GPT_FINAL_NORM,
    GPT_HEAD,
    GPT_POSITION_EMBEDDING,
)
from kerasdl.models.transformer.t5 import (
    T5_DECODER_BLOCK_PREFIX,
    T5_DECODER_FINAL_NORM,
    T5_DECODER_POSITION_BIAS,
    T5_EMBEDDING,
    T5_ENCODER_BLOCK_PREFIX,
    T5_ENCODER_FINAL_NORM,
    T5_ENCODER_PADDING_MASK,
    T5_ENCODER_POSITION_BIAS,
    T5_HEAD,
)

__all__ = ["generate", "t5_generate"]

logger = logging.getLogger(__name__)


def _check_new_tokens(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid max_new_tokens={value!r}: expected an integer >= 1.")


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
    position = _layer(model, GPT_POSITION_EMBEDDING, required=False)
    return _GPTParts(
        embedding=_layer(model, GPT_EMBEDDING),
        position=position,
        blocks=_blocks(model, GPT_BLOCK_PREFIX),
        final_norm=_layer(model, GPT_FINAL_NORM),
        head=_layer(model, GPT_HEAD),
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
    check_strategy(strategy, temperature)
    _check_new_tokens(max_new_tokens)
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
        step = jit_per_model(
            model, "gpt_step", lambda: lambda *args: _gpt_step(parts, *args)
        )
        dtype = parts.final_norm.compute_dtype
        caches = [_empty_cache(b, batch, total, dtype) for b in parts.blocks]
        logits, caches = step(ops.convert_to_tensor(tokens), caches, _index(0))
    else:
        # The whole model on a fixed-length buffer: causal attention makes
        # the logits at `position - 1` independent of the zeros after it.
        forward = jit_per_model(
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
    _check_new_tokens(max_new_tokens)
    enc = _check_tokens("encoder_tokens", encoder_tokens)
    batch = enc.shape[0]
    total = max_new_tokens + 1
    out = np.full((batch, total), start_token_id, dtype="int32")
    finished = np.zeros(batch, dtype=bool)
    required = (
        T5_EMBEDDING,
        f"{T5_ENCODER_BLOCK_PREFIX}1",
        f"{T5_DECODER_BLOCK_PREFIX}1",
        T5_HEAD,
    )
    for name in required:
        _layer(model, name)  # a kerasdl T5 model, or a descriptive error

    if use_cache:
        encode = jit_per_model(
            model, "t5_encode", lambda: lambda e: _t5_encode(model, e)
        )
        encoder_output, encoder_mask = encode(ops.convert_to_tensor(enc))
        step = jit_per_model(model, "t5_step", lambda: _t5_step(model))
        blocks = _blocks(model, T5_DECODER_BLOCK_PREFIX)
        dtype = _layer(model, T5_DECODER_FINAL_NORM).compute_dtype
        caches = [_empty_cache(b, batch, total, dtype) for b in blocks]
    else:
        forward = jit_per_model(
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
    embedding = _layer(model, T5_EMBEDDING)
    mask = _layer(model, T5_ENCODER_PADDING_MASK)(ops.convert_to_tensor(enc))
    x = embedding.embed(ops.convert_to_tensor(enc))
    bias = _layer(model, T5_ENCODER_POSITION_BIAS)(x)
    for block in _blocks(model, T5_ENCODER_BLOCK_PREFIX):
        x = block(x, padding_mask=mask, position_bias=bias, training=False)
    return _layer(model, T5_ENCODER_FINAL_NORM)(x), mask


def _t5_step(model):
    """Returns the cached decoder step of a T5 model (one token per call)."""
    embedding = _layer(model, T5_EMBEDDING)
    head = _layer(model, T5_HEAD)
    blocks = _blocks(model, T5_DECODER_BLOCK_PREFIX)
    bias_layer = _layer(model, T5_DECODER_POSITION_BIAS)
    final_norm = _layer(model, T5_DECODER_FINAL_NORM)

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
