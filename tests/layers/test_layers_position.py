"""Tests of the position encodings (kerasdl/layers/position.py)."""

import keras
import numpy as np
import pytest

from kerasdl.layers.position import (
    PositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionEncoding,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _paper_encoding(length, dim, start=0):
    # Vaswani et al. (2017), section 3.5, written out element by element.
    pe = np.zeros((length, dim))
    for pos in range(length):
        for i in range(dim // 2):
            angle = (start + pos) / 10000 ** (2 * i / dim)
            pe[pos, 2 * i] = np.sin(angle)
            pe[pos, 2 * i + 1] = np.cos(angle)
    return pe


@pytest.mark.parametrize("start", [0, 7])
def test_sinusoidal_values_equal_the_paper_formula(start):
    layer = SinusoidalPositionEncoding()
    x = np.zeros((2, 9, 12), "float32")
    out = _np(layer(x, start_index=start))
    np.testing.assert_allclose(out[0], _paper_encoding(9, 12, start), atol=2e-5)
    np.testing.assert_allclose(out[1], out[0])


def test_sinusoidal_adds_to_the_input_and_has_no_weights():
    layer = SinusoidalPositionEncoding()
    x = np.random.default_rng(0).standard_normal((1, 5, 8)).astype("float32")
    np.testing.assert_allclose(
        _np(layer(x)) - x, _paper_encoding(5, 8)[None], atol=2e-5
    )
    assert layer.weights == []


def test_sinusoidal_rejects_odd_dimension():
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionEncoding()(np.zeros((1, 3, 5), "float32"))


def test_learned_position_embedding_adds_table_rows():
    layer = PositionEmbedding(sequence_length=10)
    x = np.random.default_rng(0).standard_normal((2, 4, 6)).astype("float32")
    out = _np(layer(x))
    table = _np(layer.embeddings)
    assert table.shape == (10, 6)
    np.testing.assert_allclose(out, x + table[None, :4], rtol=1e-6)
    # An offset selects later rows (used by cached decoding).
    np.testing.assert_allclose(
        _np(layer(x[:, :1], start_index=3)), x[:, :1] + table[None, 3:4], rtol=1e-6
    )


def test_learned_position_embedding_rejects_long_sequences():
    inputs = keras.Input((12, 4))
    with pytest.raises(ValueError, match="at most 8 positions"):
        PositionEmbedding(sequence_length=8)(inputs)
    with pytest.raises(ValueError, match="sequence_length=0"):
        PositionEmbedding(sequence_length=0)


def test_position_layers_survive_keras_round_trip(tmp_path):
    inputs = keras.Input((6, 8))
    x = PositionEmbedding(6, name="learned")(inputs)
    x = SinusoidalPositionEncoding(max_wavelength=500.0, name="sine")(x)
    model = keras.Model(inputs, x)
    data = np.random.default_rng(1).standard_normal((2, 6, 8)).astype("float32")
    path = tmp_path / "pos.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(data)), _np(model(data)), rtol=1e-6)
    assert loaded.get_layer("sine").max_wavelength == 500.0


def _rope(vectors, positions):
    # Rotate the same vector placed at the given positions: (n, dim) -> (n, dim).
    layer = RotaryEmbedding()
    length = max(positions) + 1
    x = np.broadcast_to(vectors, (1, length, 1, vectors.shape[-1])).astype("float32")
    out = _np(layer(x))[0, :, 0]
    return out[positions]


def test_rope_preserves_norms():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 3, 8)).astype("float32")
    out = _np(RotaryEmbedding()(x))
    np.testing.assert_allclose(
        np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5
    )
    # Position 0 is not rotated; later positions are.
    np.testing.assert_allclose(out[:, 0], x[:, 0], rtol=1e-6)
    assert not np.allclose(out[:, 5], x[:, 5])


def test_rope_dot_product_depends_only_on_relative_position():
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 8)).astype("float32")
    positions = list(range(12))
    rq, rk = _rope(q, positions), _rope(k, positions)
    scores = rq @ rk.T  # scores[m, n] = <R_m q, R_n k>
    for offset in range(-4, 5):
        diagonal = np.diagonal(scores, offset=offset)
        np.testing.assert_allclose(diagonal, diagonal[0], rtol=1e-4, atol=1e-4)
    # ... and it does depend on the offset (not a constant).
    assert abs(scores[0, 0] - scores[0, 3]) > 1e-3


def test_rope_start_index_continues_positions():
    x = np.random.default_rng(2).standard_normal((1, 6, 2, 4)).astype("float32")
    layer = RotaryEmbedding()
    full = _np(layer(x))
    np.testing.assert_allclose(
        _np(layer(x[:, 4:], start_index=4)), full[:, 4:], atol=1e-5
    )


def test_rope_rejects_odd_head_size():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding()(np.zeros((1, 2, 1, 3), "float32"))
