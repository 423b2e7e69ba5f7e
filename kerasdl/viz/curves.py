"""Training curves: one panel per metric, train against validation."""

from __future__ import annotations

import math

from kerasdl.viz._figure import new_figure, save_figure

__all__ = ["plot_history"]


def plot_history(history: dict, path) -> None:
    """Draws training curves (one panel per metric, train vs val) to a PNG.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend
    switch) and writes the file atomically.

    Args:
        history: dict. {"epochs": [...], "history": {name: [...]}} as in
            history.json, or a plain {name: [values]} dict (Keras History).
        path: str or os.PathLike. Target .png file.

    Raises:
        ValueError: if matplotlib is not installed or `history` is empty.

    Example:
    >>> plot_history(model.fit(x, y, epochs=3).history, "curves.png")
    """
    series = history.get("history", history)
    epochs = history.get("epochs")
    panels = [n for n in series if not n.startswith("val_")]
    panels += [n[4:] for n in series if n.startswith("val_") and n[4:] not in series]
    # Loss first, the learning rate last.
    panels.sort(key=lambda n: (n != "loss", n in ("learning_rate", "lr")))
    if not panels:
        raise ValueError(f"plot_history got no metric to plot: {history!r:.80}.")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    figure = new_figure((4.2 * cols, 3.2 * rows), layout="constrained")
    for i, name in enumerate(panels):
        ax = figure.add_subplot(rows, cols, i + 1)
        plotted = []
        for key, label in ((name, "train"), (f"val_{name}", "val")):
            values = series.get(key)
            if values is None:
                continue
            xs = epochs if epochs is not None else list(range(len(values)))
            points = [
                (x + 1, v) for x, v in zip(xs, values, strict=True) if v is not None
            ]
            if points:
                ax.plot(
                    *zip(*points, strict=True), marker="o", markersize=3, label=label
                )
                plotted.extend(v for _, v in points)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if name in ("learning_rate", "lr") and plotted and min(plotted) > 0:
            ax.set_yscale("log")
        if f"val_{name}" in series:
            ax.legend()
    save_figure(figure, path)
