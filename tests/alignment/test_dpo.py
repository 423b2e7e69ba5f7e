"""DPO (kerasdl.alignment): loss, masked log-probs, frozen reference, on every backend."""

import math

import keras
import numpy as np
import pytest
from alignment_helpers import VOCAB, tiny_gpt

from kerasdl import alignment


def numpy_array(x):
    return keras.ops.convert_to_numpy(x)


def test_dpo_loss_equals_the_hand_computed_value():
    # margin = (-1 - -1.5) - (-2 - -1.5) = 1; loss = -log sigmoid(0.5 * 1).
    loss = alignment.dpo_loss(
        keras.ops.convert_to_tensor([-1.0, -2.0]),
        keras.ops.convert_to_tensor([-2.0, -1.0]),
        keras.ops.convert_to_tensor([-1.5, -1.5]),
        keras.ops.convert_to_tensor([-1.5, -1.5]),
        beta=0.5,
    )
    expected = [math.log1p(math.exp(-0.5)), math.log1p(math.exp(0.5))]
    np.testing.assert_allclose(numpy_array(loss), expected, rtol=1e-6)


def test_completion_log_probs_score_only_the_masked_tokens():
    model = tiny_gpt()
    tokens = np.array([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], "int32")
    mask = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]], "float32")
    logits = numpy_array(model(tokens[:, :-1])).astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, tokens[:, 1:, None], -1)[..., 0]
    expected = (picked * mask[:, 1:]).sum(-1)
    got = numpy_array(alignment.completion_log_probs(model, tokens, mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def pair_data(n=16):
    rng = np.random.default_rng(0)
    prompts = rng.integers(1, VOCAB, (n, 4)).astype("int32")
    pairs = alignment.PreferencePairs(
        prompts=prompts,
        chosen=np.full((n, 4), 3, "int32"),
        rejected=np.full((n, 4), 4, "int32"),
        chosen_scores=np.ones(n),
        rejected_scores=np.zeros(n),
    )
    return alignment.pair_inputs(pairs)


def logp_gap(model, inputs):
    chosen = alignment.completion_log_probs(
        model, inputs["chosen_ids"], inputs["chosen_mask"]
    )
    rejected = alignment.completion_log_probs(
        model, inputs["rejected_ids"], inputs["rejected_mask"]
    )
    return float(np.mean(numpy_array(chosen) - numpy_array(rejected)))


def test_dpo_fit_raises_chosen_over_rejected_and_keeps_the_reference_frozen():
    reference = tiny_gpt()
    policy = alignment.copy_model(reference)
    frozen = [w.copy() for w in reference.get_weights()]
    inputs = pair_data()
    before = logp_gap(policy, inputs)
    dpo = alignment.DPOModel(policy, reference, beta=0.5)
    dpo.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = dpo.fit(inputs, epochs=2, batch_size=8, verbose=0)
    assert logp_gap(policy, inputs) > before + 0.5
    assert history.history["loss"][-1] < math.log(2.0)  # loss at the start
    assert history.history["reward_accuracy"][-1] > 0.5
    for w, w0 in zip(reference.get_weights(), frozen):
        np.testing.assert_array_equal(w, w0)
    trainable = {id(v) for v in dpo.trainable_variables}
    assert not trainable & {id(v) for v in reference.variables}
    assert {id(v) for v in policy.trainable_variables} <= trainable


def test_kl_to_an_identical_reference_is_zero():
    model = tiny_gpt()
    prompts = np.ones((4, 3), "int32")
    kl = alignment.kl_to_reference(model, alignment.copy_model(model), prompts, 5)
    assert abs(kl) < 1e-4


@pytest.mark.one_backend
def test_dpo_arguments_are_checked():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="beta"):
        alignment.DPOModel(model, alignment.copy_model(model), beta=0.0)
    with pytest.raises(ValueError, match="the policy itself"):
        alignment.DPOModel(model, model)
    dpo = alignment.DPOModel(model, alignment.copy_model(model))
    with pytest.raises(ValueError, match="its own loss"):
        dpo.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="rejected_mask"):
        dpo({"chosen_ids": np.ones((1, 3), "int32")})
