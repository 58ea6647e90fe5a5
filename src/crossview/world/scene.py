"""Procedural 2.5-D scene: terrain, roads, land cover, buildings, hedges, trees and transients.

The scene is a set of layers over a regular grid (:class:`~crossview.geometry.raycast.GridSpec`,
local metres, x east / y north, centred on the region centre) plus analytic primitives:

- ``ground``: terrain height; ``solid``: top of solid matter (terrain, buildings, hedges,
  trunks; solid down to the ground); ``material``: material of the solid top; ``obj``: building
  id (0 = none); ``tex``: texture noise; ``crown_top``: top of tree crowns seen from above.
- ``trees``: crowns as vertical spheroids (space underneath, so ground rays pass below them).
- ``transients``: two independent sets of vehicles / people-sized boxes, one seen by the aerial
  capture and one by the ground capture (they differ, as in real data).

Everything derives from ``seed`` through explicitly seeded numpy generators.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage

from crossview.geometry.raycast import GridSpec
from crossview.world import materials as M


@dataclasses.dataclass
class SceneParams:
    """Size and density of a procedural scene."""

    region_m: float = 2000.0
    cell_m: float = 0.5
    relief_m: float = 6.0
    building_density: float = 1.0
    tree_density: float = 1.0
    transient_density: float = 1.0


@dataclasses.dataclass
class Scene:
    """Layers ``(rows, cols)`` over :attr:`grid` plus primitives (see module docstring)."""

    grid: GridSpec
    ground: np.ndarray
    solid: np.ndarray
    material: np.ndarray
    obj: np.ndarray
    tex: np.ndarray
    crown_top: np.ndarray
    trees: np.ndarray
    """``(T, 6)``: x, y, z of the crown centre, horizontal and vertical radius, shade in [0, 1]."""
    roof_rgb: np.ndarray
    """``(B + 1, 3)`` roof colour per building id (row 0 unused)."""
    facade_rgb: np.ndarray
    transients: dict[str, np.ndarray]
    """``"aerial"`` / ``"ground"`` -> ``(V, 6)``: x, y, half size x, half size y, height, colour."""

    @classmethod
    def flat(cls, size_m: float, cell_m: float, material: int = M.GRASS) -> Scene:
        """Build an empty flat scene at height 0 (for tests and hand-built scenes)."""
        n = int(math.ceil(size_m / cell_m))
        grid = GridSpec(-n * cell_m / 2, n * cell_m / 2, cell_m, n, n)
        zeros = np.zeros((n, n), np.float32)
        return cls(grid, zeros.copy(), zeros.copy(), np.full((n, n), material, np.uint8),
                   np.zeros((n, n), np.int32), np.full((n, n), 128, np.uint8),
                   np.full((n, n), -np.inf, np.float32), np.zeros((0, 6), np.float32),
                   np.ones((1, 3), np.float32), np.ones((1, 3), np.float32),
                   {"aerial": np.zeros((0, 6), np.float32), "ground": np.zeros((0, 6), np.float32)})

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        """Row and column slices of the cells whose centres lie in ``[x0, x1] x [y0, y1]``."""
        g = self.grid
        c0 = max(0, int(math.ceil((x0 - g.x_min) / g.cell_m - 0.5)))
        c1 = min(g.cols, int(math.floor((x1 - g.x_min) / g.cell_m - 0.5)) + 1)
        r0 = max(0, int(math.ceil((g.y_max - y1) / g.cell_m - 0.5)))
        r1 = min(g.rows, int(math.floor((g.y_max - y0) / g.cell_m - 0.5)) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def add_box(self, x0: float, y0: float, x1: float, y1: float, height_m: float,
                roof: tuple[float, float, float] = (0.5, 0.5, 0.5),
                facade: tuple[float, float, float] = (0.7, 0.7, 0.7)) -> int:
        """Add an axis-aligned building over ``[x0, x1] x [y0, y1]``; returns its id."""
        rows, cols = self.rect(x0, y0, x1, y1)
        bid = len(self.roof_rgb)
        self.roof_rgb = np.vstack([self.roof_rgb, np.asarray([roof], np.float32)])
        self.facade_rgb = np.vstack([self.facade_rgb, np.asarray([facade], np.float32)])
        base = float(self.ground[rows, cols].max()) if self.ground[rows, cols].size else 0.0
        self.solid[rows, cols] = base + height_m
        self.material[rows, cols] = M.ROOF
        self.obj[rows, cols] = bid
        return bid


def generate_scene(params: SceneParams, seed: int) -> Scene:
    """Build a scene of ``params.region_m`` metres square from ``seed``."""
    rng = np.random.default_rng([seed, 0x5CE7E])
    scene = Scene.flat(params.region_m, params.cell_m)
    _terrain(scene, rng, params.relief_m)
    _land_cover(scene, rng)
    reserved = _roads(scene, rng)
    _buildings(scene, rng, reserved, params.building_density)
    _hedges(scene, rng, reserved, params.building_density)
    _trees(scene, rng, reserved, params.tree_density)
    for name in ("aerial", "ground"):
        scene.transients[name] = _transients(scene, rng, params.transient_density)
    return scene


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int],
                  scale_cells: float) -> np.ndarray:
    """Zero-mean, unit-std smooth noise ``shape`` with features about ``scale_cells`` wide."""
    coarse = (max(2, int(shape[0] / scale_cells) + 2), max(2, int(shape[1] / scale_cells) + 2))
    low = rng.standard_normal(coarse).astype(np.float32)
    out = ndimage.zoom(low, (shape[0] / coarse[0], shape[1] / coarse[1]), order=3,
                       grid_mode=True, mode="reflect")[: shape[0], : shape[1]]
    if out.shape != shape:  # np.pad copies even when there is nothing to pad (16M cells)
        out = np.pad(out, ((0, shape[0] - out.shape[0]), (0, shape[1] - out.shape[1])), mode="edge")
    return ((out - out.mean()) / (out.std() + 1e-6)).astype(np.float32)


def _terrain(scene: Scene, rng: np.random.Generator, relief_m: float) -> None:
    shape = scene.ground.shape
    terrain = relief_m * _smooth_noise(rng, shape, 300.0 / scene.grid.cell_m)
    scene.ground[:] = terrain
    scene.solid[:] = terrain
    # Texture: fine per-cell grain mixed with metre-scale patches (grass tufts, stains).
    grain = rng.integers(0, 256, size=shape, dtype=np.uint8).astype(np.float32)
    patches = _smooth_noise(rng, shape, 4.0 / scene.grid.cell_m) * 40 + 128
    scene.tex[:] = np.clip(0.5 * grain + 0.5 * patches, 0, 255).astype(np.uint8)


def _land_cover(scene: Scene, rng: np.random.Generator) -> None:
    """Parcels of grass, crops, bare soil, pavement and water about 20-40 m wide."""
    cell = scene.grid.cell_m
    block = max(1, int(round(30.0 / cell)))
    n = scene.grid.rows
    coarse_n = n // block + 2
    choices = np.array([M.GRASS, M.CROPS, M.SOIL, M.PAVEMENT, M.WATER_M], np.uint8)
    coarse = rng.choice(choices, size=(coarse_n, coarse_n), p=[0.45, 0.2, 0.15, 0.13, 0.07])
    cover = np.kron(coarse, np.ones((block, block), np.uint8))
    # Offset so parcel borders do not line up with the region edge.
    off = rng.integers(0, block, size=2)
    scene.material[:] = cover[off[0]: off[0] + n, off[1]: off[1] + n]
    # Crop rows: stripes every 1.5 m in the texture of crop parcels.
    crops = scene.material == M.CROPS
    rows = np.arange(n)[:, None] * cell
    stripes = ((np.sin(2 * np.pi * rows / 1.5) > 0) * 60).astype(np.int16)
    striped = np.clip(scene.tex.astype(np.int16) + stripes - 30, 0, 255).astype(np.uint8)
    scene.tex[crops] = striped[crops]
    # Water is flat: ponds take the lowest terrain height of their connected component.
    labels, count = ndimage.label(scene.material == M.WATER_M)
    if count:
        water = labels > 0
        pond = labels[water] - 1
        # Per-pond minimum over the water cells only (ndimage.minimum sorts the whole grid).
        lows = np.full(count, np.inf, np.float32)
        np.minimum.at(lows, pond, scene.ground[water])
        scene.ground[water] = lows[pond]
        scene.solid[water] = lows[pond]


def _roads(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Stamp a perturbed grid of curved roads with sidewalks and dashed centre lines.

    Returns the mask of cells reserved for roads and sidewalks (no buildings or trees there).
    """
    g = scene.grid
    x_c = g.x_min + (np.arange(g.cols) + 0.5) * g.cell_m
    y_c = g.y_max - (np.arange(g.rows) + 0.5) * g.cell_m
    reserved = np.zeros(scene.ground.shape, bool)
    half = g.cols * g.cell_m / 2
    for axis in (0, 1):  # 0: roads running north-south, 1: east-west
        pos = -half + rng.uniform(20, 80)
        while pos < half - 10:
            width = rng.uniform(6.0, 11.0)
            amp, wave, phase = rng.uniform(0, 10), rng.uniform(150, 500), rng.uniform(0, 2 * np.pi)
            _stamp_road(scene, reserved, axis, pos, width, amp, wave, phase, x_c, y_c)
            pos += rng.uniform(70, 160)
    return reserved


