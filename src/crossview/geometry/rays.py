"""Ray directions of panorama and pinhole cameras in local ENU (x east, y north, z up).

Panorama convention: :mod:`crossview.conventions` ("Panorama").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from crossview.errors import ConfigError
from crossview.geometry._checks import check_finite, check_positive_int


def column_bearing_deg(width: int, dtype: torch.dtype = torch.float32,
                       device: torch.device | str = "cpu") -> Tensor:
    """Bearing (deg clockwise from north, in [0, 360)) of every panorama column, ``(W,)``.

    ``bearing(j) = 180 + 360 * j / W``: column ``W/2`` looks north, column 0 south.
    """
    j = torch.arange(width, dtype=torch.float64, device=device)
    return torch.remainder(180.0 + 360.0 * j / width, 360.0).to(dtype)


def row_elevation_deg(height: int, vfov_deg: float, dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu") -> Tensor:
    """Elevation (deg above the horizon) of the centre of every row, ``(H,)``.

    The panorama spans ``[-vfov/2, +vfov/2]`` symmetrically around the horizon; row 0 is the top.
    """
    i = torch.arange(height, dtype=torch.float64, device=device)
    return (vfov_deg / 2.0 - vfov_deg * (i + 0.5) / height).to(dtype)


def equirect_ray_directions(height: int, width: int, vfov_deg: float = 180.0,
                            dtype: torch.dtype = torch.float32,
                            device: torch.device | str = "cpu") -> Tensor:
    """Return unit ray directions ``(H, W, 3)`` (east, north, up) of an equirectangular panorama."""
    bearing = torch.deg2rad(column_bearing_deg(width, torch.float64, device)).view(1, -1)
    elev = torch.deg2rad(row_elevation_deg(height, vfov_deg, torch.float64, device)).view(-1, 1)
    east = torch.cos(elev) * torch.sin(bearing)
    north = torch.cos(elev) * torch.cos(bearing)
    up = torch.sin(elev).expand(-1, width)
    return torch.stack([east, north, up], dim=-1).to(dtype)


def pinhole_camera_rays(height: int, width: int, fov_deg: float,
                        dtype: torch.dtype = torch.float32,
                        device: torch.device | str = "cpu") -> Tensor:
    """Return unit ray directions ``(H, W, 3)`` of a pinhole camera in its own frame.

    Camera frame: x right, y up, z forward (optical axis). ``fov_deg`` is the horizontal field of
    view; square pixels; pixel ``(v, u)`` is centred at ``u + 0.5 - W/2``, ``v + 0.5 - H/2``.
    """
    height = check_positive_int(height, "height")
    width = check_positive_int(width, "width")
    fov_deg = check_finite(fov_deg, "fov_deg", 0.0, 180.0, low_open=True)
    if fov_deg == 180.0:
        raise ConfigError(f"fov_deg: expected a value in (0, 180), got {fov_deg!r}")
    focal = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    u = torch.arange(width, dtype=torch.float64, device=device) + 0.5 - width / 2.0
    v = torch.arange(height, dtype=torch.float64, device=device) + 0.5 - height / 2.0
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    cam = torch.stack([uu, -vv, torch.full_like(uu, focal)], dim=-1)
    return (cam / cam.norm(dim=-1, keepdim=True)).to(dtype)


def camera_to_enu(yaw_deg: float | Tensor, pitch_deg: float | Tensor = 0.0,
                  dtype: torch.dtype = torch.float64,
                  device: torch.device | str = "cpu", *,
                  roll_deg: float | Tensor = 0.0) -> Tensor:
    """Rotation ``(..., 3, 3)`` from the camera frame (right, up, forward) to ENU.

    Its columns are the camera's right, up and forward axes in (east, north, up) coordinates.
    ``yaw_deg`` is the bearing of the optical axis (clockwise from north), ``pitch_deg`` its
    elevation above the horizon and ``roll_deg`` a turn about it, positive clockwise as seen from
    behind the camera (its right side goes down, so the horizon in the image turns
    counter-clockwise). All three broadcast (``(N,)`` tensors give ``(N, 3, 3)``).
    The camera frame is left-handed (x right, y up, z forward, like image pixels), so the matrix
    has determinant -1.
    """
    yaw = torch.deg2rad(torch.as_tensor(yaw_deg, dtype=torch.float64, device=device))
    pitch = torch.deg2rad(torch.as_tensor(pitch_deg, dtype=torch.float64, device=device))
    roll = torch.deg2rad(torch.as_tensor(roll_deg, dtype=torch.float64, device=device))
    yaw, pitch, roll = torch.broadcast_tensors(yaw, pitch, roll)
    zero = torch.zeros_like(yaw)
    forward = torch.stack([torch.cos(pitch) * torch.sin(yaw), torch.cos(pitch) * torch.cos(yaw),
                           torch.sin(pitch)], dim=-1)
    right = torch.stack([torch.cos(yaw), -torch.sin(yaw), zero], dim=-1)
    up = torch.linalg.cross(right, forward)
    c, s = torch.cos(roll).unsqueeze(-1), torch.sin(roll).unsqueeze(-1)
    right, up = c * right - s * up, s * right + c * up
    return torch.stack([right, up, forward], dim=-1).to(dtype)


def direction_bearing_elevation_deg(dirs: Tensor) -> tuple[Tensor, Tensor]:
    """Bearing (deg clockwise from north, ``[0, 360)``) and elevation (deg) of ENU directions.

    ``dirs`` is ``(..., 3)`` (east, north, up), not necessarily unit length.
    """
    east, north, up = dirs.unbind(-1)
    bearing = torch.remainder(torch.rad2deg(torch.atan2(east, north)), 360.0)
    elevation = torch.rad2deg(torch.atan2(up, torch.hypot(east, north)))
    return bearing, elevation


def pinhole_ray_directions(height: int, width: int, fov_deg: float, yaw_deg: float = 0.0,
                           pitch_deg: float = 0.0, dtype: torch.dtype = torch.float32,
                           device: torch.device | str = "cpu", *,
                           roll_deg: float = 0.0) -> Tensor:
    """Return unit ray directions ``(H, W, 3)`` (east, north, up) of a pinhole camera.

    ``fov_deg`` is the horizontal field of view; square pixels; the optical axis points at bearing
    ``yaw_deg`` (clockwise from north) and ``pitch_deg`` above the horizon, turned by
    ``roll_deg`` about itself (:func:`camera_to_enu`).
    """
    cam = pinhole_camera_rays(height, width, fov_deg, torch.float64, device)
    rot = camera_to_enu(yaw_deg, pitch_deg, torch.float64, device, roll_deg=roll_deg)
    return (cam @ rot.transpose(-1, -2)).to(dtype)
