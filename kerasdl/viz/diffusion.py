"""Denoising trajectories: one row per sample, noise on the left, image on the right."""

from __future__ import annotations

import numpy as np

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_denoising_trajectory"]


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
            image = images[col, row]
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and step_labels is not None:
                ax.set_title(str(step_labels[col]), fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
