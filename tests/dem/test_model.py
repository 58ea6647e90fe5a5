"""DEM loading (GeoTIFF in any CRS, .npz), units, no-data and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.transform import Affine

from crossview.dem import Dem, load_dem, load_texture
from crossview.errors import ConfigError, InputFileError
from crossview.geometry.geodesy import geodesic_distance_m, latlon_to_utm


def write_tif(path: Path, data: np.ndarray, crs: str | None, transform, nodata=None,
              units: str | None = None) -> Path:
    import rasterio

    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype=data.dtype, transform=transform, nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if units:
            dst.units = (units,)
    return path


def utm_tif(path: Path, data: np.ndarray, crs: str = "EPSG:32613", cell: float = 100.0,
            **kw) -> Path:
    return write_tif(path, data, crs, Affine(cell, 0.0, 440000.0, 0.0, -cell, 4470000.0), **kw)


def test_rmnp_in_its_local_utm_frame(rmnp, dem_dir):
    import rasterio

    facts = rmnp.describe()
    assert rmnp.crs == "EPSG:32613" and str(rmnp.zone) == "13N"
    with rasterio.open(dem_dir / "rmnp-dem.tif") as src:
        raw = src.read(1).astype(float)
        b = src.bounds
    # The native ~233 m pixel, measured geodesically at the centre.
    lat0 = (b.bottom + b.top) / 2
    assert facts["cell_m"] == pytest.approx(233.9, abs=0.5)
    # Extent: the geodesic size of the lat/lon box (the UTM box around it is a bit larger).
    ew = geodesic_distance_m(lat0, b.left, lat0, b.right)
    ns = geodesic_distance_m(b.bottom, b.left, b.top, b.left)
    assert ew <= facts["extent_m"][0] <= ew * 1.03 and ns <= facts["extent_m"][1] <= ns * 1.03
    lo, hi = facts["elevation_m"]
    assert raw.min() - 1 <= lo < hi <= raw.max() + 1 and hi - lo > 1500
    # No-data only where the warped square leaves the rotated source footprint (corners).
    assert 0.9 < facts["valid_fraction"] < 1.0
    assert not torch.isfinite(rmnp.height[0, 0]) and torch.isfinite(rmnp.height[90, 75])


def test_local_latlon_round_trip_and_heights(rmnp):
    lat, lon = rmnp.to_latlon(np.array([-5000.0, 0.0, 7000.0]), np.array([3000.0, 0.0, -9000.0]))
    x, y = rmnp.to_local(lat, lon)
    assert np.allclose(x, [-5000, 0, 7000], atol=1e-6) and np.allclose(y, [3000, 0, -9000],
                                                                       atol=1e-6)
    e, n, _ = latlon_to_utm(lat[1], lon[1], rmnp.zone)
    assert (e, n) == pytest.approx((rmnp.origin_e, rmnp.origin_n), abs=1e-6)
    # At a sample centre the bilinear surface is that sample.
    xs, ys = rmnp.grid.centers(torch.float64)
    assert rmnp.height_at(xs[70], ys[80]) == pytest.approx(float(rmnp.height[80, 70]), abs=1e-3)
    assert math.isnan(rmnp.height_at(1e6, 0.0))
    assert 0.2 < rmnp.north_offset_deg(0.0, 0.0) < 0.7   # lon -105.7, 0.7 deg west of 13's CM


def test_texture_covers_the_dem(rmnp, rmnp_rgb):
    assert rmnp_rgb.image.shape[0] == 3 and rmnp_rgb.grid.cell_m < rmnp.cell_m
    colours = rmnp_rgb.sample(torch.tensor([0.0, -9000.0]), torch.tensor([0.0, -13000.0]))
    assert torch.isfinite(colours).all() and (colours >= 0).all() and (colours <= 1).all()
    assert torch.isnan(rmnp_rgb.sample(torch.tensor([1e6]), torch.tensor([0.0]))).all()


def test_projected_geotiff_round_trips(tmp_path):
    data = (np.add.outer(np.arange(30), np.arange(40)) * 10.0 + 1500).astype(np.float32)
    dem = load_dem(utm_tif(tmp_path / "utm.tif", data))
    assert dem.crs == "EPSG:32613" and dem.cell_m == pytest.approx(100.0)
    # The sample at column 12, row 7 sits at UTM (440000 + 1250, 4470000 - 750).
    x, y = 441250.0 - dem.origin_e, 4469250.0 - dem.origin_n
    assert dem.height_at(x, y) == pytest.approx(data[7, 12], abs=0.5)


def test_npz_with_nodata_and_bounds(tmp_path):
    height = np.full((20, 30), 2000.0)
    height[5, 5] = -9999.0
    path = tmp_path / "dem.npz"
    np.savez(path, height=height, bounds=np.array([440000.0, 4468000.0, 443000.0, 4470000.0]),
             crs="EPSG:32613", nodata=-9999.0)
    dem = load_dem(path, cell_m=100.0)
    assert dem.grid.rows == 20 and dem.grid.cols == 30
    assert int((~dem.valid).sum()) >= 1 and dem.elevation_range == (2000.0, 2000.0)


def test_feet_are_converted_or_refused(tmp_path):
    data = np.full((10, 10), 1000.0, np.float32)
    stated = load_dem(utm_tif(tmp_path / "ft.tif", data, units="ft"))
    assert stated.elevation_range[0] == pytest.approx(304.8)
    # NAD83 / Colorado Central (US survey feet) without elevation units: ambiguous, refused.
    path = utm_tif(tmp_path / "spcs.tif", data, crs="EPSG:2232", cell=300.0)
    with pytest.raises(InputFileError, match="US survey foot.*--z-units") as info:
        load_dem(path)
    assert "\n" not in str(info.value)
    assert load_dem(path, z_units="us-ft").elevation_range[0] == pytest.approx(304.8006, abs=1e-3)
    compound = utm_tif(tmp_path / "compound.tif", data, crs="EPSG:2232+6360", cell=300.0)
    assert load_dem(compound).elevation_range[0] == pytest.approx(304.8006, abs=1e-3)


def test_bad_inputs_give_one_line_errors(tmp_path):
    cases = []
    cases.append((tmp_path / "missing.tif", "file not found"))
    nodata = utm_tif(tmp_path / "nodata.tif", np.full((8, 8), -32768, np.int16), nodata=-32768)
    cases.append((nodata, "no valid elevation"))
    bare = write_tif(tmp_path / "bare.tif", np.ones((8, 8), np.float32), None,
                     Affine(1.0, 0.0, 0.0, 0.0, -1.0, 8.0))
    cases.append((bare, "no CRS"))
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    cases.append((tmp_path / "junk.tif", "cannot read"))
    np.savez(tmp_path / "nokeys.npz", height=np.ones((4, 4)))
    cases.append((tmp_path / "nokeys.npz", "missing key"))
    for path, message in cases:
        with pytest.raises(InputFileError, match=message) as info:
            load_dem(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ConfigError, match="z_units"):
        load_dem(utm_tif(tmp_path / "ok.tif", np.ones((4, 4), np.float32)), z_units="yards")
    with pytest.raises(ConfigError, match="no valid elevation"):
        Dem.from_array(np.full((4, 4), np.nan), 10.0, 40.0, -105.0)


def test_texture_errors(tmp_path, rmnp):
    with pytest.raises(InputFileError, match="8-bit"):
        load_texture(utm_tif(tmp_path / "f.tif", np.ones((4, 4), np.float32)), rmnp)
    far = utm_tif(tmp_path / "far.tif", np.ones((4, 4), np.uint8), crs="EPSG:32633")
    with pytest.raises(InputFileError, match="does not overlap"):
        load_texture(far, rmnp)
