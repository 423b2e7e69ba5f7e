"""Learning targets of class-conditional DDPM on 16x16 digits (slow, TensorFlow).

One small U-Net trains once (module fixture) on sklearn's digits at 16x16,
with the settings of recipes/ch10_generative.py (imported from it), and is
judged with the digits-FID classifier of `kerasdl.generative.metrics` (the
same data, baselines and conditional GAN settings as
test_generative_learning.py):

- class consistency of its samples >= 90% (the classifier labels them);
- digits FID below the conditional GAN's and below both baselines (uniform
  noise, a Gaussian fitted to the training images);
- DDIM with 50 steps: digits FID within 15% of the full-length ancestral
  sampler's.

Both samplers and the conditional GAN draw the same number of images
(`DDPM_SAMPLES`): FID's bias depends on it. Figures and wall times are
printed (run with -s to see them). Measured (TensorFlow, 2 CPU cores shared
with other jobs): ancestral FID 11.07 at 94.0% consistency, DDIM-50 11.55
(+4.3%), conditional GAN 21.69, fitted Gaussian 34.78 (the same in two
runs); the module took 6.9 min wall, about one core's worth (DDPM training
261 s, ancestral 76 s, DDIM 35 s, GAN 28 s), 404 CPU-seconds in all.
"""

import time

import numpy as np
import pytest

from kerasdl.generation import diffusion  # noqa: F401  installs the sampler
from kerasdl.generative import metrics, sample
from recipes.ch10_generative import DDPM_GUIDANCE, DDPM_SAMPLES, train_ddpm
from tests.generative import test_generative_learning as gan_tests

# The same data, feature classifier and baselines as the other families.
digits = gan_tests.digits

pytestmark = pytest.mark.slow

LABELS = np.arange(DDPM_SAMPLES) % 10
DDIM_STEPS = 50


@pytest.fixture(scope="module")
def ddpm(digits):
    data, classifier, _ = digits
    model, seconds = train_ddpm(data.x_train, data.y_train)
    figures = {"train_s": seconds}
    for sampler, steps in (("ddpm", None), ("ddim", DDIM_STEPS)):
        start = time.perf_counter()
        images = model.generate(
            DDPM_SAMPLES,
            labels=LABELS,
            seed=0,
            sampler=sampler,
            steps=steps,
            guidance=DDPM_GUIDANCE,
        )
        figures[sampler] = {
            "fid": metrics.fid(data.x_test, images, classifier),
            "consistency": metrics.class_consistency(images, LABELS, classifier),
            "sample_s": time.perf_counter() - start,
        }
    print(f"\nddpm ({model.timesteps} timesteps, guidance {DDPM_GUIDANCE}): {figures}")
    return model, figures


@pytest.fixture(scope="module")
def cgan_fid(digits):
    data, classifier, _ = digits
    gan, seconds = gan_tests._train_gan("cgan", data, 20)
    images = sample(gan, DDPM_SAMPLES, labels=LABELS, seed=0)
    fid = metrics.fid(data.x_test, images, classifier)
    print(
        f"\ncgan: digits FID {fid:.2f} ({DDPM_SAMPLES} samples); trained in {seconds:.0f} s"
    )
    return fid


def test_ddpm_samples_are_class_consistent(ddpm):
    _, figures = ddpm
    consistency = figures["ddpm"]["consistency"]
    print(f"ddpm class consistency {consistency:.3f} (target >= 0.90)")
    assert consistency >= 0.90


def test_ddpm_beats_both_baselines_and_the_conditional_gan(ddpm, cgan_fid, digits):
    _, _, baselines = digits
    _, figures = ddpm
    fid = figures["ddpm"]["fid"]
    print(
        f"ddpm digits FID {fid:.2f}; cgan {cgan_fid:.2f}; uniform "
        f"{baselines['uniform']:.2f}; gaussian {baselines['gaussian']:.2f}"
    )
    assert fid < cgan_fid
    assert fid < baselines["gaussian"] < baselines["uniform"]


def test_ddim_50_steps_is_within_15_percent_of_ancestral(ddpm):
    model, figures = ddpm
    ancestral, ddim = figures["ddpm"]["fid"], figures["ddim"]["fid"]
    print(f"DDIM-{DDIM_STEPS} FID {ddim:.2f} vs ancestral ({model.timesteps} steps) "
          f"{ancestral:.2f}: {ddim / ancestral - 1:+.1%} (target within 15%)")  # fmt: skip
    assert model.timesteps > DDIM_STEPS  # a shortcut, not the same chain
    assert ddim <= 1.15 * ancestral