def _stamp_road(scene: Scene, reserved: np.ndarray, axis: int, pos: float, width: float,
                amp: float, wave: float, phase: float, x_c: np.ndarray, y_c: np.ndarray) -> None:
    along = y_c if axis == 0 else x_c
    across = x_c if axis == 0 else y_c
    centre = pos + amp * np.sin(2 * np.pi * along / wave + phase)   # per row (axis 0) / col
    reach = width / 2 + 2.5
    lo, hi = np.searchsorted(np.sort(across), [centre.min() - reach, centre.max() + reach])
    if axis == 0:
        band = slice(int(lo), int(hi))
        dist = np.abs(across[band][None, :] - centre[:, None])          # (rows, band)
        along2d = np.broadcast_to(along[:, None], dist.shape)
        view = (slice(None), band)
    else:
        order = np.argsort(across)  # y_c decreases with the row index
        rows_sorted = order[int(lo):int(hi)]
        band = (slice(int(rows_sorted.min()), int(rows_sorted.max()) + 1) if rows_sorted.size
                else slice(0, 0))
        dist = np.abs(across[band][:, None] - centre[None, :])          # (band, cols)
        along2d = np.broadcast_to(along[None, :], dist.shape)
        view = (band, slice(None))
    mat = scene.material[view]
    mat[dist < reach] = M.PAVEMENT
    mat[dist < width / 2] = M.ASPHALT
    dashes = (np.mod(along2d, 6.0) < 3.0) & (dist < 0.12 + scene.grid.cell_m / 2)
    mat[dashes] = M.MARKING
    reserved[view] |= dist < reach + 1.0
    # Roads are graded: soften the terrain across them a little and keep them dry.
    scene.solid[view][dist < reach] = scene.ground[view][dist < reach]


