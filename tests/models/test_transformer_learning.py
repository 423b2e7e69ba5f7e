"""Slow: a small GPT learns real text and generates from it.

Corpus: the Python reference documentation shipped with Python
(`kerasdl.data.text.load_corpus("python_docs")`), character level, the
last 10% held out. The model must beat the validation perplexity of the
unigram (character frequency) baseline by a wide margin, and sampling from
it must give decodable, text-like characters.
"""

import math
import time

import keras
import numpy as np
import pytest

from kerasdl.data.text import lm_dataset, load_corpus
from kerasdl.generation import generate
from kerasdl.models.transformer import gpt

pytestmark = pytest.mark.slow

SEQ_LEN = 64


def _unigram_perplexity(data):
    counts = np.bincount(data.y_train.ravel(), minlength=data.vocabulary_size)
    probs = (counts + 1) / (counts.sum() + data.vocabulary_size)  # add-one
    return math.exp(-np.mean(np.log(probs[data.y_val.ravel()])))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    data = lm_dataset(load_corpus("python_docs"), "char", seq_len=SEQ_LEN)
    model = gpt(
        vocabulary_size=data.vocabulary_size,
        max_sequence_length=SEQ_LEN + 64,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=256,
        dropout=0.0,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(3e-3, weight_decay=0.01, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    model.fit(*data.train, batch_size=64, epochs=2, verbose=0)
    seconds = time.perf_counter() - start
    val_loss = model.evaluate(*data.val, batch_size=256, verbose=0)
    return data, model, math.exp(val_loss), seconds


def test_small_gpt_beats_the_unigram_perplexity(trained):
    data, _, perplexity, seconds = trained
    unigram = _unigram_perplexity(data)
    print(
        f"char-level validation perplexity: GPT {perplexity:.2f}, unigram "
        f"{unigram:.2f} (vocabulary {data.vocabulary_size}, {len(data.x_train)} "
        f"training windows, {seconds:.0f} s training)"
    )
    assert unigram > 15.0  # English text: ~4.5 bits per character alone
    assert perplexity < 0.4 * unigram


def test_small_gpt_generates_text(trained):
    data, model, _, _ = trained
    prompt = np.array([data.encode("The ")], "int32")
    tokens = generate(
        model, prompt, max_new_tokens=100, strategy="sample", top_k=10, seed=0
    )
    text = data.decode(tokens[0, prompt.shape[1] :])
    print(f"sample: {text!r}")
    assert isinstance(text, str) and len(text) >= 50
    # Text-like: mostly letters and spaces, several distinct words.
    share = sum(c.isalpha() or c.isspace() for c in text) / len(text)
    assert share > 0.7, text
    assert len(set(text.split())) >= 5, text


def test_gpt_learns_to_continue_a_repeating_sequence():
    # Next-token prediction of "0 1 2 ... 7 0 1 ...": loss falls a lot.
    model = gpt(
        vocabulary_size=8,
        max_sequence_length=16,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        dropout=0.0,
    )
    seq = np.arange(17)[None] % 8 + np.arange(32)[:, None] % 8
    seq = (seq % 8).astype("int32")
    x, y = seq[:, :-1], seq[:, 1:]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
