"""Hierarchical height-field ray casting against analytic answers and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossview.dem import Camera, Dem, RenderConfig, render_panorama, render_views, view_rays
from crossview.geometry.heightfield import (
    EARTH_RADIUS_M,
    bilinear_height,
    build_pyramid,
    cast_heightfield,
    cast_heightfield_reference,
    curvature_drop_m,
    curvature_per_m,
)
from crossview.geometry.panorama import roll_panorama
from crossview.geometry.raycast import GridSpec
from crossview.geometry.rays import pinhole_ray_directions

FLAT = RenderConfig(refraction=1.0)  # (1 - k) = 0: no curvature drop


def plane(n: int = 400, cell: float = 200.0) -> tuple[torch.Tensor, GridSpec]:
    return torch.zeros(n, n), GridSpec(-n * cell / 2, n * cell / 2, cell, n, n)


def plane_range(dirs: torch.Tensor, height_m: float, kappa: float) -> torch.Tensor:
    """Analytic first root of ``h + dz r + kappa |d_xy|^2 r^2 = 0`` (float64, inf = no hit)."""
    d = dirs.double()
    k = kappa * (d[:, 0] ** 2 + d[:, 1] ** 2)
    disc = d[:, 2] ** 2 - 4 * k * height_m
    root = torch.where(k > 0, (-d[:, 2] - disc.clamp(min=0).sqrt()) / (2 * k.clamp(min=1e-30)),
                       height_m / (-d[:, 2]))
    return torch.where((disc >= 0) & (d[:, 2] < 0), root, torch.full_like(root, math.inf))


def test_curvature_drop_matches_formula():
    assert curvature_drop_m(10_000.0) == pytest.approx(1e8 / (2 * EARTH_RADIUS_M) * 0.87)
    assert curvature_drop_m(50_000.0, refraction=0.0) == pytest.approx(196.2, abs=0.1)
    assert curvature_per_m(1.0) == 0.0


def test_flat_plane_depth_per_pixel_with_curvature():
    height, grid = plane()
    pyr = build_pyramid(height, grid)
    dirs = pinhole_ray_directions(60, 80, 60.0, yaw_deg=30.0, pitch_deg=-8.0).reshape(-1, 3)
    kappa = curvature_per_m()
    got = cast_heightfield(pyr, torch.tensor([300.0, -500.0, 50.0]), dirs, kappa)
    want = plane_range(dirs, 50.0, kappa)
    hit = torch.isfinite(want)                  # the horizon (27 km) is inside the 80 km plane
    assert hit.any() and not hit.all()
    assert torch.equal(torch.isfinite(got), hit)
    assert want[hit].max() > 3000 and torch.allclose(got[hit].double(), want[hit], rtol=2e-5)


def test_horizon_at_the_analytic_dip():
    # Level panorama rows spaced 0.004 deg around the horizon: rays at elevation e hit the
    # curved plane iff tan(e)^2 >= 4 c h, i.e. below the dip atan(2 sqrt(c h)) (0.21 deg here).
    height, grid = plane()
    pyr = build_pyramid(height, grid)
    h_cam, kappa = 50.0, curvature_per_m()
    dip = math.degrees(math.atan(2 * math.sqrt(kappa * h_cam)))
    elev = torch.linspace(-0.5, 0.1, 151, dtype=torch.float64)
    e = torch.deg2rad(elev)
    dirs = torch.stack([torch.zeros_like(e), torch.cos(e), torch.sin(e)], 1).float()
    got = cast_heightfield(pyr, torch.tensor([0.0, 0.0, h_cam]), dirs, kappa)
    hits = torch.isfinite(got)
    assert hits.any() and not hits.all()
    assert elev[hits].max() < -dip < elev[~hits].min()
    # The horizon distance sqrt(h / c) (~27 km) is reached by the last hitting row.
    assert got[hits].max() == pytest.approx(math.sqrt(h_cam / kappa), rel=0.05)


def test_gaussian_peak_matches_brute_force_reference():
    n, cell = 120, 50.0
    grid = GridSpec(-n * cell / 2, n * cell / 2, cell, n, n)
    xs, ys = grid.centers()
    r2 = (xs[None, :] - 400.0) ** 2 + (ys[:, None] - 1500.0) ** 2
    height = 800.0 * torch.exp(-r2 / (2 * 600.0**2)) + 100.0 * torch.exp(-r2 / (2 * 150.0**2))
    pyr = build_pyramid(height, grid)
    origin = torch.tensor([-200.0, -1800.0, float(bilinear_height(
        height, grid, torch.tensor(-200.0), torch.tensor(-1800.0))) + 1.7])
    dirs = pinhole_ray_directions(40, 60, 70.0, yaw_deg=10.0, pitch_deg=6.0).reshape(-1, 3)
    kappa = curvature_per_m()
    fast = cast_heightfield(pyr, origin, dirs, kappa)
    ref = cast_heightfield_reference(height, grid, origin, dirs, kappa, step_m=1.0,
                                     max_range_m=6000.0)
    both = torch.isfinite(fast) & torch.isfinite(ref)
    assert both.float().mean() > 0.3 and (~torch.isfinite(fast)).any()  # peak and sky
    assert (torch.isfinite(fast) != torch.isfinite(ref)).float().mean() <= 0.005
    rel = ((fast - ref).abs() / ref)[both]
    assert rel.median() < 1e-5 and rel.quantile(0.99) < 1e-3


def test_holes_and_the_grid_edge_let_rays_through():
    height, grid = plane(40, 10.0)
    height[:, 25:] = math.nan                          # the eastern part is no-data
    pyr = build_pyramid(height, grid)
    east = torch.tensor([[1.0, 0.0, -0.01], [0.0, 1.0, -0.01]])
    got = cast_heightfield(pyr, torch.tensor([0.0, 0.0, 0.5]), east / east.norm(dim=1,
                                                                                keepdim=True))
    assert math.isinf(got[0]) and got[1] == pytest.approx(50.0, rel=1e-3)


def _wall_dem() -> Dem:
    """Flat ground (0 m), 800 x 800 m in 2 m cells, centred at lon -105 (UTM 13's central
    meridian: grid north is true north at the centre). A 5000 m wall covers the sample rows at
    y = 301..307 m and columns x = -19..19 m; the ground sample row before it is at y = 299 m."""
    height = np.zeros((400, 400), np.float32)   # sample (i, j) at x = -399 + 2 j, y = 399 - 2 i
    height[46:50, 190:210] = 5000.0
    return Dem.from_array(height, 2.0, 40.0, -105.0)


def test_wall_at_a_known_distance():
    dem = _wall_dem()
    assert abs(dem.north_offset_deg(0.0, 0.0)) < 1e-6
    lat, lon = (float(v) for v in dem.to_latlon(0.0, 0.0))
    cam = Camera(lat, lon, fov_deg=6.0)           # +-15.7 m across at 300 m: the wall's face
    depth = render_views(dem, [cam], 41, 41, ("depth",), config=FLAT)["depth"][0].double()
    d = view_rays(dem, [cam], 41, 41)[1][0].reshape(-1, 3).double()
    # Rays meet the ground (z = 0) before y = 299, else the bilinear ramp from 0 m at y = 299
    # to 5000 m at y = 301: 1.7 + dz r = 2500 (dy r - 299).
    ground = 1.7 / -d[:, 2]
    ramp = (1.7 + 2500.0 * 299.0) / (2500.0 * d[:, 1] - d[:, 2])
    want = torch.where((d[:, 2] < 0) & (d[:, 1] * ground < 299.0), ground, ramp)
    assert (want == ramp).sum() > 400 and (want == ground).sum() > 400
    assert torch.allclose(depth.reshape(-1), want, rtol=1e-5)


def test_panorama_yaw_equals_a_column_roll(rmnp):
    lat, lon = rmnp.to_latlon(-2000.0, 1500.0)
    width = 96
    base = render_panorama(rmnp, Camera(float(lat), float(lon)), 24, width, 60.0, ("depth",))
    turned = render_panorama(rmnp, Camera(float(lat), float(lon), yaw_deg=90.0), 24, width,
                             60.0, ("depth",))
    rolled = roll_panorama(base["depth"][:, None], 90.0)[:, 0]
    assert torch.equal(rolled, torch.roll(base["depth"], -width // 4, dims=-1))
    same = torch.isclose(turned["depth"], rolled, rtol=1e-4)
    assert same.float().mean() > 0.995 and (~base["sky"]).any() and base["sky"].any()


def test_roll_rotates_the_image_counter_clockwise():
    dem = _wall_dem()
    lat, lon = (float(v) for v in dem.to_latlon(0.0, 0.0))
    level = render_views(dem, [Camera(lat, lon, pitch_deg=-5.0, fov_deg=30.0)], 31, 31,
                         ("depth",), config=FLAT)["depth"][0]
    rolled = render_views(dem, [Camera(lat, lon, pitch_deg=-5.0, roll_deg=90.0, fov_deg=30.0)],
                          31, 31, ("depth",), config=FLAT)["depth"][0]
    assert torch.allclose(rolled, torch.rot90(level, 1), rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the CPU==CUDA check)")
def test_cpu_and_cuda_agree(rmnp, rmnp_rgb):
    lat, lon = (float(v) for v in rmnp.to_latlon(-3000.0, -2000.0))
    cams = [Camera(lat, lon, yaw_deg=y, pitch_deg=2.0) for y in (0.0, 120.0, 240.0)]
    kw = dict(modalities=("depth", "silhouettes", "segmentation"), texture=rmnp_rgb)
    cpu = render_views(rmnp, cams, 64, 64, **kw)
    gpu = render_views(rmnp, cams, 64, 64, device="cuda", **kw)
    assert torch.equal(cpu["sky"], gpu["sky"].cpu())
    assert torch.allclose(cpu["depth"], gpu["depth"].cpu(), rtol=1e-4)
    assert (cpu["segmentation"] != gpu["segmentation"].cpu()).float().mean() < 0.01
    assert (cpu["silhouettes"] != gpu["silhouettes"].cpu()).float().mean() < 0.01
