"""Chapter 18, learning from human preferences: a reward model and DPO.

Thin recipe: plain settings and library calls (kerasdl.alignment). Trains a
character GPT on the Python documentation (the supervised model), samples two
completions per prompt from it, and lets a rule stand in for the human: the
completion with the larger share of vowels is preferred. On those pairs it
trains a Bradley-Terry reward model (printing its accuracy on held-out
pairs) and runs DPO against the frozen supervised model for each beta
(printing the KL to the reference and the win rate against the supervised
model, judged by the rule on held-out prompts, sampling seeded).

Columns: stage, measure, beta, KL to the reference (nats per completion),
mean vowel share of the completions, the measure's value, seconds. One
sampled completion of the SFT model and of each DPO policy goes to stderr.

    python recipes/ch18_preferences.py            # full run, a few minutes
    python recipes/ch18_preferences.py --quick    # smoke run, seconds
"""

import argparse
import sys
import time

from kerasdl import alignment
from kerasdl.data.text import lm_dataset, load_corpus
from kerasdl.training import Trainer

PROMPT, COMPLETION = 16, 24  # characters
GPT = {
    "model": "gpt",
    "max_sequence_length": 64,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 64,
    "intermediate_dim": 128,
    "dropout": 0.0,
}
RULE = alignment.vowel_share  # the stand-in for the human, held out
SETTINGS = {
    # SFT windows of 48 characters; prompts that get two samples each; pairs
    # held out for the reward model; held-out prompts for win rate and KL.
    "full": {
        "sft_windows": 4000,
        "prompts": 1024,
        "held_out_pairs": 128,
        "eval_prompts": 256,
        "reward_epochs": 2,
        "betas": (0.1, 0.5),
    },
    "quick": {
        "sft_windows": 64,
        "prompts": 48,
        "held_out_pairs": 8,
        "eval_prompts": 16,
        "reward_epochs": 1,
        "betas": (0.1,),
    },
}


def sft_config(run_dir: str) -> dict:
    return {
        "seed": 0,
        "epochs": 1,
        "batch_size": 32,
        "optimizer": {
            "name": "adamw",
            "learning_rate": 3e-3,
            "weight_decay": 0.01,
            "global_clipnorm": 1.0,
        },
        "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
        "run_dir": run_dir,
        "verbose": 0,
    }


def mean_share(model, prompts, decode) -> float:
    completions = alignment.sample_completions(model, prompts, COMPLETION, seed=1)
    return float(alignment.score_completions(completions, RULE, decode).mean())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, one beta")
    parser.add_argument("--run-root", default="runs/ch18")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]

    started = time.perf_counter()
    data = lm_dataset(
        load_corpus("python_docs"),
        "char",
        seq_len=48,
        max_windows=settings["sft_windows"],
    )
    trainer = Trainer(sft_config(f"{args.run_root}/sft"))
    evaluation = (
        data.x_val[: settings["eval_prompts"] * 2],
        data.y_val[: settings["eval_prompts"] * 2],
    )
    history = trainer.fit(
        {**GPT, "vocabulary_size": data.vocabulary_size},
        *data.train,
        validation_data=evaluation,
    )
    sft = trainer.model
    # Training prompts from the training text, judged prompts from the
    # held-out end of the corpus.
    prompts = data.x_train[: settings["prompts"], :PROMPT]
    eval_prompts = data.x_val[: settings["eval_prompts"], :PROMPT]
    print(
        f"{'stage':<13} {'measure':<16} {'beta':>5} {'kl_nats':>8} "
        f"{'vowels':>7} {'value':>6} {'seconds':>7}"
    )
    print(
        f"{'sft':<13} {'next_token_acc':<16} {'-':>5} {0.0:>8.2f} "
        f"{mean_share(sft, eval_prompts, data.decode):>7.3f} "
        f"{history.history['val_accuracy'][-1]:>6.3f} {time.perf_counter() - started:>7.1f}",
        flush=True,
    )

    started = time.perf_counter()
    pairs = alignment.make_preference_pairs(
        sft, prompts, COMPLETION, RULE, data.decode, seed=0
    )
    split = len(pairs) - settings["held_out_pairs"]
    train = alignment.pair_inputs(pairs.subset(slice(0, split)))
    held_out = alignment.pair_inputs(pairs.subset(slice(split, None)))
    reward, _ = alignment.train_reward_model(
        sft, train, epochs=settings["reward_epochs"]
    )
    accuracy = alignment.pairwise_accuracy(reward, held_out)
    print(
        f"{'reward_model':<13} {'pairwise_acc':<16} {'-':>5} {'-':>8} {'-':>7} "
        f"{accuracy:>6.3f} {time.perf_counter() - started:>7.1f}",
        flush=True,
    )

    for beta in settings["betas"]:
        started = time.perf_counter()
        policy, _ = alignment.train_dpo(sft, train, beta=beta)
        win = alignment.win_rate(
            policy, sft, eval_prompts, COMPLETION, RULE, data.decode, seed=1
        )
        kl = alignment.kl_to_reference(policy, sft, eval_prompts, COMPLETION, seed=2)
        print(
            f"{'dpo':<13} {'win_rate_vs_sft':<16} {beta:>5.2f} {kl:>8.2f} "
            f"{mean_share(policy, eval_prompts, data.decode):>7.3f} "
            f"{win:>6.3f} {time.perf_counter() - started:>7.1f}",
            flush=True,
        )
        # On stderr: stdout is the table. The same prompt, both models.
        sample = alignment.sample_completions(policy, eval_prompts[:1], COMPLETION, 1)
        reference = alignment.sample_completions(sft, eval_prompts[:1], COMPLETION, 1)
        print(
            f"beta {beta}: prompt {data.decode(eval_prompts[0])!r}, sft "
            f"{data.decode(reference[0])!r}, dpo {data.decode(sample[0])!r}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
