"""What the synthetic world renders: regions, jobs, camera sampling and the layout-writer contract.

Both :mod:`crossview.world.make` (which renders the jobs) and the layouts' world writers (which
plan file names, splits and metadata files, beside each layout's reader in
:mod:`crossview.data.layouts`) import this module; it imports neither of them, so there is no
import cycle between the world and the layouts. A writer is a :class:`WorldWriter`: it names the
regions to generate, turns them into a :class:`WorldPlan` (tile and panorama jobs plus a function
that writes the layout's split / metadata files once the images exist) and supplies the
layout's panorama defaults. Ground truth always goes to ``crossview_gt/`` (written by ``make``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crossview.errors import ConfigError
from crossview.world import materials as M

if TYPE_CHECKING:
    from crossview.world.config import WorldConfig
    from crossview.world.geo import LocalFrame
    from crossview.world.scene import Scene


@dataclasses.dataclass
class Region:
    """One scene with its georeferencing (a VIGOR city, or the whole CVUSA/CVACT world)."""

    name: str
    index: int
    scene: Scene
    frame: LocalFrame


@dataclasses.dataclass
class TileJob:
    """An aerial tile to render."""

    tile_id: str
    region: int
    x: float
    y: float
    path: str
    """Relative to the world root."""


@dataclasses.dataclass
class GroundJob:
    """A ground panorama to render, with its reference tiles."""

    id: str
    region: int
    x: float
    y: float
    split: str
    path: str
    tiles: list[int]
    """Indices into the tile job list: positive first, then semi-positives."""
    annotation: str | None = None
    """CVUSA only: path of the semantic annotation PNG."""


@dataclasses.dataclass
class WorldPlan:
    """Everything a layout asks the world to write."""

    tiles: list[TileJob]
    grounds: list[GroundJob]
    write_meta: Callable[[Path], None]
    """Writes the layout's split / metadata files under the world root (after the images)."""


class WorldWriter:
    """How the synthetic world writes one official layout (subclass per layout).

    ``make`` calls :meth:`check`, then :meth:`regions` (names and WGS84 origins of the scenes to
    generate), then :meth:`plan` over the generated regions; panoramas default to
    :attr:`pano_hw` and :attr:`pano_vfov_deg` unless the config sets them.
    """

    pano_hw: tuple[int, int] = (256, 512)
    """Default panorama (height, width)."""
    pano_vfov_deg: float = 180.0
    """Default vertical field of view of the panoramas (degrees)."""

    def check(self, cfg: WorldConfig) -> None:
        """Raise :class:`~crossview.errors.ConfigError` for settings this layout cannot write."""

    def regions(self, cfg: WorldConfig) -> list[tuple[str, tuple[float, float]]]:
        """``(name, (lat, lon))`` of each region; default one region ``"world"`` at the origin."""
        return [("world", (cfg.origin_lat, cfg.origin_lon))]

    def plan(self, cfg: WorldConfig, regions: list[Region]) -> WorldPlan:
        """Tile and panorama jobs over ``regions`` and the metadata writer."""
        raise NotImplementedError


def assign_splits(n: int, val_fraction: float, test_fraction: float,
                  rng: np.random.Generator) -> list[str]:
    """Random split names for ``n`` samples with exactly rounded val / test counts."""
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    names = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    names[order[:n_val]] = "val"
    names[order[n_val:n_val + n_test]] = "test"
    return list(names)


def region_cameras(cfg: WorldConfig, region: Region, count: int, margin_m: float
                   ) -> tuple[np.ndarray, list[str]]:
    """``(count, 2)`` camera positions in ``region`` and their splits, seeded by the region."""
    rng = np.random.default_rng([cfg.seed, region.index, 7])
    xy = sample_cameras(region.scene, count, cfg.spacing_m, margin_m, rng)
    return xy, assign_splits(count, cfg.val_fraction, cfg.test_fraction, rng)


def sample_cameras(scene: Scene, count: int, spacing_m: float, margin_m: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``(count, 2)`` street-level camera positions (road or sidewalk cells) ``spacing_m`` apart.

    The spacing is relaxed by 30 % at a time when the region cannot hold ``count`` cameras.
    """
    g = scene.grid
    is_street = np.zeros(256, bool)  # lookup table: np.isin is several times slower on 16M cells
    is_street[[M.ASPHALT, M.MARKING, M.PAVEMENT]] = True
    street = is_street[scene.material] & (scene.solid <= scene.ground + 0.01)
    rows, cols = np.nonzero(street)
    x = g.x_min + (cols + 0.5) * g.cell_m
    y = g.y_max - (rows + 0.5) * g.cell_m
    half = g.cols * g.cell_m / 2 - margin_m
    keep = (np.abs(x) < half) & (np.abs(y) < half)
    cand = np.stack([x[keep], y[keep]], 1)
    if len(cand) < count:
        raise ConfigError(f"world: region_m={g.cols * g.cell_m:.0f} has room for only {len(cand)} "
                          f"street cameras, {count} requested; enlarge region_m")
    order = rng.permutation(len(cand))
    while True:
        chosen = _poisson_pick(cand[order], count, spacing_m)
        if len(chosen) == count or spacing_m < g.cell_m:
            return np.asarray(chosen[:count], np.float64)
        spacing_m *= 0.7


def _poisson_pick(cand: np.ndarray, count: int, spacing: float) -> list[np.ndarray]:
    """Greedy dart throwing over shuffled candidates with a hash grid of cell ``spacing``."""
    chosen: list[np.ndarray] = []
    buckets: dict[tuple[int, int], list[int]] = {}
    for p in cand:
        key = (int(p[0] // spacing), int(p[1] // spacing))
        near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                for j in buckets.get((key[0] + dx, key[1] + dy), ())]
        if any(np.hypot(*(chosen[j] - p)) < spacing for j in near):
            continue
        buckets.setdefault(key, []).append(len(chosen))
        chosen.append(p)
        if len(chosen) == count:
            break
    return chosen


__all__ = ["GroundJob", "Region", "TileJob", "WorldPlan", "WorldWriter", "assign_splits",
           "region_cameras", "sample_cameras"]
