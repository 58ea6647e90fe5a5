"""Ray casting against a 2.5-D heightfield and analytic spheroids, vectorised in torch.

Reusable by every renderer that needs depth from a height grid (synthetic world, DEM panoramas,
Sat2Density ground truth). Coordinates are local metric (x east, y north, z up, metres).

Grid convention (:class:`GridSpec`): cell ``(row, col)`` covers
``x in [x_min + col*cell, x_min + (col+1)*cell)`` and
``y in (y_max - (row+1)*cell, y_max - row*cell]``; row 0 is the northern edge, like a north-up
image. Lookups are nearest-cell and clamp at the edge.

Rays are parametrised by their *horizontal* distance ``s`` from the origin: a ray with unit
horizontal direction ``u`` and slope ``tan_e`` (tangent of its elevation) is at
``(o_xy + s*u, o_z + s*tan_e)``. Rays that share a horizontal direction (every row of a panorama
column, every row of a level pinhole column) are marched together, which makes a 512-column
panorama cost 512 height lookups per step instead of one per pixel. The Euclidean range along the
ray is ``s * sqrt(1 + tan_e**2)``.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class GridSpec:
    """Placement of a height grid in local metric coordinates."""

    x_min: float
    """Easting of the western edge of column 0 (m)."""
    y_max: float
    """Northing of the northern edge of row 0 (m)."""
    cell_m: float
    """Side of one square cell (m)."""
    rows: int
    cols: int

    def index(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest (clamped) ``(row, col)`` long indices of points ``(x, y)``, same shape."""
        col = torch.floor((x - self.x_min) / self.cell_m).long().clamp_(0, self.cols - 1)
        row = torch.floor((self.y_max - y) / self.cell_m).long().clamp_(0, self.rows - 1)
        return row, col

    def centers(self, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """Cell-centre coordinates: ``x`` per column ``(cols,)`` and ``y`` per row ``(rows,)``."""
        x = self.x_min + (torch.arange(self.cols, dtype=torch.float64) + 0.5) * self.cell_m
        y = self.y_max - (torch.arange(self.rows, dtype=torch.float64) + 0.5) * self.cell_m
        return x.to(dtype), y.to(dtype)


def lookup(layer: Tensor, grid: GridSpec, x: Tensor, y: Tensor) -> Tensor:
    """Nearest-cell values of ``layer`` (``(rows, cols)`` or ``(C, rows, cols)``) at ``(x, y)``.

    Returns the shape of ``x`` (with a leading ``C`` for 3-D layers).
    """
    row, col = grid.index(x, y)
    flat = (row * grid.cols + col).reshape(-1)
    if layer.ndim == 2:
        return layer.reshape(-1)[flat].reshape(x.shape)
    return layer.reshape(layer.shape[0], -1)[:, flat].reshape(layer.shape[0], *x.shape)


def march_schedule(max_dist_m: float, min_step_m: float, rel_step: float = 0.005,
                   start_m: float = 0.02, device: torch.device | str = "cpu") -> Tensor:
    """Increasing horizontal sample distances ``(K,)`` from ``start_m`` to ``max_dist_m``.

    The step is ``max(min_step_m, rel_step * s)``: fine near the camera where objects subtend
    large angles, proportionally coarser far away (constant angular error).
    """
    if max_dist_m <= start_m or min_step_m <= 0:
        raise ValueError(f"march_schedule: need max_dist_m > start_m and min_step_m > 0, got "
                         f"{max_dist_m}, {min_step_m}")
    dists = [start_m]
    while dists[-1] < max_dist_m:
        dists.append(min(max_dist_m, dists[-1] + max(min_step_m, rel_step * dists[-1])))
    return torch.tensor(dists, dtype=torch.float32, device=device)


def march_columns(height: Tensor, grid: GridSpec, origin: tuple[float, float, float],
                  directions_xy: Tensor, tan_elev: Tensor, distances: Tensor,
                  refine_steps: int = 10) -> Tensor:
    """First horizontal hit distance of fans of rays against a solid heightfield.

    A point is inside matter when its height is at or below ``height`` at its cell (terrain,
    buildings, any solid column down to the ground). For each column the per-step elevation
    tangent of the surface seen from the origin, ``(height_k - o_z) / s_k``, is turned into a
    running maximum; a ray with slope ``t`` first hits at the first step whose running maximum
    reaches ``t`` (a ``searchsorted``), then bisection refines the hit between that step and
    the previous one.

    Args:
        height: ``(rows, cols)`` absolute surface heights (m).
        grid: placement of ``height``.
        origin: camera ``(x, y, z)`` in metres.
        directions_xy: ``(G, 2)`` unit horizontal directions (east, north) of the columns.
        tan_elev: ``(R, G)`` or ``(R, 1)`` slope of each ray of each column.
        distances: ``(K,)`` increasing horizontal sample distances (:func:`march_schedule`).
        refine_steps: bisection iterations (each halves the depth error).

    Returns:
        ``(R, G)`` horizontal hit distance in metres, ``inf`` where nothing is hit.

    """
    if directions_xy.ndim != 2 or directions_xy.shape[1] != 2:
        raise ValueError(f"directions_xy: expected (G, 2), got {tuple(directions_xy.shape)}")
    n_cols = directions_xy.shape[0]
    tan_elev = tan_elev.expand(-1, n_cols) if tan_elev.shape[1] == 1 else tan_elev
    ox, oy, oz = (float(v) for v in origin)
    dx, dy = directions_xy[:, 0:1], directions_xy[:, 1:2]          # (G, 1)
    s = distances.view(1, -1).to(height.dtype)                      # (1, K)
    h = lookup(height, grid, ox + dx * s, oy + dy * s)              # (G, K)
    seen = torch.cummax((h - oz) / s, dim=1).values                 # (G, K), non-decreasing
    k = torch.searchsorted(seen.contiguous(), tan_elev.t().contiguous())  # (G, R)
    k = k.t()                                                       # (R, G)
    n_steps = distances.shape[0]
    hit = k < n_steps
    k_c = k.clamp(max=n_steps - 1)
    hi = distances[k_c]
    lo = torch.where(k_c > 0, distances[(k_c - 1).clamp(min=0)], torch.zeros_like(hi))
    dxr, dyr = dx.t().expand_as(hi), dy.t().expand_as(hi)
    for _ in range(refine_steps):
        mid = 0.5 * (lo + hi)
        inside = oz + mid * tan_elev <= lookup(height, grid, ox + dxr * mid, oy + dyr * mid)
        hi = torch.where(inside, mid, hi)
        lo = torch.where(inside, lo, mid)
    return torch.where(hit, hi, torch.full_like(hi, math.inf))


def intersect_spheroids(origin: tuple[float, float, float], directions_xy: Tensor,
                        tan_elev: Tensor, centres: Tensor, radius_h: Tensor,
                        radius_v: Tensor) -> tuple[Tensor, Tensor]:
    """First intersection of fans of rays with vertical-axis spheroids (e.g. tree crowns).

    Spheroid ``i``: ``((x-cx)^2 + (y-cy)^2) / rh^2 + (z-cz)^2 / rv^2 <= 1``. Only the columns
    inside a spheroid's angular extent are tested, so cost grows with the pixels it covers.

    Args:
        origin: ray origin ``(x, y, z)``.
        directions_xy: ``(G, 2)`` unit horizontal column directions.
        tan_elev: ``(R, G)`` or ``(R, 1)`` ray slopes.
        centres: ``(T, 3)`` spheroid centres.
        radius_h: ``(T,)`` horizontal semi-axes (m).
        radius_v: ``(T,)`` vertical semi-axes (m).

    Returns:
        ``(R, G)`` horizontal hit distance (``inf`` if none) and ``(R, G)`` long index of the
        spheroid hit (``-1`` if none).

    """
    n_cols = directions_xy.shape[0]
    tan_elev = tan_elev.expand(-1, n_cols) if tan_elev.shape[1] == 1 else tan_elev
    n_rows = tan_elev.shape[0]
    best = torch.full((n_rows, n_cols), math.inf, dtype=tan_elev.dtype, device=tan_elev.device)
    which = torch.full((n_rows, n_cols), -1, dtype=torch.long, device=tan_elev.device)
    if centres.shape[0] == 0:
        return best, which
    o = torch.tensor(origin, dtype=centres.dtype, device=centres.device)
    p = o - centres                                                 # (T, 3) origin rel. centre
    dist_h = p[:, :2].norm(dim=1)
    # Angular culling: column g can only hit spheroid t if the angle between the column's
    # direction and the direction to the centre is within asin(rh / distance).
    to_c = -p[:, :2] / dist_h.clamp(min=1e-6).unsqueeze(1)         # (T, 2)
    cos_ang = to_c @ directions_xy.t().to(centres.dtype)            # (T, G)
    ratio = (radius_h / dist_h.clamp(min=1e-6)).clamp(max=1.0)
    cos_lim = torch.sqrt((1.0 - ratio**2).clamp(min=0.0))
    inside = dist_h <= radius_h
    cand = (cos_ang >= cos_lim.unsqueeze(1) - 1e-6) | inside.unsqueeze(1)
    t_idx, g_idx = torch.nonzero(cand, as_tuple=True)               # (P,)
    if t_idx.numel() == 0:
        return best, which
    u = directions_xy[g_idx].to(centres.dtype)                      # (P, 2)
    tan = tan_elev[:, g_idx]                                        # (R, P)
    inv_h2 = 1.0 / radius_h[t_idx] ** 2
    inv_v2 = 1.0 / radius_v[t_idx] ** 2
    pxy_u = (p[t_idx, :2] * u).sum(dim=1)
    pz = p[t_idx, 2]
    a = inv_h2 + tan**2 * inv_v2
    b = 2.0 * (pxy_u * inv_h2 + pz * tan * inv_v2)
    c = (p[t_idx, :2] ** 2).sum(dim=1) * inv_h2 + pz**2 * inv_v2 - 1.0
    disc = b**2 - 4.0 * a * c
    root = torch.sqrt(disc.clamp(min=0.0))
    s_near = (-b - root) / (2.0 * a)
    s_far = (-b + root) / (2.0 * a)
    s_hit = torch.where(s_near >= 0, s_near, s_far)                 # origin inside -> far root
    s_hit = torch.where((disc >= 0) & (s_hit >= 0), s_hit, torch.full_like(s_hit, math.inf))
    flat_cols = g_idx.unsqueeze(0).expand(n_rows, -1)
    best.scatter_reduce_(1, flat_cols, s_hit, reduce="amin", include_self=True)
    # Recover which spheroid achieved the minimum (ties: any of them, deterministic on CPU).
    is_best = (s_hit == best.gather(1, flat_cols)) & torch.isfinite(s_hit)
    cand_idx = torch.where(is_best, t_idx.unsqueeze(0).expand(n_rows, -1),
                           torch.full_like(flat_cols, -1))
    which.scatter_reduce_(1, flat_cols, cand_idx, reduce="amax", include_self=True)
    return best, which


def cast_rays(height: Tensor, grid: GridSpec, origin: tuple[float, float, float],
              directions: Tensor, max_dist_m: float, min_step_m: float | None = None,
              refine_steps: int = 10) -> Tensor:
    """Euclidean range to the first heightfield hit of arbitrary rays ``(..., 3)`` from ``origin``.

    The generic entry point (any camera model): each ray is its own column. Rays with no
    horizontal component (straight up or down) are handled by a tiny horizontal nudge.

    Returns:
        ``(...)`` range along each ray in metres, ``inf`` where nothing is hit within
        ``max_dist_m`` horizontal distance.

    """
    shape = directions.shape[:-1]
    d = directions.reshape(-1, 3).to(height.dtype)
    horiz = d[:, :2].norm(dim=1).clamp(min=1e-6)
    dirs_xy = torch.where(d[:, :2].norm(dim=1, keepdim=True) > 1e-6, d[:, :2] / horiz.unsqueeze(1),
                          torch.tensor([0.0, 1.0], dtype=d.dtype))
    tan = (d[:, 2] / horiz).unsqueeze(0)                            # (1, N)
    steps = march_schedule(max_dist_m, min_step_m or grid.cell_m / 2, device=height.device)
    s_hit = march_columns(height, grid, origin, dirs_xy, tan, steps, refine_steps)[0]
    rng = s_hit * torch.sqrt(1.0 + tan[0] ** 2)
    return rng.reshape(shape)
