"""Mixed precision for the generative families through the Trainer (issue 12).

`Trainer({"precision": ...}).fit(model, x)` rebuilds an autoencoder, a VAE,
a GAN or a DDPM under the dtype policy with its weights (they are
subclassed models built from their hyperparameters, or a functional
denoiser), trains the copy and copies the trained weights back into the
user's model. Every layer computes in the policy's dtype except those whose
outputs the losses read (images, scores, posterior parameters), which stay
float32; under mixed_float16 each optimizer (both of a GAN's) scales its
loss. A mixed-precision GAN saves and loads with both optimizers' state.
"""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import _backend, _keras_compat
from kerasdl.training import Trainer
from kerasdl.training.precision import model_precision

SHAPE = (8, 8, 1)
BATCH, CLASSES = 8, 4
# Four steps: dynamic loss scaling skips the first ones when float16
# gradients overflow at its initial scale 2**15 (it halves the scale each
# time). A GAN step is several steps (two critic steps, one generator step).
STEPS, GAN_STEPS = 4, 1
_TINY_STACK = {"latent_dim": 4, "architecture": "dense", "hidden_units": [8]}
# name -> (build arguments, layers kept in float32, steps in the epoch).
FAMILIES = {
    "autoencoder": (
        {"model": "autoencoder", **_TINY_STACK},
        {"code", "decoder_pixels", "decoder_image"},
        STEPS,
    ),
    "vae": (
        {"model": "vae", **_TINY_STACK},
        {"z_mean", "z_log_var", "z", "decoder_pixels", "decoder_image"},
        STEPS,
    ),
    # Conditional with the Wasserstein loss: two optimizers, n_critic
    # critic steps and the gradient penalty in one tiny model.
    "gan": (
        {
            "model": "cgan",
            "loss": "wasserstein",
            "n_critic": 2,
            "num_classes": CLASSES,
            **_TINY_STACK,
        },
        {"generator_pixels", "generator_image", "critic_score"},
        GAN_STEPS,
    ),
    "ddpm": (
        {
            "model": "ddpm",
            "channels": 4,
            "channel_multipliers": [1],  # one level: the middle's attention
            "attention_resolutions": [],
            "groups": 2,
            "timesteps": 10,
        },
        {"output"},
        STEPS,
    ),
}
COMPUTE = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
# Two steps: on TensorFlow eager steps cost less than tracing them; JAX
# dispatches eager ops one by one, slower than compiling the step.
EAGER = keras.backend.backend() != "jax"


def _data(family):
    spec, _, steps = FAMILIES[family]
    n = steps * BATCH
    x = np.random.default_rng(0).random((n, *SHAPE)).astype("float32")
    return x, (np.arange(n) % CLASSES if "num_classes" in spec else None)


def _build(family):
    spec, _, _ = FAMILIES[family]
    model = kerasdl.build({**spec, "image_shape": list(SHAPE)})
    # Compiled by the user: the Trainer recompiles its copy the same way.
    model.compile(run_eagerly=EAGER)
    return model


def _config(precision, **extra):
    return {
        "seed": 0,
        "epochs": 1,
        "batch_size": BATCH,
        "verbose": 0,
        "precision": precision,
        "callbacks": {"plot": False},
        **extra,
    }


def _optimizers(model):
    optimizers = [model.optimizer]
    if getattr(model, "discriminator_optimizer", None) is not None:
        optimizers.append(model.discriminator_optimizer)
    return optimizers


def _values(variables):
    return [_backend.to_numpy(v).copy() for v in variables]


@pytest.mark.parametrize("precision", sorted(COMPUTE))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_trains_under_mixed_precision(family, precision):
    _, float32_layers, _ = FAMILIES[family]
    x, y = _data(family)
    model = _build(family)
    before = _values(model.trainable_weights)

    trainer = Trainer(_config(precision))
    history = trainer.fit(model, x, y)
    trained = trainer.model

    assert trained is not model and model_precision(trained) == precision
    assert model_precision(model) == "float32"  # the user's model keeps its own
    assert keras.config.dtype_policy().name == "float32"
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), (name, values)
    if family == "ddpm":
        # Timesteps reach the sinusoidal embedding in float32 (bfloat16
        # rounds 999 to 1000): only its result is cast to the policy.
        embed = trained.get_layer("time_embedding")
        reference = kerasdl.layers.SinusoidalTimeEmbedding(embed.dim, dtype="float32")
        t = np.array([999.0, 7.0], "float32")
        np.testing.assert_allclose(
            _backend.to_numpy(keras.ops.cast(embed(t), "float32")),
            _backend.to_numpy(reference(t)),
            atol=1e-2,
        )
    # Every floating-point layer computes in the policy's dtype (variables
    # float32), except the output layers the losses read.
    layers = [
        layer
        for layer in _keras_compat.flatten_layers(trained)
        if not isinstance(layer, (keras.Model, keras.layers.InputLayer))
    ]
    seen_float32 = set()
    for layer in layers:
        if layer.name in float32_layers:
            seen_float32.add(layer.name)
            assert layer.compute_dtype == "float32", layer.name
        else:
            assert layer.compute_dtype == COMPUTE[precision], layer.name
        assert layer.variable_dtype == "float32", layer.name
    assert seen_float32 == float32_layers
    for part in [trained, *getattr(trained, "_layers", [])]:
        if isinstance(part, keras.Model) and getattr(part, "outputs", None):
            assert {str(t.dtype) for t in part.outputs} == {"float32"}, part.name
    # mixed_float16 scales the loss of each optimizer (a GAN has two).
    scaled = precision == "mixed_float16"
    for optimizer in _optimizers(trained):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) is scaled
    # The user's model is the trained one.
    after = _values(model.trainable_weights)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    for a, b in zip(_values(model.weights), _values(trained.weights), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mixed_float16_gan_saves_and_loads_both_optimizers(tmp_path):
    x, y = _data("gan")
    trainer = Trainer(_config("mixed_float16"))
    trainer.fit(_build("gan"), x, y)
    gan = trainer.model
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)

    assert model_precision(loaded) == "mixed_float16"
    assert loaded.generator.get_layer("generator_image").compute_dtype == "float32"
    for saved, restored in zip(_optimizers(gan), _optimizers(loaded), strict=True):
        assert isinstance(restored, keras.optimizers.LossScaleOptimizer)
        assert len(restored.variables) == len(saved.variables)
        for a, b in zip(
            _values(saved.variables), _values(restored.variables), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    assert int(_backend.to_numpy(loaded.discriminator_optimizer.iterations)) > 0
    for a, b in zip(_values(gan.weights), _values(loaded.weights), strict=True):
        np.testing.assert_array_equal(a, b)
