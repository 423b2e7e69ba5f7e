"""Named series side by side: one panel per comparison, one line per setting."""

from __future__ import annotations

import math

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_panels"]


def plot_panels(panels: dict, path, xlabel="epoch", ylabel="loss", log_y=False) -> str:
    """Draws panels of labelled lines (e.g. loss curves per optimizer) to a PNG.

    Args:
        panels: dict. Panel title -> {line label -> list of float}; NaN or
            infinite values (a diverged run) are left out of the line, and a
            line of x values may be given as {label: (xs, ys)}.
        path: str or os.PathLike. The PNG to write.
        xlabel: str. Label of every x axis.
        ylabel: str. Label of every y axis.
        log_y: bool. Logarithmic y axes (gradient norms, losses over decades).

    Returns:
        str: the path written.

    Raises:
        ValueError: for no panels or a panel without lines.

    Example:
    >>> plot_panels({"optimizers": {"sgd": [2.3, 1.1], "adam": [2.3, 0.4]}},
    ...             "optimizers.png")
    """
    if not panels:
        raise ValueError("plot_panels needs at least one panel; received none.")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    figure = new_figure((4.6 * cols, 3.4 * rows), layout="constrained")
    for i, (title, lines) in enumerate(panels.items()):
        if not lines:
            raise ValueError(f"plot_panels: panel {title!r} has no lines.")
        ax = figure.add_subplot(rows, cols, i + 1)
        for label, values in lines.items():
            if isinstance(values, tuple):
                xs, ys = values
            else:
                xs, ys = range(1, len(values) + 1), values
            points = [
                (x, float(y))
                for x, y in zip(xs, ys, strict=True)
                if math.isfinite(float(y)) and (not log_y or float(y) > 0)
            ]
            if points:
                ax.plot(
                    *zip(*points, strict=True), marker="o", markersize=2.5, label=label
                )
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    return save_figure(figure, path)
