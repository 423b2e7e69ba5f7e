"""Generative families: autoencoders, VAE, GANs and diffusion.

Importing this package registers their builders. Each model class follows
the sampling protocol of `kerasdl.generative` (`generate`, `num_classes`,
`sampling_steps`).
"""

from kerasdl.models.generative import (
    autoencoder,  # noqa: F401  autoencoder, conv/denoising/sparse_autoencoder
    diffusion,  # noqa: F401  ddpm
    gan,  # noqa: F401  dcgan, cgan, wgan_gp
    vae,  # noqa: F401  vae, conv_vae
)
