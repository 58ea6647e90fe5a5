"""Render aerial tiles (orthographic, north-up) and ground panoramas from a :class:`Scene`.

Panoramas follow :mod:`crossview.conventions`: equirectangular, column ``W/2`` looks north,
rows span ``[-vfov/2, +vfov/2]``. Depth is the Euclidean range along each ray in metres (0 on
sky pixels); semantics use :mod:`crossview.world.materials` class ids.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from crossview.geometry.raycast import (
    GridSpec,
    intersect_spheroids,
    lookup,
    march_columns,
    march_schedule,
)
from crossview.geometry.rays import column_bearing_deg, row_elevation_deg
from crossview.world import materials as M
from crossview.world.appearance import Condition, camera_response, sky_radiance
from crossview.world.scene import Scene


@dataclasses.dataclass
class Window:
    """Torch layers of a square crop of the scene, with one capture's transients stamped in."""

    grid: GridSpec
    ground: Tensor
    solid: Tensor
    top: Tensor
    """Highest surface seen from above (solid or crown)."""
    material: Tensor
    obj: Tensor
    """Index into ``tint`` / ``facade`` (0 = plain material)."""
    tint: Tensor
    """``(K, 3)`` colour of roofs and vehicles per ``obj`` index."""
    facade: Tensor
    """``(K, 3)`` wall colour per ``obj`` index."""
    tex: Tensor


def make_window(scene: Scene, cx: float, cy: float, radius_m: float, transients: str) -> Window:
    """Crop ``[cx +- radius] x [cy +- radius]`` and stamp the ``transients`` set into it."""
    rows, cols = scene.rect(cx - radius_m, cy - radius_m, cx + radius_m, cy + radius_m)
    g = scene.grid
    grid = GridSpec(g.x_min + cols.start * g.cell_m, g.y_max - rows.start * g.cell_m, g.cell_m,
                    rows.stop - rows.start, cols.stop - cols.start)
    ground = scene.ground[rows, cols]
    solid = scene.solid[rows, cols].copy()
    material = scene.material[rows, cols].copy()
    obj = scene.obj[rows, cols].copy()
    # Colour tables: building ids index roofs/facades; vehicles get ids after the buildings.
    n_b = len(scene.roof_rgb)
    tint = np.concatenate([np.ones((1, 3), np.float32), scene.roof_rgb[1:], M.VEHICLE_COLOURS])
    facade = np.concatenate([np.ones((1, 3), np.float32), scene.facade_rgb[1:], M.VEHICLE_COLOURS])
    sub = Scene(grid, ground, solid, material, obj, scene.tex, scene.crown_top, scene.trees,
                scene.roof_rgb, scene.facade_rgb, {})
    boxes = scene.transients.get(transients, np.zeros((0, 6), np.float32))
    boxes = boxes[(np.abs(boxes[:, 0] - cx) < radius_m + 3) & (np.abs(boxes[:, 1] - cy) < radius_m + 3)]
    for x, y, hx, hy, h, colour in boxes.tolist():
        r, c = sub.rect(x - hx, y - hy, x + hx, y + hy)
        if (material[r, c] == M.ROOF).any() or (material[r, c] == M.TRUNK).any():
            continue
        solid[r, c] = ground[r, c] + h
        material[r, c] = M.CAR
        obj[r, c] = n_b + int(colour)
    top = np.maximum(solid, scene.crown_top[rows, cols])
    t = torch.from_numpy
    return Window(grid, t(np.ascontiguousarray(ground)), t(solid), t(top), t(material),
                  t(obj), t(tint), t(facade), t(np.ascontiguousarray(scene.tex[rows, cols])))


