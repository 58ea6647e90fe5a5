"""Maps drawn from the tiles themselves (no online map service): matplotlib figures in metres."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def local_metres(
    lat: Sequence[float], lon: Sequence[float], origin: tuple[float, float]
) -> np.ndarray:
    """``(N, 2)`` east/north metres of WGS84 points in the UTM zone of ``origin`` (lat, lon)."""
    from pyproj import Transformer

    from crossview.index.tiles import utm_crs_for

    crs, _ = utm_crs_for(*origin)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    e, n = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    e0, n0 = tr.transform(origin[1], origin[0])
    return np.stack([np.atleast_1d(e) - e0, np.atleast_1d(n) - n0], axis=1)


def draw_tiles(
    ax: Any, tiles: Sequence[dict[str, Any]], origin: tuple[float, float], alpha: float = 1.0
) -> None:
    """Draw north-up tile images at their footprint.

    ``tiles`` have path, lat, lon, ground
    resolution (metres/px); footprint = image side x resolution, centred on the tile centre.
    """
    from crossview.io import read_image

    xy = local_metres([t["lat"] for t in tiles], [t["lon"] for t in tiles], origin)
    for tile, (x, y) in zip(tiles, xy, strict=False):
        img = read_image(tile["path"])
        img.thumbnail((128, 128))
        res = float(tile["ground_resolution_m"])
        half = 0.5 * res * read_size(tile)
        if not np.isfinite(half) or half <= 0:
            continue
        ax.imshow(
            np.asarray(img), extent=(x - half, x + half, y - half, y + half), alpha=alpha, zorder=1
        )


def read_size(tile: dict[str, Any]) -> int:
    """Side in pixels of a tile image on disk (header only)."""
    from PIL import Image

    with Image.open(tile["path"]) as img:
        return int(img.width)


def candidates_map(
    candidates: Sequence[dict[str, Any]],
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    truth: tuple[float, float] | None = None,
) -> Any:
    """Figure: candidate tiles placed by their coordinates with rank labels (and prior/truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = (candidates[0]["lat"], candidates[0]["lon"])
    fig, ax = plt.subplots(figsize=(5, 5))
    draw_tiles(ax, candidates, origin, alpha=0.9)
    xy = local_metres([c["lat"] for c in candidates], [c["lon"] for c in candidates], origin)
    for c, (x, y) in zip(candidates, xy, strict=False):
        ax.annotate(
            str(c["rank"]),
            (x, y),
            color="yellow",
            fontsize=12,
            weight="bold",
            ha="center",
            va="center",
            zorder=3,
            bbox=dict(boxstyle="circle", fc="black", alpha=0.6),
        )
    if near is not None and radius_m is not None:
        ((cx, cy),) = local_metres([near[0]], [near[1]], origin)
        ax.add_patch(plt.Circle((cx, cy), radius_m, fill=False, color="cyan", ls="--", zorder=2))
    if truth is not None:
        ((tx, ty),) = local_metres([truth[0]], [truth[1]], origin)
        ax.plot(tx, ty, "r*", ms=16, zorder=4, label="truth")
        ax.legend(loc="upper right")
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.set_aspect("equal")
    ax.autoscale()
    return fig
