"""Generative adversarial networks (chapter "Generative adversarial networks").

Order of this module follows the chapter: losses (the equations), then networks, then one
training step and the training loop.
"""
from __future__ import annotations

import torch

__all__ = ["lsgan_discriminator_loss", "lsgan_generator_loss"]


def lsgan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (Mao et al. 2017), eq. ``lsgan-d`` of the GAN chapter.

    .. math:: L_D = \\tfrac12\\,\\mathbb E_x[(D(x) - 1)^2] + \\tfrac12\\,\\mathbb E_z[D(G(z))^2]

    Args:
        d_real: raw discriminator outputs on real images, any shape (e.g. ``(B,)`` or a
            patch map ``(B, 1, h, w)``); no sigmoid is applied.
        d_fake: raw outputs on generated images, any shape.
    Returns:
        A scalar: each expectation is the mean over all elements.
    """
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()


def lsgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss, eq. ``lsgan-g``: :math:`L_G = \\tfrac12\\,\\mathbb E_z[(D(G(z)) - 1)^2]`.

    ``d_fake`` holds raw discriminator outputs on generated images (any shape); the mean is over
    all elements. Returns a scalar.
    """
    return 0.5 * ((d_fake - 1) ** 2).mean()
