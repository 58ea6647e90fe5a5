"""A digital elevation model in a local metric frame: loading (GeoTIFF, ``.npz``) and helpers.

Frame. Whatever its CRS, a DEM is reprojected (rasterio, bilinear) onto a square-cell grid in the
UTM zone of its centre (:func:`crossview.geometry.geodesy.utm_zone_for`), shifted so that the
local origin ``(0, 0)`` is the UTM point ``(origin_e, origin_n)`` near the DEM's centre: local
``x`` = easting - ``origin_e``, ``y`` = northing - ``origin_n``, ``z`` = elevation, all metres.
Local coordinates stay small, so float32 tensors keep millimetres. "North" in this frame is UTM
grid north; :meth:`Dem.north_offset_deg` gives the (sub-degree) meridian convergence that camera
bearings are corrected by.

Grid. Heights are samples at the cell centres of a :class:`~crossview.geometry.raycast.GridSpec`
(row 0 north); between samples the surface is bilinear (:mod:`crossview.geometry.heightfield`).
No-data samples are NaN: they are holes in the surface, never zeros.

``.npz`` DEMs hold ``height`` (rows x cols, row 0 north, any numeric dtype), ``bounds``
(west, south, east, north: the outer cell edges, in ``crs`` units), ``crs`` (e.g.
``"EPSG:32613"`` or WKT), and optionally ``nodata`` (a value meaning "no data"; NaN always does)
and ``z_units`` (``"m"``, ``"ft"`` or ``"us-ft"``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from crossview.errors import ConfigError, InputFileError
from crossview.geometry.geodesy import (
    BoundingBox,
    UtmZone,
    crs_units,
    geodesic_distance_m,
    latlon_to_utm,
    utm_to_latlon,
    utm_zone_for,
)
from crossview.geometry.heightfield import HeightPyramid, bilinear_height, build_pyramid
from crossview.geometry.raycast import GridSpec

logger = logging.getLogger(__name__)

Z_UNITS = {"m": 1.0, "ft": 0.3048, "us-ft": 1200.0 / 3937.0}
"""Elevation units accepted by ``z_units`` and their size in metres."""
_UNIT_NAMES = {
    "m": "m", "metre": "m", "meter": "m", "metres": "m", "meters": "m",
    "ft": "ft", "foot": "ft", "feet": "ft", "international foot": "ft",
    "us-ft": "us-ft", "ftus": "us-ft", "us_survey_foot": "us-ft", "us survey foot": "us-ft",
    "foot_us": "us-ft", "us-foot": "us-ft",
}
NPZ_KEYS = ("height", "bounds", "crs")
"""Required keys of a ``.npz`` DEM (``nodata`` and ``z_units`` are optional)."""


@dataclasses.dataclass(frozen=True)
class Dem:
    """Elevation samples on a local metric grid (see the module docstring for the frame)."""

    height: Tensor
    """``(rows, cols)`` float32 elevations in metres (CPU), NaN = no data."""
    grid: GridSpec
    """Placement of the samples (cell centres) in local metres."""
    zone: UtmZone
    """UTM zone of the local frame."""
    origin_e: float
    """UTM easting (m) of the local origin."""
    origin_n: float
    """UTM northing (m) of the local origin."""
    source: str = ""
    """Where the DEM came from (path) and its original CRS, for messages and ``dem info``."""
    _pyramids: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.height.shape != (self.grid.rows, self.grid.cols):
            raise ConfigError(f"Dem: height {tuple(self.height.shape)} does not match the grid "
                              f"({self.grid.rows}, {self.grid.cols})")
        if not bool(torch.isfinite(self.height).any()):
            raise ConfigError(f"Dem {self.source or ''}: no valid elevation (all no-data)".strip())

    @classmethod
    def from_array(cls, height: np.ndarray | Tensor, cell_m: float, lat: float, lon: float,
                   source: str = "array") -> Dem:
        """A DEM from a north-up array centred on ``(lat, lon)`` (cells of ``cell_m`` metres)."""
        h = torch.as_tensor(np.asarray(height, dtype=np.float32))
        if h.ndim != 2 or min(h.shape) < 2:
            raise ConfigError(f"height: expected (rows, cols) with at least 2 x 2 samples, "
                              f"got {tuple(h.shape)}")
        zone = utm_zone_for(lat, lon)
        east, north, _ = latlon_to_utm(lat, lon, zone)
        rows, cols = h.shape
        grid = GridSpec(-cols * cell_m / 2, rows * cell_m / 2, float(cell_m), rows, cols)
        return cls(h, grid, zone, float(east), float(north), source)

    @property
    def cell_m(self) -> float:
        """Side of one cell (sample spacing) in metres."""
        return self.grid.cell_m

    @property
    def crs(self) -> str:
        """The local frame's CRS (the UTM zone), e.g. ``"EPSG:32613"``."""
        return f"EPSG:{self.zone.epsg}"

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` of the grid's cells in local metres."""
        g = self.grid
        return g.x_min, g.y_max - g.rows * g.cell_m, g.x_min + g.cols * g.cell_m, g.y_max

    @property
    def valid(self) -> Tensor:
        """``(rows, cols)`` bool: samples with an elevation."""
        return torch.isfinite(self.height)

    @property
    def elevation_range(self) -> tuple[float, float]:
        """Lowest and highest valid elevation (m)."""
        v = self.height[self.valid]
        return float(v.min()), float(v.max())

    def to_local(self, lat: Any, lon: Any) -> tuple[Any, Any]:
        """Local ``(x, y)`` metres of WGS84 positions (floats or arrays)."""
        east, north, _ = latlon_to_utm(lat, lon, self.zone)
        return east - self.origin_e, north - self.origin_n

    def to_latlon(self, x: Any, y: Any) -> tuple[Any, Any]:
        """WGS84 ``(lat, lon)`` of local points (floats or arrays)."""
        return utm_to_latlon(np.asarray(x, float) + self.origin_e,
                             np.asarray(y, float) + self.origin_n, self.zone)

    def height_at(self, x: Any, y: Any) -> np.ndarray:
        """Bilinear surface elevation at local points (NaN outside the grid or over no-data)."""
        xs = torch.as_tensor(np.asarray(x, np.float64))
        ys = torch.as_tensor(np.asarray(y, np.float64))
        return bilinear_height(self.height.double(), self.grid, xs, ys).numpy()

    def north_offset_deg(self, x: float, y: float) -> float:
        """Grid bearing (deg clockwise from grid north) of true north at local ``(x, y)``.

        A direction with true bearing ``b`` has grid bearing ``b + north_offset_deg``.
        """
        lat, lon = self.to_latlon(x, y)
        ahead = min(float(lat) + 0.01, 89.99)
        x1, y1 = self.to_local(ahead, float(lon))
        return math.degrees(math.atan2(float(x1) - x, float(y1) - y))

    def latlon_bounds(self) -> BoundingBox:
        """WGS84 box around the grid (its four corners and edge midpoints)."""
        x0, y0, x1, y1 = self.bounds_m
        xs = np.array([x0, x1, x0, x1, (x0 + x1) / 2, (x0 + x1) / 2, x0, x1])
        ys = np.array([y0, y0, y1, y1, y0, y1, (y0 + y1) / 2, (y0 + y1) / 2])
        lat, lon = self.to_latlon(xs, ys)
        return BoundingBox.from_points(lat, lon)

    def pyramid(self, device: torch.device | str = "cpu") -> HeightPyramid:
        """The max-mipmap of the surface on ``device`` (built once per device)."""
        key = str(torch.device(device))
        if key not in self._pyramids:
            self._pyramids[key] = build_pyramid(self.height.to(device), self.grid)
        return self._pyramids[key]

    def describe(self) -> dict[str, Any]:
        """Extent, resolution, CRS and elevation range (what ``crossview dem info`` prints)."""
        box = self.latlon_bounds()
        x0, y0, x1, y1 = self.bounds_m
        lo, hi = self.elevation_range
        return {
            "source": self.source,
            "crs": f"{self.crs} (UTM {self.zone})",
            "origin_utm_m": [round(self.origin_e, 3), round(self.origin_n, 3)],
            "grid": [self.grid.rows, self.grid.cols],
            "cell_m": round(self.cell_m, 3),
            "extent_m": [round(x1 - x0, 1), round(y1 - y0, 1)],
            "bounds_latlon": {"south": box.south, "west": box.west, "north": box.north,
                              "east": box.east},
            "elevation_m": [round(lo, 2), round(hi, 2)],
            "valid_fraction": round(float(self.valid.float().mean()), 4),
        }


@dataclasses.dataclass(frozen=True)
class Texture:
    """A co-registered RGB raster warped onto a DEM's local frame (photo and segmentation)."""

    image: Tensor
    """``(3, H, W)`` float32 sRGB in ``[0, 1]``; NaN where the raster has no data."""
    grid: GridSpec
    """Placement of the pixels (cell centres) in the DEM's local metres."""
    source: str = ""

    def sample(self, x: Tensor, y: Tensor) -> Tensor:
        """Bilinear colours ``(..., 3)`` at local points ``(...)``; NaN outside or over no-data."""
        g = self.grid
        img = self.image.to(x.device)
        col = (x - g.x_min) / g.cell_m - 0.5
        row = (g.y_max - y) / g.cell_m - 0.5
        gx = col * (2.0 / max(g.cols - 1, 1)) - 1.0
        gy = row * (2.0 / max(g.rows - 1, 1)) - 1.0
        grid = torch.stack([gx, gy], -1).reshape(1, 1, -1, 2).float()
        out = torch.nn.functional.grid_sample(img[None], grid, mode="bilinear",
                                              padding_mode="zeros", align_corners=True)
        out = out[0, :, 0].t().reshape(*x.shape, 3)
        outside = (col < 0) | (col > g.cols - 1) | (row < 0) | (row > g.rows - 1)
        return torch.where(outside.unsqueeze(-1), torch.full_like(out, math.nan), out)


def load_dem(path: str | Path, cell_m: float | None = None, z_units: str = "auto") -> Dem:
    """Load a DEM (GeoTIFF or any raster rasterio reads, or ``.npz``) into its local UTM frame.

    Args:
        path: The elevation raster (band 1) or ``.npz`` (keys in the module docstring).
        cell_m: Cell size of the local grid in metres (default: the source's own resolution).
        z_units: ``"auto"`` reads the units from the band metadata or the vertical CRS (feet are
            converted to metres); ``"m"``, ``"ft"`` or ``"us-ft"`` state them.

    Raises:
        InputFileError: Missing or unreadable file, no CRS, all no-data, or feet-based
            coordinates with unstated elevation units.

    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found")
    if cell_m is not None and not (math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"cell_m: expected a positive number of metres, got {cell_m!r}")
    raw = _read_npz(path) if path.suffix.lower() == ".npz" else _read_raster(path, bands=1)
    if raw["crs"] is None:
        raise InputFileError(path, "raster has no CRS (not georeferenced)")
    factor = _z_factor(path, raw["units"], raw["crs"], z_units)
    data = raw["data"][0]
    if not np.isfinite(data).any():
        raise InputFileError(path, "no valid elevation (every sample is no-data)")
    lat, lon = _centre_latlon(raw["crs"], raw["transform"], data.shape, path)
    frame = _local_frame(lat, lon)
    cell = float(cell_m) if cell_m is not None else _native_cell_m(raw["crs"], raw["transform"],
                                                                    lat, lon)
    grid, warped = _warp(raw, frame, cell, bounds=None)
    height = warped[0] * factor
    if not np.isfinite(height).any():
        raise InputFileError(path, "no valid elevation after reprojection to UTM")
    source = f"{path} ({_crs_name(raw['crs'])})"
    return Dem(torch.from_numpy(height.astype(np.float32)), grid, frame["zone"],
               frame["origin_e"], frame["origin_n"], source)


def load_texture(path: str | Path, dem: Dem, cell_m: float | None = None) -> Texture:
    """Warp an 8-bit RGB raster (e.g. a Landsat composite) onto ``dem``'s local frame.

    The texture keeps its own resolution (``cell_m`` overrides it) and covers the DEM's extent;
    pixels whose bands all equal the raster's no-data value are NaN.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found")
    raw = _read_raster(path, bands=3)
    if raw["crs"] is None:
        raise InputFileError(path, "raster has no CRS (not georeferenced)")
    if raw["dtype"] != "uint8":
        raise InputFileError(path, f"expected an 8-bit RGB raster, got {raw['dtype']} "
                                   f"(convert it, e.g. gdal_translate -ot Byte -scale)")
    frame = {"zone": dem.zone, "origin_e": dem.origin_e, "origin_n": dem.origin_n}
    if cell_m is None:
        lat, lon = _centre_latlon(raw["crs"], raw["transform"], raw["data"].shape, path)
        cell_m = _native_cell_m(raw["crs"], raw["transform"], lat, lon)
    grid, warped = _warp(raw, frame, float(cell_m), bounds=dem.bounds_m)
    if not np.isfinite(warped).any():
        raise InputFileError(path, f"the raster does not overlap the DEM {dem.source}")
    return Texture(torch.from_numpy((warped / 255.0).astype(np.float32)), grid, str(path))


def _read_raster(path: Path, bands: int) -> dict[str, Any]:
    """Bands ``1..bands`` (fewer are repeated) as float64 with NaN for no-data, and metadata."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            count = src.count
            idx = [min(b, count) for b in range(1, bands + 1)]
            data = src.read(idx).astype(np.float64)
            if src.nodata is not None and not math.isnan(src.nodata):
                data[:, (data == src.nodata).all(0)] = np.nan  # all bands at no-data
            return {"data": data, "transform": src.transform,
                    "crs": src.crs.to_wkt() if src.crs else None,
                    "units": (src.units or (None,))[0], "dtype": src.dtypes[0]}
    except RasterioIOError as err:
        raise InputFileError(path, f"cannot read as a raster ({err})") from None


def _read_npz(path: Path) -> dict[str, Any]:
    from rasterio.transform import Affine

    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise InputFileError(path, f"missing key(s) {missing}; a .npz DEM needs "
                                           f"{list(NPZ_KEYS)} (see docs/terrain.md)")
            height = np.asarray(npz["height"], dtype=np.float64)
            bounds = np.asarray(npz["bounds"], dtype=np.float64).ravel()
            crs = str(npz["crs"])
            nodata = float(npz["nodata"]) if "nodata" in npz.files else None
            units = str(npz["z_units"]) if "z_units" in npz.files else None
    except InputFileError:
        raise
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"cannot read as .npz ({err})") from None
    if height.ndim != 2 or min(height.shape) < 2:
        raise InputFileError(path, f"height: expected (rows, cols) >= 2 x 2, got {height.shape}")
    if bounds.size != 4 or not np.isfinite(bounds).all() or bounds[0] >= bounds[2] \
            or bounds[1] >= bounds[3]:
        raise InputFileError(path, f"bounds: expected (west, south, east, north), got {bounds}")
    if nodata is not None:
        height[height == nodata] = np.nan
    west, south, east, north = bounds
    transform = Affine((east - west) / height.shape[1], 0.0, west, 0.0,
                       (south - north) / height.shape[0], north)
    return {"data": height[None], "transform": transform, "crs": crs, "units": units,
            "dtype": "float64"}


def _crs_name(crs: str) -> str:
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    code = parsed.to_epsg()
    return f"EPSG:{code}" if code else parsed.name


def _z_factor(path: Path, band_units: str | None, crs: str, z_units: str) -> float:
    """Metres per elevation unit, from ``z_units`` or the file's metadata (one-line errors)."""
    if z_units != "auto":
        if z_units not in Z_UNITS:
            raise ConfigError(f"z_units: expected 'auto' or one of {sorted(Z_UNITS)}, "
                              f"got {z_units!r}")
        return Z_UNITS[z_units]
    try:
        units = crs_units(crs)
    except ConfigError as err:
        raise InputFileError(path, str(err)) from None
    stated = band_units.strip().lower() if band_units else None
    if stated:
        if stated not in _UNIT_NAMES:
            raise InputFileError(path, f"elevation units {band_units!r} are not supported; "
                                       f"pass z_units (--z-units) as one of {sorted(Z_UNITS)}")
        name = _UNIT_NAMES[stated]
    elif units.vertical_m is not None:
        name = "m" if abs(units.vertical_m - 1.0) < 1e-9 else \
            _UNIT_NAMES.get(units.vertical_name.lower() if units.vertical_name else "", "?")
        if name == "?":
            raise InputFileError(path, f"vertical CRS unit {units.vertical_name!r} is not "
                                       f"supported; pass z_units (--z-units)")
    elif units.horizontal_m is not None and abs(units.horizontal_m - 1.0) > 1e-6:
        raise InputFileError(path, f"the CRS is in {units.horizontal_name} and the elevation "
                                   f"units are not stated; pass z_units (--z-units) as 'ft', "
                                   f"'us-ft' or 'm'")
    else:
        return 1.0
    if name != "m":
        logger.info("%s: elevations in %s converted to metres", path, name)
    return Z_UNITS[name]


def _centre_latlon(crs: str, transform: Any, shape: tuple[int, ...], path: Path
                   ) -> tuple[float, float]:
    """WGS84 ``(lat, lon)`` of the centre of a raster of ``shape`` (..., rows, cols)."""
    from rasterio.warp import transform as warp_points

    col, row = shape[-1] / 2, shape[-2] / 2
    cx = transform.c + transform.a * col + transform.b * row
    cy = transform.f + transform.d * col + transform.e * row
    lon, lat = warp_points(crs, "EPSG:4326", [cx], [cy])
    if not (math.isfinite(lat[0]) and math.isfinite(lon[0])):
        raise InputFileError(path, "cannot locate the raster's centre in WGS84")
    return float(lat[0]), float(lon[0])


def _local_frame(lat: float, lon: float) -> dict[str, Any]:
    """The UTM zone of ``(lat, lon)`` and a local origin there (rounded to the metre)."""
    zone = utm_zone_for(lat, lon)
    east, north, _ = latlon_to_utm(lat, lon, zone)
    return {"zone": zone, "origin_e": float(round(float(east))),
            "origin_n": float(round(float(north)))}


def _native_cell_m(crs: str, transform: Any, lat: float, lon: float) -> float:
    """The source's pixel size in metres (geographic CRS: measured at ``(lat, lon)``)."""
    units = crs_units(crs)
    if units.geographic:
        dx = geodesic_distance_m(lat, lon, lat, lon + abs(transform.a))
        dy = geodesic_distance_m(lat, lon, min(lat + abs(transform.e), 90.0), lon)
        size = math.sqrt(float(dx) * float(dy))
    else:
        size = math.sqrt(abs(transform.a * transform.e)) * (units.horizontal_m or 1.0)
    return round(size, 3)


def _warp(raw: dict[str, Any], frame: dict[str, Any], cell: float,
          bounds: tuple[float, float, float, float] | None) -> tuple[GridSpec, np.ndarray]:
    """Reproject ``raw`` onto a ``cell``-metre grid of the local frame (bilinear, NaN no-data).

    ``bounds`` (local ``x_min, y_min, x_max, y_max``) defaults to the source's footprint.
    """
    from rasterio.transform import Affine, array_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds

    data = raw["data"]
    e0, n0 = frame["origin_e"], frame["origin_n"]
    if bounds is None:
        src_bounds = array_bounds(data.shape[1], data.shape[2], raw["transform"])
        west, south, east, north = transform_bounds(raw["crs"], f"EPSG:{frame['zone'].epsg}",
                                                    *(src_bounds[i] for i in (0, 1, 2, 3)),
                                                    densify_pts=21)
        bounds = (west - e0, south - n0, east - e0, north - n0)
    x0, y0, x1, y1 = bounds
    cols, rows = max(2, math.ceil((x1 - x0) / cell)), max(2, math.ceil((y1 - y0) / cell))
    out = np.full((data.shape[0], rows, cols), np.nan, dtype=np.float32)
    reproject(source=data.astype(np.float32), destination=out, src_transform=raw["transform"],
              src_crs=raw["crs"], src_nodata=np.nan,
              dst_transform=Affine(cell, 0.0, x0 + e0, 0.0, -cell, y1 + n0),
              dst_crs=f"EPSG:{frame['zone'].epsg}", dst_nodata=np.nan,
              resampling=Resampling.bilinear)
    return GridSpec(float(x0), float(y1), cell, rows, cols), out
