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
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from crossview.data.layouts import register_layout
from crossview.data.layouts._common import (
    Problems,
    latlon_to_utm,
    position_fields,
    read_world_truth,
    truth_fields,
)
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError, InputFileError

logger = logging.getLogger(__name__)

CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
CROSS_TRAIN = ("NewYork", "Seattle")
CROSS_TEST = ("Chicago", "SanFrancisco")
RESOLUTION_640_M = 0.114
"""Metres per pixel of a 640x640 VIGOR tile (SPECS.md §4)."""


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


def _cities(root: Path, area: str, cities: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """The cities to read: as given, else those with a ``splits/<City>`` folder (all four in the
    real dataset; a synthetic region may have one). Fewer than four is logged, never silent."""
    if cities is None:
        found = [c for c in CITIES if (root / "splits" / c).is_dir()
                 or (root / "splits__corrected" / c).is_dir()]
        if not found:
            raise InputFileError(root / "splits", f"no VIGOR city split folder ({', '.join(CITIES)})")
        if len(found) < len(CITIES):
            logger.warning("vigor %s: reading %d of %d cities (%s); the others have no splits "
                           "folder", root, len(found), len(CITIES), ", ".join(found))
        chosen = found
    else:
        chosen = [c.strip() for c in cities.split(",")] if isinstance(cities, str) else list(cities)
        unknown = [c for c in chosen if c not in CITIES]
        if unknown or not chosen:
            raise ConfigError(f"vigor: cities must be among {', '.join(CITIES)}, got {chosen}")
    if area == "cross" and not (set(chosen) & set(CROSS_TRAIN) and set(chosen) & set(CROSS_TEST)):
        raise ConfigError(f"vigor cross-area needs a train city ({', '.join(CROSS_TRAIN)}) and a "
                          f"test city ({', '.join(CROSS_TEST)}); have {', '.join(chosen)}")
    return [c for c in CITIES if c in chosen]


@register_layout("vigor")
def read_vigor(root: Path, problems: Problems, area: str = "same",
               cities: str | tuple[str, ...] | None = None) -> PairTable:
    """Read VIGOR at ``root``; ``area`` is ``"same"`` (default) or ``"cross"``; ``cities`` (names
    or a comma-separated string) defaults to every city with a split folder."""
    if area not in ("same", "cross"):
        raise ConfigError(f"vigor: area must be 'same' or 'cross', got {area!r}")
    by_ground, by_aerial = read_world_truth(root)
    refs: list[Reference] = []
    pairs: list[Pair] = []
    for city in _cities(root, area, cities):
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
    return PairTable(
        f"vigor-{area}" if area == "cross" else "vigor",
        root,
        pairs,
        refs,
        extras={"area": area, "resolution_640_m": RESOLUTION_640_M},
    )


@register_layout("vigor-cross")
def read_vigor_cross(root: Path, problems: Problems,
                     cities: str | tuple[str, ...] | None = None) -> PairTable:
    """VIGOR cross-area split (train New York + Seattle, test Chicago + San Francisco)."""
    return read_vigor(root, problems, area="cross", cities=cities)
