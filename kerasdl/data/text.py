"""Text data, offline: corpora, tokenizers, padding/masking, language-model windows.

- Corpora that ship with Python itself, so they are always there:
  `load_corpus("python_docs")` is the Python reference documentation
  (`pydoc_data.topics`, about 465,000 characters of English prose and code);
  `load_corpus("python_source")` is the source of a fixed set of standard
  library modules.
- Tokenizers with one interface (`encode(str) -> list[int]`,
  `decode(ids) -> str`, `vocabulary_size`; id 0 always pads):
  `CharTokenizer`, `WordTokenizer`, and keras-hub's `WordPieceTokenizer`
  (vocabulary from `keras_hub.tokenizers.compute_word_piece_vocabulary`) and
  `BytePairTokenizer` (merges learned on the local corpus by `train_bpe`,
  since keras-hub has no BPE trainer). `make_tokenizer(kind, text)` builds
  any of them; `encode`/`decode` accept all of them.
- `text_vectorization`: an adapted `keras.layers.TextVectorization`.
- `pad_sequences`, `padding_mask`, `causal_mask`: padding and masks.
- `lm_dataset(text, tokenizer, seq_len)`: next-token windows (x, y shifted
  by one) with a train/validation split.
- `load_imdb`: IMDB reviews from the local Keras cache (through
  `kerasdl.data.keras_cache`), optionally decoded back to text.

Example:
>>> from kerasdl.data import text
>>> data = text.lm_dataset(text.load_corpus("python_docs"), "char", seq_len=64)
>>> data.x_train.shape, data.vocabulary_size
((6539, 64), 105)
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kerasdl._checks import check_int, check_rate
from kerasdl.data import keras_cache
from kerasdl.data.keras_cache import DatasetNotFoundError

__all__ = [
    "CharTokenizer",
    "DatasetNotFoundError",
    "LMDataset",
    "WordTokenizer",
    "causal_mask",
    "decode",
    "encode",
    "list_corpora",
    "lm_dataset",
    "load_corpus",
    "load_imdb",
    "make_tokenizer",
    "pad_sequences",
    "padding_mask",
    "text_vectorization",
    "train_bpe",
    "train_wordpiece",
]

logger = logging.getLogger(__name__)

PAD, UNK = "[PAD]", "[UNK]"
TOKENIZER_KINDS = ("char", "word", "wordpiece", "bpe")


# ---------------------------------------------------------------- corpora
def _python_docs() -> str:
    from pydoc_data import topics

    # Sorted by topic name so the text is the same on every run.
    return "\n\n".join(topics.topics[key].strip() for key in sorted(topics.topics))


# Pure-Python standard-library modules: prose-heavy docstrings and ordinary code.
_SOURCE_MODULES = (
    "textwrap", "string", "fractions", "heapq", "bisect", "shlex",
    "difflib", "calendar", "statistics", "dataclasses", "functools",
    "argparse",
)  # fmt: skip


def _python_source() -> str:
    parts = []
    for module in _SOURCE_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        parts.append(Path(spec.origin).read_text(encoding="utf-8"))
    if not parts:
        raise DatasetNotFoundError(
            "Corpus 'python_source' needs the standard library's .py files "
            f"({', '.join(_SOURCE_MODULES)}); none was found in this Python."
        )
    return "\n\n".join(parts)


_CORPORA: dict[str, Callable[[], str]] = {
    "python_docs": _python_docs,
    "python_source": _python_source,
}


def list_corpora() -> list[str]:
    """Names accepted by `load_corpus`, sorted."""
    return sorted(_CORPORA)


def load_corpus(name: str = "python_docs", max_chars: int | None = None) -> str:
    """Returns a real English/code text corpus that is available offline.

    Args:
        name: str. "python_docs": the Python reference documentation shipped
            with Python (`pydoc_data.topics`, topics sorted by name, joined by
            blank lines; about 465,000 characters). "python_source": the
            source code of a fixed list of standard-library modules.
        max_chars: int or None. Keep only the first `max_chars` characters.

    Returns:
        str: the corpus text, identical on every call.

    Raises:
        ValueError: for an unknown name or an invalid `max_chars`.

    Example:
    >>> text = load_corpus("python_docs")
    >>> text[:22]
    'The "assert" statement'
    """
    if name not in _CORPORA:
        from kerasdl._checks import closest

        raise ValueError(
            f"Unknown corpus name={name!r}.{closest(name, _CORPORA)} "
            f"Known: {', '.join(list_corpora())}."
        )
    if max_chars is not None and (
        isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1
    ):
        raise ValueError(
            f"Invalid max_chars={max_chars!r}: expected None or an integer >= 1."
        )
    text = _CORPORA[name]()
    return text if max_chars is None else text[:max_chars]


# ---------------------------------------------------------------- tokenizers
class _VocabTokenizer:
    """Shared part of the char and word tokenizers: a token <-> id table.

    Id 0 is the padding token "[PAD]", id 1 the out-of-vocabulary "[UNK]";
    the other tokens follow by decreasing frequency (ties by first sight).
    """

    def __init__(self, vocabulary: Sequence[str]):
        vocabulary = list(vocabulary)
        if vocabulary[:2] != [PAD, UNK]:
            vocabulary = [PAD, UNK] + [t for t in vocabulary if t not in (PAD, UNK)]
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("The vocabulary has repeated tokens.")
        self.vocabulary = vocabulary
        self._ids = {token: i for i, token in enumerate(vocabulary)}

    @property
    def vocabulary_size(self) -> int:
        """int: number of ids, padding and [UNK] included."""
        return len(self.vocabulary)

    @property
    def pad_id(self) -> int:
        """int: the padding id, 0."""
        return 0

    @staticmethod
    def _ranked(tokens, max_tokens: int | None) -> list[str]:
        counts = collections.Counter(tokens)
        # Counter.most_common keeps first-insertion order among ties.
        ranked = [token for token, _ in counts.most_common()]
        if max_tokens is not None:
            ranked = ranked[: max(max_tokens - 2, 0)]
        return ranked

    def split(self, text: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Maps a string to ids; unknown tokens become 1 ([UNK])."""
        return [self._ids.get(token, 1) for token in self.split(text)]

    def get_config(self) -> dict:
        """JSON-serializable config; `from_config` rebuilds the tokenizer."""
        return {"vocabulary": list(self.vocabulary)}

    @classmethod
    def from_config(cls, config: dict):
        """Rebuilds a tokenizer from `get_config()`."""
        return cls(**config)


