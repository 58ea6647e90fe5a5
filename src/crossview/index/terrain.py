"""DEM view indexes: ``crossview dem index`` and ``locate`` against rendered database views.

A DEM index is a GeoIndex whose rows are database views rendered from a DEM on the fly (never
written as images): a uniform grid of positions ``grid_m`` apart, ``views_per_position`` views
each (yaw 0, 30, ... for 12), exactly the ``uniform`` database ``crossview dem make`` would write
with the same settings (same positions, view ids ``u_r<row>_c<col>_y<yaw>``, cameras and
pixels). Each view is rendered in the modality the model was trained on, turned into the image
the ``crosslocate`` layout would read (:func:`crossview.dem.encoding.database_image`), and goes
through the one input path (:func:`crossview.data.inputs.aerial_pixels`) into
``encode_aerial``. Rows carry the view's position (lat/lon, UTM) and its ``yaw_deg`` (an extra
index column); the index header's ``source`` records the DEM and every render setting, so
``locate`` can re-render a matched view for its report.

Building reuses ``index build``'s machinery (:func:`crossview.index.build.index_tiles`):
resumable (view ids already in the index are skipped, one commit per batch) and sharded over
torchrun ranks (each rank renders and embeds its share into a shard, rank 0 merges).

Render settings default to those of the run's own dataset when it was made by ``dem make``
(``dem_dataset.json`` under the run's data root): the database the model was trained on.

``locate`` (:func:`locate_views`) scales each query photo by its field of view like training
(``InputSpec.photo_fov_deg``), embeds it once and searches: candidates are views, so each comes
with a position and a yaw (the view's bearing, also reported as ``heading_deg``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossview.config import Config
from crossview.errors import ConfigError, CrossviewError
from crossview.index.geoindex import DEFAULT_REFINE_FACTOR, GeoIndex
from crossview.index.locate import QueryImage, QueryResult
from crossview.index.tiles import TileRecord

logger = logging.getLogger(__name__)

KIND = "dem_views"
"""``IndexInfo.source["kind"]`` of a DEM view index."""
YAW_COLUMN = "yaw_deg"
"""The extra index column of DEM views: the view's bearing (deg clockwise from north)."""


@dataclasses.dataclass
class DemIndexConfig(Config):
    """What a DEM view index renders (defaults: ``dem make``'s, or the run's dataset's)."""

    dem: str = ""
    """Elevation raster (GeoTIFF or ``.npz``); required."""
    rgb: str | None = None
    """Co-registered RGB raster: segmentation classes (``segmentation`` / ``multi`` models)."""
    grid_m: float = 500.0
    """Grid step of the view positions (paper: 500 m)."""
    views_per_position: int = 12
    """Views per position, evenly spaced in yaw (paper: 12)."""
    db_fov_deg: float = 60.0
    """Horizontal FOV of the views (paper: 60)."""
    view_px: int = 500
    """Side of the rendered views before the model's resize (``dem make --view-px``)."""
    camera_height_m: float = 1.7
    """Camera height above the ground."""
    margin_m: float = 1000.0
    """Minimum distance of positions from no-data and the DEM's edge."""
    dem_cell_m: float | None = None
    """Resample the DEM to this cell size (default: its own)."""
    z_units: str = "auto"
    """Elevation units of the DEM."""
    refraction: float = 0.13
    """Refraction coefficient of the curvature drop."""
    silhouette_threshold: float = 0.1
    """Relative depth jump of a silhouette edge."""
    modality: str = "depth"
    """Database modality (the model's ``modality``)."""

    def __post_init__(self) -> None:
        if not self.dem:
            raise ConfigError("dem index: --dem is required")
        if not (self.grid_m > 0 and self.views_per_position >= 1 and self.view_px >= 4
                and 0 < self.db_fov_deg < 180 and self.margin_m >= 0):
            raise ConfigError(f"dem index: invalid settings (grid_m {self.grid_m}, views "
                              f"{self.views_per_position}, view_px {self.view_px}, fov "
                              f"{self.db_fov_deg}, margin_m {self.margin_m})")

    def dataset_config(self) -> Any:
        """The ``dem make`` config of a uniform database with these settings (no queries)."""
        from crossview.dem.make import DemDatasetConfig

        return DemDatasetConfig(
            dem=self.dem, rgb=self.rgb, grid_m=self.grid_m, queries=0, view_px=self.view_px,
            views_per_position=self.views_per_position, db_fov_deg=self.db_fov_deg,
            camera_height_m=self.camera_height_m, margin_m=self.margin_m, val_fraction=0.0,
            test_fraction=0.0, variants=("uniform",), dem_cell_m=self.dem_cell_m,
            z_units=self.z_units, refraction=self.refraction,
            silhouette_threshold=self.silhouette_threshold)


