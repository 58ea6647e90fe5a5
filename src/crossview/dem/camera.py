"""Cameras on a DEM: pose from latitude/longitude, rays of pinhole views and panoramas, the sun.

Angles follow :mod:`crossview.conventions`: bearings (yaw) in degrees clockwise from true north,
pitch up from the horizon, roll clockwise as seen from behind the camera
(:func:`crossview.geometry.rays.camera_to_enu`); the field of view is horizontal. Panoramas are
equirectangular with column ``W/2`` looking at the camera's yaw (north for yaw 0) and
``bearing(j) = yaw + 180 + 360 j / W``. Rays come out in the DEM's local frame, whose y axis is
UTM grid north: true bearings are turned by :meth:`Dem.north_offset_deg` first.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from crossview.dem.model import Dem
from crossview.errors import ConfigError
from crossview.geometry._checks import check_finite, check_positive_int
from crossview.geometry.rays import camera_to_enu as _camera_to_enu
from crossview.geometry.rays import (
    column_bearing_deg,
    pinhole_camera_rays,
    row_elevation_deg,
)

DEFAULT_HEIGHT_M = 1.7
"""Default camera height above the ground (eye level)."""


@dataclasses.dataclass(frozen=True)
class Camera:
    """A camera on (or above) a DEM."""

    lat: float
    """WGS84 latitude (deg)."""
    lon: float
    """WGS84 longitude (deg)."""
    yaw_deg: float = 0.0
    """Bearing of the optical axis (panorama: of the centre column), clockwise from north."""
    pitch_deg: float = 0.0
    """Elevation of the optical axis above the horizon (pinhole views only)."""
    roll_deg: float = 0.0
    """Turn about the optical axis, clockwise seen from behind (pinhole views only)."""
    fov_deg: float = 60.0
    """Horizontal field of view of a pinhole view, in ``(0, 180)``."""
    height_m: float = DEFAULT_HEIGHT_M
    """Height above the ground (used when ``altitude_m`` is ``None``)."""
    altitude_m: float | None = None
    """Absolute altitude (m, the DEM's vertical datum); overrides ``height_m``."""

    def __post_init__(self) -> None:
        check_finite(self.lat, "Camera.lat", -90.0, 90.0)
        check_finite(self.lon, "Camera.lon", -180.0, 180.0)
        for name in ("yaw_deg", "pitch_deg", "roll_deg", "height_m"):
            check_finite(getattr(self, name), f"Camera.{name}")
        check_finite(self.pitch_deg, "Camera.pitch_deg", -90.0, 90.0)
        fov = check_finite(self.fov_deg, "Camera.fov_deg", 0.0, 180.0, low_open=True)
        if fov >= 180.0:
            raise ConfigError(f"Camera.fov_deg: expected a value in (0, 180), got {fov}")
        if self.altitude_m is not None:
            check_finite(self.altitude_m, "Camera.altitude_m")


def camera_position(dem: Dem, camera: Camera) -> tuple[float, float, float]:
    """Local ``(x, y, z)`` metres of ``camera`` (``z`` = ground + height, or its altitude)."""
    x, y = dem.to_local(camera.lat, camera.lon)
    if camera.altitude_m is not None:
        return float(x), float(y), float(camera.altitude_m)
    ground = float(dem.height_at(x, y))
    if not math.isfinite(ground):
        raise ConfigError(f"camera at ({camera.lat:.6f}, {camera.lon:.6f}) is outside the DEM "
                          f"or over no-data; give altitude_m or move it inside "
                          f"{dem.latlon_bounds()}")
    return float(x), float(y), ground + float(camera.height_m)


def view_rays(dem: Dem, cameras: list[Camera], height: int, width: int,
              device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Origins ``(V, 3)`` (float64) and unit directions ``(V, H, W, 3)`` of pinhole views.

    Local frame of ``dem``. Origins stay float64: float32 would round them to millimetres,
    which moves ground hits at grazing angles by centimetres.

    Square pixels; ``fov_deg`` spans the width; pixel ``(v, u)`` is centred at
    ``(u + 0.5 - W/2, v + 0.5 - H/2)`` in focal-plane units (:func:`pinhole_camera_rays`).
    """
    height, width = check_positive_int(height, "height"), check_positive_int(width, "width")
    origins, dirs = [], []
    for cam in cameras:
        x, y, z = camera_position(dem, cam)
        rays = pinhole_camera_rays(height, width, cam.fov_deg, torch.float64, device)
        yaw = cam.yaw_deg + dem.north_offset_deg(x, y)
        rot = _camera_to_enu(yaw, cam.pitch_deg, torch.float64, device, roll_deg=cam.roll_deg)
        origins.append(torch.tensor([x, y, z], dtype=torch.float64, device=device))
        dirs.append(rays @ rot.t())
    return torch.stack(origins), torch.stack(dirs).float()


def panorama_rays(dem: Dem, camera: Camera, height: int, width: int, vfov_deg: float = 180.0,
                  device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Origin ``(3,)`` (float64) and unit directions ``(H, W, 3)`` of an equirectangular panorama.

    Column ``j`` looks at bearing ``yaw + 180 + 360 j / W``; rows span ``[-vfov/2, vfov/2]``
    around the horizon (:func:`crossview.geometry.rays.row_elevation_deg`).
    """
    if camera.pitch_deg != 0 or camera.roll_deg != 0:
        raise ConfigError("panorama: pitch_deg and roll_deg must be 0 (panoramas are level)")
    check_finite(vfov_deg, "vfov_deg", 0.0, 180.0, low_open=True)
    x, y, z = camera_position(dem, camera)
    yaw = camera.yaw_deg + dem.north_offset_deg(x, y)
    bearing = torch.deg2rad(column_bearing_deg(width, torch.float64, device) + yaw).view(1, -1)
    elev = torch.deg2rad(row_elevation_deg(height, vfov_deg, torch.float64, device)).view(-1, 1)
    dirs = torch.stack([torch.cos(elev) * torch.sin(bearing),
                        torch.cos(elev) * torch.cos(bearing),
                        torch.sin(elev).expand(-1, width)], dim=-1)
    return torch.tensor([x, y, z], dtype=torch.float64, device=device), dirs.float()


def solar_position(lat: float, day_of_year: float, solar_hour: float) -> tuple[float, float]:
    """Sun ``(azimuth_deg, elevation_deg)`` at local solar time (a textbook approximation).

    Declination ``23.44 sin(360 (284 + N) / 365)``, hour angle ``15 (hour - 12)``; azimuth
    clockwise from true north. Accurate to about a degree, plenty for shading.
    """
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    phi = math.radians(lat)
    sin_e = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    elevation = math.asin(max(-1.0, min(1.0, sin_e)))
    azimuth = math.atan2(-math.cos(decl) * math.sin(hour_angle),
                         math.sin(decl) * math.cos(phi)
                         - math.cos(decl) * math.cos(hour_angle) * math.sin(phi))
    return math.degrees(azimuth) % 360.0, math.degrees(elevation)


def direction_enu(bearing_deg: float, elevation_deg: float, north_offset_deg: float = 0.0
                  ) -> Tensor:
    """Unit vector ``(3,)`` towards a true bearing and elevation (degrees).

    In a frame whose y axis lies ``north_offset_deg`` to the left of true north, as the DEM's
    local frame does (:meth:`Dem.north_offset_deg`).
    """
    b = math.radians(bearing_deg + north_offset_deg)
    e = math.radians(elevation_deg)
    return torch.tensor([math.cos(e) * math.sin(b), math.cos(e) * math.cos(b), math.sin(e)])
