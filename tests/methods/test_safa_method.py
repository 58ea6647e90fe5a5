"""SAFA method: polar input, hard-mining schedule through set_epoch, 25 m negative mask."""

from __future__ import annotations

import pytest
import torch

from crossview.errors import ConfigError
from crossview.geometry.polar import polar_transform
from crossview.losses.ranking import utm_negative_mask, weighted_soft_margin_loss
from crossview.methods import create_method


@pytest.fixture(scope="module")
def safa_batch() -> dict:
    g = torch.Generator().manual_seed(1)
    utm = torch.tensor([[0.0, 0.0], [10.0, 0.0], [500.0, 0.0], [900.0, 0.0]], dtype=torch.float64)
    return {
        "ground": torch.rand(4, 3, 32, 128, generator=g),
        "aerial": torch.rand(4, 3, 64, 64, generator=g),
        "utm": utm,
    }


def test_encode_aerial_polar_transforms_inside() -> None:
    model = create_method("safa", "tiny").eval()
    tiles = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model.aerial_branch(model.normalize(polar_transform(tiles, 32, 128)))
        torch.testing.assert_close(model.encode_aerial(tiles), expected)
    assert model.input_spec.polar


def test_hard_mining_follows_cde_schedule(safa_batch: dict) -> None:
    model = create_method("safa", "tiny", hard_mining=True).eval()
    with torch.no_grad():
        sat = model.encode_aerial(safa_batch["aerial"])
        grd = model.encode_ground(safa_batch["ground"])
        for epoch, ratio in ((0, 1.0), (20, 0.1), (45, 0.05), (70, 0.01)):
            model.set_epoch(epoch)
            assert model.hard_ratio == ratio
            got = model.training_step(safa_batch, 0)["total"]
            torch.testing.assert_close(got, weighted_soft_margin_loss(sat, grd, hard_ratio=ratio))
    plain = create_method("safa", "tiny")
    plain.set_epoch(70)
    assert plain.hard_ratio == 1.0


def test_negative_radius_masks_close_pairs(safa_batch: dict) -> None:
    model = create_method("safa", "tiny", negative_radius_m=25.0).eval()
    with torch.no_grad():
        sat = model.encode_aerial(safa_batch["aerial"])
        grd = model.encode_ground(safa_batch["ground"])
        mask = utm_negative_mask(safa_batch["utm"], 25.0)
        expected = weighted_soft_margin_loss(sat, grd, negative_mask=mask)
        torch.testing.assert_close(model.training_step(safa_batch, 0)["total"], expected)
        assert not torch.allclose(expected, weighted_soft_margin_loss(sat, grd))
    without_utm = {k: v for k, v in safa_batch.items() if k != "utm"}
    with pytest.raises(ConfigError, match="batch key 'utm'"):
        model.training_step(without_utm, 0)


def test_too_small_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="feature map"):
        create_method("safa", "tiny", ground_hw=(8, 8))
