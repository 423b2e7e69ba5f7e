"""A channels_first model exports to NHWC files, verified like every export.

Mobile runtimes take NHWC images: export rebuilds an NCHW model channels_last
with the same weights. The files must take NHWC inputs and give the NCHW
model's outputs on the same images, transposed.
"""

import os

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.exporters import export


@pytest.mark.one_backend  # the conversion runs on TensorFlow from any backend
def test_channels_first_model_exports_nhwc_files(tmp_path):
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(0)
    model = kerasdl.build(
        "resnet20",
        input_shape=(3, 16, 16),
        num_classes=3,
        base_filters=4,
        data_format="channels_first",
    )
    rng = np.random.default_rng(0)
    x_nchw = rng.standard_normal((24, 3, 16, 16)).astype("float32")
    reference = keras.ops.convert_to_numpy(model(x_nchw, training=False))

    # Data is given in the model's own layout (NCHW).
    manifest = export(
        model, tmp_path / "resnet20", ["tflite", "onnx"], representative_data=x_nchw
    )
    for fmt in ("tflite", "onnx"):
        assert manifest["files"][fmt]["verification"]["passed"], fmt

    x_nhwc = np.transpose(x_nchw, (0, 2, 3, 1))
    interpreter = Interpreter(
        model_path=os.path.join(tmp_path, "resnet20", "model.tflite")
    )
    (detail,) = interpreter.get_input_details()
    assert tuple(detail["shape"][1:]) == (16, 16, 3)  # NHWC
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    (probs,) = runner(**{name: x_nhwc}).values()
    np.testing.assert_allclose(probs, reference, atol=1e-5)

    session = onnxruntime.InferenceSession(
        os.path.join(tmp_path, "resnet20", "model.onnx"),
        providers=["CPUExecutionProvider"],
    )
    (arg,) = session.get_inputs()
    assert tuple(arg.shape[1:]) == (16, 16, 3)
    (probs,) = session.run(None, {arg.name: x_nhwc})
    np.testing.assert_allclose(probs, reference, atol=1e-5)
