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
    boxes = boxes[(np.abs(boxes[:, 0] - cx) < radius_m + 3)
                  & (np.abs(boxes[:, 1] - cy) < radius_m + 3)]
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
    """1 where the point ``(x, y, z)`` is shadowed by ``height`` towards unit vector ``sun``.

    Marches ``max_dist_m / step_m`` samples towards the sun; a point is shadowed when a sample
    rises above the sun ray (with a 5 cm bias against self-shadowing). Same shape as ``x``.
    """
    ux, uy, tan_sun = _sun_march(sun)
    # Cell coordinates once; each step then only shifts them (in-place buffers: this loop is
    # the hottest of the renderer).
    ax = ((x - grid.x_min) / grid.cell_m).reshape(-1)
    ay = ((grid.y_max - y) / grid.cell_m).reshape(-1)
    if grid.rows * grid.cols >= 2**24:  # flat indices below are built in float: keep them exact
        ax, ay = ax.double(), ay.double()
    z_bias = (z + 0.05).reshape(-1)
    flat_height = height.reshape(-1)
    col, row, thr = torch.empty_like(ax), torch.empty_like(ax), torch.empty_like(ax)
    shadow = torch.zeros(ax.shape, dtype=torch.bool)
    for s in np.arange(step_m, max_dist_m + 1e-6, step_m):
        torch.add(ax, ux * s / grid.cell_m, out=col).floor_().clamp_(0, grid.cols - 1)
        torch.sub(ay, uy * s / grid.cell_m, out=row).floor_().clamp_(0, grid.rows - 1)
        # Flat index built in float (one integer conversion per step instead of two).
        flat = row.mul_(grid.cols).add_(col).long()
        shadow |= flat_height.index_select(0, flat) > torch.add(z_bias, s * tan_sun, out=thr)
    return shadow.reshape(x.shape).to(x.dtype)


def _grid_sun_shadow(height: Tensor, grid: GridSpec, xs: Tensor, ys: Tensor, z: Tensor,
                     sun: np.ndarray, max_dist_m: float = 40.0, step_m: float = 1.0) -> Tensor:
    """:func:`sun_shadow` of a north-up pixel grid ``(len(ys), len(xs))`` of heights ``z``.

    On an axis-aligned grid a step towards the sun shifts every column by the same x and every
    row by the same y, so the cells to sample are an outer product of two short index vectors.
    """
    ux, uy, tan_sun = _sun_march(sun)
    ax = (xs - grid.x_min) / grid.cell_m
    ay = (grid.y_max - ys) / grid.cell_m
    z_bias = z + 0.05
    thr = torch.empty_like(z)
    shadow = torch.zeros(z.shape, dtype=torch.bool)
    for s in np.arange(step_m, max_dist_m + 1e-6, step_m):
        col = torch.floor(ax + ux * s / grid.cell_m).clamp_(0, grid.cols - 1).long()
        row = torch.floor(ay - uy * s / grid.cell_m).clamp_(0, grid.rows - 1).long()
        h = height.index_select(0, row).index_select(1, col)
        shadow |= h > torch.add(z_bias, s * tan_sun, out=thr)
    return shadow.to(z.dtype)


def _sun_march(sun: np.ndarray) -> tuple[float, float, float]:
    """Return the unit horizontal direction ``(ux, uy)`` to the sun and its elevation's tangent."""
    horiz = max(float(np.hypot(sun[0], sun[1])), 1e-6)
    return float(sun[0]) / horiz, float(sun[1]) / horiz, float(sun[2]) / horiz


def _albedo(win: Window, palette: Tensor, material: Tensor, obj: Tensor, tex: Tensor,
            wall: Tensor | None = None) -> Tensor:
    """``(3, ...)`` albedo of cells with the given material, object id and texture ``(...)``.

    Walls of buildings (``wall``) use the facade colour instead of the roof colour.
    """
    shape = material.shape
    base = palette.index_select(0, material.reshape(-1).long())    # (N, 3)
    obj = obj.reshape(-1).long()
    colour = win.tint.index_select(0, obj)
    if wall is not None:
        colour = torch.where(wall.reshape(-1, 1), win.facade.index_select(0, obj), colour)
    grain = (0.8 + 0.4 * (tex.reshape(-1, 1).float() / 255.0))
    return (base * colour * grain).t().reshape(3, *shape).contiguous()


def _rgb(colour: tuple[float, float, float] | np.ndarray) -> Tensor:
    """``(3,)`` float32 tensor of a colour (the conditions hold numpy float64 values)."""
    return torch.tensor([float(c) for c in colour], dtype=torch.float32)


def _classes(material: Tensor) -> Tensor:
    """Semantic class ids (uint8) of materials, same shape."""
    table = torch.from_numpy(M.MATERIAL_CLASS)
    return table.index_select(0, material.reshape(-1).long()).reshape(material.shape)


