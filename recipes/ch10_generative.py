"""Chapter 10, generative models: VAEs, GANs and autoencoder anomaly detection on digits.

Thin recipe: plain settings per family, library calls only. Each family
trains briefly on sklearn's digits upsampled to 16x16, writes a sample grid
(PNG) and one table row per model, judged in the feature space of a
classifier trained on the same images ("digits FID"; lower is better)
against two baselines, uniform noise and a Gaussian fitted to the training
images. Columns: digits FID, KID, test ELBO in nats (VAEs), a score in
[0, 1] (class consistency for conditional models, the share of samples the
classifier labels with confidence > 0.9 otherwise, AUROC for anomaly
detection) and training seconds.

Families are entries of `FAMILIES` (name -> function returning rows); a
new family adds one function and one entry.

    python recipes/ch10_generative.py            # full run, several minutes
    python recipes/ch10_generative.py --quick    # smoke run, seconds
"""

import argparse
import dataclasses
import os
import time

import keras
import numpy as np

import kerasdl
from kerasdl import anomaly
from kerasdl.data.timeseries import load_series
from kerasdl.generation.diffusion import denoising_trajectory
from kerasdl.generative import latent_interpolation, metrics, sample
from kerasdl.training import make_optimizer
from kerasdl.viz import (
    plot_denoising_trajectory,
    plot_interpolation,
    plot_latent_scatter,
    plot_sample_grid,
)

# Full-run settings (the slow learning tests use the same ones).
GAN_OPTIMIZER = {"learning_rate": 5e-4, "beta_1": 0.5, "beta_2": 0.9}
GANS = {"dcgan": 20, "cgan": 20, "wgan_gp": 10}  # name -> epochs
# name -> (generator, critic) Adam settings where not GAN_OPTIMIZER for both:
# WGAN-GP with two time scales (critic 5x faster) and the generator's EMA.
GAN_OPTIMIZERS = {
    "wgan_gp": (
        {"learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.9, "use_ema": True,
         "ema_momentum": 0.99},
        {"learning_rate": 1e-3, "beta_1": 0.5, "beta_2": 0.9},
    ),
}  # fmt: skip
VAES = {"vae": 80, "conv_vae": 50}  # latent_dim 8, Adam(2e-3)
ANOMALY = {"held_out": 9, "epochs": 30, "series": "co2", "window": 26}
# Class-conditional DDPM (tests/generative/test_ddpm_learning.py imports these
# settings and train_ddpm). Self-attention only in the U-Net's middle block:
# three more attention layers at 8x8 took half of each sampling step. Adam
# with a warm-up then a cosine decay to 5% over the run's 720 steps (60
# epochs of 1,438 images at batch 128), weights averaged (EMA 0.99); 40
# epochs at a peak of 4e-3 measured FID 20.5 at 71% consistency instead.
# Guidance trades FID for class consistency; measured (TensorFlow, 500
# samples, ancestral-100 sampler): 1.25 FID 8.3 at 91% consistency, 1.4
# 11.1 at 94% (DDIM-50 11.6), 1.5 14.0 at 95% (DDIM-50 before its direction-
# term fix: 1.0 FID 11.8 at 83%, 2.0 44.3 at 97%).
DDPM = {"channels": 16, "channel_multipliers": (1, 2), "attention_resolutions": (),
        "timesteps": 100, "schedule": "cosine", "prediction": "v"}  # fmt: skip
DDPM_EPOCHS, DDPM_BATCH_SIZE = 60, 128
DDPM_OPTIMIZER = {
    "name": "adam", "use_ema": True, "ema_momentum": 0.99,
    "learning_rate": {"name": "warmup_cosine", "learning_rate": 3e-3,
                      "warmup_start": 3e-5, "warmup_steps": 50, "decay_steps": 670,
                      "alpha": 0.05},
}  # fmt: skip
DDPM_GUIDANCE = 1.4
DDPM_SAMPLES = 500  # per sampler; FID of the diffusion rows uses this many


