"""Polar transform: hand-computed pixels, a slow per-pixel reference, rotation, caching, inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.errors import ConfigError
from crossview.geometry import polar as polar_mod
from crossview.geometry.panorama import roll_panorama
from crossview.geometry.polar import (
    PolarToOverhead,
    PolarTransform,
    overhead_sampling_coords,
    polar_sampling_coords,
    polar_to_overhead,
    polar_transform,
    polar_valid_mask,
)


def slow_polar(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-pixel pure-Python bilinear evaluation of DESIGN.md's formula; tile (S, S, C)."""
    size = tile.shape[0]
    out = np.zeros((height, width, tile.shape[2]), dtype=np.float64)
    for i in range(height):
        radius = size / 2 / height * (height - 1 - i)
        for j in range(width):
            theta = 2 * math.pi * j / width
            row = size / 2 + radius * math.cos(theta)
            col = size / 2 - radius * math.sin(theta)
            r0, c0 = math.floor(row), math.floor(col)
            for rr, wr in ((r0, 1 - (row - r0)), (r0 + 1, row - r0)):
                for cc, wc in ((c0, 1 - (col - c0)), (c0 + 1, col - c0)):
                    if 0 <= rr < size and 0 <= cc < size:  # taps outside the tile count 0
                        out[i, j] += wr * wc * tile[rr, cc]
    return out


def smooth_tiles(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Low-frequency random tiles (N, 3, S, S) in [0, 1]: random noise, bicubically upsampled."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 6, 6, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic",
                                           align_corners=True).clamp(0, 1)


