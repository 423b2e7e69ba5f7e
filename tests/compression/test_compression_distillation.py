"""Knowledge distillation: the KD formula, feature distillation, config checks,
and a distilled small student on digits."""

import time

import keras
import numpy as np
import pytest

from kerasdl.compression.distillation import (
    DistillationConfig,
    build_distiller,
    distill,
    load_config,
)
from kerasdl.training.optimizers import make_optimizer


def _mlp(width, name, num_classes=4, activation=None, inputs=8):
    x = keras.Input((inputs,), name=f"{name}_in")
    h = keras.layers.Dense(width, activation="relu", name=f"{name}_h")(x)
    out = keras.layers.Dense(num_classes, activation=activation, name=f"{name}_out")(h)
    return keras.Model(x, out, name=name)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _np(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False)).astype("float64")


def _losses(distiller, x, y):
    """The losses of one batch, as `fit` computes them (eagerly, no compile)."""
    total = distiller.compute_loss(x=x, y=y, training=False)
    return {
        "loss": float(keras.ops.convert_to_numpy(total)),
        "student_loss": float(distiller.student_loss_tracker.result()),
        "distillation_loss": float(distiller.distillation_loss_tracker.result()),
    }


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((32, 8)).astype("float32"), rng.integers(0, 4, 32)


