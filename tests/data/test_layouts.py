"""Layout adapters on fixtures reproducing the official layouts; broken layouts -> named errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from scipy.io import loadmat

from crossview.data.layouts import LayoutError, check_layout, load_layout, parse_data_spec
from crossview.errors import ConfigError, InputFileError
from tests.data.fixtures import (
    make_cvact_fixture,
    make_cvusa_fixture,
    make_folder_fixture,
    make_vigor_fixture,
)


# ---------------------------------------------------------------- registry / specs
def test_unknown_layout_suggests_close_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'cvusa'"):
        load_layout("cvusaa", tmp_path)


def test_unknown_option_is_an_error(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=1, n_val=1)
    with pytest.raises(ConfigError, match="unknown option 'area'"):
        load_layout("cvusa", tmp_path, area="cross")


def test_missing_root_names_it(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match=r"^cvusa .*nope: dataset root folder not found"):
        load_layout("cvusa", tmp_path / "nope")


def test_parse_data_spec(tmp_path: Path) -> None:
    assert parse_data_spec("vigor-cross:/data/VIGOR") == ("vigor-cross", Path("/data/VIGOR"))
    make_folder_fixture(tmp_path / "mine", n=2)
    assert parse_data_spec(str(tmp_path / "mine")) == ("folder", tmp_path / "mine")
    with pytest.raises(ConfigError, match="unknown layout 'cvsua'"):
        parse_data_spec("cvsua:/data")
    with pytest.raises(LayoutError, match="coords.csv"):
        parse_data_spec(str(tmp_path))


# ---------------------------------------------------------------- CVUSA
def test_cvusa_reads_official_split_csvs(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=3, n_val=2, polar=True)
    table = load_layout("cvusa", tmp_path)
    assert table.split_counts() == {"train": 3, "val": 2}
    rows = list(csv.reader(open(tmp_path / "splits" / "val-19zl.csv")))
    pair = table.pairs[3]
    assert pair.ground == tmp_path / rows[0][1] and pair.id == Path(rows[0][1]).stem
    ref = table.references[pair.positive]
    assert ref.path == tmp_path / rows[0][0] and ref.id == pair.id and ref.split == "val"
    assert pair.extras["polar"] == tmp_path / "polarmap" / "19" / f"{pair.id}.png"
    assert len(table.references) == 5 and list(table.truth()) == [0, 1, 2, 3, 4]
    assert table.extras["ground_vfov_deg"] == 90.0


def test_cvusa_missing_files_one_line_with_first_five(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=4, n_val=3)
    for i in range(1, 8):
        (tmp_path / "streetview" / "panos" / f"{i:07d}.jpg").unlink()
    with pytest.raises(LayoutError) as err:
        load_layout("cvusa", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"cvusa {tmp_path}: 7 files missing:")
    assert "streetview/panos/0000001.jpg" in msg and "0000006.jpg" not in msg
    assert msg.endswith("(first 5 of 7)")
    report = check_layout("cvusa", tmp_path)
    assert report.splits == {"train": 4, "val": 3} and len(report.problems) == 7 and not report.ok


def test_cvusa_missing_split_file_and_short_row(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
    with open(tmp_path / "splits" / "train-19zl.csv", "a") as f:
        f.write("bingmap/19/only_one_column.jpg\n")
    with pytest.raises(LayoutError, match=r"train-19zl.csv:3 \(expected aerial,ground columns\)"):
        load_layout("cvusa", tmp_path)
    (tmp_path / "splits" / "val-19zl.csv").unlink()
    with pytest.raises(InputFileError, match="val-19zl.csv: split file not found"):
        load_layout("cvusa", tmp_path)


def test_world_ground_truth_is_attached(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=2, n_val=1)
    gt = tmp_path / "crossview_gt"
    gt.mkdir()
    with open(gt / "samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "id",
                "split",
                "ground",
                "aerial",
                "lat",
                "lon",
                "utm_e",
                "utm_n",
                "utm_zone",
                "yaw_deg",
                "ground_resolution_m",
            ]
        )
        w.writerow(
            [
                "0000002",
                "train",
                "streetview/panos/0000002.jpg",
                "bingmap/19/0000002.jpg",
                "46.5",
                "7.5",
                "384902.8",
                "5150696.3",
                "32N",
                "12.5",
                "0.2",
            ]
        )
    table = load_layout("cvusa", tmp_path)
    pair = table.pairs[1]
    assert (pair.lat, pair.utm_n, pair.utm_zone, pair.yaw_deg) == (46.5, 5150696.3, "32N", 12.5)
    ref = table.references[pair.positive]
    assert (ref.utm_e, ref.ground_resolution_m) == (384902.8, 0.2)
    assert table.pairs[0].lat is None and table.pairs[0].yaw_deg == 0.0


# ---------------------------------------------------------------- CVACT
def test_cvact_mat_structure_and_one_based_indices(tmp_path: Path) -> None:
    make_cvact_fixture(tmp_path, n_train=4, n_val=2, n_test_extra=3)
    mat = loadmat(str(tmp_path / "ACT_data.mat"))
    assert mat["panoIds"].dtype.kind == "U" and mat["panoIds"].shape == (9,)  # char matrix rows
    table = load_layout("cvact", tmp_path)
    assert table.split_counts() == {"train": 4, "val": 2, "test": 5}
    ids = [s.strip() for s in mat["panoIds"]]
    first_test = mat["valSetAll"]["valInd"][0, 0][0, 0]  # 1-based
    test = table.select("test")
    assert test.pairs[0].id == ids[int(first_test) - 1]
    assert (
        test.pairs[0].ground == tmp_path / "ANU_data_test" / "streetview" / f"{ids[4]}_grdView.jpg"
    )
    assert table.pairs[0].ground.parent == tmp_path / "ANU_data_small" / "streetview"
    e, n = mat["utm"][4]
    lon, lat = Transformer.from_crs("EPSG:32755", "EPSG:4326", always_xy=True).transform(e, n)
    assert test.pairs[0].utm_e == e and test.pairs[0].utm_zone == "55S"
    assert np.isclose(test.pairs[0].lat, lat, atol=1e-9) and np.isclose(
        test.pairs[0].lon, lon, atol=1e-9
    )
    assert table.extras["ground_vfov_deg"] == 180.0


def test_cvact_broken_mat_and_missing_tile(tmp_path: Path) -> None:
    from scipy.io import savemat

    make_cvact_fixture(tmp_path, n_train=2, n_val=1, n_test_extra=1)
    tile = next((tmp_path / "ANU_data_test" / "satview_polish").iterdir())
    tile.unlink()
    with pytest.raises(
        LayoutError, match=f"1 files missing: ANU_data_test/satview_polish/{tile.name}"
    ):
        load_layout("cvact", tmp_path)
    savemat(tmp_path / "ACT_data.mat", {"panoIds": np.array(["abc"]), "utm": np.zeros((1, 2))})
    with pytest.raises(InputFileError, match="no trainSet.trainInd"):
        load_layout("cvact", tmp_path)
    (tmp_path / "ACT_data.mat").unlink()
    with pytest.raises(InputFileError, match="ACT_data.mat: file not found"):
        load_layout("cvact", tmp_path)


# ---------------------------------------------------------------- VIGOR
@pytest.mark.parametrize("layout", ["official", "sample4geo"])
def test_vigor_same_area_labels(tmp_path: Path, layout: str) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=4, tiles_per_city=5, tile_px=32, layout=layout)
    table = load_layout("vigor", tmp_path)
    assert table.split_counts() == {"train": 8, "test": 8} and len(table.references) == 20
    row = (
        (tmp_path / "splits" / "Chicago" / "same_area_balanced_test.txt")
        .read_text()
        .split("\n")[0]
        .split()
    )
    pair = table.select("test").pairs[0]
    sel = table.select("test")
    assert [sel.references[r].path.name for r in pair.references] == [
        row[1],
        row[4],
        row[7],
        row[10],
    ]
    assert pair.offsets_px[0] == (float(row[2]), float(row[3]))
    assert pair.ground.name == row[0] and pair.id == row[0].split(",")[0]
    lat, lon = float(row[0].split(",")[1]), float(row[0].split(",")[2])
    assert (pair.lat, pair.lon, pair.utm_zone) == (lat, lon, "16N")
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:32616", always_xy=True).transform(lon, lat)
    assert np.isclose(pair.utm_e, e) and np.isclose(pair.utm_n, n)
    assert len(sel.references) == 20  # same-area gallery: every tile of every city
    ref = sel.references[pair.positive]
    assert np.isclose(ref.ground_resolution_m, 0.114 * 640 / 32)
    assert ref.lat == float(ref.id.split("_")[1])


def test_vigor_cross_area_splits_by_city(tmp_path: Path) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    table = load_layout("vigor-cross", tmp_path)
    assert table.split_counts() == {"test": 4, "train": 4}
    assert {p.extras["city"] for p in table.select("train")} == {"NewYork", "Seattle"}
    assert {r.extras["city"] for r in table.select("test").references} == {
        "Chicago",
        "SanFrancisco",
    }
    alias = load_layout("vigor", tmp_path, area="cross")
    assert [p.id for p in alias] == [p.id for p in table]
    assert alias.layout == table.layout == "vigor" and table.extras["area"] == "cross"
    with pytest.raises(ConfigError, match="'vigor-cross' means 'vigor' with area='cross'"):
        load_layout("vigor-cross", tmp_path, area="same")


def test_vigor_city_subsets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    picked = load_layout("vigor", tmp_path, cities="Seattle,Chicago")
    assert {p.extras["city"] for p in picked} == {"Seattle", "Chicago"} and len(picked) == 4
    assert len(picked.references) == 8
    with pytest.raises(ConfigError, match="unknown vigor city 'Seatle'.*Did you mean 'Seattle'"):
        load_layout("vigor", tmp_path, cities="Chicago,Seatle")
    with pytest.raises(ConfigError, match="needs a train city"):
        load_layout("vigor-cross", tmp_path, cities="Seattle")
    for city in ("Chicago", "SanFrancisco", "Seattle"):  # a one-city region, as the demo's
        shutil.rmtree(tmp_path / "splits" / city)
    with caplog.at_level("WARNING"):
        table = load_layout("vigor", tmp_path)
    assert {p.extras["city"] for p in table} == {"NewYork"} and len(table) == 2
    assert "reading 1 of 4 cities (NewYork)" in caplog.text
    shutil.rmtree(tmp_path / "splits" / "NewYork")
    with pytest.raises(InputFileError, match="no VIGOR city split folder"):
        load_layout("vigor", tmp_path)


def test_vigor_malformed_label_rows(tmp_path: Path) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    label = tmp_path / "splits" / "Seattle" / "same_area_balanced_train.txt"
    tokens = label.read_text().split()
    label.write_text(
        " ".join(tokens[:12])
        + "\n"
        + " ".join([tokens[0], "satellite_0_0.png"] + tokens[2:])
        + "\n"
    )
    with pytest.raises(
        LayoutError,
        match=r"2 malformed: splits/Seattle/same_area_balanced_train.txt:1 "
        r"\(expected 13 fields.*:2 \(tile satellite_0_0.png not in",
    ):
        load_layout("vigor", tmp_path)
    with pytest.raises(ConfigError, match=r"vigor.area: 'diagonal' is not one of \['same', "):
        load_layout("vigor", tmp_path, area="diagonal")


# ---------------------------------------------------------------- folder
def test_folder_query_only_and_paired(tmp_path: Path) -> None:
    make_folder_fixture(tmp_path / "q", n=4)
    table = load_layout("folder", tmp_path / "q")
    assert table.extras["queries_only"] and not table.references
    assert table.split_counts() == {"train": 2, "test": 2} and table.pairs[1].yaw_deg == 30.0
    assert table.pairs[0].utm_zone == "32N" and table.pairs[0].fov_deg is None
    make_folder_fixture(tmp_path / "p", n=3, with_aerial=True)
    paired = load_layout("folder", tmp_path / "p")
    assert (
        paired.references[paired.pairs[2].positive].path
        == tmp_path / "p" / "tiles" / "tile_002.png"
    )


def test_folder_bad_rows_are_named(tmp_path: Path) -> None:
    make_folder_fixture(tmp_path, n=3)
    lines = (tmp_path / "coords.csv").read_text().splitlines()
    fields = lines[2].split(",")
    lines[2] = ",".join([fields[0], "nan", *fields[2:]])
    lines[3] = ",".join([*lines[3].split(",")[:2], "", *lines[3].split(",")[3:]])  # lon missing
    lines.append(lines[1])  # duplicate id
    (tmp_path / "coords.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        LayoutError,
        match=r"3 malformed: coords.csv:3 \(not finite: 'nan'\), "
        r"coords.csv:4 \(lat/lon .* half given\), coords.csv:5 \(duplicate id",
    ):
        load_layout("folder", tmp_path)
    (tmp_path / "coords.csv").write_text("image,latitude\nx.jpg,1\n")
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['lat', 'lon'\]"):
        load_layout("folder", tmp_path)


def test_vigor_world_tiles_csv_overrides_resolution(tmp_path: Path) -> None:
    make_vigor_fixture(tmp_path, panos_per_city=2, tiles_per_city=4)
    tile = next((tmp_path / "Seattle" / "satellite").iterdir())
    rel = tile.relative_to(tmp_path).as_posix()
    (tmp_path / "crossview_gt").mkdir()
    (tmp_path / "crossview_gt" / "tiles.csv").write_text(
        "tile_id,path,lat,lon,utm_e,utm_n,utm_zone,ground_resolution_m\n"
        f"t0,{rel},47.6,-122.3,550000.0,5272000.0,10N,0.5\n"
    )
    table = load_layout("vigor", tmp_path)
    by_path = {r.path: r for r in table.references}
    assert (by_path[tile].ground_resolution_m, by_path[tile].utm_e) == (0.5, 550000.0)
    others = [r for r in table.references if r.path != tile]
    assert all(np.isclose(r.ground_resolution_m, 0.114 * 640 / 32) for r in others)
