"""LoRA / QLoRA: frozen base, trainable fraction, adapter files, merging."""

import os

import keras
import numpy as np
import pytest

from kerasdl.compression.lora import (
    enable_lora,
    load_adapters,
    lora_layers,
    merge_lora,
    qlora,
    save_adapters,
    trainable_fraction,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 8)).astype("float32")
Y = RNG.standard_normal((16, 3)).astype("float32")
B_VALUES = RNG.standard_normal(64).astype("float32")
IDS = RNG.integers(0, 20, (16, 6)).astype("int32")


def _mlp():
    inputs = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(h), name="mlp")


def _mixed():
    """Embedding, Conv1D, BatchNorm, EinsumDense and Dense in one model."""
    inputs = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 8, name="emb")(inputs)
    h = keras.layers.Conv1D(8, 3, padding="same", name="conv")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    h = keras.layers.EinsumDense("ab,bc->ac", (12,), bias_axes="c", name="ein")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(h), name="mixed")


def _values(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _train(model, x, y, steps=3, lr=0.05):
    model.compile(keras.optimizers.Adam(lr), "mse")
    model.fit(x, y, epochs=steps, batch_size=len(x), verbose=0)


@pytest.fixture(scope="module")
def trained_lora():
    """A LoRA MLP after a few steps, with its base weights and outputs."""
    keras.utils.set_random_seed(0)
    model = _mlp()
    base = _values(model)
    enable_lora(model, rank=2, alpha=4)
    _train(model, X, Y)
    return model, base, _out(model, X)


def test_trainable_fraction_is_the_hand_count():
    model = _mlp()
    enable_lora(model, rank=2, alpha=4)
    base = 8 * 16 + 16 + 16 * 3 + 3  # 195
    lora = 2 * (8 + 16) + 2 * (16 + 3)  # 86
    assert trainable_fraction(model) == pytest.approx(lora / (base + lora))
    assert sorted(v.path for v in model.trainable_weights) == [
        "head/lora_kernel_a",
        "head/lora_kernel_b",
        "hidden/lora_kernel_a",
        "hidden/lora_kernel_b",
    ]
    # A chosen subset, base left trainable apart from the adapted kernel.
    other = _mlp()
    enable_lora(other, rank=3, layers=["hidden"], freeze_base=False)
    lora = 3 * (8 + 16)
    assert trainable_fraction(other) == pytest.approx(
        (195 - 8 * 16 + lora) / (195 + lora)
    )
    assert [layer.name for layer in lora_layers(other)] == ["hidden"]


def test_fit_changes_only_the_adapters(trained_lora):
    model, base, outputs = trained_lora
    after = _values(model)
    for path, value in base.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    for path in ("hidden/lora_kernel_b", "head/lora_kernel_b"):
        assert np.abs(after[path]).max() > 1e-3  # B starts at zero
    plain = _mlp()
    plain.set_weights([base[v.path] for v in plain.weights])
    assert np.abs(outputs - _out(plain, X)).max() > 1e-3


def test_alpha_scales_the_delta(trained_lora):
    model, _, _ = trained_lora
    layer = model.get_layer("hidden")
    kernel = keras.ops.convert_to_numpy(layer._kernel)
    a = keras.ops.convert_to_numpy(layer.lora_kernel_a)
    b = keras.ops.convert_to_numpy(layer.lora_kernel_b)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.kernel), kernel + (4 / 2) * a @ b, atol=1e-6
    )


def test_adapter_file_round_trip(trained_lora, tmp_path):
    model, base, outputs = trained_lora
    path = tmp_path / "adapters.npz"
    save_adapters(model, path)
    assert (
        os.path.getsize(path)
        < 4 * len(np.concatenate([v.ravel() for v in base.values()])) + 2500
    )
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    # A fresh copy of the base model: LoRA is enabled from the file.
    fresh = _mlp()
    fresh.set_weights([base[v.path] for v in fresh.weights])
    load_adapters(fresh, path)
    np.testing.assert_allclose(_out(fresh, X), outputs, atol=1e-6)
    assert trainable_fraction(fresh) == pytest.approx(trainable_fraction(model))


def test_adapter_mismatch_is_a_clear_error(trained_lora, tmp_path):
    model, _, _ = trained_lora
    path = tmp_path / "adapters.npz"
    save_adapters(model, path)
    other_rank = enable_lora(_mlp(), rank=3, alpha=4)
    with pytest.raises(ValueError, match=r"hidden: rank=3, alpha=4 vs saved rank=2"):
        load_adapters(other_rank, path)
    fewer = enable_lora(_mlp(), rank=2, alpha=4, layers=["head"])
    with pytest.raises(ValueError, match=r"only in the file: \['hidden'\]"):
        load_adapters(fewer, path)
    inputs = keras.Input((8,))
    renamed = keras.Model(inputs, keras.layers.Dense(3, name="out")(inputs))
    with pytest.raises(ValueError, match=r"for layers \['hidden', 'head'\]"):
        load_adapters(renamed, path)
    with pytest.raises(ValueError, match="no LoRA layer"):
        save_adapters(_mlp(), tmp_path / "none.npz")


