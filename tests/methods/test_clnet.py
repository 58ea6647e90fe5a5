"""CLNet modules against the paper: per-level neural maps, NEC, GFR eqs. 3-4, Table 5 flags.

GFR is tested in both readings of eq. 4 (``gfr`` docstring): the literal one against the printed
equations, the default one against its own formula, and (the point of the default) against the
identity: at initialisation and after a few training steps the refined features differ from the
input by a measurable fraction, where the literal reading changes them by about 1/(H*W).
"""

from __future__ import annotations

import pytest
import torch

from crossview.methods import create_method, get_preset
from crossview.methods.clnet import NEC, TABLE5_ROWS, CLNet, gfr


def test_paper_preset_maps_per_level() -> None:
    # Built on the meta device: shapes only. ConvNeXt-B stages: strides 4, 8, 16, 32 and channels
    # 128, 256, 512, 1024 (paper §3, ConvNeXt [12]); CVUSA inputs 140x768 ground, 384x384 satellite.
    with torch.device("meta"):
        model = create_method("clnet", "paper", pretrained=None)
    assert isinstance(model, CLNet) and model.descriptor_dim == 1024
    assert model.ground_backbone is not model.aerial_backbone  # Algorithm 1: F_g and F_s
    ground = [tuple(m.shape) for m in model.neural_maps("ground")]
    aerial = [tuple(m.shape) for m in model.neural_maps("aerial")]
    assert ground == [(128, 35, 192), (256, 17, 96), (512, 8, 48), (1024, 4, 24)]
    assert aerial == [(128, 96, 96), (256, 48, 48), (512, 24, 24), (1024, 12, 12)]
    assert len(model.nec) == 4


def test_gfr_literal_matches_equations_3_and_4() -> None:
    f = torch.randn(2, 3, 2, 4, dtype=torch.float64)
    n = torch.randn(3, 2, 4, dtype=torch.float64)
    scaled = n / torch.sqrt((n**2).sum())  # global L2 norm (eq. 4)
    w = torch.exp(scaled) / torch.exp(scaled).sum(
        dim=(1, 2), keepdim=True
    )  # softmax over positions
    lit = {"mode": "literal"}
    torch.testing.assert_close(gfr(f, n, norm=True, residual="feature", **lit), f * w + f)
    torch.testing.assert_close(gfr(f, n, norm=True, residual="map", **lit), f * w + n)
    w_raw = torch.exp(n) / torch.exp(n).sum(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(gfr(f, n, norm=False, residual="none", **lit), f * w_raw)


def test_gfr_relative_formula() -> None:
    # N / rms(N) with the RMS over all C*H*W entries, softmax over each channel's positions,
    # times H*W: weights with mean 1 per channel, computed here independently.
    f = torch.randn(2, 3, 2, 4, dtype=torch.float64)
    n = 0.02 * torch.randn(3, 2, 4, dtype=torch.float64)
    logits = n / n.pow(2).mean().sqrt() / 0.5
    w = 8 * torch.exp(logits) / torch.exp(logits).sum(dim=(1, 2), keepdim=True)
    out = gfr(f, n, norm=True, residual="map", mode="relative", temperature=0.5)
    torch.testing.assert_close(out, f * w + n, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(w.mean(dim=(1, 2)), torch.ones(3, dtype=torch.float64))
    # The map's scale does not matter with the norm: 100 N gives the same weights.
    torch.testing.assert_close(gfr(f, 100 * n, residual="none", temperature=0.5),
                               f * w, rtol=1e-6, atol=1e-9)


def _relative_change(model: CLNet, x: torch.Tensor) -> tuple[float, float]:
    """||GFR(f) - f|| / ||f|| at the first stage of the ground branch, default and literal."""
    with torch.no_grad():
        f = model.ground_backbone.stages[0](model.ground_backbone.stem(model.normalize(x)))
        n = model.neural_maps("ground")[0]
        cfg = model.config
        out = gfr(f, n, cfg.gfr_norm, cfg.gfr_residual, cfg.gfr_mode, cfg.gfr_temperature)
        lit = gfr(f, n, cfg.gfr_norm, cfg.gfr_residual, "literal")
    return (float((out - f).norm() / f.norm()), float((lit - f).norm() / f.norm()))


def test_gfr_changes_features_at_init_and_after_training() -> None:
    torch.manual_seed(0)
    overrides = dict(get_preset("clnet", "paper").smoke)
    model = create_method("clnet", "paper", **overrides)
    assert (model.config.gfr_residual, model.config.gfr_mode) == ("map", "relative")
    ground = torch.rand(4, 3, *model.config.ground_hw)
    aerial = torch.rand(4, 3, model.config.aerial_size, model.config.aerial_size)
    at_init, literal = _relative_change(model, ground)
    # Literal eq. 4: every weight ~ 1/(H*W), so f * N' ~ f / (H*W) and with the map residual the
    # output is ~ N (std 0.02): the features are replaced, not re-weighted. The default reading
    # re-weights them by O(1) factors.
    assert at_init > 0.3, at_init
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(3):
        opt.zero_grad()
        model.training_step({"ground": ground, "aerial": aerial}, step)["total"].backward()
        opt.step()
    after, _ = _relative_change(model, ground)
    assert after > 0.3, after
    # The maps learn: their gradients are not negligible next to their size.
    grads = [m.grad.norm() / m.norm() for m in model.ground_maps if m.grad is not None]
    assert len(grads) == 4 and min(grads) > 1e-3
    assert literal > 0.9  # literal + map residual: the output is the map, not the features


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


def test_default_and_paper_presets_are_table5_row_5() -> None:
    assert TABLE5_ROWS[5] == {"nec": True, "gfr_norm": True, "gfr_residual": "map"}
    for preset in ("tiny", "paper", "paper_cvact", "paper_vigor", "paper_university1652"):
        method = get_preset("clnet", preset).method
        cfg = {**{"nec": True, "gfr_norm": True, "gfr_residual": "map"}, **method}
        assert (cfg["nec"], cfg["gfr_norm"], cfg["gfr_residual"]) == (True, True, "map"), preset


def test_satellite_maps_come_from_nec() -> None:
    model = create_method("clnet", "tiny")
    with torch.no_grad():
        expected = model.nec[1](model.ground_maps[1])
        model.ground_maps[1].add_(1.0)
        changed = model.neural_maps("aerial")[1]
    assert not torch.allclose(expected, changed)
