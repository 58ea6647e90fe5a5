"""Panorama utilities: bearings, rolls, FOV crops and perspective views (round trips)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.errors import ConfigError
from crossview.geometry.panorama import (
    bearing_to_column,
    column_to_bearing,
    crop_fov,
    equirect_from_perspective,
    flip_panorama,
    fov_crop_width,
    perspective_from_equirect,
    roll_panorama,
)
from crossview.geometry.polar import polar_transform
from crossview.geometry.rays import (
    column_bearing_deg,
    direction_bearing_elevation_deg,
    pinhole_ray_directions,
    row_elevation_deg,
)


def bearing_pano(height: int, width: int, vfov_deg: float = 180.0) -> torch.Tensor:
    """Panorama (1, 3, H, W) whose pixels encode their own direction: sin/cos bearing, elevation."""
    bearing = torch.deg2rad(column_bearing_deg(width, torch.float64)).view(1, -1)
    elev = row_elevation_deg(height, vfov_deg, torch.float64).view(-1, 1)
    chans = [torch.sin(bearing).expand(height, -1), torch.cos(bearing).expand(height, -1),
             (elev / 90.0).expand(-1, width)]
    return torch.stack(chans).unsqueeze(0)


def test_bearing_column_known_values():
    width = 360
    assert column_to_bearing(0, width) == 180.0
    assert column_to_bearing(180, width) == 0.0  # W/2 looks north
    assert column_to_bearing(90, width) == 270.0  # W/4 west
    assert column_to_bearing(270, width) == 90.0  # 3W/4 east
    assert bearing_to_column(0.0, width) == 180.0
    assert bearing_to_column(90.0, 512) == 384.0
    assert bearing_to_column(180.0 - 1e-15, 512) < 512  # never column W


def test_bearing_column_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    cols = rng.uniform(0, 616, 100)
    assert np.allclose(bearing_to_column(column_to_bearing(cols, 616), 616), cols, atol=1e-9)
    bearings = torch.rand(50, dtype=torch.float64) * 720 - 360
    back = column_to_bearing(bearing_to_column(bearings, 100), 100)
    assert torch.allclose(back, torch.remainder(bearings, 360.0), atol=1e-9)
    assert torch.allclose(column_to_bearing(torch.arange(64.0), 64), column_bearing_deg(64))


def test_roll_sign_and_equivalences():
    pano = torch.rand(2, 3, 4, 32)
    assert torch.equal(roll_panorama(pano, 90.0), torch.roll(pano, -8, dims=-1))
    assert torch.equal(roll_panorama(pano, -45.0), torch.roll(pano, 4, dims=-1))
    assert torch.equal(roll_panorama(pano, 360.0), pano)
    composed = roll_panorama(roll_panorama(pano, 33.75), 101.25)
    assert torch.equal(composed, roll_panorama(pano, 135.0))
    # Per-image yaw.
    both = roll_panorama(pano, torch.tensor([90.0, 180.0]))
    assert torch.equal(both[1], torch.roll(pano[1], -16, dims=-1))


def test_roll_means_camera_turns_clockwise():
    # After turning the camera by +yaw, the north column shows bearing yaw.
    pano = bearing_pano(2, 360)
    out = roll_panorama(pano, 30.0)
    assert out[0, 0, 0, 180] == pytest.approx(math.sin(math.radians(30.0)), abs=1e-9)
    assert out[0, 1, 0, 180] == pytest.approx(math.cos(math.radians(30.0)), abs=1e-9)


def test_roll_fractional_linear():
    pano = torch.rand(1, 2, 3, 10)
    half = roll_panorama(pano, 18.0)  # half a column (36 deg per column)
    expected = 0.5 * (pano + torch.roll(pano, -1, dims=-1))
    assert torch.allclose(half, expected, atol=1e-6)
    p = torch.rand(1, 1, 2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: roll_panorama(x, 25.0), (p,))


def test_flip_keeps_north_and_south():
    pano = bearing_pano(2, 36)
    flipped = flip_panorama(pano)
    # sin(bearing) changes sign (east <-> west), cos(bearing) is unchanged.
    assert torch.allclose(flipped[:, 0], -pano[:, 0], atol=1e-12)
    assert torch.allclose(flipped[:, 1], pano[:, 1], atol=1e-12)
    assert torch.equal(flip_panorama(flipped), pano)


def test_flip_pairs_with_tile_flip():
    # Mirroring the tile about its SAFA centre column S/2, T'[r, c] = T[r, S - c] (left-right
    # flip, then one column right), mirrors the polar image exactly.
    size = 10
    tiles = torch.rand(2, 3, size, size, dtype=torch.float64)
    mirrored = torch.zeros_like(tiles)
    mirrored[..., 1:] = torch.flip(tiles, dims=[-1])[..., :-1]
    lhs = polar_transform(mirrored, 5, 20)
    assert torch.allclose(lhs, flip_panorama(polar_transform(tiles, 5, 20)), atol=1e-12)


@pytest.mark.parametrize(("fov", "width", "cols"), [(360, 512, 512), (180, 512, 256),
                                                     (90, 512, 128), (70, 512, 99), (70, 616, 119)])
def test_fov_crop_width(fov, width, cols):
    assert fov_crop_width(fov, width) == cols == int(fov / 360 * width)


def test_crop_fov_spec_formula():
    pano = torch.rand(3, 2, 4, 20)
    crop, shift = crop_fov(pano, 90.0, shift=torch.tensor([0, 7, 19]))
    assert crop.shape == (3, 2, 4, 5)
    for n in range(3):
        for j in range(5):
            assert torch.equal(crop[n, :, :, j], pano[n, :, :, (j - int(shift[n])) % 20])
    same, s = crop_fov(pano, 360.0, shift=3)
    assert torch.equal(same, torch.roll(pano, 3, dims=-1)) and s.tolist() == [3, 3, 3]


def test_crop_fov_random_shift_reproducible():
    pano = torch.rand(64, 1, 1, 16)
    a, sa = crop_fov(pano, 90.0, generator=torch.Generator().manual_seed(3))
    b, sb = crop_fov(pano, 90.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(sa, sb)
    assert sa.min() >= 0 and sa.max() < 16 and len(set(sa.tolist())) > 5


def test_perspective_samples_ray_directions():
    pano = bearing_pano(180, 720)
    yaw, pitch, fov = 30.0, 10.0, 80.0
    view = perspective_from_equirect(pano, yaw, pitch, fov, (24, 32))
    bearing, elev = direction_bearing_elevation_deg(
        pinhole_ray_directions(24, 32, fov, yaw, pitch, dtype=torch.float64))
    b = torch.deg2rad(bearing)
    assert torch.allclose(view[0, 0], torch.sin(b), atol=2e-4)
    assert torch.allclose(view[0, 1], torch.cos(b), atol=2e-4)
    assert torch.allclose(view[0, 2], elev / 90.0, atol=2e-4)


def test_perspective_outside_band_is_zero_and_batched():
    pano = torch.rand(2, 3, 16, 64, dtype=torch.float64) + 1.0
    view = perspective_from_equirect(pano, [0.0, 90.0], [80.0, 0.0], 60.0, (8, 8), vfov_deg=90.0)
    assert bool((view[0, :, :2] == 0).all())  # looking up out of a +-45 deg band
    assert bool((view[1] > 0).all())
    single = perspective_from_equirect(pano[1:], 90.0, 0.0, 60.0, (8, 8), vfov_deg=90.0)
    assert torch.allclose(view[1:], single)


def test_pano_perspective_pano_round_trip():
    # A smooth panorama, periodic in bearing (no seam at column 0), with random phases.
    gen = torch.Generator().manual_seed(0)
    phase = torch.rand(3, 3, generator=gen, dtype=torch.float64).view(3, 3, 1, 1) * 2 * math.pi
    b = torch.deg2rad(column_bearing_deg(360, torch.float64)).view(1, -1)
    e = torch.deg2rad(row_elevation_deg(90, 180.0, torch.float64)).view(-1, 1)
    pano = (0.5 + 0.2 * torch.sin(b + phase[:, 0]) * torch.cos(e)
            + 0.15 * torch.sin(2 * b + phase[:, 1]) + 0.1 * torch.sin(3 * e + phase[:, 2]))
    pano = pano.unsqueeze(0)
    yaw, pitch, fov = 200.0, -15.0, 70.0  # the view straddles the seam at bearing 180
    view = perspective_from_equirect(pano, yaw, pitch, fov, (96, 128))
    back, valid = equirect_from_perspective(view, yaw, pitch, fov, (90, 360))
    assert valid.shape == (1, 1, 90, 360)
    cover = valid[0, 0]
    cols = torch.nonzero(cover.any(0)).flatten()
    bearings = column_to_bearing(cols.double(), 360)
    assert bool(((bearings - yaw + 180) % 360 - 180).abs().max() <= fov / 2 + 20)
    assert 0.02 < cover.double().mean() < 0.2
    # Interior of the covered area (one pixel eroded) matches the original panorama.
    inner = cover & torch.roll(cover, 1, 0) & torch.roll(cover, -1, 0) \
        & torch.roll(cover, 1, 1) & torch.roll(cover, -1, 1)
    assert (back - pano)[0][:, inner].abs().max() < 0.02
    assert bool((back[0][:, ~cover] == 0).all())


def test_perspective_gradcheck():
    pano = torch.rand(1, 1, 6, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p: perspective_from_equirect(p, 170.0, 5.0, 60.0, (3, 4)), (pano,))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: roll_panorama(torch.rand(3, 4, 8), 10.0), "pano: expected shape"),
        (lambda: roll_panorama(torch.rand(2, 3, 4, 8), [1.0, 2.0, 3.0]), "yaw_deg"),
        (lambda: roll_panorama(torch.rand(1, 3, 4, 8), float("nan")), "yaw_deg"),
        (lambda: crop_fov(torch.rand(1, 3, 4, 8), 0.0), "fov_deg"),
        (lambda: crop_fov(torch.rand(1, 3, 4, 8), 400.0), "fov_deg"),
        (lambda: crop_fov(torch.rand(1, 3, 4, 8), 10.0), "zero columns"),
        (lambda: crop_fov(torch.rand(1, 3, 4, 8), 90.0, shift=torch.tensor([1.5])), "shift"),
        (lambda: crop_fov(torch.rand(2, 3, 4, 8), 90.0, shift=torch.tensor([1, 2, 3])), "shift"),
        (lambda: perspective_from_equirect(torch.rand(1, 3, 4, 8), 0, 0, 180.0, (4, 4)), "fov_deg"),
        (lambda: perspective_from_equirect(torch.rand(1, 3, 4, 8), 0, 0, 90.0, (0, 4)), "out_hw"),
        (lambda: perspective_from_equirect(torch.rand(1, 3, 4, 8), 0, 0, 90.0, 4), "out_hw"),
        (lambda: equirect_from_perspective(torch.rand(1, 3, 4, 4), 0, 0, 90.0, (4, 0)), "pano_hw"),
        (lambda: bearing_to_column(10.0, 0), "width"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)
