"""``make_world``: render a synthetic world and write it in an official layout.

Pipeline: one scene per region (VIGOR: per city) -> camera positions on streets -> jobs (one
per panorama, one per aerial tile) -> rendered and written atomically, skipped when all their
files exist (resumable) -> layout metadata and ground truth tables written last. Every job
seeds its own generators from ``(seed, region, kind, index)``, so a resumed run, and a run
with any number of worker processes, writes the same bytes as an uninterrupted serial one.

Workers (``WorldConfig.workers``, :func:`crossview.parallel.run_jobs`) are forked after the
scenes exist, so they share the scene layers copy-on-write instead of regenerating or receiving
them; each renders with one torch thread (the serial path too: the same thread count keeps the
floating-point results equal).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crossview.data.layouts import get_layout
from crossview.errors import CrossviewError
from crossview.io import (
    save_image,
    tensor_to_uint8,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from crossview.parallel import mp_context, run_jobs, usable_workers
from crossview.world import materials as M
from crossview.world.appearance import aerial_condition, ground_condition
from crossview.world.config import WorldConfig
from crossview.world.geo import LocalFrame
from crossview.world.plan import GroundJob, Region, TileJob, WorldWriter, sample_cameras
from crossview.world.render import render_aerial, render_panorama
from crossview.world.scene import SceneParams, generate_scene

logger = logging.getLogger(__name__)
GT_DIR = "crossview_gt"


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

    The layout object named by ``cfg.layout`` supplies the writer (regions, jobs, metadata
    files, panorama defaults). With ``geotiff``, each region is also exported as
    ``crossview_gt/<region>_orthophoto.tif`` and ``<region>_dsm.tif`` (UTM, one pixel per scene
    cell).
    """
    out = Path(out)
    cfg, writer = resolve_config(cfg)
    out.mkdir(parents=True, exist_ok=True)
    regions = _regions(cfg, writer)
    plan = writer.plan(cfg, regions)
    _render_all(cfg, out, regions, plan.tiles, plan.grounds)
    plan.write_meta(out)
    _write_truth(cfg, out, regions, plan.tiles, plan.grounds)
    if geotiff:
        from crossview.world.export import export_geotiff

        for r in regions:
            export_geotiff(r.scene, r.frame.epsg, r.frame.easting0, r.frame.northing0,
                           out / GT_DIR, prefix=r.name, seed=cfg.seed)
    logger.info("world: %d panoramas and %d tiles in %s (%s layout)", len(plan.grounds),
                len(plan.tiles), out, cfg.layout)
    return out


def resolve_config(cfg: WorldConfig) -> tuple[WorldConfig, WorldWriter]:
    """The writer of ``cfg.layout`` and ``cfg`` with its panorama defaults filled in.

    Raises:
        ConfigError: The layout is unknown, has no world writer, or cannot hold these settings.

    """
    writer = get_layout(cfg.layout).world_writer()
    writer.check(cfg)
    resolved = cfg.replace(
        pano_hw=cfg.pano_hw if cfg.pano_hw is not None else writer.pano_hw,
        pano_vfov_deg=cfg.pano_vfov_deg if cfg.pano_vfov_deg is not None
        else writer.pano_vfov_deg,
    )
    return resolved, writer


def _regions(cfg: WorldConfig, writer: WorldWriter | None = None) -> list[Region]:
    writer = writer or get_layout(cfg.layout).world_writer()
    params = SceneParams(cfg.region_m, cfg.cell_m, cfg.relief_m, cfg.building_density,
                         cfg.tree_density, cfg.transient_density)
    names, origins = zip(*writer.regions(cfg), strict=True)
    seeds = [cfg.seed * 1000 + i for i in range(len(names))]
    workers = min(_usable_workers(cfg), len(names))
    if workers > 1:
        # VIGOR: one scene per city, generated side by side (each is seeded on its own).
        with mp_context().Pool(workers) as pool:
            scenes = pool.starmap(generate_scene, [(params, seed) for seed in seeds], chunksize=1)
    else:
        scenes = [generate_scene(params, seed) for seed in seeds]
    return [Region(name, i, scene, LocalFrame.at(*origin))
            for i, (name, origin, scene) in enumerate(zip(names, origins, scenes, strict=True))]


def _usable_workers(cfg: WorldConfig) -> int:
    """``cfg.resolved_workers``, or 1 inside a daemonic process (which may not have children)."""
    return usable_workers(cfg.resolved_workers)


_Job = tuple[str, int]
"""``("tile", index)`` or ``("ground", index)``: the index seeds the job and names its files."""

_STATE: dict[str, Any] = {}
"""What a rendering process needs (config, output root, regions, job lists); set once."""


def _render_all(cfg: WorldConfig, out: Path, regions: list[Region], tiles: list[TileJob],
                grounds: list[GroundJob]) -> None:
    """Render every job whose files are not all there yet, serially or in a process pool."""
    _STATE.update(cfg=cfg, out=out, regions=regions, tiles=tiles, grounds=grounds)
    try:
        pending: list[_Job] = [("tile", i) for i, t in enumerate(tiles)
                               if not _done(_tile_files(out, t))]
        pending += [("ground", i) for i, g in enumerate(grounds)
                    if not _done(_ground_files(out, g))]
        if len(pending) < len(tiles) + len(grounds):
            logger.info("world: %d of %d jobs already rendered (resuming)",
                        len(tiles) + len(grounds) - len(pending), len(tiles) + len(grounds))
        run_jobs(pending, _render_job, _failure, workers=_usable_workers(cfg),
                 label="world: tiles and panoramas", state=_STATE)
    finally:
        _STATE.clear()


