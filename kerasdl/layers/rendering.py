"""Neural rendering in keras.ops: positional encoding, sampling along rays,
hierarchical (importance) sampling and volume rendering.

A ray is a row of 6 numbers, its origin (x, y, z) then its direction
(dx, dy, dz); points along it are `origin + t * direction`. The functions
work on any backend and are the building blocks of the NeRF family
(`kerasdl.models.nerf`); the layers wrap them for functional graphs.
Mildenhall et al., "NeRF: Representing Scenes as Neural Radiance Fields for
View Synthesis" (2020), sections 4 and 5.2.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasdl._checks import check_float, check_int, invalid

__all__ = [
    "ImportanceSamples",
    "PositionalEncoding",
    "RayPoints",
    "StratifiedSamples",
    "VolumeRendering",
    "positional_encoding",
    "sample_pdf",
    "stratified_depths",
    "volume_render",
]

# Added to the coarse weights before they are normalized into a PDF, so a ray
# whose weights are all zero (it misses everything) still samples uniformly.
_PDF_FLOOR = 1e-5


def positional_encoding(x, num_frequencies: int, include_input: bool = True):
    """gamma(x) = (x, sin(2^k pi x), cos(2^k pi x)) for k < num_frequencies.

    Args:
        x: tensor (..., d).
        num_frequencies: int. Number of octaves L.
        include_input: bool. Keep x itself in front.

    Returns:
        Tensor (..., d * (2 L + include_input)).
    """
    x = ops.convert_to_tensor(x, "float32")
    parts = [x] if include_input else []
    for k in range(num_frequencies):
        scaled = x * (math.pi * 2.0**k)
        parts += [ops.sin(scaled), ops.cos(scaled)]
    return ops.concatenate(parts, axis=-1)


def stratified_depths(batch, near, far, num_samples, noise=None):
    """Depths t along each ray, one per equal bin of [near, far].

    Without noise the depths are the bins' midpoints; with noise (uniform
    in [0, 1), shape (batch, num_samples)) each depth is drawn uniformly
    inside its bin (stratified sampling, NeRF eq. 2).

    Returns:
        Tensor (batch, num_samples), increasing along the last axis.
    """
    step = (far - near) / num_samples
    starts = near + step * ops.arange(num_samples, dtype="float32")
    offsets = 0.5 if noise is None else ops.convert_to_tensor(noise, "float32")
    return ops.broadcast_to(starts, (batch, num_samples)) + step * offsets


def sample_pdf(edges, weights, u):
    """Inverse-transform sampling of the piecewise-constant PDF over bins.

    Args:
        edges: tensor (batch, M + 1). Bin edges, increasing.
        weights: tensor (batch, M). Non-negative bin weights (unnormalized).
        u: tensor (batch, S). Uniform numbers in [0, 1).

    Returns:
        Tensor (batch, S): samples, more of them where the weights are large.
    """
    edges, weights, u = (
        ops.convert_to_tensor(x, "float32") for x in (edges, weights, u)
    )
    weights = ops.maximum(weights, 0.0) + _PDF_FLOOR
    pdf = weights / ops.sum(weights, axis=-1, keepdims=True)
    cdf = ops.cumsum(pdf, axis=-1)
    cdf = ops.concatenate([ops.zeros_like(cdf[:, :1]), cdf], axis=-1)  # (B, M+1)
    m = ops.shape(weights)[-1]
    # Index of the bin of each u: how many CDF values lie at or below it
    # (a comparison count: searchsorted without per-backend code).
    above = ops.sum(
        ops.cast(cdf[:, None, :] <= u[:, :, None], "int32"), axis=-1
    )  # (B, S), in [1, M + 1]
    below = ops.clip(above - 1, 0, m)
    above = ops.clip(above, 0, m)
    cdf0 = ops.take_along_axis(cdf, below, axis=-1)
    cdf1 = ops.take_along_axis(cdf, above, axis=-1)
    edge0 = ops.take_along_axis(edges, below, axis=-1)
    edge1 = ops.take_along_axis(edges, above, axis=-1)
    span = cdf1 - cdf0
    span = ops.where(span < _PDF_FLOOR, ops.ones_like(span), span)
    return edge0 + (u - cdf0) / span * (edge1 - edge0)


def volume_render(rgb, sigma, t, directions, background=0.0):
    """Alpha compositing of colours and densities along rays (NeRF eq. 3).

    The spacing of the last sample repeats the one before it, so a ray that
    crosses only empty space keeps transmittance near 1 and shows the
    background.

    Args:
        rgb: tensor (batch, N, 3). Colour at each sample.
        sigma: tensor (batch, N). Density (>= 0) at each sample.
        t: tensor (batch, N). Increasing depths of the samples.
        directions: tensor (batch, 3). Ray directions: distances along a
            ray are t times their length.
        background: float. Grey level behind the scene.

    Returns:
        dict of tensors: "rgb" (batch, 3), "depth" (batch,) expected depth,
        "acc" (batch,) accumulated opacity, "weights" (batch, N) and
        "transmittance" (batch, N), the light reaching each sample.
    """
    rgb, sigma, t, directions = (
        ops.convert_to_tensor(x, "float32") for x in (rgb, sigma, t, directions)
    )
    deltas = t[:, 1:] - t[:, :-1]
    deltas = ops.concatenate([deltas, deltas[:, -1:]], axis=-1)
    deltas = deltas * ops.norm(directions, axis=-1, keepdims=True)
    optical = sigma * deltas
    # Transmittance before sample i: exp(-sum of the optical depths before it).
    before = ops.cumsum(optical, axis=-1) - optical
    transmittance = ops.exp(-before)
    alpha = 1.0 - ops.exp(-optical)
    weights = alpha * transmittance
    acc = ops.sum(weights, axis=-1)
    colour = ops.sum(weights[..., None] * rgb, axis=-2)
    colour = colour + (1.0 - acc[:, None]) * background
    return {
        "rgb": colour,
        "depth": ops.sum(weights * t, axis=-1),
        "acc": acc,
        "weights": weights,
        "transmittance": transmittance,
    }


def _check_range(near, far):
    near = check_float("near", near, minimum=0.0)
    far = check_float("far", far)
    if far <= near:
        raise invalid("far", far, f"a depth greater than near={near}")
    return near, far


@keras.saving.register_keras_serializable(package="kerasdl")
class PositionalEncoding(keras.layers.Layer):
    """NeRF's positional encoding of coordinates (see `positional_encoding`).

    Args:
        num_frequencies: int. Number of octaves L (0 keeps the input only).
        include_input: bool. Keep the raw coordinates in front.

    Example:
    >>> PositionalEncoding(4)(points)  # (..., 3) -> (..., 27)
    """

    def __init__(self, num_frequencies=6, include_input=True, **kwargs):
        super().__init__(**kwargs)
        self.num_frequencies = check_int("num_frequencies", num_frequencies, minimum=0)
        self.include_input = bool(include_input)
        if not self.num_frequencies and not self.include_input:
            raise invalid(
                "include_input",
                include_input,
                "True when num_frequencies=0 (the encoding would be empty)",
            )

    def call(self, inputs):
        return positional_encoding(inputs, self.num_frequencies, self.include_input)

    def compute_output_shape(self, input_shape):
        d = input_shape[-1]
        factor = 2 * self.num_frequencies + int(self.include_input)
        return (*input_shape[:-1], None if d is None else d * factor)

    def get_config(self):
        return {
            **super().get_config(),
            "num_frequencies": self.num_frequencies,
            "include_input": self.include_input,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class StratifiedSamples(keras.layers.Layer):
    """Depths along each ray: one per equal bin of [near, far].

    In training each depth is drawn uniformly inside its bin, so the network
    sees a continuous range of depths; in inference the bins' midpoints.

    Args:
        near, far: float. Depth range sampled along every ray.
        num_samples: int. Samples per ray.
        seed: int or None. Seed of the jitter.

    Call arguments:
        rays: tensor (batch, 6), origin then direction.
        training: bool. Jitter (True) or midpoints (False).

    Returns:
        Tensor (batch, num_samples).
    """

    def __init__(self, near=2.0, far=6.0, num_samples=32, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.near, self.far = _check_range(near, far)
        self.num_samples = check_int("num_samples", num_samples, minimum=2)
        self.seed = check_int("seed", seed, minimum=0, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, rays, training=False):
        batch = ops.shape(rays)[0]
        noise = None
        if training:
            noise = keras.random.uniform(
                (batch, self.num_samples), seed=self.seed_generator
            )
        return stratified_depths(batch, self.near, self.far, self.num_samples, noise)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_samples)

    def get_config(self):
        return {
            **super().get_config(),
            "near": self.near,
            "far": self.far,
            "num_samples": self.num_samples,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class ImportanceSamples(keras.layers.Layer):
    """Hierarchical sampling: more depths where the coarse pass found matter.

    The coarse weights, as a piecewise-constant PDF over the bins between
    the coarse depths' midpoints, are sampled `num_samples` times (randomly
    in training, at evenly spaced quantiles in inference) and merged with
    the coarse depths, sorted (NeRF section 5.2). No gradient flows into the
    depths: the coarse network learns from its own colour loss.

    Args:
        num_samples: int. Extra depths per ray.
        seed: int or None. Seed of the training-time draws.

    Call arguments:
        inputs: list [t, weights], each (batch, N): the coarse depths and
            their volume-rendering weights.
        training: bool.

    Returns:
        Tensor (batch, N + num_samples), sorted along the last axis.
    """

    def __init__(self, num_samples=32, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_samples = check_int("num_samples", num_samples, minimum=1)
        self.seed = check_int("seed", seed, minimum=0, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        t, weights = (ops.stop_gradient(x) for x in inputs)
        batch = ops.shape(t)[0]
        if training:
            u = keras.random.uniform(
                (batch, self.num_samples), seed=self.seed_generator
            )
        else:
            quantiles = (ops.arange(self.num_samples, dtype="float32") + 0.5) / (
                self.num_samples
            )
            u = ops.broadcast_to(quantiles, (batch, self.num_samples))
        edges = 0.5 * (t[:, 1:] + t[:, :-1])  # (B, N - 1): N - 2 inner bins
        fine = sample_pdf(edges, weights[:, 1:-1], u)
        return ops.sort(ops.concatenate([t, ops.stop_gradient(fine)], axis=-1), axis=-1)

    def compute_output_shape(self, input_shape):
        n = input_shape[0][-1]
        return (input_shape[0][0], None if n is None else n + self.num_samples)

    def get_config(self):
        return {
            **super().get_config(),
            "num_samples": self.num_samples,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class RayPoints(keras.layers.Layer):
    """The points `origin + t * direction` and the unit viewing direction
    at each of them.

    Call arguments:
        inputs: list [rays (batch, 6), t (batch, N)].

    Returns:
        [points (batch, N, 3), directions (batch, N, 3)].
    """

    def call(self, inputs):
        rays, t = inputs
        origins, directions = rays[:, None, :3], rays[:, None, 3:]
        points = origins + t[..., None] * directions
        unit = directions / (ops.norm(directions, axis=-1, keepdims=True) + 1e-9)
        return [points, ops.broadcast_to(unit, ops.shape(points))]

    def compute_output_shape(self, input_shape):
        batch, n = input_shape[1]
        return [(batch, n, 3), (batch, n, 3)]


@keras.saving.register_keras_serializable(package="kerasdl")
class VolumeRendering(keras.layers.Layer):
    """Composites colours and densities along rays (see `volume_render`).

    Args:
        background: float. Grey level in [0, 1] behind the scene.

    Call arguments:
        inputs: list [rgb (batch, N, 3), sigma (batch, N, 1), t (batch, N),
            rays (batch, 6)].

    Returns:
        [rgb (batch, 3), depth (batch, 1), acc (batch, 1), weights
        (batch, N)].
    """

    def __init__(self, background=0.0, **kwargs):
        super().__init__(**kwargs)
        self.background = check_float("background", background, 0.0, 1.0)

    def call(self, inputs):
        rgb, sigma, t, rays = inputs
        out = volume_render(rgb, sigma[..., 0], t, rays[:, 3:], self.background)
        return [out["rgb"], out["depth"][:, None], out["acc"][:, None], out["weights"]]

    def compute_output_shape(self, input_shape):
        batch, n = input_shape[2]
        return [(batch, 3), (batch, 1), (batch, 1), (batch, n)]

    def get_config(self):
        return {**super().get_config(), "background": self.background}
