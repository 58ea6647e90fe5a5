"""World -> layout reader round trips: what each layout's world writer writes, its reader reads
back, matched against the world's own ground truth (``crossview_gt/samples.csv``, ``tiles.csv``)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from crossview.data.layouts import DataSpec, check_layout, get_layout
from crossview.world import make_world

TINY = {"tile_px": 32, "pano_hw": (16, 64), "region_m": 240.0, "tile_m": 40.0, "workers": 1}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _truth(root: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    samples = {r["ground"]: r for r in _rows(root / "crossview_gt" / "samples.csv")}
    tiles = {r["path"]: r for r in _rows(root / "crossview_gt" / "tiles.csv")}
    return samples, tiles


def _check_pairs_against_truth(root: Path, table, samples: dict) -> None:
    for pair in table:
        row = samples[pair.ground.relative_to(root).as_posix()]
        positive = table.references[pair.positive]
        assert positive.path == root / row["aerial"]
        assert (pair.lat, pair.lon) == (float(row["lat"]), float(row["lon"]))
        assert pair.utm_zone == row["utm_zone"]


@pytest.mark.parametrize("layout", ["cvusa", "cvact"])
def test_one_tile_layouts_round_trip(tmp_path: Path, layout: str) -> None:
    test_fraction = 0.2 if layout == "cvact" else 0.0
    root = make_world(tmp_path, layout, 10, 4, test_fraction=test_fraction, **TINY)
    assert check_layout(layout, root).ok
    table = DataSpec.parse(f"{layout}:{root}").load()
    samples, _ = _truth(root)
    assert table.split_counts() == dict(Counter(r["split"] for r in samples.values()))
    assert len(table.references) == len(samples) == 10
    _check_pairs_against_truth(root, table, samples)
    assert {r["utm_zone"] for r in samples.values()} == {"16N"}  # Illinois origin


def test_cvact_world_without_ground_truth_needs_its_zone_option(tmp_path: Path) -> None:
    root = make_world(tmp_path, "cvact", 6, 2, **TINY)
    samples, _ = _truth(root)
    for name in ("samples.csv", "tiles.csv"):
        (root / "crossview_gt" / name).unlink()
    table = DataSpec.parse(f"cvact:{root}", ["utm_zone=16N"]).load()
    assert set(table.split_counts()) == {"train", "val"}  # no test split asked for: none written
    # The .mat header carries no clock time, so the same seed writes the same bytes.
    assert (root / "ACT_data.mat").read_bytes()[:116].rstrip().endswith(b"synthetic world")
    lat = np.array([p.lat for p in table])
    want = np.array([float(samples[p.ground.relative_to(root).as_posix()]["lat"]) for p in table])
    assert np.allclose(lat, want, atol=1e-7)  # lat/lon from ACT_data.mat's UTM in zone 16N
    canberra = DataSpec.parse(f"cvact:{root}").load()  # the default zone (55S) of the real data
    assert all(p.lat < 0 for p in canberra)


def test_vigor_world_round_trip_same_and_cross_area(tmp_path: Path) -> None:
    root = make_world(tmp_path, "vigor", 8, 6, cities=("NewYork", "Chicago"), **TINY)
    samples, tiles = _truth(root)
    same = DataSpec.parse(f"vigor:{root}").load()
    # Same-area: the train file holds the train split, the test file the others.
    n_train = sum(r["split"] == "train" for r in samples.values())
    assert same.split_counts() == {"train": n_train, "test": 8 - n_train}
    assert len(same.references) == len(tiles)
    _check_pairs_against_truth(root, same, samples)
    gsd = 40.0 / 32
    for pair in same:
        row = samples[pair.ground.relative_to(root).as_posix()]
        for ref_index, (d_row, d_col) in zip(pair.references, pair.offsets_px, strict=True):
            tile = tiles[same.references[ref_index].path.relative_to(root).as_posix()]
            # Camera offset from the tile centre in pixels, rows growing southwards.
            assert d_row == pytest.approx((float(tile["utm_n"]) - float(row["utm_n"])) / gsd,
                                          abs=1e-3)
            assert d_col == pytest.approx((float(row["utm_e"]) - float(tile["utm_e"])) / gsd,
                                          abs=1e-3)
    cross = DataSpec.parse(f"vigor:{root}", ["area=cross"]).load()
    assert {p.extras["city"] for p in cross.select("train")} == {"NewYork"}
    assert {p.extras["city"] for p in cross.select("test")} == {"Chicago"}
    assert cross.split_counts() == {"train": 4, "test": 4}


def test_world_asks_the_layout_for_its_writer() -> None:
    from crossview.data.layouts.cvusa import CvusaWorld
    from crossview.data.layouts.vigor import VigorWorld
    from crossview.world.config import WorldConfig
    from crossview.world.make import resolve_config

    cfg, writer = resolve_config(WorldConfig(layout="vigor", cities=("Seattle",)))
    assert isinstance(writer, VigorWorld) and writer is get_layout("vigor").writer
    assert cfg.pano_hw == (256, 512) and cfg.pano_vfov_deg == 180.0
    assert writer.regions(cfg) == [("Seattle", (47.6097, -122.3331))]
    cfg, writer = resolve_config(WorldConfig(layout="cvusa", pano_hw=(8, 32)))
    assert isinstance(writer, CvusaWorld) and cfg.pano_hw == (8, 32) and cfg.pano_vfov_deg == 90.0
