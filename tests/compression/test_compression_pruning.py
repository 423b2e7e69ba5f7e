"""Magnitude pruning (kerasdl.compression.pruning) on the current backend."""

import keras
import numpy as np
import pytest

from kerasdl.compression import pruning
from kerasdl.compression.pruning import (
    ConstantSparsity,
    PolynomialDecay,
    PruneLowMagnitude,
    UpdatePruningStep,
)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _mlp(name_prefix=""):
    inputs = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name=f"{name_prefix}d1")(inputs)
    h = keras.layers.BatchNormalization(name=f"{name_prefix}bn")(h)
    outputs = keras.layers.Dense(3, name=f"{name_prefix}d2")(h)
    return keras.Model(inputs, outputs)


def _data(n=48, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d)).astype("float32"),
        rng.integers(0, classes, n),
    )


def _compile(model, lr=0.05):
    model.compile(
        keras.optimizers.SGD(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _wrappers(model):
    return [w for w in model.layers if isinstance(w, PruneLowMagnitude)]


def _expected_sparsity(size, s):
    kept = max(int(np.round(np.float32(size) * (np.float32(1) - np.float32(s)))), 1)
    return 1 - kept / size


class _MaskRecorder(keras.callbacks.Callback):
    """Records each wrapper's mask density after every batch."""

    def __init__(self):
        super().__init__()
        self.density = []

    def on_train_batch_end(self, batch, logs=None):
        model = self.model  # JAX: sync the trainer state into the variables
        self.density.append([float(_np(w.masks[0]).mean()) for w in _wrappers(model)])


# -- schedules ------------------------------------------------------------


def test_schedules_follow_tfmot_rules():
    s = ConstantSparsity(0.5, begin_step=0)  # TFMOT default: frequency 100
    assert [s.should_prune(t) for t in (0, 1, 99, 100, 200)] == [
        True,
        False,
        False,
        True,
        True,
    ]
    w = ConstantSparsity(0.7, begin_step=10, end_step=30, frequency=5)
    assert [t for t in range(0, 40) if w.should_prune(t)] == [10, 15, 20, 25, 30]
    assert w.sparsity(12) == pytest.approx(0.7)
    p = PolynomialDecay(0.1, 0.9, begin_step=10, end_step=20, power=3, frequency=2)
    assert p.sparsity(0) == pytest.approx(0.1)
    assert p.sparsity(15) == pytest.approx(0.9 - 0.8 * 0.5**3, abs=1e-6)
    assert p.sparsity(20) == pytest.approx(0.9)
    assert p.sparsity(100) == pytest.approx(0.9)
    assert not p.should_prune(21) and p.should_prune(20) and not p.should_prune(11)
    assert p(12) == (True, p.sparsity(12))


@pytest.mark.parametrize(
    "schedule", [ConstantSparsity(0.3, 2, 9, 3), PolynomialDecay(0.0, 0.8, 0, 50, 2, 5)]
)
def test_schedule_serialization(schedule):
    restored = type(schedule).from_config(schedule.get_config())
    assert restored == schedule
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert again == schedule and [again.sparsity(t) for t in range(60)] == [
        schedule.sparsity(t) for t in range(60)
    ]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ConstantSparsity(1.0, 0), "target_sparsity"),
        (lambda: ConstantSparsity(0.5, -1), "begin_step"),
        (lambda: ConstantSparsity(0.5, 5, end_step=3), "end_step"),
        (lambda: ConstantSparsity(0.5, 0, frequency=0), "frequency"),
        (lambda: PolynomialDecay(0.1, 0.5, 0, -1), "end_step"),
        (lambda: PolynomialDecay(0.1, 1.5, 0, 10), "final_sparsity"),
    ],
)
def test_schedule_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- masks ----------------------------------------------------------------


