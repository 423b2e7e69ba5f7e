"""OpenAI-ES and CMA-ES train model weights without gradients."""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.search.es import Predictor, cma_es, episode_return, openai_es


def _blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, n)
    x = centers[y] + 0.6 * rng.standard_normal((n, 2))
    return x.astype("float32"), y


def _neg_cross_entropy(x, y):
    def fitness(predict):
        p = np.clip(predict(x), 1e-7, 1.0)
        return float(np.mean(np.log(p[np.arange(len(y)), y])))

    return fitness


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict_on_batch(x), -1) == y))


def test_predictor_numpy_path_matches_keras():
    model = kerasdl.build("mlp", input_shape=[2], num_classes=3, hidden_units=[8])
    predictor = Predictor(model)
    assert predictor.fast and predictor.size == 2 * 8 + 8 + 8 * 3 + 3
    vector = np.random.default_rng(0).standard_normal(predictor.size)
    x, _ = _blobs(16)
    fast = predictor(vector)(x)
    predictor.set(vector)
    np.testing.assert_allclose(fast, model.predict_on_batch(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="a vector of 51 values"):
        predictor(vector[:-1])


def test_openai_es_trains_a_classifier_without_gradients():
    x, y = _blobs()
    model = kerasdl.build("mlp", input_shape=[2], num_classes=3, hidden_units=[8])
    before = _accuracy(model, x, y)
    result = openai_es(
        model, _neg_cross_entropy(x, y), generations=40, population=20,
        sigma=0.1, learning_rate=0.05, seed=0,
    )  # fmt: skip
    after = _accuracy(model, x, y)  # the best weights are set on the model
    assert after >= 0.9 > before, (before, after)
    assert result.history[-1]["mean"] > result.history[0]["mean"]
    assert result.evaluations == 1 + 40 * 21
    with pytest.raises(ValueError, match="population=7: expected an even number"):
        openai_es(model, _neg_cross_entropy(x, y), population=7)


def test_cma_es_trains_a_model_through_keras():
    # LayerNormalization is not in the NumPy path: candidates run in Keras.
    x, y = _blobs(120)
    spec = {
        "input_shape": [2],
        "sequential": [
            {"Dense": {"units": 4, "activation": "tanh"}},
            {"LayerNormalization": {}},
            {"Dense": {"units": 3, "activation": "softmax"}},
        ],
    }
    model = kerasdl.build(spec)
    assert not Predictor(model).fast
    fitness = _neg_cross_entropy(x, y)
    start = fitness(Predictor(model)(Predictor(model).flat()))
    result = cma_es(model, fitness, generations=12, population=10, sigma=0.5, seed=0)
    assert result.fitness > start + 0.2, (start, result.fitness)
    assert _accuracy(model, x, y) >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("method", ["openai_es", "cma_es"])
def test_es_solves_cartpole(method):
    # About 20 s (OpenAI-ES) and 1 s (CMA-ES) on 2 CPU cores; the policy
    # runs in NumPy (a Dense network).
    keras.utils.set_random_seed(0)
    model = kerasdl.build(
        "mlp", input_shape=[4], num_classes=2, hidden_units=[16], activation="tanh"
    )

    def fitness(predict):
        return episode_return(predict, "CartPole-v1", episodes=3, seed=0)

    if method == "openai_es":
        result = openai_es(model, fitness, generations=150, population=32,
                           sigma=0.5, learning_rate=0.1, target=500, seed=0)  # fmt: skip
    else:
        result = cma_es(model, fitness, generations=150, sigma=0.5, target=500, seed=0)
    assert result.fitness == 500.0  # the maximum return, on all 3 episodes
    # Held-out episodes (other seeds), with the weights set on the model:
    # at least gymnasium's "solved" threshold for CartPole-v1, 475.
    predictor = Predictor(model)
    held_out = episode_return(predictor(predictor.flat()), episodes=10, seed=1000)
    print(f"{method}: {result.evaluations} evaluations, held-out return {held_out}")
    assert held_out >= 475.0
