"""``make_world``: render a synthetic world and write it in an official layout.

Pipeline: one scene per region (VIGOR: per city) -> camera positions on streets -> jobs (one
per panorama, one per aerial tile) -> rendered and written atomically, skipped when all their
files exist (resumable) -> layout metadata and ground truth tables written last. Every job
seeds its own generators from ``(seed, region, kind, index)``, so a resumed run writes the
same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crossview.io import save_image, write_bytes_atomic, write_json_atomic, write_text_atomic
from crossview.progress import track
from crossview.world import materials as M
from crossview.world.appearance import aerial_condition, ground_condition
from crossview.world.config import VIGOR_CITY_ORIGINS, WorldConfig
from crossview.world.geo import LocalFrame
from crossview.world.layouts import plan_layout
from crossview.world.render import render_aerial, render_panorama
from crossview.world.scene import Scene, SceneParams, generate_scene

logger = logging.getLogger(__name__)
GT_DIR = "crossview_gt"


@dataclasses.dataclass
class Region:
    """One scene with its georeferencing (a VIGOR city, or the whole CVUSA/CVACT world)."""

    name: str
    index: int
    scene: Scene
    frame: LocalFrame


@dataclasses.dataclass
class TileJob:
    """An aerial tile to render."""

    tile_id: str
    region: int
    x: float
    y: float
    path: str
    """Relative to the world root."""


@dataclasses.dataclass
class GroundJob:
    """A ground panorama to render, with its reference tiles."""

    id: str
    region: int
    x: float
    y: float
    split: str
    path: str
    tiles: list[int]
    """Indices into the tile job list: positive first, then semi-positives."""
    annotation: str | None = None
    """CVUSA only: path of the semantic annotation PNG."""


def make_world(out: str | Path, layout: str = "cvusa", pairs: int = 100, seed: int = 0,
               **size_options: Any) -> Path:
    """Render a synthetic world into ``out`` in the official ``layout``; returns ``out``.

    ``size_options`` are any :class:`WorldConfig` fields (``tile_px=64``,
    ``pano_hw=(32, 128)``, ``region_m=300``, ...). Existing complete files are kept (resume).
    """
    cfg = WorldConfig.from_dict({**size_options, "layout": layout, "pairs": pairs, "seed": seed})
    return build_world(cfg, Path(out))


def build_world(cfg: WorldConfig, out: Path, geotiff: bool = False) -> Path:
    """Render and write the world described by ``cfg`` under ``out``.

    With ``geotiff``, each region is also exported as ``crossview_gt/<region>_orthophoto.tif``
    and ``<region>_dsm.tif`` (UTM, one pixel per scene cell).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    regions = _regions(cfg)
    plan = plan_layout(cfg, regions)
    tiles: list[TileJob] = plan["tiles"]
    grounds: list[GroundJob] = plan["grounds"]
    for i, tile in enumerate(track(tiles, "world: aerial tiles")):
        _render_tile(cfg, out, regions[tile.region], tile, i)
    for i, job in enumerate(track(grounds, "world: panoramas")):
        _render_ground(cfg, out, regions[job.region], job, i)
    plan["write_meta"](out)
    _write_truth(cfg, out, regions, tiles, grounds)
    if geotiff:
        from crossview.world.export import export_geotiff

        for r in regions:
            export_geotiff(r.scene, r.frame.epsg, r.frame.easting0, r.frame.northing0,
                           out / GT_DIR, prefix=r.name, seed=cfg.seed)
    logger.info("world: %d panoramas and %d tiles in %s (%s layout)", len(grounds), len(tiles),
                out, cfg.layout)
    return out


def _regions(cfg: WorldConfig) -> list[Region]:
    params = SceneParams(cfg.region_m, cfg.cell_m, cfg.relief_m, cfg.building_density,
                         cfg.tree_density, cfg.transient_density)
    if cfg.layout == "vigor":
        names = list(cfg.cities)
        origins = [VIGOR_CITY_ORIGINS[c] for c in names]
    else:
        names, origins = ["world"], [(cfg.origin_lat, cfg.origin_lon)]
    return [Region(name, i, generate_scene(params, cfg.seed * 1000 + i), LocalFrame.at(*origin))
            for i, (name, origin) in enumerate(zip(names, origins, strict=True))]