def test_magnitude_mask_rules():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 12)).astype("float32")
    threshold, mask = pruning.magnitude_mask(w, 0.75)
    assert mask.sum() == 48
    assert np.abs(w[mask == 1]).min() >= threshold > np.abs(w[mask == 0]).max()
    # Ties at the threshold are all kept (TFMOT's >= threshold).
    tied = np.array([[3.0, 1.0, 1.0, 1.0], [0.5, 1.0, 2.0, 0.1]], "float32")
    _, mask = pruning.magnitude_mask(tied, 0.5)
    assert mask.sum() == 6 and mask[1, 0] == 0 and mask[1, 3] == 0
    # Blocks: one value per (2, 2) block, the kept blocks have the largest max.
    _, mask = pruning.magnitude_mask(w, 0.5, (2, 2), "MAX")
    blocks = mask.reshape(8, 2, 6, 2)
    assert np.all(blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3)))
    peaks = np.abs(w).reshape(8, 2, 6, 2).max(axis=(1, 3))
    kept = blocks.max(axis=(1, 3)) == 1
    assert kept.sum() == 24 and peaks[kept].min() > peaks[~kept].max()


@pytest.mark.parametrize("shape", [(16, 12), (3, 3, 8, 5), (10, 6)])
def test_m_by_n_mask_groups_input_channels(shape):
    w = np.random.default_rng(2).standard_normal(shape).astype("float32")
    mask = pruning.m_by_n_mask(w, (2, 4))
    # (..., in, out) -> rows over every (spatial, out), groups of 4 inputs.
    rows = np.moveaxis(mask, -1, 0).reshape(-1, shape[-2])
    magnitudes = np.moveaxis(np.abs(w), -1, 0).reshape(-1, shape[-2])
    for start in range(0, shape[-2], 4):
        group = rows[:, start : start + 4]
        assert np.all(group.sum(axis=1) == min(2, group.shape[1]))
        mags = magnitudes[:, start : start + 4]
        kept_min = np.where(group == 1, mags, np.inf).min(axis=1)
        dropped_max = np.where(group == 0, mags, -np.inf).max(axis=1)
        assert np.all(kept_min > dropped_max)


# -- wrapping and selection ----------------------------------------------


def test_prune_selects_by_name_type_and_class():
    model = _mlp()
    assert [w.layer.name for w in _wrappers(pruning.prune_low_magnitude(model))] == [
        "d1",
        "d2",
    ]
    only = pruning.prune_low_magnitude(model, layers=["d2"])
    assert [w.name for w in _wrappers(only)] == ["prune_low_magnitude_d2"]
    assert [type(x).__name__ for x in only.layers[1:3]] == [
        "Dense",
        "BatchNormalization",
    ]
    assert len(_wrappers(pruning.prune_low_magnitude(model, layers=["Dense"]))) == 2
    assert (
        len(_wrappers(pruning.prune_low_magnitude(model, layers=[keras.layers.Dense])))
        == 2
    )


def test_nested_model_layers_are_found_and_stripped():
    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(6, name="inner_dense")], name="inner"
    )
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    pruned = pruning.prune_low_magnitude(
        model, ConstantSparsity(0.5, 1, frequency=1), layers=["inner_dense"]
    )
    assert isinstance(pruned.get_layer("inner").layers[0], PruneLowMagnitude)
    callback = UpdatePruningStep()
    callback.set_model(pruned)
    callback.on_train_begin()
    callback.on_train_batch_begin(0)
    callback.on_train_end()
    report = pruning.sparsity(pruned)
    assert report["inner_dense"] == pytest.approx(0.5) and report["head"] == 0.0
    stripped = pruning.strip_pruning(pruned)
    assert type(stripped.get_layer("inner").layers[0]) is keras.layers.Dense
    x = _data(4)[0]
    np.testing.assert_allclose(_np(pruned(x)), _np(stripped(x)), atol=1e-6)


@pytest.mark.parametrize(
    "spec, match", [(["bn"], "bn"), (["nope"], "nope"), ([keras.layers.Add], "Add")]
)
def test_prune_rejects_unprunable_or_unknown_layers(spec, match):
    model = _mlp()
    with pytest.raises(ValueError, match=match) as info:
        pruning.prune_low_magnitude(model, layers=spec)
    assert "Dense" in str(info.value) and "Conv2D" in str(info.value)


