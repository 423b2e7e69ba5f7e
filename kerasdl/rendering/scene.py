"""An offline synthetic scene with known cameras: the NeRF chapter's data.

A few coloured spheres, shaded with a fixed light (Lambertian, so a point's
colour does not depend on the viewer), are ray-traced analytically in NumPy
from cameras on a sphere around the origin, looking at it. Nothing is
downloaded: the images and their exact camera poses come from this file.

Cameras follow NeRF's (OpenGL) convention: a camera-to-world matrix whose
camera looks down its -z axis, x to the right and y up; a pixel's ray
direction has z = -1 in camera space, so depths along it are distances along
the viewing axis.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from kerasdl._checks import check_float, check_int, invalid

__all__ = [
    "SPHERES",
    "NerfData",
    "Sphere",
    "camera_rays",
    "focal_length",
    "look_at",
    "make_nerf_data",
    "orbit_poses",
    "rays_and_pixels",
    "trace_spheres",
]


@dataclasses.dataclass(frozen=True)
class Sphere:
    """A sphere: centre (x, y, z), radius, and albedo (r, g, b) in [0, 1]."""

    center: tuple
    radius: float
    albedo: tuple


# Three spheres inside the unit ball: cameras at distance 3.2 see them whole
# with a 40-degree field of view, filling about a third of each image.
SPHERES = (
    Sphere((0.4, 0.0, 0.0), 0.55, (0.9, 0.2, 0.2)),
    Sphere((-0.4, 0.5, 0.15), 0.45, (0.2, 0.8, 0.3)),
    Sphere((-0.3, -0.5, -0.2), 0.4, (0.25, 0.4, 0.95)),
)
# Direction towards the light; ambient share of the shading.
LIGHT = (0.5, 0.3, 0.8)
AMBIENT = 0.3


def look_at(position, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """The 4x4 camera-to-world matrix of a camera at `position` looking at
    `target` (its -z axis points at the target, +y as close to `up` as can
    be)."""
    position = np.asarray(position, "float64")
    forward = np.asarray(target, "float64") - position
    norm = np.linalg.norm(forward)
    if norm == 0:
        raise invalid("position", tuple(position), "a point other than the target")
    back = -forward / norm  # the camera's +z axis
    right = np.cross(np.asarray(up, "float64"), back)
    if np.linalg.norm(right) < 1e-9:
        raise invalid("up", up, "a direction not parallel to the viewing axis")
    right /= np.linalg.norm(right)
    true_up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, true_up, back, position
    return pose.astype("float32")


def orbit_poses(azimuths_deg, elevations_deg, radius=4.0) -> np.ndarray:
    """Camera-to-world matrices (n, 4, 4) of cameras at `radius` from the
    origin, at the given azimuths and elevations (degrees), looking at it."""
    azimuths = np.radians(np.asarray(azimuths_deg, "float64"))
    elevations = np.radians(np.broadcast_to(elevations_deg, azimuths.shape))
    radius = check_float("radius", radius, minimum=0.0, min_inclusive=False)
    positions = radius * np.stack(
        [
            np.cos(elevations) * np.cos(azimuths),
            np.cos(elevations) * np.sin(azimuths),
            np.sin(elevations),
        ],
        axis=-1,
    )
    return np.stack([look_at(p) for p in positions])


def focal_length(width: int, fov_deg: float) -> float:
    """Focal length in pixels of a pinhole camera `width` pixels wide with a
    horizontal field of view of `fov_deg` degrees."""
    fov = check_float(
        "fov_deg", fov_deg, minimum=0.0, maximum=180.0, min_inclusive=False
    )
    return 0.5 * width / math.tan(math.radians(fov) / 2)


def camera_rays(pose, height: int, width: int, focal: float):
    """One ray per pixel through its centre, row by row (keras.ops).

    Args:
        pose: array (4, 4) or (3, 4). Camera-to-world matrix.
        height, width: int. Image size in pixels.
        focal: float. Focal length in pixels.

    Returns:
        Tensor (height * width, 6): origin then direction per pixel, the
        direction with z = -1 in camera space (not normalized).
    """
    height = check_int("height", height, minimum=1)
    width = check_int("width", width, minimum=1)
    focal = check_float("focal", focal, minimum=0.0, min_inclusive=False)
    pose = ops.convert_to_tensor(np.asarray(pose, "float32")[:3])
    cols, rows = ops.meshgrid(
        ops.arange(width, dtype="float32"), ops.arange(height, dtype="float32")
    )
    camera = ops.stack(
        [
            (cols + 0.5 - width / 2) / focal,
            -(rows + 0.5 - height / 2) / focal,
            -ops.ones_like(cols),
        ],
        axis=-1,
    )  # (H, W, 3)
    directions = ops.reshape(ops.matmul(camera, ops.transpose(pose[:, :3])), (-1, 3))
    origins = ops.broadcast_to(pose[:, 3], ops.shape(directions))
    return ops.concatenate([origins, directions], axis=-1)


def trace_spheres(rays, spheres=SPHERES, background=0.0):
    """Ray-traces `spheres` analytically (NumPy): the nearest hit's shaded
    colour, or the background.

    Args:
        rays: array (n, 6). Origins and directions.
        spheres: sequence of `Sphere`.
        background: float. Grey level where a ray hits nothing.

    Returns:
        (rgb (n, 3) float32, depth (n,) float32 with inf for a miss).
    """
    rays = np.asarray(keras.ops.convert_to_numpy(rays), "float64")
    origins, directions = rays[:, :3], rays[:, 3:]
    depth = np.full(len(rays), np.inf)
    rgb = np.full((len(rays), 3), float(background))
    light = np.asarray(LIGHT) / np.linalg.norm(LIGHT)
    a = np.sum(directions**2, axis=-1)
    for sphere in spheres:
        offset = origins - np.asarray(sphere.center)
        b = 2 * np.sum(offset * directions, axis=-1)
        c = np.sum(offset**2, axis=-1) - sphere.radius**2
        disc = b * b - 4 * a * c
        hit = disc >= 0
        t = np.where(hit, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
        nearer = hit & (t > 0) & (t < depth)
        points = origins[nearer] + t[nearer, None] * directions[nearer]
        normals = (points - np.asarray(sphere.center)) / sphere.radius
        lit = AMBIENT + (1 - AMBIENT) * np.clip(normals @ light, 0.0, None)
        rgb[nearer] = lit[:, None] * np.asarray(sphere.albedo)
        depth[nearer] = t[nearer]
    return rgb.astype("float32"), depth.astype("float32")


@dataclasses.dataclass
class NerfData:
    """Rays and pixel colours of the training and held-out views.

    Attributes:
        train_rays, test_rays: float32 (views * H * W, 6).
        train_pixels, test_pixels: float32 (views * H * W, 3) in [0, 1].
        train_poses, test_poses: float32 (views, 4, 4) camera-to-world.
        image_size: int. Images are image_size x image_size.
        focal: float. Focal length in pixels.
        near, far: float. A depth range holding the whole scene.
        background: float. Grey level where a ray hits nothing.
    """

    train_rays: np.ndarray
    train_pixels: np.ndarray
    test_rays: np.ndarray
    test_pixels: np.ndarray
    train_poses: np.ndarray
    test_poses: np.ndarray
    image_size: int
    focal: float
    near: float
    far: float
    background: float

    def images(self, split: str) -> np.ndarray:
        """The views of `split` ("train" or "test") as (views, H, W, 3)."""
        if split not in ("train", "test"):
            raise invalid("split", split, options=("train", "test"))
        pixels = self.train_pixels if split == "train" else self.test_pixels
        return pixels.reshape(-1, self.image_size, self.image_size, 3)


def rays_and_pixels(poses, size, focal, background):
    """Rays (views * size * size, 6) of `poses` and the traced colours."""
    rays = np.concatenate(
        [keras.ops.convert_to_numpy(camera_rays(p, size, size, focal)) for p in poses]
    )
    return rays, trace_spheres(rays, SPHERES, background)[0]


def make_nerf_data(
    image_size=32,
    train_views=40,
    test_views=4,
    radius=3.2,
    fov_deg=40.0,
    background=0.0,
    seed=0,
) -> NerfData:
    """Renders the sphere scene from training and held-out cameras.

    Training cameras spread over the upper hemisphere (azimuths by the
    golden angle, elevations 10 to 60 degrees, shuffled by `seed`); the
    held-out cameras orbit at 35 degrees of elevation at azimuths no
    training camera has, so their views are novel.

    Args:
        image_size: int. Side of the square images in pixels.
        train_views, test_views: int. Number of views of each split.
        radius: float. Distance of the cameras from the origin.
        fov_deg: float. Horizontal field of view in degrees.
        background: float. Grey level where a ray hits nothing.
        seed: int. Seed of the training cameras' elevations.

    Returns:
        A `NerfData`; near and far are radius -/+ 1.5 (the scene fits in
        the unit ball).
    """
    size = check_int("image_size", image_size, minimum=2)
    train_views = check_int("train_views", train_views, minimum=1)
    test_views = check_int("test_views", test_views, minimum=1)
    background = check_float("background", background, 0.0, 1.0)
    radius = check_float("radius", radius, minimum=1.6)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    golden = 180.0 * (3.0 - math.sqrt(5.0))
    train_azimuths = golden * np.arange(train_views)
    train_elevations = rng.permutation(np.linspace(10.0, 60.0, train_views))
    test_azimuths = 360.0 * (np.arange(test_views) + 0.5) / test_views + 7.0
    train_poses = orbit_poses(train_azimuths, train_elevations, radius)
    test_poses = orbit_poses(test_azimuths, 35.0, radius)
    focal = focal_length(size, fov_deg)
    train_rays, train_pixels = rays_and_pixels(train_poses, size, focal, background)
    test_rays, test_pixels = rays_and_pixels(test_poses, size, focal, background)
    return NerfData(
        train_rays=train_rays,
        train_pixels=train_pixels,
        test_rays=test_rays,
        test_pixels=test_pixels,
        train_poses=train_poses,
        test_poses=test_poses,
        image_size=size,
        focal=focal,
        near=radius - 1.5,
        far=radius + 1.5,
        background=background,
    )
