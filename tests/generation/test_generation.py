"""Tests of autoregressive generation (kerasdl/generation/transformer.py, sampling.py)."""

import keras
import numpy as np
import pytest

from kerasdl.generation import (
    filter_logits,
    generate,
    sample_logits,
    t5_generate,
)
from kerasdl.models.transformer import gpt, t5

TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}
PROMPT = np.array([[1, 2, 3], [4, 5, 6]], "int32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return gpt(vocabulary_size=40, max_sequence_length=16, **TINY)


# ---------------------------------------------------------- cache vs no cache
@pytest.mark.parametrize("encoding", ["learned", "rotary"])
def test_cached_and_uncached_greedy_generation_agree(encoding):
    keras.utils.set_random_seed(0)
    model = gpt(
        vocabulary_size=40, max_sequence_length=16, position_encoding=encoding, **TINY
    )
    cached = generate(model, PROMPT, max_new_tokens=6)
    uncached = generate(model, PROMPT, max_new_tokens=6, use_cache=False)
    assert cached.shape == (2, 9)
    np.testing.assert_array_equal(cached[:, :3], PROMPT)
    np.testing.assert_array_equal(cached, uncached)
    # Greedy: each new token is the argmax of the full model's logits.
    logits = _np(model(cached[:, :-1]))
    np.testing.assert_array_equal(cached[:, 3:], logits[:, 2:].argmax(-1))


def test_cached_and_uncached_sampling_agree_with_a_seed(model):
    kw = dict(max_new_tokens=5, strategy="sample", top_k=10, top_p=0.9, seed=7)
    a = generate(model, PROMPT, **kw)
    np.testing.assert_array_equal(a, generate(model, PROMPT, use_cache=False, **kw))
    np.testing.assert_array_equal(a, generate(model, PROMPT, **kw))  # reproducible


def test_cached_step_feeds_one_token(model, monkeypatch):
    from kerasdl.generation import transformer as generation

    lengths = []
    step = generation._gpt_step

    def spy(parts, tokens, caches, index):
        lengths.append(tokens.shape[1])
        return step(parts, tokens, caches, index)

    monkeypatch.setattr(generation, "_gpt_step", spy)
    generate(model, PROMPT, max_new_tokens=4)
    # The prompt once, then one token per step (compiled backends trace the
    # single-token step once and reuse it).
    assert lengths[0] == 3 and len(lengths) >= 2 and set(lengths[1:]) == {1}


# ------------------------------------------------------------------ sampling
def test_top_k_never_leaves_the_k_most_likely_tokens():
    logits = np.log(np.array([0.02, 0.3, 0.05, 0.25, 0.08, 0.2, 0.1], "float32"))
    rows = np.repeat(logits[None], 2000, axis=0)
    seed = keras.random.SeedGenerator(3)
    tokens = _np(sample_logits(rows, "sample", top_k=3, seed_generator=seed))
    assert set(tokens.tolist()) == {1, 3, 5}  # the three largest, all reached
    kept = _np(filter_logits(logits[None], top_k=3))[0]
    assert (kept > -1e8).nonzero()[0].tolist() == [1, 3, 5]


@pytest.mark.parametrize(
    "top_p, nucleus", [(0.45, [0]), (0.75, [0, 1]), (0.85, [0, 1, 2]), (1.0, None)]
)
def test_top_p_samples_the_nucleus_in_proportion(top_p, nucleus):
    probs = np.array([0.5, 0.3, 0.1, 0.06, 0.04], "float32")
    rows = np.repeat(np.log(probs)[None], 4000, axis=0)
    seed = keras.random.SeedGenerator(5)
    tokens = _np(sample_logits(rows, "sample", top_p=top_p, seed_generator=seed))
    nucleus = list(range(5)) if nucleus is None else nucleus
    assert set(tokens.tolist()) == set(nucleus)
    freq = np.bincount(tokens, minlength=5)[nucleus] / len(tokens)
    expected = probs[nucleus] / probs[nucleus].sum()
    np.testing.assert_allclose(freq, expected, atol=0.03)


def test_temperature_towards_zero_equals_greedy(model):
    greedy = generate(model, PROMPT, max_new_tokens=5)
    cold = generate(
        model, PROMPT, max_new_tokens=5, strategy="sample", temperature=1e-4, seed=1
    )
    np.testing.assert_array_equal(cold, greedy)
    zero = generate(model, PROMPT, max_new_tokens=5, strategy="sample", temperature=0)
    np.testing.assert_array_equal(zero, greedy)
    hot = generate(
        model, PROMPT, max_new_tokens=5, strategy="sample", temperature=50.0, seed=1
    )
    assert not np.array_equal(hot, greedy)


def test_end_token_stops_generation():
    logits = np.full((1, 5), -5.0, "float32")
    logits[0, 2] = 5.0
    assert _np(sample_logits(logits)).tolist() == [2]
    keras.utils.set_random_seed(0)
    model = gpt(vocabulary_size=40, max_sequence_length=16, **TINY)
    free = generate(model, PROMPT[:1], max_new_tokens=6)
    end = int(free[0, 4])  # the second generated token
    stopped = generate(model, PROMPT[:1], max_new_tokens=6, end_token_id=end)
    first = 3 + int(np.argmax(free[0, 3:] == end))
    np.testing.assert_array_equal(stopped[0], free[0, : first + 1])


def test_generate_rejects_bad_arguments(model):
    with pytest.raises(ValueError, match="max_sequence_length=16"):
        generate(model, PROMPT, max_new_tokens=20)
    with pytest.raises(ValueError, match="strategy='beam'"):
        generate(model, PROMPT, max_new_tokens=2, strategy="beam")
    with pytest.raises(ValueError, match="top_k=0"):
        generate(model, PROMPT, max_new_tokens=2, strategy="sample", top_k=0)
    with pytest.raises(ValueError, match="top_p=1.5"):
        filter_logits(np.zeros((1, 3), "float32"), top_p=1.5)
    with pytest.raises(ValueError, match="has no layer 'token_embedding'"):
        generate(keras.Sequential([keras.layers.Dense(2)]), PROMPT, 2)


# ------------------------------------------------------------------------ T5
def test_t5_greedy_decoding_cached_equals_uncached():
    keras.utils.set_random_seed(0)
    model = t5(vocabulary_size=30, **TINY)
    enc = np.array([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]], "int32")
    cached = t5_generate(model, enc, max_new_tokens=5)
    assert cached.shape == (2, 6) and (cached[:, 0] == 0).all()
    np.testing.assert_array_equal(
        cached, t5_generate(model, enc, max_new_tokens=5, use_cache=False)
    )
    logits = _np(model([enc, cached[:, :-1]]))
    np.testing.assert_array_equal(cached[:, 1:], logits.argmax(-1))
