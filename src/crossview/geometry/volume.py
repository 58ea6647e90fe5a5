"""Volume rendering of an explicit density grid over an aerial tile (Sat2Density, SPECS.md §6).

Batched, differentiable (with respect to densities and colours) torch functions; CPU or CUDA,
whatever device the inputs are on. Conventions: :mod:`crossview.conventions`.

World frame: local metres, ``x`` east, ``y`` north, ``z`` up; the tile's ground square is
``[-L/2, L/2]^2`` with ``L = tile_size_m`` centred on the tile centre, the ground at ``z = 0``.

Density grid ``(B, N, S, S)``: ``N`` horizontal slices, slice ``k`` at height
``k * max_height_m / (N - 1)`` (slice 0 on the ground, slice ``N-1`` at the top). Row ``r`` and
column ``c`` of a slice are the tile's: pixel ``(r, c)`` is the square
``x in [c, c+1) * L/S - L/2``, ``y in (L/2 - (r+1) L/S, L/2 - r L/S]`` (row 0 north), with its value
at the square's centre (the half-pixel convention of ``grid_sample(align_corners=False)``, and
of the authors' renderer). Lookups are trilinear between those centres and clamp to the edge
cells inside the footprint. **Outside the volume the density is 0**: beyond the tile's square or
above ``max_height_m``. Below the ground (``z < 0``) a ray keeps the lowest slice's density when
``extend_ground`` is true (the default), so that a ray stepping over the thin ground layer
between two samples still stops there; with ``extend_ground=False`` it is 0 there too.

The camera (panorama) sits at ``camera_offset_m = (east, north)`` from the tile centre and
``camera_height_m`` above the ground. The tile centre is the geometric centre of the image
(between pixels ``S/2 - 1`` and ``S/2``), half a pixel from the polar transform's ``(S/2, S/2)``.
Panorama rays are :func:`crossview.geometry.rays.equirect_ray_directions`: column ``W/2`` looks
north, bearing clockwise, row ``i`` at elevation ``vfov/2 - vfov (i + 0.5) / H``.

Sampling (SPECS §6, the authors' renderer): ``K`` samples per ray at ``t_k = k * D / K``,
``k = 1..K``, where ``D`` is the longest in-volume path from the camera: the distance to the
farthest corner of the box ``[-L/2, L/2]^2 x [0, max_height_m]``. Every ray uses the same
distances (rays that leave the volume early sample zero density), ``delta = D / K``. The
authors' code rounds ``D`` down to whole satellite pixels; crossview does not. Compositing:
``alpha_k = 1 - exp(-sigma_k delta_k)``, ``T_k = prod_{j<k} (1 - alpha_j)``, weight
``w_k = T_k alpha_k``; depth ``sum w_k t_k`` (metres along the ray), opacity ``sum w_k``, colour
``sum w_k c_k`` with ``c_k`` the tile's colour bilinearly sampled below the sample (the
copy-paste colour of the paper's eq. 4). Densities are per metre.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.errors import ConfigError
from crossview.geometry._checks import check_finite, check_positive_int, sampling_dtype
from crossview.geometry.rays import equirect_ray_directions

GROUND_DENSITY = 1e3
"""Density of the solid ground slice (paper §3.1: ``V(x, y, z=0) = 10^3``), per metre here."""


class VolumeRender(NamedTuple):
    """What a render returns; ``colour`` is ``None`` when no colour was given."""

    colour: Tensor | None
    """``(B, C, ...)`` composited colour (not divided by opacity)."""
    depth: Tensor
    """``(B, 1, ...)`` expected distance along the ray, metres (0 where nothing is hit)."""
    opacity: Tensor
    """``(B, 1, ...)`` accumulated opacity in ``[0, 1]``."""


# --- argument checks ---------------------------------------------------------------------------
def _check_density(density: object) -> Tensor:
    if not isinstance(density, Tensor):
        raise ConfigError(f"density: expected a torch.Tensor (B, N, S, S), got "
                          f"{type(density).__name__}")
    if density.ndim != 4 or density.shape[-1] != density.shape[-2]:
        raise ConfigError(f"density: expected shape (B, N, S, S) with square slices, got "
                          f"{tuple(density.shape)}")
    if not density.is_floating_point():
        raise ConfigError(f"density: expected a floating-point tensor, got {density.dtype}")
    if density.shape[1] < 2 or density.shape[-1] < 2 or density.shape[0] < 1:
        raise ConfigError(f"density: need at least 2 slices of at least 2x2 cells, got "
                          f"{tuple(density.shape)}")
    return density


def _check_colour(colour: object, batch: int) -> Tensor:
    if not isinstance(colour, Tensor):
        raise ConfigError(f"colour: expected a torch.Tensor (B, C, S, S), got "
                          f"{type(colour).__name__}")
    if colour.ndim != 4 or colour.shape[-1] != colour.shape[-2] or colour.shape[0] != batch:
        raise ConfigError(f"colour: expected shape ({batch}, C, S, S) (square tiles, one per "
                          f"density grid), got {tuple(colour.shape)}")
    if not colour.is_floating_point():
        raise ConfigError(f"colour: expected a floating-point tensor, got {colour.dtype}")
    return colour


def _per_batch(value: float | Sequence[float] | Tensor, batch: int, width: int, name: str,
               device: torch.device) -> Tensor:
    """A number (or ``width`` numbers) for all, or one row per batch item -> float64 ``(B, w)``."""
    # Checked where the values live (a user's numbers are on the CPU), then moved: shape-only
    # runs on the meta device have no values to check.
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.ndim <= 1 and t.numel() == width:
        t = t.reshape(1, width).expand(batch, width)
    elif t.shape != (batch, width) and not (width == 1 and t.shape == (batch,)):
        want = "a number" if width == 1 else f"{width} numbers"
        raise ConfigError(f"{name}: expected {want} or one per image ({batch}), got shape "
                          f"{tuple(t.shape)}")
    t = t.reshape(batch, width)
    if t.device.type != "meta" and not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name}: expected finite values, got {value!r}")
    return t


def camera_origins(batch: int, tile_size_m: float, camera_height_m: float | Tensor = 2.0,
                   camera_offset_m: Sequence[float] | Tensor | None = None,
                   device: torch.device | str = "cpu") -> Tensor:
    """Camera positions ``(B, 3)`` (east, north, up; float64 metres), checked to lie in the tile.

    Args:
        batch: Number of images ``B``.
        tile_size_m: Side of the tile's ground square.
        camera_height_m: Height above the ground: a number or one per image.
        camera_offset_m: ``(east, north)`` from the tile centre: a pair or ``(B, 2)``; ``None``
            is the centre.
        device: Device of the result.

    """
    tile_size_m = check_finite(tile_size_m, "tile_size_m", 0.0, None, low_open=True)
    dev = torch.device(device)
    height = _per_batch(camera_height_m, batch, 1, "camera_height_m", dev)
    offset = _per_batch((0.0, 0.0) if camera_offset_m is None else camera_offset_m, batch, 2,
                        "camera_offset_m", dev)
    checkable = height.device.type != "meta" and offset.device.type != "meta"
    if checkable and bool((height < 0).any()):
        raise ConfigError(f"camera_height_m: expected >= 0 (above the ground), got "
                          f"{height.flatten().tolist()}")
    if checkable and bool((offset.abs() > tile_size_m / 2).any()):
        raise ConfigError(f"camera_offset_m: the camera must stay inside the tile "
                          f"(|east|, |north| <= {tile_size_m / 2} m), got {offset.tolist()}")
    return torch.cat([offset.to(dev), height.to(dev)], dim=1)


def longest_path_m(origins_m: Tensor, tile_size_m: float, max_height_m: float) -> Tensor:
    """Distance ``(B,)`` from each camera ``(B, 3)`` to the farthest corner of the volume box."""
    half = tile_size_m / 2.0
    dx = origins_m[:, 0].abs() + half
    dy = origins_m[:, 1].abs() + half
    dz = torch.maximum(origins_m[:, 2], (max_height_m - origins_m[:, 2]).abs())
    return torch.sqrt(dx**2 + dy**2 + dz**2)


def add_ground_slice(density_above: Tensor, ground_density: float = GROUND_DENSITY) -> Tensor:
    """Prepend the solid ground slice: ``(B, N-1, S, S)`` -> ``(B, N, S, S)``, slice 0 constant."""
    if density_above.ndim != 4:
        raise ConfigError(f"density_above: expected shape (B, N-1, S, S), got "
                          f"{tuple(density_above.shape)}")
    ground = density_above.new_full((density_above.shape[0], 1, *density_above.shape[2:]),
                                    float(ground_density))
    return torch.cat([ground, density_above], dim=1)


# --- sampling ----------------------------------------------------------------------------------
def _grid_xy(points: Tensor, tile_size_m: float, cells: int) -> tuple[Tensor, Tensor]:
    """``grid_sample`` (align_corners=True) x, y of points for ``cells`` pixel centres."""
    scale = cells / tile_size_m
    col = (points[..., 0] + tile_size_m / 2.0) * scale - 0.5
    row = (tile_size_m / 2.0 - points[..., 1]) * scale - 0.5
    return col * (2.0 / (cells - 1)) - 1.0, row * (2.0 / (cells - 1)) - 1.0


def sample_density(density: Tensor, points_m: Tensor, tile_size_m: float,
                   max_height_m: float, extend_ground: bool = True) -> Tensor:
    """Trilinear density ``(B, P, K)`` of a grid ``(B, N, S, S)`` at points ``(B, P, K, 3)``.

    0 outside the volume (see the module docstring; below ground with ``extend_ground`` the
    lowest slice).
    """
    b, n, s, _ = density.shape
    dtype = sampling_dtype(density.dtype)
    gx, gy = _grid_xy(points_m, tile_size_m, s)
    z = points_m[..., 2]
    gz = z * (2.0 / max_height_m) - 1.0
    half = tile_size_m / 2.0
    inside = ((points_m[..., 0].abs() <= half) & (points_m[..., 1].abs() <= half)
              & (z <= max_height_m))
    if not extend_ground:
        inside = inside & (z >= 0)
    grid = torch.stack([gx, gy, gz], dim=-1).to(dtype).unsqueeze(1)  # (B, 1, P, K, 3)
    vol = density.to(dtype).unsqueeze(1)  # (B, 1, N, S, S): depth axis = slices
    out = F.grid_sample(vol, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[:, 0, 0] * inside.to(dtype)


def sample_tile(colour: Tensor, points_m: Tensor, tile_size_m: float) -> Tensor:
    """Bilinear tile colour ``(B, C, P, K)`` below points ``(B, P, K, 3)`` (edge-clamped)."""
    dtype = sampling_dtype(colour.dtype)
    gx, gy = _grid_xy(points_m, tile_size_m, colour.shape[-1])
    grid = torch.stack([gx, gy], dim=-1).to(dtype)
    return F.grid_sample(colour.to(dtype), grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


def composite(sigma: Tensor, t_m: Tensor) -> tuple[Tensor, Tensor]:
    """Weights ``w_k = T_k alpha_k`` and ``delta_k`` of densities ``(..., K)`` at distances ``t_m``.

    ``delta_k = t_k - t_{k-1}`` with ``t_0 = 0``; ``t_m`` broadcasts against ``sigma``.
    """
    t = t_m.expand_as(sigma) if t_m.shape != sigma.shape else t_m
    delta = torch.diff(t, dim=-1, prepend=torch.zeros_like(t[..., :1]))
    sigma_delta = sigma * delta
    alpha = 1.0 - torch.exp(-sigma_delta)
    # T_k = exp(-sum_{j<k} sigma_j delta_j): an exclusive cumulative sum, stable for huge sigma.
    before = torch.cumsum(sigma_delta, dim=-1) - sigma_delta
    return torch.exp(-before) * alpha, delta


def render_rays(density: Tensor, origins_m: Tensor, directions: Tensor, t_m: Tensor,
                tile_size_m: float, max_height_m: float, colour: Tensor | None = None,
                extend_ground: bool = True) -> VolumeRender:
    """Render arbitrary rays through the volume.

    Args:
        density: ``(B, N, S, S)`` densities per metre.
        origins_m: ``(B, 3)`` one origin per image, or ``(B, R, 3)`` one per ray.
        directions: ``(R, 3)`` or ``(B, R, 3)`` unit directions (east, north, up).
        t_m: ``(B, 1, K)`` or ``(B, R, K)`` increasing sample distances along the rays.
        tile_size_m: Side of the tile's ground square.
        max_height_m: Height of the top slice.
        colour: Optional ``(B, C, Sc, Sc)`` tile whose colour is copied below each sample.
        extend_ground: Below the ground, keep the lowest slice's density (see module doc).

    Returns:
        ``VolumeRender`` with ``(B, C, R)`` colour, ``(B, 1, R)`` depth and opacity.

    """
    density = _check_density(density)
    b = density.shape[0]
    dtype = sampling_dtype(density.dtype)
    dirs = directions.to(dtype)
    dirs = dirs.unsqueeze(0).expand(b, -1, -1) if dirs.ndim == 2 else dirs
    origins = origins_m.to(dtype)
    origins = origins.unsqueeze(1) if origins.ndim == 2 else origins
    if dirs.shape[0] != b or dirs.shape[-1] != 3 or origins.shape[-1] != 3:
        raise ConfigError(f"directions/origins_m: expected (R, 3) or ({b}, R, 3) and ({b}, 3), "
                          f"got {tuple(directions.shape)} and {tuple(origins_m.shape)}")
    t = t_m.to(dtype)
    points = origins.unsqueeze(2) + dirs.unsqueeze(2) * t.unsqueeze(-1)  # (B, R, K, 3)
    sigma = sample_density(density, points, tile_size_m, max_height_m, extend_ground)
    weights, _ = composite(sigma, t)
    depth = (weights * t).sum(-1).unsqueeze(1)
    opacity = weights.sum(-1).unsqueeze(1)
    rgb = None
    if colour is not None:
        colour = _check_colour(colour, b)
        rgb = (sample_tile(colour, points, tile_size_m) * weights.unsqueeze(1)).sum(-1)
    return VolumeRender(rgb, depth, opacity)


def panorama_samples(origins_m: Tensor, tile_size_m: float, max_height_m: float,
                     samples: int) -> Tensor:
    """Sample distances ``(B, 1, K)``: ``t_k = k D / K``, ``D`` the longest in-volume path."""
    samples = check_positive_int(samples, "samples")
    longest = longest_path_m(origins_m, tile_size_m, max_height_m)  # (B,)
    k = torch.arange(1, samples + 1, dtype=longest.dtype, device=longest.device)
    return longest.view(-1, 1, 1) * k / samples


def render_panorama(density: Tensor, colour: Tensor | None, tile_size_m: float, *,
                    max_height_m: float = 8.0, camera_height_m: float | Tensor = 2.0,
                    camera_offset_m: Sequence[float] | Tensor | None = None,
                    pano_hw: tuple[int, int] = (128, 512), vfov_deg: float = 180.0,
                    samples: int = 100, extend_ground: bool = True,
                    directions: Tensor | None = None) -> VolumeRender:
    """Render equirectangular panoramas ``(B, ., H, W)`` from density grids ``(B, N, S, S)``.

    Args:
        density: Densities per metre (slice 0 on the ground; see :func:`add_ground_slice`).
        colour: ``(B, C, Sc, Sc)`` tile (any square size) copied below the samples, or ``None``.
        tile_size_m: Side of the tile's ground square (CVACT 30, CVUSA 55).
        max_height_m: Height of the top slice (paper: 8).
        camera_height_m: Camera height above the ground (paper: 2); a number or one per image.
        camera_offset_m: Camera ``(east, north)`` from the tile centre; ``(2,)`` or ``(B, 2)``.
        pano_hw: Panorama size ``(H, W)``.
        vfov_deg: Vertical field of view (CVACT 180, CVUSA 90), symmetric about the horizon.
        samples: Samples per ray ``K`` (paper: 100).
        extend_ground: Below the ground, keep the lowest slice's density.
        directions: Precomputed ``(H, W, 3)`` ray directions (:class:`PanoramaRenderer` caches
            them); ``None`` computes them from ``pano_hw`` and ``vfov_deg``.

    Returns:
        ``VolumeRender``: colour ``(B, C, H, W)`` (or ``None``), depth and opacity ``(B, 1, H, W)``.

    """
    density = _check_density(density)
    h = check_positive_int(pano_hw[0], "pano_hw height")
    w = check_positive_int(pano_hw[1], "pano_hw width")
    max_height_m = check_finite(max_height_m, "max_height_m", 0.0, None, low_open=True)
    b, dev = density.shape[0], density.device
    if directions is None:
        vfov_deg = check_finite(vfov_deg, "vfov_deg", 0.0, 180.0, low_open=True)
        directions = equirect_ray_directions(h, w, vfov_deg, torch.float64, dev)
    if directions.shape != (h, w, 3):
        raise ConfigError(f"directions: expected shape ({h}, {w}, 3), got "
                          f"{tuple(directions.shape)}")
    origins = camera_origins(b, tile_size_m, camera_height_m, camera_offset_m, dev)
    t = panorama_samples(origins, tile_size_m, max_height_m, samples)
    out = render_rays(density, origins, directions.reshape(-1, 3), t, tile_size_m,
                      max_height_m, colour, extend_ground)
    rgb = None if out.colour is None else out.colour.reshape(b, -1, h, w)
    return VolumeRender(rgb, out.depth.reshape(b, 1, h, w), out.opacity.reshape(b, 1, h, w))


def render_satellite_depth(density: Tensor, tile_size_m: float, max_height_m: float = 8.0,
                           samples: int = 100, extend_ground: bool = True) -> VolumeRender:
    """Top-down "satellite depth" (paper Fig. 6b): vertical rays from the volume's top.

    One ray per density cell, from ``(x, y, max_height_m)`` straight down, samples at
    ``t_k = k * max_height_m / K``. ``max_height_m - depth`` is then the expected surface height.

    Returns:
        ``VolumeRender`` without colour: depth (metres below the top) and opacity ``(B, 1, S, S)``.

    """
    density = _check_density(density)
    max_height_m = check_finite(max_height_m, "max_height_m", 0.0, None, low_open=True)
    tile_size_m = check_finite(tile_size_m, "tile_size_m", 0.0, None, low_open=True)
    samples = check_positive_int(samples, "samples")
    b, _, s, _ = density.shape
    dev = density.device
    centre = (torch.arange(s, dtype=torch.float64, device=dev) + 0.5) * (tile_size_m / s)
    yy, xx = torch.meshgrid(tile_size_m / 2 - centre, centre - tile_size_m / 2, indexing="ij")
    origins = torch.stack([xx, yy, torch.full_like(xx, max_height_m)], -1).reshape(1, -1, 3)
    down = torch.tensor([[0.0, 0.0, -1.0]], dtype=torch.float64, device=dev)
    k = torch.arange(1, samples + 1, dtype=torch.float64, device=dev)
    t = (k * (max_height_m / samples)).view(1, 1, -1).expand(b, 1, -1)
    out = render_rays(density, origins.expand(b, -1, -1), down, t, tile_size_m, max_height_m,
                      None, extend_ground)
    return VolumeRender(None, out.depth.reshape(b, 1, s, s), out.opacity.reshape(b, 1, s, s))


class PanoramaRenderer(nn.Module):
    """:func:`render_panorama` with fixed hyper-parameters and cached ray directions.

    Args:
        tile_size_m: Side of the tile's ground square.
        pano_hw: Panorama size ``(H, W)``.
        vfov_deg: Vertical field of view.
        max_height_m: Height of the top slice.
        camera_height_m: Default camera height (overridable per call).
        samples: Samples per ray.
        extend_ground: Below the ground, keep the lowest slice's density.

    """

    directions: Tensor

    def __init__(self, tile_size_m: float, pano_hw: tuple[int, int] = (128, 512),
                 vfov_deg: float = 180.0, max_height_m: float = 8.0,
                 camera_height_m: float = 2.0, samples: int = 100,
                 extend_ground: bool = True) -> None:
        super().__init__()
        self.tile_size_m = check_finite(tile_size_m, "tile_size_m", 0.0, None, low_open=True)
        self.pano_hw = (check_positive_int(pano_hw[0], "pano_hw height"),
                        check_positive_int(pano_hw[1], "pano_hw width"))
        self.vfov_deg = check_finite(vfov_deg, "vfov_deg", 0.0, 180.0, low_open=True)
        self.max_height_m = check_finite(max_height_m, "max_height_m", 0.0, None, low_open=True)
        self.camera_height_m = check_finite(camera_height_m, "camera_height_m", 0.0, None)
        self.samples = check_positive_int(samples, "samples")
        self.extend_ground = bool(extend_ground)
        # float64 directions, not saved in checkpoints (a function of the hyper-parameters).
        self.register_buffer("directions", equirect_ray_directions(*self.pano_hw, self.vfov_deg,
                                                                   torch.float64),
                             persistent=False)

    def forward(self, density: Tensor, colour: Tensor | None = None,
                camera_height_m: float | Tensor | None = None,
                camera_offset_m: Sequence[float] | Tensor | None = None) -> VolumeRender:
        """Render ``(B, N, S, S)`` densities (and a ``(B, C, Sc, Sc)`` tile) as panoramas."""
        height = self.camera_height_m if camera_height_m is None else camera_height_m
        directions = self.directions.to(density.device)  # .to(dtype) would lose float64 rays
        return render_panorama(density, colour, self.tile_size_m,
                               max_height_m=self.max_height_m, camera_height_m=height,
                               camera_offset_m=camera_offset_m, pano_hw=self.pano_hw,
                               samples=self.samples, extend_ground=self.extend_ground,
                               directions=directions)

    def extra_repr(self) -> str:
        """Hyper-parameters shown by ``print(module)``."""
        return (f"tile_size_m={self.tile_size_m}, pano_hw={self.pano_hw}, "
                f"vfov_deg={self.vfov_deg}, max_height_m={self.max_height_m}, "
                f"camera_height_m={self.camera_height_m}, samples={self.samples}")


def slice_heights_m(slices: int, max_height_m: float) -> Tensor:
    """Height ``(N,)`` of each density slice: ``k * max_height_m / (N - 1)`` (float64)."""
    slices = check_positive_int(slices, "slices")
    if slices < 2:
        raise ConfigError(f"slices: need at least 2, got {slices}")
    return torch.arange(slices, dtype=torch.float64) * (max_height_m / (slices - 1))


__all__ = [
    "GROUND_DENSITY",
    "PanoramaRenderer",
    "VolumeRender",
    "add_ground_slice",
    "camera_origins",
    "composite",
    "longest_path_m",
    "panorama_samples",
    "render_panorama",
    "render_rays",
    "render_satellite_depth",
    "sample_density",
    "sample_tile",
    "slice_heights_m",
]
