"""Every sequence and attention family trains through the Trainer.

One tiny model per family (issue #4): `Trainer.fit` from the registry name
and hyperparameters (the spec path), two epochs with a run directory; the
loss must fall on a fixed batch it can memorize, and the best checkpoint
must load with the trained model's outputs.
"""

import keras
import numpy as np
import pytest

from kerasdl.registry import get_entry
from kerasdl.training import Trainer
from tests.conftest import random_inputs

FAMILIES = {
    "rnn": "rnn_tagger",
    "forecasting": "transformer_forecaster",
    "seq2seq": "seq2seq_bahdanau",
    "transformer": "gpt",
    "t5": "t5",
    "vit": "vit",
}


@pytest.mark.parametrize("name", sorted(FAMILIES.values()))
def test_family_trains_through_the_trainer(name, tmp_path):
    entry = get_entry(name)
    spec = {
        "model": name,
        **{k: v for k, v in entry.tiny.items() if k not in entry.presets},
    }
    probe = entry.build_tiny()
    x = random_inputs(probe, batch=8, seed=3)
    outputs = keras.tree.flatten(probe(x, training=False))
    rng = np.random.default_rng(4)
    y = [rng.standard_normal(o.shape).astype("float32") for o in outputs]
    y = y[0] if len(y) == 1 else y

    trainer = Trainer(
        {
            "epochs": 4,
            "batch_size": 8,
            "loss": "mse",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "run_dir": str(tmp_path / "run"),
            "verbose": 0,
        }
    )
    history = trainer.fit(spec, x, y)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], f"{name}: loss did not fall: {losses}"

    model = trainer.model
    best = keras.saving.load_model(tmp_path / "run" / "best.keras")
    expected = keras.tree.flatten(model(x, training=False))
    for a, b in zip(expected, keras.tree.flatten(best(x, training=False))):
        # best.keras is the lowest-loss epoch, which is the last one here.
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5
        )
