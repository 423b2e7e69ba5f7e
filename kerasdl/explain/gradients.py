"""Attribution maps from gradients and perturbations, on every Keras backend.

- `saliency` (Simonyan et al. 2014) and `smoothgrad` (Smilkov et al. 2017):
  the gradient of the class score with respect to the input pixels, plain
  or averaged over noisy copies of the input.
- `integrated_gradients` (Sundararajan et al. 2017): the path integral of
  the gradients from a baseline to the input; the attributions sum to
  `score(x) - score(baseline)` (completeness).
- `grad_cam` (Selvaraju et al. 2017) and `grad_cam_plus_plus` (Chattopadhay
  et al. 2018): a convolutional feature map weighted by the gradients of the
  class score, upsampled to the input's size.
- `occlusion` (Zeiler & Fergus 2014): the drop of the class score when a
  patch of the input is hidden.

Every function takes a Keras model and a NumPy batch and returns NumPy;
the gradients come from `kerasdl._backend.input_gradients`, so the same
code runs on TensorFlow, JAX and PyTorch. The class score is the model's
output for the class (probabilities for a softmax classifier).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

from kerasdl import _backend, _keras_compat
from kerasdl._checks import check_choice, check_float, check_int

__all__ = [
    "find_conv_layer",
    "grad_cam",
    "grad_cam_plus_plus",
    "integrated_gradients",
    "occlusion",
    "saliency",
    "smoothgrad",
]

# Split models (inputs + feature map -> output) per model and layer name;
# weakly held so they go with the model.
_SPLITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ helpers
def _batch(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"Invalid x of shape {x.shape}: expected a batch (batch, ...features)."
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"Invalid x of dtype {x.dtype}: expected floating-point inputs."
        )
    return x.astype(np.float32, copy=False)


def _scores_2d(outputs, where: str):
    if len(outputs.shape) != 2:
        raise ValueError(
            f"{where} explains classifiers with outputs (batch, classes); the "
            f"model's output has shape {tuple(outputs.shape)}."
        )
    return outputs


def predict(model, x) -> np.ndarray:
    """The model's output for a NumPy batch, as NumPy (inference mode)."""
    return _backend.to_numpy(model(_batch(x), training=False))


def _targets(model, x, target) -> np.ndarray:
    """One class index per example: given (int or per-example) or predicted."""
    if target is None:
        return np.argmax(_scores_2d(predict(model, x), "explain"), axis=-1)
    targets = np.asarray(target)
    if targets.ndim == 0:
        targets = np.full(len(x), int(targets))
    if targets.shape != (len(x),) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"Invalid target={target!r}: expected None (the predicted class), "
            f"an int or {len(x)} integer class indices."
        )
    return targets.astype(np.int64)


def _ends_in_softmax(model) -> bool:
    # A single-output model's layers end with its output layer (topological order).
    last = model.layers[-1] if getattr(model, "layers", None) else None
    if isinstance(last, keras.layers.Softmax):
        return True
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


def _score_fn(fn, targets, num_classes: int, logit: bool = False):
    """`x -> (batch,)` score of each example's target class under `fn`.

    With `logit=True` and softmax outputs the score is the centred logit
    `log p_c - mean_j log p_j = z_c - mean_j z_j`: its gradient does not
    vanish when the classifier is confident, unlike that of `p_c`
    (Selvaraju et al. take the score before the softmax for this reason).
    """
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(
            f"Invalid target classes {sorted(set(targets.tolist()))}: the model "
            f"has {num_classes} classes (0..{num_classes - 1})."
        )
    one_hot = np.eye(num_classes, dtype=np.float32)[targets]

    def score(v):
        outputs = _scores_2d(fn(v), "explain")
        if logit:
            # The floor only guards log(0) for classes the model rules out.
            outputs = keras.ops.log(keras.ops.maximum(outputs, 1e-30))
            outputs = outputs - keras.ops.mean(outputs, axis=-1, keepdims=True)
        return keras.ops.sum(outputs * keras.ops.cast(one_hot, outputs.dtype), axis=-1)

    return score


