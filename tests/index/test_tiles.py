from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import Affine

from crossview.errors import InputFileError
from crossview.index.tiles import make_tiles, read_tiles_csv, utm_crs_for

RGB = Path("/work/shared/data/dem/rmnp-rgb.tif")
DEM = Path("/work/shared/data/dem/rmnp-dem.tif")


def test_tiles_of_real_geotiff_match_rasterio_transform(tmp_path):
    records = make_tiles(RGB, tmp_path / "t", tile_size=64, stride=48, reproject=False)
    with rasterio.open(RGB) as src:
        rows = len(range(0, src.height - 64 + 1, 48))
        cols = len(range(0, src.width - 64 + 1, 48))
        assert len(records) == rows * cols
        rec = records[cols + 2]  # second tile row, third tile column
        assert rec.tile_id == "r000048_c000096"
        # Independent centre: pixel (48 + 32, 96 + 32) corner through rasterio's own xy().
        lon, lat = src.xy(48 + 32, 96 + 32, offset="ul")
        pixels = src.read(window=((48, 112), (96, 160)))
    assert (rec.lat, rec.lon) == pytest.approx((lat, lon), abs=1e-9)
    zone = int((lon + 180) // 6) + 1
    e, n = Transformer.from_crs("EPSG:4326", f"EPSG:326{zone:02d}", always_xy=True).transform(
        lon, lat
    )
    assert (rec.utm_e, rec.utm_n) == pytest.approx((e, n), abs=1e-3)
    assert rec.utm_zone == f"{zone}N"  # hemisphere-style label (crossview.conventions)
    # 0.0015 deg of longitude at ~40.6 N is about 127 m.
    assert rec.ground_resolution_m == pytest.approx(
        0.0015 * 111320 * np.cos(np.radians(lat)), rel=0.01
    )
    tile = np.asarray(Image.open(tmp_path / "t" / rec.path))
    np.testing.assert_array_equal(tile, pixels.transpose(1, 2, 0))
    again = read_tiles_csv(tmp_path / "t")
    assert again[cols + 2] == rec


def test_geographic_raster_is_warped_to_utm_with_dsm(tmp_path):
    records = make_tiles(RGB, tmp_path / "u", tile_size=64, dsm=DEM)
    es = sorted({round(r.utm_e, 3) for r in records})
    steps = np.diff(es)
    res = records[0].ground_resolution_m
    # Square-in-metres tiles: consecutive centres are 64 px * resolution apart (grid vs geodesic
    # metres differ by the UTM scale factor, < 0.1 % here).
    np.testing.assert_allclose(steps, 64 * res, rtol=2e-3)
    with rasterio.open(DEM) as dem:
        lon, lat = dem.xy(dem.height // 2, dem.width // 2)
    inside = min(records, key=lambda r: (r.lat - lat) ** 2 + (r.lon - lon) ** 2)
    heights = np.load(tmp_path / "u" / inside.dsm)
    assert heights.shape == (64, 64) and heights.dtype == np.float32
    with rasterio.open(DEM) as dem:
        valid = dem.read(1)
        valid = valid[valid != dem.nodata]
    finite = heights[np.isfinite(heights)]
    assert finite.size > 0 and valid.min() - 1 <= finite.min() and finite.max() <= valid.max() + 1


def test_rotated_geotransform_refused(tmp_path):
    path = tmp_path / "rot.tif"
    transform = Affine(1.0, 0.3, 500000.0, 0.3, -1.0, 4400000.0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=32,
        height=32,
        count=3,
        dtype="uint8",
        crs="EPSG:32613",
        transform=transform,
    ) as dst:
        dst.write(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(InputFileError, match="rotated"):
        make_tiles(path, tmp_path / "o", tile_size=16)


def test_missing_and_corrupt_inputs(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        make_tiles(tmp_path / "none.tif", tmp_path / "o", tile_size=16)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(InputFileError, match="bad.tif"):
        make_tiles(bad, tmp_path / "o", tile_size=16)
    with pytest.raises(InputFileError, match="tiles.csv"):
        read_tiles_csv(tmp_path)


def test_bergen_raster_is_tiled_in_zone_32_not_31(tmp_path):
    # Bergen (60.39 N, 5.32 E) lies in 31V by longitude but in 32V by the Norway exception: the
    # warp, the tile coordinates and the label all use crossview's one zone function.
    path = tmp_path / "bergen.tif"
    step = 0.0004  # degrees per pixel
    transform = Affine(step, 0.0, 5.30, 0.0, -step, 60.40)
    with rasterio.open(path, "w", driver="GTiff", width=64, height=48, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=transform) as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 48, 64), dtype=np.uint8))
    records = make_tiles(path, tmp_path / "t", tile_size=16)
    assert records and {r.utm_zone for r in records} == {"32N"}
    to_32 = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    for rec in records:
        e, n = to_32.transform(rec.lon, rec.lat)
        assert (rec.utm_e, rec.utm_n) == pytest.approx((e, n), abs=1e-3)
    crs, label = utm_crs_for(60.39, 5.32)
    assert (crs.to_epsg(), label) == (32632, "32N")
    assert utm_crs_for(78.0, 8.0)[0].to_epsg() == 32631  # Svalbard
    assert utm_crs_for(-35.3, 149.1)[1] == "55S"  # Canberra: the CVACT label
