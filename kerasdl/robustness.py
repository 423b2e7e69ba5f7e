"""Adversarial robustness: FGSM and PGD attacks, robust accuracy, adversarial training.

The attacks differentiate the loss with respect to the input through
`_backend.input_gradients`, so they run on TensorFlow, JAX and PyTorch alike.
All work in the L-infinity threat model: every pixel moves by at most
`epsilon`, and the result stays in the valid pixel range.

- `fgsm` (Goodfellow et al. 2015): one step of size epsilon along the sign
  of the input gradient.
- `pgd` (Madry et al. 2018): several smaller signed steps from a random
  start inside the epsilon ball, each projected back into the ball.
- `robust_accuracy`: accuracy on the attacked inputs.
- `adversarial_fit`: trains on clean and attacked examples, the attacked
  ones regenerated against the current weights chunk by chunk.

Example:
>>> x_adv = pgd(model, x, y, epsilon=0.1, steps=10)
>>> robust_accuracy(model, x, y, "pgd", epsilon=0.1)
"""

from __future__ import annotations

import keras
import numpy as np

from kerasdl import _backend
from kerasdl._checks import check_choice, check_float, check_int

__all__ = ["ATTACKS", "adversarial_fit", "fgsm", "pgd", "robust_accuracy"]

#: Attack names accepted by `robust_accuracy` and `adversarial_fit`.
ATTACKS = ("fgsm", "pgd")


def _loss_gradient_sign(model, x, y, loss):
    loss_fn = keras.losses.get(loss)
    labels = keras.ops.convert_to_tensor(y)

    def objective(inputs):
        return loss_fn(labels, model(inputs, training=False))

    grads = _backend.input_gradients(objective, x)
    return np.sign(_backend.to_numpy(grads))


def _check_attack(epsilon, clip):
    check_float("epsilon", epsilon, minimum=0.0)
    if clip is not None and (len(clip) != 2 or clip[0] >= clip[1]):
        raise ValueError(
            f"Invalid clip={clip!r}: expected (low, high) with low < high, "
            "e.g. (0, 1), or None for no pixel range."
        )


def _clip(x, clip):
    return x if clip is None else np.clip(x, clip[0], clip[1])


def fgsm(
    model, x, y, epsilon=0.1, loss="sparse_categorical_crossentropy", clip=(0.0, 1.0)
) -> np.ndarray:
    """Fast gradient sign method: x + epsilon * sign(dL/dx), clipped.

    Args:
        model: keras.Model (probabilities out unless `loss` says otherwise).
        x: float array of inputs.
        y: labels for `loss`.
        epsilon: float. L-infinity size of the perturbation.
        loss: str or keras.losses.Loss. The loss the attack increases.
        clip: (low, high) or None. Valid input range.

    Returns:
        np.ndarray, float32, the shape of `x`.
    """
    _check_attack(epsilon, clip)
    x = np.asarray(x, np.float32)
    step = epsilon * _loss_gradient_sign(model, x, y, loss)
    return _clip(x + step, clip).astype(np.float32)


def pgd(
    model,
    x,
    y,
    epsilon=0.1,
    step_size=None,
    steps=10,
    random_start=True,
    loss="sparse_categorical_crossentropy",
    clip=(0.0, 1.0),
    seed=0,
) -> np.ndarray:
    """Projected gradient descent on the loss, inside the epsilon ball.

    Args:
        model: keras.Model.
        x: float array of inputs.
        y: labels for `loss`.
        epsilon: float. L-infinity radius.
        step_size: float or None. Size of each signed step; None uses
            2.5 * epsilon / steps (Madry et al.'s choice, which lets the
            walk reach the ball's surface from any start).
        steps: int. Number of steps.
        random_start: bool. Start from a uniform point in the ball.
        loss: str or keras.losses.Loss.
        clip: (low, high) or None. Valid input range.
        seed: int. Seed of the random start.

    Returns:
        np.ndarray, float32, the shape of `x`, with
        max |x_adv - x| <= epsilon.
    """
    _check_attack(epsilon, clip)
    check_int("steps", steps, minimum=1)
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    check_float("step_size", step_size, minimum=0.0)
    x = np.asarray(x, np.float32)
    adv = x.copy()
    if random_start:
        rng = np.random.default_rng(seed)
        adv = _clip(adv + rng.uniform(-epsilon, epsilon, x.shape), clip)
    for _ in range(steps):
        adv = adv + step_size * _loss_gradient_sign(
            model, adv.astype(np.float32), y, loss
        )
        adv = _clip(np.clip(adv, x - epsilon, x + epsilon), clip)
    return adv.astype(np.float32)


