"""KL divergence of a diagonal Gaussian from the standard normal (VAE / SPADE style encoders).

``KL(N(mu, sigma^2) || N(0, I)) = -1/2 sum_d (1 + log sigma_d^2 - mu_d^2 - sigma_d^2)``, summed over
the code's dimensions (SPADE, imaginaire's ``GaussianKLLoss``) and averaged over the batch
(imaginaire sums over the batch too; the mean keeps the weight independent of the batch size).
"""

from __future__ import annotations

import torch
from torch import Tensor

from crossview.errors import ConfigError


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Mean over the batch of the KL divergence of ``N(mu, exp(logvar))`` from ``N(0, I)``.

    Args:
        mu: ``(B, D)`` means.
        logvar: ``(B, D)`` log variances.

    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ConfigError(f"gaussian_kl: expected mu and logvar of equal shape (B, D), got "
                          f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    per_item = -0.5 * (1.0 + logvar - mu.pow(2) - torch.exp(logvar)).sum(dim=1)
    return per_item.mean()
