"""Direct Preference Optimization (Rafailov et al. 2023) of a GPT, through `fit`.

DPO fits a policy to preference pairs without a reward model or sampling
during training: with the log-probabilities of the chosen and rejected
completions under the policy (logp_c, logp_r) and under a frozen reference
(ref_c, ref_r, usually the supervised model), the loss is

    -log sigmoid(beta * ((logp_c - ref_c) - (logp_r - ref_r)))

so the policy raises the chosen completion relative to the rejected one,
measured against the reference; beta sets how far it may drift from it
(the implicit KL penalty). The log-probabilities are those of the
completion tokens only: the prompt is given, not generated.

- `completion_log_probs`: masked sequence log-probabilities (keras.ops).
- `dpo_loss`: the loss per pair.
- `DPOModel`: policy + frozen reference as one `keras.Model`; `compile` and
  `fit` it on `pair_inputs(pairs)` like any model, on every backend.
- `train_dpo`: a copy of the supervised model trained by DPO against it.
- `kl_to_reference`: Monte-Carlo KL(policy || reference) on sampled
  completions.

Example:
>>> dpo = DPOModel(policy, reference, beta=0.1)
>>> dpo.compile(optimizer=keras.optimizers.Adam(1e-4))
>>> dpo.fit(pair_inputs(pairs), epochs=2, batch_size=32)
>>> kl_to_reference(policy, reference, prompts, 24, seed=0)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasdl._checks import check_float, check_int
from kerasdl.alignment.preferences import completion_inputs, sample_completions

__all__ = [
    "DPOModel",
    "completion_log_probs",
    "copy_model",
    "dpo_loss",
    "kl_to_reference",
    "train_dpo",
]

# The inputs DPOModel reads (see `kerasdl.alignment.pair_inputs`).
PAIR_KEYS = ("chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask")


def completion_log_probs(model, tokens, mask, training=False):
    """Sum of log p(token) over the masked tokens of each sequence.

    The model's logits at position i predict token i + 1, so the first token
    is never scored (it has no context): `mask[:, 0]` is ignored.

    Args:
        model: keras.Model. A causal language model, token ids `(batch, T)`
            in, next-token logits `(batch, T, vocab)` out (a kerasdl GPT).
        tokens: int tensor `(batch, T)`: prompt and completion.
        mask: float tensor `(batch, T)`: 1 on the tokens to score (the
            completion), 0 elsewhere (prompt, padding).
        training: bool. Passed to the model (dropout).

    Returns:
        float32 tensor `(batch,)`.
    """
    tokens = ops.convert_to_tensor(tokens, "int32")
    logits = ops.cast(model(tokens[:, :-1], training=training), "float32")
    log_probs = ops.log_softmax(logits, axis=-1)  # (batch, T-1, vocab)
    targets = ops.expand_dims(tokens[:, 1:], -1)  # (batch, T-1, 1)
    picked = ops.squeeze(ops.take_along_axis(log_probs, targets, axis=-1), -1)
    return ops.sum(picked * ops.cast(mask, "float32")[:, 1:], axis=-1)


def dpo_loss(
    policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta=0.1
):
    """DPO loss per pair: -log sigmoid(beta * (chosen log-ratio - rejected log-ratio)).

    Args:
        policy_chosen: float tensor `(batch,)`. log p_policy(chosen | prompt).
        policy_rejected: float tensor `(batch,)`. log p_policy(rejected | prompt).
        reference_chosen: float tensor `(batch,)`. Same under the reference.
        reference_rejected: float tensor `(batch,)`.
        beta: float > 0. Inverse temperature of the implicit reward.

    Returns:
        float tensor `(batch,)`.
    """
    check_float("beta", beta, minimum=0.0, min_inclusive=False)
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    # -log sigmoid(z) = softplus(-z), stable for large |z|.
    return ops.softplus(-beta * margin)


class DPOModel(keras.Model):
    """A policy trained by DPO against a frozen reference, as one Keras model.

    `call` takes the dict of `kerasdl.alignment.pair_inputs` and returns the
    four log-probabilities `(batch, 4)`: policy chosen, policy rejected,
    reference chosen, reference rejected. `compute_loss` turns them into the
    mean `dpo_loss`; compile without a loss. Besides the loss, `fit` reports
    "reward_accuracy" (share of pairs whose implicit reward margin is
    positive) and "reward_margin" (its mean, beta times the log-ratio
    difference).

    The reference is made non-trainable and runs in inference mode behind a
    stop-gradient: its weights never change. Only the policy's weights are
    trained; after `fit`, use `dpo.policy` (the same object that was passed
    in) for generation.

    Args:
        policy: keras.Model. The GPT to train (usually a copy of the SFT model).
        reference: keras.Model. The frozen reference (the SFT model).
        beta: float > 0. DPO's beta.
        **kwargs: passed to `keras.Model` (e.g. name).

    Raises:
        ValueError: for beta <= 0, or when policy and reference are one object.
    """

    def __init__(self, policy, reference, beta=0.1, **kwargs):
        super().__init__(**kwargs)
        if policy is reference:
            raise ValueError(
                "Invalid reference: it is the policy itself; pass a frozen copy "
                "(e.g. kerasdl.alignment.copy_model(policy))."
            )
        self.beta = check_float("beta", beta, minimum=0.0, min_inclusive=False)
        self.policy = policy
        self.reference = reference
        self.reference.trainable = False
        self.accuracy_tracker = keras.metrics.Mean(name="reward_accuracy")
        self.margin_tracker = keras.metrics.Mean(name="reward_margin")

    def compile(self, optimizer="adam", **kwargs):
        """`keras.Model.compile` without a loss: the loss is DPO's.

        Raises:
            ValueError: when a loss is given.
        """
        if kwargs.get("loss") is not None:
            raise ValueError(
                f"Invalid loss={kwargs['loss']!r} for DPOModel: expected none; "
                "the model computes its own loss (DPO)."
            )
        super().compile(optimizer=optimizer, **kwargs)

    def call(self, inputs, training=False):
        missing = [key for key in PAIR_KEYS if key not in inputs]
        if missing:
            raise ValueError(
                f"DPOModel inputs lack {missing}: expected a dict with keys "
                f"{list(PAIR_KEYS)} (see kerasdl.alignment.pair_inputs)."
            )
        columns = []
        for model in (self.policy, self.reference):
            frozen = model is self.reference
            for side in ("chosen", "rejected"):
                logp = completion_log_probs(
                    model,
                    inputs[f"{side}_ids"],
                    inputs[f"{side}_mask"],
                    training=bool(training) and not frozen,
                )
                columns.append(ops.stop_gradient(logp) if frozen else logp)
        return ops.stack(columns, axis=-1)  # (batch, 4)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Mean DPO loss over the batch; `y` is not used."""
        pc, pr, rc, rr = (y_pred[:, i] for i in range(4))
        margin = self.beta * ((pc - rc) - (pr - rr))
        self.accuracy_tracker.update_state(ops.cast(margin > 0, "float32"))
        self.margin_tracker.update_state(margin)
        return ops.mean(dpo_loss(pc, pr, rc, rr, self.beta))


