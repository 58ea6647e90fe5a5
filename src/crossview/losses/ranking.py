"""Weighted soft-margin ranking loss (CVM-Net, SAFA, CDE; SPECS.md §2) and CDE's hard mining.

``D[i, j] = ||s_i - g_j||^2 = 2 - 2 s_i . g_j`` for L2-normalised satellite ``s_i`` and ground
``g_j`` descriptors. For every ordered off-diagonal pair the loss is
``softplus(alpha * (D_pos - D_neg))``:

* ground -> satellite (column ``j``): ``softplus(alpha * (D[j, j] - D[i, j]))`` for ``i != j``;
* satellite -> ground (row ``i``): ``softplus(alpha * (D[i, i] - D[i, j]))`` for ``j != i``.

Each direction is averaged over its counted pairs and the loss is the mean of the two directions
(exhaustive mini-batch strategy, CDE §4 "Implementation details").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError

CDE_HARD_RATIO_SCHEDULE: tuple[tuple[int, float], ...] = ((20, 1.0), (40, 0.1), (60, 0.05))
"""``(first epoch NOT covered, ratio)`` steps of CDE's hard-mining schedule; 0.01 afterwards."""


def cde_hard_ratio(epoch: int) -> float:
    """Fraction of the hardest pair losses CDE keeps at ``epoch`` (SPECS §2).

    Epochs are 0-based, as the trainer counts them, and each upper bound is exclusive: epochs
    0-19 keep everything (1.0), 20-39 keep 10 %, 40-59 keep 5 %, 60 and later keep 1 %. So
    "1.0 up to epoch 20" means the first 20 epochs train on all pairs.

    Args:
        epoch: 0-based epoch index (``>= 0``).

    """
    if epoch < 0:
        raise ConfigError(f"epoch: expected a 0-based epoch >= 0, got {epoch}")
    for end, ratio in CDE_HARD_RATIO_SCHEDULE:
        if epoch < end:
            return ratio
    return 0.01


def pairwise_sq_distances(sat: Tensor, grd: Tensor) -> Tensor:
    """``D[i, j] = 2 - 2 sat_i . grd_j`` for L2-normalised rows ``sat``, ``grd`` ``(B, D)``.

    Computed in at least float32 with autocast off: under fp16 autocast, ``alpha * (D_pos - D_neg)``
    would lose the small distance differences the loss ranks.
    """
    dtype = torch.promote_types(sat.dtype, torch.float32)
    with torch.autocast(device_type=sat.device.type, enabled=False):
        return 2.0 - 2.0 * sat.to(dtype) @ grd.to(dtype).transpose(0, 1)


def _reduce_direction(losses: Tensor, counted: Tensor, hard_ratio: float) -> Tensor:
    """Mean of the counted pair losses, or of the top ``int(r * count)`` of them (hard mining)."""
    values = losses[counted]
    if hard_ratio < 1.0:
        # CDE keeps k = int(r * B(B-1)) hardest; with a negative mask we take r of the counted
        # pairs, and at least one so that tiny batches still give a loss.
        k = max(1, int(hard_ratio * values.numel()))
        values = torch.topk(values, k, sorted=False).values
    return values.mean()


