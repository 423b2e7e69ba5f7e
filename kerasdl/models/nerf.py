"""Neural radiance fields: a tiny NeRF as a functional model over rays.

The model maps rays (batch, 6) to pixel colours. A coarse field is queried
at stratified depths; its volume-rendering weights drive hierarchical
sampling of extra depths where the matter is, and a fine field renders the
merged depths (Mildenhall et al. 2020). Both renders are outputs, so
`model.fit(rays, [pixels, pixels])` with an MSE loss trains both fields
(the fine render's samples carry no gradient into the coarse field).
Scenes, cameras and rays from poses: `kerasdl.rendering`.
"""

from __future__ import annotations

from keras import layers

from kerasdl._checks import invalid
from kerasdl.layers.rendering import (
    ImportanceSamples,
    PositionalEncoding,
    RayPoints,
    StratifiedSamples,
    VolumeRendering,
)
from kerasdl.models._common import check_int
from kerasdl.models.heads import finish_model
from kerasdl.registry import register_model

__all__ = ["nerf", "radiance_field"]


def radiance_field(points, directions, prefix, *, width, depth, skip, frequencies):
    """The MLP of one NeRF field, as functional layers.

    Encoded points go through `depth` ReLU layers of `width` units, the
    encoding concatenated again after layer `skip` (NeRF's skip connection);
    a density head (softplus, so densities are >= 0 and never stuck at
    zero) reads the features; the colour head (sigmoid) reads the features
    and the encoded viewing direction.

    Args:
        points, directions: KerasTensors (batch, N, 3).
        prefix: str. Layer name prefix ("coarse", "fine").
        width, depth, skip: int. Layer width, number of layers, and the
            layer after which the encoded points are concatenated again
            (0: no skip connection).
        frequencies: (int, int). Octaves of the point and direction
            encodings.

    Returns:
        (rgb (batch, N, 3), sigma (batch, N, 1)) KerasTensors.
    """
    x_freq, d_freq = frequencies
    encoded = PositionalEncoding(x_freq, name=f"{prefix}_encode_points")(points)
    view = PositionalEncoding(d_freq, name=f"{prefix}_encode_directions")(directions)
    h = encoded
    for i in range(1, depth + 1):
        h = layers.Dense(width, activation="relu", name=f"{prefix}_dense{i}")(h)
        if i == skip and i < depth:
            h = layers.Concatenate(name=f"{prefix}_skip")([h, encoded])
    sigma = layers.Dense(1, activation="softplus", name=f"{prefix}_density")(h)
    features = layers.Dense(width, name=f"{prefix}_features")(h)
    h = layers.Concatenate(name=f"{prefix}_view")([features, view])
    h = layers.Dense(width // 2, activation="relu", name=f"{prefix}_view_dense")(h)
    rgb = layers.Dense(3, activation="sigmoid", name=f"{prefix}_rgb")(h)
    return rgb, sigma


def nerf(
    near=2.0,
    far=6.0,
    num_samples=32,
    num_importance=32,
    width=64,
    depth=4,
    skip=2,
    point_frequencies=6,
    direction_frequencies=2,
    background=0.0,
    seed=None,
    weights=None,
):
    """A NeRF: coarse and fine radiance fields rendered along rays.

    Input "rays" (batch, 6): origin (x, y, z) and direction; outputs the
    fine render's colour "fine_render" (batch, 3) and, when
    `num_importance` > 0, the coarse render's "coarse_render" (batch, 3).

    Args:
        near: float. Nearest depth sampled along a ray (in units of the
            direction's length).
        far: float. Farthest depth sampled.
        num_samples: int. Stratified samples per ray (the coarse pass).
        num_importance: int. Extra samples per ray drawn from the coarse
            weights (hierarchical sampling) for the fine pass; 0 renders the
            coarse pass only.
        width: int. Units per layer of each field.
        depth: int. Layers of each field before its heads.
        skip: int. Layer after which the encoded points are fed again (0
            for none).
        point_frequencies: int. Octaves of the positional encoding of points.
        direction_frequencies: int. Octaves of the viewing-direction encoding.
        background: float. Grey level in [0, 1] where a ray hits nothing.
        seed: int or None. Seed of the sampling jitter.
        weights: str or None. Path of a local weights file; never downloaded.

    Returns:
        A functional `keras.Model` named "nerf".

    Raises:
        ValueError: for an invalid hyperparameter (named, with the value).

    Example:
    >>> model = nerf(near=2.5, far=5.5, num_samples=24, num_importance=24)
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.fit(rays, [pixels, pixels], batch_size=1024)
    """
    num_importance = check_int("num_importance", num_importance, minimum=0)
    # Hierarchical sampling needs at least one bin between the midpoints of
    # the coarse depths.
    if num_importance and check_int("num_samples", num_samples, minimum=2) < 3:
        raise invalid(
            "num_samples",
            num_samples,
            f"an integer >= 3 with num_importance={num_importance}",
        )
    width = check_int("width", width, minimum=2)
    depth = check_int("depth", depth, minimum=1)
    skip = check_int("skip", skip, minimum=0, maximum=depth)
    field = {
        "width": width,
        "depth": depth,
        "skip": skip,
        "frequencies": (
            check_int("point_frequencies", point_frequencies, minimum=0),
            check_int("direction_frequencies", direction_frequencies, minimum=0),
        ),
    }
    # The fine pass draws with its own stream (seed + 1), not a copy of the
    # coarse jitter.
    fine_seed = None if seed is None else check_int("seed", seed, minimum=0) + 1

    rays = layers.Input((6,), name="rays")
    t = StratifiedSamples(near, far, num_samples, seed=seed, name="coarse_samples")(
        rays
    )
    points, directions = RayPoints(name="coarse_points")([rays, t])
    rgb, sigma = radiance_field(points, directions, "coarse", **field)
    render = VolumeRendering(background, name="coarse_render")
    coarse, _, _, coarse_weights = render([rgb, sigma, t, rays])
    if not num_importance:
        return finish_model(rays, coarse, "nerf", weights)
    t = ImportanceSamples(num_importance, seed=fine_seed, name="fine_samples")(
        [t, coarse_weights]
    )
    points, directions = RayPoints(name="fine_points")([rays, t])
    rgb, sigma = radiance_field(points, directions, "fine", **field)
    fine = VolumeRendering(background, name="fine_render")([rgb, sigma, t, rays])[0]
    return finish_model(rays, [fine, coarse], "nerf", weights)


register_model(
    "nerf",
    nerf,
    family="nerf",
    task="regression",
    tiny={
        "num_samples": 4,
        "num_importance": 4,
        "width": 8,
        "depth": 2,
        "skip": 1,
        "point_frequencies": 2,
        "direction_frequencies": 1,
    },
)
