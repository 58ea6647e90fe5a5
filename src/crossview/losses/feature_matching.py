"""Discriminator feature matching (pix2pixHD, Wang et al. 2018 eq. 4).

For each discriminator, the L1 distances between its intermediate features of the synthesized
and of the real images (real features detached), summed over the layers; averaged over the
discriminators (imaginaire's ``FeatureMatchingLoss``, used by Sat2Density).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError


def feature_matching_loss(fake_features: Sequence[Sequence[Tensor]],
                          real_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """``mean_D sum_l mean|f_l(fake) - f_l(real)|``; one list of feature maps per discriminator."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ConfigError(f"feature_matching_loss: expected the same non-zero number of "
                          f"discriminators, got {len(fake_features)} and {len(real_features)}")
    total: Tensor | None = None
    for fake, real in zip(fake_features, real_features, strict=True):
        if len(fake) != len(real):
            raise ConfigError(f"feature_matching_loss: {len(fake)} fake vs {len(real)} real "
                              "feature maps for one discriminator")
        for f, r in zip(fake, real, strict=True):
            term = F.l1_loss(f, r.detach())
            total = term if total is None else total + term
    assert total is not None
    return total / len(fake_features)
