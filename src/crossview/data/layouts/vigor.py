"""VIGOR (Zhu et al. 2021): official layout and Sample4Geo's; same-area and cross-area splits.

Official layout::

    <root>/<City>/panorama/<prefix>,<lat>,<lon>,.jpg
    <root>/<City>/satellite/satellite_<lat>_<lon>.png
    <root>/splits/<City>/{same_area_balanced_train,same_area_balanced_test,pano_label_balanced}.txt
    <root>/splits/<City>/satellite_list.txt

Sample4Geo's layout puts images under ``ground/<City>/`` and ``satellite/<City>/``; the corrected
labels of SliceMatch live in ``splits__corrected/<City>/<name>__corrected.txt``. Both are
accepted. A label row is ``pano sat1 d1a d1b sat2 ... sat4 d4a d4b`` (13 tokens): the positive
tile then three semi-positives, each followed by the camera's pixel offset from the tile centre in
the file's (row, col) order on the 640x640 tile, kept as written in ``Pair.offsets_px``.

References are all tiles of ``satellite_list.txt`` of the split's cities (same-area: every city,
``Reference.split=None`` = every split; cross-area: New York + Seattle train, Chicago + San
Francisco test). Ground resolution: 0.114 m/px at 640 px (SPECS.md §4), scaled by 640/width when
tiles are stored at another size; the synthetic world's ``tiles.csv`` overrides it.

Options (:class:`VigorOptions`): ``area`` (``same``/``cross``) and ``cities``; the alias
``vigor-cross`` means ``area=cross``. The synthetic world writes this layout with one region per
city (:class:`VigorWorld`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from crossview.config import Config
from crossview.data.layouts._common import (
    Problems,
    latlon_to_utm,
    position_fields,
    read_world_truth,
    truth_fields,
)
from crossview.data.layouts._registry import Layout, register_layout
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError, InputFileError, unknown_name_error
from crossview.world.plan import GroundJob, Region, TileJob, WorldPlan, WorldWriter, region_cameras

if TYPE_CHECKING:
    from crossview.world.config import WorldConfig

logger = logging.getLogger(__name__)

CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
CROSS_TRAIN = ("NewYork", "Seattle")
CROSS_TEST = ("Chicago", "SanFrancisco")
RESOLUTION_640_M = 0.114
"""Metres per pixel of a 640x640 VIGOR tile (SPECS.md §4)."""
CITY_ORIGINS = {
    "NewYork": (40.7306, -73.9866),
    "Seattle": (47.6097, -122.3331),
    "SanFrancisco": (37.7793, -122.4193),
    "Chicago": (41.8818, -87.6231),
}
"""Real-looking city centres (WGS84 degrees) at which the synthetic world places each city."""


def _folders(root: Path, city: str) -> tuple[Path, Path]:
    """Panorama and satellite folders of ``city`` in whichever layout is present."""
    if (root / "ground" / city).is_dir() or (root / "satellite" / city).is_dir():
        return root / "ground" / city, root / "satellite" / city
    return root / city / "panorama", root / city / "satellite"


def _split_file(root: Path, city: str, name: str) -> Path:
    corrected = root / "splits__corrected" / city / f"{name}__corrected.txt"
    if corrected.is_file() and not (root / "splits" / city / f"{name}.txt").is_file():
        return corrected
    return root / "splits" / city / f"{name}.txt"


def latlon_from_name(name: str) -> tuple[float, float] | None:
    """Coordinates encoded in a VIGOR file name (panorama or satellite), or ``None``."""
    stem = Path(name).stem
    try:
        if stem.startswith("satellite_"):
            _, lat, lon = stem.split("_")[:3]
        else:
            _, lat, lon = stem.split(",")[:3]
        return float(lat), float(lon)
    except ValueError:
        return None


def _tile_resolution(folder: Path, names: list[str], problems: Problems) -> float:
    from PIL import Image

    for name in names[:1]:
        path = folder / name
        if problems.exists(path):
            try:
                with Image.open(path) as img:
                    return RESOLUTION_640_M * 640.0 / img.width
            except OSError:
                problems.bad(path, "cannot read image header")
    return RESOLUTION_640_M


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputFileError(path, "VIGOR split file not found")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _read_tiles(
    root: Path,
    city: str,
    split: str | None,
    problems: Problems,
    by_aerial: dict,
    refs: list[Reference],
) -> dict[str, int]:
    """Append ``city``'s tiles to ``refs``; returns tile name -> reference index."""
    _, sat_dir = _folders(root, city)
    names = [ln.split()[0] for ln in _read_lines(_split_file(root, city, "satellite_list"))]
    res = _tile_resolution(sat_dir, names, problems)
    coords = [latlon_from_name(n) for n in names]
    for name, ll in zip(names, coords, strict=True):
        if ll is None:
            problems.bad(f"{problems.rel(sat_dir / name)}", "no <lat>_<lon> in tile name")
    ok = [c for c in coords if c is not None]
    east, north, zones = latlon_to_utm([c[0] for c in ok], [c[1] for c in ok])
    it = iter(range(len(ok)))
    index: dict[str, int] = {}
    for name, ll in zip(names, coords, strict=True):
        path = sat_dir / name
        problems.require(path)
        gt = by_aerial.get(problems.rel(path))
        fields: dict[str, Any] = {}
        if ll is not None:
            k = next(it)
            fields = position_fields(ll[0], ll[1], east[k], north[k], zones[k])
        fields.update(truth_fields(gt, with_yaw=False))
        resolution = gt.ground_resolution_m if gt and gt.ground_resolution_m else res
        index[name] = len(refs)
        refs.append(
            Reference(
                id=Path(name).stem,
                path=path,
                split=split,
                ground_resolution_m=resolution,
                extras={"city": city},
                **fields,
            )
        )
    return index


