"""Object detection: targets, loss, decoding, NMS, COCO mAP and a shapes dataset.

Works with the anchor-free detector `kerasdl.build("fcos", ...)`, whose one
output holds per-location class logits, box distances and centre-ness:

>>> from kerasdl import detection
>>> data = detection.shapes_detection()
>>> model = kerasdl.build("fcos", input_shape=(64, 64, 3), num_classes=3)
>>> stride = 4                                    # 64 px -> a 16 x 16 grid
>>> x, boxes, classes = data.train
>>> y = detection.encode_targets(boxes, classes, (16, 16), stride, 3)
>>> model.compile("adam", loss=detection.DetectionLoss(num_classes=3))
>>> model.fit(x, y, epochs=20)
>>> found = detection.decode_predictions(model.predict(data.test[0]), stride, 3)
>>> detection.coco_map(found, data.test[1], data.test[2], num_classes=3)
>>> detection.export_detector(model, "savedmodels/fcos", data.test[0][:64], 4, 3)
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