def sun_shadow(height: Tensor, grid: GridSpec, x: Tensor, y: Tensor, z: Tensor, sun: np.ndarray,
               max_dist_m: float = 40.0, step_m: float = 1.0) -> Tensor:
    """1 where the point ``(x, y, z)`` is shadowed by ``height`` towards unit vector ``sun``."""
    horiz = float(np.hypot(sun[0], sun[1]))
    tan_sun = sun[2] / max(horiz, 1e-6)
    ux, uy = sun[0] / max(horiz, 1e-6), sun[1] / max(horiz, 1e-6)
    shadow = torch.zeros_like(x)
    for s in np.arange(step_m, max_dist_m + 1e-6, step_m):
        h = lookup(height, grid, x + ux * s, y + uy * s)
        shadow = torch.maximum(shadow, (h > z + 0.05 + s * tan_sun).to(x.dtype))
    return shadow


def _albedo(win: Window, material: Tensor, rows_cols: tuple[Tensor, Tensor], palette: Tensor,
            wall: Tensor | None = None) -> Tensor:
    """``(3, N)`` albedo of cells at flat indices; walls of buildings use the facade colour."""
    flat = rows_cols[0] * win.grid.cols + rows_cols[1]
    base = palette[material.long()].t()                             # (3, N)
    obj = win.obj.reshape(-1)[flat].long()
    colour = win.tint[obj].t()
    if wall is not None:
        colour = torch.where(wall.unsqueeze(0), win.facade[obj].t(), colour)
    tex = win.tex.reshape(-1)[flat].float() / 255.0
    return base * colour * (0.8 + 0.4 * tex)


def render_aerial(scene: Scene, cx: float, cy: float, size_px: int, footprint_m: float,
                  cond: Condition, seed: int) -> dict[str, Tensor]:
    """Orthographic north-up tile centred on ``(cx, cy)``; the centre is pixel coordinate S/2.

    Returns ``rgb`` (3, S, S) in [0, 1], ``dsm`` (S, S) absolute height in metres and
    ``semantics`` (S, S) uint8 class ids.
    """
    gsd = footprint_m / size_px
    win = make_window(scene, cx, cy, footprint_m * 0.75 + 45.0, "aerial")
    k = torch.arange(size_px, dtype=torch.float32) - size_px / 2
    yy, xx = torch.meshgrid(cy - k * gsd, cx + k * gsd, indexing="ij")
    top = lookup(win.top, win.grid, xx, yy)
    solid = lookup(win.solid, win.grid, xx, yy)
    material = lookup(win.material, win.grid, xx, yy)
    material = torch.where(top > solid + 1e-3, torch.full_like(material, M.CROWN), material)
    palette = torch.from_numpy(M.PALETTES[cond.season])
    rc = win.grid.index(xx.reshape(-1), yy.reshape(-1))
    albedo = _albedo(win, material.reshape(-1), rc, palette).reshape(3, size_px, size_px)
    # Lambert shading from the surface slope (finite differences, walls clipped) and shadows.
    gy, gx = torch.gradient(top, spacing=gsd)
    normal = torch.stack([-gx.clamp(-3, 3), gy.clamp(-3, 3), torch.ones_like(gx)])
    normal = normal / normal.norm(dim=0, keepdim=True)
    sun = cond.sun_dir
    lambert = (normal * torch.tensor(sun, dtype=torch.float32).view(3, 1, 1)).sum(0).clamp(min=0)
    shadow = sun_shadow(win.top, win.grid, xx, yy, top, sun)
    light = torch.tensor(cond.light_rgb).view(3, 1, 1) * (lambert * (1 - shadow)).unsqueeze(0)
    radiance = albedo * (cond.ambient + light)
    gen = torch.Generator().manual_seed(seed)
    rgb = camera_response(radiance, cond, gen)
    semantics = torch.from_numpy(M.MATERIAL_CLASS)[material.long()]
    return {"rgb": rgb, "dsm": top, "semantics": semantics}


