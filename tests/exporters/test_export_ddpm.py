"""One diffusion denoising step (the ddpm U-Net) exports to TFLite and ONNX, verified."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.exporters import FORMATS

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="export converts in-process on TensorFlow; other backends use a subprocess",
)


def test_ddpm_denoising_step_exports_to_tflite_and_onnx(tmp_path):
    model = kerasdl.build(
        "ddpm",
        image_shape=(8, 8, 1),
        num_classes=4,
        channels=8,
        channel_multipliers=(1, 2),
        attention_resolutions=(4,),
        groups=4,
        timesteps=20,
    )
    rng = np.random.default_rng(0)
    inputs = [
        rng.standard_normal((6, 8, 8, 1)).astype("float32"),
        rng.integers(0, 20, 6).astype("float32"),
        np.array([0, 1, 2, 3, 4, 4], "int32"),  # 4: the null class of guidance
    ]
    manifest = kerasdl.export(
        model, tmp_path / "ddpm", formats=("tflite", "onnx"), sample_inputs=inputs
    )
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    for name in ("tflite", "onnx"):
        entry = manifest["files"][name]
        assert entry["verification"]["passed"], entry
        names = {i["name"] for i in entry["inputs"]}
        assert names == {"noisy_image", "timestep", "label"}, entry["inputs"]
        by_name = dict(zip(("noisy_image", "timestep", "label"), inputs))
        (out,) = FORMATS[name].open(tmp_path / "ddpm" / entry["path"]).run(by_name)
        np.testing.assert_allclose(out, expected, atol=1e-4)
