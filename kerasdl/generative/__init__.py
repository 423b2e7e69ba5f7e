"""Sampling from kerasdl's generative models, and measuring what they make.

One protocol serves every generative family (VAE, GANs, diffusion): a model
class implements

    generate(n, labels=None, seed=None, steps=None, guidance=None) -> np.ndarray

returning `n` images (channels last, float32, in the range the model was
trained on), and carries two attributes:

- `num_classes`: int, the number of classes a conditional model accepts as
  labels, or None for an unconditional model;
- `sampling_steps`: int, the default number of steps of an iterative
  sampler (diffusion), or None for one-shot samplers (VAE, GAN).

`sample` validates the arguments once for every family and calls
`model.generate` with checked values: `labels` is None or an int array of
shape (n,) in [0, num_classes); `steps` is None or an int >= 1 (only for
iterative samplers); `guidance` is None or a float >= 0 (only for
conditional models). The same `seed` gives identical images.

`kerasdl.generative.metrics` measures samples (digits FID, KID, class
consistency, ELBO in nats).

Example:
>>> gan = kerasdl.build("dcgan", image_shape=(16, 16, 1))
>>> gan.fit(images, epochs=5)
>>> images = kerasdl.generative.sample(gan, 64, seed=0)
"""

from __future__ import annotations

import numpy as np

from kerasdl._checks import check_float, check_int, invalid, is_int

__all__ = ["check_labels", "latent_interpolation", "sample"]


def _protocol_value(model, attribute: str):
    if not hasattr(model, attribute):
        raise TypeError(
            f"{type(model).__name__} does not follow kerasdl's sampling protocol: "
            f"it has no attribute {attribute!r} (see kerasdl.generative)."
        )
    return getattr(model, attribute)


def check_labels(labels, n: int, num_classes: int | None) -> np.ndarray | None:
    """Returns `labels` as an int array of shape (n,), or None.

    Args:
        labels: None, an int (the same class for every sample) or a
            sequence/array of n ints.
        n: int. Number of samples.
        num_classes: int or None. Classes the model accepts; None for an
            unconditional model, which accepts no labels.

    Returns:
        np.ndarray of int32 with shape (n,), or None when `labels` is None.

    Raises:
        ValueError: naming the labels, the value and the accepted range.
    """
    if labels is None:
        return None
    if num_classes is None:
        raise invalid(
            "labels",
            labels,
            "None: the model is unconditional (num_classes=None)",
        )
    accepted = f"an int or {n} ints in [0, {num_classes - 1}]"
    if is_int(labels):
        array = np.full((n,), int(labels))
    else:
        array = np.asarray(labels)
        if array.ndim != 1 or array.shape[0] != n:
            raise invalid("labels", labels, f"{accepted} (shape ({n},))")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise invalid("labels", labels, accepted)
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise invalid(
            "labels",
            int(bad[0]),
            f"class ids in [0, {num_classes - 1}] (the model has "
            f"num_classes={num_classes})",
        )
    return array.astype("int32")


def sample(model, n, labels=None, seed=None, steps=None, guidance=None) -> np.ndarray:
    """Draws `n` images from a generative model, reproducibly with a seed.

    Args:
        model: a kerasdl generative model (VAE, DCGAN/CGAN/WGAN-GP, DDPM):
            anything with `generate`, `num_classes` and `sampling_steps`.
        n: int >= 0. Number of images.
        labels: None, an int or n ints: the classes of a conditional
            model's samples (None lets the model choose, e.g. cycling
            through the classes).
        seed: int >= 0 or None. The same seed gives identical images.
        steps: int >= 1 or None. Sampler steps of an iterative model
            (diffusion); None uses the model's default. One-shot models
            (VAE, GAN) accept only None.
        guidance: float >= 0 or None. Classifier-free guidance weight of a
            conditional model; None uses the model's default.

    Returns:
        np.ndarray of float32, shape (n, *image_shape).

    Raises:
        ValueError: for a negative n or steps, steps for a one-shot model,
            guidance or labels for an unconditional model, labels out of
            range; each error names the value and what is accepted.
        TypeError: when `model` does not follow the protocol.

    Example:
    >>> x = kerasdl.generative.sample(cgan, 10, labels=range(10), seed=0)
    """
    n = check_int("n", n, minimum=0)
    seed = check_int("seed", seed, minimum=0, allow_none=True)
    num_classes = _protocol_value(model, "num_classes")
    default_steps = _protocol_value(model, "sampling_steps")
    if steps is not None:
        if default_steps is None:
            raise invalid(
                "steps",
                steps,
                f"None: {type(model).__name__} samples in one shot (no sampler steps)",
            )
        steps = check_int("steps", steps, minimum=1)
    if guidance is not None:
        if num_classes is None:
            raise invalid(
                "guidance",
                guidance,
                "None: guidance needs a class-conditional model "
                f"({type(model).__name__} has num_classes=None)",
            )
        guidance = check_float("guidance", guidance, minimum=0.0)
    if labels is not None and not is_int(labels):
        labels = list(labels) if not isinstance(labels, np.ndarray) else labels
    labels = check_labels(labels, n, num_classes)
    images = model.generate(n, labels=labels, seed=seed, steps=steps, guidance=guidance)
    return np.asarray(images, dtype="float32")


def latent_interpolation(model, start, end, steps=8, labels=None) -> np.ndarray:
    """Images decoded along straight lines between latent codes.

    Args:
        model: a model with `decode(z)` (VAE, autoencoder) or
            `decode(z, labels)` (GAN) and a `latent_dim`.
        start, end: arrays (latent_dim,) or (paths, latent_dim). End points.
        steps: int >= 2. Points per line, end points included.
        labels: None, or (paths,) class ids for a conditional GAN.

    Returns:
        np.ndarray (paths, steps, *image_shape), for
        `kerasdl.viz.plot_interpolation`.

    Raises:
        ValueError: for end points whose size is not the model's latent_dim.

    Example:
    >>> z = vae.encode(x[:2])[0]
    >>> rows = latent_interpolation(vae, z[0], z[1], steps=10)
    """
    steps = check_int("steps", steps, minimum=2)
    latent_dim = _protocol_value(model, "latent_dim")
    start = np.atleast_2d(np.asarray(start, "float32"))
    end = np.atleast_2d(np.asarray(end, "float32"))
    for name, value in (("start", start), ("end", end)):
        if value.shape[-1] != latent_dim or value.shape != start.shape:
            raise invalid(
                name,
                f"array of shape {value.shape}",
                f"shape ({latent_dim},) or (paths, {latent_dim}) like start "
                f"(latent_dim={latent_dim})",
            )
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[None, :, None]
    z = (1.0 - weights) * start[:, None, :] + weights * end[:, None, :]
    flat = z.reshape(-1, latent_dim)
    if labels is None:
        images = model.decode(flat)
    else:
        repeated = np.repeat(np.asarray(labels, "int32"), steps)
        images = model.decode(flat, labels=repeated)
    return np.asarray(images).reshape(len(start), steps, *np.asarray(images).shape[1:])