def _render_job(job: _Job) -> None:
    """Render one job described by ``_STATE`` (skipped when its files exist)."""
    kind, index = job
    cfg, out, regions = _STATE["cfg"], _STATE["out"], _STATE["regions"]
    if kind == "tile":
        tile = _STATE["tiles"][index]
        _render_tile(cfg, out, regions[tile.region], tile, index)
    else:
        ground = _STATE["grounds"][index]
        _render_ground(cfg, out, regions[ground.region], ground, index)


def _failure(job: _Job, err: Exception) -> str:
    """One line naming the job's main file and the error."""
    kind, index = job
    path = (_STATE["tiles"] if kind == "tile" else _STATE["grounds"])[index].path
    detail = str(err) if isinstance(err, CrossviewError) else f"{type(err).__name__}: {err}"
    return f"world: rendering {kind} {path!r} failed: {detail}"


def _done(files: list[Path]) -> bool:
    return all(f.is_file() for f in files)


def _tile_files(out: Path, job: TileJob) -> list[Path]:
    return [out / job.path, _gt(out, "dsm", job.tile_id, ".npy"),
            _gt(out, "tile_semantics", job.tile_id, ".png")]


def _ground_files(out: Path, job: GroundJob) -> list[Path]:
    files = [out / job.path, _gt(out, "depth", job.id, ".npy"),
             _gt(out, "semantics", job.id, ".png"), _gt(out, "sky", job.id, ".png")]
    return files + [out / job.annotation] if job.annotation else files


def _gt(out: Path, kind: str, name: str, suffix: str) -> Path:
    return out / GT_DIR / kind / f"{name}{suffix}"


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32))
    write_bytes_atomic(path, buf.getvalue())


def _save_png(path: Path, arr: np.ndarray) -> None:
    # Level 1: these label images are flat and compress well anyway; level 6 costs 2-3x the time.
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    write_bytes_atomic(path, buf.getvalue())


def _save_rgb(path: Path, rgb: Any, cfg: WorldConfig) -> None:
    """Write a rendered (3, H, W) image as JPEG (``jpeg_quality``) or fast PNG, by suffix."""
    if path.suffix.lower() == ".png":
        _save_png(path, tensor_to_uint8(rgb))
    else:
        save_image(rgb, path, quality=cfg.jpeg_quality)


def _render_tile(cfg: WorldConfig, out: Path, region: Region, job: TileJob, index: int) -> None:
    files = _tile_files(out, job)
    if _done(files):
        return
    rng = np.random.default_rng([cfg.seed, region.index, 2, index])
    res = render_aerial(region.scene, job.x, job.y, cfg.tile_px, cfg.tile_m, aerial_condition(rng),
                        seed=int(rng.integers(2**31)))
    _save_rgb(files[0], res["rgb"], cfg)
    _save_npy(files[1], res["dsm"].numpy())
    _save_png(files[2], res["semantics"].numpy().astype(np.uint8))


def _render_ground(cfg: WorldConfig, out: Path, region: Region, job: GroundJob, index: int) -> None:
    files = _ground_files(out, job)
    if _done(files):
        return
    rng = np.random.default_rng([cfg.seed, region.index, 1, index])
    h, w = cfg.pano_shape
    res = render_panorama(region.scene, job.x, job.y, h, w, cfg.vfov_deg, ground_condition(rng),
                          seed=int(rng.integers(2**31)), camera_height_m=cfg.camera_height_m,
                          max_range_m=cfg.max_range_m)
    _save_rgb(files[0], res["rgb"], cfg)
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
                            frame.zone_label, 0.0, gsd])
    tile_rows = []
    for tile in tiles:
        frame = regions[tile.region].frame
        lat, lon = frame.to_latlon(tile.x, tile.y)
        e, n = frame.to_utm(tile.x, tile.y)
        tile_rows.append([tile.tile_id, tile.path, lat, lon, e, n, frame.zone_label, gsd])
    write_text_atomic(out / GT_DIR / "samples.csv", _csv(sample_rows, [
        "id", "split", "ground", "aerial", "lat", "lon", "utm_e", "utm_n", "utm_zone", "yaw_deg",
        "ground_resolution_m"]))
    write_text_atomic(out / GT_DIR / "tiles.csv", _csv(tile_rows, [
        "tile_id", "path", "lat", "lon", "utm_e", "utm_n", "utm_zone", "ground_resolution_m"]))
    # ``workers`` changes how the world is made, not what it is: kept out so the bytes agree.
    config = {k: v for k, v in cfg.to_dict().items() if k != "workers"}
    meta = {"config": config, "classes": list(M.CLASS_NAMES),
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


__all__ = ["make_world", "build_world", "resolve_config", "sample_cameras", "load_world_meta",
           "GroundJob", "TileJob", "Region"]