def _free(reserved: np.ndarray, rows: slice, cols: slice) -> bool:
    block = reserved[rows, cols]
    return block.size > 0 and not block.any()


def _buildings(scene: Scene, rng: np.random.Generator, reserved: np.ndarray,
               density: float) -> None:
    area = scene.grid.rows * scene.grid.cols * scene.grid.cell_m**2
    water = scene.material == M.WATER_M
    for _ in range(int(density * area / 700.0)):
        cx, cy = rng.uniform(scene.grid.x_min, -scene.grid.x_min, size=2)
        w, d = rng.uniform(8, 30, size=2)
        height = float(np.clip(rng.lognormal(np.log(9.0), 0.5), 3.5, 45.0))
        roof_i, facade_i = (rng.integers(0, len(M.ROOF_COLOURS)),
                            rng.integers(0, len(M.FACADE_COLOURS)))
        pad = 2.0
        rows, cols = scene.rect(cx - w / 2 - pad, cy - d / 2 - pad,
                                cx + w / 2 + pad, cy + d / 2 + pad)
        if not _free(reserved, rows, cols) or water[rows, cols].any():
            continue
        jitter = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        scene.add_box(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2, height,
                      roof=tuple(M.ROOF_COLOURS[roof_i] * jitter),
                      facade=tuple(M.FACADE_COLOURS[facade_i] * jitter))
        reserved[rows, cols] = True