def _unit_dot(nx: Tensor, ny: Tensor, nz: Tensor, sun: np.ndarray) -> Tensor:
    """Cosine between the (unnormalised) normals ``(nx, ny, nz)`` and the unit vector ``sun``."""
    norm = torch.sqrt(nx * nx + ny * ny + nz * nz).clamp_(min=1e-6)
    return (nx * float(sun[0]) + ny * float(sun[1]) + nz * float(sun[2])) / norm


def render_aerial(scene: Scene, cx: float, cy: float, size_px: int, footprint_m: float,
                  cond: Condition, seed: int) -> dict[str, Tensor]:
    """Orthographic north-up tile centred on ``(cx, cy)``; the centre is pixel coordinate S/2.

    Returns ``rgb`` (3, S, S) in [0, 1], ``dsm`` (S, S) absolute height in metres and
    ``semantics`` (S, S) uint8 class ids.
    """
    gsd = footprint_m / size_px
    win = make_window(scene, cx, cy, footprint_m * 0.75 + 45.0, "aerial")
    k = torch.arange(size_px, dtype=torch.float32) - size_px / 2
    xs, ys = cx + k * gsd, cy - k * gsd                 # pixel column eastings, row northings
    # The tile is axis-aligned: pixel (i, j) samples cell (rows[i], cols[j]).
    rows, cols = win.grid.index(xs, ys)

    def sample(layer: Tensor) -> Tensor:
        return layer.index_select(0, rows).index_select(1, cols)

    top, solid, material = sample(win.top), sample(win.solid), sample(win.material)
    material = torch.where(top > solid + 1e-3, torch.full_like(material, M.CROWN), material)
    palette = torch.from_numpy(M.PALETTES[cond.season])
    albedo = _albedo(win, palette, material, sample(win.obj), sample(win.tex))
    # Lambert shading from the surface slope (finite differences, walls clipped) and shadows.
    gy, gx = torch.gradient(top, spacing=gsd)
    sun = cond.sun_dir
    lambert = _unit_dot(-gx.clamp(-3, 3), gy.clamp(-3, 3), torch.ones_like(gx), sun).clamp_(min=0)
    shadow = _grid_sun_shadow(win.top, win.grid, xs, ys, top, sun)
    light = _rgb(cond.light_rgb).view(3, 1, 1) * (lambert * (1 - shadow)).unsqueeze(0)
    radiance = albedo * (cond.ambient + light)
    gen = torch.Generator().manual_seed(seed)
    rgb = camera_response(radiance, cond, gen)
    return {"rgb": rgb, "dsm": top, "semantics": _classes(material)}


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
    x = cx + s * dirs_xy[:, 0].view(1, -1)
    y = cy + s * dirs_xy[:, 1].view(1, -1)
    z = oz + s * tan_full
    # Per-row factors are computed on (H, 1) and broadcast: the rows share their elevation.
    depth = torch.where(sky, torch.zeros_like(s), s * torch.sqrt(1 + tan**2))
    radiance, semantics = _shade_hits(win, near, cond, x, y, z, s, dirs_xy, is_tree, tree_idx,
                                      far, sky, origin)
    rng = np.random.default_rng(seed)
    cos_e, sin_e = torch.cos(torch.atan(tan)), torch.sin(torch.atan(tan))       # (H, 1)
    dirs3 = torch.stack([dirs_xy[:, 0].view(1, -1) * cos_e, dirs_xy[:, 1].view(1, -1) * cos_e,
                         sin_e.expand(height_px, width_px)], -1).reshape(-1, 3)
    sky_rgb = sky_radiance(dirs3, cond, rng).reshape(3, height_px, width_px)
    # Aerial perspective: distant surfaces fade into the horizon colour.
    fog = (1 - torch.exp(-depth / cond.visibility_m)).unsqueeze(0)
    hor = _rgb(cond.horizon_rgb).view(3, 1, 1)
    radiance = radiance * (1 - fog) + hor * fog
    radiance = torch.where(sky.unsqueeze(0), sky_rgb, radiance)
    semantics = torch.where(sky, torch.zeros_like(semantics), semantics)
    rgb = camera_response(radiance, cond, torch.Generator().manual_seed(seed))
    return {"rgb": rgb, "depth": depth.float(), "semantics": semantics.to(torch.uint8), "sky": sky}


