"""Triplet loss on squared Euclidean distances (CrossLocate; SPECS.md §8)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor


def triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negatives: Tensor,
    margin: float = 0.1,
    reduction: Literal["sum", "mean"] = "sum",
    valid: Tensor | None = None,
) -> Tensor:
    """``max(0, ||a - p||^2 - ||a - n_k||^2 + margin)`` over every anchor and each of its negatives.

    Args:
        anchor: Descriptors ``(B, D)``.
        positive: Matching descriptors ``(B, D)``.
        negatives: ``K`` negatives per anchor ``(B, K, D)``.
        margin: Margin on squared distances (0.1 in CrossLocate).
        reduction: ``"sum"`` over queries x negatives (CrossLocate) or ``"mean"``.
        valid: Optional ``(B, K)`` bool: which negatives exist (mined sets may be short); the
            others add nothing, and ``"mean"`` averages over the valid ones (0 when none).

    """
    if anchor.ndim != 2 or positive.shape != anchor.shape:
        raise ValueError(
            f"anchor, positive: expected two (B, D) tensors of equal shape, got "
            f"{tuple(anchor.shape)} and {tuple(positive.shape)}"
        )
    if (
        negatives.ndim != 3
        or negatives.shape[0] != anchor.shape[0]
        or negatives.shape[2] != anchor.shape[1]
    ):
        raise ValueError(
            f"negatives: expected shape ({anchor.shape[0]}, K, {anchor.shape[1]}), "
            f"got {tuple(negatives.shape)}"
        )
    d_pos = (anchor - positive).pow(2).sum(-1, keepdim=True)  # (B, 1)
    d_neg = (anchor.unsqueeze(1) - negatives).pow(2).sum(-1)  # (B, K)
    losses = (d_pos - d_neg + margin).clamp_min(0.0)
    if valid is not None:
        if valid.shape != losses.shape:
            raise ValueError(f"valid: expected shape {tuple(losses.shape)}, got "
                             f"{tuple(valid.shape)}")
        losses = losses * valid.to(losses.dtype)
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        if valid is not None:
            return losses.sum() / valid.sum().clamp_min(1).to(losses.dtype)
        return losses.mean()
    raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")