def test_merge_equals_the_lora_model(trained_lora, tmp_path):
    model, _, outputs = trained_lora
    merged = merge_lora(model)
    assert not lora_layers(merged)
    assert not [v for v in merged.weights if "lora" in v.path]
    assert len(merged.weights) == 4 and merged.count_params() == 195
    np.testing.assert_allclose(_out(merged, X), outputs, atol=1e-5)
    assert all(layer.trainable for layer in merged.layers)
    assert lora_layers(model)  # the LoRA model is unchanged
    path = tmp_path / "merged.keras"
    merged.save(path)
    np.testing.assert_allclose(
        _out(keras.saving.load_model(path), X), outputs, atol=1e-5
    )


def test_embedding_conv_einsum_dense():
    keras.utils.set_random_seed(1)
    model = _mixed()
    base, base_out = _values(model), _out(model, IDS)
    enable_lora(model, rank=2)
    assert [layer.name for layer in lora_layers(model)] == [
        "emb",
        "conv",
        "ein",
        "head",
    ]
    lora = 2 * (20 + 8) + 2 * (3 * 8 + 8) + 2 * (8 + 12) + 2 * (12 + 3)
    total = sum(v.size for v in base.values()) + lora
    assert trainable_fraction(model) == pytest.approx(lora / total)
    # Layers without adapters are frozen whole: BatchNorm keeps its statistics.
    assert not model.get_layer("bn").trainable
    # Stand-in for training (fit is covered above): random B factors.
    for layer in lora_layers(model):
        for variable in layer.weights:
            if variable.name.endswith("_b"):
                size = int(np.prod(variable.shape))
                variable.assign(B_VALUES[:size].reshape(variable.shape))
    lora_out = _out(model, IDS)
    assert np.abs(lora_out - base_out).max() > 1e-2
    merged = merge_lora(model)
    np.testing.assert_allclose(_out(merged, IDS), lora_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode, kernel_dtype", [("int8", "int8"), ("int4", "int8")])
def test_qlora_trains_adapters_over_a_fixed_integer_base(mode, kernel_dtype):
    keras.utils.set_random_seed(2)
    model = qlora(_mlp(), rank=2, mode=mode)
    hidden = model.get_layer("hidden")
    assert hidden.quantization_mode == mode
    assert str(hidden._kernel.dtype) == kernel_dtype
    if mode == "int4":  # two int4 values per stored int8 byte
        assert tuple(hidden._kernel.shape) == (8, 8)
    lora = 2 * (8 + 16) + 2 * (16 + 3)
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    assert trainable_fraction(model) == pytest.approx(lora / total)
    before, out_before = _values(model), _out(model, X)
    _train(model, X, Y, steps=4, lr=0.1)
    after = _values(model)
    changed = sorted(p for p in before if not np.array_equal(before[p], after[p]))
    assert changed == [
        "head/lora_kernel_a",
        "head/lora_kernel_b",
        "hidden/lora_kernel_a",
        "hidden/lora_kernel_b",
    ]
    out_after = _out(model, X)
    adaptation = np.abs(out_after - out_before).max()
    assert adaptation > 0.1
    # Merging re-quantizes W + delta into the same integer format: the
    # adaptation survives, up to the rounding of the new integer kernel.
    merged = merge_lora(model)
    assert merged.get_layer("hidden").quantization_mode == mode
    assert not lora_layers(merged)
    assert np.abs(_out(merged, X) - out_after).max() < 0.35 * adaptation


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"rank=0: expected an integer >= 1"):
        enable_lora(_mlp(), rank=0)
    with pytest.raises(ValueError, match=r"alpha=-1"):
        enable_lora(_mlp(), rank=2, alpha=-1)
    with pytest.raises(ValueError, match=r"'hiden'.*hidden"):
        enable_lora(_mlp(), rank=2, layers=["hiden"])
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.DepthwiseConv2D(3, name="dw")(inputs)
    depthwise = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="c")(h))
    with pytest.raises(
        ValueError, match=r"'dw' of type DepthwiseConv2D does not support"
    ):
        enable_lora(depthwise, rank=2, layers=["dw"])
    with pytest.raises(ValueError, match=r"'c' of type Conv2D does not support int8"):
        qlora(depthwise, rank=2, layers=["c"])
    with pytest.raises(ValueError, match=r"mode='int2'.*'int8', 'int4'"):
        qlora(_mlp(), rank=2, mode="int2")
    model = enable_lora(_mlp(), rank=2)
    with pytest.raises(ValueError, match="already enabled"):
        enable_lora(model, rank=2, layers=["head"])
