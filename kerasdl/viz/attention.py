"""Attention maps: a (target x source) weight matrix as a heat map."""

from __future__ import annotations

import numpy as np

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_attention"]


def plot_attention(
    weights,
    source_labels,
    target_labels,
    path,
    title: str | None = None,
):
    """Saves an attention matrix (target x source) as a PNG heat map.

    Args:
        weights: array (T_target, T_source) of attention weights.
        source_labels: list of str, one per source column.
        target_labels: list of str, one per target row.
        path: str or PathLike. Output PNG file (written atomically).
        title: str or None. Figure title.

    Returns:
        The path written (the `path` argument as given).

    Raises:
        ValueError: if `weights` is not 2-D or the labels do not match it.

    Example:
    >>> plot_attention([[0.9, 0.1], [0.2, 0.8]], ["a", "b"], ["x", "<end>"],
    ...                "attention.png")
    'attention.png'
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2:
        raise ValueError(
            f"Invalid weights of shape {weights.shape}: expected (target, source)."
        )
    if len(source_labels) != weights.shape[1] or len(target_labels) != weights.shape[0]:
        raise ValueError(
            f"Labels do not match weights {weights.shape}: received "
            f"{len(target_labels)} target and {len(source_labels)} source labels."
        )
    figure = new_figure(
        (
            max(3, 0.35 * weights.shape[1] + 1.5),
            max(2.5, 0.35 * weights.shape[0] + 1),
        )
    )
    ax = figure.add_subplot()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xticks(
        range(len(source_labels)), [str(s) for s in source_labels], rotation=90
    )
    ax.set_yticks(range(len(target_labels)), [str(s) for s in target_labels])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    figure.colorbar(image, ax=ax)
    figure.tight_layout()
    save_figure(figure, path)
    return path
