"""Autoencoders, VAE and GANs: behaviour on tiny data, on every backend.

The registry sweep (tests/test_sweep.py) already builds, trains one step,
round-trips and saves every tiny variant; these tests check what each
family promises: fit(x) without targets, the VAE's logged ELBO terms, the
GAN's two optimizers (state saved, n_critic steps), seeded sampling and
the argument errors.
"""

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import _backend
from kerasdl.generative import sample
from kerasdl.training import Trainer, TrainingConfig

SHAPE = (8, 8, 1)


def _images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, *SHAPE)).astype("float32")


def _np(x):
    return _backend.to_numpy(x)


# ------------------------------------------------------------ autoencoders
def test_autoencoder_fits_its_input_without_targets():
    x = _images(32)
    ae = kerasdl.build("conv_autoencoder", image_shape=SHAPE, latent_dim=4, filters=[8])
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = ae.fit(x, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    codes = ae.encode(x)
    assert codes.shape == (32, 4)
    np.testing.assert_allclose(
        ae.decode(codes), ae.reconstruct(x), rtol=1e-5, atol=1e-6
    )


def test_denoising_noise_acts_only_in_training():
    ae = kerasdl.build("denoising_autoencoder", image_shape=SHAPE, latent_dim=3)
    assert ae.get_config()["noise_stddev"] == 0.3
    x = _images(4)
    clean = _np(ae(x, training=False))
    np.testing.assert_allclose(clean, ae.decode(ae.encode(x)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(_np(ae(x, training=True)), clean, atol=1e-4)


def test_sparse_autoencoder_adds_an_l1_activity_loss():
    ae = kerasdl.build("sparse_autoencoder", image_shape=SHAPE, latent_dim=3)
    x = _images(4)
    ae(x)
    codes = ae.encode(x)
    assert (codes >= 0).all()  # ReLU code
    penalty = float(sum(_np(v) for v in ae.losses))
    assert penalty == pytest.approx(1e-3 * np.abs(codes).sum() / len(x), rel=1e-4)


# ------------------------------------------------------------ VAE
def test_vae_logs_reconstruction_kl_and_elbo():
    vae = kerasdl.build("vae", image_shape=SHAPE, latent_dim=2, hidden_units=[16])
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vae.fit(_images(32), epochs=6, batch_size=16, verbose=0).history
    for key in ("reconstruction", "kl", "elbo", "loss"):
        assert len(history[key]) == 6
    for rec, kl, elbo, loss in zip(
        history["reconstruction"], history["kl"], history["elbo"], history["loss"]
    ):
        assert elbo == pytest.approx(-(rec + kl), rel=1e-4)
        assert loss == pytest.approx(rec + kl, rel=1e-4)  # beta = 1
        assert kl >= 0
    assert history["loss"][-1] < history["loss"][0]


def test_vae_numpy_api_and_bounds():
    vae = kerasdl.build("conv_vae", image_shape=SHAPE, latent_dim=3, filters=[4])
    x = _images(6)
    mean, log_var = vae.encode(x)
    assert mean.shape == log_var.shape == (6, 3)
    elbo = vae.elbo(x)
    iwae = vae.log_likelihood(x, num_samples=32)
    assert elbo.shape == iwae.shape == (6,)
    # The importance-weighted bound is at least the ELBO (on average).
    assert iwae.mean() >= vae.elbo(x, seed=3).mean() - 1e-3
    np.testing.assert_array_equal(vae.sample(3, seed=7), sample(vae, 3, seed=7))
    assert not np.array_equal(vae.sample(3, seed=7), vae.sample(3, seed=8))
    with pytest.raises(ValueError, match=r"expected shape \(n, 3\) \(latent_dim=3\)"):
        vae.decode(np.zeros((2, 5)))


def test_vae_mixture_prior_samples_the_encoded_distribution_and_is_saved(tmp_path):
    vae = kerasdl.build("vae", image_shape=SHAPE, latent_dim=2, hidden_units=[8],
                        prior_components=1)  # fmt: skip
    x = _images(200)
    # Until fitted, the mixture is N(0, I).
    before = vae.sample(2, seed=0)
    assert before.shape == (2, *SHAPE)
    vae.fit_prior(x)
    means, _ = vae.encode(x)
    decode = vae.decode
    vae.decode = lambda z: z  # the latent draws themselves
    z = vae.generate(20000, seed=1)
    vae.decode = decode
    # One component: the draws have the encoded means' mean and covariance
    # (an untrained encoder puts them far from N(0, I)).
    np.testing.assert_allclose(z.mean(0), means.mean(0), atol=0.05 * means.std())
    np.testing.assert_allclose(np.cov(z.T), np.cov(means.T), rtol=0.1, atol=1e-4)
    samples = vae.sample(3, seed=5)
    np.testing.assert_array_equal(samples, sample(vae, 3, seed=5))
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.sample(3, seed=5), samples, atol=1e-6)
    with pytest.raises(ValueError, match="prior_components=-1"):
        kerasdl.build("vae", image_shape=SHAPE, prior_components=-1)
    plain = kerasdl.build("vae", image_shape=SHAPE, latent_dim=2, hidden_units=[8])
    with pytest.raises(ValueError, match="prior_components >= 1"):
        plain.fit_prior(x)
    with pytest.raises(ValueError, match="at least prior_components=1 images"):
        vae.fit_prior(x[:0])


def test_vae_refuses_a_compiled_loss_and_bad_hyperparameters():
    vae = kerasdl.build("vae", image_shape=SHAPE, latent_dim=2, hidden_units=[8])
    vae.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="loss='mse'"):
        vae.fit(_images(4), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="likelihood='poisson'"):
        kerasdl.build("vae", likelihood="poisson")
    with pytest.raises(ValueError, match=r"image_shape=\(10, 10, 1\).*= 4"):
        kerasdl.build("conv_vae", image_shape=(10, 10, 1), filters=[8, 16])


def test_gaussian_likelihood_and_beta():
    vae = kerasdl.build(
        "vae", image_shape=SHAPE, latent_dim=2, hidden_units=[8],
        likelihood="gaussian", gaussian_sigma=0.5, beta=4.0,
    )  # fmt: skip
    vae.compile(optimizer="adam")
    h = vae.fit(_images(16), epochs=1, batch_size=16, verbose=0).history
    assert h["loss"][0] == pytest.approx(
        h["reconstruction"][0] + 4.0 * h["kl"][0], rel=1e-4
    )
    x = _images(2)
    x_hat = vae.decode(vae.encode(x)[0])
    expected = np.sum(
        0.5 * ((x - x_hat) / 0.5) ** 2 + np.log(0.5) + 0.5 * np.log(2 * np.pi),
        axis=(1, 2, 3),
    )
    np.testing.assert_allclose(
        _np(vae.reconstruction_nll(x, x_hat)), expected, rtol=1e-4
    )


# ------------------------------------------------------------ GANs
def _gan(name, **kw):
    return kerasdl.build(name, image_shape=SHAPE, latent_dim=4, filters=[4], **kw)


def test_gan_keeps_both_optimizers_state_in_keras_files(tmp_path):
    gan = _gan("wgan_gp", n_critic=3)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = gan.fit(_images(16), epochs=1, batch_size=8, verbose=0).history
    assert set(history) >= {"d_loss", "g_loss", "gp"}
    assert int(_np(gan.optimizer.iterations)) == 2
    assert int(_np(gan.discriminator_optimizer.iterations)) == 6  # n_critic = 3
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.discriminator_optimizer, keras.optimizers.Adam)
    assert loaded.discriminator_optimizer is not loaded.optimizer
    for before, after in (
        (gan.optimizer, loaded.optimizer),
        (gan.discriminator_optimizer, loaded.discriminator_optimizer),
    ):
        assert len(before.variables) == len(after.variables) > 2
        for u, v in zip(before.variables, after.variables):
            np.testing.assert_array_equal(_np(u), _np(v))
    np.testing.assert_array_equal(sample(gan, 4, seed=2), sample(loaded, 4, seed=2))
    # Training resumes from the loaded state.
    loaded.fit(_images(16), epochs=1, batch_size=8, verbose=0)
    assert int(_np(loaded.discriminator_optimizer.iterations)) == 12


