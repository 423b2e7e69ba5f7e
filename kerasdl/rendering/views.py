"""Training a NeRF on rays, rendering views with it, measuring PSNR, and
writing the views as PNG files and an animated GIF (Pillow)."""

from __future__ import annotations

import logging
import math
import os

import keras
import numpy as np
from keras import ops

from kerasdl._checks import check_float, check_int, invalid
from kerasdl._io import atomic_path, make_parents
from kerasdl.rendering.scene import camera_rays

__all__ = [
    "fit_nerf",
    "psnr",
    "render_maps",
    "render_rays",
    "render_views",
    "save_animation",
    "save_png",
]

log = logging.getLogger(__name__)


def psnr(prediction, target, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(max^2 / MSE) (keras.ops).

    Args:
        prediction, target: arrays or tensors of the same shape, in
            [0, max_value].
        max_value: float. The largest pixel value.

    Returns:
        float; inf when the two are identical.
    """
    max_value = check_float("max_value", max_value, minimum=0.0, min_inclusive=False)
    prediction = ops.convert_to_tensor(prediction, "float32")
    target = ops.convert_to_tensor(target, "float32")
    if tuple(prediction.shape) != tuple(target.shape):
        raise invalid(
            "prediction",
            f"tensor of shape {tuple(prediction.shape)}",
            f"the target's shape {tuple(target.shape)}",
        )
    mse = float(ops.convert_to_numpy(ops.mean(ops.square(prediction - target))))
    return math.inf if mse == 0 else 10.0 * math.log10(max_value**2 / mse)


def render_rays(model, rays, batch_size: int = 4096) -> np.ndarray:
    """The model's colours (n, 3) for `rays` (n, 6), in inference mode,
    batched; for a coarse-and-fine NeRF, the fine render.

    Runs through `model.predict` (compiled once per batch shape: on JAX an
    eager call would compile every operation separately).
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    rays = np.asarray(rays, "float32")
    if not len(rays):
        return np.zeros((0, 3), "float32")
    out = model.predict(rays, batch_size=batch_size, verbose=0)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)


def render_maps(model, rays, batch_size: int = 4096) -> dict:
    """Colour, expected depth and accumulated opacity per ray (inference).

    Reads the outputs of the model's last volume-rendering layer
    ("fine_render", or "coarse_render" for a coarse-only NeRF).

    Returns:
        dict of NumPy arrays: "rgb" (n, 3), "depth" (n,), "acc" (n,).
    """
    names = [layer.name for layer in model.layers]
    name = "fine_render" if "fine_render" in names else "coarse_render"
    if name not in names:
        raise invalid(
            "model", model.name, "a NeRF with a 'fine_render' or 'coarse_render' layer"
        )
    rgb, depth, acc, _ = model.get_layer(name).output
    maps = keras.Model(model.input, [rgb, depth, acc])
    batch_size = check_int("batch_size", batch_size, minimum=1)
    rays = np.asarray(rays, "float32")
    rgb, depth, acc = maps.predict(rays, batch_size=batch_size, verbose=0)
    return {"rgb": rgb, "depth": depth[:, 0], "acc": acc[:, 0]}


def render_views(model, poses, image_size: int, focal: float) -> np.ndarray:
    """Renders square views from camera-to-world `poses` (n, 4, 4).

    Returns:
        float32 (n, image_size, image_size, 3).
    """
    images = [
        render_rays(
            model, ops.convert_to_numpy(camera_rays(p, image_size, image_size, focal))
        )
        for p in poses
    ]
    return np.stack(images).reshape(-1, image_size, image_size, 3)


def fit_nerf(
    model,
    rays,
    pixels,
    *,
    steps: int,
    batch_size: int = 1024,
    learning_rate: float = 5e-3,
    final_learning_rate: float = 5e-4,
    seed: int = 0,
    verbose=0,
):
    """Trains `model` on random batches of rays with Adam and an MSE loss.

    Every output (the fine and the coarse render) is compared with the same
    pixels. The learning rate decays exponentially from `learning_rate` to
    `final_learning_rate` over `steps`.

    Args:
        model: keras.Model. A NeRF from `kerasdl.build("nerf", ...)`.
        rays: array (n, 6). Training rays.
        pixels: array (n, 3). Their colours.
        steps: int. Optimizer steps (batches).
        batch_size: int. Rays per batch.
        learning_rate, final_learning_rate: float. Adam's learning rate at
            the first and the last step.
        seed: int. Seed of the shuffling.
        verbose: int or str. Keras' fit verbosity.

    Returns:
        The `keras.callbacks.History` of `model.fit`.
    """
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    start = check_float(
        "learning_rate", learning_rate, minimum=0.0, min_inclusive=False
    )
    end = check_float(
        "final_learning_rate", final_learning_rate, minimum=0.0, min_inclusive=False
    )
    rays = np.asarray(rays, "float32")
    pixels = np.asarray(pixels, "float32")
    if rays.ndim != 2 or rays.shape[1] != 6 or len(pixels) != len(rays):
        raise invalid(
            "rays",
            f"array of shape {rays.shape} with pixels of shape {pixels.shape}",
            "rays (n, 6) and pixels (n, 3) with the same n",
        )
    per_epoch = max(1, len(rays) // batch_size)
    epochs = math.ceil(steps / per_epoch)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        start, decay_steps=steps, decay_rate=end / start
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    outputs = len(model.outputs)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    order = np.concatenate([rng.permutation(len(rays)) for _ in range(epochs)])
    order = order[: steps * batch_size]
    # One pass over a pre-shuffled stream of exactly `steps` batches, so the
    # step count does not depend on the data size.
    x, y = rays[order], pixels[order]
    log.info("NeRF: %d steps of %d rays", steps, batch_size)
    return model.fit(
        x,
        [y] * outputs if outputs > 1 else y,
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        verbose=verbose,
    )


def _uint8(image) -> np.ndarray:
    image = np.asarray(image, "float32")
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise invalid(
            "image", f"array of shape {image.shape}", "(height, width, 1 or 3)"
        )
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype("uint8")


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - pillow is in the data extra
        raise ImportError(
            "Writing images needs Pillow: pip install pillow (kerasdl[data])."
        ) from error
    return Image


def save_png(image, path, scale: int = 1) -> str:
    """Writes an image (H, W, 3) in [0, 1] as a PNG file, each pixel
    `scale` x `scale` (nearest neighbour); returns the path."""
    scale = check_int("scale", scale, minimum=1)
    pixels = _uint8(image).repeat(scale, 0).repeat(scale, 1)
    image = _pillow().fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels)
    make_parents(os.path.dirname(os.path.abspath(path)))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return str(path)


def save_animation(frames, path, scale: int = 1, duration_ms: int = 100) -> str:
    """Writes frames (n, H, W, 3) in [0, 1] as a looping GIF; returns the path."""
    scale = check_int("scale", scale, minimum=1)
    duration_ms = check_int("duration_ms", duration_ms, minimum=1)
    image_class = _pillow()
    images = [
        image_class.fromarray(_uint8(f).repeat(scale, 0).repeat(scale, 1))
        for f in frames
    ]
    if not images:
        raise invalid("frames", "an empty sequence", "at least one frame")
    make_parents(os.path.dirname(os.path.abspath(path)))
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=0,
        )
    return str(path)