def _attack(name, model, x, y, **kwargs):
    check_choice("attack", name, ATTACKS)
    return (fgsm if name == "fgsm" else pgd)(model, x, y, **kwargs)


def robust_accuracy(
    model, x, y, attack="pgd", batch_size=256, **attack_kwargs
) -> float:
    """Accuracy of `model` on inputs attacked by `attack`, batch by batch.

    Args:
        model: keras.Model outputting class scores.
        x: inputs.
        y: integer labels.
        attack: str. "fgsm" or "pgd"; epsilon 0 gives the clean accuracy.
        batch_size: int. Examples attacked at once.
        **attack_kwargs: the attack's arguments (epsilon, steps, ...).

    Returns:
        float in [0, 1].
    """
    check_int("batch_size", batch_size, minimum=1)
    y = np.asarray(y)
    correct = 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        adv = _attack(attack, model, xb, yb, **attack_kwargs)
        scores = _backend.to_numpy(model(adv, training=False))
        correct += int(np.sum(scores.argmax(-1) == yb.reshape(-1)))
    return correct / len(x)


def adversarial_fit(
    model,
    x,
    y,
    epochs=1,
    attack="fgsm",
    chunk_size=256,
    batch_size=32,
    seed=0,
    **attack_kwargs,
) -> list[float]:
    """Adversarial training: each chunk is fitted together with its attacked copy.

    The training set is shuffled every epoch and cut into chunks; the
    attacked copy of a chunk is made against the current weights just
    before the model trains one pass on the chunk and its copy (so the
    attacks keep up with the model, as in Madry et al., at the cost of one
    `fit` call per chunk). The model must be compiled.

    Args:
        model: compiled keras.Model.
        x: training inputs.
        y: integer labels.
        epochs: int.
        attack: str. "fgsm" (fast) or "pgd" (stronger, `steps` times slower).
        chunk_size: int. Examples attacked against the same weights.
        batch_size: int. Batch size of the training passes.
        seed: int. Seed of the shuffling.
        **attack_kwargs: the attack's arguments (epsilon, steps, ...).

    Returns:
        list of float: the mean training loss (clean and attacked) per epoch.

    Raises:
        ValueError: if the model is not compiled or an argument is invalid.
    """
    check_int("epochs", epochs, minimum=1)
    check_int("chunk_size", chunk_size, minimum=1)
    check_choice("attack", attack, ATTACKS)
    if not model.compiled:
        raise ValueError(
            f"adversarial_fit needs a compiled model; model {model.name!r} is not "
            "(call model.compile(optimizer, loss) first)."
        )
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        losses, weights = [], []
        for start in range(0, len(x), chunk_size):
            chunk = order[start : start + chunk_size]
            xc, yc = x[chunk], y[chunk]
            adv = _attack(attack, model, xc, yc, **attack_kwargs)
            fitted = model.fit(
                np.concatenate([xc, adv]),
                np.concatenate([yc, yc]),
                batch_size=batch_size,
                epochs=1,
                verbose=0,
                shuffle=True,
            )
            losses.append(fitted.history["loss"][-1])
            weights.append(len(chunk))
        history.append(float(np.average(losses, weights=weights)))
    return history
