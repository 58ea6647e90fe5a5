"""Worker pool of ``world make`` (same bytes for any worker count, errors, options) and the
vectorised sun shadows against analytic answers."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from crossview.cli import app
from crossview.errors import ConfigError, CrossviewError
from crossview.geometry.raycast import GridSpec
from crossview.world import make_world
from crossview.world.config import WorldConfig
from crossview.world.render import _grid_sun_shadow, sun_shadow

TINY = {"tile_px": 32, "pano_hw": (16, 64), "region_m": 240.0, "tile_m": 40.0}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_workers_write_the_same_bytes_as_one_and_resume(tmp_path: Path) -> None:
    # Two VIGOR cities: with workers=2 their scenes are also generated in two processes.
    cities = ("Seattle", "Chicago")
    serial = _digest(make_world(tmp_path / "w1", "vigor", 8, 3, workers=1, cities=cities, **TINY))
    pooled = make_world(tmp_path / "w2", "vigor", 8, 3, workers=2, cities=cities, **TINY)
    assert len(serial) > 40 and _digest(pooled) == serial
    # Resume with the pool: only the removed files are rendered again, to the same bytes.
    removed = sorted(pooled.rglob("*.png"))[:3] + sorted(pooled.rglob("*.npy"))[:2]
    for path in removed:
        path.unlink()
    make_world(pooled, "vigor", 8, 3, workers=2, cities=cities, **TINY)
    assert _digest(pooled) == serial


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_is_one_clear_error(tmp_path: Path, workers: int) -> None:
    # A directory where a panorama should go: writing it fails inside the (worker) process.
    blocker = tmp_path / "streetview" / "panos" / "0000002.jpg"
    blocker.mkdir(parents=True)
    with pytest.raises(CrossviewError) as info:
        make_world(tmp_path, "cvusa", 4, 0, workers=workers, **TINY)
    message = str(info.value)
    assert "\n" not in message
    assert "streetview/panos/0000002.jpg" in message and "failed" in message
    # The other jobs' outputs are complete files (atomic writes), so a rerun can resume.
    assert not list(tmp_path.rglob("*.tmp*"))


def test_workers_option_is_validated_and_left_out_of_world_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        WorldConfig(workers=0)
    assert WorldConfig(workers=3).resolved_workers == 3
    assert 1 <= WorldConfig().resolved_workers <= 8
    res = CliRunner().invoke(app, ["world", "make", "--out", str(tmp_path / "bad"),
                                   "--workers", "-1"])
    assert isinstance(res.exception, ConfigError) and "--workers" in str(res.exception)
    res = CliRunner().invoke(app, ["world", "make", "--out", str(tmp_path / "ok"), "--pairs", "2",
                                   "--tile-px", "32", "--tile-m", "40", "--pano-hw", "16x64",
                                   "--region-m", "200", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "workers" not in (tmp_path / "ok" / "crossview_gt" / "world.json").read_text()


def _wall_grid() -> tuple[torch.Tensor, GridSpec]:
    """Flat ground with a 10 m tall wall over x in [0, 5) m, y in [-20, 20) m."""
    grid = GridSpec(-40.0, 40.0, 0.5, 160, 160)
    height = torch.zeros(160, 160)
    x, y = grid.centers()
    height[(y.abs() < 20).unsqueeze(1) & ((x >= 0) & (x < 5)).unsqueeze(0)] = 10.0
    return height, grid


def test_sun_shadow_matches_the_wall_geometry() -> None:
    height, grid = _wall_grid()
    elev = math.radians(45.0)
    sun = np.array([math.cos(elev), 0.0, math.sin(elev)])   # from the east, 45 deg up
    # Ground points west of the wall are shadowed up to h / tan(elev) = 10 m from it; points
    # east of it, past its end (y = 30) or farther than 10 m are lit.
    xs = torch.tensor([-3.0, -8.0, -12.0, -20.0, 10.0, -3.0])
    ys = torch.tensor([0.0, 5.0, 0.0, 0.0, 0.0, 30.0])
    shadow = sun_shadow(height, grid, xs, ys, torch.zeros(6), sun)
    assert shadow.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    # A low sun (10 deg) stretches the shadow to 10 / tan(10 deg) = 56.7 m, beyond the 40 m march.
    low = np.array([math.cos(math.radians(10)), 0.0, math.sin(math.radians(10))])
    shadow = sun_shadow(height, grid, torch.tensor([-30.0, -30.0]), torch.tensor([0.0, 0.0]),
                        torch.tensor([0.0, 12.0]), low)
    assert shadow.tolist() == [1.0, 0.0]   # a point above the wall top is never shadowed


def test_grid_shadow_equals_pointwise_shadow() -> None:
    gen = torch.Generator().manual_seed(0)
    height = torch.rand(160, 160, generator=gen) * 6
    grid = GridSpec(-40.0, 40.0, 0.5, 160, 160)
    k = torch.arange(48, dtype=torch.float32) - 24
    xs, ys = 3.0 + k * 0.7, -2.0 - k * 0.7
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    z = torch.rand(48, 48, generator=gen) * 6
    for az in (30.0, 135.0, 250.0):
        a, e = math.radians(az), math.radians(35.0)
        sun = np.array([math.cos(e) * math.sin(a), math.cos(e) * math.cos(a), math.sin(e)])
        pointwise = sun_shadow(height, grid, xx, yy, z, sun)
        assert 0.05 < pointwise.mean() < 0.95                       # both cases occur
        assert torch.equal(_grid_sun_shadow(height, grid, xs, ys, z, sun), pointwise)


def test_sun_shadow_is_exact_on_grids_beyond_float32_indices() -> None:
    # 5000 x 5000 cells: flat cell indices above 2**24 are not all float32 numbers.
    grid = GridSpec(-1250.0, 1250.0, 0.5, 5000, 5000)
    height = torch.zeros(5000, 5000)
    height[4000, 2501] = 50.0                         # a one-cell mast, odd flat index
    x, y = grid.centers()
    sun = np.array([0.0, math.cos(math.radians(45)), math.sin(math.radians(45))])  # from north
    shadow = sun_shadow(height, grid, torch.stack([x[2501], x[2501]]),
                        torch.stack([y[4010], y[4010]]), torch.tensor([0.0, 60.0]), sun)
    assert shadow.tolist() == [1.0, 0.0]              # 5 m south of the mast; above its top