def _num_classes(model) -> int:
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else None
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            "explain needs a classifier with outputs (batch, classes); received "
            f"a model with output shape {shape}."
        )
    return int(shape[-1])


def _class_score(model, targets):
    return _score_fn(lambda v: model(v, training=False), targets, _num_classes(model))


def _gradients(model, x, targets) -> np.ndarray:
    grads = _backend.input_gradients(_class_score(model, targets), x)
    return _backend.to_numpy(grads)


def _reduce_channels(grads: np.ndarray, x: np.ndarray) -> np.ndarray:
    # Images (batch, H, W, C): the largest magnitude over the channels, as
    # in Simonyan et al.; other inputs keep their shape.
    if x.ndim == 4:
        return np.max(np.abs(grads), axis=-1)
    return np.abs(grads)


def _normalize(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] (all-zero maps stay zero)."""
    flat = maps.reshape(len(maps), -1)
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    span[span == 0] = 1.0
    return ((flat - low) / span).reshape(maps.shape).astype(np.float32)


# ------------------------------------------------------------ saliency maps
def saliency(model, x, target=None) -> np.ndarray:
    """Vanilla gradient saliency: |d score / d input|.

    Args:
        model: keras.Model. A classifier with outputs (batch, classes).
        x: array (batch, ...). Float inputs.
        target: None (each example's predicted class), an int, or one class
            index per example.

    Returns:
        np.ndarray: (batch, H, W) for images (max over channels), else the
        shape of `x`.

    Example:
    >>> maps = saliency(model, images[:4])  # (4, 32, 32)
    """
    x = _batch(x)
    targets = _targets(model, x, target)
    return _reduce_channels(_gradients(model, x, targets), x)


def smoothgrad(model, x, target=None, samples: int = 16, noise: float = 0.15, seed=0):
    """SmoothGrad: saliency averaged over noisy copies of the input.

    Args:
        model: keras.Model. A classifier with outputs (batch, classes).
        x: array (batch, ...). Float inputs.
        target: None (predicted class), an int, or one class per example.
        samples: int. Noisy copies per example.
        noise: float. Noise standard deviation as a fraction of each
            example's value range (Smilkov et al. suggest 0.1-0.2).
        seed: int. Seed of the noise.

    Returns:
        np.ndarray: like `saliency`.
    """
    x = _batch(x)
    samples = check_int("samples", samples, minimum=1)
    noise = check_float("noise", noise, minimum=0.0)
    targets = _targets(model, x, target)
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, x.ndim))
    span = (x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True)) * noise
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = (x + rng.standard_normal(x.shape).astype(np.float32) * span).astype(
            np.float32
        )
        total += _gradients(model, noisy, targets)
    return _reduce_channels(total / samples, x)


def integrated_gradients(
    model, x, target=None, baseline=None, steps: int = 64, batch_size: int | None = None
):
    """Integrated gradients: (x - baseline) times the mean path gradient.

    The path integral is taken with the trapezoidal rule over `steps`
    intervals; the attributions of an example sum to `score(x) -
    score(baseline)` up to the quadrature error (completeness), which
    more steps reduce.

    Args:
        model: keras.Model. A classifier with outputs (batch, classes).
        x: array (batch, ...). Float inputs.
        target: None (predicted class), an int, or one class per example.
        baseline: None (zeros), a float, or an array broadcastable to `x`.
        steps: int. Intervals on the straight path from baseline to x.
        batch_size: int or None. Interpolated inputs per gradient call;
            None: the whole path (`steps + 1` inputs) in one call.

    Returns:
        np.ndarray: attributions with the shape of `x`.

    Example:
    >>> attributions = integrated_gradients(model, images[:2], steps=128)
    """
    x = _batch(x)
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
    batch_size = batch_size or steps + 1
    base = np.broadcast_to(
        np.zeros_like(x) if baseline is None else np.asarray(baseline, np.float32),
        x.shape,
    ).astype(np.float32)
    targets = _targets(model, x, target)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] *= 0.5  # trapezoid
    attributions = np.zeros_like(x)
    for i in range(len(x)):
        path = base[i] + alphas.reshape((-1,) + (1,) * (x.ndim - 1)) * (x[i] - base[i])
        grads = []
        for start in range(0, len(path), batch_size):
            chunk = path[start : start + batch_size]
            grads.append(_gradients(model, chunk, np.full(len(chunk), targets[i])))
        grads = np.concatenate(grads)
        mean_grad = np.tensordot(weights, grads, axes=1)
        attributions[i] = (x[i] - base[i]) * mean_grad
    return attributions


# ----------------------------------------------------------------- Grad-CAM
def find_conv_layer(model, layer=None):
    """The layer whose feature map Grad-CAM weighs.

    Args:
        model: keras.Model. A functional (or Sequential) model.
        layer: None (the last top-level layer with a spatial output of rank
            4, i.e. the last 2-D convolution or what follows it: activation,
            normalization, pooling), or a layer name.

    Returns:
        keras.layers.Layer.

    Raises:
        ValueError: if there is no such layer, or the name is unknown.
    """
    if not (isinstance(model, keras.Sequential) or _keras_compat.is_functional(model)):
        raise ValueError(
            "Grad-CAM reads an inner feature map and needs a functional or "
            f"Sequential model; received {type(model).__name__}."
        )
    names = [lay.name for lay in model.layers]
    if layer is not None:
        check_choice("layer", layer, names)
        found = model.get_layer(layer)
        if len(found.output.shape) != 4:
            raise ValueError(
                f"Invalid layer={layer!r}: Grad-CAM needs a feature map "
                f"(batch, H, W, channels); its output has shape {found.output.shape}."
            )
        return found
    inputs = {id(t) for t in model.inputs}
    for candidate in reversed(model.layers):
        output = getattr(candidate, "output", None)
        if (
            isinstance(output, keras.KerasTensor)
            and id(output) not in inputs
            and len(output.shape) == 4
        ):
            return candidate
    raise ValueError(
        "Grad-CAM found no layer with a (batch, H, W, channels) output in "
        f"{model.name!r}; pass layer= naming one of {names}."
    )


def _split(model, layer):
    """(features model, head model): x -> A, and [x, A] -> output.

    The head takes the original inputs too, so branches that bypass the
    feature map (residual shortcuts) still see their own inputs.
    """
    cache = _SPLITS.setdefault(model, {})
    if layer.name not in cache:
        if len(model.inputs) != 1:
            raise ValueError(
                f"Grad-CAM explains single-input models; {model.name!r} has "
                f"{len(model.inputs)} inputs."
            )
        if isinstance(model, keras.Sequential):
            # A fresh graph through the same layers: a loaded Sequential's
            # `layer.output` may belong to an earlier call than `model.inputs`.
            source = model.inputs[0]
            inputs = keras.Input(batch_shape=source.shape, dtype=source.dtype)
            x = inputs
            for each in model.layers:
                x = each(x)
                if each is layer:
                    feature_map = x
            output = x
        else:
            inputs, feature_map, output = (
                model.inputs[0],
                layer.output,
                model.outputs[0],
            )
        features = keras.Model(inputs, feature_map)
        head = keras.Model([inputs, feature_map], output)
        cache[layer.name] = (features, head)
    return cache[layer.name]


def _cam_parts(model, x, target, layer):
    x = _batch(x)
    targets = _targets(model, x, target)
    found = find_conv_layer(model, layer)
    features, head = _split(model, found)
    maps = _backend.to_numpy(features(x, training=False))
    images = keras.ops.convert_to_tensor(x)

    def through_head(a):
        return head([images, a], training=False)

    score = _score_fn(
        through_head, targets, _num_classes(model), logit=_ends_in_softmax(model)
    )
    grads = _backend.to_numpy(_backend.input_gradients(score, maps))
    return x, maps, grads


def _upsample(cams: np.ndarray, size) -> np.ndarray:
    resized = keras.ops.image.resize(
        cams[..., None].astype(np.float32), size, interpolation="bilinear"
    )
    return _backend.to_numpy(resized)[..., 0]


def _cam(x, maps, channel_weights) -> np.ndarray:
    cams = np.maximum(np.einsum("bhwk,bk->bhw", maps, channel_weights), 0.0)
    return _normalize(_upsample(cams, x.shape[1:3]))


def grad_cam(model, x, target=None, layer=None) -> np.ndarray:
    """Grad-CAM: the feature map weighted by its spatially averaged gradients.

    Args:
        model: keras.Model. A functional convolutional classifier.
        x: array (batch, H, W, C). Images.
        target: None (predicted class), an int, or one class per example.
        layer: None (the last layer with a spatial output) or a layer name.

    Returns:
        np.ndarray (batch, H, W): heat maps in [0, 1] at the input's size.

    Example:
    >>> heat = grad_cam(model, images[:8])
    >>> np.unravel_index(heat[0].argmax(), heat[0].shape)  # where it looked
    """
    x, maps, grads = _cam_parts(model, x, target, layer)
    return _cam(x, maps, grads.mean(axis=(1, 2)))


def grad_cam_plus_plus(model, x, target=None, layer=None) -> np.ndarray:
    """Grad-CAM++: pixel-wise weighted positive gradients (several objects).

    The weights use the closed form of Chattopadhay et al. (2018), eq. 19,
    with the higher derivatives of an exponential score approximated by
    powers of the first gradient. Arguments and result as `grad_cam`'s.
    """
    x, maps, grads = _cam_parts(model, x, target, layer)
    g2, g3 = grads**2, grads**3
    denominator = 2.0 * g2 + maps.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denominator != 0.0, denominator, 1.0)
    channel_weights = (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2))
    return _cam(x, maps, channel_weights)


# ---------------------------------------------------------------- occlusion
def occlusion(
    model,
    x,
    target=None,
    patch: int = 8,
    stride: int | None = None,
    value=0.0,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity: the drop of the class score under a hidden patch.

    Args:
        model: keras.Model. A classifier with outputs (batch, classes).
        x: array (batch, H, W, C). Images.
        target: None (predicted class), an int, or one class per example.
        patch: int. Side of the square patch.
        stride: int or None. Step between patches (None: patch // 2).
        value: float. What the patch is filled with.
        batch_size: int. Occluded images per forward pass.

    Returns:
        np.ndarray (batch, H, W): the mean score drop of the patches that
        covered each pixel (positive where hiding the pixel hurts).
    """
    x = _batch(x)
    if x.ndim != 4:
        raise ValueError(
            f"occlusion expects images (batch, H, W, C); received {x.shape}."
        )
    height, width = x.shape[1:3]
    patch = check_int("patch", patch, minimum=1, maximum=min(height, width))
    stride = check_int(
        "stride", stride if stride is not None else max(1, patch // 2), minimum=1
    )
    value = check_float("value", value)
    targets = _targets(model, x, target)
    base = predict(model, x)[np.arange(len(x)), targets]
    corners = [
        (top, left)
        for top in range(0, height - patch + 1, stride)
        for left in range(0, width - patch + 1, stride)
    ]
    heat = np.zeros((len(x), height, width), np.float32)
    count = np.zeros((height, width), np.float32)
    for top, left in corners:
        count[top : top + patch, left : left + patch] += 1
    for i in range(len(x)):
        drops = []
        for start in range(0, len(corners), batch_size):
            chunk = corners[start : start + batch_size]
            occluded = np.repeat(x[i : i + 1], len(chunk), axis=0)
            for j, (top, left) in enumerate(chunk):
                occluded[j, top : top + patch, left : left + patch] = value
            drops.append(base[i] - predict(model, occluded)[:, targets[i]])
        for (top, left), drop in zip(corners, np.concatenate(drops)):
            heat[i, top : top + patch, left : left + patch] += drop
    return heat / np.maximum(count, 1.0)
