"""Sat2Density non-sky opacity supervision (paper eq. 5, SPECS.md §6).

``L = mean |O - (1 - sky)|``: rendered opacity pushed to 1 on non-sky pixels and 0 on sky pixels.
The paper writes sums over pixels; the code (and crossview) takes the mean (``nn.L1Loss``), so the
loss weight 1 does not depend on the panorama size.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError


def non_sky_opacity_loss(opacity: Tensor, sky: Tensor) -> Tensor:
    """L1 between rendered ``opacity`` ``(B, 1, H, W)`` and the non-sky mask ``1 - sky``."""
    if opacity.shape != sky.shape or opacity.ndim != 4 or opacity.shape[1] != 1:
        raise ConfigError(f"non_sky_opacity_loss: expected opacity and sky of equal shape "
                          f"(B, 1, H, W), got {tuple(opacity.shape)} and {tuple(sky.shape)}")
    return F.l1_loss(opacity, 1.0 - sky.to(opacity.dtype))
