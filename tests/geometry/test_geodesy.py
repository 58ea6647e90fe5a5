"""Geodesy: UTM zones and round trips, ENU, geodesic distances, pixel scales, geo types."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossview.errors import ConfigError
from crossview.geometry.geodesy import (
    BoundingBox,
    LatLon,
    UtmZone,
    enu_to_latlon,
    geodesic_distance_m,
    latlon_to_enu,
    latlon_to_utm,
    metres_to_pixels,
    pixels_to_metres,
    utm_to_latlon,
    utm_zone_for,
)

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563


@pytest.mark.parametrize(
    ("lat", "lon", "zone", "epsg"),
    [(40.3, -105.6, "13N", 32613), (-33.87, 151.21, "56S", 32756), (60.39, 5.32, "32N", 32632),
     (78.2, 15.6, "33N", 32633), (0.5, 179.99, "60N", 32660), (-0.1, -180.0, "1S", 32701),
     (51.5, -0.12, "30N", 32630)],
)
def test_utm_zone_for(lat, lon, zone, epsg):
    z = utm_zone_for(lat, lon)
    assert str(z) == zone and z.epsg == epsg
    assert UtmZone.parse(zone) == z == UtmZone.parse(epsg)


@pytest.mark.parametrize(
    ("lat", "lon", "number"),
    [  # Norway: 32V is widened to 3-12 E for 56-64 N.
     (60.39, 5.32, 32), (56.0, 3.0, 32), (63.99, 11.99, 32), (55.99, 5.0, 31), (64.0, 5.0, 31),
     (60.0, 2.99, 31), (60.0, 12.0, 33),
     # Svalbard: 72-84 N, 0-42 E uses only the odd zones 31, 33, 35, 37.
     (78.0, 8.99, 31), (78.0, 9.0, 33), (78.2, 15.6, 33), (79.0, 20.99, 33), (79.0, 21.0, 35),
     (80.0, 32.99, 35), (80.0, 33.0, 37), (80.0, 41.99, 37), (72.0, 0.0, 31), (84.0, 20.0, 33),
     (71.99, 10.0, 32), (80.0, 42.0, 38), (80.0, -1.0, 30)],
)
def test_utm_zone_norway_and_svalbard_exceptions(lat, lon, number):
    # Outside the exceptions the zone is the 6-degree band of the longitude.
    zone = utm_zone_for(lat, lon)
    assert zone.number == number and not zone.south and str(zone) == f"{number}N"


@pytest.mark.parametrize(("lat", "lon"), [(40.3, -105.6), (-33.87, 151.21), (64.1, -21.9),
                                          (-54.8, -68.3), (1.3, 103.8), (37.77, -122.42)])
def test_utm_round_trip_sub_millimetre(lat, lon):
    rng = np.random.default_rng(0)
    lats = lat + rng.uniform(-0.05, 0.05, 200)
    lons = lon + rng.uniform(-0.05, 0.05, 200)
    east, north, zone = latlon_to_utm(lats, lons)
    assert zone == utm_zone_for(lats[0], lons[0]) and east.shape == (200,)
    lat2, lon2 = utm_to_latlon(east, north, zone)
    err_m = geodesic_distance_m(lats, lons, lat2, lon2)
    assert np.max(err_m) < 1e-3
    east2, north2, _ = latlon_to_utm(lat2, lon2, zone)
    assert np.max(np.hypot(east2 - east, north2 - north)) < 1e-3


def test_utm_known_values():
    # On the equator at a central meridian: false easting 500 km, northing 0 (N) or 10 000 km (S).
    east, north, zone = latlon_to_utm(0.0, 3.0)
    assert str(zone) == "31N" and east == pytest.approx(500000.0, abs=1e-6)
    assert north == pytest.approx(0.0, abs=1e-6)
    _, north_s, _ = latlon_to_utm(0.0, 3.0, zone="31S")
    assert north_s == pytest.approx(10_000_000.0, abs=1e-6)
    # Forcing a neighbouring zone keeps one metric frame (different easting, same point back).
    e2, n2, z2 = latlon_to_utm(40.3, -105.6, zone=32612)
    assert str(z2) == "12N" and e2 > 700000
    assert utm_to_latlon(e2, n2, z2) == pytest.approx((40.3, -105.6), abs=1e-9)


def test_geodesic_distance_known_values():
    # Along the equator the geodesic is the equator: a * delta_lon.
    one_deg = geodesic_distance_m(0.0, 0.0, 0.0, 1.0)
    assert one_deg == pytest.approx(WGS84_A * math.pi / 180, abs=1e-6)
    d = geodesic_distance_m(np.zeros(3), np.zeros(3), 0.0, np.array([0.0, 0.5, 2.0]))
    assert np.allclose(d, WGS84_A * np.radians([0.0, 0.5, 2.0]), atol=1e-6)
    # Pole to pole along a meridian: twice the quarter meridian (10 001 965.729 m for WGS84).
    assert geodesic_distance_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(2 * 10001965.729, abs=1e-2)


def _ecef(lat, lon, h):
    e2 = WGS84_F * (2 - WGS84_F)
    la, lo = np.radians(lat), np.radians(lon)
    n = WGS84_A / np.sqrt(1 - e2 * np.sin(la) ** 2)
    return np.array([(n + h) * np.cos(la) * np.cos(lo), (n + h) * np.cos(la) * np.sin(lo),
                     (n * (1 - e2) + h) * np.sin(la)])


def test_enu_matches_hand_computed_ecef_rotation():
    lat0, lon0, h0 = 46.5, 7.9, 500.0
    lat, lon, h = np.array([46.51, 46.49]), np.array([7.91, 7.88]), np.array([520.0, 480.0])
    east, north, up = latlon_to_enu(lat, lon, lat0, lon0, h, origin_h=h0)
    d = _ecef(lat, lon, h) - _ecef(lat0, lon0, h0)[:, None]
    la, lo = math.radians(lat0), math.radians(lon0)
    rot = np.array([[-math.sin(lo), math.cos(lo), 0.0],
                    [-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la)],
                    [math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)]])
    expected = rot @ d
    assert np.allclose(np.stack([east, north, up]), expected, atol=1e-6)
    back = enu_to_latlon(east, north, up, lat0, lon0, origin_h=h0)
    assert np.allclose(back[0], lat, atol=1e-10) and np.allclose(back[1], lon, atol=1e-10)
    assert np.allclose(back[2], h, atol=1e-6)


def test_pixel_scale():
    assert metres_to_pixels(1.14, 0.114) == pytest.approx(10.0)
    assert np.allclose(pixels_to_metres(np.array([10.0, -4.0]), 0.5), [5.0, -2.0])
    with pytest.raises(ConfigError, match="ground_resolution_m"):
        metres_to_pixels(1.0, 0.0)


def test_latlon_and_bounding_box():
    here = LatLon(40.0, -105.0)
    there = LatLon(40.0, -104.99)
    assert here.distance_m(there) == pytest.approx(geodesic_distance_m(40, -105, 40, -104.99))
    e, n, zone = here.to_utm()
    assert str(zone) == "13N" and isinstance(e, float)
    box = BoundingBox.around(here, 1000.0)
    to_north = geodesic_distance_m(here.lat, here.lon, box.north, here.lon)
    to_east = geodesic_distance_m(here.lat, here.lon, here.lat, box.east)
    assert to_north == pytest.approx(1000, abs=1e-3)
    assert to_east == pytest.approx(1000, abs=1e-3)
    assert box.contains(here.lat, here.lon) and not box.contains(40.02, -105.0)
    pts = BoundingBox.from_points([1.0, 2.0, -1.0], [10.0, 12.0, 11.0])
    assert (pts.south, pts.west, pts.north, pts.east) == (-1.0, 10.0, 2.0, 12.0)
    across = BoundingBox(-1.0, 179.0, 1.0, -179.0)
    assert list(across.contains(np.zeros(3), np.array([179.5, -179.5, 0.0]))) == [True, True, False]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: latlon_to_utm(91.0, 0.0), "latitude"),
        (lambda: latlon_to_utm(0.0, 181.0), "longitude"),
        (lambda: latlon_to_utm(np.array([0.0, np.nan]), 0.0), "finite"),
        (lambda: utm_to_latlon(500000.0, 0.0, "61N"), "1..60"),
        (lambda: utm_to_latlon(500000.0, 0.0, "north"), "utm zone"),
        (lambda: utm_to_latlon(500000.0, 0.0, 4326), "EPSG"),
        (lambda: LatLon(100.0, 0.0), "LatLon"),
        (lambda: BoundingBox(2.0, 0.0, 1.0, 1.0), "BoundingBox"),
        (lambda: BoundingBox.around(LatLon(0, 0), -1.0), "radius_m"),
        (lambda: geodesic_distance_m(0, 0, float("inf"), 0), "point 2"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)
