"""A Bradley-Terry reward model on a GPT trunk, trained on preference pairs.

Bradley-Terry: P(chosen preferred to rejected) = sigmoid(r(chosen) -
r(rejected)), so the negative log-likelihood of a pair is
-log sigmoid(r_c - r_r). The pair model below outputs r_c - r_r; with the
target 1 ("the first is preferred") Keras' binary cross-entropy on logits is
exactly that loss, so the reward model trains through plain `compile`/`fit`.

- `reward_model`: a copy of a GPT's trunk (embeddings and decoder blocks, up
  to the final LayerNorm), the mean of its hidden states over the completion
  tokens, and a Dense(1): token ids and completion mask in, one reward out.
- `bradley_terry_model`: the compiled pair model (shared reward model).
- `train_reward_model`: both, fitted on pairs.
- `pairwise_accuracy`: share of pairs where the chosen completion gets the
  higher reward.

Example:
>>> reward = reward_model(sft)
>>> pairs_model = bradley_terry_model(reward, learning_rate=1e-3)
>>> inputs = pair_inputs(pairs)
>>> pairs_model.fit(inputs, preferred_first(inputs), epochs=3)
>>> pairwise_accuracy(reward, pair_inputs(held_out_pairs))
"""

from __future__ import annotations

import keras
import numpy as np

from kerasdl._checks import check_float, check_int
from kerasdl.alignment.dpo import PAIR_KEYS, copy_model
from kerasdl.models.transformer.gpt import GPT_FINAL_NORM

__all__ = [
    "bradley_terry_model",
    "pairwise_accuracy",
    "preferred_first",
    "reward_model",
    "train_reward_model",
]


def reward_model(gpt, name="reward_model"):
    """A scalar reward on a copy of a GPT's trunk (the GPT is not changed).

    Args:
        gpt: keras.Model. A kerasdl GPT (e.g. the supervised model); its
            layers up to "final_norm" are copied with their weights.
        name: str. Model name.

    Returns:
        A functional `keras.Model`: inputs "token_ids" `(batch, T)` int32 and
        "completion_mask" `(batch, T)` float (1 on the completion tokens),
        output the reward `(batch, 1)`.
    """
    trunk_source = copy_model(gpt)
    try:
        hidden = trunk_source.get_layer(GPT_FINAL_NORM).output
    except ValueError:
        raise ValueError(
            f"reward_model needs a kerasdl GPT (a layer named {GPT_FINAL_NORM!r}); "
            f"model {gpt.name!r} has none."
        ) from None
    trunk = keras.Model(trunk_source.input, hidden, name="trunk")
    tokens = keras.Input((None,), dtype="int32", name="token_ids")
    mask = keras.Input((None,), name="completion_mask")
    # Masked mean over the completion: the prompt's states do not vote.
    pooled = keras.layers.GlobalAveragePooling1D(name="completion_mean")(
        trunk(tokens), mask=mask
    )
    reward = keras.layers.Dense(1, name="reward")(pooled)
    return keras.Model(
        {"token_ids": tokens, "completion_mask": mask}, reward, name=name
    )


def bradley_terry_model(reward, learning_rate=1e-3):
    """The pair model r(chosen) - r(rejected), compiled with the Bradley-Terry loss.

    Its inputs are the dict of `kerasdl.alignment.pair_inputs`; train it with
    targets `preferred_first(inputs)` (all ones): binary cross-entropy on the
    logit r_c - r_r with target 1 is -log sigmoid(r_c - r_r). The metric
    "pairwise_accuracy" is the share of pairs with r_c > r_r.

    Args:
        reward: keras.Model. From `reward_model` (shared, so training the pair
            model trains it).
        learning_rate: float. Adam's learning rate.

    Returns:
        A compiled functional `keras.Model`, output `(batch, 1)`.
    """
    check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)
    inputs = {
        key: keras.Input(
            (None,), dtype="int32" if key.endswith("ids") else None, name=key
        )
        for key in PAIR_KEYS
    }
    scores = [
        reward(
            {"token_ids": inputs[f"{s}_ids"], "completion_mask": inputs[f"{s}_mask"]}
        )
        for s in ("chosen", "rejected")
    ]
    difference = keras.layers.Subtract(name="reward_difference")(scores)
    model = keras.Model(inputs, difference, name="bradley_terry")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="pairwise_accuracy")],
    )
    return model


def preferred_first(inputs) -> np.ndarray:
    """Targets for `bradley_terry_model`: 1 per pair (the chosen one is first)."""
    return np.ones((len(inputs["chosen_ids"]), 1), "float32")


def pairwise_accuracy(reward, inputs, batch_size=256) -> float:
    """Share of pairs whose chosen completion gets the higher reward.

    Args:
        reward: keras.Model. From `reward_model`.
        inputs: dict from `kerasdl.alignment.pair_inputs`.
        batch_size: int.

    Returns:
        float in [0, 1] (ties count as wrong).
    """
    check_int("batch_size", batch_size, minimum=1)
    r = {
        side: reward.predict(
            {
                "token_ids": inputs[f"{side}_ids"],
                "completion_mask": inputs[f"{side}_mask"],
            },
            batch_size=batch_size,
            verbose=0,
        )
        for side in ("chosen", "rejected")
    }
    return float(np.mean(r["chosen"] > r["rejected"]))


def train_reward_model(gpt, inputs, learning_rate=1e-3, epochs=2, batch_size=32):
    """A reward model on a copy of `gpt`'s trunk, fitted on preference pairs.

    Args:
        gpt: keras.Model. A kerasdl GPT (unchanged).
        inputs: dict from `kerasdl.alignment.pair_inputs`.
        learning_rate: float. Adam's learning rate.
        epochs: int. Passes over the pairs.
        batch_size: int. Pairs per step.

    Returns:
        (reward keras.Model, keras History with "loss" and
        "pairwise_accuracy").
    """
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    reward = reward_model(gpt)
    history = bradley_terry_model(reward, learning_rate).fit(
        inputs, preferred_first(inputs), epochs=epochs, batch_size=batch_size, verbose=0
    )
    return reward, history