def copy_model(model):
    """A new model with the same architecture and weights (not shared).

    Args:
        model: keras.Model (functional or Sequential, serializable).

    Returns:
        keras.Model.
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def kl_to_reference(policy, reference, prompts, length, seed=0, batch_size=256):
    """Monte-Carlo KL(policy || reference) per completion, in nats.

    Completions are sampled from the policy (temperature 1), and the KL is
    the mean of log p_policy - log p_reference over them (summed over the
    completion tokens): an unbiased estimate of the sequence-level KL.

    Args:
        policy: keras.Model. The trained GPT.
        reference: keras.Model. The reference GPT.
        prompts: int array `(n, prompt_length)`.
        length: int. Tokens per completion.
        seed: int. Sampler seed.
        batch_size: int. Sequences scored per forward pass.

    Returns:
        float: the estimate (0 for identical models; can come out slightly
        negative from sampling noise when the models are close).
    """
    completions = sample_completions(policy, prompts, length, seed)
    tokens, mask = completion_inputs(prompts, completions)
    differences = []
    for start in range(0, len(tokens), batch_size):
        t, m = tokens[start : start + batch_size], mask[start : start + batch_size]
        gap = completion_log_probs(policy, t, m) - completion_log_probs(reference, t, m)
        differences.append(ops.convert_to_numpy(gap))
    return float(np.mean(np.concatenate(differences)))


def train_dpo(reference, inputs, beta=0.1, learning_rate=5e-4, epochs=1, batch_size=32):
    """DPO from a supervised model: a copy of it is the policy, it the reference.

    Args:
        reference: keras.Model. The supervised GPT; stays unchanged.
        inputs: dict from `kerasdl.alignment.pair_inputs`.
        beta: float > 0. DPO's beta.
        learning_rate: float. Adam's learning rate.
        epochs: int. Passes over the pairs.
        batch_size: int. Pairs per step.

    Returns:
        (policy keras.Model, keras History with "loss", "reward_accuracy"
        and "reward_margin").
    """
    check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    policy = copy_model(reference)
    dpo = DPOModel(policy, reference, beta=beta)
    dpo.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = dpo.fit(inputs, epochs=epochs, batch_size=batch_size, verbose=0)
    return policy, history
