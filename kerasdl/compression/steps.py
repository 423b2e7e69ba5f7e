"""The compression steps of a run config: their names, keys and checks.

A run config's `compression` section (see `kerasdl.runconfig`) is an ordered
list of one-key mappings, step name -> options::

    compression:
      - prune: {final_sparsity: 0.8, epochs: 4}
      - qat: {epochs: 2}

`check_steps` validates the whole list (pure Python: nothing is built or
trained); `finetune_config` turns a step's fine-tuning keys into the
Trainer's `TrainingConfig` dict, so every step fine-tunes with the Trainer's
optimizer and schedule vocabulary (`optimizer: {name: sgd, momentum: 0.9}`,
`learning_rate: {name: cosine, ...}`).
"""

from __future__ import annotations

from kerasdl._checks import check_choice, check_float, check_int, closest, invalid

__all__ = ["FINAL_STEPS", "STEPS", "check_steps", "finetune_config"]

WHERE = "run config value"

FINETUNE_KEYS = ("epochs", "batch_size", "optimizer", "learning_rate")
#: Step name -> accepted keys.
STEPS: dict[str, tuple[str, ...]] = {
    "prune": (
        "final_sparsity",
        "schedule",
        "initial_sparsity",
        "begin_step",
        "end_step",
        "frequency",
        "power",
        "block_size",
        "sparsity_m_by_n",
        "layers",
        "scope",
        *FINETUNE_KEYS,
    ),
    "cluster": (
        "number_of_clusters",
        "cluster_centroids_init",
        "layers",
        *FINETUNE_KEYS,
    ),
    "qat": ("layers", *FINETUNE_KEYS),
    "distill": (
        "student",
        "temperature",
        "alpha",
        "logits_weight",
        "features",
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "lr",
        "from_logits",
        "verbose",
    ),
    "ptq": (
        "mode",
        "layers",
        "batch_size",
        "block_size",
        "calibration_data",
        "weight_bits",
        "group_size",
        "num_samples",
        "hessian_damping",
        "symmetric",
        "activation_order",
    ),
    "lora": ("rank", "alpha", "layers", *FINETUNE_KEYS),
}
_REQUIRED = {
    "prune": "final_sparsity",
    "cluster": "number_of_clusters",
    "distill": "student",
    "ptq": "mode",
    "lora": "rank",
}
#: Steps that quantize the model for good: each must be the last step.
FINAL_STEPS = ("qat", "ptq")
_PTQ_MODES = ("int8", "int4", "float8", "gptq")
_SCHEDULES = ("polynomial", "constant")
#: Fine-tuning defaults of prune, cluster, qat and lora.
DEFAULT_FINETUNE = {"epochs": 2, "batch_size": 32, "learning_rate": 5e-4}


def check_keys(data, accepted, path: str) -> None:
    """Raises for a non-mapping or a key not in `accepted` (dotted path, closest)."""
    if not isinstance(data, dict):
        raise invalid(path or "config", data, "a mapping", where=WHERE)
    for key in data:
        if key not in accepted:
            where = f"of '{path}'" if path else "at the top level"
            dotted = f"{path}.{key}" if path else str(key)
            raise ValueError(
                f"Unknown run config key {dotted!r}.{closest(str(key), accepted)} "
                f"Accepted keys {where}: {', '.join(accepted)}."
            )


def finetune_config(options: dict, seed) -> dict:
    """The `TrainingConfig` dict of a step's fine-tuning keys.

    Args:
        options: dict. The step's options (only `epochs`, `batch_size`,
            `optimizer` and `learning_rate` are read).
        seed: int or None. The run's seed.

    Returns:
        dict: a `kerasdl.training.TrainingConfig` dict (silent, seeded).
    """
    settings = {
        **DEFAULT_FINETUNE,
        **{k: options[k] for k in FINETUNE_KEYS if k in options},
    }
    optimizer = settings.pop("optimizer", "adam")
    learning_rate = settings.pop("learning_rate")
    if isinstance(optimizer, str):
        optimizer = {"name": optimizer, "learning_rate": learning_rate}
    elif isinstance(optimizer, dict):
        optimizer = {"learning_rate": learning_rate, **optimizer}
    return {
        "seed": seed,
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "optimizer": optimizer,
        "verbose": 0,
    }


