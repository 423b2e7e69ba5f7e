"""Parity of kerasdl pruning/clustering with TFMOT (the reference implementation).

TFMOT only accepts tf_keras models, so one module-scoped fixture runs
`pruning_tfmot_reference.py` in a subprocess with TF_USE_LEGACY_KERAS=1 and
loads its .npz; the Keras 3 side runs here, on the current backend.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from tfmot_required import require_tfmot_reference

from kerasdl.compression import clustering, pruning

HERE = Path(__file__).parent


@pytest.fixture(autouse=True, scope="module")
def _reference_installed():
    # Missing TFMOT fails these tests (see tfmot_required.py), never skips them.
    # Module scope and autouse: checked before the reference fixture runs.
    require_tfmot_reference()


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfmot") / "reference.npz"
    env = dict(os.environ)
    env.update(
        TF_USE_LEGACY_KERAS="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        KERAS_BACKEND="tensorflow",
    )
    proc = subprocess.run(
        [sys.executable, str(HERE / "pruning_tfmot_reference.py"), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = np.load(path)
    out = {k: data[k] for k in data.files}
    out["meta"] = json.loads(str(out["meta"]))
    return out


def _schedule(cls_name, kwargs):
    return getattr(pruning, cls_name)(**kwargs)


@pytest.mark.parametrize(
    "name", ["constant_window", "constant_default", "poly_cubic", "poly_square"]
)
def test_schedule_values_match_tfmot(ref, name):
    cls_name, kwargs = ref["meta"]["schedules"][name]
    schedule = _schedule(cls_name, kwargs)
    steps = ref["meta"]["steps"]
    flags = np.array([schedule.should_prune(s) for s in steps])
    values = np.array([schedule.sparsity(s) for s in steps], np.float32)
    np.testing.assert_array_equal(flags, ref[f"schedule/{name}/should_prune"])
    # float32 arithmetic in TFMOT's order: equal up to one ulp (pow kernels).
    np.testing.assert_allclose(
        values, ref[f"schedule/{name}/sparsity"], rtol=0, atol=1.2e-7
    )
    # __call__ returns the pair, like TFMOT's schedule(step).
    assert schedule(steps[10]) == (flags[10], float(values[10]))


def test_masks_match_tfmot(ref):
    cases = ref["meta"]["mask_cases"]
    for name, (_shape, sparsity, block, pooling, m_by_n) in cases.items():
        w = ref[f"mask/{name}/weights"]
        expected = ref[f"mask/{name}/mask"]
        if m_by_n:
            mask = pruning.m_by_n_mask(w, tuple(m_by_n))
        else:
            threshold, mask = pruning.magnitude_mask(w, sparsity, tuple(block), pooling)
            np.testing.assert_allclose(
                threshold, ref[f"mask/{name}/threshold"], rtol=1e-6, err_msg=name
            )
        np.testing.assert_array_equal(mask, expected, err_msg=name)
        assert 0 < expected.mean() < 1, name  # the case does prune something


@pytest.mark.parametrize("name", ["train_poly", "train_block22", "train_2by4"])
def test_pruned_training_matches_tfmot(ref, name):
    cls_name, kwargs, block, m_by_n = ref["meta"]["train_cases"][name]
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.set_weights([ref[f"train/init/{i}"] for i in range(4)])
    pruned = pruning.prune_low_magnitude(
        model,
        pruning_schedule=_schedule(cls_name, kwargs),
        block_size=tuple(block),
        sparsity_m_by_n=tuple(m_by_n) if m_by_n else None,
    )
    pruned.compile(
        keras.optimizers.SGD(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    pruned.fit(
        ref["train/x"],
        ref["train/y"],
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[pruning.UpdatePruningStep()],
    )
    wrappers = [w for w in pruned.layers if isinstance(w, pruning.PruneLowMagnitude)]
    assert len(wrappers) == 2
    for i, wrapper in enumerate(wrappers):
        mask = keras.ops.convert_to_numpy(wrapper.masks[0])
        np.testing.assert_array_equal(
            mask, ref[f"{name}/mask/{i}"], err_msg=f"{name} layer {i}"
        )
    stripped = pruning.strip_pruning(pruned)
    for i, w in enumerate(stripped.get_weights()):
        expected = ref[f"{name}/weights/{i}"]
        np.testing.assert_allclose(w, expected, atol=2e-5, err_msg=f"{name} weight {i}")
        np.testing.assert_array_equal(w == 0, expected == 0)
    logits = keras.ops.convert_to_numpy(stripped(ref["train/x"]))
    np.testing.assert_allclose(logits, ref[f"{name}/logits"], atol=1e-4)


@pytest.mark.parametrize("init", ["linear", "density_based"])
@pytest.mark.parametrize("k", [4, 16])
def test_centroid_init_matches_tfmot(ref, init, k):
    ours = clustering.init_centroids(ref["cluster/weights"], k, init)
    np.testing.assert_allclose(ours, ref[f"cluster/{init}/{k}"], rtol=1e-5, atol=1e-6)