def sample_cameras(scene: Scene, count: int, spacing_m: float, margin_m: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``(count, 2)`` street-level camera positions (road or sidewalk cells) ``spacing_m`` apart.

    The spacing is relaxed by 30 % at a time when the region cannot hold ``count`` cameras.
    """
    g = scene.grid
    street = np.isin(scene.material, (M.ASPHALT, M.MARKING, M.PAVEMENT)) & (scene.solid <= scene.ground + 0.01)
    rows, cols = np.nonzero(street)
    x = g.x_min + (cols + 0.5) * g.cell_m
    y = g.y_max - (rows + 0.5) * g.cell_m
    half = g.cols * g.cell_m / 2 - margin_m
    keep = (np.abs(x) < half) & (np.abs(y) < half)
    cand = np.stack([x[keep], y[keep]], 1)
    if len(cand) < count:
        from crossview.errors import ConfigError
        raise ConfigError(f"world: region_m={g.cols * g.cell_m:.0f} has room for only {len(cand)} "
                          f"street cameras, {count} requested; enlarge region_m")
    order = rng.permutation(len(cand))
    while True:
        chosen = _poisson_pick(cand[order], count, spacing_m)
        if len(chosen) == count or spacing_m < g.cell_m:
            return np.asarray(chosen[:count], np.float64)
        spacing_m *= 0.7


def _poisson_pick(cand: np.ndarray, count: int, spacing: float) -> list[np.ndarray]:
    """Greedy dart throwing over shuffled candidates with a hash grid of cell ``spacing``."""
    chosen: list[np.ndarray] = []
    buckets: dict[tuple[int, int], list[int]] = {}
    for p in cand:
        key = (int(p[0] // spacing), int(p[1] // spacing))
        near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                for j in buckets.get((key[0] + dx, key[1] + dy), ())]
        if any(np.hypot(*(chosen[j] - p)) < spacing for j in near):
            continue
        buckets.setdefault(key, []).append(len(chosen))
        chosen.append(p)
        if len(chosen) == count:
            break
    return chosen


def _gt(out: Path, kind: str, name: str, suffix: str) -> Path:
    return out / GT_DIR / kind / f"{name}{suffix}"


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32))
    write_bytes_atomic(path, buf.getvalue())


def _save_png(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())


def _render_tile(cfg: WorldConfig, out: Path, region: Region, job: TileJob, index: int) -> None:
    files = [out / job.path, _gt(out, "dsm", job.tile_id, ".npy"),
             _gt(out, "tile_semantics", job.tile_id, ".png")]
    if all(f.is_file() for f in files):
        return
    rng = np.random.default_rng([cfg.seed, region.index, 2, index])
    res = render_aerial(region.scene, job.x, job.y, cfg.tile_px, cfg.tile_m, aerial_condition(rng),
                        seed=int(rng.integers(2**31)))
    save_image(res["rgb"], files[0], quality=cfg.jpeg_quality)
    _save_npy(files[1], res["dsm"].numpy())
    _save_png(files[2], res["semantics"].numpy().astype(np.uint8))


def _render_ground(cfg: WorldConfig, out: Path, region: Region, job: GroundJob, index: int) -> None:
    files = [out / job.path, _gt(out, "depth", job.id, ".npy"), _gt(out, "semantics", job.id, ".png"),
             _gt(out, "sky", job.id, ".png")]
    if job.annotation:
        files.append(out / job.annotation)
    if all(f.is_file() for f in files):
        return
    rng = np.random.default_rng([cfg.seed, region.index, 1, index])
    h, w = cfg.pano_shape
    res = render_panorama(region.scene, job.x, job.y, h, w, cfg.vfov_deg, ground_condition(rng),
                          seed=int(rng.integers(2**31)), camera_height_m=cfg.camera_height_m,
                          max_range_m=cfg.max_range_m)
    save_image(res["rgb"], files[0], quality=cfg.jpeg_quality)
    _save_npy(files[1], res["depth"].numpy())
    sem = res["semantics"].numpy().astype(np.uint8)
    _save_png(files[2], sem)
    _save_png(files[3], res["sky"].numpy().astype(np.uint8) * 255)
    if job.annotation:
        _save_png(files[4], M.CLASS_COLOURS[sem])


def _csv(rows: list[list[Any]], header: list[str]) -> str:
    # csv quoting: VIGOR panorama names contain commas.
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_fmt(v) for v in row] for row in rows])
    return buf.getvalue()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.9f}" if abs(value) < 1000 else f"{value:.3f}"
    return str(value)


def _write_truth(cfg: WorldConfig, out: Path, regions: list[Region], tiles: list[TileJob],
                 grounds: list[GroundJob]) -> None:
    """``crossview_gt/samples.csv``, ``tiles.csv`` and ``world.json`` (the resolved config)."""
    gsd = cfg.ground_resolution_m
    sample_rows = []
    for job in grounds:
        frame = regions[job.region].frame
        lat, lon = frame.to_latlon(job.x, job.y)
        e, n = frame.to_utm(job.x, job.y)
        sample_rows.append([job.id, job.split, job.path, tiles[job.tiles[0]].path, lat, lon, e, n,
                            frame.zone_label(lat), 0.0, gsd])
    tile_rows = []
    for tile in tiles:
        frame = regions[tile.region].frame
        lat, lon = frame.to_latlon(tile.x, tile.y)
        e, n = frame.to_utm(tile.x, tile.y)
        tile_rows.append([tile.tile_id, tile.path, lat, lon, e, n, frame.zone_label(lat), gsd])
    write_text_atomic(out / GT_DIR / "samples.csv", _csv(sample_rows, [
        "id", "split", "ground", "aerial", "lat", "lon", "utm_e", "utm_n", "utm_zone", "yaw_deg",
        "ground_resolution_m"]))
    write_text_atomic(out / GT_DIR / "tiles.csv", _csv(tile_rows, [
        "tile_id", "path", "lat", "lon", "utm_e", "utm_n", "utm_zone", "ground_resolution_m"]))
    meta = {"config": cfg.to_dict(), "classes": list(M.CLASS_NAMES),
            "regions": [{"name": r.name, "epsg": r.frame.epsg, "easting0": r.frame.easting0,
                         "northing0": r.frame.northing0, "x_min": r.scene.grid.x_min,
                         "y_max": r.scene.grid.y_max, "cell_m": r.scene.grid.cell_m}
                        for r in regions]}
    write_json_atomic(out / GT_DIR / "world.json", meta)


def load_world_meta(root: str | Path) -> dict[str, Any]:
    """Read the ``world.json`` written with a world (config, classes, region georeferencing)."""
    path = Path(root) / GT_DIR / "world.json"
    if not path.is_file():
        from crossview.errors import InputFileError
        raise InputFileError(path, "not a crossview synthetic world (run `crossview world make`)")
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = ["make_world", "build_world", "sample_cameras", "load_world_meta", "GroundJob", "TileJob",
           "Region"]