def _read_labels(
    root: Path,
    city: str,
    label_name: str,
    split: str,
    tiles: dict[str, int],
    problems: Problems,
    by_ground: dict,
) -> list[Pair]:
    pano_dir, _ = _folders(root, city)
    label_path = _split_file(root, city, label_name)
    rows = []
    for line_no, line in enumerate(_read_lines(label_path), start=1):
        tok = line.split()
        where = f"{problems.rel(label_path)}:{line_no}"
        if len(tok) != 13:
            problems.bad(where, f"expected 13 fields (pano, 4 x (tile, 2 offsets)), got {len(tok)}")
            continue
        names = [tok[i] for i in (1, 4, 7, 10)]
        unknown = [n for n in names if n not in tiles]
        ll = latlon_from_name(tok[0])
        if unknown or ll is None:
            problems.bad(
                where,
                f"tile {unknown[0]} not in satellite_list.txt"
                if unknown
                else "no ,<lat>,<lon>, in panorama name",
            )
            continue
        try:
            offsets = tuple((float(tok[i + 1]), float(tok[i + 2])) for i in (1, 4, 7, 10))
        except ValueError:
            problems.bad(where, "offsets are not numbers")
            continue
        rows.append((tok[0], ll, tuple(tiles[n] for n in names), offsets))
    east, north, zones = latlon_to_utm([r[1][0] for r in rows], [r[1][1] for r in rows])
    pairs = []
    for k, (name, ll, refs, offsets) in enumerate(rows):
        ground = pano_dir / name
        problems.require(ground)
        fields = {**position_fields(ll[0], ll[1], east[k], north[k], zones[k]), "yaw_deg": 0.0}
        fields.update(truth_fields(by_ground.get(problems.rel(ground))))
        pairs.append(
            Pair(
                id=name.split(",")[0],
                ground=ground,
                split=split,
                references=refs,
                offsets_px=offsets,
                extras={"city": city},
                **fields,
            )
        )
    return pairs