def weighted_soft_margin_loss(
    sat: Tensor,
    grd: Tensor,
    alpha: float = 10.0,
    hard_ratio: float = 1.0,
    negative_mask: Tensor | None = None,
    include_diagonal: bool = False,
) -> Tensor:
    """Exhaustive weighted soft-margin ranking loss of a batch of matching pairs (SPECS §2).

    Args:
        sat: L2-normalised satellite descriptors ``(B, D)``; row ``i`` matches ``grd[i]``.
        grd: L2-normalised ground descriptors ``(B, D)``.
        alpha: Weight ``alpha`` inside the soft margin (10 in SAFA / CDE).
        hard_ratio: Fraction ``r`` in ``(0, 1]`` of the largest pair losses kept per direction
            (CDE hard mining, ``k = max(1, int(r * number of counted pairs))``); 1 keeps all.
        negative_mask: Optional ``(B, B)`` bool, True where ``(i, j)`` must NOT count as a negative
            (e.g. positions closer than 25 m on CVACT, see :func:`utm_negative_mask`). Symmetric
            masks are expected; ``[i, j]`` is applied to both directions' pair ``(i, j)``.
        include_diagonal: Add the diagonal terms ``softplus(0) = log 2`` as SAFA's original TF
            code does (a constant ``log 2 / (B - 1)`` per direction, no gradient); CDE excludes
            them. Ignored when hard mining.

    Returns:
        Scalar loss (mean of the two directions). A batch without any counted negative raises.

    """
    if sat.ndim != 2 or sat.shape != grd.shape:
        raise ValueError(
            f"sat, grd: expected two (B, D) tensors of equal shape, got "
            f"{tuple(sat.shape)} and {tuple(grd.shape)}"
        )
    if not 0.0 < hard_ratio <= 1.0:
        raise ConfigError(f"hard_ratio: expected a value in (0, 1], got {hard_ratio}")
    dist = pairwise_sq_distances(sat, grd)  # (B, B): [i, j] = sat i vs ground j
    return soft_margin_from_distances(dist, alpha, hard_ratio, negative_mask, include_diagonal)


def soft_margin_from_distances(
    dist: Tensor,
    alpha: float = 10.0,
    hard_ratio: float = 1.0,
    negative_mask: Tensor | None = None,
    include_diagonal: bool = False,
) -> Tensor:
    """:func:`weighted_soft_margin_loss` on a precomputed ``(B, B)`` distance matrix.

    ``dist[i, j]`` is the distance of satellite ``i`` and ground ``j`` (``2 - 2 similarity``),
    from descriptors or from any other matching score (DSM's correlation, SPECS §2 otherwise
    unchanged); the other arguments are those of :func:`weighted_soft_margin_loss`.
    """
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"dist: expected a square (B, B) matrix, got {tuple(dist.shape)}")
    if not 0.0 < hard_ratio <= 1.0:
        raise ConfigError(f"hard_ratio: expected a value in (0, 1], got {hard_ratio}")
    b = dist.shape[0]
    pos = torch.diagonal(dist)
    g2s = F.softplus(alpha * (pos.unsqueeze(0) - dist))  # [i, j]: ground j, negative sat i
    s2g = F.softplus(alpha * (pos.unsqueeze(1) - dist))  # [i, j]: sat i, negative ground j
    counted = ~torch.eye(b, dtype=torch.bool, device=dist.device)
    if negative_mask is not None:
        if negative_mask.shape != (b, b) or negative_mask.dtype != torch.bool:
            raise ValueError(
                f"negative_mask: expected a bool ({b}, {b}) tensor, got "
                f"{negative_mask.dtype} {tuple(negative_mask.shape)}"
            )
        counted = counted & ~negative_mask.to(dist.device)
    if not bool(counted.any()):
        raise ValueError(
            "weighted_soft_margin_loss: the batch has no negative pair to rank "
            f"(batch size {b}, every off-diagonal pair masked)"
        )
    if include_diagonal and hard_ratio >= 1.0:
        # Sum over counted pairs plus the B diagonal terms, divided by the counted pairs only.
        n = counted.sum()
        diag = torch.eye(b, dtype=torch.bool, device=dist.device)
        loss_g2s = (g2s[counted].sum() + g2s[diag].sum()) / n
        loss_s2g = (s2g[counted].sum() + s2g[diag].sum()) / n
    else:
        loss_g2s = _reduce_direction(g2s, counted, hard_ratio)
        loss_s2g = _reduce_direction(s2g, counted, hard_ratio)
    return 0.5 * (loss_g2s + loss_s2g)


def utm_negative_mask(utm: Tensor, radius_m: float = 25.0) -> Tensor:
    """``(B, B)`` bool, True where two UTM positions ``(B, 2)`` are closer than ``radius_m``.

    The CVACT training variant (SPECS §2) stops such pairs from counting as negatives. The
    diagonal is True (a sample is never its own negative). Same UTM zone is assumed, as on CVACT.
    """
    if utm.ndim != 2 or utm.shape[1] != 2:
        raise ValueError(f"utm: expected shape (B, 2), got {tuple(utm.shape)}")
    pos = utm.to(torch.float64)
    return torch.cdist(pos, pos) < radius_m
