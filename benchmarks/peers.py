"""Benchmark: Keras on each backend against a hand-written PyTorch loop.

The question users ask: "is Keras on backend X as fast as the PyTorch loop I
would write myself?". For four workloads, built with kerasdl on the Keras side
and written by hand in plain PyTorch (an `nn.Module` with the same layer
shapes and a standard loop: zero_grad, forward, loss, backward, step):

- mlp: `kerasdl.build("mlp")` 784-512-512-10, batch 128;
- lenet5: `kerasdl.build("lenet5")` on 32x32x1, batch 128;
- resnet20: `kerasdl.build("resnet20")` (CIFAR, 32x32x3, option-A shortcuts),
  batch 128;
- gpt: `kerasdl.build("gpt")` with 2 layers, d_model 128, 4 heads,
  feed-forward 512, sequence 64, a 65-character vocabulary, tied embeddings,
  batch 16.

Like for like: the first Keras arm to run builds each model (seed 0) and
saves its initial weights; every arm starts from them (the PyTorch modules take
them as numpy arrays: conv kernels HWIO -> OIHW, dense kernels transposed,
batch-norm gamma/beta/moving statistics, embedding and attention weights),
the same optimizer (SGD with momentum 0.9 at 0.01 for the image models,
Adam at 1e-3 with epsilon 1e-8 for the GPT) and the same seeded synthetic
batch. The script prints both parameter counts per model and refuses
(MISMATCH, exit code 1) when they differ; it prints the loss of the first and
of the last step of every arm and says whether the last one agrees with the
PyTorch loop's (relative difference under 5%).

Arms: Keras on tensorflow / jax / torch with `model.compile(jit_compile=True)`
and `False` (on torch, jit is torch.compile through Keras), Keras on torch
with `data_format="channels_first"` for the CNNs as well as channels_last,
and the hand-written PyTorch loop eager and under `torch.compile`. A cell
that fails (e.g. a compiler that does not run on this machine) shows the
reason. Keras arms time `model.train_on_batch(x, y)` on one fixed batch (no
`fit`, no dataset: both sides run the same per-step Python loop); the
PyTorch arms time the loop. Each round starts one fresh worker process per
arm (one backend per process, benchmarks/_workers.py) that runs every model:
build, compile, `--warmup` untimed steps (tracing and compilation), then
`--steps` timed steps. Rounds are interleaved (every round runs every arm
once) and the arm order reverses every other round, so drift in machine load
hits every arm alike. The table gives the median ms/step over rounds and the
median over rounds of the per-round ratio to the PyTorch loop (eager) of the
same round; peak memory is kerasdl._memory.PeakMemory's growth of the
worker's RSS over the model's block (build, compile, steps), so the
framework's own import is not counted.

Usage:
    python benchmarks/peers.py                           # everything
    python benchmarks/peers.py --models resnet20 --rounds 5
    python benchmarks/peers.py --backends torch --models lenet5 resnet20
    python benchmarks/peers.py --quick                   # smoke test
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import re
import statistics
import sys
import tempfile
import time

# The worker runner next to this script (benchmarks/ is sys.path[0]).
import _workers
import numpy as np

SEED = 0
# Relative difference of the last losses under which an arm "agrees".
LOSS_TOLERANCE = 0.05
PYTORCH_LOOP = "pytorch loop"

# name -> what both sides build. "cnn": has a channels_first variant.
MODELS = {
    "mlp": {
        "builder": "mlp",
        "options": {
            "input_shape": (784,),
            "hidden_units": [512, 512],
            "num_classes": 10,
        },
        "batch": 128,
        "cnn": False,
    },
    "lenet5": {
        "builder": "lenet5",
        "options": {"input_shape": (32, 32, 1), "num_classes": 10},
        "batch": 128,
        "cnn": True,
    },
    "resnet20": {
        "builder": "resnet20",
        "options": {"input_shape": (32, 32, 3), "num_classes": 10},
        "batch": 128,
        "cnn": True,
    },
    "gpt": {
        "builder": "gpt",
        "options": {
            "vocabulary_size": 65,
            "max_sequence_length": 64,
            "num_layers": 2,
            "num_heads": 4,
            "hidden_dim": 128,
            "intermediate_dim": 512,
            "dropout": 0.0,
        },
        "batch": 16,
        "cnn": False,
    },
}
SGD = {"learning_rate": 0.01, "momentum": 0.9}
ADAM = {"learning_rate": 1e-3, "epsilon": 1e-8}


def _uses_adam(name: str) -> bool:
    return name == "gpt"


# ---------------------------------------------------------------- data
def _data(name: str, batch_size: int, channels_first: bool = False):
    """The seeded synthetic batch of `name`: (x, y) numpy arrays.

    Images are NHWC unless `channels_first`; the GPT's targets are its inputs
    shifted by one token.
    """
    spec = MODELS[name]
    rng = np.random.default_rng(SEED)
    if name == "gpt":
        options = spec["options"]
        tokens = rng.integers(
            0,
            options["vocabulary_size"],
            (batch_size, options["max_sequence_length"] + 1),
        ).astype("int32")
        return tokens[:, :-1], tokens[:, 1:]
    x = rng.random((batch_size, *spec["options"]["input_shape"]), dtype="float32")
    y = rng.integers(0, spec["options"]["num_classes"], batch_size).astype("int32")
    if channels_first:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, y


def _weights_file(directory: str, name: str) -> str:
    return os.path.join(directory, f"{name}.npz")


def _key(path: str) -> str:
    # Variable paths ("conv1_bn/gamma") as npz keys.
    return path.replace("/", "__")


def _error(exc: BaseException) -> str:
    # Keras wraps a layer's error: "Exception encountered when calling ..."
    # then the reason (in ANSI bold); the reason is the line worth showing.
    lines = [
        re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.startswith("Exception encountered")
    ]
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


# ---------------------------------------------------------------- Keras side
def _build_keras(name: str, layout: str):
    import keras

    import kerasdl

    spec = MODELS[name]
    options = dict(spec["options"])
    if spec["cnn"]:
        options["data_format"] = layout
        if layout == "channels_first":
            height, width, channels = options["input_shape"]
            options["input_shape"] = (channels, height, width)
    keras.utils.set_random_seed(SEED)
    return kerasdl.build(spec["builder"], **options)


def _keras_counts(model) -> dict:
    return {
        "trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "total": int(model.count_params()),
    }


def _shared_weights(model, path: str):
    """The initial weights every arm starts from: {key: array}.

    The first Keras arm to run saves its freshly built model's weights to
    `path`; every later arm (and the PyTorch loop) loads them, so all arms
    start alike whatever each backend's random initializers would draw.
    """
    if not os.path.exists(path):
        partial = path + ".partial.npz"
        np.savez(
            partial, **{_key(w.path): np.asarray(w.numpy()) for w in model.weights}
        )
        os.replace(partial, path)
    return np.load(path)


def _time_steps(step, warmup: int, steps: int) -> dict:
    """Runs `step()` (returns the loss as a float) warmup + steps times."""
    first = step()
    last = first
    for _ in range(warmup - 1):
        last = step()
    start = time.perf_counter()
    for _ in range(steps):
        last = step()
    ms = (time.perf_counter() - start) / steps * 1000.0
    return {"ms": ms, "first_loss": first, "loss": last}


def _keras_model_run(name: str, args) -> dict:
    import keras

    model = _build_keras(name, args.layout)
    saved = _shared_weights(model, _weights_file(args.dir, name))
    for weight in model.weights:
        weight.assign(saved[_key(weight.path)])
    if _uses_adam(name):
        optimizer = keras.optimizers.Adam(**ADAM)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        optimizer = keras.optimizers.SGD(**SGD)
        loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, jit_compile=args.jit == "on")
    x, y = _data(name, MODELS[name]["batch"], args.layout == "channels_first")
    timed = _time_steps(
        lambda: float(model.train_on_batch(x, y)), args.warmup, args.steps
    )
    return {**timed, "params": _keras_counts(model)}


# ---------------------------------------------------------------- PyTorch side
def _torch_modules():
    """The hand-written PyTorch models: name -> nn.Module class.

    Each class takes the Keras model's options and has `load_keras(weights)`
    that copies a Keras model's initial weights (a mapping from variable path
    keys to numpy arrays) into it. The modules return logits; the loop's loss
    is `F.cross_entropy`.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    def put(param, array):
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(array)))

    def put_dense(layer, w, prefix):
        put(layer.weight, w[f"{prefix}__kernel"].T)  # (in, out) -> (out, in)
        if layer.bias is not None:
            put(layer.bias, w[f"{prefix}__bias"])

    def put_conv(layer, w, prefix):
        put(layer.weight, w[f"{prefix}__kernel"].transpose(3, 2, 0, 1))  # HWIO->OIHW
        if layer.bias is not None:
            put(layer.bias, w[f"{prefix}__bias"])

    def put_norm(layer, w, prefix):
        put(layer.weight, w[f"{prefix}__gamma"])
        put(layer.bias, w[f"{prefix}__beta"])
        if isinstance(layer, nn.BatchNorm2d):
            put(layer.running_mean, w[f"{prefix}__moving_mean"])
            put(layer.running_var, w[f"{prefix}__moving_variance"])

    def batch_norm(channels):
        # Keras' BatchNormalization defaults in resnet20: epsilon 1.001e-5,
        # moving averages kept with momentum 0.99 (torch counts 1 - that).
        return nn.BatchNorm2d(channels, eps=1.001e-5, momentum=0.01)

    class MLP(nn.Module):
        def __init__(self, input_shape, hidden_units, num_classes):
            super().__init__()
            sizes = [input_shape[0], *hidden_units]
            self.hidden = nn.ModuleList(
                nn.Linear(a, b) for a, b in itertools.pairwise(sizes)
            )
            self.predictions = nn.Linear(sizes[-1], num_classes)

        def forward(self, x):
            for layer in self.hidden:
                x = F.relu(layer(x))
            return self.predictions(x)

        def load_keras(self, w):
            for i, layer in enumerate(self.hidden, start=1):
                put_dense(layer, w, f"dense{i}")
            put_dense(self.predictions, w, "predictions")

    class LeNet5(nn.Module):
        def __init__(self, input_shape, num_classes):
            super().__init__()
            self.c1 = nn.Conv2d(input_shape[-1], 6, 5)
            self.c3 = nn.Conv2d(6, 16, 5)
            self.c5 = nn.Conv2d(16, 120, 5)
            self.f6 = nn.Linear(120, 84)
            self.predictions = nn.Linear(84, num_classes)

        def forward(self, x):  # x: (batch, 1, 32, 32)
            x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)  # (batch, 6, 14, 14)
            x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)  # (batch, 16, 5, 5)
            x = torch.tanh(self.c5(x)).flatten(1)  # (batch, 120)
            return self.predictions(torch.tanh(self.f6(x)))

        def load_keras(self, w):
            for name in ("c1", "c3", "c5"):
                put_conv(getattr(self, name), w, name)
            put_dense(self.f6, w, "f6")
            put_dense(self.predictions, w, "predictions")

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = batch_norm(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = batch_norm(cout)
            self.stride, self.pad = stride, (cout - cin) // 2

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x
            if self.stride > 1:  # option A: subsample, zero-pad the channels
                shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
            return F.relu(out + shortcut)

    class ResNet20(nn.Module):
        def __init__(self, input_shape, num_classes, depth=20):
            super().__init__()
            self.conv = nn.Conv2d(input_shape[-1], 16, 3, 1, 1, bias=False)
            self.bn = batch_norm(16)
            blocks, cin = [], 16
            self.names = []
            for stage, cout in enumerate((16, 32, 64)):
                for block in range((depth - 2) // 6):
                    stride = 2 if stage > 0 and block == 0 else 1
                    blocks.append(BasicBlock(cin, cout, stride))
                    self.names.append(f"conv{stage + 2}_block{block + 1}")
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.predictions = nn.Linear(64, num_classes)

        def forward(self, x):  # x: (batch, 3, 32, 32)
            x = self.blocks(F.relu(self.bn(self.conv(x))))  # (batch, 64, 8, 8)
            return self.predictions(x.mean(dim=(2, 3)))

        def load_keras(self, w):
            put_conv(self.conv, w, "conv1_conv")
            put_norm(self.bn, w, "conv1_bn")
            for prefix, block in zip(self.names, self.blocks, strict=True):
                for i in (1, 2):
                    put_conv(getattr(block, f"conv{i}"), w, f"{prefix}_{i}_conv")
                    put_norm(getattr(block, f"bn{i}"), w, f"{prefix}_{i}_bn")
            put_dense(self.predictions, w, "predictions")

    class DecoderBlock(nn.Module):
        """Pre-norm GPT block: x + attn(ln(x)), then x + ffn(ln(x))."""

        def __init__(self, hidden, heads, intermediate, epsilon):
            super().__init__()
            self.heads = heads
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
            self.attention_output = nn.Linear(hidden, hidden)
            self.attention_norm = nn.LayerNorm(hidden, eps=epsilon)
            self.ffn_intermediate = nn.Linear(hidden, intermediate)
            self.ffn_output = nn.Linear(intermediate, hidden)
            self.ffn_norm = nn.LayerNorm(hidden, eps=epsilon)

        def forward(self, x):  # x: (batch, seq, hidden)
            batch, seq, hidden = x.shape
            y = self.attention_norm(x)

            def split(t):  # (batch, seq, hidden) -> (batch, heads, seq, head_dim)
                return t.view(batch, seq, self.heads, -1).transpose(1, 2)

            q, k, v = split(self.query(y)), split(self.key(y)), split(self.value(y))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).reshape(batch, seq, hidden)
            x = x + self.attention_output(y)
            y = F.gelu(self.ffn_intermediate(self.ffn_norm(x)), approximate="tanh")
            return x + self.ffn_output(y)

        def load_keras(self, w, prefix):
            for name in ("query", "key", "value", "attention_output"):
                put_dense(getattr(self, name), w, f"{prefix}__self_attention__{name}")
            put_norm(self.attention_norm, w, f"{prefix}__self_attention_norm")
            put_dense(self.ffn_intermediate, w, f"{prefix}__ffn_intermediate")
            put_dense(self.ffn_output, w, f"{prefix}__ffn_output")
            put_norm(self.ffn_norm, w, f"{prefix}__ffn_norm")

    class GPT(nn.Module):
        def __init__(
            self,
            vocabulary_size,
            max_sequence_length,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            dropout,
            epsilon=1e-5,
        ):
            super().__init__()
            del dropout  # 0 in this benchmark: no dropout layers at all
            self.token_embedding = nn.Embedding(vocabulary_size, hidden_dim)
            self.position_embedding = nn.Embedding(max_sequence_length, hidden_dim)
            self.blocks = nn.ModuleList(
                DecoderBlock(hidden_dim, num_heads, intermediate_dim, epsilon)
                for _ in range(num_layers)
            )
            self.final_norm = nn.LayerNorm(hidden_dim, eps=epsilon)

        def forward(self, tokens):  # tokens: (batch, seq) int64
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            x = self.token_embedding(tokens) + self.position_embedding(positions)
            for block in self.blocks:
                x = block(x)
            # Tied head: logits against the token embedding table.
            return self.final_norm(x) @ self.token_embedding.weight.T

        def load_keras(self, w):
            put(self.token_embedding.weight, w["token_embedding__embeddings"])
            put(self.position_embedding.weight, w["position_embedding__embeddings"])
            for i, block in enumerate(self.blocks, start=1):
                block.load_keras(w, f"decoder_block{i}")
            put_norm(self.final_norm, w, "final_norm")

    return {"mlp": MLP, "lenet5": LeNet5, "resnet20": ResNet20, "gpt": GPT}


def _torch_counts(net) -> dict:
    trainable = sum(p.numel() for p in net.parameters())
    # Batch-norm moving statistics are weights in Keras, buffers in torch
    # (num_batches_tracked has no Keras counterpart).
    buffers = sum(
        b.numel()
        for n, b in net.named_buffers()
        if not n.endswith("num_batches_tracked")
    )
    return {"trainable": int(trainable), "total": int(trainable + buffers)}


def _pytorch_model_run(name: str, args) -> dict:
    import torch
    from torch.nn import functional as F

    torch.manual_seed(SEED)
    net = _torch_modules()[name](**MODELS[name]["options"])
    net.load_keras(np.load(_weights_file(args.dir, name)))
    net.train()
    if _uses_adam(name):
        optimizer = torch.optim.Adam(
            net.parameters(), lr=ADAM["learning_rate"], eps=ADAM["epsilon"]
        )
    else:
        optimizer = torch.optim.SGD(
            net.parameters(), lr=SGD["learning_rate"], momentum=SGD["momentum"]
        )
    forward = torch.compile(net) if args.jit == "on" else net
    x, y = _data(name, MODELS[name]["batch"], channels_first=MODELS[name]["cnn"])
    x = torch.from_numpy(x).long() if name == "gpt" else torch.from_numpy(x)
    y = torch.from_numpy(y).long()

    def step() -> float:
        optimizer.zero_grad()
        logits = forward(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    timed = _time_steps(step, args.warmup, args.steps)
    return {**timed, "params": _torch_counts(net)}


# ---------------------------------------------------------------- workers
def _worker(args) -> dict:
    import importlib

    from kerasdl._memory import PeakMemory

    # Frameworks load before the first model's block: its peak memory is the
    # model's, not the import's.
    importlib.import_module("torch" if args.role == "pytorch" else "kerasdl")
    run = _pytorch_model_run if args.role == "pytorch" else _keras_model_run
    result = {}
    for name in args.models:
        keras_nchw = args.role == "keras" and args.layout == "channels_first"
        if keras_nchw and not MODELS[name]["cnn"]:
            continue
        try:
            with PeakMemory() as peak:
                result[name] = run(name, args)
            result[name]["peak_mb"] = peak.growth_bytes / 2**20
        except Exception as exc:  # a failing cell shows why, others go on
            result[name] = {"error": _error(exc)}
        gc.collect()
    return result


def _arms(args) -> list[dict]:
    """Every arm: label, backend of its process, role, jit, layout."""
    arms = []
    jits = args.jit_modes
    for backend in args.backends:
        layouts = (
            ("channels_last", "channels_first")
            if backend == "torch"
            else ("channels_last",)
        )
        for layout in layouts:
            for jit in jits:
                label = f"keras {backend} jit={jit}"
                if backend == "torch":
                    label += " NCHW" if layout == "channels_first" else " NHWC"
                arms.append(
                    {
                        "label": label,
                        "backend": backend,
                        "role": "keras",
                        "jit": jit,
                        "layout": layout,
                    }
                )
    for jit in jits:
        label = PYTORCH_LOOP + (" torch.compile" if jit == "on" else "")
        arms.append(
            {
                "label": label,
                "backend": "torch",
                "role": "pytorch",
                "jit": jit,
                "layout": "channels_first",
            }
        )
    return arms


def _worker_args(arm: dict, args, directory: str) -> list[str]:
    return [
        "--role", arm["role"], "--jit", arm["jit"], "--layout", arm["layout"],
        "--models", *args.models, "--steps", str(args.steps),
        "--warmup", str(args.warmup), "--dir", directory,
    ]  # fmt: skip


# ---------------------------------------------------------------- report
def _count_text(counts: dict | None) -> str:
    return f"{counts['trainable']:,} / {counts['total']:,}" if counts else "n/a"


def _mb(value) -> str:
    return f"{value:.0f}" if value is not None else "-"


def _agree(loss: float, reference: float | None) -> str:
    if reference is None:
        return "-"
    relative = abs(loss - reference) / max(abs(reference), 1e-12)
    return f"{'yes' if relative < LOSS_TOLERANCE else 'NO'} ({relative * 100:.1f}%)"


def _model_table(name: str, arms: list[dict], runs: dict) -> tuple[list[str], dict]:
    """One model's table; returns its lines and {label: ratio} of Keras arms."""
    reference = runs[PYTORCH_LOOP]
    ref_ok = [r.get(name, {}) for r in reference]
    ref_loss = next((r["loss"] for r in ref_ok if "loss" in r), None)
    header = f"{'arm':<30}{'ms/step':>9}{'ratio':>8}{'peak MB':>9}{'loss@1':>9}{'loss@N':>9}  loss agree"
    lines, ratios = [header], {}
    for arm in arms:
        cells = [r.get(name) for r in runs[arm["label"]]]
        if all(c is None for c in cells):
            continue  # not applicable (channels_first for a dense model)
        done = [c for c in cells if c and "ms" in c]
        if not done:
            error = next((c["error"] for c in cells if c and "error" in c), "no result")
            lines.append(f"{arm['label']:<30}  failed: {error}")
            continue
        ms = statistics.median(c["ms"] for c in done)
        per_round = [
            c["ms"] / ref["ms"]
            for c, ref in zip(cells, ref_ok, strict=True)
            if c and "ms" in c and "ms" in ref
        ]
        ratio = statistics.median(per_round) if per_round else None
        if ratio is not None and arm["role"] == "keras":
            ratios[arm["label"]] = ratio
        lines.append(
            f"{arm['label']:<30}{ms:>9.1f}"
            + (f"{ratio:>7.2f}x" if ratio is not None else f"{'-':>8}")
            + f"{_mb(statistics.median(c['peak_mb'] for c in done)):>9}"
            + f"{done[0]['first_loss']:>9.4f}{done[0]['loss']:>9.4f}  "
            + _agree(done[0]["loss"], ref_loss)
        )
    return lines, ratios


def _summary(name: str, ratios: dict) -> str:
    if not ratios:
        return f"{name}: no Keras arm has a ratio to the PyTorch loop."
    best = min(ratios, key=ratios.get)
    text = f"{name}: best Keras arm {best} at {ratios[best]:.2f}x the PyTorch loop"
    torch_arms = {k: v for k, v in ratios.items() if k.startswith("keras torch ")}
    if torch_arms:
        best_torch = min(torch_arms, key=torch_arms.get)
        text += (
            f"; Keras on PyTorch at best {best_torch} at {torch_arms[best_torch]:.2f}x"
        )
    return text + "."


def _counts(runs: dict, labels, name: str) -> dict | None:
    """The parameter counts of `name` from the first arm that built it."""
    for label in labels:
        for cell in runs[label]:
            if "params" in cell.get(name, {}):
                return cell[name]["params"]
    return None


def report(arms: list[dict], runs: dict, args) -> tuple[str, bool]:
    """The tables and summary lines; returns (text, parameter counts match)."""
    out = [
        f"Keras vs a hand-written PyTorch loop: {args.rounds} interleaved round(s), "
        f"{args.warmup} warm-up + {args.steps} timed steps per arm and round "
        f"({platform.machine()}, {os.cpu_count()} CPUs).",
        "Keras arms time model.train_on_batch on one fixed batch; ratio = median "
        "over rounds of (arm / PyTorch loop eager, same round); peak MB = growth "
        f"of the worker's RSS over the model's block; loss@N = loss of step "
        f"{args.warmup + args.steps}; loss agree: |loss@N - PyTorch loop's| / "
        f"PyTorch loop's < {LOSS_TOLERANCE:.0%}.",
    ]
    matched, summaries = True, []
    for name in args.models:
        spec = MODELS[name]
        keras_counts = _counts(
            runs, [a["label"] for a in arms if a["role"] == "keras"], name
        )
        torch_counts = _counts(runs, [PYTORCH_LOOP], name)
        same = torch_counts == keras_counts
        matched &= same or None in (torch_counts, keras_counts)
        out += [
            "",
            f"== {name} (kerasdl.build({spec['builder']!r}), batch {spec['batch']}) ==",
            f"parameters (trainable / with batch-norm statistics): keras "
            f"{_count_text(keras_counts)}; pytorch {_count_text(torch_counts)}"
            + ("" if same or None in (torch_counts, keras_counts) else "  MISMATCH"),
        ]
        lines, ratios = _model_table(name, arms, runs)
        out += lines
        summaries.append(_summary(name, ratios))
    out += ["", "Summary (ratio to the hand-written PyTorch loop; below 1: faster):"]
    out += summaries
    return "\n".join(out), matched


# ---------------------------------------------------------------- driver
def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _workers.add_backends_argument(parser)
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=list(MODELS)
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per arm")
    parser.add_argument(
        "--jit-modes",
        nargs="+",
        default=["on", "off"],
        choices=["on", "off"],
        help="model.compile(jit_compile=...) of the Keras arms; torch.compile "
        "of the PyTorch loop",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="mlp + lenet5, tensorflow (jit off) + the PyTorch loop, 1 round",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per worker"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=("keras", "pytorch"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--jit", choices=("on", "off"), default="off", help=argparse.SUPPRESS
    )
    parser.add_argument("--layout", default="channels_last", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.backends = ["mlp", "lenet5"], ["tensorflow"]
        args.jit_modes = ["off"]
        args.rounds, args.steps, args.warmup = 1, 2, 1
    for option in ("rounds", "steps", "warmup"):
        if getattr(args, option) < 1:
            parser.error(
                f"--{option} must be at least 1; received {getattr(args, option)}"
            )
    return args


def main(argv=None) -> int:
    args = _parse(argv)
    if args.worker:
        _workers.emit(_worker(args))
        return 0
    arms = _arms(args)
    with tempfile.TemporaryDirectory(prefix="kerasdl_peers_") as directory:
        runs = {arm["label"]: [] for arm in arms}
        for round_ in range(args.rounds):
            for arm in arms if round_ % 2 == 0 else arms[::-1]:
                result = _workers.run_worker(
                    __file__,
                    arm["backend"],
                    _worker_args(arm, args, directory),
                    args.timeout,
                )
                if "error" in result:  # the whole worker failed: every cell says why
                    result = {name: {"error": result["error"]} for name in args.models}
                runs[arm["label"]].append(result)
                print(
                    f"round {round_ + 1}/{args.rounds}: {arm['label']} done", flush=True
                )
    text, matched = report(arms, runs, args)
    print(text)
    if not matched:
        print(
            "MISMATCH: a hand-written PyTorch model's parameter count differs from Keras'."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
