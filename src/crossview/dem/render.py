"""Render DEM views: depth, silhouettes, segmentation (and photos, :mod:`crossview.dem.photo`).

Outputs of :func:`render_views` / :func:`render_panorama` (``V`` views of ``H x W`` pixels):

- ``depth``: ``(V, H, W)`` float32 range along each pixel's ray from the camera to the terrain in
  metres (Euclidean distance, not z-depth). **Sky is 0** (as in the synthetic world's renders);
  ``sky`` says which pixels are sky.
- ``sky``: ``(V, H, W)`` bool, rays that meet no terrain (above the horizon, past the DEM's
  edge, through no-data holes, or beyond ``max_range_m``).
- ``silhouettes``: ``(V, H, W)`` bool: the nearer pixel of every neighbour pair whose depths
  differ by more than ``silhouette_threshold`` (relative) and by :data:`EDGE_CONTRAST` times
  more (in log depth) than the pairs on either side along the same axis (so smoothly receding
  ground at grazing angles is not an edge), plus the terrain pixels next to sky (the horizon).
- ``segmentation``: ``(V, H, W)`` uint8 class ids of :data:`CLASSES`: sky 0, terrain 1, and with a
  co-registered RGB texture water 2, snow/rock 3, vegetation 4 by the thresholds of
  :func:`classify_rgb`.
- ``photo``: ``(V, 3, H, W)`` float32 sRGB in ``[0, 1]`` (:func:`crossview.dem.photo.shade`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from crossview.config import Config
from crossview.dem.camera import Camera, panorama_rays, view_rays
from crossview.dem.model import Dem, Texture
from crossview.errors import ConfigError
from crossview.geometry.heightfield import DEFAULT_REFRACTION, cast_heightfield, curvature_per_m

if TYPE_CHECKING:
    from crossview.dem.photo import PhotoStyle

MODALITIES = ("depth", "silhouettes", "segmentation", "photo")
"""What the renderers can produce (``sky`` always comes with them)."""
CLASSES = ("sky", "terrain", "water", "snow_rock", "vegetation")
"""Segmentation class names; the id of a class is its index."""
CLASS_COLOURS = ((70, 130, 230), (150, 110, 70), (20, 40, 160), (235, 235, 235), (40, 140, 40))
"""RGB colour of each class in segmentation PNGs."""
WATER_MAX_BRIGHTNESS = 0.15
"""Water: mean of the sRGB channels below this and blue above red by ``WATER_MIN_BLUE_EXCESS``."""
WATER_MIN_BLUE_EXCESS = 0.02
SNOW_ROCK_MIN_BRIGHTNESS = 0.55
"""Snow / bare rock: bright (mean sRGB at least this), whatever the hue."""
VEGETATION_MIN_EXCESS_GREEN = 0.06
"""Vegetation: excess green ``2 g - r - b`` at least this."""
EDGE_CONTRAST = 2.0
"""A silhouette jump (in log depth) is at least this many times the jumps of the pairs on either
side along the same axis: smooth terrain changes depth gradually even at grazing angles (where
relative jumps between rows grow large), an occluding edge changes it at once."""


@dataclasses.dataclass
class RenderConfig(Config):
    """How DEM views are rendered (every field has a default)."""

    refraction: float = DEFAULT_REFRACTION
    """Coefficient of terrestrial refraction ``k`` of the curvature drop
    ``d**2 / (2 R) * (1 - k)``; 1 gives a flat Earth."""
    max_range_m: float | None = None
    """Farthest terrain drawn (``None``: wherever the DEM reaches)."""
    silhouette_threshold: float = 0.1
    """Relative depth jump (``|d1 - d2| / min(d1, d2)``) that makes a silhouette edge."""
    chunk_rays: int = 1 << 20
    """Rays marched together (memory: a few hundred bytes each while marching)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.refraction) and self.refraction <= 1.0):
            raise ConfigError(f"RenderConfig.refraction: expected a number <= 1, "
                              f"got {self.refraction!r}")
        if self.max_range_m is not None and not self.max_range_m > 0:
            raise ConfigError(f"RenderConfig.max_range_m: expected > 0, got {self.max_range_m!r}")
        if not self.silhouette_threshold > 0:
            raise ConfigError(f"RenderConfig.silhouette_threshold: expected > 0, "
                              f"got {self.silhouette_threshold!r}")
        if self.chunk_rays < 1:
            raise ConfigError(f"RenderConfig.chunk_rays: expected >= 1, got {self.chunk_rays!r}")