class CharTokenizer(_VocabTokenizer):
    """Character-level tokenizer: one id per character.

    Args:
        vocabulary: list of str. Characters; "[PAD]" (id 0) and "[UNK]" (id 1)
            are put first when absent.

    Example:
    >>> tok = CharTokenizer.fit("hello")
    >>> tok.encode("hole"), tok.decode(tok.encode("hole"))
    ([4, 3, 2, 5], 'hole')
    """

    @classmethod
    def fit(cls, text: str, max_tokens: int | None = None) -> CharTokenizer:
        """Builds the vocabulary of `text`'s characters, most frequent first.

        Args:
            text: str. Training text.
            max_tokens: int or None. Largest vocabulary size (with [PAD], [UNK]).
        """
        return cls(cls._ranked(text, max_tokens))

    def split(self, text: str) -> list[str]:
        """Splits `text` into characters."""
        return list(text)

    def decode(self, ids) -> str:
        """Maps ids back to text; padding ids are dropped."""
        return "".join(
            self.vocabulary[i] if i != 1 else "?"
            for i in np.asarray(ids).reshape(-1).tolist()
            if i != 0
        )


_WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


class WordTokenizer(_VocabTokenizer):
    """Word-level tokenizer: words and single punctuation marks are tokens.

    Args:
        vocabulary: list of str. Tokens; "[PAD]" (id 0) and "[UNK]" (id 1) are
            put first when absent.
        lowercase: bool. Lowercase text before splitting.

    Example:
    >>> tok = WordTokenizer.fit("The cat. The dog.")
    >>> tok.decode(tok.encode("the dog."))
    'the dog .'
    """

    def __init__(self, vocabulary: Sequence[str], lowercase: bool = True):
        super().__init__(vocabulary)
        self.lowercase = bool(lowercase)

    @classmethod
    def fit(
        cls, text: str, max_tokens: int | None = None, lowercase: bool = True
    ) -> WordTokenizer:
        """Builds the vocabulary of `text`'s words, most frequent first.

        Args:
            text: str. Training text.
            max_tokens: int or None. Largest vocabulary size (with [PAD], [UNK]).
            lowercase: bool. Lowercase before splitting.
        """
        tokens = _WORD_PATTERN.findall(text.lower() if lowercase else text)
        return cls(cls._ranked(tokens, max_tokens), lowercase=lowercase)

    def split(self, text: str) -> list[str]:
        """Splits `text` into words and punctuation marks."""
        return _WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def decode(self, ids) -> str:
        """Maps ids back to space-separated tokens; padding ids are dropped."""
        return " ".join(
            self.vocabulary[i] for i in np.asarray(ids).reshape(-1).tolist() if i != 0
        )

    def get_config(self) -> dict:
        """JSON-serializable config; `from_config` rebuilds the tokenizer."""
        return {"vocabulary": list(self.vocabulary), "lowercase": self.lowercase}


