"""Camera rays: panorama and pinhole directions in ENU, camera rotations, bearings."""

from __future__ import annotations

import math

import pytest
import torch

from crossview.errors import ConfigError
from crossview.geometry.rays import (
    camera_to_enu,
    column_bearing_deg,
    direction_bearing_elevation_deg,
    equirect_ray_directions,
    pinhole_camera_rays,
    pinhole_ray_directions,
    row_elevation_deg,
)


def test_equirect_directions_follow_convention():
    dirs = equirect_ray_directions(4, 8, vfov_deg=90.0, dtype=torch.float64)
    assert dirs.shape == (4, 8, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(4, 8, dtype=torch.float64))
    # Column W/2 looks north, W/4 west, 0 south; row 0 is above the horizon.
    elev = math.radians(45.0 - 90.0 * 0.5 / 4)
    assert torch.allclose(dirs[0, 4], torch.tensor([0.0, math.cos(elev), math.sin(elev)],
                                                   dtype=torch.float64), atol=1e-12)
    assert dirs[1, 2, 0] < -0.9 and dirs[1, 0, 1] < -0.9
    bearing, elevation = direction_bearing_elevation_deg(dirs)
    assert torch.allclose(bearing, column_bearing_deg(8, torch.float64).expand(4, -1), atol=1e-9)
    assert torch.allclose(elevation, row_elevation_deg(4, 90.0, torch.float64).view(-1, 1)
                          .expand(-1, 8), atol=1e-9)


def test_camera_rotation_orthonormal_and_batched():
    yaw = torch.tensor([0.0, 30.0, 200.0])
    pitch = torch.tensor([0.0, -20.0, 45.0])
    rot = camera_to_enu(yaw, pitch)
    assert rot.shape == (3, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand(3, -1, -1)
    assert torch.allclose(rot.transpose(-1, -2) @ rot, eye, atol=1e-12)
    # (right, up, forward) is a left-handed frame, so the change of basis has determinant -1.
    assert torch.allclose(torch.linalg.det(rot), -torch.ones(3, dtype=torch.float64))
    y, p = math.radians(30.0), math.radians(-20.0)
    forward = [math.cos(p) * math.sin(y), math.cos(p) * math.cos(y), math.sin(p)]
    assert torch.allclose(rot[1, :, 2], torch.tensor(forward, dtype=torch.float64), atol=1e-12)
    assert float(rot[1, 2, 1]) > 0  # the camera's up axis points upwards
    # yaw 0, pitch 0: right = east, up = up, forward = north.
    assert torch.allclose(rot[0], torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]],
                                               dtype=torch.float64), atol=1e-12)
    assert torch.allclose(rot[2, :, 2].norm(), torch.tensor(1.0, dtype=torch.float64))


def test_pinhole_axis_and_fov():
    dirs = pinhole_ray_directions(2, 64, 90.0, yaw_deg=30.0, pitch_deg=10.0, dtype=torch.float64)
    axis = dirs[:, 31:33].mean(dim=(0, 1))
    bearing, elev = direction_bearing_elevation_deg(axis)
    assert float(bearing) == pytest.approx(30.0, abs=1e-6)
    assert float(elev) == pytest.approx(10.0, abs=1e-6)
    flat = pinhole_ray_directions(1, 64, 90.0, dtype=torch.float64)
    b, _ = direction_bearing_elevation_deg(flat[0])
    # Outer pixel centres sit half a pixel inside the +-45 deg edges.
    assert float(b[-1]) == pytest.approx(math.degrees(math.atan(31.5 / 32)), abs=1e-9)
    cam = pinhole_camera_rays(3, 5, 60.0, dtype=torch.float64)
    assert torch.allclose(cam[1, 2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("fov", [0.0, 180.0, -5.0, float("nan")])
def test_pinhole_bad_fov(fov):
    with pytest.raises(ConfigError, match="fov_deg"):
        pinhole_ray_directions(4, 4, fov)


def test_pinhole_zero_size():
    with pytest.raises(ConfigError, match="width"):
        pinhole_camera_rays(4, 0, 60.0)