class Context:
    """What every family needs: data, the feature classifier, options."""

    def __init__(self, quick: bool, run_root: str):
        self.quick = quick
        self.run_root = run_root
        data = kerasdl.data.load("digits", image_size=16)
        if quick:  # a few hundred images, a classifier trained for 2 epochs
            data = dataclasses.replace(
                data, x_train=data.x_train[:256], y_train=data.y_train[:256],
                x_test=data.x_test[:128], y_test=data.y_test[:128],
            )  # fmt: skip
        self.data = data
        self.n = 100 if quick else 1000
        self.classifier = metrics.feature_classifier(
            data.x_train, data.y_train, epochs=2 if quick else 20
        )

    def epochs(self, full: int) -> int:
        return 1 if self.quick else full

    def some(self, models: dict, quick_one: str) -> dict:
        """All of a family's models; with --quick, `quick_one` only."""
        return {quick_one: models[quick_one]} if self.quick else models

    def row(
        self,
        family,
        model,
        images=None,
        seconds=0.0,
        labels=None,
        elbo=None,
        score=None,
    ):
        """One table row; FID/KID/score from `images` when given."""
        fid = kid = None
        if images is not None:
            fid = metrics.fid(self.data.x_test, images, self.classifier)
            kid = metrics.kid(self.data.x_test, images, self.classifier)[0]
            if score is None and labels is not None:
                score = metrics.class_consistency(images, labels, self.classifier)
            elif score is None:
                probs = keras.ops.convert_to_numpy(
                    keras.ops.softmax(self.classifier.model.predict(images, verbose=0))
                )
                score = float(np.mean(probs.max(axis=-1) > 0.9))
            path = os.path.join(self.run_root, f"{family}_{model}.png")
            plot_sample_grid(
                images[:40], path, labels=None if labels is None else labels[:40]
            )
        return dict(family=family, model=model, fid=fid, kid=kid, elbo=elbo, score=score,
                    seconds=seconds)  # fmt: skip


def baseline_rows(ctx: Context) -> list[dict]:
    return [
        ctx.row(
            "baseline", kind, metrics.baseline_samples(ctx.data.x_train, ctx.n, kind)
        )
        for kind in metrics.BASELINES
    ]


def vae_rows(ctx: Context) -> list[dict]:
    rows = []
    for name, epochs in ctx.some(VAES, "conv_vae").items():
        keras.utils.set_random_seed(0)
        vae = kerasdl.build(name, image_shape=(16, 16, 1), latent_dim=8,
                            prior_components=10)  # fmt: skip
        vae.compile(optimizer=keras.optimizers.Adam(2e-3))
        start = time.perf_counter()
        vae.fit(ctx.data.x_train, epochs=ctx.epochs(epochs), batch_size=32, verbose=0)
        seconds = time.perf_counter() - start
        nats = metrics.vae_nats(
            vae, ctx.data.x_test, num_samples=4 if ctx.quick else 16
        )
        # Samples from the N(0, I) prior it was trained with, then from the
        # 10-component mixture fitted to its encoded training images.
        standard = vae.decode(np.random.default_rng(0).standard_normal((ctx.n, 8)))
        rows.append(ctx.row("vae", name, standard, seconds, elbo=nats["elbo"]))
        vae.fit_prior(ctx.data.x_train)
        rows.append(ctx.row("vae", f"{name}+gmm", sample(vae, ctx.n, seed=0), seconds,
                            elbo=nats["elbo"]))  # fmt: skip
    # A 2-D latent space to look at, and walks through it.
    keras.utils.set_random_seed(0)
    vae2 = kerasdl.build("vae", image_shape=(16, 16, 1), latent_dim=2)
    vae2.compile(optimizer=keras.optimizers.Adam(2e-3))
    vae2.fit(ctx.data.x_train, epochs=ctx.epochs(30), batch_size=32, verbose=0)
    z = vae2.encode(ctx.data.x_test)[0]
    plot_latent_scatter(
        z, ctx.data.y_test, os.path.join(ctx.run_root, "vae_latent2d.png")
    )
    rows_z = latent_interpolation(vae2, z[:5], z[5:10], steps=10)
    plot_interpolation(rows_z, os.path.join(ctx.run_root, "vae_interpolation.png"))
    return rows


