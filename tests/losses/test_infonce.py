"""InfoNCE against a manual float64 computation (SPECS §5)."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.losses.infonce import InfoNCE, info_nce


def _manual_ce(logits: list[list[float]], eps: float) -> float:
    """Mean over rows of label-smoothed cross entropy with target = row index."""
    total = 0.0
    n = len(logits)
    for i, row in enumerate(logits):
        log_z = math.log(sum(math.exp(v) for v in row))
        nll = [log_z - v for v in row]
        total += (1 - eps) * nll[i] + eps * sum(nll) / n
    return total / n


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_info_nce_matches_manual(eps: float) -> None:
    g = torch.nn.functional.normalize(torch.randn(4, 5, dtype=torch.float64), dim=1)
    a = torch.nn.functional.normalize(torch.randn(4, 5, dtype=torch.float64), dim=1)
    scale = 1 / 0.07
    sims = [[scale * float(g[i] @ a[j]) for j in range(4)] for i in range(4)]
    cols = [list(c) for c in zip(*sims, strict=True)]
    expected = 0.5 * (_manual_ce(sims, eps) + _manual_ce(cols, eps))
    assert float(info_nce(g, a, scale, label_smoothing=eps)) == pytest.approx(expected, rel=1e-10)


def test_module_learnable_scale() -> None:
    loss_fn = InfoNCE(label_smoothing=0.1)
    assert float(loss_fn.scale.detach()) == pytest.approx(1 / 0.07, rel=1e-6)
    g = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    a = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    loss = loss_fn(g, a)
    loss.backward()
    assert loss_fn.log_scale.grad is not None and loss_fn.log_scale.grad.abs() > 0
    assert float(loss.detach()) == pytest.approx(float(info_nce(g, a, 1 / 0.07, 0.1)), rel=1e-5)
    frozen = InfoNCE(learnable=False)
    assert not any(p is frozen.log_scale for p in frozen.parameters())


def test_perfect_match_beats_shuffled() -> None:
    g = torch.eye(4)
    assert info_nce(g, g, 1 / 0.07, 0.0) < 1e-3 < info_nce(g, g.roll(1, 0), 1 / 0.07, 0.0)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="q, r"):
        info_nce(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)


def test_losses_run_in_float32_under_autocast() -> None:
    from crossview.losses.ranking import weighted_soft_margin_loss

    g = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    a = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nce = info_nce(g, a, 1 / 0.07)
        rank = weighted_soft_margin_loss(a, g)
    assert nce.dtype == torch.float32 and rank.dtype == torch.float32
    torch.testing.assert_close(nce, info_nce(g, a, 1 / 0.07))
    torch.testing.assert_close(rank, weighted_soft_margin_loss(a, g))
