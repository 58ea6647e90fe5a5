"""Hierarchical (max-mipmap) ray casting over a bilinear height field, with Earth curvature.

For km-scale terrain views (DEM renders): a ray costs a few dozen steps whatever its length,
where fixed small steps (:func:`crossview.geometry.raycast.march_columns`) would cost thousands.

Surface model. Heights are samples at the cell centres of a :class:`GridSpec` (local metres,
x east, y north, z up; row 0 north). Between four neighbouring samples the surface is their
bilinear interpolation (a "patch"); a patch with a NaN corner is a hole (no surface), and there
is no surface outside the outermost sample centres.

Earth curvature and refraction. The frame is flat, so the terrain at horizontal distance ``d``
from the ray origin is lowered by ``d**2 / (2 R) * (1 - k)`` (``R`` the Earth radius, ``k`` the
refraction coefficient). Equivalently, a ray ``o + r u`` (``u`` unit, ``r`` the range) keeps its
horizontal path and rises by ``kappa r**2`` above the straight line, with
``kappa = (1 - k) / (2 R) * |u_xy|**2``; this module intersects that parabola with the surface.

Marching. A max-mipmap holds, per level ``L``, the highest surface point of every block of
``2**L x 2**L`` patches. Each ray keeps a level and a block; when the ray's lowest point over the
block is above the block's maximum it steps to the next block along its path (and climbs a level
when it leaves its parent block), otherwise it descends; at level 0 the bilinear patch and the
parabola are intersected exactly (a quadratic in the range). Block indices are integers, so a ray
always makes progress; all rays of a batch march together (vectorised, CPU or CUDA).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from crossview.errors import ConfigError
from crossview.geometry.raycast import GridSpec

EARTH_RADIUS_M = 6371008.8
"""Mean Earth radius (IUGG), used by the curvature drop."""
DEFAULT_REFRACTION = 0.13
"""Standard coefficient of terrestrial refraction (the ray's curvature over the Earth's)."""
_FAR_M = 1.0e7
"""Upper bound of any range (10,000 km): keeps ``inf * 0`` out of the arithmetic."""


def curvature_per_m(refraction: float = DEFAULT_REFRACTION,
                    radius_m: float = EARTH_RADIUS_M) -> float:
    """``(1 - k) / (2 R)``: the curvature drop at distance ``d`` is this times ``d**2``."""
    if not math.isfinite(refraction) or not math.isfinite(radius_m) or radius_m <= 0:
        raise ConfigError(f"refraction / radius_m: expected finite numbers and a positive radius, "
                          f"got {refraction!r}, {radius_m!r}")
    return (1.0 - refraction) / (2.0 * radius_m)


def curvature_drop_m(distance_m: float | Tensor, refraction: float = DEFAULT_REFRACTION,
                     radius_m: float = EARTH_RADIUS_M) -> float | Tensor:
    """Apparent drop of the terrain at horizontal ``distance_m``: ``d**2 / (2 R) * (1 - k)``."""
    return curvature_per_m(refraction, radius_m) * distance_m ** 2


@dataclasses.dataclass(frozen=True)
class HeightPyramid:
    """A height grid with its max-mipmap, ready for :func:`cast_heightfield` (one device)."""

    grid: GridSpec
    height: Tensor
    """``(rows, cols)`` float32 sample heights (m), NaN = no data."""
    maxima: Tensor
    """All levels' block maxima, flattened and concatenated (``-inf`` = no surface)."""
    offsets: Tensor
    """``(levels,)`` long: start of each level in :attr:`maxima`."""
    level_cols: Tensor
    """``(levels,)`` long: blocks per row at each level."""
    level_rows: Tensor
    """``(levels,)`` long: block rows at each level."""

    @property
    def levels(self) -> int:
        """Number of levels (level 0 = single patches; the last one is a single block)."""
        return int(self.offsets.numel())

    @property
    def top_m(self) -> float:
        """Highest surface point (``-inf`` when there is none)."""
        return float(self.maxima[-1])


