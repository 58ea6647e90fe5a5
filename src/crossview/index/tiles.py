"""Cut a georeferenced orthophoto (and optional DSM) into north-up tiles with coordinates.

Output folder layout (the same ``tiles.csv`` columns as the synthetic world's
``crossview_gt/tiles.csv``, so ``index build --tiles FOLDER`` reads either)::

    FOLDER/tiles.csv        tile_id,path,lat,lon,utm_e,utm_n,utm_zone,ground_resolution_m[,dsm]
    FOLDER/tiles/<id>.png   RGB tiles, north-up
    FOLDER/dsm/<id>.npy     float32 heights on the same pixel grid (with ``--dsm``)

Rasters in a geographic CRS (degrees, e.g. EPSG:4326) are first warped to the UTM zone of their
centre, so tiles are square in metres (methods assume a metric footprint); rasters already in a
projected CRS are cut as they are. Rotated or south-up geotransforms are refused.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from crossview.errors import ConfigError, InputFileError
from crossview.io import read_text, save_image, write_bytes_atomic, write_text_atomic
from crossview.progress import track

logger = logging.getLogger(__name__)

TILES_CSV = "tiles.csv"


@dataclasses.dataclass(frozen=True)
class TileLocation:
    """Where a tile is: the columns shared by ``tiles.csv``, the GeoIndex and search results."""

    tile_id: str
    path: str
    lat: float
    """Tile-centre WGS84 latitude (degrees)."""
    lon: float
    """Tile-centre WGS84 longitude (degrees)."""
    utm_e: float
    utm_n: float
    utm_zone: str
    ground_resolution_m: float
    """Metres per pixel."""


TILE_COLUMNS = tuple(f.name for f in dataclasses.fields(TileLocation))
"""Names of the :class:`TileLocation` fields, in ``tiles.csv`` column order."""
CSV_COLUMNS = list(TILE_COLUMNS)
"""Required ``tiles.csv`` columns (an optional ``dsm`` column may follow)."""


@dataclasses.dataclass(frozen=True)
class TileRecord(TileLocation):
    """One tile of a tiles folder (paths relative to the folder)."""

    dsm: str = ""


def utm_crs_for(lat: float, lon: float) -> tuple[Any, str]:
    """Return the WGS84 UTM CRS of ``(lat, lon)`` and its zone label, e.g. ``"13N"``.

    The zone is :func:`crossview.geometry.geodesy.utm_zone_for`'s (Norway / Svalbard
    exceptions included); the label is crossview's one format (:mod:`crossview.conventions`).
    """
    from pyproj import CRS

    from crossview.geometry.geodesy import utm_zone_for

    zone = utm_zone_for(lat, lon)
    return CRS.from_epsg(zone.epsg), str(zone)


def _check_north_up(path: Path, transform: Any) -> None:
    # A geotransform with shear/rotation terms (b, d) or a positive e (south-up) would make
    # "north-up tiles" false; refuse rather than write mis-oriented tiles.
    if abs(transform.b) > 1e-12 or abs(transform.d) > 1e-12:
        raise InputFileError(
            path, "rotated geotransform (not north-up); warp it to north-up first (gdalwarp)"
        )
    if transform.a <= 0 or transform.e >= 0:
        raise InputFileError(
            path, f"geotransform is not north-up (pixel size {transform.a}, {transform.e})"
        )


def _open_dataset(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        return rasterio.open(path)
    except RasterioIOError as err:
        raise InputFileError(path, f"cannot read as a GeoTIFF ({err})") from None


def _read_raster(path: Path, dataset: Any, band: int | None = None) -> np.ndarray:
    """``dataset.read(band)``; a truncated or corrupt file is an error naming ``path``."""
    from rasterio.errors import RasterioError

    try:
        return dataset.read() if band is None else dataset.read(band)
    except RasterioError as err:
        raise InputFileError(path, f"cannot read the raster's pixels, truncated or corrupt "
                                   f"({str(err).splitlines()[0] if str(err) else err})") from None


def _to_uint8(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """(C, H, W) any dtype -> (H, W, 3) uint8; non-byte data is stretched per band (2-98 %)."""
    if data.shape[0] >= 3:
        data = data[:3]
    else:
        data = np.repeat(data[:1], 3, axis=0)
    if data.dtype == np.uint8:
        return np.ascontiguousarray(data.transpose(1, 2, 0))
    out = np.zeros(data.shape, dtype=np.uint8)
    for c in range(3):
        band = data[c].astype(np.float64)
        valid = np.isfinite(band) & (band != nodata if nodata is not None else True)
        if valid.any():
            lo, hi = np.percentile(band[valid], [2, 98])
            out[c] = (
                np.clip((band - lo) / max(hi - lo, 1e-9) * 255, 0, 255).round().astype(np.uint8)
            )
    return out.transpose(1, 2, 0)


def make_tiles(
    ortho: Path,
    out: Path,
    tile_size: int,
    stride: int | None = None,
    dsm: Path | None = None,
    reproject: bool = True,
) -> list[TileRecord]:
    """Cut ``ortho`` into ``tile_size`` px north-up tiles every ``stride`` px and write ``out``.

    Args:
        ortho: Georeferenced RGB (or single-band) GeoTIFF.
        out: Output folder (``tiles.csv``, ``tiles/``, ``dsm/``).
        tile_size: Tile side in pixels.
        stride: Step between tiles in pixels (default ``tile_size``: no overlap).
        dsm: Optional elevation GeoTIFF, resampled onto the orthophoto's grid.
        reproject: Warp geographic-CRS rasters to UTM first (see module docstring).

    Returns:
        The tiles written, in row-major order.

    """
    from pyproj import Transformer
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    stride = stride or tile_size
    if tile_size < 1 or stride < 1:
        raise ConfigError(f"--tile-size and --stride must be >= 1, got {tile_size}, {stride}")
    ortho, out = Path(ortho), Path(out)
    with _open_dataset(ortho) as src:
        if src.crs is None:
            raise InputFileError(ortho, "raster has no CRS (not georeferenced)")
        _check_north_up(ortho, src.transform)
        centre_lon, centre_lat = Transformer.from_crs(
            src.crs, "EPSG:4326", always_xy=True
        ).transform(*src.xy(src.height / 2, src.width / 2, offset="ul"))
        utm, zone = utm_crs_for(centre_lat, centre_lon)
        if src.crs.is_geographic and reproject:
            vrt = WarpedVRT(src, crs=utm, resampling=Resampling.bilinear)
        else:
            vrt = WarpedVRT(src)  # identity view: same grid, one code path below
        with vrt:
            image = _to_uint8(_read_raster(ortho, vrt), src.nodata)
            grid_crs, transform = vrt.crs, vrt.transform
            heights = _read_dsm(dsm, vrt) if dsm is not None else None
    return _write_tiles(image, heights, transform, grid_crs, utm, zone, tile_size, stride, out)


def _read_dsm(dsm: Path, grid: Any) -> np.ndarray:
    """Read the DSM resampled onto ``grid`` (a dataset or VRT): float32 (H, W), NaN = nodata."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with _open_dataset(Path(dsm)) as src:
        if src.crs is None:
            raise InputFileError(dsm, "raster has no CRS (not georeferenced)")
        _check_north_up(Path(dsm), src.transform)
        opts = dict(crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height)
        with WarpedVRT(
            src,
            resampling=Resampling.bilinear,
            src_nodata=src.nodata,
            nodata=np.nan,
            dtype="float32",
            **opts,
        ) as vrt:
            return _read_raster(Path(dsm), vrt, 1).astype(np.float32)