def _check_finetune(path: str, options: dict, seed) -> None:
    """Validates fine-tuning keys through TrainingConfig's own checks."""
    from kerasdl.training import TrainingConfig

    if "epochs" in options:
        check_int(f"{path}.epochs", options["epochs"], 0, where=WHERE)
    optimizer = options.get("optimizer")
    if (
        isinstance(optimizer, dict)
        and "learning_rate" in optimizer
        and "learning_rate" in options
    ):
        raise ValueError(
            f"{path}: give the learning rate once, as {path}.learning_rate or "
            f"{path}.optimizer.learning_rate; received both."
        )
    if "learning_rate" in options and not isinstance(options["learning_rate"], dict):
        # A float here; a schedule mapping is checked by TrainingConfig below.
        check_float(
            f"{path}.learning_rate",
            options["learning_rate"],
            0,
            min_inclusive=False,
            where=WHERE,
        )
    try:
        TrainingConfig.from_dict(finetune_config(options, seed))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _check_options(name: str, options: dict, path: str, seed) -> None:
    if name == "prune":
        check_float(
            f"{path}.final_sparsity",
            options["final_sparsity"],
            0,
            1,
            max_inclusive=False,
            where=WHERE,
        )
        if "initial_sparsity" in options:
            check_float(
                f"{path}.initial_sparsity",
                options["initial_sparsity"],
                0,
                1,
                max_inclusive=False,
                where=WHERE,
            )
        check_choice(
            f"{path}.schedule",
            options.get("schedule", "polynomial"),
            _SCHEDULES,
            where=WHERE,
        )
        for key, minimum in (("begin_step", 0), ("frequency", 1), ("end_step", -1)):
            if key in options:
                check_int(f"{path}.{key}", options[key], minimum, where=WHERE)
        if "power" in options:
            check_float(
                f"{path}.power", options["power"], 0, min_inclusive=False, where=WHERE
            )
        check_choice(
            f"{path}.scope",
            options.get("scope", "layer"),
            ("layer", "global"),
            where=WHERE,
        )
    elif name == "cluster":
        check_int(
            f"{path}.number_of_clusters",
            options["number_of_clusters"],
            2,
            where=WHERE,
        )
    elif name == "ptq":
        check_choice(f"{path}.mode", options["mode"], _PTQ_MODES, where=WHERE)
    elif name == "lora":
        check_int(f"{path}.rank", options["rank"], 1, where=WHERE)
        if "alpha" in options:
            check_float(
                f"{path}.alpha", options["alpha"], 0, min_inclusive=False, where=WHERE
            )
    elif name == "distill":
        student = options["student"]
        if not isinstance(student, (str, dict)):
            raise invalid(
                f"{path}.student",
                student,
                "a model spec (a name or a mapping)",
                where=WHERE,
            )
        from kerasdl.compression.distillation import load_config

        try:
            load_config({k: v for k, v in options.items() if k != "student"})
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if name in ("prune", "cluster", "qat", "lora"):
        _check_finetune(path, options, seed)


def _check_step(index: int, step, seed, section: str) -> tuple[str, dict]:
    path = f"{section}[{index}]"
    if not isinstance(step, dict) or len(step) != 1:
        raise invalid(
            path,
            step,
            f"a mapping with one step name ({', '.join(STEPS)}) to its options, "
            "e.g. {prune: {final_sparsity: 0.8, epochs: 2}}",
            where=WHERE,
        )
    ((name, options),) = step.items()
    if name not in STEPS:
        raise ValueError(
            f"Unknown compression step {name!r} at {path}.{closest(str(name), STEPS)} "
            f"Accepted steps: {', '.join(STEPS)}."
        )
    path = f"{path}.{name}"
    options = {} if options is None else options
    check_keys(options, STEPS[name], path)
    required = _REQUIRED.get(name)
    if required and required not in options:
        raise ValueError(f"{path}: missing required key {required!r}.")
    _check_options(name, options, path, seed)
    return name, dict(options)


def check_steps(steps, seed=0, section: str = "compression") -> list[dict]:
    """Validates an ordered list of compression steps.

    Args:
        steps: list of one-key mappings {step name: options}.
        seed: int or None. The run's seed (fine-tuning configs are checked
            with it).
        section: str. The config key the list sits under, for messages.

    Returns:
        list of dict: a copy, one {name: options} mapping per step.

    Raises:
        ValueError: naming the dotted key (e.g.
            "compression[1].prune.final_sparsity"), the value received and
            what is accepted; or when a quantizing step (qat, ptq) is not last.

    Example:
    >>> check_steps([{"prune": {"final_sparsity": 0.5}}, {"qat": {}}])
    """
    if not isinstance(steps, list) or not steps:
        raise invalid(
            section,
            steps,
            f"a non-empty list of steps ({', '.join(STEPS)}). To train and export "
            "without compression, use `kerasdl train`",
            where=WHERE,
        )
    resolved = []
    for index, step in enumerate(steps):
        name, options = _check_step(index, step, seed, section)
        resolved.append({name: options})
    names = [next(iter(s)) for s in resolved]
    for index, name in enumerate(names):
        if name in FINAL_STEPS and index != len(names) - 1:
            raise ValueError(
                f"{section}[{index}].{name} quantizes the model; it must be the last "
                f"step (found {names[index + 1]!r} after it). Steps: {names}."
            )
    return resolved