def test_argument_validation():
    with pytest.raises(ValueError, match="block_size"):
        pruning.prune_low_magnitude(_mlp(), block_size=(0, 2))
    with pytest.raises(ValueError, match="sparsity_m_by_n"):
        pruning.prune_low_magnitude(_mlp(), sparsity_m_by_n=(4, 2))
    with pytest.raises(ValueError, match="scope"):
        pruning.prune_low_magnitude(_mlp(), scope="model")
    with pytest.raises(ValueError, match="BatchNormalization"):
        pruning.prune_low_magnitude(keras.layers.BatchNormalization())
    with pytest.raises(ValueError, match="rank-2"):
        conv = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3)])
        pruning.prune_low_magnitude(conv, block_size=(1, 4))
    with pytest.raises(TypeError, match="to_prune"):
        pruning.prune_low_magnitude("model")


def test_fit_without_callback_raises():
    pruned = _compile(pruning.prune_low_magnitude(_mlp()))
    x, y = _data(8)
    with pytest.raises(ValueError, match="UpdatePruningStep"):
        pruned.fit(x, y, batch_size=4, epochs=1, verbose=0)


def test_trainer_adds_the_pruning_callback():
    from kerasdl.training import Trainer

    pruned = _compile(
        pruning.prune_low_magnitude(
            _mlp(), pruning.ConstantSparsity(0.75, begin_step=0, frequency=1)
        )
    )
    x, y = _data(16)
    Trainer({"epochs": 1, "batch_size": 8, "verbose": 0}).fit(pruned, x, y)
    stripped = pruning.strip_pruning(pruned)
    kernel = stripped.get_layer("d1").kernel
    assert float(np.mean(_np(kernel) == 0)) == pytest.approx(0.75, abs=1 / 128)


# -- training on every backend -------------------------------------------


def test_masks_follow_schedule_and_stay_applied_through_fit():
    model = _mlp()
    original = [w.copy() for w in model.get_weights()]
    schedule = PolynomialDecay(0.1, 0.8, begin_step=2, end_step=8, power=3, frequency=2)
    pruned = _compile(pruning.prune_low_magnitude(model, schedule))
    x, y = _data(48)
    recorder = _MaskRecorder()
    pruned.fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[UpdatePruningStep(), recorder],
    )
    wrappers = _wrappers(pruned)
    assert [int(_np(w.pruning_step)) for w in wrappers] == [12, 12]
    # Mask density after each of the 12 batches follows the schedule,
    # updated on steps 2, 4, 6, 8 only.
    for i, wrapper in enumerate(wrappers):
        size = int(np.prod(wrapper.masks[0].shape))
        expected, current = [], 1.0
        for step in range(1, 13):
            if schedule.should_prune(step):
                current = 1 - _expected_sparsity(size, schedule.sparsity(step))
            expected.append(current)
        np.testing.assert_allclose(
            [d[i] for d in recorder.density], expected, atol=1e-6
        )
    # Final sparsity: the target, up to rounding; stored kernels hold the zeros.
    report = pruning.sparsity(pruned)
    for wrapper in wrappers:
        kernel, mask = _np(wrapper.layer.kernel), _np(wrapper.masks[0])
        assert report[wrapper.layer.name] == pytest.approx(
            _expected_sparsity(kernel.size, 0.8)
        )
        np.testing.assert_array_equal(kernel[mask == 0], 0.0)
    stripped = pruning.strip_pruning(pruned)
    assert [type(x).__name__ for x in stripped.layers[1:]] == [
        "Dense",
        "BatchNormalization",
        "Dense",
    ]
    np.testing.assert_allclose(
        _np(pruned.predict(x, verbose=0)),
        _np(stripped.predict(x, verbose=0)),
        atol=1e-5,
    )
    assert pruning.sparsity(stripped) == pytest.approx(report)
    # The source model is untouched.
    for a, b in zip(model.get_weights(), original):
        np.testing.assert_array_equal(a, b)
    # More training: schedule over, masks frozen, pruned weights stay zero,
    # kept weights keep learning.
    masks_before = [_np(w.masks[0]) for w in wrappers]
    kernels_before = [_np(w.layer.kernel) for w in wrappers]
    pruned.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    for wrapper, mask, kernel in zip(wrappers, masks_before, kernels_before):
        np.testing.assert_array_equal(_np(wrapper.masks[0]), mask)
        new_kernel = _np(wrapper.layer.kernel)
        np.testing.assert_array_equal(new_kernel[mask == 0], 0.0)
        assert np.abs(new_kernel - kernel)[mask == 1].max() > 1e-4
    np.testing.assert_allclose(
        _np(pruned.predict(x, verbose=0)),
        _np(pruning.strip_pruning(pruned).predict(x, verbose=0)),
        atol=1e-5,
    )


