"""Polar transform of north-up aerial tiles into panorama-aligned images, and its inverse.

Convention: :mod:`crossview.conventions` ("Polar transform"), SAFA / CDE eq. 1::

    r = (S/2)/H * (H-1-i),  theta = 2*pi*j/W,  row = S/2 + r cos(theta),  col = S/2 - r sin(theta)

Sampling grids depend only on sizes, device and dtype, so they are computed once and cached.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossview.geometry._checks import check_image_batch, check_positive_int, sampling_dtype

_GridKey = tuple[str, int, int, int, str, torch.dtype]
_GRID_CACHE: OrderedDict[_GridKey, Tensor] = OrderedDict()
_GRID_CACHE_MAX = 32


def polar_sampling_coords(size: int, height: int, width: int,
                          dtype: torch.dtype = torch.float64,
                          device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Tile ``(row, col)`` pixel coordinates sampled by each output pixel, each ``(H, W)``.

    ``r = (S/2)/H * (H-1-i)``, ``theta = 2*pi*j/W``, ``row = S/2 + r cos(theta)``,
    ``col = S/2 - r sin(theta)`` (pixel ``k`` of the tile sits at coordinate ``k``).
    """
    size, height, width = _check_sizes(size, height, width)
    i = torch.arange(height, dtype=dtype, device=device).view(-1, 1)
    j = torch.arange(width, dtype=dtype, device=device).view(1, -1)
    radius = (size / 2.0) / height * (height - 1 - i)
    theta = 2.0 * math.pi * j / width
    row = size / 2.0 + radius * torch.cos(theta)
    col = size / 2.0 - radius * torch.sin(theta)
    return row, col