def test_hand_computed_pixels():
    size, height, width = 16, 8, 32
    tile = torch.rand(1, 1, size, size)
    out = polar_transform(tile, height, width)[0, 0]
    t = tile[0, 0]
    # Last row: radius 0, every column samples the centre pixel (S/2, S/2).
    assert torch.allclose(out[-1], t[8, 8].expand(width))
    # North column j = W/2 walks straight up the tile: row S/2 - r with r = H-1-i (integer here).
    for i in range(height):
        assert out[i, width // 2] == pytest.approx(float(t[8 - (height - 1 - i), 8]), abs=1e-6)
    # Far ring (row 0, r = 7): south (j=0), west (j=W/4), east (j=3W/4).
    assert out[0, 0] == pytest.approx(float(t[15, 8]), abs=1e-6)
    assert out[0, width // 4] == pytest.approx(float(t[8, 1]), abs=1e-6)
    assert out[0, 3 * width // 4] == pytest.approx(float(t[8, 15]), abs=1e-6)


def test_fractional_and_outside_taps():
    tile = torch.rand(1, 1, 10, 10)
    t = tile[0, 0]
    # S=10, H=4: row 0 has r = 5/4*3 = 3.75, south column samples row 8.75, col 5.
    out = polar_transform(tile, 4, 8)[0, 0]
    assert out[0, 0] == pytest.approx(float(0.25 * t[8, 5] + 0.75 * t[9, 5]), abs=1e-6)
    # S=4, H=4: row 0 has r = 1.5, south column samples row 3.5: half of it is outside (0).
    small = torch.rand(1, 1, 4, 4)
    assert polar_transform(small, 4, 4)[0, 0, 0, 0] == pytest.approx(float(0.5 * small[0, 0, 3, 2]),
                                                                      abs=1e-6)


@pytest.mark.parametrize(("size", "height", "width"), [(8, 4, 16), (9, 5, 12), (15, 7, 20),
                                                       (32, 8, 36), (1, 2, 3)])
def test_matches_slow_reference(size, height, width):
    tiles = torch.rand(2, 3, size, size)
    fast = polar_transform(tiles, height, width).permute(0, 2, 3, 1).numpy()
    for k in range(2):
        ref = slow_polar(tiles[k].permute(1, 2, 0).double().numpy(), height, width)
        assert np.abs(fast[k] - ref).max() <= 1e-5


def test_sampling_coords_formula():
    row, col = polar_sampling_coords(20, 10, 40)
    i, j = 3, 7
    r = 10 / 10 * (10 - 1 - i)
    assert float(row[i, j]) == pytest.approx(10 + r * math.cos(2 * math.pi * j / 40))
    assert float(col[i, j]) == pytest.approx(10 - r * math.sin(2 * math.pi * j / 40))


def test_rotation_relation():
    # numpy rot90 (counter-clockwise, k=1) pairs with rolling the panorama by -W/4 (yaw +90).
    tiles = smooth_tiles(2, 64)
    width = 64
    rotated = torch.from_numpy(np.ascontiguousarray(np.rot90(tiles.numpy(), 1, axes=(2, 3))))
    lhs = polar_transform(rotated, 16, width)
    rhs = torch.roll(polar_transform(tiles, 16, width), -width // 4, dims=-1)
    assert torch.equal(roll_panorama(polar_transform(tiles, 16, width), 90.0), rhs)
    # rot90 turns about (S-1)/2, the SAFA centre is S/2: one tile pixel apart, so a tolerance.
    assert (lhs - rhs).abs().mean() < 0.03 and (lhs - rhs).abs().max() < 0.1
    wrong = torch.roll(polar_transform(tiles, 16, width), width // 4, dims=-1)
    assert (lhs - wrong).abs().mean() > 0.15  # the opposite sign is clearly wrong


def test_rotation_relation_exact_about_safa_centre():
    # Rotating about (S/2, S/2) instead, R'[r, c] = T[c, S - r] (rot90, then one row down with
    # row 0 outside the tile = 0), makes the relation exact on any image.
    size, width = 12, 24
    tiles = torch.rand(2, 3, size, size)
    rot = torch.from_numpy(np.ascontiguousarray(np.rot90(tiles.numpy(), 1, axes=(2, 3))))
    shifted = torch.zeros_like(rot)
    shifted[:, :, 1:] = rot[:, :, :-1]
    lhs = polar_transform(shifted, 6, width)
    rhs = torch.roll(polar_transform(tiles, 6, width), -width // 4, dims=-1)
    assert torch.allclose(lhs, rhs, atol=1e-5)


def test_grid_cache_reuses_object():
    polar_mod._GRID_CACHE.clear()
    tiles = torch.rand(2, 3, 12, 12)
    polar_transform(tiles, 6, 10)
    key = ("polar", 12, 6, 10, "cpu", torch.float32)
    first = polar_mod._GRID_CACHE[key]
    polar_transform(torch.rand(5, 3, 12, 12), 6, 10)
    assert polar_mod._GRID_CACHE[key] is first
    assert len(polar_mod._GRID_CACHE) == 1
    polar_transform(tiles.double(), 6, 10)
    assert len(polar_mod._GRID_CACHE) == 2  # dtype is part of the key


def test_gradcheck():
    tiles = torch.rand(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: polar_transform(t, 4, 8), (tiles,))
    band = torch.rand(1, 2, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: polar_to_overhead(b, 6), (band,))


def test_module_equals_function():
    tiles = torch.rand(3, 3, 20, 20)
    module = PolarTransform(8, 24)
    assert torch.equal(module(tiles), polar_transform(tiles, 8, 24))
    band = torch.rand(3, 3, 8, 24)
    assert torch.equal(PolarToOverhead(20)(band), polar_to_overhead(band, 20))
    assert "height=8" in repr(module)


def test_inverse_coords_invert_forward():
    size, height, width = 40, 20, 64
    row, col = polar_sampling_coords(size, height, width)
    # Evaluate the inverse formula at the forward sample positions (not on the integer grid).
    i_back, j_back = _inverse_at(row, col, size, height, width)
    ii = torch.arange(height, dtype=torch.float64).view(-1, 1).expand(height, width)
    jj = torch.arange(width, dtype=torch.float64).view(1, -1).expand(height, width)
    assert torch.allclose(i_back[:-1], ii[:-1], atol=1e-9)  # last row: r = 0, theta undefined
    diff = torch.remainder(j_back[:-1] - jj[:-1] + width / 2, width) - width / 2
    assert diff.abs().max() < 1e-9
    i_grid, j_grid = overhead_sampling_coords(size, height, width)
    # The overhead grid is the same inverse formula evaluated at every integer tile pixel.
    rr = torch.arange(size, dtype=torch.float64).view(-1, 1).expand(size, size)
    i_exp, j_exp = _inverse_at(rr, rr.T, size, height, width)
    assert torch.allclose(i_grid, i_exp, atol=1e-9)
    assert (torch.remainder(j_grid - j_exp + width / 2, width) - width / 2).abs().max() < 1e-9
    # North of the centre: pixel (S/2 - 10, S/2) -> j = W/2, i = H-1 - 10*H/(S/2) = 9.
    assert float(j_grid[10, 20]) == pytest.approx(32.0)
    assert float(i_grid[10, 20]) == pytest.approx(9.0)


def _inverse_at(row, col, size, height, width):
    d_row, d_col = row - size / 2, col - size / 2
    radius = torch.hypot(d_row, d_col)
    theta = torch.remainder(torch.atan2(-d_col, d_row), 2 * math.pi)
    return height - 1 - radius * height / (size / 2), theta * width / (2 * math.pi)


def test_overhead_round_trip_and_mask():
    tiles = smooth_tiles(2, 48, seed=1)
    band = polar_transform(tiles, 96, 384)
    back = polar_to_overhead(band, 48)
    mask = polar_valid_mask(48, 96, 384)
    assert back.shape == tiles.shape
    assert not mask[0, 0] and not mask[-1, -1] and mask[24, 24] and mask[24, 2]
    assert bool((back[:, :, ~mask] == 0).all())
    # Away from the far ring (where forward taps fall off the tile) the round trip is close.
    k = torch.arange(48) - 24.0
    inner = torch.hypot(k.view(-1, 1), k.view(1, -1)) < 22
    err = (back - tiles)[:, :, inner].abs()
    assert err.max() < 0.02 and err.mean() < 0.003
    assert (back - tiles)[:, :, mask].abs().mean() < 0.01
    # Horizontal wrap-around: a band constant in i that is a smooth function of theta.
    theta = 2 * math.pi * torch.arange(64, dtype=torch.float64) / 64
    band = torch.cos(theta).view(1, 1, 1, 64).expand(1, 1, 16, 64).contiguous()
    over = polar_to_overhead(band, 64)[0, 0]
    # Pixels just east of south have theta near 2*pi, i.e. j in [W-1, W): they blend columns
    # W-1 and 0, and the result must still follow cos(theta).
    i, j = overhead_sampling_coords(64, 16, 64)
    m = polar_valid_mask(64, 16, 64)
    assert bool(((j > 63) & m).any())
    expected = torch.cos(2 * math.pi * j / 64)
    assert torch.allclose(over[m], expected[m], atol=5e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: polar_transform(torch.rand(1, 3, 8, 9), 4, 8), "tiles: aerial tiles must be"),
        (lambda: polar_transform(torch.rand(3, 8, 8), 4, 8), "tiles: expected shape (N, C, H, W)"),
        (lambda: polar_transform(torch.rand(1, 3, 8, 8), 0, 8), "height"),
        (lambda: polar_transform(torch.rand(1, 3, 8, 8), 4, 0), "width"),
        (lambda: polar_transform(torch.rand(1, 3, 0, 0), 4, 8), "non-empty"),
        (lambda: polar_transform(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 4, 8), "floating"),
        (lambda: polar_transform(torch.rand(1, 3, 8, 8), 2.5, 8), "height"),
        (lambda: polar_to_overhead(torch.rand(1, 3, 4, 8), 0), "tile size"),
        (lambda: PolarTransform(0, 8), "height"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError) as info:
        call()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_half_precision_resamples_in_float32():
    # A float16 grid would misplace taps by ~0.1 px at 256 px; the result must stay within fp16
    # rounding of the float32 transform, in the input dtype.
    gen = torch.Generator().manual_seed(2)
    tiles = torch.rand(2, 3, 256, 256, generator=gen)
    ref = polar_transform(tiles, 32, 128)
    for dtype in (torch.float16, torch.bfloat16):
        out = polar_transform(tiles.to(dtype), 32, 128)
        assert out.dtype == dtype
        tol = 1e-3 if dtype == torch.float16 else 8e-3
        assert (out.float() - ref).abs().max() <= tol


def test_empty_batch():
    assert polar_transform(torch.rand(0, 3, 8, 8), 4, 6).shape == (0, 3, 4, 6)


def test_grid_built_in_inference_mode_still_trains():
    polar_mod._GRID_CACHE.clear()
    with torch.inference_mode():
        polar_transform(torch.rand(1, 3, 8, 8), 4, 8)  # evaluation first fills the cache
        polar_to_overhead(torch.rand(1, 3, 4, 8), 8)
    tiles = torch.rand(1, 3, 8, 8, requires_grad=True)
    polar_transform(tiles, 4, 8).sum().backward()
    band = torch.rand(1, 3, 4, 8, requires_grad=True)
    polar_to_overhead(band, 8).sum().backward()
    assert tiles.grad is not None and band.grad is not None
