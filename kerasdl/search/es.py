"""Neuroevolution of weights: OpenAI-ES and CMA-ES, no gradients.

Both train the weights of any Keras model (a kerasdl build or not) by
evaluating a fitness on perturbed copies of its flat weight vector:

- `openai_es` (Salimans et al. 2017): antithetic Gaussian perturbations
  (each noise vector is used with both signs), fitnesses replaced by their
  centred ranks (rank shaping: robust to the fitness' scale and outliers),
  the estimated gradient applied with Adam and optional weight decay.
- `cma_es`: the `cma` package's CMA-ES (Hansen), whose full covariance
  suits small models (a few thousand weights at most).

`fitness(predict)` receives a function mapping a batch of inputs to the
model's outputs under the candidate weights, and returns a number to
maximize. Models made only of Dense, Activation, Dropout (identity at
inference), Flatten and Input layers run in NumPy (a forward pass costs
microseconds, so control tasks with thousands of steps per evaluation are
fast); any other model runs through Keras (`predict_on_batch`) with its
weights set for each candidate.

`episode_return(predict, env_id)` is the fitness of a gymnasium control task
(e.g. CartPole-v1, offline): the greedy action of the model's outputs.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from kerasdl._checks import check_float, check_int, invalid

__all__ = ["ESResult", "Predictor", "cma_es", "episode_return", "openai_es"]

logger = logging.getLogger(__name__)

_NUMPY_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softmax": lambda x: _softmax(x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}
_PASS_THROUGH = ("InputLayer", "Dropout")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclasses.dataclass
class ESResult:
    """What `openai_es` and `cma_es` return.

    Attributes:
        weights: np.ndarray. The best flat weight vector found (also set on
            the model).
        fitness: float. Its fitness (as evaluated during the search).
        history: list of dict. Per generation: generation, best, mean,
            evaluations.
        evaluations: int. Fitness evaluations in total.
    """

    weights: np.ndarray
    fitness: float
    history: list
    evaluations: int


class Predictor:
    """Runs a model under candidate flat weight vectors.

    Args:
        model: keras.Model.

    Attributes:
        size: int. Length of the flat weight vector.
        fast: bool. Whether the NumPy forward pass is used.
    """

    def __init__(self, model):
        self.model = model
        self.shapes = [tuple(w.shape) for w in model.get_weights()]
        self.size = int(sum(math.prod(s) for s in self.shapes))
        self.plan = self._numpy_plan(model)
        self.fast = self.plan is not None

    @staticmethod
    def _numpy_plan(model):
        plan = []
        for layer in model.layers:
            kind = type(layer).__name__
            config = layer.get_config()
            if kind in _PASS_THROUGH:
                continue
            if kind == "Flatten":
                plan.append(("flatten", None, 0))
            elif kind in ("Dense", "Activation"):
                activation = config.get("activation", "linear")
                if (
                    not isinstance(activation, str)
                    or activation not in _NUMPY_ACTIVATIONS
                ):
                    return None
                weights = len(layer.get_weights()) if kind == "Dense" else 0
                if kind == "Dense" and weights != (2 if config.get("use_bias") else 1):
                    return None
                plan.append((kind, activation, weights))
            else:
                return None
        return plan

    def flat(self) -> np.ndarray:
        """The model's current weights as one float64 vector."""
        return np.concatenate(
            [np.asarray(w, np.float64).ravel() for w in self.model.get_weights()]
        )

    def unflatten(self, vector) -> list[np.ndarray]:
        """The model's weight list from a flat vector."""
        vector = np.asarray(vector, np.float32)
        if vector.shape != (self.size,):
            raise invalid("weights", vector.shape, f"a vector of {self.size} values")
        out, start = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(vector[start : start + n].reshape(shape))
            start += n
        return out

    def set(self, vector) -> None:
        """Sets the model's weights from a flat vector."""
        self.model.set_weights(self.unflatten(vector))

    def __call__(self, vector):
        """A function x -> outputs under the weights `vector`."""
        weights = self.unflatten(vector)
        if not self.fast:
            self.model.set_weights(weights)
            return lambda x: np.asarray(
                self.model.predict_on_batch(np.asarray(x, np.float32))
            )
        plan = []
        index = 0
        for kind, activation, count in self.plan:
            plan.append((kind, activation, weights[index : index + count]))
            index += count

        def predict(x):
            h = np.asarray(x, np.float32)
            for kind, activation, params in plan:
                if kind == "flatten":
                    h = h.reshape(len(h), -1)
                    continue
                if kind == "Dense":
                    h = h @ params[0]
                    if len(params) > 1:
                        h = h + params[1]
                h = _NUMPY_ACTIVATIONS[activation](h)
            return h

        return predict


