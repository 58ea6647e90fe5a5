"""Georeferencing of a synthetic region: local metres <-> UTM <-> WGS84 (pyproj).

The scene's local frame is the UTM grid shifted to the region centre (x = easting - E0,
y = northing - N0), so UTM values and WGS84 coordinates written with the data agree exactly;
"north-up" means UTM grid north (within the meridian convergence, < 1 deg near a zone centre).
"""

from __future__ import annotations

import dataclasses
import math

from pyproj import Transformer

_BANDS = "CDEFGHJKLMNPQRSTUVWX"


@dataclasses.dataclass
class LocalFrame:
    """A UTM zone and the UTM position of the local origin."""

    zone: int
    south: bool
    easting0: float
    northing0: float

    @classmethod
    def at(cls, lat: float, lon: float) -> LocalFrame:
        """Frame centred (to the metre) on ``(lat, lon)``."""
        zone = int((lon + 180.0) // 6.0) % 60 + 1
        frame = cls(zone, lat < 0, 0.0, 0.0)
        e, n = frame._fwd.transform(lon, lat)
        return cls(zone, lat < 0, float(round(e)), float(round(n)))

    @property
    def epsg(self) -> int:
        """EPSG code of the UTM zone (WGS84)."""
        return (32700 if self.south else 32600) + self.zone

    @property
    def _fwd(self) -> Transformer:
        return Transformer.from_crs("EPSG:4326", f"EPSG:{self.epsg}", always_xy=True)

    @property
    def _inv(self) -> Transformer:
        return Transformer.from_crs(f"EPSG:{self.epsg}", "EPSG:4326", always_xy=True)

    def zone_label(self, lat: float) -> str:
        """Zone with latitude band, e.g. ``"16T"``."""
        band = _BANDS[min(len(_BANDS) - 1, max(0, int(math.floor((lat + 80.0) / 8.0))))]
        return f"{self.zone}{band}"

    def to_utm(self, x: float, y: float) -> tuple[float, float]:
        """UTM easting/northing of local point ``(x, y)``."""
        return self.easting0 + x, self.northing0 + y

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        """WGS84 ``(lat, lon)`` of local point ``(x, y)``."""
        lon, lat = self._inv.transform(*self.to_utm(x, y))
        return float(lat), float(lon)
