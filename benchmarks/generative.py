"""Benchmark: sampling speed of a GAN, DDPM and DDIM, per backend, side by side.

For each backend (one worker subprocess per backend: the Keras backend is
fixed per process) it builds, untrained and with the same seed, a `dcgan`
and a class-conditional `ddpm` for 16x16x1 images (the sizes the learning
tests use), and times:

- GAN: `generate(n)`, one generator pass per batch;
- DDPM: ancestral sampling over all `timesteps` steps;
- DDIM: 50 steps (at most `timesteps`), eta = 0.

Each is run once to warm up (tracing/compilation) and then timed `repeats`
times; the table gives the median images per second, and the last column
the DDIM/DDPM speed ratio (which should be about timesteps / 50: both run
the same network per step). Untrained weights cost the same time as
trained ones.

Usage:
    python benchmarks/generative.py                   # all backends
    python benchmarks/generative.py --backends tensorflow jax
    python benchmarks/generative.py --quick           # seconds: smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time

# The worker runner next to this script (benchmarks/ is sys.path[0]).
import _workers

_BACKEND_PACKAGES = _workers.BACKEND_PACKAGES

IMAGE_SHAPE = (16, 16, 1)


def _time(fn, repeats: int) -> float:
    fn()  # warm-up: tracing / compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _worker(args) -> int:
    import keras

    import kerasdl
    from kerasdl.generation import diffusion  # noqa: F401  installs the sampler

    keras.utils.set_random_seed(0)
    n, timesteps = args.images, args.timesteps
    gan = kerasdl.build("dcgan", image_shape=IMAGE_SHAPE)
    ddpm = kerasdl.build(
        "ddpm",
        image_shape=IMAGE_SHAPE,
        num_classes=10,
        channels=16,
        channel_multipliers=(1, 2),
        attention_resolutions=(),  # as recipes/ch10_generative.py's DDPM
        timesteps=timesteps,
    )
    ddim_steps = min(50, timesteps)
    labels = [i % 10 for i in range(n)]
    seconds = {
        "gan": _time(lambda: gan.generate(n, seed=0), args.repeats),
        "ddpm": _time(lambda: ddpm.generate(n, labels=labels, seed=0), args.repeats),
        "ddim": _time(
            lambda: ddpm.generate(
                n, labels=labels, seed=0, sampler="ddim", steps=ddim_steps
            ),
            args.repeats,
        ),
    }
    result = {
        "images_per_s": {k: n / v for k, v in seconds.items()},
        "ddim_steps": ddim_steps,
        "ddpm_params": ddpm.count_params(),
    }
    _workers.emit(result)
    return 0


def _run_worker(backend: str, args) -> dict:
    """Runs one backend's worker; returns its result or {"error": reason}."""
    if importlib.util.find_spec(_BACKEND_PACKAGES[backend]) is None:
        return {"error": "not installed"}
    worker_args = [
        "--images",
        str(args.images),
        "--timesteps",
        str(args.timesteps),
        "--repeats",
        str(args.repeats),
    ]
    return _workers.run_worker(__file__, backend, worker_args, args.timeout)


def _table(results: dict, args) -> str:
    header = [
        "backend",
        "GAN img/s",
        f"DDPM ({args.timesteps} steps) img/s",
        f"DDIM ({min(50, args.timesteps)} steps) img/s",
        "DDIM/DDPM",
    ]
    rows = []
    for backend, result in results.items():
        if "error" in result:
            rows.append([backend, result["error"], "", "", ""])
            continue
        speed = result["images_per_s"]
        rows.append(
            [
                backend,
                f"{speed['gan']:.1f}",
                f"{speed['ddpm']:.2f}",
                f"{speed['ddim']:.2f}",
                f"{speed['ddim'] / speed['ddpm']:.1f}x",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in [header, *rows]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    _workers.add_backends_argument(parser)
    parser.add_argument("--images", type=int, default=64, help="images per call")
    parser.add_argument(
        "--timesteps",
        type=int,
        default=1000,
        help="DDPM training timesteps (= ancestral sampler steps)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per backend worker"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="8 images, 20 timesteps, 1 repeat: a smoke test",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    """Runs the benchmark (or, with --worker, one backend's measurements)."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.images, args.timesteps, args.repeats = 8, 20, 1
    if args.worker:
        return _worker(args)
    print(
        f"Sampling speed, {args.images} images of {IMAGE_SHAPE} per call, "
        f"median of {args.repeats} (untrained dcgan and class-conditional ddpm)"
    )
    results = {backend: _run_worker(backend, args) for backend in args.backends}
    print(_table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
