"""Explanation figures: heat maps over images, feature maps, image grids."""

from __future__ import annotations

import numpy as np

from kerasdl._checks import invalid
from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["heatmap_figure", "plot_feature_maps", "plot_heatmaps", "plot_image_grid"]


def _scaled(image) -> np.ndarray:
    """One image (H, W) or (H, W, C) scaled to [0, 1] for display."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else image * 0.0


def _check_images(images, name: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise invalid(name, f"array of shape {images.shape}",
                      "a non-empty (n, H, W) or (n, H, W, C) array")  # fmt: skip
    return images


def heatmap_figure(images, heatmaps=None, captions=None, cell: float = 1.6):
    """Images in a row, each above its heat map overlay (a Figure).

    Args:
        images: array (n, H, W) or (n, H, W, C).
        heatmaps: array (n, H, W) in [0, 1] or None (images only).
        captions: list of n str or None.
        cell: float. Inches per image.

    Returns:
        matplotlib.figure.Figure.
    """
    images = _check_images(images, "images")
    count = len(images)
    if heatmaps is not None and np.shape(heatmaps)[:3] != images.shape[:3]:
        raise invalid("heatmaps", f"array of shape {np.shape(heatmaps)}",
                      f"shape {images.shape[:3]}, one map per image")  # fmt: skip
    rows = 1 if heatmaps is None else 2
    figure = new_figure(
        (cell * count + 0.4, (cell + 0.2) * rows + 0.3), layout="constrained"
    )
    axes = np.asarray(figure.subplots(rows, count, squeeze=False))
    for i in range(count):
        image = _scaled(images[i])
        cmap = "gray" if image.ndim == 2 else None
        axes[0, i].imshow(image, cmap=cmap)
        if captions is not None:
            axes[0, i].set_title(str(captions[i]), fontsize=7)
        if heatmaps is not None:
            axes[1, i].imshow(image, cmap=cmap)
            axes[1, i].imshow(heatmaps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    return figure


def plot_heatmaps(images, heatmaps, path, captions=None) -> str:
    """Writes images above their heat maps (Grad-CAM, saliency) to a PNG.

    Example:
    >>> plot_heatmaps(x[:4], explain.grad_cam(model, x[:4]), "gradcam.png")
    'gradcam.png'
    """
    return save_figure(heatmap_figure(images, heatmaps, captions), path)


def plot_image_grid(images, path, captions=None, ncols: int = 8) -> str:
    """Writes a grid of images (filter patterns, kernels) to a PNG.

    Args:
        images: array (n, H, W) or (n, H, W, C); each scaled on its own.
        path: str or PathLike. Output PNG.
        captions: list of n str or None.
        ncols: int. Images per row.

    Returns:
        The path written.
    """
    images = _check_images(images, "images")
    ncols = max(1, min(int(ncols), len(images)))
    nrows = -(-len(images) // ncols)
    figure = new_figure((1.2 * ncols + 0.2, 1.3 * nrows + 0.2), layout="constrained")
    axes = np.asarray(figure.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(images):
            image = _scaled(images[i])
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            if captions is not None:
                ax.set_title(str(captions[i]), fontsize=7)
    return save_figure(figure, path)


def plot_feature_maps(maps, path, max_channels: int = 32) -> str:
    """Writes one example's feature maps (H, W, channels) as a grid of images.

    Example:
    >>> plot_feature_maps(explain.feature_maps(model, x[:1])[0], "maps.png")
    'maps.png'
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise invalid("maps", f"array of shape {maps.shape}",
                      "one example's feature maps (H, W, channels)")  # fmt: skip
    shown = np.moveaxis(maps[..., :max_channels], -1, 0)
    return plot_image_grid(shown, path, captions=[f"ch {i}" for i in range(len(shown))])
