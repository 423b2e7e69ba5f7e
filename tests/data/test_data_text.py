"""Text data: corpora, tokenizers, LM windows, padding/masks, IMDB, seq2seq tasks."""

import collections
import datetime
import itertools
import json

import numpy as np
import pytest
import regex

from kerasdl.data import tasks, text

SMALL = (
    "the cat sat on the mat. the cat ate the rat.\na bat sat on a hat; the rat ran.\n"
) * 20


@pytest.fixture(scope="module")
def docs():
    return text.load_corpus("python_docs")


# ---------------------------------------------------------------- corpora
def test_python_docs_corpus_is_real_and_stable(docs):
    assert len(docs) > 300_000
    assert 'The "if" statement' in docs and "while_stmt" in docs
    assert text.load_corpus("python_docs", max_chars=100) == docs[:100]
    assert "python_docs" in text.list_corpora()
    source = text.load_corpus("python_source")
    assert "def dedent(" in source and len(source) > 50_000


def test_load_corpus_errors():
    with pytest.raises(ValueError, match="python_dcs.*Did you mean 'python_docs'"):
        text.load_corpus("python_dcs")
    with pytest.raises(ValueError, match="max_chars=0"):
        text.load_corpus("python_docs", max_chars=0)


# ---------------------------------------------------------------- LM windows
def test_char_lm_windows_are_shifted_by_one_and_split_without_overlap(docs):
    corpus = docs[:20_000]
    data = text.lm_dataset(corpus, "char", seq_len=32, val_fraction=0.1)
    assert data.x_train.shape[1] == data.y_train.shape[1] == 32
    assert data.x_train.dtype == np.int32
    np.testing.assert_array_equal(data.x_train[:, 1:], data.y_train[:, :-1])
    # stride == seq_len: consecutive windows tile the token stream.
    np.testing.assert_array_equal(data.y_train[:-1, -1], data.x_train[1:, 0])
    assert data.decode(data.x_train[0]) == corpus[:32]
    assert data.decode(data.y_train[0]) == corpus[1:33]
    # Validation windows come from the end of the text.
    val_text = data.decode(data.x_val[0])
    assert corpus.find(val_text) >= int(0.85 * len(corpus))
    assert len(data.x_val) >= 0.08 * 20_000 / 33
    assert data.vocabulary_size == data.tokenizer.vocabulary_size
    assert data.train[0] is data.x_train and data.val[1] is data.y_val


def test_lm_dataset_stride_word_level_and_errors():
    data = text.lm_dataset(SMALL, "word", seq_len=5, stride=2, val_fraction=0.0)
    np.testing.assert_array_equal(data.x_train[1, :3], data.x_train[0, 2:])
    assert len(data.x_val) == 0
    assert data.decode(data.x_train[0]) == "the cat sat on the"
    short = text.lm_dataset(SMALL, "char", seq_len=8, max_windows=3)
    assert len(short.x_train) == 3
    with pytest.raises(ValueError, match="seq_len=0"):
        text.lm_dataset(SMALL, "char", seq_len=0)
    with pytest.raises(ValueError, match="val_fraction=1.0"):
        text.lm_dataset(SMALL, "char", val_fraction=1.0)
    with pytest.raises(ValueError, match="too few"):
        text.lm_dataset("abc", "char", seq_len=8)
    with pytest.raises(ValueError, match="tokenizer='chars'.*Did you mean 'char'"):
        text.lm_dataset(SMALL, "chars")


# ---------------------------------------------------------------- tokenizers
def test_char_and_word_tokenizers():
    tok = text.CharTokenizer.fit("hello")
    assert tok.vocabulary[:3] == ["[PAD]", "[UNK]", "l"]  # most frequent first
    assert tok.decode(tok.encode("hole")) == "hole"
    assert tok.encode("z") == [1]
    words = text.WordTokenizer.fit(SMALL, max_tokens=6)
    assert words.vocabulary_size == 6
    assert words.vocabulary[2] == "the"
    assert words.encode("The zebra") == [2, 1]
    clone = text.WordTokenizer.from_config(json.loads(json.dumps(words.get_config())))
    assert clone.encode(SMALL[:40]) == words.encode(SMALL[:40])