def render_panorama(scene: Scene, cx: float, cy: float, height_px: int, width_px: int,
                    vfov_deg: float, cond: Condition, seed: int, camera_height_m: float = 2.0,
                    max_range_m: float = 120.0) -> dict[str, Tensor]:
    """Equirectangular panorama from ``camera_height_m`` above the ground at ``(cx, cy)``.

    Returns ``rgb`` (3, H, W), ``depth`` (H, W) range in metres (0 = sky), ``semantics``
    (H, W) uint8 and ``sky`` (H, W) bool.
    """
    win = make_window(scene, cx, cy, max_range_m + 5.0, "ground")
    oz = float(lookup(win.ground, win.grid, torch.tensor(cx), torch.tensor(cy))) + camera_height_m
    origin = (cx, cy, oz)
    bearing = torch.deg2rad(column_bearing_deg(width_px, torch.float64))
    dirs_xy = torch.stack([torch.sin(bearing), torch.cos(bearing)], 1).float()   # (W, 2)
    elev = row_elevation_deg(height_px, vfov_deg, torch.float64).clamp(-89.9, 89.9)
    tan = torch.tan(torch.deg2rad(elev)).float().view(-1, 1)                     # (H, 1)
    steps = march_schedule(max_range_m, min(0.25, win.grid.cell_m / 2))
    s_solid = march_columns(win.solid, win.grid, origin, dirs_xy, tan, steps)
    near = scene.trees[(np.abs(scene.trees[:, 0] - cx) < max_range_m)
                       & (np.abs(scene.trees[:, 1] - cy) < max_range_m)]
    tr = torch.from_numpy(near)
    s_tree, tree_idx = intersect_spheroids(origin, dirs_xy, tan, tr[:, :3], tr[:, 3], tr[:, 4])
    is_tree = s_tree < s_solid
    s = torch.minimum(s_solid, s_tree)
    tan_full = tan.expand_as(s)
    below = tan_full < 0
    far = ~torch.isfinite(s) & below                                # ground beyond the range
    sky = ~torch.isfinite(s) & ~below
    s = torch.where(far, torch.full_like(s, max_range_m), s)
    hit = ~sky
    x = cx + s * dirs_xy[:, 0].view(1, -1)
    y = cy + s * dirs_xy[:, 1].view(1, -1)
    z = oz + s * tan_full
    depth = torch.where(hit, s * torch.sqrt(1 + tan_full**2), torch.zeros_like(s))
    radiance, semantics = _shade_hits(win, scene, near, cond, x, y, z, s, dirs_xy, tan_full,
                                      is_tree, tree_idx, far, origin)
    rng = np.random.default_rng(seed)
    dirs3 = torch.stack([dirs_xy[:, 0].view(1, -1) * torch.cos(torch.atan(tan_full)),
                         dirs_xy[:, 1].view(1, -1) * torch.cos(torch.atan(tan_full)),
                         torch.sin(torch.atan(tan_full))], -1).reshape(-1, 3)
    sky_rgb = sky_radiance(dirs3, cond, rng).reshape(3, height_px, width_px)
    # Aerial perspective: distant surfaces fade into the horizon colour.
    fog = (1 - torch.exp(-depth / cond.visibility_m)).unsqueeze(0)
    hor = torch.tensor(cond.horizon_rgb).view(3, 1, 1)
    radiance = radiance * (1 - fog) + hor * fog
    radiance = torch.where(sky.unsqueeze(0), sky_rgb, radiance)
    semantics = torch.where(sky, torch.zeros_like(semantics), semantics)
    rgb = camera_response(radiance, cond, torch.Generator().manual_seed(seed))
    return {"rgb": rgb, "depth": depth.float(), "semantics": semantics.to(torch.uint8), "sky": sky}


