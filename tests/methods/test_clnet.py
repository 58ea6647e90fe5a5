"""CLNet modules against the paper: per-level neural maps, NEC, GFR eqs. 3-4, Table 5 flags."""

from __future__ import annotations

import pytest
import torch

from crossview.methods import create_method
from crossview.methods.clnet import NEC, TABLE5_ROWS, CLNet, gfr


def test_paper_preset_maps_per_level() -> None:
    # Built on the meta device: shapes only. ConvNeXt-B stages: strides 4, 8, 16, 32 and channels
    # 128, 256, 512, 1024 (paper §3, ConvNeXt [12]); CVUSA inputs 140x768 ground, 384x384 satellite.
    with torch.device("meta"):
        model = create_method("clnet", "paper")
    assert isinstance(model, CLNet) and model.descriptor_dim == 1024
    assert model.ground_backbone is not model.aerial_backbone  # Algorithm 1: F_g and F_s
    ground = [tuple(m.shape) for m in model.neural_maps("ground")]
    aerial = [tuple(m.shape) for m in model.neural_maps("aerial")]
    assert ground == [(128, 35, 192), (256, 17, 96), (512, 8, 48), (1024, 4, 24)]
    assert aerial == [(128, 96, 96), (256, 48, 48), (512, 24, 24), (1024, 12, 12)]
    assert len(model.nec) == 4


def test_gfr_matches_equations_3_and_4() -> None:
    f = torch.randn(2, 3, 2, 4, dtype=torch.float64)
    n = torch.randn(3, 2, 4, dtype=torch.float64)
    scaled = n / torch.sqrt((n**2).sum())  # global L2 norm (eq. 4)
    w = torch.exp(scaled) / torch.exp(scaled).sum(
        dim=(1, 2), keepdim=True
    )  # softmax over positions
    torch.testing.assert_close(gfr(f, n, norm=True, residual="feature"), f * w + f)
    torch.testing.assert_close(gfr(f, n, norm=True, residual="map"), f * w + n)
    w_raw = torch.exp(n) / torch.exp(n).sum(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(gfr(f, n, norm=False, residual="none"), f * w_raw)


def test_gfr_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="gfr"):
        gfr(torch.zeros(1, 3, 2, 4), torch.zeros(3, 4, 2))


def test_nec_maps_ground_positions_to_satellite_positions() -> None:
    nec = NEC((2, 8), (4, 4), hidden=5)
    out = nec(torch.randn(6, 2, 8))
    assert out.shape == (6, 4, 4)
    assert nec.mlp[0].in_features == 16 and nec.mlp[2].out_features == 16
    # Shared over channels: channel c of the output depends on channel c of the input only.
    x = torch.randn(6, 2, 8)
    y = x.clone()
    y[0] += 1.0
    diff = (nec(x) - nec(y)).abs().sum(dim=(1, 2))
    assert diff[0] > 0 and torch.all(diff[1:] == 0)


@pytest.mark.parametrize("row", sorted(TABLE5_ROWS))
def test_table5_rows_build_and_train(row: int) -> None:
    model = create_method("clnet", "tiny", **TABLE5_ROWS[row])
    cfg = model.config
    assert (cfg.nec, cfg.gfr_norm, cfg.gfr_residual) == tuple(TABLE5_ROWS[row].values())
    assert hasattr(model, "nec") == cfg.nec and hasattr(model, "aerial_maps") == (not cfg.nec)
    batch = {"ground": torch.rand(3, 3, 32, 128), "aerial": torch.rand(3, 3, 64, 64)}
    loss = model.training_step(batch, 0)["total"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(m.grad is not None for m in model.ground_maps)


def test_default_is_equation_3() -> None:
    assert TABLE5_ROWS[6] == {"nec": True, "gfr_norm": True, "gfr_residual": "feature"}
    cfg = create_method("clnet", "tiny").config
    assert (cfg.nec, cfg.gfr_norm, cfg.gfr_residual) == (True, True, "feature")


def test_satellite_maps_come_from_nec() -> None:
    model = create_method("clnet", "tiny")
    with torch.no_grad():
        expected = model.nec[1](model.ground_maps[1])
        model.ground_maps[1].add_(1.0)
        changed = model.neural_maps("aerial")[1]
    assert not torch.allclose(expected, changed)