def train_wordpiece(
    text: str | Sequence[str],
    vocabulary_size: int = 1000,
    lowercase: bool = False,
    reserved_tokens: Sequence[str] = (PAD, UNK),
):
    """Learns a WordPiece vocabulary with keras-hub and returns its tokenizer.

    Uses `keras_hub.tokenizers.compute_word_piece_vocabulary` (splits on
    whitespace and punctuation; sub-word continuations are prefixed "##").
    The first reserved token ("[PAD]") gets id 0.

    Args:
        text: str or list of str. Training text (a str is split into lines).
        vocabulary_size: int. Largest vocabulary size, reserved tokens included.
        lowercase: bool. Lowercase the text first.
        reserved_tokens: list of str. Tokens placed first in the vocabulary;
            must contain "[UNK]" (used for unknown words).

    Returns:
        `keras_hub.tokenizers.WordPieceTokenizer`.
    """
    import keras_hub
    import tensorflow as tf

    if UNK not in reserved_tokens:
        raise ValueError(
            f"Invalid reserved_tokens={list(reserved_tokens)!r}: must contain {UNK!r}."
        )
    lines = _lines(text)
    data = tf.data.Dataset.from_tensor_slices(lines).batch(1024)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        data,
        vocabulary_size,
        lowercase=lowercase,
        reserved_tokens=list(reserved_tokens),
    )
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, oov_token=UNK
    )


