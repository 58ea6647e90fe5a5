"""CrossLocate (Tomešek et al. 2022): query photos and rendered database views (Sparse, Uniform).

crossview reads the following files (an assumed export format; see ``docs/data.md``)::

    <root>/{Sparse,Uniform}/queries.csv    name,split,lat,lon,yaw_deg,fov_deg
    <root>/{Sparse,Uniform}/queries/<name>
    <root>/{Sparse,Uniform}/database.csv   name,split,lat,lon,yaw_deg[,fov_deg]
    <root>/{Sparse,Uniform}/database/<name>

(or the two CSVs directly in ``root``). Database views are 60 degree FOV renders, 12 per position
30 degrees apart. A query's references are the database views of its split within 20 m and 15
degrees of yaw (SPECS.md §8); the positive is the closest of them (position first, then yaw). When
none is that close (the Uniform grid is 500 m apart) the positive is the best-yaw view at the
nearest database position, and ``Pair.extras["positive_distance_m"]`` records how far it is.
Distances are chords on the WGS84 mean sphere (metre-accurate at these ranges).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np

from crossview.config import Config
from crossview.data.layouts._common import (
    Problems,
    latlon_to_utm,
    normalise_split,
    parse_float,
    position_fields,
    read_csv_rows,
)
from crossview.data.layouts._registry import Layout, register_layout
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError

EARTH_RADIUS_M = 6371008.8
POSITIVE_RADIUS_M = 20.0
POSITIVE_YAW_DEG = 15.0
DATABASE_FOV_DEG = 60.0
VARIANTS = {"sparse": "Sparse", "uniform": "Uniform"}


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return EARTH_RADIUS_M * np.stack(
        [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1
    )


def yaw_difference_deg(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def _read_views(csv_path: Path, folder: Path, problems: Problems) -> list[dict]:
    rows = read_csv_rows(csv_path, ["name", "split", "lat", "lon", "yaw_deg"], problems)
    views = []
    for line_no, row in enumerate(rows, start=2):
        where = f"{problems.rel(csv_path)}:{line_no}"
        n_bad = len(problems.malformed)
        vals = {
            k: parse_float(row[k], where, problems, allow_empty=False)
            for k in ("lat", "lon", "yaw_deg")
        }
        fov = parse_float(row.get("fov_deg", ""), where, problems)
        try:
            split = normalise_split(row["split"], where)
        except ConfigError as err:
            problems.bad(where, str(err).split(": ", 1)[-1])
            continue
        if len(problems.malformed) > n_bad:
            continue
        path = folder / row["name"]
        problems.require(path)
        views.append({"name": row["name"], "path": path, "split": split, "fov": fov, **vals})
    return views


def _match(
    query: dict, db_xyz: np.ndarray, db_yaw: np.ndarray, tree: object
) -> tuple[list[int], float]:
    """Return the query's references (split-database indices) and the positive's distance."""
    q = _xyz(np.array([query["lat"]]), np.array([query["lon"]]))[0]
    near = np.array(tree.query_ball_point(q, POSITIVE_RADIUS_M), dtype=np.int64)  # type: ignore[attr-defined]
    if near.size:
        near = near[yaw_difference_deg(db_yaw[near], query["yaw_deg"]) <= POSITIVE_YAW_DEG]
    if near.size:
        dist = np.linalg.norm(db_xyz[near] - q, axis=1)
        order = np.lexsort((yaw_difference_deg(db_yaw[near], query["yaw_deg"]), np.round(dist, 3)))
        return near[order].tolist(), float(dist[order[0]])
    dist0, nearest = tree.query(q)  # type: ignore[attr-defined]
    same_place = np.array(tree.query_ball_point(db_xyz[nearest], 1.0), dtype=np.int64)  # type: ignore[attr-defined]
    best = same_place[np.argmin(yaw_difference_deg(db_yaw[same_place], query["yaw_deg"]))]
    return [int(best)], float(np.linalg.norm(db_xyz[best] - q))


def read_crosslocate(root: Path, problems: Problems, variant: str = "sparse") -> PairTable:
    """Read CrossLocate's ``variant`` (``"sparse"`` or ``"uniform"``) at ``root``."""
    from scipy.spatial import cKDTree

    base = root / VARIANTS[variant] if (root / VARIANTS[variant]).is_dir() else root
    queries = _read_views(base / "queries.csv", base / "queries", problems)
    database = _read_views(base / "database.csv", base / "database", problems)
    refs: list[Reference] = []
    pairs: list[Pair] = []
    for views in (database, queries):
        east, north, zones = latlon_to_utm([v["lat"] for v in views], [v["lon"] for v in views])
        for v, e, n, z in zip(views, east, north, zones, strict=True):
            v["pos"] = position_fields(v["lat"], v["lon"], e, n, z)
    for split in sorted({v["split"] for v in queries}):
        db_idx = [i for i, v in enumerate(database) if v["split"] == split]
        if not db_idx:
            problems.bad(base / "database.csv", f"no database views for split {split!r}")
            continue
        offset = len(refs)
        for i in db_idx:
            v = database[i]
            refs.append(
                Reference(
                    id=Path(v["name"]).with_suffix("").as_posix(),
                    path=v["path"],
                    split=split,
                    extras={"yaw_deg": v["yaw_deg"], "fov_deg": v["fov"] or DATABASE_FOV_DEG},
                    **v["pos"],
                )
            )
        db = [database[i] for i in db_idx]
        db_xyz = _xyz(np.array([v["lat"] for v in db]), np.array([v["lon"] for v in db]))
        db_yaw = np.array([v["yaw_deg"] for v in db])
        tree = cKDTree(db_xyz)
        for q in (q for q in queries if q["split"] == split):
            matched, dist = _match(q, db_xyz, db_yaw, tree)
            pairs.append(
                Pair(
                    id=Path(q["name"]).with_suffix("").as_posix(),
                    ground=q["path"],
                    split=split,
                    references=tuple(offset + m for m in matched),
                    yaw_deg=q["yaw_deg"],
                    fov_deg=q["fov"],
                    extras={"positive_distance_m": dist},
                    **q["pos"],
                )
            )
    return PairTable("crosslocate", root, pairs, refs, extras={"variant": variant})


@dataclasses.dataclass
class CrossLocateOptions(Config):
    """Options of the ``crosslocate`` layout."""

    variant: Literal["sparse", "uniform"] = "sparse"
    """Database variant: ``sparse`` (renders near the queries) or ``uniform`` (a 500 m grid)."""


@register_layout
class CrossLocate(Layout[CrossLocateOptions]):
    """CrossLocate: query photos against rendered DEM database views (Sparse / Uniform)."""

    name = "crosslocate"
    options_class = CrossLocateOptions
    protocol = "crosslocate"

    def read(self, root: Path, problems: Problems, options: CrossLocateOptions) -> PairTable:
        """See :func:`read_crosslocate`."""
        return read_crosslocate(root, problems, options.variant)
