"""Geodesy through pyproj: UTM zones and projections, local ENU frames, geodesic distances.

Convention: :mod:`crossview.conventions` ("Geodesy"): WGS84 ``(lat, lon)`` in degrees, latitude
first; metres and degrees at every interface. All functions accept scalars or NumPy arrays
(broadcast together) and return floats or arrays of the broadcast shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import Geod, Transformer
from pyproj.enums import TransformDirection

from crossview.errors import ConfigError

ArrayLike = float | np.ndarray
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class UtmZone:
    """A UTM zone: ``number`` in 1..60 and the hemisphere (``south``)."""

    number: int
    south: bool = False

    def __post_init__(self) -> None:
        if not 1 <= int(self.number) <= 60 or int(self.number) != self.number:
            raise ConfigError(f"utm zone: number must be an integer in 1..60, got {self.number!r}")

    @property
    def epsg(self) -> int:
        """EPSG code of WGS84 / UTM in this zone (326xx north, 327xx south)."""
        return (32700 if self.south else 32600) + int(self.number)

    def __str__(self) -> str:
        return f"{self.number}{'S' if self.south else 'N'}"

    @classmethod
    def parse(cls, zone: UtmZone | int | str) -> UtmZone:
        """Read a zone from a ``UtmZone``, an EPSG code (32633) or text ("33N", "33S", "33")."""
        if isinstance(zone, UtmZone):
            return zone
        if isinstance(zone, (int, np.integer)) and not isinstance(zone, bool):
            if 32601 <= zone <= 32660 or 32701 <= zone <= 32760:
                return cls(int(zone) % 100, south=zone >= 32700)
            raise ConfigError(f"utm zone: {zone} is not a WGS84 UTM EPSG code (32601-32760)")
        match = re.fullmatch(r"\s*(\d{1,2})\s*([NnSs]?)\s*", str(zone))
        if match is None:
            raise ConfigError(f"utm zone: expected e.g. '33N', '33S' or an EPSG code, got {zone!r}")
        return cls(int(match.group(1)), south=match.group(2).upper() == "S")


@dataclass(frozen=True)
class LatLon:
    """A WGS84 position in degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        _check_latlon(self.lat, self.lon, "LatLon")

    def to_utm(self, zone: UtmZone | int | str | None = None) -> tuple[float, float, UtmZone]:
        """``(easting, northing, zone)`` in metres (zone chosen automatically when ``None``)."""
        e, n, z = latlon_to_utm(self.lat, self.lon, zone)
        return float(e), float(n), z

    def distance_m(self, other: LatLon) -> float:
        """Geodesic (WGS84) distance to ``other`` in metres."""
        return float(geodesic_distance_m(self.lat, self.lon, other.lat, other.lon))


