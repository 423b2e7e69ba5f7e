"""SpectralNorm: the kernel's largest singular value becomes 1, on every backend."""

import keras
import numpy as np
import pytest

from kerasdl.layers import SpectralNorm


@pytest.mark.parametrize(
    "inner, shape",
    [
        (lambda: keras.layers.Dense(5), (7,)),
        (lambda: keras.layers.Conv2D(4, 3), (6, 6, 2)),
    ],
)
def test_normalized_kernel_has_unit_spectral_norm(inner, shape):
    layer = SpectralNorm(inner(), power_iterations=1)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    layer(x)
    for _ in range(30):  # power iteration converges across training calls
        layer(x, training=True)
    kernel, _ = layer.normalized_kernel()
    kernel = keras.ops.convert_to_numpy(kernel)
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, abs=1e-3)
    # The output is the inner layer's function with the normalized kernel.
    raw = keras.ops.convert_to_numpy(layer.layer.kernel)
    scale = np.linalg.svd(raw.reshape(-1, raw.shape[-1]), compute_uv=False)[0]
    expected = keras.ops.convert_to_numpy(layer.layer(x)) / scale  # zero bias
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-3, atol=1e-5
    )


def test_refuses_other_layers():
    with pytest.raises(ValueError, match="layer=LSTM"):
        SpectralNorm(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match="power_iterations=0"):
        SpectralNorm(keras.layers.Dense(3), power_iterations=0)
