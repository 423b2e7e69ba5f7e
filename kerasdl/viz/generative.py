"""Pictures of generative models: sample grids, latent scatter, interpolations,
denoising trajectories (one row per sample, noise on the left, image on the
right).

They take arrays (images channels-last in [0, 1], latent codes, labels), so
they need no model; `kerasdl.generative` computes what they draw (samples,
`latent_interpolation`).
"""

from __future__ import annotations

import math

import numpy as np

from kerasdl._checks import check_int, invalid
from kerasdl.viz._figure import new_figure, save_figure

__all__ = [
    "plot_denoising_trajectory",
    "plot_interpolation",
    "plot_latent_scatter",
    "plot_sample_grid",
]


def _images(images, name="images") -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise invalid(
            name,
            f"array of shape {images.shape}",
            "a non-empty (n, height, width, 1 or 3) array",
        )
    return np.clip(images, 0.0, 1.0)


def _show(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_sample_grid(images, path, labels=None, ncols=10, title=None, cell=0.9) -> str:
    """Writes a grid of images (samples or reconstructions) to a PNG.

    Args:
        images: array (n, H, W, C) or (n, H, W), values in [0, 1].
        path: str or os.PathLike. Target .png file.
        labels: optional sequence of n labels shown above the images.
        ncols: int. Images per row.
        title: str or None. Figure title.
        cell: float. Inches per image.

    Returns:
        str: the path written.

    Example:
    >>> plot_sample_grid(kerasdl.generative.sample(gan, 40, seed=0), "samples.png")
    """
    images = _images(images)
    ncols = check_int("ncols", ncols, minimum=1)
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    if labels is not None and len(labels) != len(images):
        raise invalid(
            "labels", f"{len(labels)} labels", f"{len(images)}, one per image"
        )
    figure = new_figure((cell * ncols, cell * nrows + (0.4 if title else 0.0)))
    for i, image in enumerate(images):
        ax = figure.add_subplot(nrows, ncols, i + 1)
        _show(ax, image)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=7, pad=1)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def plot_latent_scatter(latents, labels, path, title="latent space") -> str:
    """Writes a scatter of 2-D latent codes coloured by class to a PNG.

    Args:
        latents: array (n, 2). E.g. a VAE's latent means (`vae.encode(x)[0]`).
        labels: array (n,) of class ids.
        path: str or os.PathLike. Target .png file.
        title: str. Figure title.

    Returns:
        str: the path written.
    """
    latents = np.asarray(latents, np.float32)
    labels = np.asarray(labels)
    if latents.ndim != 2 or latents.shape[1] != 2:
        raise invalid(
            "latents",
            f"array of shape {latents.shape}",
            "shape (n, 2): a 2-D latent space",
        )
    if labels.shape != (len(latents),):
        raise invalid(
            "labels", f"array of shape {labels.shape}", f"shape ({len(latents)},)"
        )
    figure = new_figure((5.5, 4.8), layout="constrained")
    ax = figure.add_subplot(1, 1, 1)
    points = ax.scatter(latents[:, 0], latents[:, 1], c=labels, cmap="tab10", s=6)
    figure.colorbar(points, ax=ax, label="class")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    return save_figure(figure, path)


def plot_interpolation(rows, path, title="latent interpolation") -> str:
    """Writes latent interpolations, one path per row, to a PNG.

    Args:
        rows: array (paths, steps, H, W, C): each row the images decoded
            along one straight line in latent space
            (`kerasdl.generative.latent_interpolation`).
        path: str or os.PathLike. Target .png file.
        title: str. Figure title.

    Returns:
        str: the path written.
    """
    rows = np.asarray(rows, np.float32)
    if rows.ndim == 4:
        rows = rows[None]
    if rows.ndim != 5:
        raise invalid(
            "rows",
            f"array of shape {rows.shape}",
            "(paths, steps, height, width, channels)",
        )
    paths, steps = rows.shape[:2]
    flat = _images(rows.reshape(paths * steps, *rows.shape[2:]), "rows")
    return plot_sample_grid(flat, path, ncols=steps, title=title)


def plot_denoising_trajectory(
    frames,
    path,
    value_range=(0.0, 1.0),
    step_labels=None,
    title: str | None = None,
) -> str:
    """Saves the states of a diffusion sampling run as a PNG grid.

    Args:
        frames: array (frames, n, height, width, channels) with 1 or 3
            channels, as `kerasdl.generation.diffusion.denoising_trajectory`
            returns: frame 0 is the starting noise, the last the sample.
        path: str or PathLike. Output PNG file (written atomically).
        value_range: (float, float). Pixel range of `frames` (the model's
            `pixel_range`); values outside are clipped.
        step_labels: list of str or None. Column titles, one per frame.
        title: str or None. Figure title.

    Returns:
        The path written (the `path` argument as given).

    Raises:
        ValueError: for frames of another rank or channel count, or step
            labels of another length.

    Example:
    >>> frames = denoising_trajectory(model, 4, labels=[0, 1, 2, 3], seed=0)
    >>> plot_denoising_trajectory(frames, "trajectory.png")
    """
    frames = np.asarray(frames, dtype="float32")
    if frames.ndim != 5 or frames.shape[-1] not in (1, 3) or not frames.size:
        raise ValueError(
            "Invalid frames with shape "
            f"{frames.shape}: expected (frames, n, height, width, 1 or 3)."
        )
    count, n = frames.shape[:2]
    if step_labels is not None and len(step_labels) != count:
        raise ValueError(
            f"Invalid step_labels={step_labels!r}: expected {count} labels, "
            "one per frame."
        )
    low, high = value_range
    if not high > low:
        raise ValueError(
            f"Invalid value_range={value_range!r}: expected (low, high), low < high."
        )
    images = np.clip((frames - low) / (high - low), 0.0, 1.0)
    figure = new_figure((1.1 * count, 1.1 * n + (0.4 if title else 0.1)))
    axes = figure.subplots(n, count, squeeze=False)
    for row in range(n):
        for col in range(count):
            ax = axes[row][col]
            _show(ax, images[col, row])
            if row == 0 and step_labels is not None:
                ax.set_title(str(step_labels[col]), fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