@dataclass(frozen=True)
class BoundingBox:
    """A latitude/longitude box in degrees (``west > east`` crosses the antimeridian)."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        _check_latlon(self.south, self.west, "BoundingBox south/west")
        _check_latlon(self.north, self.east, "BoundingBox north/east")
        if self.south > self.north:
            raise ConfigError(f"BoundingBox: south {self.south} is north of north {self.north}")

    @classmethod
    def around(cls, center: LatLon, radius_m: float) -> BoundingBox:
        """Return the box enclosing the circle of ``radius_m`` metres around ``center``."""
        if not radius_m >= 0 or not math.isfinite(radius_m):
            raise ConfigError(f"radius_m: expected a finite value >= 0, got {radius_m!r}")
        lon_n, lat_n, _ = _GEOD.fwd(center.lon, center.lat, 0.0, radius_m)
        lon_s, lat_s, _ = _GEOD.fwd(center.lon, center.lat, 180.0, radius_m)
        lon_e, _, _ = _GEOD.fwd(center.lon, center.lat, 90.0, radius_m)
        lon_w, _, _ = _GEOD.fwd(center.lon, center.lat, 270.0, radius_m)
        return cls(min(lat_s, lat_n), lon_w, max(lat_s, lat_n), lon_e)

    @classmethod
    def from_points(cls, lat: ArrayLike, lon: ArrayLike) -> BoundingBox:
        """Return the smallest box (not crossing the antimeridian) containing all points."""
        lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        if lat_a.size == 0:
            raise ConfigError("BoundingBox.from_points: no points given")
        return cls(float(lat_a.min()), float(lon_a.min()), float(lat_a.max()), float(lon_a.max()))

    def contains(self, lat: ArrayLike, lon: ArrayLike) -> np.ndarray | bool:
        """Whether each point lies inside the box (edges included)."""
        lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        in_lat = (lat_a >= self.south) & (lat_a <= self.north)
        if self.west <= self.east:
            in_lon = (lon_a >= self.west) & (lon_a <= self.east)
        else:
            in_lon = (lon_a >= self.west) | (lon_a <= self.east)
        out = in_lat & in_lon
        return bool(out) if out.ndim == 0 else out


def _check_latlon(lat: ArrayLike, lon: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    if not (np.isfinite(lat_a).all() and np.isfinite(lon_a).all()):
        raise ConfigError(f"{name}: latitude/longitude must be finite numbers (got NaN or inf)")
    if (np.abs(lat_a) > 90).any():
        bad = lat_a[np.abs(lat_a) > 90].flat[0]
        raise ConfigError(f"{name}: latitude must be in [-90, 90], got {bad}")
    if (np.abs(lon_a) > 180).any():
        bad = lon_a[np.abs(lon_a) > 180].flat[0]
        raise ConfigError(f"{name}: longitude must be in [-180, 180], got {bad}")
    return lat_a, lon_a


def _out(x: np.ndarray) -> ArrayLike:
    return float(x) if np.ndim(x) == 0 else x


def utm_zone_for(lat: float, lon: float) -> UtmZone:
    """UTM zone of a position, including the Norway (32V) and Svalbard (31X-37X) exceptions."""
    lat_a, lon_a = _check_latlon(lat, lon, "utm_zone_for")
    if lat_a.ndim or lon_a.ndim:
        lat, lon = float(lat_a.flat[0]), float(lon_a.flat[0])
    number = min(int((float(lon) + 180.0) // 6.0) + 1, 60)
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        number = 32
    elif 72.0 <= lat <= 84.0 and 0.0 <= lon < 42.0:
        number = 31 if lon < 9 else 33 if lon < 21 else 35 if lon < 33 else 37
    return UtmZone(number, south=float(lat) < 0.0)


@lru_cache(maxsize=128)
def _utm_transformer(epsg: int) -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


@lru_cache(maxsize=128)
def _enu_transformer(lat0: float, lon0: float, h0: float) -> Transformer:
    # Geodetic -> geocentric (cart) -> topocentric ENU at the origin, one PROJ pipeline.
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=cart +ellps=WGS84 "
        f"+step +proj=topocentric +ellps=WGS84 +lat_0={lat0!r} +lon_0={lon0!r} +h_0={h0!r}"
    )


def latlon_to_utm(lat: ArrayLike, lon: ArrayLike, zone: UtmZone | int | str | None = None
                  ) -> tuple[ArrayLike, ArrayLike, UtmZone]:
    """Project WGS84 positions to UTM ``(easting_m, northing_m, zone)``.

    ``zone=None`` picks the zone of the first point, so that all points share one metric frame
    (distances between them stay meaningful); pass ``zone`` to force one.
    """
    lat_a, lon_a = _check_latlon(lat, lon, "latlon_to_utm")
    lat_a, lon_a = np.broadcast_arrays(lat_a, lon_a)
    utm = UtmZone.parse(zone) if zone is not None else utm_zone_for(lat_a.flat[0], lon_a.flat[0])
    east, north = _utm_transformer(utm.epsg).transform(lon_a, lat_a)
    return _out(np.asarray(east)), _out(np.asarray(north)), utm


def utm_to_latlon(easting_m: ArrayLike, northing_m: ArrayLike, zone: UtmZone | int | str
                  ) -> tuple[ArrayLike, ArrayLike]:
    """Inverse of :func:`latlon_to_utm`: UTM metres in ``zone`` -> WGS84 ``(lat, lon)`` degrees."""
    e_a, n_a = np.broadcast_arrays(np.asarray(easting_m, float), np.asarray(northing_m, float))
    if not (np.isfinite(e_a).all() and np.isfinite(n_a).all()):
        raise ConfigError("utm_to_latlon: easting/northing must be finite numbers (got NaN or inf)")
    utm = UtmZone.parse(zone)
    lon, lat = _utm_transformer(utm.epsg).transform(e_a, n_a, direction=TransformDirection.INVERSE)
    return _out(np.asarray(lat)), _out(np.asarray(lon))


def latlon_to_enu(lat: ArrayLike, lon: ArrayLike, origin_lat: float, origin_lon: float,
                  h: ArrayLike = 0.0, origin_h: float = 0.0
                  ) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
    """Local east/north/up metres of positions relative to an origin (ellipsoidal heights, m)."""
    lat_a, lon_a = _check_latlon(lat, lon, "latlon_to_enu")
    _check_latlon(origin_lat, origin_lon, "latlon_to_enu origin")
    lat_a, lon_a, h_a = np.broadcast_arrays(lat_a, lon_a, np.asarray(h, dtype=float))
    tr = _enu_transformer(float(origin_lat), float(origin_lon), float(origin_h))
    east, north, up = tr.transform(lon_a, lat_a, h_a)
    return _out(np.asarray(east)), _out(np.asarray(north)), _out(np.asarray(up))


def enu_to_latlon(east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike, origin_lat: float,
                  origin_lon: float, origin_h: float = 0.0
                  ) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
    """Inverse of :func:`latlon_to_enu`: local metres -> ``(lat, lon, h)``."""
    _check_latlon(origin_lat, origin_lon, "enu_to_latlon origin")
    e_a, n_a, u_a = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (east_m, north_m, up_m))
    )
    if not all(np.isfinite(v).all() for v in (e_a, n_a, u_a)):
        raise ConfigError("enu_to_latlon: east/north/up must be finite numbers (got NaN or inf)")
    tr = _enu_transformer(float(origin_lat), float(origin_lon), float(origin_h))
    lon, lat, h = tr.transform(e_a, n_a, u_a, direction=TransformDirection.INVERSE)
    return _out(np.asarray(lat)), _out(np.asarray(lon)), _out(np.asarray(h))


def geodesic_distance_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
                        ) -> ArrayLike:
    """WGS84 geodesic distance in metres (pyproj ``Geod.inv``), broadcast over arrays."""
    la1, lo1 = _check_latlon(lat1, lon1, "geodesic_distance_m point 1")
    la2, lo2 = _check_latlon(lat2, lon2, "geodesic_distance_m point 2")
    la1, lo1, la2, lo2 = np.broadcast_arrays(la1, lo1, la2, lo2)
    _, _, dist = _GEOD.inv(lo1, la1, lo2, la2)
    return _out(np.asarray(dist, dtype=float))


@dataclass(frozen=True)
class CrsUnits:
    """Units of a coordinate reference system's axes (:func:`crs_units`)."""

    geographic: bool
    """Horizontal coordinates are angles (degrees), not lengths."""
    horizontal_name: str
    """Name of the horizontal unit (``"metre"``, ``"US survey foot"``, ``"degree"``)."""
    horizontal_m: float | None
    """Metres per horizontal unit (``None`` when geographic)."""
    vertical_name: str | None = None
    """Name of the vertical unit when the CRS has a vertical axis (compound or 3-D CRS)."""
    vertical_m: float | None = None
    """Metres per vertical unit (``None`` without a vertical axis)."""


