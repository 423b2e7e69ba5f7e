"""GANs through `kerasdl.training.Trainer`: config, EMA, checkpoints, resume.

A GAN keeps two optimizers; these tests check that the Trainer's config
reaches them (a schedule, EMA for the generator's sampled weights), that
its run folder holds a loadable model every epoch, that a run killed
mid-way resumes where the last finished epoch left both players and both
optimizers instead of starting over, and that evaluation reports the
players' losses.
"""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import _backend
from kerasdl.training import Trainer

SHAPE = (8, 8, 1)
N, BATCH, N_CRITIC = 16, 8, 2
STEPS = N // BATCH  # generator steps per epoch


def _images():
    return np.random.default_rng(0).random((N, *SHAPE)).astype("float32")


def _gan(name="dcgan"):
    # Dense, with 2 critic steps: both optimizers at different step counts,
    # few ops to trace per step (JAX runs GAN steps eagerly).
    return kerasdl.build(
        name,
        image_shape=SHAPE,
        latent_dim=4,
        architecture="dense",
        hidden_units=[8],
        n_critic=N_CRITIC,
    )


def _iterations(optimizer):
    return int(_backend.to_numpy(optimizer.iterations))


def _weights(model):
    return [_backend.to_numpy(w).copy() for w in model.weights]


def _config(run_dir, epochs=2, **extra):
    return {
        "seed": 0,
        "epochs": epochs,
        "batch_size": BATCH,
        "verbose": 0,
        "run_dir": str(run_dir),
        "jit_compile": False,  # XLA compiles for longer than these steps run
        "callbacks": {"checkpoint": {"save_best_only": False}, "plot": False},
        "optimizer": {
            "name": "adam",
            "beta_1": 0.5,
            "use_ema": True,
            "learning_rate": {
                "name": "cosine",
                "learning_rate": 1e-3,
                "decay_steps": 10,
            },
        },
        **extra,
    }


class _Stop(Exception):
    pass


class _KillAfter(keras.callbacks.Callback):
    """Raises (a crash, from the run's point of view) after `batches` batches."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise _Stop()


class _Record(keras.callbacks.Callback):
    """Records the GAN's weights and optimizer steps at epoch ends and at
    the first batch (after a resumed run has restored its backup)."""

    def __init__(self):
        super().__init__()
        self.at_start = None
        self.at_epoch_end = []

    def _state(self):
        gan = self.model
        return {
            "weights": _weights(gan.generator) + _weights(gan.discriminator),
            "g_steps": _iterations(gan.optimizer),
            "d_steps": _iterations(gan.discriminator_optimizer),
        }

    def on_train_batch_begin(self, batch, logs=None):
        if self.at_start is None:
            self.at_start = self._state()

    def on_epoch_end(self, epoch, logs=None):
        self.at_epoch_end.append(self._state())


def test_gan_run_with_schedule_and_ema_killed_mid_way_resumes(tmp_path):
    x = _images()
    first = _Record()
    with pytest.raises(_Stop):
        Trainer(_config(tmp_path)).fit(
            _gan(), x, callbacks=[first, _KillAfter(STEPS + 1)]
        )
    assert len(first.at_epoch_end) == 1  # killed during the second epoch
    assert (tmp_path / "backup" / "latest.json").is_file()
    # Every epoch leaves a loadable model with both optimizers in it.
    saved = keras.saving.load_model(tmp_path / "best.keras")
    assert _iterations(saved.discriminator_optimizer) == N_CRITIC * STEPS

    resumed = _Record()
    trainer = Trainer(_config(tmp_path, resume=True))
    history = trainer.fit(_gan(), x, callbacks=[resumed])
    # The resumed run starts from the last finished epoch: both players'
    # weights and both optimizers' step counts, not a fresh start.
    end_of_epoch_1 = first.at_epoch_end[0]
    assert resumed.at_start["g_steps"] == STEPS
    assert resumed.at_start["d_steps"] == N_CRITIC * STEPS
    for before, after in zip(
        end_of_epoch_1["weights"], resumed.at_start["weights"], strict=True
    ):
        np.testing.assert_array_equal(before, after)
    assert history.epoch == [1]
    gan = trainer.model
    assert _iterations(gan.optimizer) == 2 * STEPS
    assert _iterations(gan.discriminator_optimizer) == 2 * N_CRITIC * STEPS
    # The schedule continued from step STEPS: the logged rate is the
    # cosine's at 2 * STEPS, not at STEPS (which a restart would give).
    expected = keras.optimizers.schedules.CosineDecay(1e-3, 10)(2 * STEPS)
    assert history.history["learning_rate"][0] == pytest.approx(
        float(_backend.to_numpy(expected)), rel=1e-5
    )
    assert not (tmp_path / "backup").exists()  # a finished run drops it
    # EMA (optimizer.use_ema) replaces the generator's trained weights by
    # their average when training ends (what `sample` draws from); the
    # critic keeps its trained weights.
    trained = resumed.at_epoch_end[-1]["weights"]
    final = _weights(gan.generator) + _weights(gan.discriminator)
    n_gen = len(gan.generator.weights)
    assert any(not np.array_equal(a, b) for a, b in zip(trained, final[:n_gen]))
    for a, b in zip(trained[n_gen:], final[n_gen:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_gan_evaluate_reports_the_players_losses():
    # All backends: JAX evaluates through _backend.stateful_test_step.
    gan = _gan("wgan_gp")
    gan.compile(jit_compile=False)
    x = _images()
    history = gan.fit(x, epochs=1, batch_size=BATCH, verbose=0, validation_data=(x,))
    assert {"val_d_loss", "val_g_loss", "val_gp"} <= set(history.history)
    weights = _weights(gan)
    logs = gan.evaluate(x, batch_size=BATCH, verbose=0, return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "gp"}
    assert all(np.isfinite(v) for v in logs.values())
    # The WGAN critic loss includes the penalty: E[D(fake)] - E[D(real)] + 10 gp.
    assert logs["gp"] > 0
    for a, b in zip(weights, _weights(gan), strict=True):  # nothing trained
        np.testing.assert_array_equal(a, b)