def _cities(root: Path, options: VigorOptions) -> list[str]:
    """The cities to read: as given, else those with a ``splits/<City>`` folder.

    The real dataset has all four; a synthetic region may have one. Reading fewer than four
    without naming them is logged, never silent.
    """
    if options.cities is not None:
        return [c for c in CITIES if c in options.cities]
    found = [c for c in CITIES if (root / "splits" / c).is_dir()
             or (root / "splits__corrected" / c).is_dir()]
    if not found:
        raise InputFileError(root / "splits", f"no VIGOR city split folder ({', '.join(CITIES)})")
    if len(found) < len(CITIES):
        logger.warning("vigor %s: reading %d of %d cities (%s); the others have no splits "
                       "folder", root, len(found), len(CITIES), ", ".join(found))
    _check_cross(options.area, found)
    return found


def _check_cross(area: str, cities: list[str] | tuple[str, ...]) -> None:
    if area == "cross" and not (set(cities) & set(CROSS_TRAIN) and set(cities) & set(CROSS_TEST)):
        raise ConfigError(f"vigor cross-area needs a train city ({', '.join(CROSS_TRAIN)}) and a "
                          f"test city ({', '.join(CROSS_TEST)}); have {', '.join(cities)}")


def read_vigor(root: Path, problems: Problems, options: VigorOptions) -> PairTable:
    """Read VIGOR at ``root`` with ``options`` (area, cities)."""
    area = options.area
    by_ground, by_aerial = read_world_truth(root)
    refs: list[Reference] = []
    pairs: list[Pair] = []
    for city in _cities(root, options):
        split = None if area == "same" else ("train" if city in CROSS_TRAIN else "test")
        tiles = _read_tiles(root, city, split, problems, by_aerial, refs)
        if area == "same":
            for s in ("train", "test"):
                pairs += _read_labels(
                    root, city, f"same_area_balanced_{s}", s, tiles, problems, by_ground
                )
        else:
            assert split is not None
            pairs += _read_labels(
                root, city, "pano_label_balanced", split, tiles, problems, by_ground
            )
    extras = {"area": area, "resolution_640_m": RESOLUTION_640_M}
    return PairTable("vigor", root, pairs, refs, extras=extras)


@dataclasses.dataclass
class VigorOptions(Config):
    """Options of the ``vigor`` layout."""

    area: Literal["same", "cross"] = "same"
    """``same``: every city, the same-area train/test label files; ``cross``: train on New York
    and Seattle, test on Chicago and San Francisco (``pano_label_balanced.txt``)."""
    cities: tuple[str, ...] | None = None
    """Cities to read (``NewYork,Seattle``); default every city with a ``splits/<City>`` folder."""

    def __post_init__(self) -> None:
        if self.cities is None:
            return
        self.cities = tuple(c.strip() for c in self.cities if c.strip())
        for city in self.cities:
            if city not in CITIES:
                raise unknown_name_error("vigor city", city, list(CITIES))
        if not self.cities:
            raise ConfigError(f"vigor.cities: name at least one of {', '.join(CITIES)}")
        _check_cross(self.area, self.cities)


def vigor_tile_refs(x: float, y: float, stride_m: float) -> list[tuple[int, int]]:
    """Grid keys ``(kx, ky)`` of the 4 tiles (centres at ``k * stride``) covering ``(x, y)``.

    The positive comes first: the tile whose central quarter contains the point (nearest
    centre); then the neighbours towards the point along x, along y, and diagonally.
    """
    kx, ky = int(round(x / stride_m)), int(round(y / stride_m))
    sx = 1 if x >= kx * stride_m else -1
    sy = 1 if y >= ky * stride_m else -1
    return [(kx, ky), (kx + sx, ky), (kx, ky + sy), (kx + sx, ky + sy)]