def overhead_sampling_coords(size: int, height: int, width: int,
                             dtype: torch.dtype = torch.float64,
                             device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Panorama ``(i, j)`` coordinates of each tile pixel under the inverse mapping, ``(S, S)``.

    Inverts :func:`polar_sampling_coords`: ``r = hypot(row - S/2, col - S/2)``,
    ``theta = atan2(S/2 - col, row - S/2) mod 2*pi``, ``i = H-1 - r*H/(S/2)``,
    ``j = theta*W/(2*pi)`` in ``[0, W)``. ``i < 0`` means the pixel lies beyond the far ring.
    """
    size, height, width = _check_sizes(size, height, width)
    k = torch.arange(size, dtype=dtype, device=device)
    d_row = (k - size / 2.0).view(-1, 1).expand(size, size)
    d_col = (k - size / 2.0).view(1, -1).expand(size, size)
    radius = torch.hypot(d_row, d_col)
    theta = torch.remainder(torch.atan2(-d_col, d_row), 2.0 * math.pi)
    i = (height - 1) - radius * height / (size / 2.0)
    j = torch.remainder(theta * width / (2.0 * math.pi), float(width))
    return i, j


def polar_valid_mask(size: int, height: int, width: int,
                     device: torch.device | str = "cpu") -> Tensor:
    """Boolean ``(S, S)`` mask of the tile pixels that :func:`polar_to_overhead` can fill.

    Pixels farther from the centre than the far ring ``r = (S/2)(H-1)/H`` (the tile corners and
    the outermost ring) are not covered by a panorama band.
    """
    i, _ = overhead_sampling_coords(size, height, width, device=device)
    return i >= -1e-9


def _cached(key: _GridKey, build: object) -> Tensor:
    grid = _GRID_CACHE.get(key)
    if grid is None:
        # A grid first built under torch.inference_mode() would be an inference tensor, and a
        # later training step could not save it for backward: always build a normal tensor.
        with torch.inference_mode(False), torch.no_grad():
            grid = build()  # type: ignore[operator]
        if len(_GRID_CACHE) >= _GRID_CACHE_MAX:
            _GRID_CACHE.popitem(last=False)
        _GRID_CACHE[key] = grid
    else:
        _GRID_CACHE.move_to_end(key)
    return grid


def _normalise(coord: Tensor, size: int) -> Tensor:
    """Pixel coordinate (pixel ``k`` centred at ``k``) -> ``grid_sample`` units.

    Used with ``align_corners=False`` (-1/+1 are the outer edges of the first/last pixel), which
    unlike ``align_corners=True`` also works for a single pixel.
    """
    return (2.0 * coord + 1.0) / size - 1.0


def _polar_grid(size: int, height: int, width: int, device: torch.device,
                dtype: torch.dtype) -> Tensor:
    """``grid_sample`` grid ``(1, H, W, 2)`` for the polar transform, cached per key."""

    def build() -> Tensor:
        row, col = polar_sampling_coords(size, height, width, dtype=torch.float64)
        grid = torch.stack([_normalise(col, size), _normalise(row, size)], dim=-1).unsqueeze(0)
        return grid.to(device=device, dtype=dtype)

    return _cached(("polar", size, height, width, str(device), dtype), build)


def _overhead_grid(size: int, height: int, width: int, device: torch.device,
                   dtype: torch.dtype) -> Tensor:
    """``grid_sample`` grid ``(1, S, S, 2)`` into a panorama padded to ``W + 1`` columns."""

    def build() -> Tensor:
        i, j = overhead_sampling_coords(size, height, width)
        # The panorama is padded with a copy of column 0 at index W, so j in [W-1, W) blends
        # column W-1 with column 0 (horizontal wrap-around).
        x = _normalise(j, width + 1)
        y = _normalise(i.clamp(min=0.0), height)
        y = torch.where(i >= -1e-9, y, torch.full_like(y, -3.0))  # beyond the far ring -> 0
        return torch.stack([x, y], dim=-1).unsqueeze(0).to(device=device, dtype=dtype)

    return _cached(("overhead", size, height, width, str(device), dtype), build)


def polar_transform(tiles: Tensor, height: int, width: int) -> Tensor:
    """Polar-transform square north-up tiles ``(N, C, S, S)`` into ``(N, C, H, W)``.

    Bilinear; taps outside the tile count as 0; differentiable w.r.t. ``tiles``. Output row 0 is
    the far ring, the last row the tile centre; column ``W/2`` looks north. Sampling positions
    carry the dtype's precision (float32: about ``S * 3e-8`` pixels, so differences from the exact
    formula of up to ~1e-5 on sharp 750 px tiles); pass float64 tiles for reference outputs.

    Raises:
        ConfigError: ``tiles`` is not a floating-point ``(N, C, S, S)`` tensor, or a size is not
            a positive integer.

    """
    check_image_batch(tiles, "tiles", square=True)
    size, height, width = _check_sizes(tiles.shape[-1], height, width)
    n, dtype = tiles.shape[0], sampling_dtype(tiles.dtype)
    grid = _polar_grid(size, height, width, tiles.device, dtype).expand(n, -1, -1, -1)
    out = F.grid_sample(tiles.to(dtype), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.to(tiles.dtype)


def polar_to_overhead(panorama_band: Tensor, size: int) -> Tensor:
    """Approximate inverse of :func:`polar_transform`: ``(N, C, H, W)`` band -> ``(N, C, S, S)``.

    Every tile pixel samples the band at the inverse polar coordinates (bilinear, wrapping around
    horizontally). Pixels beyond the far ring (see :func:`polar_valid_mask`) are 0. The inverse is
    approximate because the forward transform under-samples the tile far from the centre and
    over-samples it near the centre.

    Raises:
        ConfigError: ``panorama_band`` is not a floating-point ``(N, C, H, W)`` tensor, or
            ``size`` is not a positive integer.

    """
    check_image_batch(panorama_band, "panorama_band")
    size, height, width = _check_sizes(size, *panorama_band.shape[-2:])
    n, dtype = panorama_band.shape[0], sampling_dtype(panorama_band.dtype)
    padded = torch.cat([panorama_band, panorama_band[..., :1]], dim=-1).to(dtype)
    grid = _overhead_grid(size, height, width, panorama_band.device, dtype)
    out = F.grid_sample(padded, grid.expand(n, -1, -1, -1), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    return out.to(panorama_band.dtype)


class PolarTransform(nn.Module):
    """Module form of :func:`polar_transform` holding the output size ``(height, width)``."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height = check_positive_int(height, "height")
        self.width = check_positive_int(width, "width")

    def forward(self, tiles: Tensor) -> Tensor:
        """Polar-transform ``(N, C, S, S)`` tiles into ``(N, C, height, width)``."""
        return polar_transform(tiles, self.height, self.width)

    def extra_repr(self) -> str:
        """Show the output size in ``repr``."""
        return f"height={self.height}, width={self.width}"


class PolarToOverhead(nn.Module):
    """Module form of :func:`polar_to_overhead` holding the tile size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = check_positive_int(size, "size")

    def forward(self, panorama_band: Tensor) -> Tensor:
        """Map a ``(N, C, H, W)`` band back to ``(N, C, size, size)`` overhead tiles."""
        return polar_to_overhead(panorama_band, self.size)

    def extra_repr(self) -> str:
        """Show the tile size in ``repr``."""
        return f"size={self.size}"


def _check_sizes(size: object, height: object, width: object) -> tuple[int, int, int]:
    return (check_positive_int(size, "tile size"), check_positive_int(height, "height"),
            check_positive_int(width, "width"))