def build_pyramid(height: Tensor, grid: GridSpec) -> HeightPyramid:
    """Build the max-mipmap of ``height`` ``(rows, cols)`` placed by ``grid`` (on its device)."""
    if height.ndim != 2 or height.shape != (grid.rows, grid.cols):
        raise ConfigError(f"height: expected shape ({grid.rows}, {grid.cols}) matching the grid, "
                          f"got {tuple(height.shape)}")
    if grid.rows < 2 or grid.cols < 2:
        raise ConfigError(f"height: need at least 2 x 2 samples, got {grid.rows} x {grid.cols}")
    h = height.float()
    corners = torch.stack([h[:-1, :-1], h[:-1, 1:], h[1:, :-1], h[1:, 1:]])
    patch = corners.amax(0)
    patch = torch.where(torch.isnan(corners).any(0), torch.full_like(patch, -math.inf), patch)
    levels = [patch]
    while levels[-1].shape[0] > 1 or levels[-1].shape[1] > 1:
        levels.append(F.max_pool2d(levels[-1][None, None], 2, ceil_mode=True)[0, 0])
    sizes = [lv.numel() for lv in levels]
    offsets = torch.tensor([0, *torch.tensor(sizes).cumsum(0)[:-1].tolist()], dtype=torch.long)
    dev = height.device
    return HeightPyramid(grid, h, torch.cat([lv.reshape(-1) for lv in levels]), offsets.to(dev),
                         torch.tensor([lv.shape[1] for lv in levels], device=dev),
                         torch.tensor([lv.shape[0] for lv in levels], device=dev))


def bilinear_height(height: Tensor, grid: GridSpec, x: Tensor, y: Tensor) -> Tensor:
    """Bilinear surface height at points ``(x, y)`` (any shape); NaN outside or over holes."""
    a, b = _patch_coords(grid, x, y)
    j = torch.floor(a).clamp(0, grid.cols - 2)
    i = torch.floor(b).clamp(0, grid.rows - 2)
    out = _patch_value(height, grid.cols, i.long(), j.long(), a - j, b - i)
    inside = (a >= 0) & (a <= grid.cols - 1) & (b >= 0) & (b <= grid.rows - 1)
    return torch.where(inside, out, torch.full_like(out, math.nan))


