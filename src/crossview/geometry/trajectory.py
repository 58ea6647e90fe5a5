"""Camera paths inside an aerial tile, for renders along a trajectory (Sat2Density videos).

A path is a polyline of waypoints ``(east, north)`` in metres from the tile centre (the frame of
:mod:`crossview.geometry.volume`), resampled to ``frames`` positions evenly spaced along its
length. Waypoints may also be given in the tile image's pixels: ``(x, y)`` = (column, row) with
``(0, 0)`` the top-left corner of the image and ``(W, H)`` its bottom-right corner (row 0 north),
so ``east = x / W * L - L / 2`` and ``north = L / 2 - y / H * L`` for a tile of side ``L`` metres.

Presets: ``diagonal`` runs from the south-west to the north-east corner, ``circle`` goes once
round the centre clockwise (as seen from above) starting north; both stay ``margin`` (a fraction
of the half side) inside the tile's edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from crossview.errors import ConfigError

PRESETS = ("diagonal", "circle")
Units = Literal["m", "px"]


def parse_waypoints(text: str) -> list[tuple[float, float]]:
    """``"x1,y1;x2,y2;..."`` -> ``[(x1, y1), ...]`` (at least one point, finite numbers)."""
    points = []
    for item in (t for t in text.replace(" ", "").split(";") if t):
        parts = item.split(",")
        try:
            x, y = (float(v) for v in parts)
        except ValueError:
            raise ConfigError(f"trajectory: expected waypoints 'x,y;x,y;...', got {text!r}"
                              ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ConfigError(f"trajectory: waypoint {item!r} is not finite")
        points.append((x, y))
    if not points:
        raise ConfigError(f"trajectory: expected a preset {list(PRESETS)} or waypoints "
                          f"'x,y;x,y;...', got {text!r}")
    return points


def pixels_to_metres(points_px: np.ndarray, tile_hw: tuple[int, int],
                     tile_size_m: float) -> np.ndarray:
    """Tile-image pixel positions ``(N, 2)`` ``(x, y)`` -> ``(east, north)`` metres."""
    h, w = tile_hw
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    east = pts[:, 0] / w * tile_size_m - tile_size_m / 2.0
    north = tile_size_m / 2.0 - pts[:, 1] / h * tile_size_m
    return np.stack([east, north], axis=1)


def metres_to_pixels(points_m: np.ndarray, tile_hw: tuple[int, int],
                     tile_size_m: float) -> np.ndarray:
    """Inverse of :func:`pixels_to_metres`."""
    h, w = tile_hw
    pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
    x = (pts[:, 0] + tile_size_m / 2.0) / tile_size_m * w
    y = (tile_size_m / 2.0 - pts[:, 1]) / tile_size_m * h
    return np.stack([x, y], axis=1)


def resample_polyline(points: np.ndarray, frames: int) -> np.ndarray:
    """``frames`` positions ``(frames, 2)`` evenly spaced by arc length along a polyline.

    The first and last positions are the first and last waypoints; a single waypoint (or a
    polyline of zero length) gives that point ``frames`` times.
    """
    if frames < 1:
        raise ConfigError(f"frames: expected >= 1, got {frames}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    total = float(seg.sum())
    if len(pts) == 1 or total == 0.0:
        return np.repeat(pts[:1], frames, axis=0)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0.0, total, frames) if frames > 1 else np.zeros(1)
    return np.stack([np.interp(s, cum, pts[:, 0]), np.interp(s, cum, pts[:, 1])], axis=1)


def camera_path(path: str | Sequence[tuple[float, float]], tile_size_m: float, frames: int,
                units: Units = "m", tile_hw: tuple[int, int] | None = None,
                margin: float = 0.2) -> np.ndarray:
    """Camera positions ``(frames, 2)`` (east, north metres from the tile centre) along a path.

    Args:
        path: A preset (``diagonal``, ``circle``), waypoints as text (``"x,y;x,y"``) or pairs.
        tile_size_m: Side of the tile's ground square.
        frames: Number of positions.
        units: Waypoints in metres (``m``: east, north from the centre) or tile pixels (``px``).
        tile_hw: Tile image size ``(H, W)`` in pixels (needed for ``px``).
        margin: Presets keep this fraction of the half side from the tile's edge.

    Raises:
        ConfigError: Unknown preset, malformed waypoints, or a waypoint outside the tile.

    """
    half = tile_size_m / 2.0
    reach = half * (1.0 - margin)
    if isinstance(path, str) and path in PRESETS:
        if path == "diagonal":
            return resample_polyline(np.array([[-reach, -reach], [reach, reach]]), frames)
        angle = 2 * np.pi * np.arange(frames) / frames  # clockwise from north, not closed
        return np.stack([reach * np.sin(angle), reach * np.cos(angle)], axis=1)
    points = np.asarray(parse_waypoints(path) if isinstance(path, str) else path,
                        dtype=np.float64).reshape(-1, 2)
    if units == "px":
        if tile_hw is None:
            raise ConfigError("trajectory: pixel waypoints need the tile's size")
        points = pixels_to_metres(points, tile_hw, tile_size_m)
    elif units != "m":
        raise ConfigError(f"trajectory units: expected 'm' or 'px', got {units!r}")
    outside = np.abs(points).max(axis=1) > half + 1e-9
    if outside.any():
        k = int(np.argmax(outside))
        raise ConfigError(f"trajectory: waypoint {k + 1} is outside the tile (east, north = "
                          f"{points[k, 0]:.2f}, {points[k, 1]:.2f} m; the tile spans +-{half} m)")
    return resample_polyline(points, frames)


__all__ = ["PRESETS", "camera_path", "metres_to_pixels", "parse_waypoints", "pixels_to_metres",
           "resample_polyline"]
