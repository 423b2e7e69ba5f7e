"""SinusoidalTimeEmbedding against its formula; SpatialSelfAttention mixes pixels."""

import keras
import numpy as np
import pytest

from kerasdl.layers import SinusoidalTimeEmbedding, SpatialSelfAttention


def test_time_embedding_matches_the_ddpm_formula():
    t = np.array([0.0, 3.0, 999.0], "float32")
    out = keras.ops.convert_to_numpy(SinusoidalTimeEmbedding(8)(t))
    freqs = 10000.0 ** (-np.arange(4) / 4)
    angles = t[:, None] * freqs[None]
    expected = np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
    np.testing.assert_allclose(out, expected, atol=2e-4)


def test_time_embedding_rejects_odd_dim():
    with pytest.raises(ValueError, match="dim=5"):
        SinusoidalTimeEmbedding(5)


def test_spatial_attention_mixes_pixels_and_keeps_shape():
    layer = SpatialSelfAttention(num_heads=2, groups=2)
    x = np.random.default_rng(0).standard_normal((1, 3, 3, 4)).astype("float32")
    y0 = keras.ops.convert_to_numpy(layer(x))
    x2 = x.copy()
    x2[0, 2, 2] += 5.0  # change one pixel: attention moves the others too
    y1 = keras.ops.convert_to_numpy(layer(x2))
    assert y0.shape == x.shape
    assert np.abs(y1[0, 0, 0] - y0[0, 0, 0]).max() > 1e-4


def test_spatial_attention_rejects_groups_not_dividing_channels():
    with pytest.raises(ValueError, match="groups=3"):
        SpatialSelfAttention(groups=3)(np.ones((1, 2, 2, 4), "float32"))
