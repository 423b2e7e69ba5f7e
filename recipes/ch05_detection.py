"""Chapter 5, object detection: an anchor-free FCOS detector on rendered shapes.

Thin recipe: plain settings and library calls (kerasdl.detection). Renders
the offline shapes dataset (circles, squares, triangles with boxes), trains
kerasdl's `fcos` detector with the focal + GIoU + centre-ness loss in plain
`model.fit`, decodes with NMS, scores mAP@0.5 and mAP@[.5:.95] with
pycocotools, exports the detector to TFLite and checks that decoding the
TFLite outputs gives the same detections as the Keras outputs, and builds
keras-hub's RetinaNet (ResNet-50 FPN) from its config as the reference
architecture. Writes <run-root>/detections.png (predicted boxes, true boxes
dashed) and the TFLite file under <run-root>/fcos/.

    python recipes/ch05_detection.py            # full run, a few minutes
    python recipes/ch05_detection.py --quick    # smoke run, seconds
"""

import argparse
import pathlib
import time

import keras

import kerasdl
from kerasdl import detection
from kerasdl.detection import reference
from kerasdl.viz import plot_detections

MODEL = {"model": "fcos", "input_shape": [64, 64, 3], "num_classes": 3}
SETTINGS = {
    "full": {"train": 1500, "test": 500, "epochs": 15, "reference": True},
    # --quick: the same code on a few images; keras-hub's ResNet-50 RetinaNet
    # is left out (its build alone takes longer than the rest).
    "quick": {"train": 64, "test": 16, "epochs": 1, "reference": False},
}
TRAINING = {"batch_size": 16, "learning_rate": 3e-3}
EXPORT_CHECK_IMAGES = 64


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 images, 1 epoch")
    parser.add_argument("--run-root", default="runs/ch05", help="output folder")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    run_root = pathlib.Path(args.run_root)
    run_root.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    data = detection.shapes_detection(
        num_train=settings["train"], num_val=0, num_test=settings["test"], seed=0
    )
    model = kerasdl.build(MODEL)
    started = time.perf_counter()
    detection.fit_detector(model, *data.train, epochs=settings["epochs"], **TRAINING)
    seconds = time.perf_counter() - started
    result = detection.evaluate_detector(model, *data.test)

    geometry = detection.detector_geometry(model)
    images = data.test[0][:EXPORT_CHECK_IMAGES]
    export = detection.export_detector(
        model,
        run_root / "fcos",
        images,
        geometry["stride"],
        geometry["num_classes"],
        image_shape=geometry["image_shape"],
    )
    picture = plot_detections(
        data.test[0][:8],
        [{k: d[k][d["scores"] > 0.3] for k in d} for d in result["detections"][:8]],
        run_root / "detections.png",
        class_names=data.class_names,
        truth=[b[c >= 0] for b, c in zip(data.test[1][:8], data.test[2][:8])],
    )

    print(f"{'figure':<32} {'value':>10}  note")
    print(f"{'mAP@0.5':<32} {result['map50']:>10.4f}  target >= 0.80")
    print(f"{'mAP@[.5:.95]':<32} {result['map']:>10.4f}  COCO primary metric")
    print(f"{'mAP@0.75':<32} {result['map75']:>10.4f}")
    print(f"{'fcos parameters':<32} {model.count_params():>10d}  kerasdl")
    if settings["reference"]:
        retina = reference.retinanet().count_params()
        print(f"{'RetinaNet-R50-FPN parameters':<32} {retina:>10d}  keras-hub config")
    print(
        f"{'TFLite decode agreement':<32} {export['agreement']:>10.4f}  "
        f"{len(images)} images, {export['detections']} detections"
    )
    print(f"{'TFLite max abs output diff':<32} {export['max_abs_diff']:>10.2e}")
    print(f"{'TFLite bytes':<32} {export['bytes']:>10d}")
    print(f"{'training seconds':<32} {seconds:>10.1f}  {settings['epochs']} epochs")
    print(f"{'image':<32} {picture}")


if __name__ == "__main__":
    main()
