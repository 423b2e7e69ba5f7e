"""The FCOS detection loss, usable with plain `model.compile` / `model.fit`."""

from __future__ import annotations

import keras
from keras import ops

from kerasdl._checks import check_float, check_int

__all__ = ["DetectionLoss"]


def _bce_with_logits(logits, targets):
    # max(x, 0) - x z + log(1 + exp(-|x|)): stable for large |x|.
    return (
        ops.maximum(logits, 0.0)
        - logits * targets
        + ops.log1p(ops.exp(-ops.abs(logits)))
    )


def _giou(pred, target):
    """GIoU of boxes given as distances (l, t, r, b) from one shared point."""
    pl, pt, pr, pb = (pred[..., i] for i in range(4))
    tl, tt, tr, tb = (target[..., i] for i in range(4))
    inter = (ops.minimum(pl, tl) + ops.minimum(pr, tr)) * (
        ops.minimum(pt, tt) + ops.minimum(pb, tb)
    )
    union = (pl + pr) * (pt + pb) + (tl + tr) * (tt + tb) - inter
    enclosing = (ops.maximum(pl, tl) + ops.maximum(pr, tr)) * (
        ops.maximum(pt, tt) + ops.maximum(pb, tb)
    )
    iou = inter / ops.maximum(union, 1e-9)
    return iou - (enclosing - union) / ops.maximum(enclosing, 1e-9)


@keras.saving.register_keras_serializable(package="kerasdl")
class DetectionLoss(keras.losses.Loss):
    """FCOS loss: sigmoid focal loss + GIoU box loss + centre-ness BCE.

    `y_true` is what `kerasdl.detection.encode_targets` makes and `y_pred`
    the detector's output, both (batch, H, W, num_classes + 5). The focal
    loss (Lin et al. 2017) runs over every location and class; the GIoU
    loss (Rezatofighi et al. 2019) on the decoded distances exp(raw) and the
    centre-ness binary cross-entropy run over positive locations only. Each
    term is summed and divided by the number of positive locations in the
    batch (at least one), as FCOS does.

    Args:
        num_classes: int. Classes of the detector.
        alpha: float in [0, 1]. Focal loss weight of the positive class.
        gamma: float >= 0. Focal loss focusing exponent (0: plain BCE).
        box_weight: float >= 0. Weight of the GIoU term.
        centerness_weight: float >= 0. Weight of the centre-ness term.
        name: str. Loss name.

    Example:
    >>> model.compile("adam", loss=DetectionLoss(num_classes=3))
    >>> model.fit(images, encode_targets(boxes, classes, (16, 16), 4, 3))
    """

    def __init__(
        self,
        num_classes: int,
        alpha: float = 0.25,
        gamma: float = 2.0,
        box_weight: float = 1.0,
        centerness_weight: float = 1.0,
        name: str = "detection_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        self.alpha = check_float("alpha", alpha, 0.0, 1.0)
        self.gamma = check_float("gamma", gamma, minimum=0.0)
        self.box_weight = check_float("box_weight", box_weight, minimum=0.0)
        self.centerness_weight = check_float(
            "centerness_weight", centerness_weight, minimum=0.0
        )

    def terms(self, y_true, y_pred) -> dict:
        """The three loss terms per image, each normalized by the positives.

        Returns:
            {"classification", "box", "centerness"}: tensors of shape (batch,);
            their batch means are the terms of the total loss.
        """
        c = self.num_classes
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != c + 5:
            raise ValueError(
                f"DetectionLoss(num_classes={c}) expects predictions with "
                f"num_classes + 5 = {c + 5} channels; received shape "
                f"{tuple(y_pred.shape)}."
            )
        class_true, class_logits = y_true[..., :c], y_pred[..., :c]
        positive = ops.max(class_true, axis=-1)  # (B, H, W): 1 on objects
        batch = ops.cast(ops.shape(y_true)[0], "float32")
        per_image_positives = ops.maximum(ops.sum(positive), 1.0) / batch

        prob = ops.sigmoid(class_logits)
        p_t = prob * class_true + (1 - prob) * (1 - class_true)
        alpha_t = self.alpha * class_true + (1 - self.alpha) * (1 - class_true)
        focal = (
            alpha_t
            * ops.power(1 - p_t, self.gamma)
            * _bce_with_logits(class_logits, class_true)
        )
        distances = ops.exp(ops.clip(y_pred[..., c : c + 4], -10.0, 10.0))
        # Negatives have all-zero targets; give them a unit box so that the
        # masked-out GIoU stays finite (0 * NaN would poison the gradient).
        target = y_true[..., c : c + 4] + (1 - positive)[..., None]
        box = (1 - _giou(distances, target)) * positive
        centerness = _bce_with_logits(y_pred[..., c + 4], y_true[..., c + 4]) * positive
        return {
            "classification": ops.sum(focal, axis=(1, 2, 3)) / per_image_positives,
            "box": ops.sum(box, axis=(1, 2)) / per_image_positives,
            "centerness": ops.sum(centerness, axis=(1, 2)) / per_image_positives,
        }

    def call(self, y_true, y_pred):
        terms = self.terms(y_true, y_pred)
        return (
            terms["classification"]
            + self.box_weight * terms["box"]
            + self.centerness_weight * terms["centerness"]
        )

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "alpha": self.alpha,
            "gamma": self.gamma,
            "box_weight": self.box_weight,
            "centerness_weight": self.centerness_weight,
        }
