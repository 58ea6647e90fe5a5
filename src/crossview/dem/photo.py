"""Simulated query photos of a DEM: shaded, textured terrain under a sky, with haze and noise.

Model (linear light, then sRGB): terrain radiance = albedo x (sun x max(0, n.s) x lit + ambient
sky x (1 + n_z) / 2), where the albedo is the co-registered RGB texture (sRGB decoded) or, without
one, a palette by slope and elevation; ``n`` is the bilinear surface normal; ``lit`` is 0 where a
ray from the point towards the sun meets terrain (cast with the same hierarchical marcher).
Aerial perspective blends terrain towards the horizon sky colour with transmittance
``exp(-3.912 d / visibility)`` (visibility: distance of 2 % contrast). The sky is a gradient from
a horizon to a zenith colour by elevation, plus a glow around the sun; low suns are dimmer and
warmer. Exposure multiplies by ``2**exposure_ev``; then gamma 1/2.2, Gaussian noise of
``noise_std`` (seeded per view, drawn on the CPU so CPU and CUDA renders get the same noise)
and clipping to ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import Tensor

from crossview.config import Config
from crossview.dem.camera import direction_enu, solar_position
from crossview.dem.model import Dem, Texture
from crossview.errors import ConfigError
from crossview.geometry.heightfield import bilinear_height, cast_heightfield, curvature_per_m

_ZENITH = torch.tensor([0.16, 0.32, 0.72])
_HORIZON = torch.tensor([0.70, 0.78, 0.88])
_SUN = torch.tensor([1.0, 0.96, 0.90])
_SUNSET = torch.tensor([1.0, 0.68, 0.42])
_SHADOW_LIFT_M = 0.5
"""Shadow rays start this far above the hit point (the hit itself lies on the surface)."""


@dataclasses.dataclass
class PhotoStyle(Config):
    """Illumination and camera response of one simulated photo."""

    sun_azimuth_deg: float = 135.0
    """Sun bearing, clockwise from true north."""
    sun_elevation_deg: float = 35.0
    """Sun elevation above the horizon."""
    visibility_m: float = 60000.0
    """Meteorological visibility (distance at which contrast falls to 2 %)."""
    exposure_ev: float = 0.0
    """Exposure offset in stops."""
    noise_std: float = 0.01
    """Standard deviation of the Gaussian pixel noise (after gamma, on [0, 1])."""
    shadows: bool = True
    """Cast shadow rays towards the sun."""

    def __post_init__(self) -> None:
        if not -90.0 <= self.sun_elevation_deg <= 90.0 or not self.visibility_m > 0 or \
                not self.noise_std >= 0 or not math.isfinite(self.exposure_ev):
            raise ConfigError(f"PhotoStyle: invalid values {self}")

    @classmethod
    def random(cls, rng: np.random.Generator, lat: float) -> PhotoStyle:
        """A random time of day (sun at least 5 deg up), haze, exposure and noise level."""
        while True:
            day = float(rng.uniform(60.0, 300.0))
            hour = float(rng.uniform(6.0, 18.0))
            azimuth, elevation = solar_position(lat, day, hour)
            if elevation >= 5.0:
                break
        return cls(round(azimuth, 3), round(elevation, 3),
                   visibility_m=round(float(rng.uniform(20000.0, 100000.0)), 1),
                   exposure_ev=round(float(rng.uniform(-0.5, 0.5)), 3),
                   noise_std=round(float(rng.uniform(0.004, 0.02)), 4))


def surface_normals(dem: Dem, x: Tensor, y: Tensor) -> Tensor:
    """Unit normals ``(..., 3)`` of the bilinear surface at local points (up where unknown)."""
    eps = 0.25 * dem.cell_m
    h = dem.height.to(x.device)
    gx = (bilinear_height(h, dem.grid, x + eps, y) - bilinear_height(h, dem.grid, x - eps, y))
    gy = (bilinear_height(h, dem.grid, x, y + eps) - bilinear_height(h, dem.grid, x, y - eps))
    n = torch.stack([-gx / (2 * eps), -gy / (2 * eps), torch.ones_like(gx)], -1)
    n = torch.where(torch.isfinite(n), n, torch.tensor([0.0, 0.0, 1.0], device=x.device))
    return n / n.norm(dim=-1, keepdim=True)


def palette_albedo(dem: Dem, z: Tensor, normal_z: Tensor) -> Tensor:
    """Linear albedo ``(..., 3)`` without a texture: vegetation low, rock steep, snow high."""
    lo, hi = dem.elevation_range
    rel = ((z - lo) / max(hi - lo, 1.0)).clamp(0, 1).unsqueeze(-1)
    veg = torch.tensor([0.05, 0.09, 0.03], device=z.device)
    rock = torch.tensor([0.18, 0.16, 0.14], device=z.device)
    snow = torch.tensor([0.75, 0.77, 0.80], device=z.device)
    steep = (normal_z < math.cos(math.radians(35))).unsqueeze(-1)
    base = torch.where(rel > 0.65, rock, veg)
    base = torch.where(steep, rock, base)
    return torch.where(rel > 0.9, snow, base)


def _sky(dirs: Tensor, sun: Tensor, warmth: float, brightness: float) -> Tensor:
    """Linear sky radiance ``(..., 3)`` of view directions ``(..., 3)``."""
    dev = dirs.device
    t = dirs[..., 2].clamp(0, 1).sqrt().unsqueeze(-1)
    horizon = torch.lerp(_HORIZON, _HORIZON * _SUNSET * 1.2, warmth).to(dev)
    sky = horizon * (1 - t) + _ZENITH.to(dev) * t
    glow = (dirs @ sun.to(dev)).clamp(min=0) ** 32
    sun_col = torch.lerp(_SUN, _SUNSET, warmth).to(dev)
    return brightness * (sky + 0.6 * glow.unsqueeze(-1) * sun_col)


def shade(dem: Dem, origins: Tensor, directions: Tensor, rng: Tensor, texture: Texture | None,
          styles: list[PhotoStyle], seeds: list[int], config: object) -> Tensor:
    """Photos ``(V, 3, H, W)`` of views ``(V, H, W, 3)`` whose ray ranges ``rng`` are known.

    ``config`` is the :class:`~crossview.dem.render.RenderConfig` (refraction of shadow rays).
    """
    dev = directions.device
    photos = []
    kappa = curvature_per_m(getattr(config, "refraction", 0.13))
    for v, (style, seed) in enumerate(zip(styles, seeds, strict=True)):
        o, d, r = origins[v].float(), directions[v], rng[v]   # float32: enough for shading
        north = dem.north_offset_deg(float(o[0]), float(o[1]))
        sun = direction_enu(style.sun_azimuth_deg, style.sun_elevation_deg, north).to(dev)
        low = 1.0 - min(max(style.sun_elevation_deg, 0.0), 30.0) / 30.0   # 1 at the horizon
        brightness = 0.45 + 0.55 * math.sin(math.radians(max(style.sun_elevation_deg, 0.0)))
        sky = _sky(d, sun, low, brightness)
        terrain = torch.isfinite(r)
        img = sky.clone()
        if bool(terrain.any()):
            img[terrain] = _terrain_radiance(dem, o, d[terrain], r[terrain], texture, sun,
                                             style, low, brightness, kappa, sky[terrain])
        img = img * (2.0 ** style.exposure_ev)
        img = img.clamp(0, 1) ** (1 / 2.2)
        gen = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(img.shape, generator=gen).to(dev) * style.noise_std
        photos.append((img + noise).clamp(0, 1).permute(2, 0, 1))
    return torch.stack(photos)


def _terrain_radiance(dem: Dem, o: Tensor, d: Tensor, r: Tensor, texture: Texture | None,
                      sun: Tensor, style: PhotoStyle, low: float, brightness: float,
                      kappa: float, haze: Tensor) -> Tensor:
    """Linear radiance ``(P, 3)`` of ``P`` terrain pixels (rays ``d`` hitting at range ``r``)."""
    p = o + d * r.unsqueeze(-1)
    n = surface_normals(dem, p[:, 0], p[:, 1])
    albedo = palette_albedo(dem, p[:, 2], n[:, 2])
    if texture is not None:
        rgb = texture.sample(p[:, 0], p[:, 1])
        known = torch.isfinite(rgb).all(-1, keepdim=True)
        albedo = torch.where(known, rgb.nan_to_num(0).clamp(0, 1) ** 2.2, albedo)
    lit = torch.ones_like(r)
    cos_sun = (n @ sun).clamp(min=0)
    if style.shadows and style.sun_elevation_deg > 0:
        facing = torch.nonzero(cos_sun > 0).squeeze(1)
        if facing.numel():
            start = p[facing] + n[facing] * _SHADOW_LIFT_M
            blocked = torch.isfinite(cast_heightfield(dem.pyramid(d.device), start,
                                                      sun.expand(facing.numel(), 3), kappa))
            lit[facing] = (~blocked).float()
    sun_col = torch.lerp(_SUN, _SUNSET, low).to(d.device) * (1.0 - 0.6 * low)
    ambient = _ZENITH.to(d.device) * 0.6 * brightness
    irradiance = sun_col * (cos_sun * lit).unsqueeze(-1) + ambient * (0.5 + 0.5 * n[:, 2:3])
    radiance = albedo * irradiance * 1.6
    transmittance = torch.exp(-3.912 * r / style.visibility_m).unsqueeze(-1)
    return radiance * transmittance + haze * (1 - transmittance)
