"""Pixel reconstruction losses (Sat2Density §3.3: L1 and L2 between synthesized and real images).

Both are means over every element (``torch.nn.L1Loss`` / ``MSELoss`` with mean reduction, as the
authors' code uses them); shapes must match exactly (no broadcasting).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError


def _check_pair(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ConfigError(f"{name}: pred and target must have the same shape, got "
                          f"{tuple(pred.shape)} and {tuple(target.shape)}")


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference."""
    _check_pair(pred, target, "l1_loss")
    return F.l1_loss(pred, target)


def l2_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference."""
    _check_pair(pred, target, "l2_loss")
    return F.mse_loss(pred, target)