@dataclasses.dataclass(frozen=True)
class ViewRecord(TileRecord):
    """One database view of a DEM index: a tile record plus its yaw."""

    yaw_deg: float = 0.0
    x_m: float = 0.0
    """Local x of the DEM frame (east, metres): where it is rendered from."""
    y_m: float = 0.0
    """Local y (north, metres)."""


def is_dem_index(index: GeoIndex) -> bool:
    """Whether ``index`` holds rendered DEM views (built by :func:`build_dem_index`)."""
    return index.info.source.get("kind") == KIND


def run_dataset_settings(model_config: dict[str, Any]) -> dict[str, Any]:
    """Render settings of the run's dataset when ``dem make`` wrote it (else ``{}``).

    Read from ``<data root>/dem_dataset.json`` of the run's recorded data spec.
    """
    data = model_config.get("data")
    root = data.get("root") if isinstance(data, dict) else None
    if root is None and isinstance(data, str) and ":" in data:
        root = data.split(":", 1)[1]
    if not root:
        return {}
    meta = Path(root) / "dem_dataset.json"
    try:
        cfg = json.loads(meta.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    fields = {f.name for f in dataclasses.fields(DemIndexConfig)} - {"dem", "grid_m"}
    return {k: v for k, v in cfg.items() if k in fields}


def plan_views(cfg: DemIndexConfig, dem: Any) -> list[ViewRecord]:
    """Every view of the index, position by position (``dem make``'s uniform grid and ids)."""
    from crossview.dem.make import plan_dataset, view_ids
    from crossview.geometry.geodesy import latlon_to_utm, utm_zone_for

    dataset = cfg.dataset_config()
    records = []
    for pos in plan_dataset(dataset, dem)["uniform"]:
        lat, lon = (float(v) for v in dem.to_latlon(pos.x, pos.y))
        zone = utm_zone_for(lat, lon)
        east, north, _ = latlon_to_utm(lat, lon, zone)
        for view, yaw in view_ids(dataset, pos):
            records.append(ViewRecord(
                tile_id=view, path=str(Path(cfg.dem).resolve()), lat=lat, lon=lon,
                utm_e=float(east), utm_n=float(north), utm_zone=str(zone),
                ground_resolution_m=math.nan, yaw_deg=float(yaw), x_m=pos.x, y_m=pos.y))
    if not records:
        raise ConfigError(f"dem index: no position of a {cfg.grid_m:g} m grid lies "
                          f"{cfg.margin_m:g} m inside {cfg.dem}")
    return records


class ViewRenderer:
    """Renders database views of a DEM as model inputs (the loader of :func:`index_tiles`)."""

    def __init__(self, cfg: DemIndexConfig, spec: Any, device: torch.device | str = "cpu",
                 dem: Any = None) -> None:
        from crossview.dem import RenderConfig, load_dem, load_texture
        from crossview.dem.encoding import database_modalities

        self.cfg = cfg
        self.spec = spec
        self.device = torch.device(device)
        self.dem = dem if dem is not None else load_dem(cfg.dem, cfg.dem_cell_m, cfg.z_units)
        self.modalities = database_modalities(cfg.modality)
        needs_texture = "segmentation" in self.modalities
        self.texture = load_texture(cfg.rgb, self.dem) if cfg.rgb and needs_texture else None
        if needs_texture and self.texture is None:
            logger.warning("dem index: no --rgb raster; segmentations hold sky/terrain only")
        self.render_config = RenderConfig(refraction=cfg.refraction,
                                          silhouette_threshold=cfg.silhouette_threshold)

    def images(self, records: Sequence[ViewRecord]) -> list[np.ndarray]:
        """``H x W x 3`` uint8 database images of ``records`` at ``view_px`` (as files hold)."""
        from crossview.dem.encoding import database_image
        from crossview.dem.make import camera_at
        from crossview.dem.render import render_views

        dataset = self.cfg.dataset_config()
        cams = [camera_at(self.dem, r.x_m, r.y_m, dataset, yaw_deg=r.yaw_deg,
                          fov_deg=self.cfg.db_fov_deg) for r in records]
        px = self.cfg.view_px
        res = render_views(self.dem, cams, px, px, self.modalities, self.texture,
                           self.render_config, device=self.device)
        return [database_image(res, v, self.cfg.modality) for v in range(len(records))]

    def __call__(self, records: Sequence[ViewRecord]) -> torch.Tensor:
        """Model inputs ``(B, 3, S, S)`` in [0, 1] through the one input path."""
        from crossview.data.inputs import aerial_pixels, pixels_to_batch

        return pixels_to_batch([aerial_pixels(img, self.spec) for img in self.images(records)])


def index_config(model: Any, dem: str | Path, **overrides: Any) -> DemIndexConfig:
    """The render settings of an index for ``model``: run dataset's, then ``overrides``."""
    modality = getattr(model.method.config, "modality", "depth")
    fields = {**run_dataset_settings(model.config), "modality": modality,
              **{k: v for k, v in overrides.items() if v is not None}, "dem": str(dem)}
    return DemIndexConfig.from_dict(fields, where="dem index")


def build_dem_index(run: str | Path, dem: str | Path, out: str, which: str = "best",
                    positions_per_batch: int = 4, device: torch.device | str | None = None,
                    max_batches: int | None = None, **settings: Any) -> GeoIndex:
    """Render, embed and store the database views of a DEM (``crossview dem index``).

    Args:
        run: Training run directory or checkpoint (a method with ``encode_aerial``).
        dem: Elevation raster.
        out: Index location.
        which: Checkpoint of a run directory (``best`` or ``last``).
        positions_per_batch: Positions rendered and embedded per batch (and per commit).
        device: Torch device of rendering and embedding (default: CUDA when present).
        max_batches: Stop after this many batches (tests of resumption).
        **settings: :class:`DemIndexConfig` fields (``grid_m``, ``views_per_position``, ...).

    Returns:
        The index (on every rank, after the merge under torchrun).

    """
    from crossview.device import get_device
    from crossview.index.build import dist_context, index_tiles, merge_shards
    from crossview.training.checkpoint import load_run

    rank, world_size = dist_context()
    model = load_run(run, which)
    cfg = index_config(model, dem, **settings)
    dev = get_device(device)
    renderer = ViewRenderer(cfg, model.method.input_spec, dev)
    records = plan_views(cfg, renderer.dem)
    source = {"kind": KIND, **cfg.to_dict(), "dem": str(Path(cfg.dem).resolve()),
              "rgb": str(Path(cfg.rgb).resolve()) if cfg.rgb else None}
    logger.info("dem index: %d views at %d positions (%s, %g m grid)", len(records),
                len(records) // cfg.views_per_position, cfg.modality, cfg.grid_m)
    index = index_tiles(records, out, model.method, model.method_name, model.checkpoint_sha256,
                        batch_size=max(1, positions_per_batch) * cfg.views_per_position,
                        rank=rank, world_size=world_size, device=dev, max_batches=max_batches,
                        checkpoint_path=str(Path(model.checkpoint_path).resolve()),
                        load=renderer, extra_columns=(YAW_COLUMN,), source=source)
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
        if rank == 0:
            merge_shards(out, world_size)
        dist.barrier()
        dist.destroy_process_group()
        index = GeoIndex.open(out)
    return index


@dataclasses.dataclass
class ViewQueryResult(QueryResult):
    """Candidates of one photo against DEM views (``fov_deg`` ``None``: unknown)."""

    fov_deg: float | None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`QueryResult.to_dict`; views have no ground resolution (``None``)."""
        out = super().to_dict()
        for cand in out["candidates"]:
            if not math.isfinite(cand.get("ground_resolution_m") or 0.0):
                cand["ground_resolution_m"] = None
        return out


def query_fov(fov_deg: float | None) -> float | None:
    """A photo's FOV for the input path: ``None`` (unknown) for missing or panoramic values.

    ``locate --fov`` defaults to 360 (panoramas); a photo method takes that as unknown.
    """
    if fov_deg is None or fov_deg >= 180.0:
        return None
    if not fov_deg > 0:
        raise ConfigError(f"--fov: expected degrees in (0, 180) for photos, got {fov_deg}")
    return float(fov_deg)


def locate_views(
    images: Sequence[QueryImage],
    index: GeoIndex,
    method: Any,
    checkpoint_sha256: str,
    top_k: int = 5,
    fov_deg: float | None = None,
    near: tuple[float, float] | None = None,
    radius_m: float | None = None,
    exact: bool = True,
    nprobes: int = 20,
    refine_factor: int | None = DEFAULT_REFINE_FACTOR,
    device: torch.device | None = None,
    **ignored: Any,
) -> list[ViewQueryResult]:
    """Localize photos against a DEM view index: ranked views with position, yaw and score.

    Args:
        images: Query photos (pinhole).
        index: A DEM view index (:func:`build_dem_index`) built with ``method``.
        method: The loaded method (a photo method, e.g. ``crosslocate``).
        checkpoint_sha256: Checksum of the method's checkpoint (checked against the index).
        top_k: Candidates per photo.
        fov_deg: The photos' horizontal FOV (``None`` or >= 180: unknown, the photo fills the
            canvas: the paper's eval-no-FOV).
        near: ``(lat, lon)`` prior; with ``radius_m`` only views within it.
        radius_m: Prior radius in metres.
        exact: Exact search, or the ANN index.
        nprobes: IVF partitions probed (ANN only).
        refine_factor: PQ re-ranking factor (ANN only).
        device: Torch device.
        **ignored: Panorama options of :func:`crossview.index.locate.locate` (``heading``,
            ``num_headings``, ``vfov_deg``): a view's yaw is the estimated heading.

    """
    from crossview.data.inputs import model_input
    from crossview.device import get_device
    from crossview.inference import encode_images, eval_mode

    index.check_compatible(getattr(method, "name", ""), checkpoint_sha256)
    if not is_dem_index(index):
        raise CrossviewError(f"index {index.uri} does not hold DEM views")
    if not images:
        raise ConfigError("no query images given")
    spec = method.input_spec
    if spec.photo_fov_deg is None:
        raise ConfigError(f"method {method.name!r} reads panoramas, not photos; a DEM view "
                          "index needs a photo method (crosslocate)")
    known = {k: v for k, v in ignored.items() if v not in (None, "unknown")}
    if known.get("heading") is not None:
        logger.info("locate: --heading is not used against DEM views (each view has a yaw)")
    fov = query_fov(fov_deg)
    device = device or get_device()
    method = method.to(device)
    photos = [model_input(p, spec, "ground", fov_deg=fov, band_crop=False) for p in images]
    with eval_mode(method), torch.inference_mode():
        desc = encode_images(method, "ground", torch.stack(photos), device,
                             [str(p) for p in images])
    hits = index.search(desc, k=top_k, near=near, radius_m=radius_m, exact=exact,
                        nprobes=nprobes, refine_factor=refine_factor)
    return [ViewQueryResult(str(path), cands, None, [c.extras.get(YAW_COLUMN) for c in cands],
                            fov)
            for path, cands in zip(images, hits, strict=True)]


def render_candidates(index: GeoIndex, candidates: Sequence[dict[str, Any]],
                      px: int = 192, dem: Any = None) -> list[np.ndarray]:
    """The database images of ``candidates`` (``locate --json`` entries), re-rendered.

    Rendered from the index's recorded DEM and settings at ``px`` pixels (a report size).
    """
    if not is_dem_index(index):
        raise CrossviewError(f"index {index.uri} does not hold DEM views")
    settings = {k: v for k, v in index.info.source.items() if k != "kind"}
    cfg = DemIndexConfig.from_dict({**settings, "view_px": px}, where=f"index {index.uri}")
    renderer = ViewRenderer(cfg, None, "cpu", dem)
    records = []
    for c in candidates:
        x, y = renderer.dem.to_local(c["lat"], c["lon"])
        records.append(ViewRecord(tile_id=c["tile"], path=c["path"], lat=c["lat"], lon=c["lon"],
                                  utm_e=c["utm_e"], utm_n=c["utm_n"], utm_zone=c["utm_zone"],
                                  ground_resolution_m=math.nan, yaw_deg=float(c[YAW_COLUMN]),
                                  x_m=float(x), y_m=float(y)))
    return renderer.images(records) if records else []


def terrain_locate_page(results: Sequence[dict[str, Any]], index: GeoIndex, method: str,
                        px: int = 192) -> str:
    """The ``locate --html`` page of a DEM index: each photo, its candidates' renders, a map.

    ``results`` are ``locate --json`` entries; the DEM is loaded once from the index's source.
    """
    from crossview.dem import load_dem
    from crossview.reports.terrain_report import (
        dem_candidates_map,
        terrain_locate_html,
        terrain_query_section,
    )

    source = index.info.source
    dem = load_dem(source["dem"], source.get("dem_cell_m"), source.get("z_units", "auto"))
    height = dem.height.numpy()
    sections = []
    for result in results:
        cands = result["candidates"]
        views = render_candidates(index, cands, px, dem)
        points = []
        for c in cands:
            x, y = dem.to_local(c["lat"], c["lon"])
            points.append({"rank": c["rank"], "x_m": float(x), "y_m": float(y),
                           "yaw_deg": float(c[YAW_COLUMN])})
        figure = dem_candidates_map(height, dem.bounds_m, dem.cell_m, points) if cands else None
        sections.append(terrain_query_section(result, views, figure))
    return terrain_locate_html(sections, index.uri, method, str(source.get("modality")),
                               Path(str(source["dem"])).name)