def _patch_coords(grid: GridSpec, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Continuous patch coordinates: column ``a`` (east) and row ``b`` (south) of sample units."""
    a = (x - (grid.x_min + 0.5 * grid.cell_m)) / grid.cell_m
    b = ((grid.y_max - 0.5 * grid.cell_m) - y) / grid.cell_m
    return a, b


def _corners(height: Tensor, cols: int, i: Tensor, j: Tensor) -> tuple[Tensor, ...]:
    flat = height.reshape(-1)
    k = i * cols + j
    return flat[k], flat[k + 1], flat[k + cols], flat[k + cols + 1]


def _patch_value(height: Tensor, cols: int, i: Tensor, j: Tensor, fa: Tensor, fb: Tensor
                 ) -> Tensor:
    h00, h01, h10, h11 = _corners(height, cols, i, j)
    return (h00 * (1 - fa) + h01 * fa) * (1 - fb) + (h10 * (1 - fa) + h11 * fa) * fb


def _check_rays(origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
    if directions.ndim != 2 or directions.shape[1] != 3:
        raise ConfigError(f"directions: expected (N, 3), got {tuple(directions.shape)}")
    if origins.shape == (3,):
        origins = origins.expand(directions.shape[0], 3)
    if origins.shape != directions.shape:
        raise ConfigError(f"origins: expected (3,) or {tuple(directions.shape)}, "
                          f"got {tuple(origins.shape)}")
    return origins, directions


def cast_heightfield(pyramid: HeightPyramid, origins: Tensor, directions: Tensor,
                     curvature: float = 0.0, max_range_m: float | None = None,
                     start_m: float = 0.0) -> Tensor:
    """Range (m) along each ray to its first intersection with the surface; ``inf`` if none.

    Args:
        pyramid: The surface (:func:`build_pyramid`), on the rays' device.
        origins: ``(N, 3)`` or ``(3,)`` ray origins in the grid's local metres.
        directions: ``(N, 3)`` unit directions (east, north, up).
        curvature: :func:`curvature_per_m` (0 = flat Earth).
        max_range_m: Ignore intersections farther than this (``None``: no limit).
        start_m: Ignore intersections nearer than this.

    Returns:
        ``(N,)`` float32 ranges; ``inf`` where the ray misses within the limits.

    """
    origins, directions = _check_rays(origins, directions)
    g = pyramid.grid
    n = directions.shape[0]
    result = torch.full((n,), math.inf, device=directions.device)
    const, live = _ray_constants(g, origins.float(), directions.float(), curvature,
                                 max_range_m, start_m)
    if live.numel() == 0:
        return result
    march = _March(pyramid, const)
    step_limit = 4 * (g.rows + g.cols) * (pyramid.levels + 1) + 16
    for _ in range(step_limit):
        finished, hit_r = march.step()
        if bool(finished.any()):
            result[live[finished]] = hit_r[finished]
            march.done |= finished
            keep = torch.nonzero(~march.done).squeeze(1)
            if keep.numel() == 0:
                return result
            if keep.numel() < 0.7 * finished.numel():   # compact when worth a copy
                live = live[keep]
                march.compact(keep)
    # Every step descends, advances to a new block or ends a ray, so this is unreachable.
    raise RuntimeError(f"cast_heightfield: rays still marching after {step_limit} steps")


# Rows of the per-ray constant table of a march.
_A0, _B0, _DA, _DB, _OZ, _DZ, _KAP, _END, _INV_A, _INV_B, _UP_A, _UP_B, _VERTEX, _ZV = range(14)


def _ray_constants(g: GridSpec, o: Tensor, d: Tensor, curvature: float,
                   max_range_m: float | None, start_m: float) -> tuple[Tensor, Tensor]:
    """Per-ray constants ``(14, M)`` of the rays that can meet the grid, and their indices."""
    a0, b0 = _patch_coords(g, o[:, 0], o[:, 1])
    da, db = d[:, 0] / g.cell_m, -d[:, 1] / g.cell_m
    kap = curvature * (d[:, 0] ** 2 + d[:, 1] ** 2)
    # Entry into / exit from the sampled rectangle (slab method), clipped to the range limits.
    ra, rb = _slab(a0, da, g.cols - 1.0), _slab(b0, db, g.rows - 1.0)
    start = torch.maximum(torch.maximum(ra[0], rb[0]), torch.full_like(a0, start_m))
    far = min(max_range_m, _FAR_M) if max_range_m is not None else _FAR_M
    end = torch.minimum(torch.minimum(ra[1], rb[1]), torch.full_like(a0, far))
    # A ray along a grid axis never leaves its block that way: a huge inverse with a "forward"
    # side makes the exit range there far beyond any other.
    inv_a = torch.where(da == 0, torch.full_like(da, 1e30), 1.0 / torch.where(da == 0, 1.0, da))
    inv_b = torch.where(db == 0, torch.full_like(db, 1e30), 1.0 / torch.where(db == 0, 1.0, db))
    vertex = torch.where(kap > 0, -d[:, 2] / (2 * kap).clamp(min=1e-30), torch.full_like(kap, -1))
    vertex = vertex.clamp(max=_FAR_M)
    zv = o[:, 2] + d[:, 2] * vertex + kap * vertex * vertex
    const = torch.stack([a0, b0, da, db, o[:, 2], d[:, 2], kap, end, inv_a, inv_b,
                         (da >= 0).float(), (db >= 0).float(), vertex, zv, start])
    live = torch.nonzero(start < end).squeeze(1)
    return const[:, live], live


class _March:
    """State of the rays of one :func:`cast_heightfield` call (vectorised, compactable)."""

    def __init__(self, pyr: HeightPyramid, const_and_start: Tensor) -> None:
        self.pyr = pyr
        self.const, start = const_and_start[:-1], const_and_start[-1]
        c = self.const
        self.sgn_a = torch.where(c[_DA] >= 0, 1, -1).to(torch.int32)
        self.sgn_b = torch.where(c[_DB] >= 0, 1, -1).to(torch.int32)
        self.r, self.z = start, self._z(start)
        # Start at level 0 in the patch of the entry point: the camera's own patch usually
        # holds surface at the ray's height, so starting at the top would only descend.
        g = pyr.grid
        self.bx = torch.floor(c[_A0] + c[_DA] * start).clamp(0, g.cols - 2).to(torch.int32)
        self.by = torch.floor(c[_B0] + c[_DB] * start).clamp(0, g.rows - 2).to(torch.int32)
        self.level = torch.zeros_like(self.bx)
        self.done = torch.zeros_like(self.bx, dtype=torch.bool)
        self.offsets = pyr.offsets.to(torch.int32)
        self.top_level = pyr.levels - 1
        self.top_m = pyr.top_m

    def _z(self, r: Tensor) -> Tensor:
        c = self.const
        return c[_OZ] + r * (c[_DZ] + c[_KAP] * r)

    def compact(self, keep: Tensor) -> None:
        """Keep only rays ``keep`` (indices into the current arrays)."""
        self.const = self.const[:, keep]
        for name in ("sgn_a", "sgn_b", "r", "z", "bx", "by", "level", "done"):
            setattr(self, name, getattr(self, name)[keep])

    def step(self) -> tuple[Tensor, Tensor]:
        """Advance every ray once; returns newly finished flags and hit ranges (``inf``: miss)."""
        c, g, pyr = self.const, self.pyr.grid, self.pyr
        level, bx, by, r = self.level, self.bx, self.by, self.r
        size = torch.ldexp(torch.ones_like(r), level)
        # Range at which the ray leaves its block through an a-side or a b-side.
        ra = ((bx.float() + c[_UP_A]) * size - c[_A0]) * c[_INV_A]
        rb = ((by.float() + c[_UP_B]) * size - c[_B0]) * c[_INV_B]
        via_a = ra <= rb
        r_exit = torch.minimum(torch.minimum(ra, rb), c[_END])
        z_exit = self._z(r_exit)
        # Lowest point of the ray parabola over [r, r_exit]: an end, or its vertex inside.
        z_lo = torch.minimum(self.z, z_exit)
        vertex_in = (c[_VERTEX] > r) & (c[_VERTEX] < r_exit)
        z_lo = torch.where(vertex_in, torch.minimum(z_lo, c[_ZV]), z_lo)
        cols = ((g.cols - 2) >> level) + 1
        rows = ((g.rows - 2) >> level) + 1
        # Finished rays waiting for compaction may point outside the grid: clamp their index.
        flat = (self.offsets[level] + by * cols + bx).clamp_(0, pyr.maxima.numel() - 1)
        skip = z_lo > pyr.maxima[flat]
        hit_r = torch.full_like(r, math.inf)
        at_patch = torch.nonzero(~skip & (level == 0) & ~self.done).squeeze(1)
        if at_patch.numel():
            tau = _patch_root(pyr, c[:, at_patch], r[at_patch], r_exit[at_patch],
                              bx[at_patch], by[at_patch])
            hit_r[at_patch] = r[at_patch] + tau
            skip[at_patch] = ~torch.isfinite(tau)   # no intersection: move on like a skip
        # Skipping rays move to the next block along their path (an integer step: progress).
        nbx = torch.where(skip & via_a, bx + self.sgn_a, bx)
        nby = torch.where(skip & ~via_a, by + self.sgn_b, by)
        gone = skip & ((r_exit >= c[_END]) | (nbx < 0) | (nby < 0) | (nbx >= cols) |
                       (nby >= rows))
        # Climb a level when the step left the parent block (the parent is then a new block);
        # descend into the child block that holds the ray's position when the block is not
        # clear.
        climb = skip & (level < self.top_level) & (((nbx >> 1) != (bx >> 1)) |
                                                  ((nby >> 1) != (by >> 1)))
        down = ~skip & (level > 0)
        half = size * 0.5
        below = (level - 1).clamp(min=0)
        cbx = torch.floor((c[_A0] + c[_DA] * r) / half).to(torch.int32)
        cby = torch.floor((c[_B0] + c[_DB] * r) / half).to(torch.int32)
        cbx = torch.minimum(torch.maximum(cbx, 2 * bx), torch.minimum(2 * bx + 1, ((
            g.cols - 2) >> below)))
        cby = torch.minimum(torch.maximum(cby, 2 * by), torch.minimum(2 * by + 1, ((
            g.rows - 2) >> below)))
        self.level = level + climb.to(torch.int32) - down.to(torch.int32)
        self.bx = torch.where(down, cbx, torch.where(climb, nbx >> 1, nbx))
        self.by = torch.where(down, cby, torch.where(climb, nby >> 1, nby))
        self.r = torch.where(skip, r_exit, r)
        self.z = torch.where(skip, z_exit, self.z)
        # A rising ray above the highest surface can never come back down onto it.
        escaped = (self.z > self.top_m) & (c[_DZ] + 2 * c[_KAP] * self.r >= 0)
        finished = (torch.isfinite(hit_r) | gone | escaped) & ~self.done
        return finished, hit_r


def _slab(p0: Tensor, dp: Tensor, hi: float) -> tuple[Tensor, Tensor]:
    """Range interval in which ``p0 + r dp`` stays within ``[0, hi]`` (``r`` unbounded)."""
    safe = torch.where(dp == 0, torch.ones_like(dp), dp)
    t0, t1 = (0.0 - p0) / safe, (hi - p0) / safe
    lo, up = torch.minimum(t0, t1), torch.maximum(t0, t1)
    inside = (p0 >= 0) & (p0 <= hi)
    lo = torch.where(dp == 0, torch.where(inside, -math.inf, math.inf), lo)
    up = torch.where(dp == 0, torch.where(inside, math.inf, -math.inf), up)
    return lo, up


def _patch_root(pyr: HeightPyramid, const: Tensor, r0: Tensor, r1: Tensor, j: Tensor, i: Tensor
                ) -> Tensor:
    """First ``tau`` in ``[0, r1 - r0]`` where the ray meets patch ``(i, j)``; ``inf`` if none.

    Along the ray the bilinear patch is a quadratic in the range, and so is the ray height:
    their difference ``F(tau) = F0 + F1 tau + F2 tau**2`` is expanded around the entry ``r0``
    (small numbers, no cancellation) and its first root is taken with the stable formula.
    """
    # In float64: at grazing incidence a height rounding of 0.25 mm (float32 near 3000 m)
    # would move the hit by centimetres. Only the rays at a patch take this path.
    a0, b0, da, db, oz, dz, kap = const[[_A0, _B0, _DA, _DB, _OZ, _DZ, _KAP]].double()
    h00, h01, h10, h11 = (h.double() for h in _corners(pyr.height, pyr.grid.cols, i.long(),
                                                        j.long()))
    r0, r1 = r0.double(), r1.double()
    fa = a0 + da * r0 - j
    fb = b0 + db * r0 - i
    e, f, c = h01 - h00, h10 - h00, h11 - h10 - h01 + h00
    f0 = oz + r0 * (dz + kap * r0) - (h00 + e * fa + f * fb + c * fa * fb)
    f1 = (dz + 2 * kap * r0) - (e * da + f * db + c * (fa * db + fb * da))
    f2 = kap - c * da * db
    span = r1 - r0
    disc = f1 * f1 - 4 * f2 * f0
    sq = torch.sqrt(disc.clamp(min=0))
    q = -0.5 * (f1 + torch.where(f1 >= 0, sq, -sq))
    safe_q = torch.where(q == 0, torch.ones_like(q), q)
    safe_f2 = torch.where(f2 == 0, torch.ones_like(f2), f2)
    t1 = torch.where((f2 != 0) & (disc >= 0), q / safe_f2, torch.full_like(q, math.inf))
    t2 = torch.where((q != 0) & (disc >= 0), f0 / safe_q, torch.full_like(q, math.inf))
    t1 = torch.where((t1 >= 0) & (t1 <= span), t1, torch.full_like(t1, math.inf))
    t2 = torch.where((t2 >= 0) & (t2 <= span), t2, torch.full_like(t2, math.inf))
    tau = torch.minimum(t1, t2)
    return torch.where(f0 <= 0, torch.zeros_like(tau), tau).float()


def cast_heightfield_reference(height: Tensor, grid: GridSpec, origins: Tensor,
                               directions: Tensor, curvature: float = 0.0,
                               step_m: float | None = None, max_range_m: float = 1.0e5,
                               refine_steps: int = 40, chunk: int = 4096) -> Tensor:
    """Brute-force reference of :func:`cast_heightfield`: fixed small steps, then bisection.

    Samples every ray every ``step_m`` metres of range (default an eighth of a cell) up to
    ``max_range_m``, takes the first sample at or below the surface and bisects the last step.
    Slow (for tests and benchmarks); may miss features thinner than a step at grazing angles.
    """
    origins, directions = _check_rays(origins, directions)
    step = float(step_m or grid.cell_m / 8)
    steps = torch.arange(1, int(math.ceil(max_range_m / step)) + 1, device=directions.device,
                         dtype=torch.float64) * step
    out = torch.full((directions.shape[0],), math.inf, dtype=torch.float64,
                     device=directions.device)
    h = height.double()
    for lo in range(0, directions.shape[0], chunk):
        o, d = origins[lo:lo + chunk].double(), directions[lo:lo + chunk].double()
        out[lo:lo + chunk] = _reference_chunk(h, grid, o, d, curvature, steps, refine_steps)
    return out.float()


def _reference_chunk(h: Tensor, grid: GridSpec, o: Tensor, d: Tensor, curvature: float,
                     steps: Tensor, refine_steps: int) -> Tensor:
    kap = curvature * (d[:, 0] ** 2 + d[:, 1] ** 2)

    def below(rows: Tensor, r: Tensor) -> Tensor:
        """Whether rays ``rows`` at ranges ``r`` ``(len(rows), k)`` are at or under the surface."""
        x = o[rows, 0:1] + d[rows, 0:1] * r
        y = o[rows, 1:2] + d[rows, 1:2] * r
        z = o[rows, 2:3] + d[rows, 2:3] * r + kap[rows, None] * r * r
        return z <= bilinear_height(h, grid, x, y)        # NaN (no surface) compares False

    n = o.shape[0]
    first = torch.full((n,), -1, dtype=torch.long, device=o.device)
    block = 256
    for lo in range(0, steps.numel(), block):
        pending = torch.nonzero(first < 0).squeeze(1)
        if pending.numel() == 0:
            break
        hit = below(pending, steps[lo:lo + block].unsqueeze(0).expand(pending.numel(), -1))
        any_hit = hit.any(1)
        first[pending[any_hit]] = lo + hit[any_hit].float().argmax(1)
    found = first >= 0
    hi = torch.where(found, steps[first.clamp(min=0)], torch.zeros_like(kap))
    lo_r = torch.where(first > 0, steps[(first - 1).clamp(min=0)], torch.zeros_like(kap))
    every = torch.arange(n, device=o.device)
    for _ in range(refine_steps):
        mid = 0.5 * (lo_r + hi)
        under = below(every, mid[:, None])[:, 0]
        hi, lo_r = torch.where(under, mid, hi), torch.where(under, lo_r, mid)
    return torch.where(found, hi, torch.full_like(hi, math.inf))
