"""Learning from human preferences: preference pairs, reward models, DPO.

A rule stands in for the human labeller (`preferences`): it compares two
sampled completions of the supervised GPT and picks one. A Bradley-Terry
reward model learns those preferences (`reward`), and Direct Preference
Optimization trains the GPT on them directly against a frozen reference
(`dpo`). The rule, held out from training, then judges the trained policy
against the supervised model (`win_rate`), and `kl_to_reference` says how far
the policy moved. Everything runs through `fit` on every backend.
"""

from kerasdl.alignment.dpo import (
    DPOModel,
    completion_log_probs,
    copy_model,
    dpo_loss,
    kl_to_reference,
    train_dpo,
)
from kerasdl.alignment.preferences import (
    PreferencePairs,
    completion_inputs,
    make_preference_pairs,
    pair_inputs,
    sample_completions,
    score_completions,
    vowel_share,
    win_rate,
)
from kerasdl.alignment.reward import (
    bradley_terry_model,
    pairwise_accuracy,
    preferred_first,
    reward_model,
    train_reward_model,
)

__all__ = [
    "DPOModel",
    "PreferencePairs",
    "bradley_terry_model",
    "completion_inputs",
    "completion_log_probs",
    "copy_model",
    "dpo_loss",
    "kl_to_reference",
    "make_preference_pairs",
    "pair_inputs",
    "pairwise_accuracy",
    "preferred_first",
    "reward_model",
    "sample_completions",
    "score_completions",
    "train_dpo",
    "train_reward_model",
    "vowel_share",
    "win_rate",
]
