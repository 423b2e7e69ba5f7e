"""Images with their predicted (and true) boxes drawn on them."""

from __future__ import annotations

import numpy as np

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_detections"]


def plot_detections(
    images, detections, path, class_names=None, truth=None, ncols: int = 4
) -> str:
    """Writes a grid of images with their detections drawn as boxes to a PNG.

    Args:
        images: array (n, H, W, 3) or (n, H, W) in [0, 1].
        detections: list of n {"boxes": (k, 4) pixel boxes (x_min, y_min,
            x_max, y_max), "scores": (k,), "classes": (k,)}.
        path: str or PathLike. Output PNG.
        class_names: sequence of str or None. Labels of the class ids.
        truth: list of n (k, 4) arrays or None. Ground-truth boxes, drawn
            dashed in white.
        ncols: int. Images per row.

    Returns:
        The path written.

    Example:
    >>> plot_detections(x_test[:8], decode_predictions(model(x_test[:8]), 4, 3),
    ...                 "detections.png", class_names=("circle", "square"))
    'detections.png'
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) != len(detections):
        raise ValueError(
            f"plot_detections needs images (n, H, W[, C]) and n detection "
            f"lists; received images of shape {images.shape} and "
            f"{len(detections)} detection lists."
        )
    ncols = max(1, min(int(ncols), len(images)))
    nrows = -(-len(images) // ncols)
    figure = new_figure((2.2 * ncols, 2.3 * nrows), layout="constrained")
    axes = np.asarray(figure.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4")
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= len(images):
            continue
        ax.imshow(np.clip(images[i], 0, 1), cmap="gray" if images.ndim == 3 else None)
        for box in [] if truth is None else np.asarray(truth[i]).reshape(-1, 4):
            ax.add_patch(_rectangle(box, "white", "--"))
        found = detections[i]
        for box, score, cls in zip(
            found["boxes"], found["scores"], found["classes"], strict=True
        ):
            colour = colours[int(cls) % len(colours)]
            ax.add_patch(_rectangle(box, colour, "-"))
            name = class_names[int(cls)] if class_names is not None else str(int(cls))
            ax.text(
                box[0],
                box[1],
                f"{name} {score:.2f}",
                color="white",
                fontsize=6,
                va="bottom",
                bbox={"facecolor": colour, "pad": 0.5, "lw": 0},
            )
    return save_figure(figure, path)


def _rectangle(box, colour, style):
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = (float(v) for v in box)
    return Rectangle(
        (x0 - 0.5, y0 - 0.5),
        x1 - x0,
        y1 - y0,
        fill=False,
        edgecolor=colour,
        linestyle=style,
        linewidth=1.2,
    )