def gan_rows(ctx: Context) -> list[dict]:
    rows = []
    # --quick: the conditional GAN, whose labels take the most plumbing.
    for name, epochs in ctx.some(GANS, "cgan").items():
        keras.utils.set_random_seed(0)
        gan = kerasdl.build(name, image_shape=(16, 16, 1))
        generator, critic = GAN_OPTIMIZERS.get(name, (GAN_OPTIMIZER, GAN_OPTIMIZER))
        gan.compile(
            optimizer=keras.optimizers.Adam(**generator),
            discriminator_optimizer=keras.optimizers.Adam(**critic),
        )
        labels = ctx.data.y_train if gan.conditional else None
        start = time.perf_counter()
        gan.fit(
            ctx.data.x_train,
            labels,
            epochs=ctx.epochs(epochs),
            batch_size=32,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        asked = np.arange(ctx.n) % 10 if gan.conditional else None
        images = sample(gan, ctx.n, labels=asked, seed=0)
        rows.append(ctx.row("gan", name, images, seconds, labels=asked))
    return rows


def anomaly_rows(ctx: Context) -> list[dict]:
    data, held = ctx.data, ANOMALY["held_out"]
    normal = data.x_train[data.y_train != held]
    keras.utils.set_random_seed(0)
    ae = kerasdl.build("conv_autoencoder", image_shape=(16, 16, 1), latent_dim=8,
                       reconstruction_loss="mse")  # fmt: skip
    ae.compile(optimizer=keras.optimizers.Adam(2e-3))
    start = time.perf_counter()
    ae.fit(normal[:-64], epochs=ctx.epochs(ANOMALY["epochs"]), batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    detector = anomaly.Detector.fit(ae, normal[-64:], percentile=95)
    report = detector.evaluate(data.x_test, (data.y_test == held).astype(int))
    rows = [
        ctx.row(
            "anomaly", f"digit{held}_conv_ae", seconds=seconds, score=report["auroc"]
        )
    ]

    # A statsmodels series with injected spikes and level shifts.
    series = load_series(ANOMALY["series"]).values
    values, labels = anomaly.inject_anomalies(series, count=20, magnitude=6.0, seed=0)
    windows, window_labels = anomaly.series_windows(
        values, labels, ANOMALY["window"], stride=2
    )
    half = len(windows) // 2
    train = windows[:half][window_labels[:half] == 0]  # normal windows only
    shape = (1, windows.shape[1], 1)
    keras.utils.set_random_seed(0)
    ae_series = kerasdl.build("autoencoder", image_shape=shape, latent_dim=4, hidden_units=[32],
                              reconstruction_loss="mse", output_activation="linear")  # fmt: skip
    ae_series.compile(optimizer=keras.optimizers.Adam(2e-3))
    start = time.perf_counter()
    ae_series.fit(
        train.reshape(-1, *shape), epochs=ctx.epochs(40), batch_size=32, verbose=0
    )
    seconds = time.perf_counter() - start
    scores = anomaly.anomaly_scores(ae_series, windows[half:].reshape(-1, *shape))
    auroc = anomaly.roc_auc(window_labels[half:], scores)
    rows.append(
        ctx.row(
            "anomaly", f"{ANOMALY['series']}_dense_ae", seconds=seconds, score=auroc
        )
    )
    return rows


def train_ddpm(images, labels, epochs=DDPM_EPOCHS, timesteps=None):
    """The class-conditional DDPM trained with the settings above.

    Returns (model, training seconds). `timesteps` overrides DDPM's.
    """
    keras.utils.set_random_seed(0)
    hparams = {**DDPM, "timesteps": timesteps or DDPM["timesteps"]}
    model = kerasdl.build("ddpm", image_shape=images.shape[1:], num_classes=10,
                          **hparams)  # fmt: skip
    model.compile(optimizer=make_optimizer(DDPM_OPTIMIZER))
    start = time.perf_counter()
    model.fit(images, labels, epochs=epochs, batch_size=DDPM_BATCH_SIZE, verbose=0)
    return model, time.perf_counter() - start


def diffusion_rows(ctx: Context) -> list[dict]:
    model, seconds = train_ddpm(ctx.data.x_train, ctx.data.y_train,
                                epochs=ctx.epochs(DDPM_EPOCHS),
                                timesteps=20 if ctx.quick else None)  # fmt: skip
    n = ctx.n if ctx.quick else DDPM_SAMPLES
    asked = np.arange(n) % 10
    rows = []
    # DDIM with 50 steps (--quick trains 20 timesteps: all of them).
    ddim_steps = min(50, model.timesteps)
    for name, sampler, steps in (
        ("ddpm", "ddpm", None),
        (f"ddim{ddim_steps}", "ddim", ddim_steps),
    ):
        start = time.perf_counter()
        images = model.generate(n, labels=asked, seed=0, sampler=sampler,
                                steps=steps, guidance=DDPM_GUIDANCE)  # fmt: skip
        took = seconds + time.perf_counter() - start
        rows.append(ctx.row("diffusion", name, images, took, labels=asked))
    frames = denoising_trajectory(model, 10, labels=np.arange(10), seed=0, frames=8,
                                  guidance=DDPM_GUIDANCE)  # fmt: skip
    plot_denoising_trajectory(frames, os.path.join(ctx.run_root, "ddpm_trajectory.png"))
    return rows


# name -> rows function; a family adds one entry (e.g. "diffusion").
FAMILIES = {
    "baseline": baseline_rows,
    "vae": vae_rows,
    "gan": gan_rows,
    "diffusion": diffusion_rows,
    "anomaly": anomaly_rows,
}


def _cell(value, fmt):
    width = int(fmt.split(".")[0])
    return "-".rjust(width) if value is None else format(value, fmt)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 epoch, tiny data, one model per family"
    )
    parser.add_argument("--run-root", default="runs/ch10")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args(argv)
    os.makedirs(args.run_root, exist_ok=True)
    ctx = Context(args.quick, args.run_root)
    print(
        f"{'family':<9} {'model':<18} {'fid':>8} {'kid':>8} {'elbo':>9} {'score':>6} {'sec':>6}"
    )
    for family in args.families:
        for row in FAMILIES[family](ctx):
            print(
                f"{row['family']:<9} {row['model']:<18} {_cell(row['fid'], '8.2f')} "
                f"{_cell(row['kid'], '8.3f')} {_cell(row['elbo'], '9.2f')} "
                f"{row['score']:>6.3f} {row['seconds']:>6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
