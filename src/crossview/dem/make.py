"""``make_dem_dataset``: render a CrossLocate-style dataset from a DEM (``crossview dem make``).

Written layout (read by ``load_layout("crosslocate", root, variant=...)``)::

    ROOT/dem_dataset.json                   settings, DEM frame, splits, classes, encodings
    ROOT/{Uniform,Sparse}/database.csv      name,split,lat,lon,yaw_deg,fov_deg,pitch_deg,...
    ROOT/{Uniform,Sparse}/database/depth/<view>.png         8-bit log depth (the CSV's name)
    ROOT/{Uniform,Sparse}/database/depth16/<view>.png       16-bit log depth (metres)
    ROOT/{Uniform,Sparse}/database/silhouettes/<view>.png
    ROOT/{Uniform,Sparse}/database/segmentation/<view>.png  palette PNG (class ids + colours)
    ROOT/{Uniform,Sparse}/queries.csv       name,split,lat,lon,yaw_deg,fov_deg,pitch_deg,...
    ROOT/{Uniform,Sparse}/queries/<query>.jpg               simulated photos

Image encodings: :mod:`crossview.dem.encoding`. The uniform database holds a grid of positions
``grid_m`` apart (aligned to the DEM's local frame); the sparse database holds views at the
query positions (as the paper's Sparse database at the GeoPose3K query positions). Every
position has ``views_per_position`` views (12), ``db_fov_deg`` (60) wide, yaw 0, 30, ... 330,
level. Queries are photo renders at random positions at least a tenth of ``grid_m`` from any grid
node, with a random field of view, pitch, roll, yaw and time of day; both variants share them
(hard links when the file system allows).

Splits are geographically disjoint strips of the DEM (west to east: train, val, test by
``val_fraction`` / ``test_fraction`` of the usable width), with a ``split_gap_m`` band between
them where no position lies. Usable positions are at least ``margin_m`` from no-data and from the
DEM's edge.

Resumable and deterministic: each view set or photo is a job seeded by ``(seed, kind, index)``
and skipped when its files exist; workers (:func:`crossview.parallel.run_jobs`) write the same
bytes as a serial run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossview.config import Config
from crossview.dem.camera import Camera
from crossview.dem.encoding import depth_to_uint8, depth_to_uint16, png_bytes
from crossview.dem.model import Dem, Texture, load_dem, load_texture
from crossview.dem.photo import PhotoStyle
from crossview.dem.render import CLASS_COLOURS, CLASSES, RenderConfig, render_views
from crossview.errors import ConfigError, CrossviewError
from crossview.io import atomic_path, save_image, write_bytes_atomic
from crossview.parallel import MAX_AUTO_WORKERS, run_jobs, usable_cores

logger = logging.getLogger(__name__)
META = "dem_dataset.json"
VARIANT_DIRS = {"uniform": "Uniform", "sparse": "Sparse"}
DB_MODALITIES = ("depth", "silhouettes", "segmentation")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class DemDatasetConfig(Config):
    """Everything that defines a DEM dataset; the same config and seed give identical bytes."""

    dem: str = ""
    """Elevation raster (GeoTIFF or ``.npz``); required."""
    rgb: str | None = None
    """Co-registered 8-bit RGB raster (photo texture, segmentation classes)."""
    grid_m: float = 500.0
    """Uniform database grid step (paper: 500 m)."""
    queries: int = 100
    """Number of query photos (split between train/val/test by area)."""
    seed: int = 0
    """Seed of query positions, cameras, times of day and noise."""
    view_px: int = 500
    """Side of the square database views (paper: 500)."""
    views_per_position: int = 12
    """Database views per position, evenly spaced in yaw (paper: 12, 30 deg apart)."""
    db_fov_deg: float = 60.0
    """Horizontal field of view of the database views (paper: 60)."""
    query_hw: tuple[int, int] = (375, 500)
    """Query photo (height, width)."""
    query_fov_deg: tuple[float, float] = (30.0, 70.0)
    """Range of the queries' horizontal field of view."""
    query_pitch_deg: float = 10.0
    """Queries' pitch is uniform in +- this."""
    query_roll_deg: float = 3.0
    """Queries' roll is uniform in +- this."""
    camera_height_m: float = 1.7
    """Camera height above the ground (database and queries)."""
    val_fraction: float = 0.15
    """Share of the usable width (a strip east of train) in the val split."""
    test_fraction: float = 0.25
    """Share of the usable width (the eastern strip) in the test split."""
    margin_m: float = 1000.0
    """Minimum distance of any position from no-data and the DEM's edge."""
    split_gap_m: float = 0.0
    """Width of an empty band between two splits (no position lies in it)."""
    variants: tuple[str, ...] = ("uniform", "sparse")
    """Databases to write: ``uniform`` (grid) and/or ``sparse`` (at the query positions)."""
    modalities: tuple[str, ...] = DB_MODALITIES
    """Database modalities: ``depth`` (the CSV names it when written), ``silhouettes``,
    ``segmentation``."""
    dem_cell_m: float | None = None
    """Resample the DEM to this cell size (default: its own resolution)."""
    z_units: str = "auto"
    """Elevation units of the DEM (``auto``, ``m``, ``ft``, ``us-ft``)."""
    refraction: float = 0.13
    """Refraction coefficient of the curvature drop."""
    silhouette_threshold: float = 0.1
    """Relative depth jump of a silhouette edge."""
    jpeg_quality: int = 95
    """JPEG quality of the query photos."""
    workers: int | None = None
    """Rendering processes (``None``: usable cores, at most 8). Not part of the dataset."""
    device: str = "cpu"
    """Rendering device; CUDA renders in this process only (no workers). Not part of it either."""

    def __post_init__(self) -> None:
        checks = [
            ("dem", bool(self.dem)), ("grid_m", self.grid_m > 0), ("queries", self.queries >= 0),
            ("view_px", self.view_px >= 4), ("views_per_position", self.views_per_position >= 1),
            ("db_fov_deg", 0 < self.db_fov_deg < 180),
            ("query_hw", min(self.query_hw) >= 4),
            ("query_fov_deg", 0 < self.query_fov_deg[0] <= self.query_fov_deg[1] < 180),
            ("query_pitch_deg", 0 <= self.query_pitch_deg < 90),
            ("query_roll_deg", 0 <= self.query_roll_deg <= 180),
            ("camera_height_m", self.camera_height_m > 0),
            ("val_fraction", 0 <= self.val_fraction < 1),
            ("test_fraction", 0 <= self.test_fraction < 1 - self.val_fraction),
            ("margin_m", self.margin_m >= 0),
            ("split_gap_m", self.split_gap_m >= 0),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100),
            ("workers", self.workers is None or self.workers >= 1),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"DemDatasetConfig.{name}: invalid value "
                                  f"{getattr(self, name)!r}")
        for name, values, allowed in (("variants", self.variants, VARIANT_DIRS),
                                      ("modalities", self.modalities, DB_MODALITIES)):
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise ConfigError(f"DemDatasetConfig.{name}: expected some of {list(allowed)}, "
                                  f"got {list(values)}")

    @property
    def resolved_workers(self) -> int:
        """Rendering processes: 1 on CUDA, else ``workers`` or the usable cores (capped)."""
        if torch.device(self.device).type == "cuda":
            return 1
        return int(self.workers) if self.workers is not None else usable_cores(MAX_AUTO_WORKERS)

    def dataset_dict(self) -> dict[str, Any]:
        """The settings that define the dataset (execution options left out)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("workers", "device")}


@dataclasses.dataclass(frozen=True)
class Position:
    """A camera position of a database or a query."""

    id: str
    x: float
    y: float
    split: str


@dataclasses.dataclass(frozen=True)
class Query:
    """A query photo: position, camera and illumination."""

    position: Position
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    fov_deg: float
    style: PhotoStyle
    noise_seed: int


def make_dem_dataset(out: str | Path, dem: str | Path, **options: Any) -> Path:
    """Render a dataset from ``dem`` into ``out``; ``options`` are :class:`DemDatasetConfig` fields.

    Existing complete files are kept (resume); returns ``out``.
    """
    return build_dem_dataset(DemDatasetConfig.from_dict({**options, "dem": str(dem)}), Path(out))


def build_dem_dataset(cfg: DemDatasetConfig, out: Path) -> Path:
    """Plan, render and write the dataset described by ``cfg`` under ``out``."""
    out = Path(out)
    dem = load_dem(cfg.dem, cfg.dem_cell_m, cfg.z_units)
    texture = load_texture(cfg.rgb, dem) if cfg.rgb else None
    plan = plan_dataset(cfg, dem)
    _check_or_write_meta(cfg, dem, plan, out)
    jobs = [(kind, i) for kind in ("query", "uniform", "sparse") for i in range(len(plan[kind]))]
    _STATE.update(cfg=cfg, out=out, dem=dem, texture=texture, plan=plan)
    try:
        dem.pyramid(cfg.device)  # built once here, inherited by forked workers
        pending = [job for job in jobs if not _done(_job_files(job))]
        if len(pending) < len(jobs):
            logger.info("dem: %d of %d jobs already rendered (resuming)",
                        len(jobs) - len(pending), len(jobs))
        run_jobs(pending, _render_job, _failure, workers=cfg.resolved_workers,
                 label="dem: views and photos", state=_STATE)
        _link_sparse_queries(cfg, out, plan)
        _write_tables(cfg, dem, out, plan)
    finally:
        _STATE.clear()
    logger.info("dem: %d query photos, %d uniform and %d sparse positions in %s",
                len(plan["query"]), len(plan["uniform"]), len(plan["sparse"]), out)
    return out


def usable_area(cfg: DemDatasetConfig, dem: Dem) -> tuple[np.ndarray, tuple[float, float]]:
    """Per-sample distance (m) to no-data or the edge, and the x range of usable samples."""
    from scipy.ndimage import distance_transform_edt

    valid = np.pad(dem.valid.numpy(), 1, constant_values=False)
    dist = distance_transform_edt(valid)[1:-1, 1:-1] * dem.cell_m
    cols = np.nonzero((dist >= max(cfg.margin_m, dem.cell_m)).any(0))[0]
    if cols.size == 0:
        raise ConfigError(f"margin_m={cfg.margin_m:g}: no part of the DEM is that far from its "
                          f"edge or no-data")
    xs = dem.grid.x_min + (cols + 0.5) * dem.cell_m
    return dist, (float(xs.min()), float(xs.max()))


def plan_dataset(cfg: DemDatasetConfig, dem: Dem) -> dict[str, Any]:
    """Positions of the uniform grid, the queries and the sparse database (deterministic)."""
    dist, (x_lo, x_hi) = usable_area(cfg, dem)
    width = x_hi - x_lo
    edges = [x_lo, x_lo + width * (1 - cfg.val_fraction - cfg.test_fraction),
             x_lo + width * (1 - cfg.test_fraction), x_hi]
    strips = {s: (edges[i], edges[i + 1]) for i, s in enumerate(SPLITS) if edges[i + 1] > edges[i]}

    def usable(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        row, col = dem.grid.index(torch.as_tensor(x), torch.as_tensor(y))
        far = dist[row.numpy(), col.numpy()] >= cfg.margin_m
        inside = (x >= dem.bounds_m[0]) & (x <= dem.bounds_m[2]) & (y >= dem.bounds_m[1]) & (
            y <= dem.bounds_m[3])
        gap = np.zeros_like(inside)
        for cut in edges[1:-1]:
            gap |= np.abs(x - cut) < cfg.split_gap_m / 2
        return far & inside & ~gap & (x >= x_lo) & (x <= x_hi)

    def split_of(x: float) -> str:
        return next(s for s, (lo, hi) in strips.items() if x <= hi or s == list(strips)[-1])

    x0, y0, x1, y1 = dem.bounds_m
    gx = np.arange(math.ceil(x0 / cfg.grid_m), math.floor(x1 / cfg.grid_m) + 1) * cfg.grid_m
    gy = np.arange(math.floor(y1 / cfg.grid_m), math.ceil(y0 / cfg.grid_m) - 1, -1) * cfg.grid_m
    xx, yy = np.meshgrid(gx, gy)
    rows, cols = np.nonzero(usable(xx, yy))
    uniform = [Position(f"u_r{r:04d}_c{c:04d}", float(xx[r, c]), float(yy[r, c]),
                        split_of(float(xx[r, c]))) for r, c in zip(rows, cols, strict=True)]
    queries = _plan_queries(cfg, dem, strips, usable)
    for split in {q.position.split for q in queries} - {p.split for p in uniform}:
        if "uniform" in cfg.variants:
            raise ConfigError(f"grid_m={cfg.grid_m:g}: the {split} strip holds queries but no "
                              f"grid position; lower --grid-m or widen the split")
    sparse = [Position(f"s_{q.position.id}", q.position.x, q.position.y, q.position.split)
              for q in queries] if "sparse" in cfg.variants else []
    if "uniform" not in cfg.variants:
        uniform = []
    return {"uniform": uniform, "sparse": sparse, "query": queries, "strips": strips}


def _plan_queries(cfg: DemDatasetConfig, dem: Dem, strips: dict[str, tuple[float, float]],
                  usable: Any) -> list[Query]:
    """Random query positions per split strip (count by share of width) and their cameras."""
    total = sum(hi - lo for lo, hi in strips.values())
    shares = {s: (hi - lo) / total for s, (lo, hi) in strips.items()}
    counts = {s: int(round(cfg.queries * shares[s])) for s in strips if s != "train"}
    counts["train"] = cfg.queries - sum(counts.values())
    rng = np.random.default_rng([cfg.seed, 1])
    y0, y1 = dem.bounds_m[1], dem.bounds_m[3]
    positions: list[Position] = []
    for split, (lo, hi) in strips.items():
        found: list[tuple[float, float]] = []
        for _ in range(1000):
            if len(found) >= counts.get(split, 0):
                break
            x = rng.uniform(lo, hi, 256)
            y = rng.uniform(y0, y1, 256)
            off_grid = np.hypot(x - np.round(x / cfg.grid_m) * cfg.grid_m,
                                y - np.round(y / cfg.grid_m) * cfg.grid_m) >= 0.1 * cfg.grid_m
            keep = usable(x, y) & off_grid
            found += list(zip(x[keep].tolist(), y[keep].tolist(), strict=True))
        if len(found) < counts.get(split, 0):
            raise ConfigError(f"queries: could not place {counts[split]} queries in the {split} "
                              f"strip (lower margin_m or split_gap_m)")
        positions += [Position("", x, y, split) for x, y in found[:counts.get(split, 0)]]
    queries = []
    for i, p in enumerate(positions):
        qrng = np.random.default_rng([cfg.seed, 2, i])
        lat, _ = dem.to_latlon(p.x, p.y)
        queries.append(Query(
            Position(f"q{i:06d}", round(p.x, 3), round(p.y, 3), p.split),
            yaw_deg=round(float(qrng.uniform(0, 360)), 3),
            pitch_deg=round(float(qrng.uniform(-1, 1) * cfg.query_pitch_deg), 3),
            roll_deg=round(float(qrng.uniform(-1, 1) * cfg.query_roll_deg), 3),
            fov_deg=round(float(qrng.uniform(*cfg.query_fov_deg)), 3),
            style=PhotoStyle.random(qrng, float(lat)),
            noise_seed=int(qrng.integers(2**31))))
    return queries


_STATE: dict[str, Any] = {}
"""What a rendering process needs (config, output root, DEM, texture, plan); set once."""
_Job = tuple[str, int]
"""``("query" | "uniform" | "sparse", index)``."""


def _variant_root(out: Path, variant: str) -> Path:
    return out / VARIANT_DIRS[variant]


def _query_home(cfg: DemDatasetConfig) -> str:
    """The variant whose folder holds the rendered photos (the other links to them)."""
    return cfg.variants[0]


def view_ids(cfg: DemDatasetConfig, pos: Position) -> list[tuple[str, float]]:
    """``(view id, yaw)`` of the database views at ``pos``: ``<position>_y<yaw>``."""
    step = 360.0 / cfg.views_per_position
    return [(f"{pos.id}_y{round(k * step):03d}", k * step) for k in range(cfg.views_per_position)]


def _view_files(cfg: DemDatasetConfig, root: Path, view: str) -> dict[str, Path]:
    base = root / "database"
    files = {}
    if "depth" in cfg.modalities:
        files["depth"] = base / "depth" / f"{view}.png"
        files["depth16"] = base / "depth16" / f"{view}.png"
    if "silhouettes" in cfg.modalities:
        files["silhouettes"] = base / "silhouettes" / f"{view}.png"
    if "segmentation" in cfg.modalities:
        files["segmentation"] = base / "segmentation" / f"{view}.png"
    return files


def _job_files(job: _Job) -> list[Path]:
    cfg, out, plan = _STATE["cfg"], _STATE["out"], _STATE["plan"]
    kind, index = job
    if kind == "query":
        q = plan["query"][index]
        return [_variant_root(out, _query_home(cfg)) / "queries" / f"{q.position.id}.jpg"]
    pos = plan[kind][index]
    root = _variant_root(out, kind)
    return [f for view, _ in view_ids(cfg, pos) for f in _view_files(cfg, root, view).values()]


def _done(files: list[Path]) -> bool:
    return all(f.is_file() for f in files)


def camera_at(dem: Dem, x: float, y: float, cfg: DemDatasetConfig, **angles: float) -> Camera:
    """The camera of a view at local ``(x, y)``, ``camera_height_m`` above the ground."""
    lat, lon = dem.to_latlon(x, y)
    return Camera(float(lat), float(lon), height_m=cfg.camera_height_m, **angles)


def _render_job(job: _Job) -> None:
    """Render and write one job's files (skipped when they all exist)."""
    if _done(_job_files(job)):
        return
    cfg, out, dem, texture, plan = (_STATE[k] for k in ("cfg", "out", "dem", "texture", "plan"))
    kind, index = job
    render_cfg = RenderConfig(refraction=cfg.refraction,
                              silhouette_threshold=cfg.silhouette_threshold)
    if kind == "query":
        _render_query(cfg, dem, texture, plan["query"][index], _job_files(job)[0], render_cfg)
        return
    pos = plan[kind][index]
    views = view_ids(cfg, pos)
    cams = [camera_at(dem, pos.x, pos.y, cfg, yaw_deg=yaw, fov_deg=cfg.db_fov_deg)
            for _, yaw in views]
    res = render_views(dem, cams, cfg.view_px, cfg.view_px, cfg.modalities, texture, render_cfg,
                       device=cfg.device)
    root = _variant_root(out, kind)
    for v, (view, _) in enumerate(views):
        files = _view_files(cfg, root, view)
        if "depth" in res:
            depth = res["depth"][v].cpu().numpy()
            write_bytes_atomic(files["depth"], png_bytes(depth_to_uint8(depth)))
            write_bytes_atomic(files["depth16"], png_bytes(depth_to_uint16(depth)))
        if "silhouettes" in res:
            write_bytes_atomic(files["silhouettes"], png_bytes(
                res["silhouettes"][v].cpu().numpy().astype(np.uint8) * 255))
        if "segmentation" in res:
            write_bytes_atomic(files["segmentation"], png_bytes(
                res["segmentation"][v].cpu().numpy(), palette=True))