# The GPT-2 pre-tokenization pattern, which keras-hub's BytePairTokenizer
# reproduces with TensorFlow ops: contractions, words with their leading
# space, numbers, punctuation runs, whitespace.
_BPE_SPLIT = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map of the 256 bytes onto printable characters."""
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    byte_list, unicode_list = bytes_to_unicode()
    return {b[0]: u for b, u in zip(byte_list, unicode_list)}


def learn_bpe_merges(
    text: str, num_merges: int, min_frequency: int = 2
) -> tuple[dict[str, int], list[str]]:
    """Learns byte-level BPE merges (Sennrich et al. 2016; GPT-2 byte mapping).

    The text is pre-split like GPT-2 (words keep their leading space), each
    piece is written as bytes mapped to printable characters, and the most
    frequent adjacent pair of symbols is merged repeatedly. Pair counts are
    updated incrementally, only for the words that contain the merged pair.

    Args:
        text: str. Training text.
        num_merges: int. Largest number of merge rules to learn.
        min_frequency: int. Stop when the best pair occurs fewer times.

    Returns:
        (vocabulary, merges): vocabulary maps "<|pad|>" to 0, the 256 byte
        symbols to 1..256, then each merged symbol in merge order; merges is
        the list of "a b" rules, in the format `BytePairTokenizer` reads.
    """
    import regex

    byte_map = _byte_to_unicode()
    counts = collections.Counter(regex.findall(_BPE_SPLIT, text))
    words = [
        [byte_map[b] for b in piece.encode("utf-8")] for piece in counts
    ]  # symbols of each distinct piece
    freqs = list(counts.values())
    pair_counts: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for index, (symbols, freq) in enumerate(zip(words, freqs)):
        for pair in itertools.pairwise(symbols):
            pair_counts[pair] += freq
            where[pair].add(index)

    vocabulary = {"<|pad|>": 0}
    for symbol in sorted(byte_map.values(), key=lambda s: ord(s)):
        vocabulary[symbol] = len(vocabulary)
    merges = []
    for _ in range(num_merges):
        if not pair_counts:
            break
        # Highest count first; ties broken by the pair itself (deterministic).
        best, best_count = max(pair_counts.items(), key=lambda kv: (kv[1], kv[0]))
        if best_count < min_frequency:
            break
        a, b = best
        merged = a + b
        merges.append(f"{a} {b}")
        vocabulary.setdefault(merged, len(vocabulary))
        for index in list(where.pop(best, ())):
            symbols, freq = words[index], freqs[index]
            for pair in itertools.pairwise(symbols):
                pair_counts[pair] -= freq
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            new, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    new.append(merged)
                    i += 2
                else:
                    new.append(symbols[i])
                    i += 1
            words[index] = new
            for pair in itertools.pairwise(new):
                pair_counts[pair] += freq
                where[pair].add(index)
        pair_counts.pop(best, None)
    return vocabulary, merges


def train_bpe(text: str, vocabulary_size: int = 1000, min_frequency: int = 2):
    """Learns byte-level BPE merges on `text`; returns keras-hub's tokenizer.

    Args:
        text: str. Training text.
        vocabulary_size: int. Largest vocabulary size: 257 (padding + 256
            bytes) plus the number of merges; must be > 257.
        min_frequency: int. Stop merging when the best pair is rarer.

    Returns:
        `keras_hub.tokenizers.BytePairTokenizer` with the learned vocabulary
        and merges; any text encodes (every byte has an id) and decodes back
        exactly. Id 0 is "<|pad|>".
    """
    import keras_hub

    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int):
        raise ValueError(
            f"Invalid vocabulary_size={vocabulary_size!r}: expected an int > 257."
        )
    if vocabulary_size <= 257:
        raise ValueError(
            f"Invalid vocabulary_size={vocabulary_size!r}: byte-level BPE needs "
            "257 ids for padding and the 256 bytes; expected an int > 257."
        )
    vocabulary, merges = learn_bpe_merges(text, vocabulary_size - 257, min_frequency)
    return keras_hub.tokenizers.BytePairTokenizer(vocabulary=vocabulary, merges=merges)


def make_tokenizer(
    kind: str, text: str, vocabulary_size: int | None = None, lowercase=None
):
    """Builds and fits a tokenizer of a given kind on `text`.

    Args:
        kind: str. "char", "word", "wordpiece" or "bpe".
        text: str. Training text.
        vocabulary_size: int or None. Largest vocabulary (None: every char or
            word; 1000 for "wordpiece" and "bpe").
        lowercase: bool or None. Lowercase first (default: True for "word",
            False otherwise; not used by "bpe", which is byte-exact).

    Returns:
        A `CharTokenizer`, `WordTokenizer`, or keras-hub `WordPieceTokenizer` /
        `BytePairTokenizer`. `encode`/`decode` of this module accept each.
    """
    if kind not in TOKENIZER_KINDS:
        from kerasdl._checks import closest

        raise ValueError(
            f"Unknown tokenizer={kind!r}.{closest(str(kind), TOKENIZER_KINDS)} "
            f"Accepted: {', '.join(TOKENIZER_KINDS)}, or a tokenizer object with "
            "encode/decode or tokenize/detokenize."
        )
    if kind == "char":
        return CharTokenizer.fit(text, max_tokens=vocabulary_size)
    if kind == "word":
        return WordTokenizer.fit(
            text,
            max_tokens=vocabulary_size,
            lowercase=True if lowercase is None else lowercase,
        )
    if kind == "wordpiece":
        return train_wordpiece(text, vocabulary_size or 1000, lowercase=bool(lowercase))
    return train_bpe(text, vocabulary_size or 1000)


def _lines(text) -> list[str]:
    if isinstance(text, str):
        # keepends: byte-level BPE encodes the newlines too.
        lines = text.splitlines(keepends=True)
    else:
        lines = [str(t) for t in text]
    return [line for line in lines if line] or [""]


def _vocabulary_size(tokenizer) -> int:
    if hasattr(tokenizer, "vocabulary_size") and not callable(
        tokenizer.vocabulary_size
    ):
        return int(tokenizer.vocabulary_size)
    return int(tokenizer.vocabulary_size())


def encode(tokenizer, text: str) -> list[int]:
    """Encodes text with any supported tokenizer to a flat list of ids.

    Args:
        tokenizer: a `CharTokenizer`/`WordTokenizer` (or any object with
            `encode`), or a keras-hub tokenizer (`tokenize`).
        text: str.

    Returns:
        list of int.
    """
    if hasattr(tokenizer, "encode"):
        return list(tokenizer.encode(text))
    # keras-hub tokenizers run on TensorFlow tensors; a batch of lines keeps
    # each call small. Results come back ragged and are flattened in order.
    ids: list[int] = []
    lines = _lines(text)
    for start in range(0, len(lines), 2048):
        out = tokenizer.tokenize(lines[start : start + 2048])
        if hasattr(out, "to_list"):
            out = out.to_list()
        for row in out:
            ids.extend(int(i) for i in np.asarray(row).reshape(-1))
    return ids


def decode(tokenizer, ids) -> str:
    """Decodes ids with any supported tokenizer (see `encode`)."""
    if hasattr(tokenizer, "decode"):
        return tokenizer.decode(ids)
    ids = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) != 0]
    out = tokenizer.detokenize([ids])
    out = np.asarray(out).reshape(-1)[0]
    return out.decode("utf-8") if isinstance(out, bytes) else str(out)


# ---------------------------------------------------------------- LM windows
@dataclasses.dataclass(frozen=True, eq=False)
class LMDataset:
    """Next-token prediction windows: y is x shifted left by one token.

    Attributes:
        x_train: np.ndarray int32, (N, seq_len). Input windows.
        y_train: np.ndarray int32, (N, seq_len). Targets: x_train[:, 1:] plus
            the next token.
        x_val: np.ndarray int32, (M, seq_len). Validation windows (from the
            end of the text, never overlapping the training part).
        y_val: np.ndarray int32, (M, seq_len).
        tokenizer: the fitted tokenizer (`encode`/`decode` of this module).
        vocabulary_size: int. Number of ids (padding 0 included).
        seq_len: int. Window length.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    tokenizer: object
    vocabulary_size: int
    seq_len: int

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_train, y_train)."""
        return self.x_train, self.y_train

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_val, y_val)."""
        return self.x_val, self.y_val

    def encode(self, text: str) -> list[int]:
        """Encodes text with this dataset's tokenizer."""
        return encode(self.tokenizer, text)

    def decode(self, ids) -> str:
        """Decodes ids with this dataset's tokenizer."""
        return decode(self.tokenizer, ids)


