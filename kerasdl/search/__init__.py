"""Search over run configs and specs: tuning, architecture evolution, ES.

- `parse_space` / `resolve`: search parameters written inside a run config
  (`{choice: [...]}`, `{range: [lo, hi], log: true}`, `{int: [lo, hi]}`,
  conditional with `when`), validated like every config.
- `tune`: keras-tuner (random, Hyperband, Bayesian) over such a config, each
  trial a Trainer run with its own run directory; results as CSV, JSON, PNG.
- `evolve`: regularized (aging) evolution of Sequential and Functional
  specs, checkpointed after every evaluation, parallel, multi-objective.
- `openai_es` / `cma_es`: gradient-free training of any model's weights.

This package sits on the top library floor (beside generation and serve):
it imports the spec language, data, training and the run config, and only
the command line imports it.
"""

from kerasdl.search.es import ESResult, Predictor, cma_es, episode_return, openai_es
from kerasdl.search.evolve import EvolveResult, TrainEvaluator, evolve, pareto_front
from kerasdl.search.space import Parameter, SearchSpace, parse_space, resolve
from kerasdl.search.tune import TuneResult, tune

__all__ = [
    "ESResult",
    "EvolveResult",
    "Parameter",
    "Predictor",
    "SearchSpace",
    "TrainEvaluator",
    "TuneResult",
    "cma_es",
    "episode_return",
    "evolve",
    "openai_es",
    "pareto_front",
    "parse_space",
    "resolve",
    "tune",
]