def _render_query(cfg: DemDatasetConfig, dem: Dem, texture: Texture | None, q: Query, path: Path,
                  render_cfg: RenderConfig) -> None:
    cam = camera_at(dem, q.position.x, q.position.y, cfg, yaw_deg=q.yaw_deg,
                  pitch_deg=q.pitch_deg, roll_deg=q.roll_deg, fov_deg=q.fov_deg)
    res = render_views(dem, [cam], cfg.query_hw[0], cfg.query_hw[1], ("photo",), texture,
                       render_cfg, [q.style], [q.noise_seed], device=cfg.device)
    save_image(res["photo"][0].cpu(), path, quality=cfg.jpeg_quality)


def _failure(job: _Job, err: Exception) -> str:
    """One line naming the job's first file and the error."""
    detail = str(err) if isinstance(err, CrossviewError) else f"{type(err).__name__}: {err}"
    return f"dem: rendering {job[0]} {_job_files(job)[0]} failed: {detail}"


def _link_sparse_queries(cfg: DemDatasetConfig, out: Path, plan: dict[str, Any]) -> None:
    """Give every other variant the query photos (hard links, or copies across devices)."""
    home = _variant_root(out, _query_home(cfg)) / "queries"
    for variant in cfg.variants[1:]:
        for q in plan["query"]:
            name = f"{q.position.id}.jpg"
            dst = _variant_root(out, variant) / "queries" / name
            if dst.is_file():
                continue
            with atomic_path(dst) as tmp:
                tmp.unlink()
                try:
                    os.link(home / name, tmp)
                except OSError:
                    shutil.copyfile(home / name, tmp)


