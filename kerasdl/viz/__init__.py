"""Plots written to image files: training curves, attention maps.

A low floor: these modules import only NumPy and matplotlib (never kerasdl's
models or training), so any layer above may draw with them. Every figure is
a `matplotlib.figure.Figure` on its own Agg canvas: no pyplot, no global
backend switch (`matplotlib.use`), safe in threads and under a GUI session.

Example:
>>> from kerasdl.viz import plot_history
>>> plot_history({"loss": [1.0, 0.6, 0.4]}, "curves.png")
"""

from kerasdl.viz.attention import plot_attention
from kerasdl.viz.curves import plot_history
from kerasdl.viz.detection import plot_detections
from kerasdl.viz.explain import plot_feature_maps, plot_heatmaps, plot_image_grid
from kerasdl.viz.generative import (
    plot_denoising_trajectory,
    plot_interpolation,
    plot_latent_scatter,
    plot_sample_grid,
)

__all__ = [
    "plot_attention",
    "plot_denoising_trajectory",
    "plot_detections",
    "plot_feature_maps",
    "plot_heatmaps",
    "plot_history",
    "plot_image_grid",
    "plot_interpolation",
    "plot_latent_scatter",
    "plot_sample_grid",
]
