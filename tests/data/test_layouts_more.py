"""University-1652 and CrossLocate adapters, and the ``crossview data check`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossview.cli import app
from crossview.data.layouts import LayoutError, check_layout, load_layout
from crossview.data.layouts.crosslocate import yaw_difference_deg
from crossview.errors import ConfigError, InputFileError
from tests.data.fixtures import (
    make_crosslocate_fixture,
    make_cvusa_fixture,
    make_university_fixture,
)


@pytest.mark.parametrize(
    ("task", "query", "gallery", "per_query"),
    [
        ("drone2sat", "query_drone", "gallery_satellite", 1),
        ("sat2drone", "query_satellite", "gallery_drone", 3),
        ("street2sat", "query_street", "gallery_satellite", 1),
    ],
)
def test_university_tasks(
    tmp_path: Path, task: str, query: str, gallery: str, per_query: int
) -> None:
    make_university_fixture(
        tmp_path, n_classes=3, n_distractors=2, drone_per_class=3, street_per_class=2
    )
    table = load_layout("university1652", tmp_path, task=task)
    test = table.select("test")
    n_query = {"query_drone": 9, "query_satellite": 3, "query_street": 6}[query]
    n_gallery = {"gallery_satellite": 5, "gallery_drone": 15}[gallery]
    assert len(test) == n_query and len(test.references) == n_gallery  # distractors kept
    for pair in test:
        assert pair.ground.parent.parent.name == query
        assert len(pair.references) == per_query
        assert all(test.references[r].class_id == pair.class_id for r in pair.references)
        assert all(test.references[r].path.parent.parent.name == gallery for r in pair.references)
    train = table.select("train")
    assert {p.ground.parent.parent.name for p in train} == {
        "street" if task == "street2sat" else "drone"
    }
    assert all(train.references[p.positive].path.name == f"{p.class_id:04d}.jpg" for p in train)
    assert table.extras["query_view"] == task.split("2")[0].replace("sat", "satellite")


def test_university_query_without_gallery_class_and_bad_task(tmp_path: Path) -> None:
    make_university_fixture(tmp_path, n_classes=2)
    sat = tmp_path / "test" / "gallery_satellite" / "0100" / "0100.jpg"
    sat.unlink()
    sat.parent.rmdir()
    with pytest.raises(
        LayoutError,
        match="3 malformed: test/query_drone/0100/image-01.jpeg "
        r"\(class 0100 has no image in test/gallery_satellite\)",
    ):
        load_layout("university1652", tmp_path)
    with pytest.raises(ConfigError, match="university1652.task: 'drone2street' is not one of"):
        load_layout("university1652", tmp_path, task="drone2street")


def test_crosslocate_positives_within_20m_and_15deg(tmp_path: Path) -> None:
    make_crosslocate_fixture(tmp_path, variant="Sparse", positions=3, views=12)
    table = load_layout("crosslocate", tmp_path, variant="sparse")
    assert (
        table.split_counts() == {"test": 3, "train": 3, "val": 3} and len(table.references) == 108
    )
    for pair in table:
        pos = table.references[pair.positive]
        assert pos.split == pair.split and pos.id.startswith(f"{pair.split}_")
        assert yaw_difference_deg(pos.extras["yaw_deg"], pair.yaw_deg) <= 15.0
        assert (
            abs(pair.extras["positive_distance_m"] - 5.0) < 0.05
        )  # fixture places queries 5 m north
        assert 30.0 <= pair.fov_deg <= 70.0 and pair.utm_zone == "32N"
    with pytest.raises(ConfigError, match="crosslocate.variant: 'dense' is not one of"):
        load_layout("crosslocate", tmp_path, variant="dense")
    with pytest.raises(InputFileError, match="queries.csv: file not found"):
        load_layout("crosslocate", tmp_path, variant="uniform")


def test_crosslocate_far_queries_fall_back_to_nearest_position(tmp_path: Path) -> None:
    make_crosslocate_fixture(tmp_path, variant="Uniform", positions=2, views=12)
    csv_path = tmp_path / "Uniform" / "queries.csv"
    lines = csv_path.read_text().splitlines()
    f = lines[1].split(",")
    f[2], f[4] = f"{float(f[2]) + 0.0018:.7f}", "95.0"  # ~200 m north of its position, yaw 95
    lines[1] = ",".join(f)
    csv_path.write_text("\n".join(lines) + "\n")
    table = load_layout("crosslocate", tmp_path, variant="uniform").select("train")
    pair = table[0]
    # 0.0018 deg of latitude north of a point 5 m north of the position: about 205 m.
    assert len(pair.references) == 1 and 190 < pair.extras["positive_distance_m"] < 215
    # The positive is the best-yaw view at that position: views every 30 deg, so yaw 90.
    positive = table.references[pair.positive]
    assert positive.extras["yaw_deg"] == 90.0 and positive.id.startswith("train_000_")


def test_data_check_cli_json_and_broken_layout(tmp_path: Path) -> None:
    make_cvusa_fixture(tmp_path, n_train=3, n_val=2)
    out = CliRunner().invoke(app, ["data", "check", "cvusa", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "layout": "cvusa",
        "root": str(tmp_path),
        "options": {},
        "splits": {"train": 3, "val": 2},
        "gallery": {"train": 3, "val": 2},
        "references": 5,
        "maps": {},
        "notes": [],
        "problems": [],
    }
    (tmp_path / "streetview" / "panos" / "0000002.jpg").write_bytes(b"broken")
    assert check_layout("cvusa", tmp_path).ok
    assert check_layout("cvusa", tmp_path, deep=True).problems == [
        "malformed: streetview/panos/0000002.jpg "
        "(cannot decode image header: UnidentifiedImageError)"
    ]
    (tmp_path / "bingmap" / "19" / "0000004.jpg").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "crossview", "data", "check", "cvusa", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: cvusa {tmp_path}: 1 files missing: bingmap/19/0000004.jpg (first 1 of 1)"
    )
    assert "train" in proc.stdout and "references" in proc.stdout  # the table is still printed
