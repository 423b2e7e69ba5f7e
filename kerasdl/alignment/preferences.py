"""Preference pairs judged by a rule standing in for a human, and win rates.

A human labeller compares two completions of the same prompt and says which
one is better. Here a rule does it: a score function on the completion text
(for example `vowel_share`), the higher score preferred. The rule labels the
training pairs and, later, judges the trained policy against the supervised
model; the models being trained never see it, only the pairs.

- `sample_completions`: seeded samples of a GPT for a batch of prompts.
- `make_preference_pairs`: two samples per prompt, the rule picks the chosen
  one (ties dropped).
- `pair_inputs`: the token arrays and completion masks that the reward model
  and DPO train on.
- `win_rate`: how often the rule prefers one model's completions to
  another's on the same prompts (ties count one half).

Example:
>>> pairs = make_preference_pairs(sft, prompts, 24, vowel_share, seed=0)
>>> inputs = pair_inputs(pairs)
>>> win_rate(policy, sft, held_out_prompts, 24, vowel_share, seed=1)
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from kerasdl._checks import check_int
from kerasdl.generation import generate

__all__ = [
    "PreferencePairs",
    "completion_inputs",
    "make_preference_pairs",
    "pair_inputs",
    "sample_completions",
    "score_completions",
    "vowel_share",
    "win_rate",
]

logger = logging.getLogger(__name__)

_VOWELS = frozenset("aeiouAEIOU")


def vowel_share(text: str) -> float:
    """Share of the characters of `text` that are vowels (a, e, i, o, u).

    A style rule for character models: prose written by a model trained on
    English documentation has between a quarter and a third vowels, so two
    samples of the same model are preferred one way or the other about
    equally often, which leaves preference learning room to move.

    Args:
        text: str. A completion.

    Returns:
        float in [0, 1]; 0 for an empty text.
    """
    return sum(c in _VOWELS for c in text) / len(text) if text else 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class PreferencePairs:
    """Prompts with a preferred and a rejected completion each.

    Attributes:
        prompts: np.ndarray int32 `(n, prompt_length)`. Prompt token ids.
        chosen: np.ndarray int32 `(n, completion_length)`. Completion the
            rule preferred.
        rejected: np.ndarray int32 `(n, completion_length)`. The other one.
        chosen_scores: np.ndarray float `(n,)`. The rule's scores.
        rejected_scores: np.ndarray float `(n,)`.
    """

    prompts: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    chosen_scores: np.ndarray
    rejected_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index) -> PreferencePairs:
        """The pairs at `index` (a slice or an index array)."""
        return PreferencePairs(
            *(getattr(self, f.name)[index] for f in dataclasses.fields(self))
        )


def _check_prompts(prompts) -> np.ndarray:
    array = np.asarray(prompts)
    if array.ndim != 2 or not len(array) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"Invalid prompts: expected integer token ids of shape (n, length) "
            f"with n >= 1; received dtype {array.dtype}, shape {array.shape}."
        )
    return array.astype("int32")


def sample_completions(model, prompts, length, seed=0, temperature=1.0):
    """Samples one completion per prompt from a GPT, seeded.

    Plain sampling at temperature 1 draws from the model's own distribution,
    which the KL estimate of `kerasdl.alignment.kl_to_reference` needs.

    Args:
        model: keras.Model. A kerasdl GPT.
        prompts: int array `(n, prompt_length)`.
        length: int. Tokens per completion.
        seed: int. Sampler seed (same seed, same completions).
        temperature: float. Sampling temperature.

    Returns:
        np.ndarray int32 `(n, length)`: the completions without the prompts.
    """
    prompts = _check_prompts(prompts)
    check_int("length", length, minimum=1)
    check_int("seed", seed, minimum=0)
    tokens = generate(
        model, prompts, length, strategy="sample", temperature=temperature, seed=seed
    )
    return tokens[:, prompts.shape[1] :]


def score_completions(completions, rule, decode) -> np.ndarray:
    """The rule's score of each completion, decoded to text first.

    Args:
        completions: int array `(n, length)`.
        rule: callable str -> float. Higher is preferred.
        decode: callable ids -> str (e.g. `LMDataset.decode`).

    Returns:
        np.ndarray float64 `(n,)`.
    """
    if not callable(rule) or not callable(decode):
        raise ValueError(
            f"Invalid rule={rule!r} or decode={decode!r}: both must be callables "
            "(rule: text -> score, decode: token ids -> text)."
        )
    return np.array([float(rule(decode(ids))) for ids in np.asarray(completions)])


def make_preference_pairs(
    model, prompts, length, rule, decode, seed=0
) -> PreferencePairs:
    """Two seeded samples per prompt; the rule prefers the higher score.

    Prompts whose two completions score the same are dropped: they carry no
    preference.

    Args:
        model: keras.Model. The supervised GPT whose samples are compared.
        prompts: int array `(n, prompt_length)`.
        length: int. Tokens per completion.
        rule: callable str -> float. The stand-in for the human.
        decode: callable ids -> str.
        seed: int. Sampler seed.

    Returns:
        `PreferencePairs` for the prompts whose completions differ in score.
    """
    prompts = _check_prompts(prompts)
    # One batch holds both samples of every prompt: (2n, prompt_length).
    completions = sample_completions(
        model, np.concatenate([prompts, prompts]), length, seed
    )
    first, second = completions[: len(prompts)], completions[len(prompts) :]
    s1 = score_completions(first, rule, decode)
    s2 = score_completions(second, rule, decode)
    keep = s1 != s2
    first_wins = (s1 > s2)[:, None]
    logger.info(
        "preference pairs: %d of %d prompts have a preference.",
        keep.sum(),
        len(prompts),
    )
    return PreferencePairs(
        prompts=prompts[keep],
        chosen=np.where(first_wins, first, second)[keep],
        rejected=np.where(first_wins, second, first)[keep],
        chosen_scores=np.maximum(s1, s2)[keep],
        rejected_scores=np.minimum(s1, s2)[keep],
    )


def completion_inputs(prompts, completions) -> tuple[np.ndarray, np.ndarray]:
    """Prompt + completion token ids and the mask of the completion tokens.

    Args:
        prompts: int array `(n, prompt_length)`.
        completions: int array `(n, completion_length)`.

    Returns:
        (tokens int32 `(n, prompt_length + completion_length)`, mask float32
        of the same shape: 1 on completion tokens, 0 on prompt tokens).
    """
    prompts = _check_prompts(prompts)
    completions = _check_prompts(completions)
    if len(prompts) != len(completions):
        raise ValueError(
            f"Got {len(prompts)} prompts and {len(completions)} completions: "
            "expected one completion per prompt."
        )
    tokens = np.concatenate([prompts, completions], axis=1)
    mask = np.zeros(tokens.shape, "float32")
    mask[:, prompts.shape[1] :] = 1.0
    return tokens, mask


def pair_inputs(pairs: PreferencePairs) -> dict[str, np.ndarray]:
    """The arrays that the reward model and DPO train on.

    Args:
        pairs: `PreferencePairs`.

    Returns:
        dict with "chosen_ids", "chosen_mask", "rejected_ids" and
        "rejected_mask" (see `completion_inputs`).
    """
    chosen, chosen_mask = completion_inputs(pairs.prompts, pairs.chosen)
    rejected, rejected_mask = completion_inputs(pairs.prompts, pairs.rejected)
    return {
        "chosen_ids": chosen,
        "chosen_mask": chosen_mask,
        "rejected_ids": rejected,
        "rejected_mask": rejected_mask,
    }


def win_rate(model, baseline, prompts, length, rule, decode, seed=0) -> float:
    """How often the rule prefers `model`'s completion to `baseline`'s.

    Both models complete the same prompts with the same sampler seed; ties
    count one half, so two copies of one model score 0.5.

    Args:
        model: keras.Model. The GPT under test (e.g. the DPO policy).
        baseline: keras.Model. The GPT it is compared with (the SFT model).
        prompts: int array `(n, prompt_length)`; use prompts not seen in
            training.
        length: int. Tokens per completion.
        rule: callable str -> float. The held-out judge.
        decode: callable ids -> str.
        seed: int. Sampler seed.

    Returns:
        float in [0, 1].
    """
    ours = score_completions(
        sample_completions(model, prompts, length, seed), rule, decode
    )
    theirs = score_completions(
        sample_completions(baseline, prompts, length, seed), rule, decode
    )
    return float(np.mean((ours > theirs) + 0.5 * (ours == theirs)))