def _write_tiles(
    image: np.ndarray,
    heights: np.ndarray | None,
    transform: Any,
    grid_crs: Any,
    utm: Any,
    zone: str,
    tile_size: int,
    stride: int,
    out: Path,
) -> list[TileRecord]:
    from pyproj import Geod, Transformer

    h, w = image.shape[:2]
    if h < tile_size or w < tile_size:
        raise ConfigError(f"--tile-size {tile_size} is larger than the raster ({h}x{w} px)")
    to_wgs = Transformer.from_crs(grid_crs, "EPSG:4326", always_xy=True)
    to_utm = Transformer.from_crs(grid_crs, utm, always_xy=True)
    geod = Geod(ellps="WGS84")
    origins = [
        (r, c)
        for r in range(0, h - tile_size + 1, stride)
        for c in range(0, w - tile_size + 1, stride)
    ]
    records = []
    for r, c in track(origins, "cutting tiles"):
        tile_id = f"r{r:06d}_c{c:06d}"
        # Tile centre = the pixel-corner point (r + S/2, c + S/2) of the grid.
        x, y = _grid_xy(transform, c + tile_size / 2, r + tile_size / 2)
        lon, lat = to_wgs.transform(x, y)
        e, n = to_utm.transform(x, y)
        # Ground resolution measured geodesically across the tile (metres per pixel).
        lon0, lat0 = to_wgs.transform(*_grid_xy(transform, c, r + tile_size / 2))
        lon1, lat1 = to_wgs.transform(*_grid_xy(transform, c + tile_size, r + tile_size / 2))
        res = float(geod.inv(lon0, lat0, lon1, lat1)[2]) / tile_size
        path = f"tiles/{tile_id}.png"
        save_image(image[r : r + tile_size, c : c + tile_size], out / path)
        dsm_path = ""
        if heights is not None:
            dsm_path = f"dsm/{tile_id}.npy"
            buf = io.BytesIO()
            np.save(buf, heights[r : r + tile_size, c : c + tile_size])
            write_bytes_atomic(out / dsm_path, buf.getvalue())
        records.append(
            TileRecord(
                tile_id, path, float(lat), float(lon), float(e), float(n), zone, res, dsm_path
            )
        )
    write_tiles_csv(records, out / TILES_CSV)
    logger.info("wrote %d tiles of %d px to %s", len(records), tile_size, out)
    return records