def test_global_scope_uses_one_threshold():
    model = _mlp()
    d1, d2 = model.get_layer("d1"), model.get_layer("d2")
    d2.kernel.assign(_np(d2.kernel) * 20.0)  # d2 weights dominate
    pruned = _compile(
        pruning.prune_low_magnitude(
            model, ConstantSparsity(0.6, begin_step=1, frequency=1), scope="global"
        )
    )
    x, y = _data(8)
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    wrappers = _wrappers(pruned)
    kept = np.concatenate(
        [np.abs(_np(w.layer.kernel))[_np(w.masks[0]) == 1] for w in wrappers]
    )
    dropped = np.concatenate(
        [np.abs(_np(w.layer.kernel))[_np(w.masks[0]) == 0] for w in wrappers]
    )
    report = pruning.sparsity(pruned)
    total = (
        d1.kernel.shape[0] * d1.kernel.shape[1]
        + d2.kernel.shape[0] * d2.kernel.shape[1]
    )
    assert report["total"] == pytest.approx(_expected_sparsity(total, 0.6))
    assert report["d1"] > 0.7 and report["d2"] < 0.2  # per-layer would give 0.6 each
    assert len(dropped) and kept.min() > 0
    thresholds = {float(_np(w.thresholds[0])) for w in wrappers}
    assert len(thresholds) == 1


def test_structured_patterns_in_training():
    x, y = _data(8)
    block = _compile(
        pruning.prune_low_magnitude(
            _mlp(), ConstantSparsity(0.5, 1, frequency=1), block_size=(2, 2)
        )
    )
    block.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    kernel = _np(pruning.strip_pruning(block).get_layer("d1").kernel)  # (8, 16)
    nonzero = (kernel != 0).reshape(4, 2, 8, 2).sum(axis=(1, 3))
    assert set(np.unique(nonzero)) == {0, 4}  # whole 2x2 blocks pruned
    assert (nonzero == 0).mean() == pytest.approx(0.5)

    inputs = keras.Input((6, 6, 8))
    h = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    outputs = keras.layers.Dense(3, name="dense")(
        keras.layers.GlobalAveragePooling2D()(h)
    )
    model = keras.Model(inputs, outputs)
    nm = _compile(pruning.prune_low_magnitude(model, sparsity_m_by_n=(2, 4)))
    xi = np.random.default_rng(0).standard_normal((4, 6, 6, 8)).astype("float32")
    nm.fit(
        xi, y[:4], batch_size=4, epochs=1, verbose=0, callbacks=[UpdatePruningStep()]
    )
    stripped = pruning.strip_pruning(nm)
    conv = _np(stripped.get_layer("conv").kernel)  # (3, 3, 8, 4): groups of 4 inputs
    assert np.all((conv.reshape(3, 3, 2, 4, 4) != 0).sum(axis=3) == 2)
    dense = _np(stripped.get_layer("dense").kernel)  # (4, 3)
    assert np.all((dense != 0).sum(axis=0) == 2)


def _image_model():
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv2d")(inputs)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(h)
    h = keras.layers.SeparableConv2D(8, 3, padding="same", name="separable")(h)
    h = keras.layers.Conv2DTranspose(4, 3, padding="same", name="transpose")(h)
    h = keras.layers.Reshape((36, 4))(h)
    h = keras.layers.Conv1D(4, 3, name="conv1d")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.EinsumDense("ab,bc->ac", output_shape=3, name="einsum")(h)
    return keras.Model(inputs, outputs)


