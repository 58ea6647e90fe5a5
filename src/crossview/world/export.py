"""Export a synthetic region as georeferenced orthophoto and DSM GeoTIFFs (rasterio).

Lets tiling and indexing of a "real" raster be exercised on data with known ground truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossview.io import atomic_path
from crossview.progress import track
from crossview.world.appearance import aerial_condition
from crossview.world.render import render_aerial
from crossview.world.scene import Scene


def export_geotiff(scene: Scene, epsg: int, easting0: float, northing0: float, out_dir: str | Path,
                   prefix: str = "world", chunk_px: int = 512, seed: int = 0) -> tuple[Path, Path]:
    """Write ``<prefix>_orthophoto.tif`` (RGB uint8) and ``<prefix>_dsm.tif`` (float32, metres).

    Pixels are the scene cells (north-up, UTM ``epsg``); the orthophoto is rendered chunk by
    chunk under one aerial capture condition.
    """
    import rasterio
    from rasterio.transform import from_origin

    g = scene.grid
    n = g.rows
    rgb = np.zeros((3, n, n), np.uint8)
    dsm = np.zeros((n, n), np.float32)
    cond = aerial_condition(np.random.default_rng([seed, 0x71FF]))
    starts = [(r, c) for r in range(0, n, chunk_px) for c in range(0, n, chunk_px)]
    for r, c in track(starts, "world: GeoTIFF"):
        # Chunk centre so that render_aerial's pixel k maps to cell r + k exactly.
        cx = g.x_min + (c + chunk_px / 2 + 0.5) * g.cell_m
        cy = g.y_max - (r + chunk_px / 2 + 0.5) * g.cell_m
        res = render_aerial(scene, cx, cy, chunk_px, chunk_px * g.cell_m, cond,
                            seed=seed + r * n + c)
        h, w = min(chunk_px, n - r), min(chunk_px, n - c)
        rgb[:, r:r + h, c:c + w] = (res["rgb"][:, :h, :w].numpy() * 255).round().astype(np.uint8)
        dsm[r:r + h, c:c + w] = res["dsm"][:h, :w].numpy()
    transform = from_origin(easting0 + g.x_min, northing0 + g.y_max, g.cell_m, g.cell_m)
    out_dir = Path(out_dir)
    paths = (out_dir / f"{prefix}_orthophoto.tif", out_dir / f"{prefix}_dsm.tif")
    layers: list[np.ndarray] = [rgb, dsm[None]]
    for path, data in zip(paths, layers, strict=True):
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", driver="GTiff", width=n, height=n, count=data.shape[0],
                               dtype=data.dtype.name, crs=f"EPSG:{epsg}", transform=transform,
                               compress="deflate") as dst:
                dst.write(data)
    return paths
