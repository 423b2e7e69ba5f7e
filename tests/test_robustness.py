"""FGSM, PGD and adversarial training (kerasdl.robustness), on every backend."""

import keras
import numpy as np
import pytest

from kerasdl import robustness


@pytest.fixture
def problem():
    # A fixed linear softmax model on 2 features: its input gradient is known.
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, (16, 2)).astype("float32")
    y = (x[:, 1] > x[:, 0]).astype("int32")  # the model below is right
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.set_weights([np.array([[4.0, -4.0], [-4.0, 4.0]], "float32"), np.zeros(2)])
    return model, x, y


def test_fgsm_steps_epsilon_against_the_gradient_sign(problem):
    model, x, y = problem
    adv = robustness.fgsm(model, x, y, epsilon=0.1)
    # The loss grows when the true class's feature shrinks and the other grows.
    sign = np.where(y[:, None] == 0, [-1.0, 1.0], [1.0, -1.0]).astype("float32")
    np.testing.assert_allclose(adv, x + 0.1 * sign, atol=1e-6)
    loss_before = keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(y, model(x))
    ).mean()
    loss_after = keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(y, model(adv))
    ).mean()
    assert loss_after > loss_before


def test_pgd_stays_in_the_ball_and_the_pixel_range(problem):
    model, x, y = problem
    adv = robustness.pgd(model, x, y, epsilon=0.3, steps=5)
    assert np.abs(adv - x).max() <= 0.3 + 1e-6
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    clean = robustness.robust_accuracy(model, x, y, "fgsm", epsilon=0.0)
    attacked = robustness.robust_accuracy(model, x, y, "pgd", epsilon=0.3, steps=5)
    assert clean == 1.0
    assert attacked < clean


@pytest.mark.one_backend
def test_attack_arguments_are_checked(problem):
    model, x, y = problem
    with pytest.raises(ValueError, match="epsilon"):
        robustness.fgsm(model, x, y, epsilon=-0.1)
    with pytest.raises(ValueError, match="clip"):
        robustness.fgsm(model, x, y, clip=(1.0, 0.0))
    with pytest.raises(ValueError, match="attack"):
        robustness.robust_accuracy(model, x, y, "cw")
    with pytest.raises(ValueError, match="compiled"):
        robustness.adversarial_fit(model, x, y)


def test_adversarial_fit_trains_on_clean_and_attacked_examples(problem):
    _, x, y = problem
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
    )
    before = [w.copy() for w in model.get_weights()]
    history = robustness.adversarial_fit(
        model, x, y, epochs=2, attack="fgsm", chunk_size=8, epsilon=0.05
    )
    assert len(history) == 2 and all(np.isfinite(history))
    assert any((a != b).any() for a, b in zip(before, model.get_weights()))