def _token_model():
    inputs = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(12, 8, name="embedding")(inputs)
    h = keras.layers.Reshape((5, 8, 1))(h)
    h = keras.layers.Conv2D(2, 2, name="conv_a")(h)
    h = keras.layers.Reshape((4, 7, 2, 1))(h)
    h = keras.layers.Conv3D(2, (2, 2, 1), name="conv3d")(h)
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Flatten()(h))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("make", [_image_model, _token_model])
def test_every_prunable_type(make):
    model = make()
    pruned = _compile(
        pruning.prune_low_magnitude(model, ConstantSparsity(0.5, 1, frequency=1))
    )
    expected = {
        _image_model: {
            "conv2d",
            "depthwise",
            "separable",
            "transpose",
            "conv1d",
            "einsum",
        },
        _token_model: {"embedding", "conv_a", "conv3d", "head"},
    }[make]
    assert {w.layer.name for w in _wrappers(pruned)} == expected
    separable = [w for w in _wrappers(pruned) if w.layer.name == "separable"]
    if separable:  # TFMOT prunes the pointwise kernel only
        assert separable[0].prunable_weights[0] is separable[0].layer.pointwise_kernel
    rng = np.random.default_rng(0)
    if make is _token_model:
        x = rng.integers(0, 12, (4, 5)).astype("int32")
    else:
        x = rng.standard_normal((4, 6, 6, 2)).astype("float32")
    # Drive the callback by hand (as in a custom loop): compiling a train
    # step for every layer type costs ~10 s on JAX; fit is covered above.
    callback = UpdatePruningStep()
    callback.set_model(pruned)
    callback.on_train_begin()
    callback.on_train_batch_begin(0)
    out_training = _np(pruned(x, training=True))
    callback.on_train_end()
    report = pruning.sparsity(pruned)
    for name in expected:
        size = sum(
            int(np.prod(w.shape))
            for w in pruned.get_layer(f"prune_low_magnitude_{name}").prunable_weights
        )
        assert report[name] == pytest.approx(_expected_sparsity(size, 0.5)), name
    stripped = pruning.strip_pruning(pruned)
    assert pruning.sparsity(stripped) == pytest.approx(report)
    np.testing.assert_allclose(_np(pruned(x)), _np(stripped(x)), atol=1e-5)
    np.testing.assert_allclose(out_training, _np(stripped(x)), atol=1e-5)


def test_keras_round_trip_keeps_masks_and_step(tmp_path):
    pruned = _compile(
        pruning.prune_low_magnitude(
            _mlp(), PolynomialDecay(0.2, 0.6, 1, 6, frequency=1)
        )
    )
    x, y = _data(16)
    pruned.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    restored = keras.saving.load_model(path)
    for a, b in zip(_wrappers(pruned), _wrappers(restored)):
        assert b.get_config()["pruning_schedule"] == a.get_config()["pruning_schedule"]
        assert b.pruning_schedule == a.pruning_schedule
        np.testing.assert_array_equal(_np(a.masks[0]), _np(b.masks[0]))
        assert int(_np(b.pruning_step)) == 4
    np.testing.assert_allclose(
        _np(pruned.predict(x, verbose=0)),
        _np(restored.predict(x, verbose=0)),
        atol=1e-6,
    )
    # Training resumes from step 4 and reaches the final sparsity at step 6.
    _compile(restored).fit(
        x, y, batch_size=4, epochs=1, verbose=0, callbacks=[UpdatePruningStep()]
    )
    assert [int(_np(w.pruning_step)) for w in _wrappers(restored)] == [8, 8]
    assert pruning.sparsity(restored)["d1"] == pytest.approx(
        _expected_sparsity(128, 0.6)
    )


