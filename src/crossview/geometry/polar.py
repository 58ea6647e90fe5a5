"""Polar transform of north-up aerial tiles into panorama-aligned images.

Convention: :mod:`crossview.conventions` ("Polar transform"), SAFA / CDE eq. 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_GRID_CACHE: dict[tuple[int, int, int, str, torch.dtype], Tensor] = {}
_GRID_CACHE_MAX = 32


def polar_sampling_coords(size: int, height: int, width: int, dtype: torch.dtype = torch.float64,
                          device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Tile ``(row, col)`` pixel coordinates sampled by each output pixel, each ``(H, W)``.

    ``r = (S/2)/H * (H-1-i)``, ``theta = 2*pi*j/W``, ``row = S/2 + r cos(theta)``,
    ``col = S/2 - r sin(theta)`` (pixel ``k`` of the tile sits at coordinate ``k``).
    """
    _check_sizes(size, height, width)
    i = torch.arange(height, dtype=dtype, device=device).view(-1, 1)
    j = torch.arange(width, dtype=dtype, device=device).view(1, -1)
    radius = (size / 2.0) / height * (height - 1 - i)
    theta = 2.0 * math.pi * j / width
    row = size / 2.0 + radius * torch.cos(theta)
    col = size / 2.0 - radius * torch.sin(theta)
    return row, col


def _polar_grid(size: int, height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``grid_sample`` grid ``(1, H, W, 2)`` for the polar transform, cached per key."""
    key = (size, height, width, str(device), dtype)
    grid = _GRID_CACHE.get(key)
    if grid is None:
        row, col = polar_sampling_coords(size, height, width, dtype=torch.float64)
        # align_corners=True maps -1/+1 to the centres of pixels 0 and S-1, so pixel k <-> k.
        scale = 2.0 / (size - 1) if size > 1 else 0.0
        grid = torch.stack([col * scale - 1.0, row * scale - 1.0], dim=-1).unsqueeze(0)
        grid = grid.to(device=device, dtype=dtype)
        if len(_GRID_CACHE) >= _GRID_CACHE_MAX:
            _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
        _GRID_CACHE[key] = grid
    return grid


def polar_transform(tiles: Tensor, height: int, width: int) -> Tensor:
    """Polar-transform square north-up tiles ``(N, C, S, S)`` into ``(N, C, H, W)``.

    Bilinear; taps outside the tile count as 0; differentiable w.r.t. ``tiles``. Output row 0 is
    the far ring, the last row the tile centre; column ``W/2`` looks north.
    """
    if tiles.ndim != 4:
        raise ValueError(f"tiles: expected shape (N, C, S, S), got {tuple(tiles.shape)}")
    n, _, size_h, size_w = tiles.shape
    if size_h != size_w:
        raise ValueError(f"tiles: aerial tiles must be square, got {size_h}x{size_w} (HxW)")
    _check_sizes(size_h, height, width)
    if not tiles.is_floating_point():
        raise TypeError(f"tiles: expected a floating-point tensor, got {tiles.dtype}")
    grid = _polar_grid(size_h, height, width, tiles.device, tiles.dtype).expand(n, -1, -1, -1)
    return F.grid_sample(tiles, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _check_sizes(size: int, height: int, width: int) -> None:
    for name, value in (("tile size", size), ("height", height), ("width", width)):
        if int(value) != value or value < 1:
            raise ValueError(f"polar transform: {name} must be a positive integer, got {value!r}")
