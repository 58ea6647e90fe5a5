"""Plain per-ray NumPy reference of :mod:`crossview.geometry.volume` (tests and benchmarks only).

Written independently of the torch code: explicit loops over rays and samples, trilinear
interpolation by hand from the conventions in the volume module's docstring. Slow by design.
"""

from __future__ import annotations

import math

import numpy as np


def _trilinear(density: np.ndarray, x: float, y: float, z: float, tile_size_m: float,
               max_height_m: float, extend_ground: bool) -> float:
    """Density of one ``(N, S, S)`` grid at one point (0 outside the volume)."""
    n, s, _ = density.shape
    half = tile_size_m / 2.0
    if abs(x) > half or abs(y) > half or z > max_height_m or (z < 0 and not extend_ground):
        return 0.0
    col = min(max((x + half) / tile_size_m * s - 0.5, 0.0), s - 1.0)
    row = min(max((half - y) / tile_size_m * s - 0.5, 0.0), s - 1.0)
    lev = min(max(z / max_height_m * (n - 1), 0.0), n - 1.0)
    c0, r0, k0 = min(int(col), s - 2), min(int(row), s - 2), min(int(lev), n - 2)
    fc, fr, fk = col - c0, row - r0, lev - k0
    value = 0.0
    for dk, wk in ((0, 1 - fk), (1, fk)):
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                value += wk * wr * wc * float(density[k0 + dk, r0 + dr, c0 + dc])
    return value


def _bilinear(tile: np.ndarray, x: float, y: float, tile_size_m: float) -> np.ndarray:
    """Colour ``(C,)`` of a ``(C, S, S)`` tile below a point (edge-clamped)."""
    _, s, _ = tile.shape
    half = tile_size_m / 2.0
    col = min(max((x + half) / tile_size_m * s - 0.5, 0.0), s - 1.0)
    row = min(max((half - y) / tile_size_m * s - 0.5, 0.0), s - 1.0)
    c0, r0 = min(int(col), s - 2), min(int(row), s - 2)
    fc, fr = col - c0, row - r0
    return ((1 - fr) * (1 - fc) * tile[:, r0, c0] + (1 - fr) * fc * tile[:, r0, c0 + 1]
            + fr * (1 - fc) * tile[:, r0 + 1, c0] + fr * fc * tile[:, r0 + 1, c0 + 1])


def render_ray(density: np.ndarray, tile: np.ndarray | None, origin: np.ndarray,
               direction: np.ndarray, t: np.ndarray, tile_size_m: float, max_height_m: float,
               extend_ground: bool = True) -> tuple[np.ndarray | None, float, float]:
    """Colour, depth and opacity of one ray: a loop over its samples ``t`` (metres)."""
    transmittance, depth, opacity = 1.0, 0.0, 0.0
    colour = None if tile is None else np.zeros(tile.shape[0])
    previous = 0.0
    for tk in t:
        x, y, z = origin + tk * direction
        sigma = _trilinear(density, x, y, z, tile_size_m, max_height_m, extend_ground)
        alpha = 1.0 - math.exp(-sigma * (tk - previous))
        weight = transmittance * alpha
        depth += weight * tk
        opacity += weight
        if colour is not None and tile is not None:
            colour += weight * _bilinear(tile, x, y, tile_size_m)
        transmittance *= 1.0 - alpha
        previous = tk
    return colour, depth, opacity


def panorama_direction(row: int, col: int, height: int, width: int, vfov_deg: float) -> np.ndarray:
    """Unit (east, north, up) direction of panorama pixel ``(row, col)`` (DESIGN.md convention)."""
    bearing = math.radians(180.0 + 360.0 * col / width)
    elevation = math.radians(vfov_deg / 2.0 - vfov_deg * (row + 0.5) / height)
    return np.array([math.cos(elevation) * math.sin(bearing),
                     math.cos(elevation) * math.cos(bearing), math.sin(elevation)])


def longest_path(origin: np.ndarray, tile_size_m: float, max_height_m: float) -> float:
    """Distance from ``origin`` to the farthest corner of the volume box."""
    half = tile_size_m / 2.0
    corners = [np.array([sx * half, sy * half, sz]) for sx in (-1, 1) for sy in (-1, 1)
               for sz in (0.0, max_height_m)]
    return max(float(np.linalg.norm(c - origin)) for c in corners)
