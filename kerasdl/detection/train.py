"""Training and evaluating a detector with plain `model.fit` / `model.predict`."""

from __future__ import annotations

import keras
import numpy as np

from kerasdl._checks import check_float, check_int
from kerasdl.detection.boxes import decode_predictions, encode_targets
from kerasdl.detection.loss import DetectionLoss
from kerasdl.detection.metrics import coco_map

__all__ = ["detector_geometry", "evaluate_detector", "fit_detector"]


def detector_geometry(model) -> dict:
    """Output grid, stride and classes of an `fcos` model, read from its shapes.

    Returns:
        {"grid": (H, W) of the output, "stride": input pixels per location,
        "num_classes": channels - 5, "image_shape": (height, width)}.

    Raises:
        ValueError: if the model's input and output shapes are not those of
            a detector with a static image size.
    """
    height, width = model.input_shape[1:3]
    grid_h, grid_w, channels = model.output_shape[1:4]
    if None in (height, width, grid_h, grid_w) or channels is None or channels < 6:
        raise ValueError(
            f"Model {model.name!r} is not a detector with a static image size: "
            f"input shape {model.input_shape}, output shape {model.output_shape}; "
            "expected (None, H, W, C) -> (None, H / s, W / s, num_classes + 5)."
        )
    if height % grid_h or width % grid_w or height // grid_h != width // grid_w:
        raise ValueError(
            f"Model {model.name!r}: input {height}x{width} is not a whole "
            f"multiple of its output grid {grid_h}x{grid_w}."
        )
    return {
        "grid": (grid_h, grid_w),
        "stride": height // grid_h,
        "num_classes": channels - 5,
        "image_shape": (height, width),
    }


def fit_detector(
    model,
    images,
    boxes,
    classes,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    verbose: int = 0,
    **loss_options,
):
    """Compiles `model` with `DetectionLoss` and Adam (cosine decay) and fits it.

    Targets are assigned once (`encode_targets`) from the model's geometry.

    Args:
        model: keras.Model. An `fcos` detector.
        images: array (N, H, W, 3).
        boxes: array (N, max_objects, 4). Pixel boxes, rows of class -1 are
            padding.
        classes: array (N, max_objects). Class ids, -1 for padding.
        epochs: int. Passes over the images.
        batch_size: int. Images per step.
        learning_rate: float. Peak learning rate, decayed to 0 by a cosine.
        verbose: int. Keras' fit verbosity.
        **loss_options: Further `DetectionLoss` arguments (alpha, gamma, ...).

    Returns:
        The `keras.callbacks.History` of the fit.
    """
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    learning_rate = check_float("learning_rate", learning_rate, minimum=0.0)
    geometry = detector_geometry(model)
    targets = encode_targets(
        boxes, classes, geometry["grid"], geometry["stride"], geometry["num_classes"]
    )
    steps = epochs * -(-len(targets) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        keras.optimizers.Adam(schedule),
        loss=DetectionLoss(geometry["num_classes"], **loss_options),
    )
    return model.fit(
        np.asarray(images, "float32"),
        targets,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    )


def evaluate_detector(model, images, boxes, classes, **decode_options) -> dict:
    """COCO mAP of `model` on images with ground-truth boxes and classes.

    Args:
        model: keras.Model. An `fcos` detector.
        images, boxes, classes: as for `fit_detector`.
        **decode_options: Further `decode_predictions` arguments.

    Returns:
        {"map50", "map", "map75"} (see `coco_map`) and "detections": the
        decoded detections per image.
    """
    geometry = detector_geometry(model)
    predictions = model.predict(np.asarray(images, "float32"), verbose=0)
    options = {"image_shape": geometry["image_shape"], **decode_options}
    found = decode_predictions(
        predictions, geometry["stride"], geometry["num_classes"], **options
    )
    return {
        **coco_map(found, boxes, classes, geometry["num_classes"]),
        "detections": found,
    }
