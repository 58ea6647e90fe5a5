"""Ray casting and panorama rendering against analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.geometry.raycast import (
    GridSpec,
    cast_rays,
    intersect_spheroids,
    march_columns,
    march_schedule,
)
from crossview.world import materials as M
from crossview.world.appearance import ground_condition
from crossview.world.render import render_panorama
from crossview.world.scene import Scene


def _flat(size: float = 60.0, cell: float = 0.25) -> tuple[torch.Tensor, GridSpec]:
    n = int(size / cell)
    return torch.zeros(n, n), GridSpec(-size / 2, size / 2, cell, n, n)


def test_flat_ground_range_matches_trigonometry() -> None:
    height, grid = _flat()
    elev = torch.tensor([-5.0, -10.0, -30.0, -60.0, -89.0])
    dirs = torch.stack([torch.zeros(5), torch.cos(torch.deg2rad(elev)),
                        torch.sin(torch.deg2rad(elev))], 1)
    rng = cast_rays(height, grid, (0.0, 0.0, 2.0), dirs, max_dist_m=29.0)
    expected = 2.0 / torch.sin(torch.deg2rad(-elev))
    # Bisection bounds the horizontal error (step / 2**10); near-vertical rays magnify it.
    assert torch.allclose(rng, expected, rtol=4e-3)


def test_rays_above_horizon_and_beyond_range_miss() -> None:
    height, grid = _flat()
    dirs = torch.tensor([[0.0, 1.0, 0.1], [1.0, 0.0, -0.01]])
    rng = cast_rays(height, grid, (0.0, 0.0, 2.0), dirs, max_dist_m=20.0)
    assert torch.isinf(rng).all()


def test_wall_is_hit_at_its_distance() -> None:
    height, grid = _flat()
    # A 3 m wall whose southern face is at y = 10 m (cells with centres from 10.125 m).
    height[(grid.y_max - torch.arange(grid.rows) * grid.cell_m <= 15.0)
           & (grid.y_max - torch.arange(grid.rows) * grid.cell_m > 10.0)] = 3.0
    s = march_columns(height, grid, (0.0, 0.0, 2.0), torch.tensor([[0.0, 1.0]]),
                      torch.tensor([[0.0], [0.05]]), march_schedule(25.0, 0.125))
    assert s[0, 0] == pytest.approx(10.0, abs=0.02)   # horizontal ray
    assert s[1, 0] == pytest.approx(10.0, abs=0.02)   # rises to 2.5 m < 3 m at the wall


def test_spheroid_intersection_analytic() -> None:
    centres = torch.tensor([[0.0, 10.0, 2.0], [0.0, 5.0, 50.0]])
    s, idx = intersect_spheroids((0.0, 0.0, 2.0), torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
                                 torch.tensor([[0.0]]), centres, torch.tensor([2.0, 1.0]),
                                 torch.tensor([3.0, 1.0]))
    assert s[0, 0].item() == pytest.approx(8.0, abs=1e-5) and idx[0, 0].item() == 0
    assert math.isinf(s[0, 1].item()) and idx[0, 1].item() == -1


def test_box_renders_at_expected_depth_and_angular_width() -> None:
    scene = Scene.flat(120.0, 0.25, material=M.GRASS)
    # Box 10 m wide (x in [-5, 5]), 8 m tall, front face 20 m north of the camera.
    scene.add_box(-5.0, 20.0, 5.0, 30.0, 8.0)
    out = render_panorama(scene, 0.0, 0.0, 64, 720, 90.0,
                          ground_condition(np.random.default_rng(0)), seed=0, max_range_m=50.0)
    horizon = 31  # row centred at elevation +0.7 deg
    row = out["semantics"][horizon].numpy()
    cols = np.flatnonzero(row == M.BUILDING)
    width_deg = len(cols) * 360.0 / 720
    assert width_deg == pytest.approx(2 * math.degrees(math.atan(5.0 / 20.0)), abs=1.5)
    centre_bearing = 180.0 + 360.0 * cols.mean() / 720 - 360.0
    assert centre_bearing == pytest.approx(0.0, abs=1.0)            # north = column W/2
    elev = math.radians(90.0 / 2 - 90.0 * (horizon + 0.5) / 64)
    assert out["depth"][horizon, 360].item() == pytest.approx(20.0 / math.cos(elev), abs=0.05)
    assert not out["sky"][horizon, 360] and out["sky"][0, 0]
    assert out["depth"][0, 0].item() == 0.0
