"""World quality checks: tile/panorama geometric agreement and the appearance gap; CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from crossview.cli import app
from crossview.world import make_world
from crossview.world.checks import alignment_shifts, best_shift_deg, histogram_matcher_recall


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_world(tmp_path_factory.mktemp("checks"), "cvusa", 220, 3, tile_px=64,
                      pano_hw=(32, 128), region_m=800.0, tile_m=50.0, val_fraction=200 / 220)


def test_best_shift_recovers_a_known_roll() -> None:
    rng = np.random.default_rng(0)
    a = np.cumsum(rng.standard_normal((3, 128)), axis=1)
    assert best_shift_deg(a, np.roll(a, 9, axis=1)) == pytest.approx(-9 * 360 / 128)
    assert best_shift_deg(np.ones((3, 128)), a) is None


def test_tile_and_panorama_semantics_line_up(world: Path) -> None:
    shifts = alignment_shifts(world)
    informative = [abs(s) for s in shifts if s is not None]
    assert len(informative) >= 0.95 * len(shifts)
    assert np.mean(np.array(informative) <= 5.0 + 1e-9) >= 0.9


def test_colour_histogram_matcher_stays_near_chance(world: Path) -> None:
    recall, queries = histogram_matcher_recall(world, "val")
    assert queries == 200
    assert recall < 0.05


def test_cli_make_and_preview(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["world", "make", "--out", str(tmp_path / "w"), "--layout", "vigor",
                              "--pairs", "4", "--tile-px", "32", "--tile-m", "40", "--pano-hw",
                              "16x64", "--region-m", "300", "--cities", "Seattle"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "w" / "Seattle" / "panorama").glob("*,.jpg"))) == 4
    res = runner.invoke(app, ["world", "preview", str(tmp_path / "w"),
                              "--out", str(tmp_path / "s.png"), "--samples", "2"])
    assert res.exit_code == 0, res.output
    sheet = Image.open(tmp_path / "s.png")
    assert sheet.height == 2 * 96 and sheet.width > 96 * 4
