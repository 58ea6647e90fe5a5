"""Triplet loss on squared distances (SPECS §8) against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from crossview.losses.triplet import triplet_loss


def test_triplet_hand_computed() -> None:
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    p = torch.tensor([[0.8, 0.6]], dtype=torch.float64)  # d_pos = 0.04 + 0.36 = 0.4
    n = torch.tensor([[[0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]]], dtype=torch.float64)  # d = 2, 0.01, 4
    # hinge(0.4 - d + 0.1): [0, 0.49, 0]
    assert float(triplet_loss(a, p, n, margin=0.1)) == pytest.approx(0.49)
    assert float(triplet_loss(a, p, n, margin=0.1, reduction="mean")) == pytest.approx(0.49 / 3)


def test_triplet_bad_shapes() -> None:
    with pytest.raises(ValueError, match="negatives"):
        triplet_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="reduction"):
        triplet_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4, 3), reduction="max")  # type: ignore[arg-type]
