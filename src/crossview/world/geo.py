"""Georeferencing of a synthetic region: local metres <-> UTM <-> WGS84 (pyproj).

The scene's local frame is the UTM grid shifted to the region centre (x = easting - E0,
y = northing - N0), so UTM values and WGS84 coordinates written with the data agree exactly;
"north-up" means UTM grid north (within the meridian convergence, < 1 deg near a zone centre).
The zone is the one :func:`crossview.geometry.geodesy.utm_zone_for` gives the origin (with the
Norway / Svalbard exceptions) and every point of the region is projected in it.
"""

from __future__ import annotations

import dataclasses

from pyproj import Transformer

from crossview.geometry.geodesy import UtmZone, utm_zone_for


@dataclasses.dataclass
class LocalFrame:
    """A UTM zone and the UTM position of the local origin."""

    zone: int
    south: bool
    easting0: float
    northing0: float

    @classmethod
    def at(cls, lat: float, lon: float) -> LocalFrame:
        """Frame centred (to the metre) on ``(lat, lon)``, in that position's UTM zone."""
        utm = utm_zone_for(lat, lon)
        frame = cls(utm.number, utm.south, 0.0, 0.0)
        e, n = frame._fwd.transform(lon, lat)
        return cls(utm.number, utm.south, float(round(e)), float(round(n)))

    @property
    def utm_zone(self) -> UtmZone:
        """The frame's zone."""
        return UtmZone(self.zone, self.south)

    @property
    def epsg(self) -> int:
        """EPSG code of the UTM zone (WGS84)."""
        return self.utm_zone.epsg

    @property
    def zone_label(self) -> str:
        """Zone label in the one crossview format (:mod:`crossview.conventions`), e.g. ``"16N"``."""
        return str(self.utm_zone)

    @property
    def _fwd(self) -> Transformer:
        return Transformer.from_crs("EPSG:4326", f"EPSG:{self.epsg}", always_xy=True)

    @property
    def _inv(self) -> Transformer:
        return Transformer.from_crs(f"EPSG:{self.epsg}", "EPSG:4326", always_xy=True)

    def to_utm(self, x: float, y: float) -> tuple[float, float]:
        """UTM easting/northing of local point ``(x, y)``."""
        return self.easting0 + x, self.northing0 + y

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        """WGS84 ``(lat, lon)`` of local point ``(x, y)``."""
        lon, lat = self._inv.transform(*self.to_utm(x, y))
        return float(lat), float(lon)
