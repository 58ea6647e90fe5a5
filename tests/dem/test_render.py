"""Silhouettes, segmentation, photos, encodings and the sun against hand-made answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.dem import (
    Camera,
    Dem,
    PhotoStyle,
    RenderConfig,
    classify_rgb,
    render_views,
    silhouettes,
    solar_position,
)
from crossview.dem.encoding import decode_depth16, depth_to_uint8, depth_to_uint16
from crossview.errors import ConfigError


def test_silhouettes_mark_the_nearer_side_of_jumps_and_the_horizon():
    # Rows 0-2 sky, rows 3-5 a far ridge (1000 m), rows 6-9 near ground (100..40 m).
    depth = torch.zeros(10, 6)
    depth[3:6] = 1000.0
    depth[6:] = torch.tensor([100.0, 70.0, 50.0, 40.0]).unsqueeze(1)
    sil = silhouettes(depth, threshold=0.1)
    expected = torch.zeros(10, 6, dtype=torch.bool)
    expected[3] = True     # terrain under the sky: the horizon
    expected[6] = True     # the near ground occluding the ridge (nearer pixel of the pair)
    assert torch.equal(sil, expected)


def test_smoothly_receding_ground_is_not_a_silhouette():
    # A flat plane seen from 2 m: depth 2 / sin(angle) grows fast towards the horizon, by far
    # more than 10 % per row, but smoothly; only the horizon row is marked.
    angles = torch.deg2rad(torch.linspace(30.0, 0.4, 60))
    depth = (2.0 / torch.sin(angles)).unsqueeze(1).repeat(1, 5)
    depth = torch.cat([torch.zeros(4, 5), depth])        # sky above
    sil = silhouettes(depth, threshold=0.1)
    assert sil[4].all() and sil.sum() == 5


def test_classify_rgb_thresholds():
    colours = torch.tensor([[0.03, 0.05, 0.12],    # dark blue lake -> water
                            [0.70, 0.66, 0.60],    # bright tundra -> snow/rock
                            [0.29, 0.31, 0.22],    # dark green forest -> vegetation
                            [0.45, 0.42, 0.40],    # grey-brown slope -> terrain
                            [math.nan] * 3])       # no texture -> terrain
    assert classify_rgb(colours).tolist() == [2, 3, 4, 1, 1]


def test_segmentation_with_and_without_texture(rmnp, rmnp_rgb):
    lat, lon = (float(v) for v in rmnp.to_latlon(13000.0, -19000.0))
    cam = Camera(lat, lon, yaw_deg=-37.0, pitch_deg=3.0)   # towards the high peaks
    plain = render_views(rmnp, [cam], 24, 32, ("segmentation",))
    textured = render_views(rmnp, [cam], 24, 32, ("segmentation",), rmnp_rgb)
    sky = plain["sky"][0]
    assert sky.any() and (~sky).any()
    assert torch.equal(plain["segmentation"][0], (~sky).to(torch.uint8))
    assert torch.equal(textured["segmentation"][0] == 0, sky)
    assert len(set(textured["segmentation"][0][~sky].tolist())) >= 2


def _ridge() -> Dem:
    """A north-south ridge: slopes facing east (x > 0) and west (x < 0), 50 m cells."""
    x = (np.arange(200) - 99.5) * 50.0
    height = np.tile(2000.0 - 0.5 * np.abs(x), (200, 1))
    return Dem.from_array(height, 50.0, 40.0, -105.0)


def test_photo_sun_side_is_brighter_and_noise_is_seeded():
    dem = _ridge()
    lat, lon = (float(v) for v in dem.to_latlon(0.0, -3000.0))
    cam = Camera(lat, lon, yaw_deg=0.0, pitch_deg=-10.0, fov_deg=40.0, altitude_m=2300.0)
    morning = PhotoStyle(sun_azimuth_deg=90.0, sun_elevation_deg=20.0, noise_std=0.0)
    photo = render_views(dem, [cam], 48, 64, ("photo",), photo_styles=[morning],
                         seeds=[0])["photo"][0]
    assert photo.shape == (3, 48, 64) and 0 <= photo.min() and photo.max() <= 1
    # The view looks north along the crest: the right half shows the east (sunlit) face.
    ground = photo[:, 36:, :].mean(0)
    assert ground[:, 40:].mean() > 1.5 * ground[:, :24].mean()
    noisy = PhotoStyle(sun_azimuth_deg=90.0, sun_elevation_deg=20.0, noise_std=0.02)
    a, b, c = (render_views(dem, [cam], 48, 64, ("photo",), photo_styles=[noisy],
                            seeds=[s])["photo"] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_photo_needs_a_style_per_view(rmnp):
    lat, lon = (float(v) for v in rmnp.to_latlon(0.0, 0.0))
    with pytest.raises(ConfigError, match="PhotoStyle"):
        render_views(rmnp, [Camera(lat, lon)], 8, 8, ("photo",))
    with pytest.raises(ConfigError, match="unknown 'normals'"):
        render_views(rmnp, [Camera(lat, lon)], 8, 8, ("normals",))
    with pytest.raises(ConfigError, match="outside the DEM"):
        render_views(rmnp, [Camera(10.0, 10.0)], 8, 8, ("depth",))
    with pytest.raises(ConfigError, match="refraction"):
        RenderConfig(refraction=1.5)


def test_depth_encodings_round_trip():
    depth = np.array([0.0, 0.5, 1.0, 37.2, 1234.5, 48_000.0, 2e6])
    decoded = decode_depth16(depth_to_uint16(depth))
    clipped = np.clip(depth, 1.0, 1e6)
    assert decoded[0] == 0 and np.all(np.abs(decoded[1:] / clipped[1:] - 1) <= 1.1e-4)
    eight = depth_to_uint8(depth)
    assert eight[0] == 0 and eight[1] == 1 and eight[-1] == 255
    assert np.all(np.diff(eight[1:].astype(int)) >= 0)


def test_solar_position_known_answers():
    # Equinox (declination ~0) at 40 N: noon sun due south at 50 deg; 6 h earlier it rises east.
    az, el = solar_position(40.0, 81.0, 12.0)
    assert az == pytest.approx(180.0, abs=0.5) and el == pytest.approx(50.0, abs=0.5)
    az, el = solar_position(40.0, 81.0, 6.0)
    assert az == pytest.approx(90.0, abs=1.0) and el == pytest.approx(0.0, abs=0.5)
    az, _ = solar_position(40.0, 172.0, 16.0)
    assert 240 < az < 300   # summer afternoon: west
