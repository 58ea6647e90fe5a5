"""End-to-end world generation: layouts, ground truth, determinism, resume, errors."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from pyproj import Transformer

from crossview.data.layouts.vigor import vigor_tile_refs
from crossview.errors import ConfigError
from crossview.world import make_world

SMALL = {"tile_px": 64, "pano_hw": (32, 128), "region_m": 300.0, "tile_m": 40.0}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cvusa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_world(tmp_path_factory.mktemp("cvusa"), "cvusa", 20, 5, **SMALL)


def test_cvusa_layout(cvusa: Path) -> None:
    train = (cvusa / "splits" / "train-19zl.csv").read_text().splitlines()
    val = (cvusa / "splits" / "val-19zl.csv").read_text().splitlines()
    assert len(train) == 16 and len(val) == 4
    for line in train + val:
        tile, pano, ann = line.split(",")
        assert tile.startswith("bingmap/19/") and pano.startswith("streetview/panos/")
        assert ann.startswith("streetview/annotations/") and ann.endswith(".png")
        assert Image.open(cvusa / tile).size == (64, 64)
        assert Image.open(cvusa / pano).size == (128, 32)
        assert Image.open(cvusa / ann).mode == "RGB"


def test_ground_truth_tables_consistent(cvusa: Path) -> None:
    with (cvusa / "crossview_gt" / "samples.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "split", "ground", "aerial", "lat", "lon", "utm_e", "utm_n",
                             "utm_zone", "yaw_deg", "ground_resolution_m"]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32616", always_xy=True)
    for r in rows:
        e, n = to_utm.transform(float(r["lon"]), float(r["lat"]))
        assert abs(e - float(r["utm_e"])) < 0.01 and abs(n - float(r["utm_n"])) < 0.01
        assert r["utm_zone"] == "16N" and float(r["ground_resolution_m"]) == pytest.approx(40 / 64)
        depth = np.load(cvusa / "crossview_gt" / "depth" / f"{r['id']}.npy")
        sem = np.asarray(Image.open(cvusa / "crossview_gt" / "semantics" / f"{r['id']}.png"))
        sky = np.asarray(Image.open(cvusa / "crossview_gt" / "sky" / f"{r['id']}.png")) > 0
        assert depth.shape == sem.shape == sky.shape == (32, 128)
        assert np.array_equal(sky, sem == 0) and np.all(depth[sky] == 0) and np.all(depth[~sky] > 0)
        # Camera 2 m above ground: the lowest row (-44 deg) sees the ground about 2.9 m away.
        expected = 2.0 / np.sin(np.radians(45 - 90 / 64))
        assert np.median(depth[-1]) == pytest.approx(expected, rel=0.2)
    dsm = np.load(cvusa / "crossview_gt" / "dsm" / f"{rows[0]['id']}.npy")
    assert dsm.shape == (64, 64) and np.isfinite(dsm).all()


def test_same_seed_same_bytes_and_resume(cvusa: Path, tmp_path: Path) -> None:
    again = make_world(tmp_path / "again", "cvusa", 20, 5, **SMALL)
    assert _digest(again) == _digest(cvusa)
    (again / "streetview" / "panos" / "0000003.jpg").unlink()
    (again / "crossview_gt" / "dsm" / "0000007.npy").unlink()
    make_world(again, "cvusa", 20, 5, **SMALL)
    assert _digest(again) == _digest(cvusa)
    other = make_world(tmp_path / "other", "cvusa", 20, 6, **SMALL)
    assert _digest(other) != _digest(cvusa)


def test_cvact_layout_opens_like_the_real_one(tmp_path: Path) -> None:
    root = make_world(tmp_path, "cvact", 10, 1, val_fraction=0.2, test_fraction=0.2,
                      **{**SMALL, "pano_hw": (32, 64)})
    mat = scipy.io.loadmat(root / "ACT_data.mat")
    ids = [str(s) for s in mat["panoIds"]]
    raw = scipy.io.loadmat(root / "ACT_data.mat", chars_as_strings=False)
    assert raw["panoIds"].shape == (10, 22) and raw["panoIds"].dtype.kind == "U"  # char matrix
    assert mat["panoIds"].shape == (10,) and mat["utm"].shape == (10, 2)
    assert mat["utm"].dtype == np.float64 and mat["trainSet"]["trainInd"][0][0].dtype == np.float64
    train = mat["trainSet"]["trainInd"][0][0].ravel().astype(int)
    val = mat["valSet"]["valInd"][0][0].ravel().astype(int)
    test = mat["valSetAll"]["valInd"][0][0].ravel().astype(int)
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(1, 11))
    for i in val:
        assert (root / "ANU_data_small" / "streetview" / f"{ids[i - 1]}_grdView.jpg").is_file()
    for i in test:
        polish = root / "ANU_data_test" / "satview_polish"
        assert (polish / f"{ids[i - 1]}_satView_polish.jpg").is_file()


def test_vigor_layout_positive_and_semi_positives(tmp_path: Path) -> None:
    root = make_world(tmp_path, "vigor", 12, 2, cities=("NewYork", "Chicago"), **SMALL)
    gsd = 40.0 / 64
    for city in ("NewYork", "Chicago"):
        sats = set((root / "splits" / city / "satellite_list.txt").read_text().split())
        rows = (root / "splits" / city / "pano_label_balanced.txt").read_text().splitlines()
        train = (root / "splits" / city / "same_area_balanced_train.txt").read_text().splitlines()
        test = (root / "splits" / city / "same_area_balanced_test.txt").read_text().splitlines()
        assert len(rows) == 6 and sorted(train + test) == sorted(rows)
        for row in rows:
            f = row.split(" ")
            assert len(f) == 13 and f[0].endswith(",.jpg") and len(f[0].split(",")) == 4
            assert (root / city / "panorama" / f[0]).is_file()
            names = [f[1], f[4], f[7], f[10]]
            assert set(names) <= sats and len(set(names)) == 4
            dr, dc = float(f[2]), float(f[3])
            assert abs(dr) * gsd <= 10.0 + 1e-6 and abs(dc) * gsd <= 10.0 + 1e-6  # central quarter
            for k in (4, 7, 10):
                assert abs(float(f[k + 1])) <= 32 and abs(float(f[k + 2])) <= 32      # inside tile
            assert Image.open(root / city / "satellite" / f[1]).size == (64, 64)


def test_vigor_refs_geometry() -> None:
    assert vigor_tile_refs(3.0, -4.0, 20.0) == [(0, 0), (1, 0), (0, -1), (1, -1)]
    assert vigor_tile_refs(29.0, 11.0, 20.0)[0] == (1, 1)


@pytest.mark.parametrize("bad", [{"layout": "kitti"}, {"tile_px": 2}, {"val_fraction": 1.5},
                                 {"region_m": 50.0}, {"cities": ("Atlantis",), "layout": "vigor"},
                                 {"nonsense": 1}])
def test_bad_config_is_one_clear_error(bad: dict, tmp_path: Path) -> None:
    args = {"layout": "cvusa", **SMALL, **bad}
    layout = args.pop("layout")
    with pytest.raises(ConfigError):
        make_world(tmp_path, layout, 5, 0, **args)


def test_too_many_pairs_for_region(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="region_m"):
        make_world(tmp_path, "cvusa", 10**6, 0, **SMALL)


def test_geotiff_export_is_georeferenced(tmp_path: Path) -> None:
    import rasterio
    from typer.testing import CliRunner

    from crossview.cli import app

    res = CliRunner().invoke(app, ["world", "make", "--out", str(tmp_path), "--pairs", "2",
                                   "--tile-px", "32", "--tile-m", "40", "--pano-hw", "16x64",
                                   "--region-m", "200", "--geotiff"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "crossview_gt" / "world_dsm.tif") as dsm:
        assert dsm.crs.to_epsg() == 32616 and dsm.res == (0.5, 0.5) and dsm.count == 1
        with (tmp_path / "crossview_gt" / "samples.csv").open() as f:
            row = list(csv.DictReader(f))[0]
        r, c = dsm.index(float(row["utm_e"]), float(row["utm_n"]))
        height = dsm.read(1)[r, c]
    # The GeoTIFF and the tile's own DSM (centre pixel = camera) agree at the camera position.
    tile_dsm = np.load(tmp_path / "crossview_gt" / "dsm" / f"{row['id']}.npy")
    assert height == pytest.approx(float(tile_dsm[16, 16]), abs=1e-4)
    with rasterio.open(tmp_path / "crossview_gt" / "world_orthophoto.tif") as ortho:
        assert ortho.count == 3 and ortho.dtypes[0] == "uint8" and ortho.read().std() > 5


def test_world_frame_uses_the_one_utm_zone_function(tmp_path: Path) -> None:
    from crossview.world.geo import LocalFrame

    # Norway and Svalbard exceptions: the longitude alone would give zones 31 and 32.
    assert LocalFrame.at(60.39, 5.32).epsg == 32632 and LocalFrame.at(78.0, 8.0).epsg == 32631
    assert LocalFrame.at(-35.3, 149.1).zone_label == "55S"
    root = make_world(tmp_path, "cvusa", 2, 0, origin_lat=60.39, origin_lon=5.32, tile_px=16,
                      pano_hw=(8, 32), region_m=160.0, tile_m=40.0, workers=1)
    with (root / "crossview_gt" / "samples.csv").open() as f:
        rows = list(csv.DictReader(f))
    to_32 = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    for r in rows:
        e, n = to_32.transform(float(r["lon"]), float(r["lat"]))
        assert r["utm_zone"] == "32N" and abs(e - float(r["utm_e"])) < 0.01
        assert abs(n - float(r["utm_n"])) < 0.01
