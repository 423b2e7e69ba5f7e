"""A VAE decoder and GAN generators export to TFLite and ONNX and match Keras."""

import os

import numpy as np
import pytest

import kerasdl
from kerasdl import _backend
from kerasdl.exporters import FORMATS

pytestmark = pytest.mark.skipif(
    not _backend.is_tensorflow(),
    reason="exports convert in-process on TensorFlow (other backends: subprocess, covered by the export tests)",
)


def _check(model, inputs, tmp_path, name):
    manifest = kerasdl.export(
        model, tmp_path / name, formats=["tflite", "onnx"], sample_inputs=inputs
    )
    expected = np.asarray(model.predict(inputs, verbose=0))
    for fmt in ("tflite", "onnx"):
        check = manifest["files"][fmt]["verification"]
        assert check["passed"] and check["max_abs_error"] <= 1e-4, (fmt, check)
        path = os.path.join(tmp_path / name, FORMATS[fmt].filename)
        names = [t.name.split(":")[0] for t in model.inputs]
        with FORMATS[fmt].open(path, names, num_threads=1) as runner:
            arrays = inputs if isinstance(inputs, list) else [inputs]
            (got,) = runner.run(dict(zip(names, arrays)))
        np.testing.assert_allclose(got, expected, atol=1e-4)
    return expected


def test_vae_decoder_exports(tmp_path):
    vae = kerasdl.build(
        "conv_vae", image_shape=(16, 16, 1), latent_dim=4, filters=[8, 16]
    )
    z = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    images = _check(vae.decoder, z, tmp_path, "vae_decoder")
    assert images.shape == (8, 16, 16, 1)
    np.testing.assert_allclose(images, vae.decode(z), atol=1e-6)


def test_gan_generators_export(tmp_path):
    gan = kerasdl.build("dcgan", image_shape=(16, 16, 1), latent_dim=8, filters=[8, 16])
    z = np.random.default_rng(0).standard_normal((8, 8)).astype("float32")
    _check(gan.generator, z, tmp_path, "dcgan_generator")
    cgan = kerasdl.build(
        "cgan", image_shape=(16, 16, 1), latent_dim=8, filters=[8], num_classes=10
    )
    labels = (np.arange(8) % 10).astype("int32")
    images = _check(cgan.generator, [z, labels], tmp_path, "cgan_generator")
    np.testing.assert_allclose(images, cgan.decode(z, labels), atol=1e-6)