def _hedges(scene: Scene, rng: np.random.Generator, reserved: np.ndarray, density: float) -> None:
    area = scene.grid.rows * scene.grid.cols * scene.grid.cell_m**2
    for _ in range(int(density * area / 4000.0)):
        cx, cy = rng.uniform(scene.grid.x_min, -scene.grid.x_min, size=2)
        length, thick = rng.uniform(6, 30), rng.uniform(0.8, 1.4)
        w, d = (length, thick) if rng.random() < 0.5 else (thick, length)
        rows, cols = scene.rect(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2)
        if not _free(reserved, rows, cols):
            continue
        scene.solid[rows, cols] = scene.ground[rows, cols] + rng.uniform(0.9, 1.8)
        scene.material[rows, cols] = M.HEDGE
        reserved[rows, cols] = True


def _trees(scene: Scene, rng: np.random.Generator, reserved: np.ndarray, density: float) -> None:
    g = scene.grid
    area = g.rows * g.cols * g.cell_m**2
    trees = []
    for _ in range(int(density * area / 300.0)):
        cx, cy = rng.uniform(g.x_min, -g.x_min, size=2)
        rh = rng.uniform(1.5, 4.5)
        rv = rh * rng.uniform(0.8, 1.4)
        clearance = rng.uniform(1.5, 4.0)
        shade = rng.uniform()
        tr = min(g.rows - 1, int((g.y_max - cy) / g.cell_m))
        tc = min(g.cols - 1, int((cx - g.x_min) / g.cell_m))
        r_trunk, c_trunk = slice(tr, tr + 1), slice(tc, tc + 1)
        rows, cols = scene.rect(cx - rh, cy - rh, cx + rh, cy + rh)
        if reserved[r_trunk, c_trunk].size == 0 or reserved[r_trunk, c_trunk].any():
            continue
        if scene.material[r_trunk, c_trunk].item() == M.WATER_M:
            continue
        z_ground = float(scene.ground[r_trunk, c_trunk].item())
        zc = z_ground + clearance + rv
        # Crown seen from above: a dome of the spheroid's upper half.
        yy = g.y_max - (np.arange(rows.start, rows.stop) + 0.5) * g.cell_m
        xx = g.x_min + (np.arange(cols.start, cols.stop) + 0.5) * g.cell_m
        r2 = ((xx[None, :] - cx) ** 2 + (yy[:, None] - cy) ** 2) / rh**2
        dome = np.where(r2 < 1.0, zc + rv * np.sqrt(np.clip(1 - r2, 0, 1)), -np.inf)
        np.maximum(scene.crown_top[rows, cols], dome.astype(np.float32),
                   out=scene.crown_top[rows, cols])
        # Trunk: one solid column up to the crown centre.
        scene.solid[r_trunk, c_trunk] = zc
        scene.material[r_trunk, c_trunk] = M.TRUNK
        reserved[r_trunk, c_trunk] = True
        trees.append((cx, cy, zc, rh, rv, shade))
    scene.trees = np.asarray(trees, np.float32).reshape(-1, 6)


def _transients(scene: Scene, rng: np.random.Generator, density: float) -> np.ndarray:
    """Vehicles on asphalt and people-sized clutter on pavement, as boxes."""
    g = scene.grid
    out = []
    for material, per_m2, size in ((M.ASPHALT, 1 / 500.0, "car"),
                                   (M.PAVEMENT, 1 / 800.0, "person")):
        cells = np.flatnonzero(scene.material == material)
        count = int(density * cells.size * g.cell_m**2 * per_m2)
        if cells.size == 0 or count == 0:
            continue
        pick = rng.choice(cells, size=count, replace=True)
        r, c = np.divmod(pick, g.cols)
        x = g.x_min + (c + 0.5) * g.cell_m
        y = g.y_max - (r + 0.5) * g.cell_m
        if size == "car":
            along_x = rng.random(count) < 0.5
            hx = np.where(along_x, 2.3, 0.95)
            hy = np.where(along_x, 0.95, 2.3)
            height = rng.uniform(1.4, 1.9, count)
        else:
            hx = hy = np.full(count, 0.3)
            height = rng.uniform(1.0, 1.9, count)
        colour = rng.integers(0, len(M.VEHICLE_COLOURS), count)
        out.append(np.stack([x, y, hx, hy, height, colour], axis=1))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 6), np.float32)
