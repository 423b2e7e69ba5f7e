"""Object detection: targets, loss, decoding, NMS, COCO mAP and a shapes dataset.

Works with the anchor-free detector `kerasdl.build("fcos", ...)`, whose one
output holds per-location class logits, box distances and centre-ness:

>>> from kerasdl import detection
>>> data = detection.shapes_detection()               # offline, seeded
>>> model = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
>>> detection.fit_detector(model, *data.train, epochs=8, batch_size=16)
>>> detection.evaluate_detector(model, *data.test)["map50"]   # pycocotools
>>> detection.export_detector(model, "savedmodels/fcos", data.test[0][:64],
...                           stride=4, num_classes=3)["agreement"]
1.0

The pieces underneath: `encode_targets` (FCOS assignment, the `y` of
`model.fit`), `DetectionLoss` (focal + GIoU + centre-ness),
`decode_predictions` (boxes, scores, per-class `non_max_suppression`),
`coco_map`, and `reference.retinanet` (keras-hub's RetinaNet from config).
"""

from kerasdl.detection.boxes import (
    box_iou,
    decode_predictions,
    encode_targets,
    location_centres,
    non_max_suppression,
)
from kerasdl.detection.data import SHAPE_CLASSES, DetectionData, shapes_detection
from kerasdl.detection.export import detections_agree, export_detector
from kerasdl.detection.loss import DetectionLoss
from kerasdl.detection.metrics import coco_map
from kerasdl.detection.train import detector_geometry, evaluate_detector, fit_detector

__all__ = [
    "SHAPE_CLASSES",
    "DetectionData",
    "DetectionLoss",
    "box_iou",
    "coco_map",
    "decode_predictions",
    "detections_agree",
    "detector_geometry",
    "encode_targets",
    "evaluate_detector",
    "export_detector",
    "fit_detector",
    "location_centres",
    "non_max_suppression",
    "shapes_detection",
]