def _pair_counts(corpus):
    counts = collections.Counter()
    for piece, n in collections.Counter(regex.findall(text._BPE_SPLIT, corpus)).items():
        symbols = list(piece.encode("utf-8"))
        for pair in itertools.pairwise(symbols):
            counts[pair] += n
    return counts


def test_bpe_merges_follow_pair_frequencies_and_round_trip(docs):
    corpus = docs[:20_000]
    vocabulary, merges = text.learn_bpe_merges(corpus, num_merges=30)
    byte_map = text._byte_to_unicode()
    (a, b), count = max(_pair_counts(corpus).items(), key=lambda kv: (kv[1], kv))
    assert merges[0] == f"{byte_map[a]} {byte_map[b]}"
    assert count >= 2 and len(merges) == 30
    assert vocabulary["<|pad|>"] == 0 and len(vocabulary) == 257 + 30
    assert all(" ".join(m.split(" ")) == m for m in merges)

    # A repetitive text runs out of pairs to merge before the budget.
    assert len(text.learn_bpe_merges(SMALL, num_merges=100)[1]) < 100
    tok = text.train_bpe(corpus, vocabulary_size=300)
    sample = "the rat sat on a cat.\n  Ünïcode too!"
    ids = text.encode(tok, sample)
    assert text.decode(tok, ids) == sample  # byte-level: exact
    # Merges compress, and more merges compress more.
    short = len(text.encode(tok, corpus[:1000]))
    larger = text.train_bpe(corpus, vocabulary_size=500)
    assert short < 0.75 * 1000
    assert len(text.encode(larger, corpus[:1000])) < 0.8 * short
    with pytest.raises(ValueError, match="vocabulary_size=100"):
        text.train_bpe(SMALL, vocabulary_size=100)


def test_wordpiece_tokenizer_from_keras_hub():
    tok = text.train_wordpiece(SMALL, vocabulary_size=60)
    vocabulary = tok.get_vocabulary()
    assert vocabulary[:2] == ["[PAD]", "[UNK]"] and len(vocabulary) <= 60
    ids = text.encode(tok, "the cat sat on the mat.")
    assert 1 not in ids
    assert text.decode(tok, ids) == "the cat sat on the mat ."
    assert text.encode(tok, "€") == [1]


def test_subword_lm_dataset_decodes_back_to_the_text(docs):
    corpus = docs[:10_000]
    data = text.lm_dataset(corpus, "bpe", seq_len=8, vocabulary_size=290)
    assert data.vocabulary_size == 290
    np.testing.assert_array_equal(data.x_train[:, 1:], data.y_train[:, :-1])
    assert corpus.startswith(data.decode(data.x_train[0]))


def test_text_vectorization_helper():
    layer = text.text_vectorization(
        ["the cat sat", "the dog"], max_tokens=10, output_sequence_length=4
    )
    vocabulary = layer.get_vocabulary()
    assert vocabulary[:3] == ["", "[UNK]", "the"]
    out = np.asarray(layer(["the bird sat"]))
    assert out.shape == (1, 4)
    assert out[0].tolist() == [2, 1, vocabulary.index("sat"), 0]


def test_padding_and_masks():
    padded = text.pad_sequences([[5, 6, 7], [8]], maxlen=4)
    np.testing.assert_array_equal(padded, [[5, 6, 7, 0], [8, 0, 0, 0]])
    np.testing.assert_array_equal(text.padding_mask(padded)[1], [1, 0, 0, 0])
    np.testing.assert_array_equal(
        text.pad_sequences([[1, 2, 3]], maxlen=2, truncating="pre"), [[2, 3]]
    )
    mask = text.causal_mask(3)
    assert mask.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    with pytest.raises(ValueError, match="padding='middle'"):
        text.pad_sequences([[1]], padding="middle")


