"""Plots of searches: parallel coordinates of trials, Pareto fronts."""

from __future__ import annotations

import math

import numpy as np

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_parallel_coordinates", "plot_pareto"]


def plot_parallel_coordinates(rows, columns, color_by, path, title="trials") -> str:
    """One line per row across normalized axes, coloured by one column.

    Args:
        rows: list of dict. Numeric values (NaN for missing).
        columns: list of str. The axes, left to right.
        color_by: str. The column giving each line's colour.
        path: str or os.PathLike. The PNG to write.
        title: str. Figure title.

    Returns:
        str: the path written.

    Raises:
        ValueError: for no rows or no columns.
    """
    if not rows or not columns:
        raise ValueError(
            f"plot_parallel_coordinates needs rows and columns; received "
            f"{len(rows)} rows and columns={columns!r}."
        )
    data = np.array([[row.get(c, math.nan) for c in columns] for row in rows], float)
    lo = np.nanmin(np.where(np.isnan(data), np.inf, data), axis=0)
    hi = np.nanmax(np.where(np.isnan(data), -np.inf, data), axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (data - np.where(np.isfinite(lo), lo, 0.0)) / span
    colors = data[:, columns.index(color_by)]
    finite = colors[np.isfinite(colors)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    figure = new_figure((max(6.0, 1.6 * len(columns)), 4.0), layout="constrained")
    ax = figure.add_subplot()
    import matplotlib

    colormap = matplotlib.colormaps["viridis"]
    xs = np.arange(len(columns))
    for values, color in zip(scaled, colors):
        shade = 0.5 if not np.isfinite(color) else (color - low) / ((high - low) or 1.0)
        ax.plot(xs, values, color=colormap(shade), alpha=0.8, marker="o", markersize=3)
    ax.set_xticks(xs, [c.split(".")[-1] for c in columns], rotation=20)
    for x, (a, b) in enumerate(zip(lo, hi)):
        if np.isfinite(a):
            ax.annotate(f"{a:.3g}", (x, -0.06), ha="center", fontsize=7)
            ax.annotate(f"{b:.3g}", (x, 1.03), ha="center", fontsize=7)
    ax.set_ylim(-0.1, 1.1)
    ax.set_yticks([])
    ax.set_title(title)
    return save_figure(figure, path)


def plot_pareto(points, front, path, baselines=None, x="parameters",
                y="accuracy", title="Pareto front") -> str:  # fmt: skip
    """A scatter of (x, y) points with the Pareto front and baselines.

    Args:
        points: list of (x, y). Every evaluated candidate.
        front: list of (x, y). The non-dominated ones.
        path: str or os.PathLike. The PNG to write.
        baselines: dict or None. Label -> (x, y), drawn as crosses.
        x: str. X axis label (log scale).
        y: str. Y axis label.
        title: str. Figure title.

    Returns:
        str: the path written.
    """
    figure = new_figure((6.0, 4.0), layout="constrained")
    ax = figure.add_subplot()
    if points:
        px, py = zip(*points)
        ax.scatter(px, py, s=10, color="0.6", label="evaluated")
    if front:
        fx, fy = zip(*sorted(front))
        ax.step(fx, fy, where="post", color="C0", marker="o", label="Pareto front")
    for label, (bx, by) in (baselines or {}).items():
        ax.scatter([bx], [by], marker="x", s=60, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(figure, path)
