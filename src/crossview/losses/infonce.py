"""Symmetric InfoNCE with a learnable temperature (Sample4Geo, CLNet eq. 5; SPECS.md §5)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INIT_LOGIT_SCALE = 1.0 / 0.07
"""Initial logit scale ``s = 1/tau`` (CLIP, Sample4Geo)."""


def info_nce(
    q: Tensor, r: Tensor, logit_scale: Tensor | float, label_smoothing: float = 0.1
) -> Tensor:
    """Symmetric InfoNCE of matching rows of ``q`` and ``r``.

    ``logits = s * q @ r.T``; the loss is the mean of the cross entropy of each query over the
    references (rows) and of each reference over the queries (columns), the matching index being
    the target, with label smoothing.

    Args:
        q: L2-normalised query descriptors ``(B, D)`` (e.g. ground).
        r: L2-normalised reference descriptors ``(B, D)``; row ``i`` matches ``q[i]``.
        logit_scale: The multiplicative scale ``s = exp(log_scale) = 1/tau`` (not its log).
        label_smoothing: Label smoothing of both cross entropies (0.1 in Sample4Geo).

    """
    if q.ndim != 2 or q.shape != r.shape:
        raise ValueError(
            f"q, r: expected two (B, D) tensors of equal shape, got "
            f"{tuple(q.shape)} and {tuple(r.shape)}"
        )
    # float32 or wider with autocast off: fp16 logits of scale up to 100 lose the ranking detail.
    dtype = torch.promote_types(q.dtype, torch.float32)
    with torch.autocast(device_type=q.device.type, enabled=False):
        logits = logit_scale * (q.to(dtype) @ r.to(dtype).transpose(0, 1))  # (B, B)
    target = torch.arange(q.shape[0], device=q.device)
    loss_q = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    loss_r = F.cross_entropy(logits.transpose(0, 1), target, label_smoothing=label_smoothing)
    return 0.5 * (loss_q + loss_r)


class InfoNCE(nn.Module):
    """:func:`info_nce` holding the learnable log-scale, initialised to ``log(1/0.07)``.

    Args:
        label_smoothing: Label smoothing of the cross entropies.
        init_scale: Initial (exponentiated) logit scale.
        learnable: Whether the log-scale is a trainable parameter (Sample4Geo: yes).

    """

    def __init__(
        self,
        label_smoothing: float = 0.1,
        init_scale: float = INIT_LOGIT_SCALE,
        learnable: bool = True,
    ) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        log_scale = torch.tensor(math.log(init_scale))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def scale(self) -> Tensor:
        """Current logit scale ``exp(log_scale)``."""
        return self.log_scale.exp()

    def forward(self, q: Tensor, r: Tensor) -> Tensor:
        """Symmetric InfoNCE of ``q`` vs ``r`` ``(B, D)``; see :func:`info_nce`."""
        return info_nce(q, r, self.scale, self.label_smoothing)