def _windows(ids: np.ndarray, seq_len: int, stride: int):
    count = (len(ids) - seq_len - 1) // stride + 1 if len(ids) > seq_len else 0
    if count <= 0:
        empty = np.zeros((0, seq_len), np.int32)
        return empty, empty.copy()
    starts = np.arange(count) * stride
    index = starts[:, None] + np.arange(seq_len + 1)[None, :]
    chunks = ids[index]
    return chunks[:, :-1].astype(np.int32), chunks[:, 1:].astype(np.int32)


def lm_dataset(
    text: str,
    tokenizer="char",
    seq_len: int = 128,
    *,
    stride: int | None = None,
    val_fraction: float = 0.1,
    vocabulary_size: int | None = None,
    lowercase: bool | None = None,
    max_windows: int | None = None,
) -> LMDataset:
    """Builds (x, y) language-modelling windows, y shifted by one token.

    The text is cut at `1 - val_fraction` of its characters (at a line
    break when one is near): the tokenizer is fitted on the first part
    only, and each part is cut into windows of `seq_len + 1` tokens every
    `stride` tokens, so no validation token is seen in training.

    Args:
        text: str. The corpus (e.g. `load_corpus("python_docs")`).
        tokenizer: str or tokenizer. "char", "word", "wordpiece", "bpe" (fitted
            here, see `make_tokenizer`), or an already fitted tokenizer.
        seq_len: int. Tokens per window.
        stride: int or None. Tokens between window starts (default seq_len:
            no overlap).
        val_fraction: float. Share of the text kept for validation, in [0, 1).
        vocabulary_size: int or None. Largest vocabulary when fitting here.
        lowercase: bool or None. Passed to `make_tokenizer`.
        max_windows: int or None. Keep at most this many training windows
            (the first ones), for quick experiments.

    Returns:
        `LMDataset` (x_train, y_train, x_val, y_val, tokenizer,
        vocabulary_size, seq_len).

    Raises:
        ValueError: for invalid arguments or a text too short for one window.

    Example:
    >>> data = lm_dataset("abcabcabcabc" * 10, "char", seq_len=4)
    >>> data.decode(data.x_train[0]), data.decode(data.y_train[0])
    ('abca', 'bcab')
    """
    if not isinstance(text, str) or not text:
        raise ValueError(
            f"Invalid text of type {type(text).__name__}: expected a non-empty str."
        )
    check_int("seq_len", seq_len, minimum=1)
    for arg, value in (("stride", stride), ("max_windows", max_windows)):
        if value is not None:
            check_int(arg, value, minimum=1)
    check_rate("val_fraction", val_fraction)
    stride = stride or seq_len
    cut = len(text) - round(len(text) * val_fraction)
    if 0 < cut < len(text):
        newline = text.rfind("\n", max(cut - 200, 0), cut)
        cut = newline + 1 if newline > 0 else cut
    train_text, val_text = text[:cut], text[cut:]
    if isinstance(tokenizer, str):
        tokenizer = make_tokenizer(tokenizer, train_text, vocabulary_size, lowercase)
    elif not (hasattr(tokenizer, "encode") or hasattr(tokenizer, "tokenize")):
        raise ValueError(
            f"Invalid tokenizer={tokenizer!r}: expected one of "
            f"{', '.join(TOKENIZER_KINDS)} or a tokenizer with encode/decode "
            "or tokenize/detokenize."
        )
    train_ids = np.asarray(encode(tokenizer, train_text), dtype=np.int64)
    val_ids = np.asarray(encode(tokenizer, val_text) if val_text else [], np.int64)
    x_train, y_train = _windows(train_ids, seq_len, stride)
    x_val, y_val = _windows(val_ids, seq_len, stride)
    if not len(x_train):
        raise ValueError(
            f"The text gives {len(train_ids)} training tokens: too few for one "
            f"window of seq_len={seq_len} (+1). Use a longer text or a "
            "smaller seq_len."
        )
    if max_windows is not None:
        x_train, y_train = x_train[:max_windows], y_train[:max_windows]
    logger.info(
        "lm_dataset: %d train and %d validation windows of %d tokens.",
        len(x_train), len(x_val), seq_len,
    )  # fmt: skip
    return LMDataset(
        x_train, y_train, x_val, y_val, tokenizer, _vocabulary_size(tokenizer), seq_len
    )


