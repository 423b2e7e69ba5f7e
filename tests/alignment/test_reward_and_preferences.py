"""Reward model, preference pairs and win rate (kerasdl.alignment), on every backend."""

import numpy as np
import pytest
from alignment_helpers import VOCAB, tiny_gpt

from kerasdl import alignment


def decode(ids):
    # Token 1 is the only vowel: the rule prefers completions with more 1s.
    return "".join("a" if i == 1 else "b" for i in ids)


def separable_pairs(n, seed):
    # The chosen completion is all token 3, the rejected one all token 4.
    prompts = np.random.default_rng(seed).integers(1, VOCAB, (n, 4)).astype("int32")
    return alignment.PreferencePairs(
        prompts=prompts,
        chosen=np.full((n, 3), 3, "int32"),
        rejected=np.full((n, 3), 4, "int32"),
        chosen_scores=np.ones(n),
        rejected_scores=np.zeros(n),
    )


def test_reward_model_learns_a_separable_preference():
    gpt = tiny_gpt()
    weights = [w.copy() for w in gpt.get_weights()]
    reward = alignment.reward_model(gpt)
    pairs = alignment.bradley_terry_model(reward, learning_rate=3e-2)
    train = alignment.pair_inputs(separable_pairs(32, seed=0))
    held_out = alignment.pair_inputs(separable_pairs(16, seed=1))
    history = pairs.fit(train, alignment.preferred_first(train), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert alignment.pairwise_accuracy(reward, held_out) == 1.0
    for w, w0 in zip(gpt.get_weights(), weights):  # the GPT was copied
        np.testing.assert_array_equal(w, w0)


def test_preference_pairs_follow_the_rule_and_win_rate_is_symmetric():
    model = tiny_gpt()
    prompts = np.random.default_rng(0).integers(1, VOCAB, (16, 3)).astype("int32")
    pairs = alignment.make_preference_pairs(
        model, prompts, 6, alignment.vowel_share, decode, seed=0
    )
    assert 0 < len(pairs) <= 16
    assert (pairs.chosen_scores > pairs.rejected_scores).all()
    np.testing.assert_allclose(
        alignment.score_completions(pairs.chosen, alignment.vowel_share, decode),
        pairs.chosen_scores,
    )
    inputs = alignment.pair_inputs(pairs)
    assert inputs["chosen_ids"].shape == (len(pairs), 9)
    np.testing.assert_array_equal(inputs["chosen_ids"][:, :3], pairs.prompts)
    assert inputs["chosen_mask"][:, :3].sum() == 0
    assert (inputs["rejected_mask"][:, 3:] == 1).all()
    # The same model with the same sampler seed ties everywhere: 0.5.
    rate = alignment.win_rate(
        model, model, prompts, 6, alignment.vowel_share, decode, seed=3
    )
    assert rate == 0.5


@pytest.mark.one_backend
def test_vowel_share_and_argument_checks():
    assert alignment.vowel_share("abcde") == 0.4
    assert alignment.vowel_share("") == 0.0
    with pytest.raises(ValueError, match="prompts"):
        alignment.sample_completions(tiny_gpt(), np.ones((2,), "int32"), 3)
    with pytest.raises(ValueError, match="length"):
        alignment.sample_completions(tiny_gpt(), np.ones((2, 2), "int32"), 0)
    with pytest.raises(ValueError, match="rule"):
        alignment.score_completions(np.ones((1, 2), "int32"), "vowels", decode)
    with pytest.raises(ValueError, match="one completion per prompt"):
        alignment.completion_inputs(np.ones((2, 2), "int32"), np.ones((3, 2), "int32"))
    with pytest.raises(ValueError, match="final_norm"):
        import keras

        alignment.reward_model(
            keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        )
