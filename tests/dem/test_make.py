"""``crossview dem make`` at tiny sizes on the RMNP DEM: layout, splits, resume, workers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossview.data.layouts import load_layout
from crossview.dem import make_dem_dataset
from crossview.dem.encoding import depth_to_uint8, read_depth16
from crossview.errors import ConfigError

TINY = dict(grid_m=8000.0, queries=5, view_px=32, query_hw=(24, 32), margin_m=1500.0, seed=3)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory, dem_dir):
    root = tmp_path_factory.mktemp("dem_ds")
    kw = dict(rgb=str(dem_dir / "rmnp-rgb.tif"), **TINY)
    serial = make_dem_dataset(root / "w1", dem_dir / "rmnp-dem.tif", workers=1, **kw)
    pooled = make_dem_dataset(root / "w2", dem_dir / "rmnp-dem.tif", workers=2, **kw)
    return serial, pooled, kw


def test_the_crosslocate_layout_reads_both_variants(made, rmnp):
    root = made[0]
    meta = json.loads((root / "dem_dataset.json").read_text())
    n_uniform, n_query = meta["counts"]["uniform"], meta["counts"]["query"]
    assert n_query == 5 and n_uniform >= 6
    uniform = load_layout("crosslocate", root, variant="uniform")
    sparse = load_layout("crosslocate", root, variant="sparse")
    assert len(uniform.pairs) == len(sparse.pairs) == 5
    assert len(uniform.references) == 12 * n_uniform and len(sparse.references) == 12 * 5
    for pair in sparse.pairs:           # the sparse database sits at the query positions
        assert pair.extras["positive_distance_m"] < 0.01
        ref = sparse.references[pair.references[0]]
        assert abs((ref.extras["yaw_deg"] - pair.yaw_deg + 180) % 360 - 180) <= 15
        assert 30 <= pair.fov_deg <= 70
    for pair in uniform.pairs:          # at most half a grid diagonal from a grid node
        assert pair.extras["positive_distance_m"] <= 8000 * 0.75
    # Files: queries are photos of the requested size, depth decodes to metres.
    q = Image.open(uniform.pairs[0].ground)
    assert q.size == (32, 24) and q.mode == "RGB"
    depth_png = uniform.references[0].path
    assert Image.open(depth_png).size == (32, 32)
    metres = read_depth16(str(depth_png).replace("/depth/", "/depth16/"))
    eight = np.asarray(Image.open(depth_png)).astype(int)
    assert metres.max() > 100 and np.array_equal(metres == 0, eight == 0)
    assert np.abs(depth_to_uint8(metres).astype(int) - eight).max() <= 1
    seg = np.asarray(Image.open(str(depth_png).replace("/depth/", "/segmentation/")))
    assert set(np.unique(seg)) <= {0, 1, 2, 3, 4} and 0 in seg


def test_splits_are_geographically_disjoint(made, rmnp):
    root = made[0]
    xs: dict[str, list[float]] = {}
    for variant in ("uniform", "sparse"):
        table = load_layout("crosslocate", root, variant=variant)
        for item in [*table.pairs, *table.references]:
            x, _ = rmnp.to_local(item.lat, item.lon)
            xs.setdefault(item.split, []).append(float(x))
    assert set(xs) == {"train", "val", "test"}
    spans = {s: (min(v), max(v)) for s, v in xs.items()}
    assert spans["train"][1] < spans["val"][0] and spans["val"][1] < spans["test"][0]


def test_workers_write_the_same_bytes_and_a_rerun_resumes(made, dem_dir):
    serial, pooled, kw = made
    first = _digest(serial)
    assert len(first) > 300 and _digest(pooled) == first
    stamps = {p: p.stat().st_mtime_ns for p in serial.rglob("*") if p.is_file()}
    make_dem_dataset(serial, dem_dir / "rmnp-dem.tif", workers=1, **kw)
    assert {p: p.stat().st_mtime_ns for p in serial.rglob("*") if p.is_file()} == stamps
    removed = sorted(pooled.rglob("*.png"))[::97] + sorted(pooled.rglob("*.jpg"))[:2]
    for path in removed:
        path.unlink()
    make_dem_dataset(pooled, dem_dir / "rmnp-dem.tif", workers=2, **kw)
    assert _digest(pooled) == first


def test_other_settings_in_the_same_folder_are_refused(made, dem_dir):
    serial, _, kw = made
    with pytest.raises(ConfigError, match="other settings .*grid_m"):
        make_dem_dataset(serial, dem_dir / "rmnp-dem.tif", **{**kw, "grid_m": 4000.0})


def test_a_grid_too_coarse_for_a_split_is_a_clear_error(tmp_path, dem_dir):
    with pytest.raises(ConfigError, match="grid_m=30000: the (val|test) strip"):
        make_dem_dataset(tmp_path, dem_dir / "rmnp-dem.tif", **{**TINY, "grid_m": 30000.0})
    assert not list(tmp_path.iterdir())