# ---------------------------------------------------------------- padding / masks
def pad_sequences(
    sequences,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "post",
    value: int = 0,
    dtype: str = "int32",
) -> np.ndarray:
    """Pads ragged id lists to one length (wraps `keras.utils.pad_sequences`).

    Args:
        sequences: list of lists of int.
        maxlen: int or None. Output length (default: the longest sequence).
        padding: str. "post" (default, what masks and decoders expect) or "pre".
        truncating: str. "post" or "pre": which end is cut when too long.
        value: int. Padding id.
        dtype: str. Output dtype.

    Returns:
        np.ndarray of shape (len(sequences), maxlen).
    """
    import keras

    for arg, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f"Invalid {arg}={v!r}: expected 'pre' or 'post'.")
    return keras.utils.pad_sequences(
        [list(s) for s in sequences],
        maxlen=maxlen,
        padding=padding,
        truncating=truncating,
        value=value,
        dtype=dtype,
    )


def padding_mask(tokens, pad_id: int = 0) -> np.ndarray:
    """Boolean mask, True where `tokens` is a real token (not `pad_id`)."""
    return np.asarray(tokens) != pad_id


def causal_mask(length: int) -> np.ndarray:
    """Boolean (length, length) mask, True where query i may see key j <= i."""
    return np.tril(np.ones((length, length), dtype=bool))


