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
    flat, k = height.reshape(-1), (i * cols + j).reshape(-1)
    return tuple(flat.index_select(0, k + o).reshape(i.shape) for o in (0, 1, cols, cols + 1))


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
        origins: ``(N, 3)`` or ``(3,)`` ray origins in the grid's local metres (float64 keeps
            them exact; the march itself runs in float32).
        directions: ``(N, 3)`` unit directions (east, north, up).
        curvature: :func:`curvature_per_m` (0 = flat Earth).
        max_range_m: Ignore intersections farther than this (``None``: no limit).
        start_m: Ignore intersections nearer than this.

    Returns:
        ``(N,)`` float32 ranges; ``inf`` where the ray misses within the limits.

    """
    origins, directions = _check_rays(origins, directions)
    g = pyramid.grid
    result = torch.full((directions.shape[0],), _MISS, device=directions.device)
    const, live = _ray_constants(g, origins.double(), directions.float(), curvature,
                                 max_range_m, start_m)
    if live.numel():
        march = _March(pyramid, const)
        step_limit = 4 * (g.rows + g.cols) * (pyramid.levels + 1) + 16
        for _ in range(step_limit):
            march.step()
            remaining = int(march.done.numel() - march.done.sum())
            if remaining < 0.6 * march.done.numel():   # compaction costs a few steps' worth
                finished = torch.nonzero(march.done).squeeze(1)
                result.index_copy_(0, live.index_select(0, finished),
                                   march.hit.index_select(0, finished))
                if remaining == 0:
                    break
                keep = torch.nonzero(~march.done).squeeze(1)
                live = live.index_select(0, keep)
                march.compact(keep)
        else:  # every step descends, advances to a new block or ends a ray: unreachable
            raise RuntimeError(f"cast_heightfield: rays still marching after {step_limit} steps")
    return torch.where(result < _MISS, result, torch.full_like(result, math.inf))


_MISS = 1.0e30
"""Range of a ray that meets nothing, inside the march (finite: ``inf * 0`` would be NaN)."""
# Rows of the per-ray constant table of a march.
# The origin's patch coordinates are split into an integer part and a fraction in [0, 1), so
# float32 keeps them to 1e-7 of a cell: positions relative to blocks and patches are then
# computed from small numbers (a ray grazing the ground near the camera would otherwise move by
# centimetres with a millimetre of rounding).
# Likewise the origin height keeps its float32 rounding error (``_OZL``) for the patch test.
_IA, _FA, _IB, _FB, _DA, _DB, _OZ, _DZ, _KAP, _END, _INV_A, _INV_B, _UP_A, _UP_B, _SGN_A, \
    _SGN_B, _VERTEX, _ZV, _OZL = range(19)


def _ray_constants(g: GridSpec, o: Tensor, d: Tensor, curvature: float,
                   max_range_m: float | None, start_m: float) -> tuple[Tensor, Tensor]:
    """Per-ray constants ``(20, M)`` of the rays that can meet the grid, and their indices.

    The last row is the start range; ``o`` is float64, ``d`` float32.
    """
    a0, b0 = _patch_coords(g, o[:, 0], o[:, 1])
    ia, ib = torch.floor(a0), torch.floor(b0)
    da, db = d[:, 0] / g.cell_m, -d[:, 1] / g.cell_m
    kap = curvature * (d[:, 0] ** 2 + d[:, 1] ** 2)
    # Entry into / exit from the sampled rectangle (slab method), clipped to the range limits.
    ra, rb = _slab(a0, da.double(), g.cols - 1.0), _slab(b0, db.double(), g.rows - 1.0)
    start = torch.maximum(torch.maximum(ra[0], rb[0]), torch.full_like(a0, start_m)).float()
    far = min(max_range_m, _FAR_M) if max_range_m is not None else _FAR_M
    end = torch.minimum(torch.minimum(ra[1], rb[1]), torch.full_like(a0, far)).float()
    # A ray along a grid axis never leaves its block that way: a huge inverse with a "forward"
    # side makes the exit range there far beyond any other.
    inv_a = torch.where(da == 0, torch.full_like(da, 1e30), 1.0 / torch.where(da == 0, 1.0, da))
    inv_b = torch.where(db == 0, torch.full_like(db, 1e30), 1.0 / torch.where(db == 0, 1.0, db))
    vertex = torch.where(kap > 0, -d[:, 2] / (2 * kap).clamp(min=1e-30), torch.full_like(kap, -1))
    vertex = vertex.clamp(max=_FAR_M)
    oz = o[:, 2].float()
    zv = oz + d[:, 2] * vertex + kap * vertex * vertex
    forward_a, forward_b = (da >= 0).float(), (db >= 0).float()
    const = torch.stack([ia.float(), (a0 - ia).float(), ib.float(), (b0 - ib).float(), da, db,
                         oz, d[:, 2], kap, end, inv_a, inv_b,
                         forward_a, forward_b, 2 * forward_a - 1, 2 * forward_b - 1, vertex, zv,
                         (o[:, 2] - oz.double()).float(), start])
    live = torch.nonzero(start < end).squeeze(1)
    return const.index_select(1, live), live


def _above(a: Tensor | float, b: Tensor | float) -> Tensor:
    """``(a > b)`` as float 0/1.

    Selections blend with ``torch.lerp`` by such weights (exact at 0 and 1): on the CPU,
    ``torch.where`` costs some 50 times an addition.
    """
    return (a > b).float()  # type: ignore[union-attr]


class _March:
    """State of the rays of one :func:`cast_heightfield` call (vectorised, compactable).

    Block indices and levels are stored as float32 (exact integers), so that every selection is a
    ``lerp`` with a 0/1 weight.
    """

    def __init__(self, pyr: HeightPyramid, const_and_start: Tensor) -> None:
        self.pyr, g = pyr, pyr.grid
        self.const, start = const_and_start[:-1], const_and_start[-1]
        c = self.const
        self.r, self.z = start, self._z(start)
        # Start at level 0 in the patch of the entry point: the camera's own patch usually
        # holds surface at the ray's height, so starting at the top would only descend.
        self.bx = (c[_IA] + torch.floor(c[_FA] + c[_DA] * start)).clamp(0, g.cols - 2)
        self.by = (c[_IB] + torch.floor(c[_FB] + c[_DB] * start)).clamp(0, g.rows - 2)
        self.level = torch.zeros_like(start)
        self.done = torch.zeros_like(start, dtype=torch.bool)
        self.hit = torch.full_like(start, _MISS)
        dev = start.device
        levels = torch.arange(pyr.levels, device=dev)
        self.pow2 = torch.ldexp(torch.ones(pyr.levels, device=dev), levels)
        self.cols = pyr.level_cols.float()
        self.rows = pyr.level_rows.float()
        # Flat block indices are exact in float32 below 2**24 blocks, else built in float64.
        self.flat_dtype = torch.float32 if pyr.maxima.numel() < 2**24 else torch.float64
        self.offsets = pyr.offsets.to(self.flat_dtype)
        self.top_level = float(pyr.levels - 1)
        self.top_m = pyr.top_m

    def _z(self, r: Tensor) -> Tensor:
        c = self.const
        return c[_OZ] + r * (c[_DZ] + c[_KAP] * r)

    def compact(self, keep: Tensor) -> None:
        """Keep only rays ``keep`` (indices into the current arrays)."""
        self.const = self.const.index_select(1, keep)
        for name in ("r", "z", "bx", "by", "level", "done", "hit"):
            setattr(self, name, getattr(self, name).index_select(0, keep))

    def step(self) -> None:
        """Advance every ray once (finished rays keep ``done``; their state is don't-care)."""
        c, pyr = self.const, self.pyr
        level, bx, by, r = self.level, self.bx, self.by, self.r
        li = level.to(torch.int32)
        size = self.pow2.index_select(0, li)
        # Range at which the ray leaves its block through an a-side or a b-side.
        ra = ((bx + c[_UP_A]) * size - c[_IA] - c[_FA]) * c[_INV_A]
        rb = ((by + c[_UP_B]) * size - c[_IB] - c[_FB]) * c[_INV_B]
        via_a = 1.0 - _above(ra, rb)
        r_exit = torch.minimum(torch.minimum(ra, rb), c[_END])
        z_exit = self._z(r_exit)
        # Lowest point of the ray parabola over [r, r_exit]: an end, or its vertex inside.
        z_lo = torch.minimum(self.z, z_exit)
        vertex_in = _above(c[_VERTEX], r) * _above(r_exit, c[_VERTEX])
        z_lo = torch.lerp(z_lo, torch.minimum(z_lo, c[_ZV]), vertex_in)
        cols, rows = self.cols.index_select(0, li), self.rows.index_select(0, li)
        flat = self.offsets.index_select(0, li) + (by * cols + bx).to(self.flat_dtype)
        flat = flat.clamp_(0, pyr.maxima.numel() - 1).long()  # finished rays may point outside
        clear = _above(z_lo, pyr.maxima.index_select(0, flat))
        # At level 0 a block that is not clear is a patch: intersect it exactly.
        at_patch = (1.0 - clear) * (1.0 - level.clamp(max=1.0))
        tau = _patch_root(pyr, c, r, r_exit, bx, by)
        hit = at_patch * _above(torch.full_like(tau, 0.5 * _MISS), tau)
        skip = clear + at_patch - hit              # clear, or a patch the ray passes over
        hit_r = torch.lerp(torch.full_like(r, _MISS), r + tau, hit)
        # Skipping rays move to the next block along their path (an integer step: progress).
        step_a = skip * via_a
        nbx = bx + step_a * c[_SGN_A]
        nby = by + (skip - step_a) * c[_SGN_B]
        outside = torch.maximum(torch.maximum(_above(-nbx, 0.5), _above(-nby, 0.5)),
                                torch.maximum(_above(nbx + 0.5, cols), _above(nby + 0.5, rows)))
        gone = skip * torch.maximum(outside, 1.0 - _above(c[_END], r_exit))
        # Climb a level when the step left the parent block (the parent is then a new block);
        # descend into the child block that holds the ray's position when it is not clear.
        pbx, pby = torch.floor(nbx * 0.5), torch.floor(nby * 0.5)
        moved = torch.maximum((pbx - torch.floor(bx * 0.5)).abs(),
                              (pby - torch.floor(by * 0.5)).abs())
        climb = skip * moved * _above(self.top_level - 0.5, level)
        down = (1.0 - skip) * level.clamp(max=1.0)
        half = size * 0.5
        below = (li - 1).clamp(min=0)
        cbx = torch.floor((c[_IA] + (c[_FA] + c[_DA] * r)) / half)
        cbx = torch.minimum(torch.maximum(cbx, 2 * bx),
                            torch.minimum(2 * bx + 1, self.cols.index_select(0, below) - 1))
        cby = torch.floor((c[_IB] + (c[_FB] + c[_DB] * r)) / half)
        cby = torch.minimum(torch.maximum(cby, 2 * by),
                            torch.minimum(2 * by + 1, self.rows.index_select(0, below) - 1))
        self.level = level + climb - down
        self.bx = torch.lerp(torch.lerp(nbx, pbx, climb), cbx, down)
        self.by = torch.lerp(torch.lerp(nby, pby, climb), cby, down)
        self.r = torch.lerp(r, r_exit, skip)
        self.z = torch.lerp(self.z, z_exit, skip)
        # A rising ray above the highest surface can never come back down onto it.
        escaped = _above(self.z, self.top_m) * (1.0 - _above(0.0, c[_DZ] + 2 * c[_KAP] * self.r))
        self.hit = torch.minimum(self.hit, torch.maximum(hit_r, self.done.float() * _MISS))
        self.done |= (torch.maximum(torch.maximum(hit, gone), escaped) > 0.5)


def _slab(p0: Tensor, dp: Tensor, hi: float) -> tuple[Tensor, Tensor]:
    """Range interval in which ``p0 + r dp`` stays within ``[0, hi]`` (``r`` unbounded)."""
    safe = torch.where(dp == 0, torch.ones_like(dp), dp)
    t0, t1 = (0.0 - p0) / safe, (hi - p0) / safe
    lo, up = torch.minimum(t0, t1), torch.maximum(t0, t1)
    inside = (p0 >= 0) & (p0 <= hi)
    lo = torch.where(dp == 0, torch.where(inside, -math.inf, math.inf), lo)
    up = torch.where(dp == 0, torch.where(inside, math.inf, -math.inf), up)
    return lo, up


def _patch_root(pyr: HeightPyramid, const: Tensor, r0: Tensor, r1: Tensor, bx: Tensor,
                by: Tensor) -> Tensor:
    """First ``tau`` in ``[0, r1 - r0]`` where each ray meets patch ``(by, bx)``; ``_MISS`` if none.

    Along the ray the bilinear patch is a quadratic in the range, and so is the ray height:
    their difference ``F(tau) = F0 + F1 tau + F2 tau**2`` is expanded around the entry ``r0``
    (small numbers: the ray height enters relative to the patch corner, ``oz - h00``, which
    float32 subtracts exactly) and its first root is taken with the stable formula. Computed for
    every ray (cheaper than gathering those at a patch); other rays' results are ignored.
    """
    g = pyr.grid
    j = bx.clamp(0, g.cols - 2)
    i = by.clamp(0, g.rows - 2)
    h00, h01, h10, h11 = _corners(pyr.height, g.cols, i.long(), j.long())
    da, db, dz, kap = const[_DA], const[_DB], const[_DZ], const[_KAP]
    fa = (const[_IA] - j) + (const[_FA] + da * r0)
    fb = (const[_IB] - i) + (const[_FB] + db * r0)
    e, f, c = h01 - h00, h10 - h00, h11 - h10 - h01 + h00
    f0 = (const[_OZ] - h00) + const[_OZL] + r0 * (dz + kap * r0) - (e * fa + f * fb
                                                                      + c * fa * fb)
    f1 = (dz + 2 * kap * r0) - (e * da + f * db + c * (fa * db + fb * da))
    f2 = kap - c * da * db
    span = r1 - r0
    disc = f1 * f1 - 4 * f2 * f0
    q = -0.5 * (f1 + torch.copysign(disc.clamp(min=0).sqrt(), f1))
    # Both roots (q / f2 and f0 / q); NaN / inf from zero divisors and roots outside [0, span]
    # or of a negative discriminant are pushed to _MISS.
    bad = _above(0.0, disc)
    roots = []
    for t in (q / f2, f0 / q):
        t = torch.nan_to_num(t, nan=_MISS, posinf=_MISS, neginf=_MISS)
        out = torch.maximum(torch.maximum(_above(0.0, t), _above(t, span)), bad)
        roots.append(torch.maximum(t, out * _MISS))
    tau = torch.minimum(roots[0], roots[1])
    return tau * _above(f0, 0.0)         # the entry already at or under the surface: tau = 0


def cast_heightfield_reference(height: Tensor, grid: GridSpec, origins: Tensor,
                               directions: Tensor, curvature: float = 0.0,
                               step_m: float | None = None, max_range_m: float = 1.0e5,
                               refine_steps: int = 40, chunk: int = 4096) -> Tensor:
    """Brute-force reference of :func:`cast_heightfield`: fixed small steps, then bisection.

    Samples every ray every ``step_m`` metres of range (default an eighth of a cell) up to
    ``max_range_m``, takes the first sample at or below the surface and bisects the last step.
    A ray stops early only when it has left the grid or risen above its highest sample.
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
    a0, b0 = _patch_coords(grid, o[:, 0], o[:, 1])
    exit_r = torch.minimum(_slab(a0, d[:, 0] / grid.cell_m, grid.cols - 1.0)[1],
                           _slab(b0, -d[:, 1] / grid.cell_m, grid.rows - 1.0)[1])
    top = float(torch.nan_to_num(h, nan=-math.inf).max())
    first = torch.full((n,), -1, dtype=torch.long, device=o.device)
    alive = torch.ones(n, dtype=torch.bool, device=o.device)
    block = 256
    for lo in range(0, steps.numel(), block):
        pending = torch.nonzero((first < 0) & alive).squeeze(1)
        if pending.numel() == 0:
            break
        r = steps[lo:lo + block]
        hit = below(pending, r.unsqueeze(0).expand(pending.numel(), -1))
        any_hit = hit.any(1)
        first[pending[any_hit]] = lo + hit[any_hit].float().argmax(1)
        # Off the grid, or above every sample and rising: nothing more to meet.
        last = r[-1]
        z_last = o[pending, 2] + d[pending, 2] * last + kap[pending] * last * last
        rising = d[pending, 2] + 2 * kap[pending] * last >= 0
        alive[pending] = (last < exit_r[pending]) & ~((z_last > top) & rising)
    found = first >= 0
    hi = torch.where(found, steps[first.clamp(min=0)], torch.zeros_like(kap))
    lo_r = torch.where(first > 0, steps[(first - 1).clamp(min=0)], torch.zeros_like(kap))
    every = torch.arange(n, device=o.device)
    for _ in range(refine_steps):
        mid = 0.5 * (lo_r + hi)
        under = below(every, mid[:, None])[:, 0]
        hi, lo_r = torch.where(under, mid, hi), torch.where(under, lo_r, mid)
    return torch.where(found, hi, torch.full_like(hi, math.inf))
