"""Chapter 17, neural rendering: a tiny NeRF trained on a scene kerasdl renders itself.

Thin recipe: plain settings and library calls (kerasdl.rendering and the
"nerf" family). Three shaded spheres are ray-traced offline from 40 cameras
with known poses; a NeRF (positional encoding, coarse and fine MLPs with a
skip connection and a view-conditioned colour head, stratified plus
hierarchical sampling, volume rendering) learns them from the rays alone.
Prints one row per held-out view: the PSNR of the NeRF's render, the PSNR of
a blank (background-only) image for scale, the MSE and the training time.
Writes to the run root: each held-out view as a PNG (render | truth | depth),
and an orbit of novel views as an animated GIF (Pillow).

    python recipes/ch17_nerf.py            # full run, a few minutes
    python recipes/ch17_nerf.py --quick    # smoke run, seconds
"""

import argparse
import pathlib
import sys
import time

import keras
import numpy as np

import kerasdl
from kerasdl.rendering import (
    fit_nerf,
    make_nerf_data,
    orbit_poses,
    psnr,
    render_maps,
    render_views,
    save_animation,
    save_png,
)

MODEL = {
    "model": "nerf",
    "num_samples": 16,  # stratified samples per ray (coarse pass)
    "num_importance": 16,  # extra samples from the coarse weights (fine pass)
    "width": 32,
    "depth": 4,
    "skip": 2,
    "point_frequencies": 6,
    "direction_frequencies": 2,
    "seed": 0,
}
SETTINGS = {
    "full": {
        "data": {"image_size": 32, "train_views": 40, "test_views": 4},
        "steps": 1500,
        "frames": 36,
    },
    "quick": {
        "data": {"image_size": 8, "train_views": 4, "test_views": 2},
        "steps": 4,
        "frames": 3,
        "model": {"num_samples": 4, "num_importance": 4, "width": 8, "depth": 2},
    },
}
TRAINING = {"batch_size": 1024, "learning_rate": 5e-3, "final_learning_rate": 5e-4}
SCALE = 4  # pixels per image pixel in the written files


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny images, 4 steps")
    parser.add_argument("--run-root", default="runs/ch17", help="output folder")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    root = pathlib.Path(args.run_root)
    data = make_nerf_data(**settings["data"])

    keras.utils.set_random_seed(0)
    spec = {**MODEL, **settings.get("model", {}), "near": data.near, "far": data.far}
    model = kerasdl.build(spec)
    started = time.perf_counter()
    fit_nerf(
        model, data.train_rays, data.train_pixels, steps=settings["steps"], **TRAINING
    )
    seconds = time.perf_counter() - started

    size = data.image_size
    maps = render_maps(model, data.test_rays)
    renders = maps["rgb"].reshape(-1, size, size, 3)
    depths = maps["depth"].reshape(-1, size, size, 1)
    truths = data.images("test")
    print(f"{'view':<8} {'psnr_db':>8} {'blank_db':>8} {'mse':>8} {'seconds':>8}")
    for i, (render, truth) in enumerate(zip(renders, truths)):
        mse = float(np.mean((render - truth) ** 2))
        blank = psnr(np.full_like(truth, data.background), truth)
        print(
            f"test{i:<4} {psnr(render, truth):>8.2f} {blank:>8.2f} {mse:>8.5f} "
            f"{seconds:>8.1f}"
        )
        depth = (depths[i] - data.near) / (data.far - data.near)
        panel = np.concatenate([render, truth, np.repeat(depth, 3, -1)], axis=1)
        save_png(panel, root / f"test{i}.png", scale=SCALE)
    mse = float(np.mean((renders - truths) ** 2))
    blank = psnr(np.full_like(truths, data.background), truths)
    print(
        f"{'all':<8} {psnr(renders, truths):>8.2f} {blank:>8.2f} {mse:>8.5f} "
        f"{seconds:>8.1f}"
    )

    azimuths = np.linspace(0.0, 360.0, settings["frames"], endpoint=False)
    poses = orbit_poses(
        azimuths, 25.0, radius=float(np.linalg.norm(data.test_poses[0, :3, 3]))
    )
    frames = render_views(model, poses, size, data.focal)
    gif = save_animation(frames, root / "orbit.gif", scale=SCALE)
    print(f"wrote {root}/test*.png and {gif}", file=sys.stderr)


if __name__ == "__main__":
    main()