def test_single_layer_in_sequential():
    layer = pruning.prune_low_magnitude(
        keras.layers.Dense(6, name="hidden"), ConstantSparsity(0.5, 1, frequency=1)
    )
    assert (
        isinstance(layer, PruneLowMagnitude)
        and layer.name == "prune_low_magnitude_hidden"
    )
    model = _compile(
        keras.Sequential([keras.Input((8,)), layer, keras.layers.Dense(2)])
    )
    x, y = _data(8, classes=2)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    assert pruning.sparsity(model)["hidden"] == pytest.approx(0.5)
    stripped = pruning.strip_pruning(model)
    assert isinstance(stripped, keras.Sequential)
    np.testing.assert_allclose(_np(model(x)), _np(stripped(x)), atol=1e-5)
    with pytest.raises(ValueError, match="layers"):
        pruning.prune_low_magnitude(keras.layers.Dense(2), layers=["dense"])


def test_embedding_mask_propagates_and_misuse_is_reported():
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(tokens)
    outputs = keras.layers.GlobalAveragePooling1D()(h)  # averages unmasked steps only
    model = keras.Model(tokens, outputs)
    pruned = pruning.prune_low_magnitude(model, ConstantSparsity(0.5, 1, frequency=1))
    x = np.array([[3, 4, 0, 0, 0], [1, 2, 5, 6, 0]], "int32")
    np.testing.assert_allclose(
        _np(pruned(x)), _np(model(x)), atol=1e-6
    )  # mask all ones
    zero_id = np.array([[3, 4, 0, 0, 0]], "int32")
    reference = _np(model.get_layer("embedding")(zero_id))[0, :2].mean(axis=0)
    np.testing.assert_allclose(_np(pruned(zero_id))[0], reference, atol=1e-6)

    stepped = pruning.prune_low_magnitude(_mlp())
    stepped.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=2,
    )
    with pytest.raises(ValueError, match="steps_per_execution"):
        stepped.fit(*_data(8), batch_size=4, verbose=0, callbacks=[UpdatePruningStep()])

    dense = keras.layers.Dense(4)
    dense.build((None, 3))
    dense.quantize("int8")
    with pytest.raises(ValueError, match="quantized"):
        pruning.prune_low_magnitude(dense).build((None, 3))


def test_reached_by_follows_the_mask_updates():
    readme = PolynomialDecay(0.0, 0.8, 0, 100)  # frequency 100
    assert readme.end_sparsity() == pytest.approx(0.8)
    assert readme.reached_by(135) == pytest.approx(0.8)  # 3 epochs x 45 steps
    assert readme.reached_by(99) is None  # no update before step 100
    long = PolynomialDecay(0.0, 0.8, 0, 1000)
    assert long.reached_by(135) == pytest.approx(long.sparsity(100))
    # end_step 150 is not on the frequency grid: the last update is step 100.
    off_grid = PolynomialDecay(0.0, 0.8, 0, 150)
    assert off_grid.reached_by(10_000) < 0.8
    assert ConstantSparsity(0.5, 200).reached_by(135) is None
    assert ConstantSparsity(0.5, 0).reached_by(135) == 0.5


@pytest.mark.parametrize("end_step, short", [(100, False), (1000, True)])
def test_a_fit_too_short_for_its_schedule_is_warned(end_step, short, caplog):
    # The README's compression example: 3 epochs of 45 batches.
    x, y = _data(n=45 * 32)
    pruned = _compile(
        pruning.prune_low_magnitude(_mlp(), PolynomialDecay(0.0, 0.8, 0, end_step))
    )
    with caplog.at_level("WARNING", logger="kerasdl.compression.pruning"):
        pruned.fit(
            x, y, batch_size=32, epochs=3, verbose=0, callbacks=[UpdatePruningStep()]
        )
    warned = [r.getMessage() for r in caplog.records if "stops short" in r.getMessage()]
    reached = pruning.sparsity(pruning.strip_pruning(pruned))
    if short:
        assert len(warned) == 1, warned  # one warning for both layers
        assert "pruning steps 1..135" in warned[0] and "end_step <= 135" in warned[0]
        assert "d1" in warned[0] and reached["d1"] < 0.5
    else:
        assert warned == []
        assert reached["d1"] == pytest.approx(0.8, abs=0.01)
        assert reached["d2"] == pytest.approx(0.8, abs=0.05)
