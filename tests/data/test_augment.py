"""Synchronized augmentation agrees with the polar transform (DESIGN.md "Rotation augmentation")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.data.augment import AugmentConfig, augment_pair, crop_fov, flip_pair, rotate_pair
from crossview.errors import ConfigError
from crossview.geometry import polar_transform

S, H, W = 64, 16, 64


def _smooth_tile() -> torch.Tensor:
    """A smooth, non-symmetric tile: low-frequency functions of position (1, 3, S, S)."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    return torch.stack(
        [0.5 + 0.4 * torch.sin(2 * x + y), 0.5 + 0.4 * x * y, 0.5 + 0.3 * torch.cos(3 * y)]
    )[None]


def test_rotate_pair_matches_numpy_rot90_and_polar_roll() -> None:
    tile = _smooth_tile()
    pano = polar_transform(tile, H, W)
    for k in range(4):
        rot_tile, rot_pano = rotate_pair(tile, pano, k)
        assert np.array_equal(rot_tile[0, 0].numpy(), np.rot90(tile[0, 0].numpy(), k))
        assert torch.equal(rot_pano, torch.roll(pano, -k * W // 4, dims=-1))
        # The panorama of the rotated tile is the rolled panorama, within one tile pixel.
        assert (polar_transform(rot_tile, H, W) - rot_pano).abs().max() < 0.1


def test_flip_pair_mirrors_about_north_column() -> None:
    tile = _smooth_tile()
    pano = polar_transform(tile, H, W)
    flip_tile, flip_pano = flip_pair(tile, pano)
    assert torch.equal(flip_tile, torch.flip(tile, dims=(-1,)))
    j = torch.arange(W)
    assert torch.equal(flip_pano, pano[..., (W - j) % W])  # bearing b -> -b exactly
    assert torch.equal(flip_pano[..., W // 2], pano[..., W // 2])  # north stays north
    assert (polar_transform(flip_tile, H, W) - flip_pano).abs().max() < 0.1
    # east and west swap: bearing 90 is column 3W/4, bearing 270 is column W/4
    assert torch.equal(flip_pano[..., 3 * W // 4], pano[..., W // 4])


def test_rotate_pair_rejects_width_not_divisible_by_four() -> None:
    with pytest.raises(ConfigError, match="width 30"):
        rotate_pair(torch.zeros(3, 8, 8), torch.zeros(3, 4, 30), 1)


def test_crop_fov_and_augment_pair_record_what_was_applied() -> None:
    pano = torch.arange(W, dtype=torch.float32).expand(3, H, W).clone()
    crop, shift = crop_fov(pano, 90.0, shift=10)
    assert shift == 10 and crop.shape == (3, H, W // 4)
    assert crop[0, 0].tolist() == [float((c - 10) % W) for c in range(W // 4)]
    gen = torch.Generator().manual_seed(0)
    tile = _smooth_tile()[0]
    cfg = AugmentConfig(rot90_prob=1.0, flip_prob=1.0, fov_deg=180.0, fov_shift=3)
    out_tile, out_pano, applied = augment_pair(tile, pano, cfg, gen)
    k = applied["rot90_k"]
    exp_tile, exp_pano = rotate_pair(*flip_pair(tile, pano), k)
    assert applied["flipped"] == 1 and applied["fov_shift"] == 3 and k in (1, 2, 3)
    assert torch.equal(out_tile, exp_tile) and torch.equal(
        out_pano, torch.roll(exp_pano, 3, -1)[..., : W // 2]
    )


def test_colour_jitter_is_per_view_and_bounded() -> None:
    gen = torch.Generator().manual_seed(1)
    tile, pano = torch.full((3, 8, 8), 0.5), torch.full((3, 8, 32), 0.5)
    cfg = AugmentConfig(ground_jitter=0.5)
    out_tile, out_pano, _ = augment_pair(tile, pano, cfg, gen)
    assert torch.equal(out_tile, tile)  # aerial_jitter = 0: untouched
    assert (
        not torch.equal(out_pano, pano)
        and 0.0 <= float(out_pano.min()) <= float(out_pano.max()) <= 1.0
    )
    assert math.isclose(
        float(out_pano.std()), 0.0, abs_tol=1e-6
    )  # brightness/contrast/saturation only
