"""SAFA aggregation (SPECS §3): shapes, init, a hand-computed example, k-major order."""

from __future__ import annotations

import pytest
import torch

from crossview.methods.safa import SpatialAwareAggregation


def test_output_shape_and_unit_norm() -> None:
    sa = SpatialAwareAggregation(num_positions=4 * 19, num_masks=8)
    out = sa(torch.randn(3, 16, 4, 19))
    assert out.shape == (3, 8 * 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


def test_paper_fc_shapes_and_init_statistics() -> None:
    sa = SpatialAwareAggregation(num_positions=4 * 19)  # SAFA VGG16 at 112x616: 4x19 positions
    assert sa.num_masks == 8
    assert sa.weight1.shape == (8, 76, 38) and sa.weight2.shape == (8, 38, 76)
    assert sa.bias1.shape == (8, 38) and sa.bias2.shape == (8, 76)
    weights = torch.cat([sa.weight1.flatten(), sa.weight2.flatten()]).detach()  # 46208 samples
    assert abs(float(weights.mean())) < 2e-4
    assert float(weights.std()) == pytest.approx(0.005, rel=0.03)
    assert torch.all(sa.bias1 == 0.1) and torch.all(sa.bias2 == 0.1)


def _fixed_module(reduce: str = "max") -> SpatialAwareAggregation:
    """N = 4 positions, hidden 2, k = 2 masks with hand-set weights."""
    sa = SpatialAwareAggregation(num_positions=4, num_masks=2, reduce=reduce)  # type: ignore[arg-type]
    with torch.no_grad():
        sa.weight1.copy_(
            torch.tensor(
                [
                    [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]],
                    [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                ]
            )
        )
        sa.bias1.zero_()
        # mask 0 = [p0, 0, p1, 0] + 1 ; mask 1 = [0, p2, 0, p3] + 0
        sa.weight2.copy_(
            torch.tensor(
                [
                    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
                    [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                ]
            )
        )
        sa.bias2.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
    return sa


def test_hand_computed_example_k_major() -> None:
    # C = 2 channels on a 1x4 map: channel 0 = [1, 2, 3, 4], channel 1 = [0, 5, -1, 2].
    f = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]], [[0.0, 5.0, -1.0, 2.0]]]])
    sa = _fixed_module("max")
    # channel max per position p = [1, 5, 3, 4]; masks m0 = [2, 1, 6, 1], m1 = [0, 3, 0, 4]
    masks = sa.masks(f)
    torch.testing.assert_close(masks, torch.tensor([[[2.0, 1.0, 6.0, 1.0], [0.0, 3.0, 0.0, 4.0]]]))
    # d_k[c] = sum_n f[c, n] m_k[n]: d0 = [2+2+18+4, 0+5-6+2] = [26, 1]; d1 = [22, 15+8 = 23]
    raw = torch.tensor([26.0, 1.0, 22.0, 23.0])  # k-major: [d0c0, d0c1, d1c0, d1c1]
    torch.testing.assert_close(sa(f)[0], raw / raw.norm())


def test_mean_reduction() -> None:
    f = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]], [[0.0, 5.0, -1.0, 2.0]]]])
    masks = _fixed_module("mean").masks(f)
    # channel mean p = [0.5, 3.5, 1, 3]
    torch.testing.assert_close(masks, torch.tensor([[[1.5, 1.0, 4.5, 1.0], [0.0, 1.0, 0.0, 3.0]]]))


def test_wrong_position_count_raises() -> None:
    sa = SpatialAwareAggregation(num_positions=8)
    with pytest.raises(ValueError, match="H\\*W = 8"):
        sa(torch.randn(1, 4, 3, 3))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_positions": 1},
        {"num_positions": 8, "num_masks": 0},
        {"num_positions": 8, "reduce": "sum"},
    ],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SpatialAwareAggregation(**kwargs)