def _centered_ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks / (len(values) - 1) - 0.5


def _check_common(fitness, generations, population, seed):
    if not callable(fitness):
        raise invalid("fitness", fitness, "a callable(predict) -> float")
    check_int("generations", generations, 1)
    check_int("population", population, 2)
    check_int("seed", seed, 0)


def _evaluate(fitness, predictor, vector) -> float:
    value = float(fitness(predictor(vector)))
    return value if math.isfinite(value) else -math.inf


def openai_es(
    model,
    fitness,
    *,
    generations: int = 100,
    population: int = 32,
    sigma: float = 0.1,
    learning_rate: float = 0.03,
    weight_decay: float = 0.0,
    target: float | None = None,
    seed: int = 0,
) -> ESResult:
    """Trains `model`'s weights with OpenAI-ES (antithetic, rank-shaped).

    Args:
        model: keras.Model. Its current weights are the starting point; the
            best weights found are set on it at the end.
        fitness: callable(predict) -> float, maximized; `predict(x)` runs
            the model under the candidate weights.
        generations: int. Updates of the mean.
        population: int. Perturbations per generation (even: antithetic
            pairs).
        sigma: float. Noise standard deviation.
        learning_rate: float. Adam's step size on the estimated gradient.
        weight_decay: float. L2 decay of the mean per update.
        target: float or None. Stop once the mean's fitness reaches it.
        seed: int. Noise seed.

    Returns:
        ESResult.

    Raises:
        ValueError: for invalid arguments (an odd population included).

    Example:
    >>> result = openai_es(model, lambda predict: -loss(predict(x), y))
    """
    _check_common(fitness, generations, population, seed)
    if population % 2:
        raise invalid("population", population, "an even number (antithetic pairs)")
    check_float("sigma", sigma, 0, min_inclusive=False)
    check_float("learning_rate", learning_rate, 0, min_inclusive=False)
    check_float("weight_decay", weight_decay, 0)
    predictor = Predictor(model)
    rng = np.random.default_rng(seed)
    theta = predictor.flat()
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    best, best_fitness = theta.copy(), _evaluate(fitness, predictor, theta)
    history, evaluations = [], 1
    for generation in range(1, generations + 1):
        half = rng.standard_normal((population // 2, theta.size))
        noise = np.concatenate([half, -half])
        scores = np.array(
            [_evaluate(fitness, predictor, theta + sigma * e) for e in noise]
        )
        evaluations += population
        top = int(np.argmax(scores))
        if scores[top] > best_fitness:
            best, best_fitness = theta + sigma * noise[top], float(scores[top])
        gradient = _centered_ranks(scores) @ noise / (population * sigma)
        gradient -= weight_decay * theta
        # Adam ascent (Kingma & Ba), as in Salimans et al.
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        step = m / (1 - 0.9**generation) / (np.sqrt(v / (1 - 0.999**generation)) + 1e-8)
        theta = theta + learning_rate * step
        mean_fitness = _evaluate(fitness, predictor, theta)
        evaluations += 1
        if mean_fitness >= best_fitness:
            best, best_fitness = theta.copy(), mean_fitness
        history.append(
            {"generation": generation, "best": float(scores.max()),
             "mean": mean_fitness, "evaluations": evaluations}
        )  # fmt: skip
        logger.info("openai_es generation %d: %s", generation, history[-1])
        if target is not None and mean_fitness >= target:
            break
    predictor.set(best)
    return ESResult(best, best_fitness, history, evaluations)


def cma_es(
    model,
    fitness,
    *,
    generations: int = 100,
    population: int | None = None,
    sigma: float = 0.5,
    target: float | None = None,
    seed: int = 0,
) -> ESResult:
    """Trains `model`'s weights with CMA-ES (the `cma` package).

    Args:
        model: keras.Model. Start point and, at the end, the best weights.
        fitness: callable(predict) -> float, maximized.
        generations: int. CMA-ES iterations at most.
        population: int or None. Candidates per iteration (None: CMA-ES's
            default 4 + 3 ln n).
        sigma: float. Initial step size.
        target: float or None. Stop once a candidate reaches it.
        seed: int. CMA-ES's seed.

    Returns:
        ESResult.

    Raises:
        ValueError: for invalid arguments, or without the cma package.
    """
    _check_common(fitness, generations, population or 2, seed)
    check_float("sigma", sigma, 0, min_inclusive=False)
    try:
        import cma
    except ImportError:
        raise ValueError(
            "cma_es needs the cma package (pip install cma, or kerasdl[search])."
        ) from None
    predictor = Predictor(model)
    options = {"seed": seed + 1, "verbose": -9, "maxiter": generations}
    if population is not None:
        options["popsize"] = population
    strategy = cma.CMAEvolutionStrategy(predictor.flat(), sigma, options)
    best, best_fitness = predictor.flat(), -math.inf
    history, evaluations = [], 0
    for generation in range(1, generations + 1):
        candidates = strategy.ask()
        scores = [_evaluate(fitness, predictor, x) for x in candidates]
        evaluations += len(candidates)
        # cma minimizes; -inf (a failed fitness) becomes a large cost.
        strategy.tell(candidates, [-s if math.isfinite(s) else 1e30 for s in scores])
        top = int(np.argmax(scores))
        if scores[top] > best_fitness:
            best, best_fitness = np.asarray(candidates[top]), float(scores[top])
        history.append(
            {"generation": generation, "best": float(max(scores)),
             "mean": float(np.mean(scores)), "evaluations": evaluations}
        )  # fmt: skip
        logger.info("cma_es generation %d: %s", generation, history[-1])
        if (target is not None and best_fitness >= target) or strategy.stop():
            break
    predictor.set(best)
    return ESResult(best, best_fitness, history, evaluations)


def episode_return(predict, env_id: str = "CartPole-v1", *, episodes: int = 1,
                   seed: int = 0, max_steps: int | None = None) -> float:  # fmt: skip
    """Mean return of the greedy policy argmax(predict(observation)).

    Args:
        predict: callable(batch of observations) -> action scores.
        env_id: str. A gymnasium environment with discrete actions (the
            classic-control ones ship with gymnasium: nothing downloads).
        episodes: int. Episodes averaged (seeds seed, seed+1, ...).
        seed: int. Seed of the first episode.
        max_steps: int or None. Step cap (None: the environment's own).

    Returns:
        float: the mean undiscounted return.

    Raises:
        ValueError: without gymnasium or for an unknown environment.
    """
    check_int("episodes", episodes, 1)
    try:
        import gymnasium
    except ImportError:
        raise ValueError(
            "episode_return needs gymnasium (pip install gymnasium, or kerasdl[search])."
        ) from None
    try:
        env = gymnasium.make(env_id)
    except gymnasium.error.Error as error:
        raise invalid("env_id", env_id, "a registered gymnasium environment",
                      hint=f" ({error})") from None  # fmt: skip
    total = 0.0
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            steps, done = 0, False
            while not done:
                action = int(np.argmax(predict(observation[None])[0]))
                observation, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                done = (
                    terminated
                    or truncated
                    or (max_steps is not None and steps >= max_steps)
                )
    finally:
        env.close()
    return total / episodes
