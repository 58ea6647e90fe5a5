"""DEM rendering speed: hierarchical max-mipmap marching vs a brute-force fixed-step reference.

Views of the RMNP DEM (233 m cells, 36 x 44 km) from 1.7 m above the ground, 60 deg FOV, level,
at 500x500 and 256x256 pixels. crossview's renderer (:func:`crossview.dem.cast_depth`) is timed
on whole views; the reference (:func:`crossview.geometry.heightfield.cast_heightfield_reference`:
every ray sampled every eighth of a cell, then bisection) is timed on every ``stride``-th row of
the same views and scaled to whole views, and the depths of those rows are compared. CPU timings
use one torch thread (what each ``dem make`` worker uses). Also: database views per second with
all three modalities (depth, silhouettes, segmentation) and query photos per second.

    python benchmarks/bench_dem.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from crossview.dem import Camera, PhotoStyle, RenderConfig, cast_depth, load_dem, load_texture
from crossview.dem.camera import view_rays
from crossview.dem.render import render_views
from crossview.geometry.heightfield import cast_heightfield_reference, curvature_per_m

REPO = Path(__file__).resolve().parents[1]
# Local (x, y) metres and yaw of the benchmark views: valleys and slopes facing the high peaks.
POSES = [(13000.0, -19000.0, -37.0), (-3000.0, -2000.0, 60.0), (5000.0, 8000.0, 200.0),
         (-9000.0, 12000.0, 120.0)]


def dem_dir() -> Path:
    """``../shared/data/dem`` next to the repository (or next to one of its ancestors)."""
    for base in REPO.parents:
        folder = base / "shared" / "data" / "dem"
        if (folder / "rmnp-dem.tif").is_file():
            return folder
    raise SystemExit(f"bench_dem: RMNP DEM not found (expected {REPO.parent}/shared/data/dem)")


def _timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def _agreement(fast: torch.Tensor, ref: torch.Tensor) -> dict:
    both = torch.isfinite(fast) & torch.isfinite(ref)
    rel = ((fast - ref).abs() / ref)[both]
    return {
        "sky_terrain_agree": round(float((torch.isfinite(fast) == torch.isfinite(ref))
                                         .float().mean()), 5),
        "median_rel_depth_error": float(f"{float(rel.median()):.3g}") if rel.numel() else None,
        "p99_rel_depth_error": float(f"{float(rel.quantile(0.99)):.3g}") if rel.numel() else None,
        "within_1pct": round(float((rel <= 0.01).float().mean()), 5) if rel.numel() else None,
    }


def _size(dem, cams, size: int, stride: int, device: torch.device) -> dict:
    cfg = RenderConfig()
    origins, dirs = view_rays(dem, cams, size, size, device)
    cast_depth(dem, origins[:1], dirs[:1, :8, :8].contiguous())   # warm-up: pyramid, allocator
    t_fast, fast = _timed(lambda: cast_depth(dem, origins, dirs, cfg), device)
    rows = dirs[:, ::stride]                             # every stride-th row of every view
    ray_o = origins.repeat_interleave(rows.shape[1] * size, dim=0)
    ray_d = rows.reshape(-1, 3)
    t_ref, ref = _timed(lambda: cast_heightfield_reference(
        dem.height.to(device), dem.grid, ray_o, ray_d, curvature_per_m(cfg.refraction),
        step_m=dem.cell_m / 8, max_range_m=60_000.0), device)
    per_view_ref = t_ref * (size * size) / (ray_d.shape[0] / len(cams))
    n = len(cams)
    return {
        "views": n, "fast_views_per_s": round(n / t_fast, 3),
        "reference_views_per_s": round(1.0 / per_view_ref, 4),
        "speedup": round(per_view_ref / (t_fast / n), 1),
        "reference_rows_stride": stride,
        **_agreement(fast[:, ::stride].reshape(-1).cpu(), ref.cpu()),
    }


def _products(dem, texture, cams, device: torch.device) -> dict:
    """Database views (3 modalities, 500 px) and query photos (375x500) per second."""
    t_db, _ = _timed(lambda: render_views(dem, cams, 500, 500, texture=texture, device=device),
                     device)
    styles = [PhotoStyle()] * len(cams)
    t_ph, _ = _timed(lambda: render_views(dem, cams, 375, 500, ("photo",), texture, None, styles,
                                          list(range(len(cams))), device), device)
    return {"db_views_500_per_s": round(len(cams) / t_db, 3),
            "photos_375x500_per_s": round(len(cams) / t_ph, 3)}


def run(quick: bool = False) -> dict:
    """Measure views/s of both ray casters (CPU, and CUDA when present) and their agreement."""
    folder = dem_dir()
    dem = load_dem(folder / "rmnp-dem.tif")
    texture = load_texture(folder / "rmnp-rgb.tif", dem)
    poses = POSES[:1] if quick else POSES
    cams = []
    for x, y, yaw in poses:
        lat, lon = (float(v) for v in dem.to_latlon(x, y))
        cams.append(Camera(lat, lon, yaw_deg=yaw))
    strides = {500: 32, 256: 16} if quick else {500: 8, 256: 4}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cpu = torch.device("cpu")
        result: dict = {"dem": "rmnp-dem.tif (233 m cells)", "fov_deg": 60, "quick": quick,
                        "cpu_threads": 1}
        for size, stride in strides.items():
            result[f"cpu_{size}"] = _size(dem, cams, size, stride, cpu)
        result["cpu_products"] = _products(dem, texture, cams, cpu)
    finally:
        torch.set_num_threads(threads)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        for size, stride in strides.items():
            result[f"cuda_{size}"] = _size(dem, cams * 4, size, stride, gpu)
        result["cuda_products"] = _products(dem, texture, cams * 4, gpu)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one view per size, sparser rows")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))
