"""Capture conditions: season, sun, sky, exposure and noise of one aerial or ground capture.

The aerial tiles and the ground panoramas of a sample are captured under *different* conditions
(season palette, sun direction, white balance, exposure, transient objects): this is the
appearance gap that makes matching a learning problem rather than a colour lookup.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from crossview.world import materials as M


@dataclasses.dataclass(frozen=True)
class Condition:
    """Illumination and camera response of one capture."""

    season: str
    sun_azimuth_deg: float
    sun_elevation_deg: float
    light_rgb: tuple[float, float, float]
    ambient: float
    gains_rgb: tuple[float, float, float]
    exposure: float
    gamma: float
    noise_std: float
    zenith_rgb: tuple[float, float, float]
    horizon_rgb: tuple[float, float, float]
    cloud_cover: float
    visibility_m: float

    @property
    def sun_dir(self) -> np.ndarray:
        """Unit vector towards the sun (east, north, up)."""
        az, el = np.radians(self.sun_azimuth_deg), np.radians(self.sun_elevation_deg)
        return np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)])


def aerial_condition(rng: np.random.Generator) -> Condition:
    """Growing-season, near-noon capture with mild colour variation between tiles."""
    return Condition(
        season=str(rng.choice(M.AERIAL_SEASONS)), sun_azimuth_deg=float(rng.uniform(120, 240)),
        sun_elevation_deg=float(rng.uniform(40, 70)), light_rgb=(1.0, 0.98, 0.94),
        ambient=float(rng.uniform(0.35, 0.5)), gains_rgb=tuple(rng.uniform(0.85, 1.15, 3)),
        exposure=float(rng.uniform(0.8, 1.25)), gamma=float(rng.uniform(0.9, 1.1)),
        noise_std=float(rng.uniform(0.005, 0.02)), zenith_rgb=(0.3, 0.5, 0.8),
        horizon_rgb=(0.75, 0.8, 0.85), cloud_cover=0.0, visibility_m=1e9)


def ground_condition(rng: np.random.Generator) -> Condition:
    """Any season and time of day: warm low sun, overcast or clear skies, camera response."""
    elev = float(rng.uniform(5, 65))
    warm = np.clip((25.0 - elev) / 20.0, 0.0, 1.0)
    light = np.array([1.0, 0.95 - 0.25 * warm, 0.9 - 0.45 * warm])
    overcast = float(rng.uniform(0, 1))
    zenith = np.array([0.2, 0.4, 0.85]) * (1 - overcast) + np.array([0.6, 0.62, 0.66]) * overcast
    horizon = np.array([0.8, 0.82, 0.88]) * (1 - warm) + np.array([0.95, 0.7, 0.45]) * warm
    return Condition(
        season=str(rng.choice(M.GROUND_SEASONS, p=[0.3, 0.25, 0.3, 0.15])),
        sun_azimuth_deg=float(rng.uniform(0, 360)), sun_elevation_deg=elev,
        light_rgb=tuple(light * (1.0 - 0.6 * overcast)), ambient=float(0.3 + 0.4 * overcast),
        gains_rgb=tuple(rng.uniform(0.7, 1.3, 3)), exposure=float(rng.uniform(0.6, 1.6)),
        gamma=float(rng.uniform(0.75, 1.3)), noise_std=float(rng.uniform(0.01, 0.04)),
        zenith_rgb=tuple(zenith), horizon_rgb=tuple(horizon),
        cloud_cover=float(np.clip(overcast + rng.uniform(-0.2, 0.3), 0, 1)),
        visibility_m=float(rng.uniform(300, 2000)))


def camera_response(radiance: Tensor, cond: Condition, gen: torch.Generator) -> Tensor:
    """White balance, exposure, gamma and sensor noise; ``(3, H, W)`` -> clamped [0, 1]."""
    gains = torch.tensor(cond.gains_rgb, dtype=radiance.dtype).view(3, 1, 1)
    img = (radiance * gains * cond.exposure).clamp(0, 1) ** (1.0 / cond.gamma)
    noise = torch.randn(img.shape, generator=gen, dtype=img.dtype) * cond.noise_std
    return (img + noise).clamp(0, 1)


def sky_radiance(dirs: Tensor, cond: Condition, rng: np.random.Generator) -> Tensor:
    """Sky colour ``(3, N)`` for unit directions ``(N, 3)``: gradient, sun glow and clouds."""
    up = dirs[:, 2].clamp(min=0.0)
    zen, hor = (torch.tensor(c, dtype=dirs.dtype).view(3, 1)
                for c in (cond.zenith_rgb, cond.horizon_rgb))
    mix = (1.0 - up) ** 3
    sky = zen * (1 - mix) + hor * mix
    sun = torch.tensor(cond.sun_dir, dtype=dirs.dtype)
    glow = torch.exp((dirs @ sun - 1.0) * 40.0)
    sky = sky + 0.6 * glow * torch.tensor(cond.light_rgb, dtype=dirs.dtype).view(3, 1)
    # Clouds: sum of random plane waves on a cloud layer (projected by 1 / elevation).
    proj = dirs[:, :2] / (dirs[:, 2:3].clamp(min=0.05))
    field = torch.zeros(dirs.shape[0], dtype=dirs.dtype)
    for _ in range(6):
        k = torch.tensor(rng.normal(0, 3.0, 2), dtype=dirs.dtype)
        field += torch.sin(proj @ k + float(rng.uniform(0, 2 * np.pi)))
    cloud = ((field / 2.5 + (cond.cloud_cover - 0.5) * 2.0).clamp(0, 1) * (up > 0.02)).unsqueeze(0)
    grey = 0.95 - 0.35 * cond.cloud_cover
    return sky * (1 - cloud) + grey * cloud
