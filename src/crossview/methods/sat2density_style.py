"""Sat2Density illumination injection (paper §3.2, App. A): sky histogram -> style code -> feature.

* :func:`sky_histogram`: RGB histogram of the panorama's sky pixels, ``bins`` per channel over
  ``[0, 1]`` (paper: 90, so 270 values), each channel normalised to sum 1 over the sky (all zeros
  without sky). The authors' code instead takes ``torch.histc`` with 100 bins over the masked
  image's own value range, drops the 10 lowest bins (where the zeroed non-sky pixels fall) and
  keeps raw counts in B, G, R order; crossview's histogram does not depend on the image size,
  the sky's extent or the image's range.
* :class:`StyleEncoder`: the histogram -> ``mu`` and ``log sigma^2`` (VAE style, SPADE / GANcraft),
  both bounded by Tanh as in the code; ``z = mu + eps * sigma`` while training, ``mu`` otherwise.
* :class:`StyleMLP`: GANcraft's MLP shared by all conditioned layers: L2-normalised code, five
  LeakyReLU(0.2) layers and an output layer with LeakyReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.errors import ConfigError


def sky_histogram(pano: Tensor, sky: Tensor, bins: int = 90) -> Tensor:
    """Per-channel histogram ``(B, 3 * bins)`` of the sky pixels of panoramas in [0, 1].

    Args:
        pano: ``(B, 3, H, W)`` panoramas in ``[0, 1]``.
        sky: ``(B, 1, H, W)`` sky mask (1 = sky; fractional values weight pixels).
        bins: Bins per channel over ``[0, 1]``.

    Returns:
        R, G, B histograms concatenated, each summing to 1 (0 where there is no sky).

    """
    if pano.ndim != 4 or pano.shape[1] != 3:
        raise ConfigError(f"pano: expected (B, 3, H, W), got {tuple(pano.shape)}")
    if sky.shape != (pano.shape[0], 1, *pano.shape[2:]):
        raise ConfigError(f"sky: expected ({pano.shape[0]}, 1, {pano.shape[2]}, {pano.shape[3]}) "
                          f"to match the panorama, got {tuple(sky.shape)}")
    b = pano.shape[0]
    index = (pano.detach().float().clamp(0.0, 1.0) * bins).long().clamp(max=bins - 1)
    weight = sky.detach().float().expand_as(index).reshape(b, 3, -1)
    counts = torch.zeros(b, 3, bins, device=pano.device)
    counts.scatter_add_(2, index.reshape(b, 3, -1), weight)
    total = weight.sum(dim=2, keepdim=True).clamp(min=1e-12)
    return (counts / total).reshape(b, 3 * bins)


class StyleEncoder(nn.Module):
    """Histogram ``(B, in_features)`` -> ``(mu, logvar, z)``, each ``(B, style_dims)``."""

    def __init__(self, in_features: int = 270, hidden: int = 256, style_dims: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
        self.fc_mu = nn.Linear(hidden, style_dims)
        self.fc_logvar = nn.Linear(hidden, style_dims)
        self.in_features = in_features

    def forward(self, histogram: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Encode; ``z`` is sampled (reparameterised) in training mode, ``mu`` in eval mode."""
        if histogram.ndim != 2 or histogram.shape[1] != self.in_features:
            raise ConfigError(f"illumination histogram: expected (B, {self.in_features}), got "
                              f"{tuple(histogram.shape)}")
        x = self.body(histogram)
        mu, logvar = torch.tanh(self.fc_mu(x)), torch.tanh(self.fc_logvar(x))
        if not self.training:
            return mu, logvar, mu
        return mu, logvar, mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class StyleMLP(nn.Module):
    """Style code ``(B, style_dims)`` -> illumination feature ``(B, out_dims)`` (GANcraft)."""

    def __init__(self, style_dims: int = 128, hidden: int = 256, out_dims: int = 256,
                 layers: int = 5) -> None:
        super().__init__()
        sizes = [style_dims] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                   strict=True))
        self.out = nn.Linear(hidden, out_dims)

    def forward(self, z: Tensor) -> Tensor:
        """Map a code to the shared feature (a zero code stays a zero input)."""
        x = F.normalize(z, p=2.0, dim=-1, eps=1e-6)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return F.leaky_relu(self.out(x), 0.2)