def text_vectorization(
    texts,
    max_tokens: int | None = 10000,
    output_sequence_length: int | None = None,
    split: str = "whitespace",
    output_mode: str = "int",
    standardize: str | None = "lower_and_strip_punctuation",
):
    """Returns a `keras.layers.TextVectorization` adapted to `texts`.

    Id 0 pads and id 1 is "[UNK]" (Keras' convention) in "int" mode.

    Args:
        texts: list of str (or a str, split into lines).
        max_tokens: int or None. Largest vocabulary size.
        output_sequence_length: int or None. Pad/truncate "int" outputs to this.
        split: str. "whitespace" or "character".
        output_mode: str. "int", "multi_hot", "count" or "tf_idf".
        standardize: str or None. Keras' standardization ("lower_and_strip_
            punctuation", "lower", "strip_punctuation" or None).

    Returns:
        The adapted layer; call it on a list of strings.
    """
    import keras

    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        output_sequence_length=output_sequence_length,
        split=split,
        output_mode=output_mode,
        standardize=standardize,
    )
    layer.adapt(_lines(texts) if isinstance(texts, str) else list(texts))
    return layer


# ---------------------------------------------------------------- IMDB
def load_imdb(
    num_words: int | None = 20000,
    as_text: bool = False,
    data_dir: str | None = None,
):
    """IMDB reviews from the local Keras cache (`imdb.npz`), never downloaded.

    Args:
        num_words: int or None. Keep the most frequent words (see
            `kerasdl.data.load("imdb")`).
        as_text: bool. Decode the reviews back to strings (needs
            `imdb_word_index.json` in the cache too).
        data_dir: str or None. Folder holding the files instead of the cache.

    Returns:
        (x_train, y_train), (x_test, y_test): x are object arrays of id lists,
        or lists of str with `as_text=True`; y are int labels (1 = positive).

    Raises:
        DatasetNotFoundError: naming the file to place and where.
    """
    raw = keras_cache.read("imdb", data_dir=data_dir, num_words=num_words)
    x_train, x_test = raw.x_train, raw.x_test
    if as_text:
        index = keras_cache.load_word_index("imdb", data_dir=data_dir)
        words = {rank + keras_cache.INDEX_FROM: word for word, rank in index.items()}
        special = {
            keras_cache.START_CHAR: "",
            keras_cache.OOV_CHAR: UNK,
        }

        def to_text(ids):
            tokens = (special.get(i, words.get(i, UNK)) for i in ids)
            return " ".join(t for t in tokens if t)

        x_train = [to_text(seq) for seq in x_train]
        x_test = [to_text(seq) for seq in x_test]
    return (x_train, raw.y_train), (x_test, raw.y_test)