@pytest.mark.parametrize("teacher_activation", [None, "softmax"])
def test_loss_is_the_kd_formula(batch, teacher_activation):
    x, y = batch
    keras.utils.set_random_seed(3)
    teacher = _mlp(16, "t", activation=teacher_activation)
    student = _mlp(4, "s")
    T, alpha = 2.5, 0.3
    distiller = build_distiller(teacher, student, {"temperature": T, "alpha": alpha}, y)
    got = _losses(distiller, x, y)

    t_out, s_logits = _np(teacher, x), _np(student, x)
    # A softmax teacher gives probabilities; log p is its logits up to a
    # per-row constant, which the tempered softmax ignores.
    t_logits = np.log(t_out) if teacher_activation == "softmax" else t_out
    p_t, p_s = _softmax(t_logits / T), _softmax(s_logits / T)
    kd = T**2 * np.mean(np.sum(p_t * np.log(p_t / p_s), axis=1))
    ce = -np.mean(np.log(_softmax(s_logits)[np.arange(len(y)), y]))
    assert kd > 1e-3  # the teacher and student disagree: the check can fail
    np.testing.assert_allclose(got["distillation_loss"], kd, rtol=1e-4)
    np.testing.assert_allclose(got["student_loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(got["loss"], (1 - alpha) * ce + alpha * kd, rtol=1e-4)


def test_one_hot_labels_give_the_same_loss(batch):
    x, y = batch
    teacher, student = _mlp(16, "t"), _mlp(4, "s")
    one_hot = np.eye(4, dtype="float32")[y]
    d_sparse = build_distiller(teacher, student, {"alpha": 0.0}, y)
    d_onehot = build_distiller(teacher, student, {"alpha": 0.0}, one_hot)
    a, b = _losses(d_sparse, x, y), _losses(d_onehot, x, one_hot)
    assert a["loss"] > 0.1
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)


def test_no_labels_is_pure_distillation(batch):
    x, _ = batch
    teacher, student = _mlp(16, "t"), _mlp(4, "s")
    before = _np(student, x)
    _, history = distill(
        teacher, student, x, None, {"epochs": 2, "learning_rate": 0.05}
    )
    assert "accuracy" not in history.history
    assert history.history["student_loss"] == [0.0, 0.0]
    assert np.abs(_np(student, x) - before).max() > 1e-3


def test_feature_distillation_pulls_student_features_to_teacher(batch):
    x, y = batch
    keras.utils.set_random_seed(5)
    teacher, student = _mlp(8, "t"), _mlp(8, "s")
    t_feat = keras.Model(teacher.inputs, teacher.get_layer("t_h").output)
    s_feat = keras.Model(student.inputs, student.get_layer("s_h").output)
    gap_before = np.mean((_np(t_feat, x) - _np(s_feat, x)) ** 2)
    t_weights = [w.copy() for w in teacher.get_weights()]
    config = {
        "features": [{"teacher_layer": "t_h", "student_layer": "s_h", "weight": 1.0}],
        "logits_weight": 0.0,
        "alpha": 1.0,
        "epochs": 20,
        "batch_size": 32,
        "learning_rate": 0.03,
    }
    _, history = distill(teacher, student, x, y, config)
    gap_after = np.mean((_np(t_feat, x) - _np(s_feat, x)) ** 2)
    assert gap_after < 0.3 * gap_before
    losses = history.history["distillation_loss"]
    np.testing.assert_allclose(losses[0], gap_before, rtol=0.1)
    # The teacher is frozen during distillation and trainable again after.
    for before, after in zip(t_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert teacher.trainable


def test_feature_widths_differ_uses_a_learned_projection(batch):
    x, y = batch
    teacher, student = _mlp(16, "t"), _mlp(6, "s")
    config = {
        "features": [{"teacher_layer": "t_h", "student_layer": "s_h", "weight": 2.0}],
        "alpha": 0.5,
        "epochs": 8,
        "learning_rate": 0.02,
    }
    distiller = build_distiller(teacher, student, config, y)
    projection_vars = [v for v in distiller.trainable_weights if "projection" in v.path]
    assert [tuple(v.shape) for v in projection_vars] == [(6, 16)]
    start = keras.ops.convert_to_numpy(projection_vars[0]).copy()
    history = distiller.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["distillation_loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert np.abs(keras.ops.convert_to_numpy(projection_vars[0]) - start).max() > 0
    # The projection is not part of the student.
    assert not any("projection" in v.path for v in student.weights)


def test_feature_shape_mismatch_is_a_clear_error(batch):
    _, y = batch
    teacher = _mlp(16, "t")
    inputs = keras.Input((8,))
    seq = keras.layers.Reshape((4, 2), name="s_seq")(inputs)
    flat = keras.layers.Flatten()(seq)
    student = keras.Model(inputs, keras.layers.Dense(4, name="s_out")(flat))
    config = {"features": [{"teacher_layer": "t_h", "student_layer": "s_seq"}]}
    with pytest.raises(ValueError, match=r"features\[0\].*differ at most in the last"):
        build_distiller(teacher, student, config, y)


@pytest.mark.parametrize(
    "config, match",
    [
        (
            {"temprature": 2},
            r"Unknown distillation config key 'temprature'.*temperature",
        ),
        ({"temperature": 0}, r"temperature=0: expected a number > 0"),
        ({"alpha": 1.5}, r"alpha=1.5: expected a number in \[0, 1\]"),
        ({"epochs": 0}, r"epochs=0: expected an integer >= 1"),
        ({"optimizer": "adamm"}, r"optimizer='adamm'.*adam"),
        (
            {"optimizer": {"name": "sgd", "momentm": 0.9}},
            r"optimizer=.*'momentm'.*Did you mean 'momentum'",
        ),
        ({"learning_rate": {"name": "cosin"}}, r"learning_rate.*'cosin'"),
        ({"from_logits": "yes"}, r"from_logits='yes'"),
        ({"features": [{"teacher_layer": "t_h"}]}, r"features\[0\].student_layer"),
        (
            {"features": [{"teacher_layer": "t_h", "student_layer": "s_h", "w": 1}]},
            r"features\[0\].w'.*teacher_layer, student_layer, weight",
        ),
        ({"features": [{"teacher_layer": "t_hh", "student_layer": "s_h"}]}, r"t_h"),
        ({"logits_weight": 0.0}, r"nothing to distill"),
    ],
)
def test_config_errors_name_the_key(batch, config, match):
    _, y = batch
    with pytest.raises(ValueError, match=match):
        build_distiller(_mlp(16, "t"), _mlp(4, "s"), config, y)


def test_optimizer_and_schedule_in_the_trainers_vocabulary():
    schedule = {"name": "cosine", "learning_rate": 0.01, "decay_steps": 10}
    cfg = load_config({"optimizer": {"name": "sgd", "momentum": 0.9}, "lr": schedule})
    assert cfg.learning_rate == schedule
    optimizer = make_optimizer(cfg.optimizer, learning_rate=cfg.learning_rate)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.momentum) == pytest.approx(0.9)
    # Cosine decay from 0.01: the rate at step 0, lower at step 5.
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    optimizer.iterations.assign(5)
    assert float(optimizer.learning_rate) == pytest.approx(0.005, rel=1e-4)


def test_config_from_yaml_and_alias(tmp_path, batch):
    path = tmp_path / "kd.yaml"
    path.write_text(
        "temperature: 4\nlr: 0.01\nfeatures:\n  - {teacher_layer: a, student_layer: b}\n"
    )
    cfg = load_config(str(path))
    assert isinstance(cfg, DistillationConfig)
    assert (cfg.temperature, cfg.learning_rate) == (4, 0.01)
    assert cfg.features == [{"teacher_layer": "a", "student_layer": "b", "weight": 1.0}]
    x, _ = batch
    with pytest.raises(ValueError, match=r"alpha=0.5: without labels y"):
        distill(_mlp(16, "t"), _mlp(4, "s"), x, None, {"alpha": 0.5})


@pytest.mark.slow
def test_small_student_matches_teacher_on_digits():
    from sklearn.datasets import load_digits

    start = time.perf_counter()
    features, labels = load_digits(return_X_y=True)
    features = (features / 16.0).astype("float32")
    perm = np.random.default_rng(0).permutation(len(features))
    features, labels = features[perm], labels[perm]
    x, y, x_test, y_test = (
        features[:1400],
        labels[:1400],
        features[1400:],
        labels[1400:],
    )

    keras.utils.set_random_seed(0)
    t_in = keras.Input((64,))
    t_h = keras.layers.Dense(256, activation="relu")(t_in)
    t_h = keras.layers.Dense(256, activation="relu")(t_h)
    teacher = keras.Model(t_in, keras.layers.Dense(10)(t_h))
    teacher.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x, y, epochs=30, batch_size=64, verbose=0)
    teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)[1]

    s_in = keras.Input((64,))
    s_h = keras.layers.Dense(12, activation="relu")(s_in)
    student = keras.Model(s_in, keras.layers.Dense(10)(s_h))
    ratio = student.count_params() / teacher.count_params()
    config = {
        "temperature": 4.0,
        "alpha": 0.8,
        "epochs": 60,
        "batch_size": 64,
        "learning_rate": 5e-3,
    }
    student, _ = distill(
        teacher, student, x, y, config, validation_data=(x_test, y_test)
    )
    logits = keras.ops.convert_to_numpy(student(x_test))
    student_acc = float(np.mean(logits.argmax(axis=1) == y_test))
    print(
        f"digits: teacher {teacher.count_params()} params acc {teacher_acc:.4f}; "
        f"student {student.count_params()} params ({ratio:.1%}) acc {student_acc:.4f}; "
        f"{time.perf_counter() - start:.1f}s"
    )
    assert ratio <= 0.10
    assert teacher_acc >= 0.95
    assert student_acc >= teacher_acc - 0.03