def _grid_xy(transform: Any, col: float, row: float) -> tuple[float, float]:
    """Map coordinates of the grid point ``(row, col)`` (pixel-corner units, north-up grid)."""
    return transform.c + col * transform.a, transform.f + row * transform.e


def write_tiles_csv(records: list[TileRecord], path: Path) -> Path:
    """Write ``tiles.csv`` atomically (a ``dsm`` column only when some tile has one)."""
    columns = CSV_COLUMNS + (["dsm"] if any(r.dsm for r in records) else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        row = dataclasses.asdict(rec)
        writer.writerow({k: row[k] for k in columns})
    return write_text_atomic(path, buf.getvalue())


def read_tiles_csv(folder: Path) -> list[TileRecord]:
    """Read ``FOLDER/tiles.csv`` (or ``FOLDER/crossview_gt/tiles.csv`` of a synthetic world).

    Raises:
        InputFileError: missing file, missing columns, bad numbers or missing tile images.

    """
    folder = Path(folder)
    path = folder / TILES_CSV
    if not path.is_file() and (folder / "crossview_gt" / TILES_CSV).is_file():
        path = folder / "crossview_gt" / TILES_CSV
    text = read_text(path, "file not found (expected a tiles folder from `crossview tiles make`)")
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputFileError(path, f"missing columns {missing}")
        records = []
        for line, row in enumerate(reader, start=2):
            try:
                rec = TileRecord(
                    tile_id=row["tile_id"],
                    path=row["path"],
                    lat=float(row["lat"]),
                    lon=float(row["lon"]),
                    utm_e=float(row["utm_e"]),
                    utm_n=float(row["utm_n"]),
                    utm_zone=row["utm_zone"],
                    ground_resolution_m=float(row["ground_resolution_m"]),
                    dsm=row.get("dsm") or "",
                )
            except (TypeError, ValueError) as err:
                raise InputFileError(path, f"line {line}: {err}") from None
            if not (math.isfinite(rec.lat) and math.isfinite(rec.lon) and -90 <= rec.lat <= 90
                    and -180 <= rec.lon <= 180):
                raise InputFileError(path, f"line {line}: lat/lon ({row['lat']}, {row['lon']}) "
                                           "is not a WGS84 position")
            if _escapes(folder, rec.path):
                raise InputFileError(path, f"line {line}: path {rec.path!r} escapes the tiles "
                                           "folder")
            if not (folder / rec.path).is_file():
                raise InputFileError(
                    folder / rec.path, f"tile listed in {path} line {line} not found"
                )
            records.append(rec)
    if len({r.tile_id for r in records}) != len(records):
        raise InputFileError(path, "duplicate tile_id values")
    if not records:
        raise InputFileError(path, "no tile rows (only a header)")
    return records


def _escapes(folder: Path, rel: str) -> bool:
    """Whether a relative ``rel`` climbs out of ``folder`` (absolute paths are allowed)."""
    if Path(rel).is_absolute() or ".." not in Path(rel).parts:
        return False
    return os.path.relpath(os.path.normpath(folder / rel), folder).startswith("..")