def _shade_hits(win: Window, trees: np.ndarray, cond: Condition, x: Tensor, y: Tensor, z: Tensor,
                s: Tensor, dirs_xy: Tensor, is_tree: Tensor, tree_idx: Tensor, far: Tensor,
                sky: Tensor, origin: tuple[float, float, float]) -> tuple[Tensor, Tensor]:
    """Radiance ``(3, H, W)`` and class ids ``(H, W)`` of every ray's hit point.

    ``far`` rays (ground beyond the range) are classed as ground; ``sky`` rays are shaded as
    if they hit the camera's cell, and the caller paints the sky over them.
    """
    shape = x.shape
    xf, yf, zf, sf = x.reshape(-1), y.reshape(-1), z.reshape(-1), s.reshape(-1)
    # Sky rays have infinite coordinates, which have no cell index.
    flat_sky = sky.reshape(-1)
    xf = torch.where(flat_sky, torch.full_like(xf, origin[0]), xf)
    yf = torch.where(flat_sky, torch.full_like(yf, origin[1]), yf)
    rows, cols = win.grid.index(xf, yf)
    flat = rows * win.grid.cols + cols

    def sample(layer: Tensor) -> Tensor:
        return layer.reshape(-1).index_select(0, flat)

    material, solid, ground = sample(win.material), sample(win.solid), sample(win.ground)
    wall = (zf < solid - 0.1) & (material != M.CROWN)
    # Wall normal: the axis whose cell index changed just before the hit.
    back = (sf - 0.05).clamp(min=0)
    dxv = dirs_xy[:, 0].view(1, -1).expand(shape).reshape(-1)
    dyv = dirs_xy[:, 1].view(1, -1).expand(shape).reshape(-1)
    _, pcol = win.grid.index(origin[0] + back * dxv, origin[1] + back * dyv)
    across_x = pcol != cols
    zero = torch.zeros_like(dxv)
    nx = torch.where(wall & across_x, -torch.sign(dxv), zero)
    ny = torch.where(wall & ~across_x, -torch.sign(dyv), zero)
    nz = torch.where(wall, zero, torch.ones_like(dxv))
    palette = torch.from_numpy(M.PALETTES[cond.season])
    facade = wall & (material == M.ROOF)
    albedo = _albedo(win, palette, material, sample(win.obj), sample(win.tex), facade)
    # Windows: a regular grid of dark panes on building walls.
    along = torch.where(across_x, yf, xf)
    rel = zf - ground
    storey, bay = torch.remainder(rel, 3.0), torch.remainder(along, 2.5)
    pane = (storey > 1.0) & (storey < 2.2) & (bay > 0.6) & (bay < 1.8) & (rel > 1.0)
    albedo = torch.where((facade & pane).unsqueeze(0), albedo * 0.25, albedo)
    semantics = _classes(material)
    # Tree crowns (analytic spheroids).
    tree_at = torch.nonzero(is_tree.reshape(-1)).squeeze(1)
    if tree_at.numel():
        t = torch.from_numpy(trees).index_select(0, tree_idx.reshape(-1).index_select(0, tree_at))
        xt, yt, zt = (v.index_select(0, tree_at) for v in (xf, yf, zf))
        crown = palette[M.CROWN].view(3, 1) * (0.7 + 0.6 * t[:, 5]).view(1, -1)
        albedo[:, tree_at] = crown * (0.85 + 0.3 * torch.sin(xt * 7.1) * torch.sin(zt * 5.3))
        nx[tree_at] = (xt - t[:, 0]) / t[:, 3]
        ny[tree_at] = (yt - t[:, 1]) / t[:, 3]
        nz[tree_at] = (zt - t[:, 2]) / t[:, 4]
        semantics[tree_at] = M.VEGETATION
    semantics = torch.where(far.reshape(-1), torch.full_like(semantics, M.GROUND), semantics)
    lambert = _unit_dot(nx, ny, nz, cond.sun_dir).clamp_(min=0)
    lit = lambert
    top_at = torch.nonzero(~wall & ~is_tree.reshape(-1) & (sf < 60.0)).squeeze(1)
    if top_at.numel():
        xs, ys, zs = (v.index_select(0, top_at) for v in (xf, yf, zf))
        shadow = sun_shadow(win.top, win.grid, xs, ys, zs, cond.sun_dir,
                            max_dist_m=30.0, step_m=1.5)
        lit = lambert.index_put((top_at,), lambert.index_select(0, top_at) * (1 - shadow))
    radiance = albedo * (cond.ambient + _rgb(cond.light_rgb).view(3, 1) * lit.unsqueeze(0))
    return radiance.reshape(3, *shape), semantics.reshape(shape)


def camera_ground_height(scene: Scene, cx: float, cy: float) -> float:
    """Terrain height under ``(cx, cy)`` (m)."""
    g = torch.from_numpy(scene.ground)
    return float(lookup(g, scene.grid, torch.tensor(cx, dtype=torch.float32),
                        torch.tensor(cy, dtype=torch.float32)))


__all__ = ["Window", "make_window", "render_aerial", "render_panorama", "sun_shadow",
           "camera_ground_height"]