# ---------------------------------------------------------------- IMDB
def test_imdb_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(text.DatasetNotFoundError, match="imdb.npz"):
        text.load_imdb(data_dir=tmp_path)


def test_imdb_from_the_local_cache_decodes_to_text(tmp_path):
    x = np.empty(2, dtype=object)
    x[:] = [[1, 2], [2, 3, 9]]
    np.savez(tmp_path / "imdb.npz", x_train=x, y_train=[0, 1], x_test=x, y_test=[1, 0])
    (tmp_path / "imdb_word_index.json").write_text(
        json.dumps({"great": 1, "film": 2, "bad": 3})
    )
    (x_train, y_train), (x_test, _) = text.load_imdb(
        num_words=None, as_text=True, data_dir=tmp_path
    )
    assert x_train == ["great film", "film bad [UNK]"]
    assert y_train.tolist() == [0, 1] and len(x_test) == 2
    (ids, _), _ = text.load_imdb(num_words=None, data_dir=tmp_path)
    assert ids[0] == [1, 4, 5]  # start, then rank + 3


# ---------------------------------------------------------------- tasks
def test_date_task_targets_are_the_dates_written_in_the_sources():
    data = tasks.date_task(300, seed=3)
    assert data.source.shape == (300, tasks.DATE_SOURCE_LENGTH)
    assert data.target.shape == (300, 11) and data.decoder_input.shape == (300, 11)
    np.testing.assert_array_equal(data.decoder_input[:, 0], tasks.START_ID)
    np.testing.assert_array_equal(data.decoder_input[:, 1:], data.target[:, :-1])
    np.testing.assert_array_equal(data.target[:, -1], tasks.END_ID)
    assert data.sample_weight.sum() == 300 * 11
    seen_formats = set()
    for source, target in zip(data.source_texts, data.target_texts):
        date = datetime.date.fromisoformat(target)
        matches = [
            f for f in tasks.DATE_FORMATS if tasks.format_date(date, f) == source
        ]
        assert matches, (source, target)
        seen_formats.update(matches)
    assert len(seen_formats) >= 10
    for i in range(5):
        assert data.decode_target(data.target[i]) == data.target_texts[i]
        assert "".join(data.source_tokens(i)) == data.source_texts[i]
    assert tasks.date_task(300, seed=3).source_texts == data.source_texts
    assert tasks.date_task(300, seed=4).source_texts != data.source_texts


def test_date_splits_are_disjoint_and_share_vocabularies():
    train, test = tasks.date_splits(500, 100, seed=0)
    assert not set(train.source_texts) & set(test.source_texts)
    assert train.source_vocabulary == test.source_vocabulary
    assert train.source.shape[1] == test.source.shape[1]
    np.testing.assert_array_equal(
        test.encode_source(test.source_texts[:3]), test.source[:3]
    )
    with pytest.raises(ValueError, match="years"):
        tasks.date_task(5, years=(2000, 1990))


def test_copy_and_reverse_tasks():
    copy = tasks.copy_task(50, 2, 6, num_symbols=4, seed=1)
    rev = tasks.copy_task(50, 2, 6, num_symbols=4, reverse=True, seed=1)
    assert copy.source_texts == rev.source_texts
    assert rev.target_texts == [s[::-1] for s in rev.source_texts]
    assert copy.target_texts == copy.source_texts
    assert set("".join(copy.source_texts)) <= set("abcd")
    lengths = (copy.source != 0).sum(1)
    assert lengths.min() >= 2 and lengths.max() <= 6
    np.testing.assert_array_equal(copy.sample_weight.sum(1), lengths + 1)
    sub = copy.subset([3, 1])
    assert sub.source_texts == [copy.source_texts[3], copy.source_texts[1]]
    with pytest.raises(ValueError, match="num_symbols=30"):
        tasks.copy_task(5, num_symbols=30)
