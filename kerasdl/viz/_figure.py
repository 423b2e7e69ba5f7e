"""Figure creation and atomic PNG saving shared by the kerasdl.viz plots."""

from __future__ import annotations

import os

from kerasdl._io import atomic_path


def new_figure(figsize: tuple[float, float], **kwargs):
    """Returns a `Figure` on its own Agg canvas (no pyplot, no global state).

    Args:
        figsize: (float, float). Width and height in inches.
        **kwargs: Further `matplotlib.figure.Figure` arguments (e.g. layout).

    Raises:
        ValueError: if matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(
            "kerasdl.viz needs matplotlib (pip install matplotlib)."
        ) from None
    figure = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, dpi: int = 100) -> str:
    """Writes `figure` to `path` atomically (temp file, then rename).

    A reader never sees a half-written image, and an interrupted save
    leaves the previous file in place.

    Args:
        figure: matplotlib.figure.Figure.
        path: str or os.PathLike. Target image file (format from suffix).
        dpi: int. Resolution.

    Returns:
        str: the path written.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1] or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        figure.savefig(tmp, dpi=dpi)
    return path