def cast_depth(dem: Dem, origins: Tensor, directions: Tensor,
               config: RenderConfig | None = None) -> Tensor:
    """Range (m) to the terrain of rays ``(V, H, W, 3)`` from ``origins`` ``(V, 3)``; ``inf``: sky.

    Runs on the rays' device (the DEM's max-mipmap is built there once).
    """
    cfg = config or RenderConfig()
    if directions.ndim != 4 or directions.shape[-1] != 3 or origins.shape != (
            directions.shape[0], 3):
        raise ConfigError(f"rays: expected origins (V, 3) and directions (V, H, W, 3), got "
                          f"{tuple(origins.shape)} and {tuple(directions.shape)}")
    pyr = dem.pyramid(directions.device)
    per_view = directions.shape[1] * directions.shape[2]
    flat_dirs = directions.reshape(-1, 3)
    flat_org = origins.repeat_interleave(per_view, dim=0)
    out = torch.empty(flat_dirs.shape[0], device=directions.device)
    kappa = curvature_per_m(cfg.refraction)
    for lo in range(0, flat_dirs.shape[0], cfg.chunk_rays):
        hi = lo + cfg.chunk_rays
        out[lo:hi] = cast_heightfield(pyr, flat_org[lo:hi], flat_dirs[lo:hi], kappa,
                                      cfg.max_range_m)
    return out.reshape(directions.shape[:3])


def silhouettes(depth: Tensor, threshold: float = 0.1) -> Tensor:
    """Silhouette map ``(..., H, W)`` bool of depth maps ``(..., H, W)`` (0 = sky).

    See the module docstring: relative depth jumps above ``threshold`` that stand out from the
    neighbouring pairs along the same axis (nearer pixel marked), plus the horizon.
    """
    terrain = depth > 0
    log_d = torch.log(depth.clamp(min=1e-3))
    edges = torch.zeros_like(terrain)
    limit = math.log1p(threshold)
    for dim in (-1, -2):
        n = depth.shape[dim]
        if n < 2:
            continue
        a, b = log_d.narrow(dim, 0, n - 1), log_d.narrow(dim, 1, n - 1)
        ta, tb = terrain.narrow(dim, 0, n - 1), terrain.narrow(dim, 1, n - 1)
        jump = torch.where(ta & tb, (a - b).abs(), torch.zeros_like(a))
        zero = torch.zeros_like(jump.narrow(dim, 0, 1))
        before = torch.cat([zero, jump.narrow(dim, 0, n - 2)], dim)
        after = torch.cat([jump.narrow(dim, 1, n - 2), zero], dim)
        edge = (jump > limit) & (jump >= EDGE_CONTRAST * before) & (jump >= EDGE_CONTRAST * after)
        # The nearer pixel of an edge pair, and the terrain pixel of a terrain/sky pair.
        mark_a = (edge & (a < b)) | (ta & ~tb)
        mark_b = (edge & (b <= a)) | (tb & ~ta)
        edges.narrow(dim, 0, n - 1).logical_or_(mark_a)
        edges.narrow(dim, 1, n - 1).logical_or_(mark_b)
    return edges


def classify_rgb(rgb: Tensor) -> Tensor:
    """Class ids (terrain 1, water 2, snow/rock 3, vegetation 4) of sRGB colours ``(..., 3)``.

    Documented thresholds (module constants): water is dark and bluish, snow/rock bright,
    vegetation green by its excess green; anything else (and NaN, no texture) is terrain.
    """
    r, g, b = rgb.unbind(-1)
    v = (r + g + b) / 3
    out = torch.ones(rgb.shape[:-1], dtype=torch.uint8, device=rgb.device)
    out[2 * g - r - b >= VEGETATION_MIN_EXCESS_GREEN] = 4
    out[v >= SNOW_ROCK_MIN_BRIGHTNESS] = 3
    out[(v < WATER_MAX_BRIGHTNESS) & (b - r > WATER_MIN_BLUE_EXCESS)] = 2
    return out