def test_gan_losses_and_spectral_norm_train():
    for kw in ({"loss": "hinge", "spectral_norm": True}, {"loss": "bce"}):
        gan = _gan("dcgan", **kw)
        gan.compile()
        # Kernels: the hinge loss's output-bias gradient is exactly 0 while
        # every score is inside the margin (as many real as fake terms).
        kernels = [w for w in gan.discriminator.trainable_weights if "kernel" in w.path]
        before = [_np(w).copy() for w in kernels]
        gan.fit(_images(8), epochs=1, batch_size=8, verbose=0)
        assert all(not np.array_equal(_np(w), b) for w, b in zip(kernels, before))
        assert gan.n_critic == 1 and gan.gradient_penalty == 0.0


def test_conditional_gan_needs_labels_and_checks_them():
    gan = _gan("cgan", num_classes=4)
    assert gan.num_classes == 4
    gan.compile()
    with pytest.raises(ValueError, match="fit\\(images, labels\\)"):
        gan.fit(_images(8), epochs=1, verbose=0)
    gan.fit(_images(8), np.arange(8) % 4, epochs=1, batch_size=8, verbose=0)
    images = sample(gan, 4, labels=[0, 1, 2, 3], seed=0)
    assert images.shape == (4, *SHAPE) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match=r"labels=4: expected class ids in \[0, 3\]"):
        sample(gan, 2, labels=[1, 4])
    with pytest.raises(ValueError, match="steps=5"):
        sample(gan, 2, steps=5)
    with pytest.raises(ValueError, match="guidance=1.0"):
        sample(_gan("dcgan"), 2, guidance=1.0)


def test_gan_compile_refuses_a_loss_and_metrics():
    gan = _gan("dcgan")
    with pytest.raises(ValueError, match="loss='mse'"):
        gan.compile(loss="mse")
    with pytest.raises(ValueError, match="metrics=\\['mae'\\]"):
        gan.compile(metrics=["mae"])


def test_trainer_compiles_generative_models_without_a_loss():
    config = TrainingConfig(epochs=1, batch_size=8, optimizer={"name": "adam"})
    gan = _gan("cgan", num_classes=4)
    history = Trainer(config).fit(gan, _images(8), np.arange(8) % 4)
    assert {"d_loss", "g_loss"} <= set(history.history)
    assert gan.discriminator_optimizer is not gan.optimizer
    vae = kerasdl.build("vae", image_shape=SHAPE, latent_dim=2, hidden_units=[8])
    history = Trainer(config).fit(vae, _images(8))
    assert {"elbo", "kl", "reconstruction"} <= set(history.history)