def _shade_hits(win: Window, scene: Scene, trees: np.ndarray, cond: Condition, x: Tensor,
                y: Tensor, z: Tensor, s: Tensor, dirs_xy: Tensor, tan: Tensor, is_tree: Tensor,
                tree_idx: Tensor, far: Tensor, origin: tuple[float, float, float]) -> tuple[Tensor, Tensor]:
    """Radiance ``(3, H, W)`` and class ids ``(H, W)`` of every hit point."""
    shape = x.shape
    rows, cols = win.grid.index(x.reshape(-1), y.reshape(-1))
    flat = rows * win.grid.cols + cols
    material = win.material.reshape(-1)[flat]
    solid = win.solid.reshape(-1)[flat]
    ground = win.ground.reshape(-1)[flat]
    wall = (z.reshape(-1) < solid - 0.1) & (material != M.CROWN)
    # Wall normal: the axis whose cell index changed just before the hit.
    back = (s.reshape(-1) - 0.05).clamp(min=0)
    dxv = dirs_xy[:, 0].view(1, -1).expand(shape).reshape(-1)
    dyv = dirs_xy[:, 1].view(1, -1).expand(shape).reshape(-1)
    prow, pcol = win.grid.index(origin[0] + back * dxv, origin[1] + back * dyv)
    across_x = pcol != cols
    normal = torch.zeros(3, flat.shape[0])
    normal[0] = torch.where(wall & across_x, -torch.sign(dxv), normal[0])
    normal[1] = torch.where(wall & ~across_x, -torch.sign(dyv), normal[1])
    normal[2] = torch.where(wall, torch.zeros_like(dxv), torch.ones_like(dxv))
    palette = torch.from_numpy(M.PALETTES[cond.season])
    albedo = _albedo(win, material, (rows, cols), palette, wall & (material == M.ROOF))
    # Windows: a regular grid of dark panes on building walls.
    along = torch.where(across_x, y.reshape(-1), x.reshape(-1))
    rel = z.reshape(-1) - ground
    pane = (torch.remainder(rel, 3.0) > 1.0) & (torch.remainder(rel, 3.0) < 2.2) \
        & (torch.remainder(along, 2.5) > 0.6) & (torch.remainder(along, 2.5) < 1.8) & (rel > 1.0)
    albedo = torch.where((wall & (material == M.ROOF) & pane).unsqueeze(0), albedo * 0.25, albedo)
    semantics = torch.from_numpy(M.MATERIAL_CLASS)[material.long()]
    # Tree crowns (analytic spheroids).
    tree_flat = is_tree.reshape(-1)
    if tree_flat.any():
        t = torch.from_numpy(trees)[tree_idx.reshape(-1)[tree_flat]]
        crown = palette[M.CROWN].view(3, 1) * (0.7 + 0.6 * t[:, 5]).view(1, -1)
        leaf = 0.85 + 0.3 * torch.sin(x.reshape(-1)[tree_flat] * 7.1) * torch.sin(z.reshape(-1)[tree_flat] * 5.3)
        albedo[:, tree_flat] = crown * leaf
        p = torch.stack([x.reshape(-1)[tree_flat], y.reshape(-1)[tree_flat], z.reshape(-1)[tree_flat]])
        n = (p - t[:, :3].t()) / torch.stack([t[:, 3], t[:, 3], t[:, 4]])
        normal[:, tree_flat] = n / n.norm(dim=0, keepdim=True).clamp(min=1e-6)
        semantics[tree_flat] = M.VEGETATION
    semantics = torch.where(far.reshape(-1), torch.full_like(semantics, M.GROUND), semantics)
    sun = torch.tensor(cond.sun_dir, dtype=torch.float32)
    lambert = (normal * sun.view(3, 1)).sum(0).clamp(min=0)
    top_hit = ~wall & ~tree_flat & (s.reshape(-1) < 60.0)
    shadow = torch.zeros_like(lambert)
    if top_hit.any():
        shadow[top_hit] = sun_shadow(win.top, win.grid, x.reshape(-1)[top_hit],
                                     y.reshape(-1)[top_hit], z.reshape(-1)[top_hit], cond.sun_dir,
                                     max_dist_m=30.0, step_m=1.5)
    light = torch.tensor(cond.light_rgb).view(3, 1) * (lambert * (1 - shadow)).unsqueeze(0)
    radiance = albedo * (cond.ambient + light)
    return radiance.reshape(3, *shape), semantics.reshape(shape)


def camera_ground_height(scene: Scene, cx: float, cy: float) -> float:
    """Terrain height under ``(cx, cy)`` (m)."""
    g = torch.from_numpy(scene.ground)
    return float(lookup(g, scene.grid, torch.tensor(cx, dtype=torch.float32),
                        torch.tensor(cy, dtype=torch.float32)))


__all__ = ["Window", "make_window", "render_aerial", "render_panorama", "sun_shadow",
           "camera_ground_height"]