def _csv_text(rows: list[dict[str, Any]], header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` atomically unless the file already holds exactly it (resume, no rewrite)."""
    data = text.encode("utf-8")
    if not (path.is_file() and path.read_bytes() == data):
        write_bytes_atomic(path, data)


def _latlon(dem: Dem, x: float, y: float) -> tuple[str, str]:
    lat, lon = dem.to_latlon(x, y)
    return f"{float(lat):.8f}", f"{float(lon):.8f}"


def _altitude(dem: Dem, cfg: DemDatasetConfig, x: float, y: float) -> str:
    return f"{float(dem.height_at(x, y)) + cfg.camera_height_m:.3f}"


def _write_tables(cfg: DemDatasetConfig, dem: Dem, out: Path, plan: dict[str, Any]) -> None:
    """``queries.csv`` and ``database.csv`` of each variant (written last)."""
    q_rows = []
    for q in plan["query"]:
        p, s = q.position, q.style
        lat, lon = _latlon(dem, p.x, p.y)
        q_rows.append({
            "name": f"{p.id}.jpg", "split": p.split, "lat": lat, "lon": lon,
            "yaw_deg": q.yaw_deg, "fov_deg": q.fov_deg, "pitch_deg": q.pitch_deg,
            "roll_deg": q.roll_deg, "altitude_m": _altitude(dem, cfg, p.x, p.y),
            "sun_azimuth_deg": s.sun_azimuth_deg, "sun_elevation_deg": s.sun_elevation_deg,
            "visibility_m": s.visibility_m, "exposure_ev": s.exposure_ev,
            "noise_std": s.noise_std})
    q_header = list(q_rows[0]) if q_rows else ["name", "split", "lat", "lon", "yaw_deg",
                                               "fov_deg"]
    primary = "depth" if "depth" in cfg.modalities else cfg.modalities[0]
    for variant in cfg.variants:
        root = _variant_root(out, variant)
        _write_if_changed(root / "queries.csv", _csv_text(q_rows, q_header))
        db_rows = []
        for pos in plan[variant]:
            lat, lon = _latlon(dem, pos.x, pos.y)
            altitude = _altitude(dem, cfg, pos.x, pos.y)
            for view, yaw in view_ids(cfg, pos):
                db_rows.append({"name": f"{primary}/{view}.png", "split": pos.split, "lat": lat,
                                "lon": lon, "yaw_deg": f"{yaw:g}", "fov_deg": f"{cfg.db_fov_deg:g}",
                                "pitch_deg": "0", "roll_deg": "0", "altitude_m": altitude,
                                "position": pos.id})
        header = ["name", "split", "lat", "lon", "yaw_deg", "fov_deg", "pitch_deg", "roll_deg",
                  "altitude_m", "position"]
        _write_if_changed(root / "database.csv", _csv_text(db_rows, header))


def _meta(cfg: DemDatasetConfig, dem: Dem, plan: dict[str, Any]) -> dict[str, Any]:
    strips = {}
    for split, (lo, hi) in plan["strips"].items():
        strips[split] = {"x_min_m": round(lo, 3), "x_max_m": round(hi, 3)}
    return {
        "config": cfg.dataset_dict(),
        "dem": {k: v for k, v in dem.describe().items() if k != "source"},
        "frame": {"crs": dem.crs, "origin_utm_m": [dem.origin_e, dem.origin_n],
                  "note": "local x = easting - origin, y = northing - origin (metres)"},
        "splits": {"axis": "x (east)", "gap_m": cfg.split_gap_m, "strips": strips},
        "counts": {k: len(plan[k]) for k in ("query", "uniform", "sparse")},
        "classes": list(CLASSES),
        "class_colours": [list(c) for c in CLASS_COLOURS],
        "encodings": "see crossview.dem.encoding (depth 8-bit / 16-bit log scales)",
    }


def _check_or_write_meta(cfg: DemDatasetConfig, dem: Dem, plan: dict[str, Any], out: Path
                         ) -> None:
    """Refuse to mix two datasets in one folder; write ``dem_dataset.json`` the first time."""
    path = out / META
    meta = _meta(cfg, dem, plan)
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("config", {})
        except (OSError, ValueError):
            old = {}
        new = json.loads(json.dumps(meta["config"]))
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            raise ConfigError(f"{out}: holds a DEM dataset made with other settings "
                              f"({diff[0]}: {old.get(diff[0])!r} there, {new.get(diff[0])!r} "
                              f"now); use another --out")
    _write_if_changed(path, json.dumps(meta, indent=2) + "\n")
