"""Neural rendering: an offline scene with known cameras, rays from poses,
and training, rendering and measuring a NeRF (`kerasdl.build("nerf")`).

The keras.ops building blocks (positional encoding, stratified and
hierarchical sampling, volume rendering) live with the NeRF's layers in
`kerasdl.layers.rendering` (the model family imports them, and imports run
from layers up to this package); they are re-exported here.
"""

from kerasdl.layers.rendering import (
    positional_encoding,
    sample_pdf,
    stratified_depths,
    volume_render,
)
from kerasdl.rendering.scene import (
    SPHERES,
    NerfData,
    Sphere,
    camera_rays,
    focal_length,
    look_at,
    make_nerf_data,
    orbit_poses,
    trace_spheres,
)
from kerasdl.rendering.views import (
    fit_nerf,
    psnr,
    render_maps,
    render_rays,
    render_views,
    save_animation,
    save_png,
)

__all__ = [
    "SPHERES",
    "NerfData",
    "Sphere",
    "camera_rays",
    "fit_nerf",
    "focal_length",
    "look_at",
    "make_nerf_data",
    "orbit_poses",
    "positional_encoding",
    "psnr",
    "render_maps",
    "render_rays",
    "render_views",
    "sample_pdf",
    "save_animation",
    "save_png",
    "stratified_depths",
    "trace_spheres",
    "volume_render",
]