class VigorWorld(WorldWriter):
    """The synthetic world in the VIGOR layout: one region per city, tiles at 50 % overlap."""

    def check(self, cfg: WorldConfig) -> None:
        """At least one known city."""
        if not cfg.cities:
            raise ConfigError("WorldConfig.cities: VIGOR needs at least one city")
        for city in cfg.cities:
            if city not in CITY_ORIGINS:
                raise unknown_name_error("VIGOR city", city, list(CITY_ORIGINS))

    def regions(self, cfg: WorldConfig) -> list[tuple[str, tuple[float, float]]]:
        """One region per city of ``cfg.cities`` at its origin."""
        return [(city, CITY_ORIGINS[city]) for city in cfg.cities]

    def plan(self, cfg: WorldConfig, regions: list[Region]) -> WorldPlan:
        """Per city: panoramas, the tiles around them, and the four label files."""
        tiles: list[TileJob] = []
        grounds: list[GroundJob] = []
        per_city: dict[str, tuple[list[tuple[str, str]], list[TileJob]]] = {}
        counts = np.full(len(regions), cfg.pairs // len(regions))
        counts[: cfg.pairs % len(regions)] += 1
        for region, count in zip(regions, counts, strict=True):
            if count > 0:
                per_city[region.name] = _plan_city(cfg, region, int(count), tiles, grounds)

        def write_meta(out: Path) -> None:
            from crossview.io import write_text_atomic  # imports torch: only when writing

            for city, (rows, city_tiles) in per_city.items():
                d = out / "splits" / city
                files = {
                    "satellite_list.txt": [Path(t.path).name for t in city_tiles],
                    "pano_label_balanced.txt": [r for _, r in rows],
                    "same_area_balanced_train.txt": [r for s, r in rows if s == "train"],
                    "same_area_balanced_test.txt": [r for s, r in rows if s != "train"],
                }
                for name, lines in files.items():
                    write_text_atomic(d / name, "".join(line + "\n" for line in lines))

        return WorldPlan(tiles, grounds, write_meta)


def _plan_city(cfg: WorldConfig, region: Region, count: int, tiles: list[TileJob],
               grounds: list[GroundJob]) -> tuple[list[tuple[str, str]], list[TileJob]]:
    """Append one city's jobs; returns its ``(split, label row)`` list and its tiles."""
    stride = cfg.tile_m / 2  # 50 % overlap, as VIGOR
    gsd = cfg.ground_resolution_m
    xy, splits = region_cameras(cfg, region, count, cfg.tile_m * 1.25)
    keys: dict[tuple[int, int], int] = {}
    rows = []
    for i, ((x, y), split) in enumerate(zip(xy, splits, strict=True)):
        refs = []
        for key in vigor_tile_refs(float(x), float(y), stride):
            if key not in keys:
                tx, ty = key[0] * stride, key[1] * stride
                lat, lon = region.frame.to_latlon(tx, ty)
                name = f"satellite_{lat:.10f}_{lon:.10f}.png"
                keys[key] = len(tiles)
                tiles.append(TileJob(name[:-4], region.index, tx, ty,
                                     f"{region.name}/satellite/{name}"))
            t = tiles[keys[key]]
            # Pixel offset of the camera from the tile centre: rows grow southwards.
            refs.append((keys[key], (t.y - y) / gsd, (x - t.x) / gsd))
        lat, lon = region.frame.to_latlon(float(x), float(y))
        pano = f"{region.name[:2].lower()}{cfg.seed:03d}{i:06d},{lat:.10f},{lon:.10f},.jpg"
        grounds.append(GroundJob(pano.split(",")[0], region.index, float(x), float(y), split,
                                 f"{region.name}/panorama/{pano}", [r[0] for r in refs]))
        label = pano + "".join(f" {Path(tiles[k].path).name} {dr:.4f} {dc:.4f}"
                               for k, dr, dc in refs)
        rows.append((split, label))
    return rows, [tiles[k] for k in sorted(keys.values())]


@register_layout
class Vigor(Layout[VigorOptions]):
    """VIGOR: four cities, each panorama with a positive and three semi-positive tiles."""

    name = "vigor"
    options_class = VigorOptions
    protocol = "vigor"
    aliases = {"vigor-cross": {"area": "cross"}}
    writer = VigorWorld()

    def read(self, root: Path, problems: Problems, options: VigorOptions) -> PairTable:
        """See :func:`read_vigor`."""
        return read_vigor(root, problems, options)