def hit_points(origins: Tensor, directions: Tensor, rng: Tensor) -> Tensor:
    """Local ``(V, H, W, 3)`` points where the rays meet the terrain (NaN on sky)."""
    r = torch.where(torch.isfinite(rng), rng, torch.full_like(rng, math.nan))
    return (origins[:, None, None, :] + directions * r.unsqueeze(-1)).float()


def render_rays(dem: Dem, origins: Tensor, directions: Tensor,
                modalities: Sequence[str] = ("depth", "silhouettes", "segmentation"),
                texture: Texture | None = None, config: RenderConfig | None = None,
                photo_styles: Sequence[PhotoStyle] | None = None,
                seeds: Sequence[int] | None = None) -> dict[str, Tensor]:
    """Render ``modalities`` of views given by their rays (see the module docstring).

    ``photo`` needs one :class:`~crossview.dem.photo.PhotoStyle` and one noise seed per view.
    """
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ConfigError(f"modalities: unknown {unknown[0]!r}; choose from {list(MODALITIES)}")
    cfg = config or RenderConfig()
    rng = cast_depth(dem, origins, directions, cfg)
    sky = ~torch.isfinite(rng)
    depth = torch.where(sky, torch.zeros_like(rng), rng)
    out: dict[str, Tensor] = {"sky": sky}
    if "depth" in modalities:
        out["depth"] = depth
    if "silhouettes" in modalities:
        out["silhouettes"] = silhouettes(depth, cfg.silhouette_threshold)
    points = hit_points(origins, directions, rng) if {"segmentation", "photo"} & set(
        modalities) else None
    if "segmentation" in modalities:
        seg = torch.ones(sky.shape, dtype=torch.uint8, device=sky.device)
        if texture is not None and points is not None:
            seg = classify_rgb(texture.sample(points[..., 0], points[..., 1]))
        out["segmentation"] = torch.where(sky, torch.zeros_like(seg), seg)
    if "photo" in modalities:
        from crossview.dem.photo import shade

        if photo_styles is None or seeds is None or len(photo_styles) != origins.shape[0] or \
                len(seeds) != origins.shape[0]:
            raise ConfigError("photo: give one PhotoStyle and one seed per view")
        out["photo"] = shade(dem, origins, directions, rng, texture, list(photo_styles),
                             list(seeds), cfg)
    return out


def render_views(dem: Dem, cameras: Sequence[Camera], height: int, width: int,
                 modalities: Sequence[str] = ("depth", "silhouettes", "segmentation"),
                 texture: Texture | None = None, config: RenderConfig | None = None,
                 photo_styles: Sequence[PhotoStyle] | None = None,
                 seeds: Sequence[int] | None = None,
                 device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Render pinhole views of ``cameras`` (all in one batch) at ``height x width`` pixels."""
    origins, dirs = view_rays(dem, list(cameras), height, width, device)
    return render_rays(dem, origins, dirs, modalities, texture, config, photo_styles, seeds)


def render_panorama(dem: Dem, camera: Camera, height: int, width: int, vfov_deg: float = 180.0,
                    modalities: Sequence[str] = ("depth", "silhouettes", "segmentation"),
                    texture: Texture | None = None, config: RenderConfig | None = None,
                    photo_style: PhotoStyle | None = None, seed: int = 0,
                    device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Render an equirectangular panorama (one view: outputs have ``V = 1``)."""
    origin, dirs = panorama_rays(dem, camera, height, width, vfov_deg, device)
    styles = [photo_style] if photo_style is not None else None
    return render_rays(dem, origin[None], dirs[None], modalities, texture, config, styles,
                       [seed])
