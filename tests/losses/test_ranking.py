"""Weighted soft-margin ranking loss against explicit loops over pairs (SPECS §2)."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.errors import ConfigError
from crossview.losses.ranking import cde_hard_ratio, utm_negative_mask, weighted_soft_margin_loss


def _unit(rows: list[list[float]]) -> torch.Tensor:
    t = torch.tensor(rows, dtype=torch.float64)
    return t / t.norm(dim=1, keepdim=True)


SAT = _unit([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
GRD = _unit([[0.8, 0.6, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])


def _pair_losses(sat: torch.Tensor, grd: torch.Tensor, alpha: float) -> tuple[dict, dict]:
    """Per ordered pair (i, j), i != j: losses of both directions, with plain Python math."""
    b = sat.shape[0]
    d = [
        [
            sum((float(sat[i, k]) - float(grd[j, k])) ** 2 for k in range(sat.shape[1]))
            for j in range(b)
        ]
        for i in range(b)
    ]
    g2s = {
        (i, j): math.log1p(math.exp(alpha * (d[j][j] - d[i][j])))
        for i in range(b)
        for j in range(b)
        if i != j
    }
    s2g = {
        (i, j): math.log1p(math.exp(alpha * (d[i][i] - d[i][j])))
        for i in range(b)
        for j in range(b)
        if i != j
    }
    return g2s, s2g


def test_exhaustive_loss_matches_hand_computation() -> None:
    g2s, s2g = _pair_losses(SAT, GRD, 10.0)
    expected = 0.5 * (sum(g2s.values()) / 6 + sum(s2g.values()) / 6)
    got = weighted_soft_margin_loss(SAT, GRD, alpha=10.0)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_alpha_changes_value() -> None:
    g2s, s2g = _pair_losses(SAT, GRD, 3.0)
    expected = 0.5 * (sum(g2s.values()) + sum(s2g.values())) / 6
    assert float(weighted_soft_margin_loss(SAT, GRD, alpha=3.0)) == pytest.approx(
        expected, rel=1e-12
    )


def test_include_diagonal_adds_constant_without_gradient() -> None:
    sat = SAT.clone().requires_grad_(True)
    base = weighted_soft_margin_loss(sat, GRD)
    (grad_base,) = torch.autograd.grad(base, sat)
    with_diag = weighted_soft_margin_loss(sat, GRD, include_diagonal=True)
    (grad_diag,) = torch.autograd.grad(with_diag, sat)
    # TF code: B diagonal terms log(1 + e^0) = log 2 each, divided by B(B-1) -> log 2 / (B - 1).
    assert float((with_diag - base).detach()) == pytest.approx(math.log(2.0) / 2, rel=1e-12)
    torch.testing.assert_close(grad_base, grad_diag)


def test_hard_mining_keeps_top_k_per_direction() -> None:
    g2s, s2g = _pair_losses(SAT, GRD, 10.0)
    k = int(0.5 * 3 * 2)  # k = int(r * B(B-1)) = 3
    top = lambda d: sum(sorted(d.values(), reverse=True)[:k]) / k  # noqa: E731
    expected = 0.5 * (top(g2s) + top(s2g))
    got = weighted_soft_margin_loss(SAT, GRD, hard_ratio=0.5)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(got) > float(weighted_soft_margin_loss(SAT, GRD))


def test_hard_mining_keeps_at_least_one_pair() -> None:
    g2s, s2g = _pair_losses(SAT, GRD, 10.0)
    expected = 0.5 * (max(g2s.values()) + max(s2g.values()))
    assert float(weighted_soft_margin_loss(SAT, GRD, hard_ratio=0.01)) == pytest.approx(
        expected, rel=1e-12
    )


def test_negative_mask_excludes_close_pairs() -> None:
    g2s, s2g = _pair_losses(SAT, GRD, 10.0)
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 1] = mask[1, 0] = True  # samples 0 and 1 closer than 25 m
    kept = [p for p in g2s if p not in {(0, 1), (1, 0)}]
    expected = 0.5 * (sum(g2s[p] for p in kept) + sum(s2g[p] for p in kept)) / len(kept)
    got = weighted_soft_margin_loss(SAT, GRD, negative_mask=mask)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_fully_masked_batch_raises() -> None:
    with pytest.raises(ValueError, match="no negative pair"):
        weighted_soft_margin_loss(SAT, GRD, negative_mask=torch.ones(3, 3, dtype=torch.bool))


@pytest.mark.parametrize("kwargs", [{"hard_ratio": 0.0}, {"hard_ratio": 1.5}])
def test_bad_hard_ratio_raises(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="hard_ratio"):
        weighted_soft_margin_loss(SAT, GRD, **kwargs)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="sat, grd"):
        weighted_soft_margin_loss(SAT, GRD[:2])
    with pytest.raises(ValueError, match="negative_mask"):
        weighted_soft_margin_loss(SAT, GRD, negative_mask=torch.zeros(2, 2, dtype=torch.bool))


def test_large_alpha_is_stable() -> None:
    sat = SAT.clone().requires_grad_(True)
    loss = weighted_soft_margin_loss(sat, -GRD, alpha=1e4)  # exp overflow without softplus
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(sat.grad).all()


@pytest.mark.parametrize(
    ("epoch", "ratio"),
    [(0, 1.0), (19, 1.0), (20, 0.1), (39, 0.1), (40, 0.05), (59, 0.05), (60, 0.01), (500, 0.01)],
)
def test_cde_hard_ratio_boundaries(epoch: int, ratio: float) -> None:
    assert cde_hard_ratio(epoch) == ratio


def test_cde_hard_ratio_rejects_negative_epoch() -> None:
    with pytest.raises(ConfigError, match="epoch"):
        cde_hard_ratio(-1)


def test_utm_negative_mask_25m() -> None:
    utm = torch.tensor(
        [[500000.0, 4e6], [500010.0, 4e6], [500000.0, 4e6 + 30.0], [500024.9, 4e6]],
        dtype=torch.float64,
    )
    mask = utm_negative_mask(utm, 25.0)
    expected = torch.tensor(
        [[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1]], dtype=torch.bool
    )
    assert torch.equal(mask, expected)
