"""Ray directions of panorama and pinhole cameras in local ENU (x east, y north, z up).

Panorama convention: :mod:`crossview.conventions` ("Panorama").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


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
    """Unit ray directions ``(H, W, 3)`` (east, north, up) of an equirectangular panorama."""
    bearing = torch.deg2rad(column_bearing_deg(width, torch.float64, device)).view(1, -1)
    elev = torch.deg2rad(row_elevation_deg(height, vfov_deg, torch.float64, device)).view(-1, 1)
    east = torch.cos(elev) * torch.sin(bearing)
    north = torch.cos(elev) * torch.cos(bearing)
    up = torch.sin(elev).expand(-1, width)
    return torch.stack([east, north, up], dim=-1).to(dtype)


def pinhole_ray_directions(height: int, width: int, fov_deg: float, yaw_deg: float = 0.0,
                           pitch_deg: float = 0.0, dtype: torch.dtype = torch.float32,
                           device: torch.device | str = "cpu") -> Tensor:
    """Unit ray directions ``(H, W, 3)`` (east, north, up) of a pinhole camera.

    ``fov_deg`` is the horizontal field of view; square pixels; the optical axis points at bearing
    ``yaw_deg`` (clockwise from north) and ``pitch_deg`` above the horizon; no roll.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    focal = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    u = torch.arange(width, dtype=torch.float64, device=device) + 0.5 - width / 2.0
    v = torch.arange(height, dtype=torch.float64, device=device) + 0.5 - height / 2.0
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    # Camera frame: x right, y up, z forward.
    cam = torch.stack([uu, -vv, torch.full_like(uu, focal)], dim=-1)
    cam = cam / cam.norm(dim=-1, keepdim=True)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = torch.tensor([math.cos(pitch) * math.sin(yaw), math.cos(pitch) * math.cos(yaw),
                            math.sin(pitch)], dtype=torch.float64, device=device)
    right = torch.tensor([math.cos(yaw), -math.sin(yaw), 0.0], dtype=torch.float64, device=device)
    up = torch.linalg.cross(right, forward)
    dirs = cam[..., 0:1] * right + cam[..., 1:2] * up + cam[..., 2:3] * forward
    return dirs.to(dtype)
