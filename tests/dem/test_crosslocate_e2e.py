"""CrossLocate on a tiny RMNP dataset: layout modalities, train, eval, ``dem index``, ``locate``.

One dataset (``dem make`` at 32 px) and one 2-step training run serve the module; each test
checks one step against values computed independently (the dataset's files, the table's ids).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossview.data.inputs import aerial_pixels, reference_source
from crossview.data.layouts import load_layout
from crossview.dem import make_dem_dataset
from crossview.errors import CrossviewError

TINY = dict(grid_m=8000.0, queries=14, view_px=32, query_hw=(24, 32), margin_m=1500.0, seed=3,
            val_fraction=0.2, test_fraction=0.3)
METHOD = {"method.ground_hw": [32, 32], "method.aerial_size": 32}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, dem_dir) -> Path:
    root = tmp_path_factory.mktemp("cl") / "ds"
    return make_dem_dataset(root, dem_dir / "rmnp-dem.tif", rgb=str(dem_dir / "rmnp-rgb.tif"),
                            workers=1, **TINY)


@pytest.fixture(scope="module")
def run_dir(dataset: Path) -> Path:
    import crossview

    out = dataset.parent / "run"
    result = crossview.train("crosslocate", f"crosslocate:{dataset}", out, "tiny",
                             {**METHOD, "train.max_steps": 2, "train.batch_size": 4,
                              "train.epochs": 2, "train.time_budget_min": None,
                              "train.eval_every": 1}, data_options={"variant": "sparse"})
    assert result.step == 2
    return out


@pytest.mark.parametrize("modality", ["depth", "silhouettes", "segmentation", "multi"])
def test_layout_modalities_read_the_files_beside_the_depth(dataset: Path, modality: str) -> None:
    table = load_layout("crosslocate", dataset, variant="uniform", modality=modality)
    assert table.extras["modality"] == modality
    ref = table.references[0]
    view = ref.id.split("/", 1)[1]
    base = dataset / "Uniform" / "database"
    spec_size = 32
    from crossview.data.inputs import InputSpec

    pixels = aerial_pixels(reference_source(ref), InputSpec((32, 32), spec_size))
    if modality == "multi":
        seg = np.asarray(Image.open(base / "segmentation" / f"{view}.png")).astype(int)
        sil = np.asarray(Image.open(base / "silhouettes" / f"{view}.png"))
        depth = np.asarray(Image.open(base / "depth" / f"{view}.png"))
        assert ref.path == base / "depth" / f"{view}.png"
        assert np.array_equal(pixels[0], seg * 255 // 4)  # five classes over 0..255
        assert np.array_equal(pixels[1], sil) and np.array_equal(pixels[2], depth)
    else:
        assert ref.path == base / modality / f"{view}.png"
        expected = np.asarray(Image.open(ref.path).convert("RGB")).transpose(2, 0, 1)
        assert np.array_equal(pixels, expected)


def test_foreign_names_are_read_as_depth_and_refused_otherwise(tmp_path: Path) -> None:
    from tests.data.fixtures import make_crosslocate_fixture

    root = make_crosslocate_fixture(tmp_path, positions=1, views=4)
    table = load_layout("crosslocate", root)
    assert table.extras["modality"] == "depth" and table.references[0].path.is_file()
    with pytest.raises(CrossviewError, match="not under a modality folder"):
        load_layout("crosslocate", root, modality="silhouettes")


@pytest.mark.parametrize("modality", ["depth", "multi"])
def test_index_renders_exactly_the_pixels_of_the_dataset(dataset, run_dir, dem_dir,
                                                         modality) -> None:
    from crossview.index.terrain import ViewRenderer, index_config, plan_views
    from crossview.training.checkpoint import load_run

    model = load_run(run_dir)
    cfg = index_config(model, dem_dir / "rmnp-dem.tif", grid_m=TINY["grid_m"],
                       modality=modality)
    assert (cfg.view_px, cfg.margin_m, cfg.rgb) == (32, 1500.0, str(dem_dir / "rmnp-rgb.tif"))
    renderer = ViewRenderer(cfg, model.method.input_spec)
    records = plan_views(cfg, renderer.dem)
    table = load_layout("crosslocate", dataset, variant="uniform", modality=modality)
    refs = {r.id.split("/", 1)[1]: r for r in table.references}
    assert {r.tile_id for r in records} == set(refs)  # dem make's uniform grid and ids
    chosen = records[::7]
    for record, image in zip(chosen, renderer.images(chosen), strict=True):
        ref = refs[record.tile_id]
        assert record.yaw_deg == ref.extras["yaw_deg"]
        spec = model.method.input_spec
        assert np.array_equal(aerial_pixels(image, spec),
                              aerial_pixels(reference_source(ref), spec)), record.tile_id


def test_eval_reports_curve_baselines_and_plot(run_dir, dataset, run_cli) -> None:
    out = run_dir.parent / "eval.json"
    plot = run_dir.parent / "curve.png"
    code, _, err = run_cli("eval", "--run", str(run_dir), "--data",
                           f"crosslocate:{dataset}", "--data-opt", "variant=uniform", "--split",
                           "test", "--baselines", "--plot", str(plot), "--json", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    details = result["details"]
    assert set(details["position"]["by_radius_m"]) == {"20", "100", "1000"}
    assert "untrained" in result["baselines"] and "chance" in details
    assert len(details["curve"]["radii_m"]) == 201 and details["curve"]["radii_m"][-1] == 10_000
    assert "untrained" in err and "chance" in err
    assert Image.open(plot).size[0] > 300


def test_dem_index_resumes_and_locate_returns_views(run_dir, dataset, dem_dir, run_cli,
                                                    tmp_path) -> None:
    from crossview.index.geoindex import GeoIndex
    from crossview.index.terrain import build_dem_index

    index_uri = str(tmp_path / "dem.index")
    partial = build_dem_index(run_dir, dem_dir / "rmnp-dem.tif", index_uri, grid_m=8000.0,
                              positions_per_batch=1, max_batches=2)
    assert len(partial) == 24 and partial.info.extra_columns == ("yaw_deg",)
    uniform = load_layout("crosslocate", dataset, variant="uniform")
    code, out, err = run_cli("dem", "index", "--run", str(run_dir), "--dem",
                             str(dem_dir / "rmnp-dem.tif"), "--grid-m", "8000", "--views", "12",
                             "--out", index_uri)
    assert code == 0, err
    index = GeoIndex.open(index_uri)
    assert len(index) == len(uniform.references)  # resumed: no duplicates
    assert index.tile_ids() == {r.id.split("/", 1)[1] for r in uniform.references}
    assert index.info.source["kind"] == "dem_views" and index.info.source["modality"] == "depth"

    query = uniform.pairs[0]
    json_out, html_out = tmp_path / "loc.json", tmp_path / "loc.html"
    code, out, err = run_cli("locate", str(query.ground), "--index",
                             index_uri, "--fov", str(query.fov_deg), "--top", "4", "--json",
                             str(json_out), "--html", str(html_out))
    assert code == 0, err
    (result,) = json.loads(json_out.read_text())
    cands = result["candidates"]
    assert result["fov_deg"] == pytest.approx(query.fov_deg) and len(cands) == 4
    assert [c["rank"] for c in cands] == [1, 2, 3, 4]
    assert all(a["score"] >= b["score"] for a, b in zip(cands, cands[1:], strict=False))
    refs = {r.id.split("/", 1)[1]: r for r in uniform.references}
    for c in cands:  # positions and yaws are the views' own
        ref = refs[c["tile"]]
        assert c["lat"] == pytest.approx(ref.lat, abs=1e-7)
        assert c["lon"] == pytest.approx(ref.lon, abs=1e-7)
        assert c["yaw_deg"] == ref.extras["yaw_deg"] == c["heading_deg"]
    assert f"heading {cands[0]['yaw_deg']:.0f}" in out
    text = html_out.read_text()
    assert text.count('alt="rendered view') == 4 and "hillshade" in text
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _browser import assert_page_ok

    assert_page_ok(html_out, tmp_path, min_images=6)  # query, map, 4 renders


def test_dem_index_under_torchrun_merges_the_shards(run_dir, dataset, dem_dir, tmp_path) -> None:
    import os
    import subprocess

    import torch

    from crossview.index.geoindex import GeoIndex
    from crossview.index.terrain import ViewRenderer, index_config, plan_views
    from crossview.training.checkpoint import load_run

    out = tmp_path / "sharded.index"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "crossview", "--", "dem", "index", "--run", str(run_dir), "--dem",
           str(dem_dir / "rmnp-dem.tif"), "--grid-m", "8000", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = GeoIndex.open(str(out))
    uniform = load_layout("crosslocate", dataset, variant="uniform")
    assert len(index) == len(uniform.references) and not (out / "_shards").exists()
    # Rows hold what one process computes for the same views.
    model = load_run(run_dir)
    cfg = index_config(model, dem_dir / "rmnp-dem.tif", grid_m=8000.0)
    renderer = ViewRenderer(cfg, model.method.input_spec)
    chosen = plan_views(cfg, renderer.dem)[::11]
    with torch.no_grad():
        desc = model.method.eval().encode_aerial(renderer(chosen)).numpy()
    hits = index.search(desc, k=1)
    assert [h[0].tile_id for h in hits] == [r.tile_id for r in chosen]
    assert [h[0].extras["yaw_deg"] for h in hits] == [r.yaw_deg for r in chosen]
    np.testing.assert_allclose([h[0].score for h in hits], 1.0, atol=1e-4)