def crs_units(crs: str) -> CrsUnits:
    """Axis units of ``crs`` (an EPSG code such as ``"EPSG:32613"``, WKT or a PROJ string)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as err:
        raise ConfigError(f"crs: cannot parse {str(crs)[:80]!r} ({err})") from None
    parts = parsed.sub_crs_list if parsed.is_compound else [parsed]
    horizontal = next((p for p in parts if not p.is_vertical), parsed)
    vertical = next((p for p in parts if p.is_vertical), None)
    h_axis = horizontal.axis_info[0] if horizontal.axis_info else None
    v_axis = vertical.axis_info[0] if vertical is not None and vertical.axis_info else None
    if v_axis is None and not parsed.is_compound and len(parsed.axis_info) == 3:
        v_axis = parsed.axis_info[2]  # a 3-D CRS: its third axis is the height
    geographic = bool(horizontal.is_geographic)
    return CrsUnits(
        geographic=geographic,
        horizontal_name=h_axis.unit_name if h_axis else "unknown",
        horizontal_m=None if geographic or h_axis is None else float(h_axis.unit_conversion_factor),
        vertical_name=v_axis.unit_name if v_axis else None,
        vertical_m=float(v_axis.unit_conversion_factor) if v_axis else None,
    )


def metres_to_pixels(offset_m: ArrayLike, ground_resolution_m: float) -> ArrayLike:
    """Convert a ground offset in metres to tile pixels at ``ground_resolution_m`` metres/pixel."""
    return _out(np.asarray(offset_m, dtype=float) / _check_resolution(ground_resolution_m))


def pixels_to_metres(offset_px: ArrayLike, ground_resolution_m: float) -> ArrayLike:
    """Convert an offset in tile pixels to metres at ``ground_resolution_m`` metres/pixel."""
    return _out(np.asarray(offset_px, dtype=float) * _check_resolution(ground_resolution_m))


def _check_resolution(ground_resolution_m: float) -> float:
    res = float(ground_resolution_m)
    if not math.isfinite(res) or res <= 0:
        raise ConfigError(
            f"ground_resolution_m: expected a positive number, got {ground_resolution_m!r}"
        )
    return res
