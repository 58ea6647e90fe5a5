"""``crossview dem info | render | make`` through the entry point: outputs and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.data.layouts import load_layout
from crossview.dem import Camera, render_views


def test_info_prints_extent_resolution_crs_and_elevations(run_cli, dem_dir):
    code, out, _ = run_cli("dem", "info", str(dem_dir / "rmnp-dem.tif"))
    assert code == 0
    assert "EPSG:32613 (UTM 13N)" in out and "cell 233.9" in out and "EPSG:4326" in out
    assert "36.03 km E-W x 44.22 km N-S" in out and "2281.7 .. 4219.1" in out


def test_render_writes_pngs_and_metric_depth(run_cli, tmp_path, dem_dir, rmnp):
    lat, lon = (float(v) for v in rmnp.to_latlon(13000.0, -19000.0))
    args = ["dem", "render", "--dem", str(dem_dir / "rmnp-dem.tif"), "--rgb",
            str(dem_dir / "rmnp-rgb.tif"), "--lat", str(lat), "--lon", str(lon), "--yaw", "-37",
            "--pitch", "3", "--size", "24x32", "--out", str(tmp_path / "view"), "--sheet",
            str(tmp_path / "sheet.png")]
    code, _, err = run_cli(*args)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "view").iterdir())
    assert names == ["depth.npy", "depth.png", "photo.png", "segmentation.png",
                     "silhouettes.png"]
    depth = np.load(tmp_path / "view" / "depth.npy")
    want = render_views(rmnp, [Camera(lat, lon, yaw_deg=-37.0, pitch_deg=3.0)], 24, 32,
                        ("depth",))["depth"][0]
    assert torch.equal(torch.from_numpy(depth), want)
    assert Image.open(tmp_path / "sheet.png").size == (4 * 32 + 3 * 4, 24)
    code, _, err = run_cli("dem", "render", "--dem",
                           str(dem_dir / "rmnp-dem.tif"), "--panorama", "--vfov", "90",
                           "--size", "16x64", "--modalities", "depth", "--out",
                           str(tmp_path / "pano"))
    assert code == 0, err
    assert np.load(tmp_path / "pano" / "depth.npy").shape == (16, 64)


@pytest.mark.parametrize("args, message", [
    (["dem", "info", "missing.tif"], "missing.tif: file not found"),
    (["dem", "render", "--dem", "DEM", "--out", "OUT", "--size", "ax3"], "--size"),
    (["dem", "render", "--dem", "DEM", "--out", "OUT", "--lat", "10", "--lon", "10"],
     "outside the DEM"),
    (["dem", "make", "--dem", "DEM", "--out", "OUT", "--grid-m", "-5"], "grid_m"),
])
def test_errors_are_one_line_and_exit_2(run_cli, tmp_path, dem_dir, args, message):
    args = [str(dem_dir / "rmnp-dem.tif") if a == "DEM" else str(tmp_path / "o") if a == "OUT"
            else a for a in args]
    code, _, err = run_cli(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_make_through_the_cli(run_cli, tmp_path, dem_dir):
    code, out, err = run_cli("dem", "make", "--dem",
                             str(dem_dir / "rmnp-dem.tif"), "--out", str(tmp_path / "ds"),
                             "--grid-m", "8000", "--queries", "3", "--view-px", "16",
                             "--query-hw", "12x16", "--variants", "sparse", "--modalities",
                             "depth", "--workers", "1", "--set", "views_per_position=4")
    assert code == 0, err
    table = load_layout("crosslocate", tmp_path / "ds", variant="sparse")
    assert len(table.pairs) == 3 and len(table.references) == 12
    assert not (tmp_path / "ds" / "Uniform").exists()
