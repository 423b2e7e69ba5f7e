"""Synthetic sequence-to-sequence tasks, generated offline from a seed.

- `date_task`: date-format transduction ("March 3, 2021", "3 Mar 2021",
  "03.03.2021", ... -> "2021-03-03"), from Python's `datetime` and a seeded
  RNG, at the character level.
- `copy_task`: copy (or reverse) a random string of symbols; small enough
  for tests that train in seconds.

Both return `Seq2SeqData`: arrays ready for the teacher-forced `seq2seq`
model (`data.inputs` = [source, decoder_input], `data.target`,
`data.sample_weight` masking padded steps), plus the vocabularies and
helpers to encode new sources and decode outputs.

Example:
>>> train, test = date_splits(8000, 1000, seed=0)
>>> train.source_texts[0], train.target_texts[0]
('Feb 15 2019', '2019-02-15')
>>> model.fit(train.inputs, train.target, sample_weight=train.sample_weight)
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import string

import numpy as np

from kerasdl._checks import check_int

__all__ = [
    "DATE_FORMATS",
    "Seq2SeqData",
    "copy_task",
    "date_splits",
    "date_task",
    "encode_texts",
]

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
# Target ids: 0 pads, 1 starts the decoder input, 2 ends a sequence.
START_ID, END_ID = 1, 2

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)  # fmt: skip


def _fields(date: datetime.date) -> dict:
    return {
        "Y": date.year,
        "m": date.month,
        "d": date.day,
        "B": MONTHS[date.month - 1],
        "b": MONTHS[date.month - 1][:3],
        "A": WEEKDAYS[date.weekday()],
    }


# Every format determines the date uniquely (no day/month ambiguity:
# slashes are always year-first or US month-first, dots are always day-first).
DATE_FORMATS = (
    "{B} {d}, {Y}",  # March 3, 2021
    "{d} {b} {Y}",  # 3 Mar 2021
    "{Y}/{m:02d}/{d:02d}",  # 2021/03/03
    "{m:02d}/{d:02d}/{Y}",  # 03/03/2021
    "{A}, {B} {d}, {Y}",  # Wednesday, March 3, 2021
    "{d} {B} {Y}",  # 3 March 2021
    "{b} {d:02d} {Y}",  # Mar 03 2021
    "{Y}-{m:02d}-{d:02d}",  # 2021-03-03
    "{d:02d}.{m:02d}.{Y}",  # 03.03.2021
    "{b}. {d}, {Y}",  # Mar. 3, 2021
    "lower:{B} {d} {Y}",  # march 3 2021
    "{Y} {B} {d}",  # 2021 March 3
)

DATE_SOURCE_CHARS = string.ascii_letters + string.digits + " ,./-"
DATE_TARGET_CHARS = string.digits + "-"


def format_date(date: datetime.date, fmt: str) -> str:
    """Writes `date` in one of `DATE_FORMATS`."""
    lower = fmt.startswith("lower:")
    text = fmt.removeprefix("lower:").format(**_fields(date))
    return text.lower() if lower else text


def encode_texts(
    texts, vocabulary, length: int | None = None, start: bool = False, end: bool = False
) -> np.ndarray:
    """Character-level ids, 0-padded at the end.

    Args:
        texts: list of str.
        vocabulary: list of str. Token of each id; characters not in it map to
            "<unk>" when the vocabulary has one.
        length: int or None. Output length (default: the longest sequence);
            longer sequences raise a ValueError.
        start: bool. Prepend the "<start>" id.
        end: bool. Append the "<end>" id.

    Returns:
        np.ndarray int32 (len(texts), length).
    """
    index = {token: i for i, token in enumerate(vocabulary)}
    unk = index.get(UNK)
    rows = []
    for text in texts:
        ids = [index[START]] if start else []
        for ch in text:
            if ch in index:
                ids.append(index[ch])
            elif unk is not None:
                ids.append(unk)
            else:
                raise ValueError(
                    f"Character {ch!r} of {text!r} is not in the vocabulary."
                )
        if end:
            ids.append(index[END])
        rows.append(ids)
    longest = max((len(r) for r in rows), default=0)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"A sequence has {longest} tokens, more than length={length}.")
    out = np.zeros((len(rows), length), np.int32)
    for i, ids in enumerate(rows):
        out[i, : len(ids)] = ids
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Seq2SeqData:
    """A sequence-to-sequence dataset at the character level.

    Attributes:
        source: np.ndarray int32 (N, Ts). Source ids, 0-padded.
        decoder_input: np.ndarray int32 (N, Tt). "<start>" + target ids.
        target: np.ndarray int32 (N, Tt). Target ids + "<end>", 0-padded.
        sample_weight: np.ndarray float32 (N, Tt). 1 for real target steps.
        source_texts: list of str.
        target_texts: list of str.
        source_vocabulary: list of str. Token of each source id (0 "<pad>").
        target_vocabulary: list of str. Token of each target id (0 "<pad>",
            1 "<start>", 2 "<end>").
    """

    source: np.ndarray
    decoder_input: np.ndarray
    target: np.ndarray
    sample_weight: np.ndarray
    source_texts: list
    target_texts: list
    source_vocabulary: list
    target_vocabulary: list

    start_id = START_ID
    end_id = END_ID

    def __len__(self) -> int:
        return len(self.source)

    @property
    def inputs(self) -> list[np.ndarray]:
        """[source, decoder_input]: the teacher-forced model's inputs."""
        return [self.source, self.decoder_input]

    @property
    def source_vocab_size(self) -> int:
        """int: number of source ids."""
        return len(self.source_vocabulary)

    @property
    def target_vocab_size(self) -> int:
        """int: number of target ids."""
        return len(self.target_vocabulary)

    @property
    def max_target_length(self) -> int:
        """int: decoder steps needed for the longest target (end included)."""
        return self.target.shape[1]

    def encode_source(self, texts) -> np.ndarray:
        """Encodes new source strings (padded to this dataset's length)."""
        return encode_texts(texts, self.source_vocabulary, self.source.shape[1])

    def decode_target(self, ids) -> str:
        """Target ids -> text, stopping at "<end>" and skipping specials."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == END_ID:
                break
            if i > END_ID:
                out.append(self.target_vocabulary[i])
        return "".join(out)

    def source_tokens(self, index: int) -> list[str]:
        """The source characters of one example (for attention plots)."""
        return [self.source_vocabulary[i] for i in self.source[index] if i != 0]

    def subset(self, indices) -> Seq2SeqData:
        """The examples at `indices`."""
        indices = np.asarray(indices)
        return dataclasses.replace(
            self,
            source=self.source[indices],
            decoder_input=self.decoder_input[indices],
            target=self.target[indices],
            sample_weight=self.sample_weight[indices],
            source_texts=[self.source_texts[i] for i in indices],
            target_texts=[self.target_texts[i] for i in indices],
        )


def _make(
    sources, targets, source_vocabulary, target_vocabulary, source_length=None
) -> Seq2SeqData:
    source = encode_texts(sources, source_vocabulary, source_length)
    decoder_input = encode_texts(targets, target_vocabulary, start=True)
    target = encode_texts(targets, target_vocabulary, end=True)
    return Seq2SeqData(
        source=source,
        decoder_input=decoder_input,
        target=target,
        sample_weight=(target != 0).astype(np.float32),
        source_texts=list(sources),
        target_texts=list(targets),
        source_vocabulary=list(source_vocabulary),
        target_vocabulary=list(target_vocabulary),
    )


DATE_SOURCE_VOCABULARY = [PAD, UNK, *DATE_SOURCE_CHARS]
DATE_TARGET_VOCABULARY = [PAD, START, END, *DATE_TARGET_CHARS]
# "Wednesday, September 30, 2021": the longest source any format writes.
DATE_SOURCE_LENGTH = 29


def date_task(
    num_samples: int = 10000,
    seed: int = 0,
    years: tuple[int, int] = (1950, 2049),
    formats=DATE_FORMATS,
    exclude=(),
) -> Seq2SeqData:
    """Random dates in random human formats -> ISO "YYYY-MM-DD".

    Args:
        num_samples: int. Number of examples.
        seed: int. Seed of the RNG (same seed, same data).
        years: (int, int). Inclusive year range.
        formats: list of str. Format strings (see `DATE_FORMATS`).
        exclude: collection of str. Source strings never to produce (to keep
            a test set disjoint from a training set).

    Returns:
        `Seq2SeqData` with fixed vocabularies: sources padded to 29
        characters, targets of 10 characters + "<end>".

    Example:
    >>> data = date_task(3, seed=1)
    >>> data.source_texts[0], data.target_texts[0]
    ('Feb. 9, 1974', '1974-02-09')
    """
    check_int("num_samples", num_samples, minimum=1)
    if (
        not isinstance(years, (list, tuple))
        or len(years) != 2
        or not 1 <= years[0] <= years[1] <= 9999
    ):
        raise ValueError(
            f"Invalid years={years!r}: expected (first, last) with "
            "1 <= first <= last <= 9999."
        )
    if not formats:
        raise ValueError(f"Invalid formats={formats!r}: expected a non-empty list.")
    rng = random.Random(seed)
    first = datetime.date(years[0], 1, 1).toordinal()
    last = datetime.date(years[1], 12, 31).toordinal()
    exclude = set(exclude)
    sources, targets = [], []
    attempts = 0
    while len(sources) < num_samples:
        attempts += 1
        if attempts > 50 * num_samples:
            raise ValueError(
                f"Could not draw {num_samples} dates outside `exclude`: the "
                f"range {years} and formats allow too few distinct strings."
            )
        date = datetime.date.fromordinal(rng.randint(first, last))
        source = format_date(date, rng.choice(list(formats)))
        if source in exclude:
            continue
        sources.append(source)
        targets.append(date.isoformat())
    return _make(
        sources,
        targets,
        DATE_SOURCE_VOCABULARY,
        DATE_TARGET_VOCABULARY,
        max(DATE_SOURCE_LENGTH, max(len(s) for s in sources)),
    )


def date_splits(num_train: int = 10000, num_test: int = 1000, seed: int = 0):
    """Train and held-out test sets of `date_task` with no source in common.

    Args:
        num_train: int. Training examples.
        num_test: int. Test examples; none of their source strings occurs in
            the training set.
        seed: int. Seed (the test set uses seed + 1).

    Returns:
        (train, test): two `Seq2SeqData` with the same vocabularies.
    """
    train = date_task(num_train, seed=seed)
    test = date_task(num_test, seed=seed + 1, exclude=set(train.source_texts))
    return train, test


def copy_task(
    num_samples: int = 1000,
    min_length: int = 3,
    max_length: int = 8,
    num_symbols: int = 8,
    reverse: bool = False,
    seed: int = 0,
) -> Seq2SeqData:
    """Copy (or reverse) random strings of symbols: the smallest seq2seq task.

    Args:
        num_samples: int. Number of examples.
        min_length: int. Shortest string.
        max_length: int. Longest string.
        num_symbols: int. Alphabet size (letters "a", "b", ...), at most 26.
        reverse: bool. Target is the reversed source instead of a copy.
        seed: int. Seed of the RNG.

    Returns:
        `Seq2SeqData`; source vocabulary [<pad>, <unk>, a, b, ...], target
        vocabulary [<pad>, <start>, <end>, a, b, ...].
    """
    check_int("num_samples", num_samples, minimum=1)
    check_int("min_length", min_length, minimum=1)
    check_int("max_length", max_length, minimum=min_length)
    check_int("num_symbols", num_symbols, minimum=2)
    if num_symbols > 26:
        raise ValueError(f"Invalid num_symbols={num_symbols!r}: expected at most 26.")
    symbols = string.ascii_lowercase[:num_symbols]
    rng = random.Random(seed)
    sources = [
        "".join(rng.choice(symbols) for _ in range(rng.randint(min_length, max_length)))
        for _ in range(num_samples)
    ]
    targets = [s[::-1] if reverse else s for s in sources]
    return _make(
        sources, targets, [PAD, UNK, *symbols], [PAD, START, END, *symbols], max_length
    )
