"""CrossLocate (Tomešek et al. 2022): query photos and rendered database views (Sparse, Uniform).

crossview reads the following files (an assumed export format; see ``docs/data.md``)::

    <root>/{Sparse,Uniform}/queries.csv    name,split,lat,lon,yaw_deg,fov_deg
    <root>/{Sparse,Uniform}/queries/<name>
    <root>/{Sparse,Uniform}/database.csv   name,split,lat,lon,yaw_deg[,fov_deg]
    <root>/{Sparse,Uniform}/database/<name>

(or the two CSVs directly in ``root``). Database views are 60 degree FOV renders, 12 per position
30 degrees apart.

Modalities (option ``modality``). ``crossview dem make`` writes every modality of a view under
the same id: ``database/{depth,depth16,silhouettes,segmentation}/<view>.png``, the CSV naming
``depth/<view>.png``. ``modality=depth`` (default) reads the CSV's names as they are;
``silhouettes`` or ``segmentation`` swap the name's first folder for that modality's;
``multi`` reads segmentation, silhouettes and depth as the three channels of one image
(SPECS.md §8 "seg-sil-dep"; :class:`crossview.data.inputs.ChannelStack`: the segmentation's
class ids spread over 0..255 by the dataset's class count). Names outside a modality folder (a
foreign export) are read as they are with ``depth``, and refused with the other modalities.

A query's references are the database views of its split within 20 m and 15 degrees of yaw
(SPECS.md §8); the positive is the closest of them (position first, then yaw). When none is
that close (the Uniform grid is 500 m apart) the positive is the best-yaw view at the
nearest database position, and ``Pair.extras["positive_distance_m"]`` records how far it is.
Distances are chords on the WGS84 mean sphere (metre-accurate at these ranges).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

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
MODALITY_FOLDERS = ("depth", "depth16", "silhouettes", "segmentation")
"""First folders of ``database.csv`` names that say which modality a file is."""
MULTI_CHANNELS = ("segmentation", "silhouettes", "depth")
"""Channel order (R, G, B) of ``modality=multi`` (the paper's seg-sil-dep)."""
DEFAULT_CLASS_COUNT = 5
"""Segmentation classes when ``dem_dataset.json`` does not list them (crossview's five)."""


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return EARTH_RADIUS_M * np.stack(
        [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1
    )


def yaw_difference_deg(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def modality_name(name: str, modality: str) -> str | None:
    """``name`` (a ``database.csv`` entry) with its modality folder swapped for ``modality``.

    ``None`` when the name is not under one of :data:`MODALITY_FOLDERS`.
    """
    parts = Path(name).parts
    if len(parts) < 2 or parts[0] not in MODALITY_FOLDERS:
        return None
    return Path(modality, *parts[1:]).as_posix()


def _modality_files(name: str, modality: str, where: str,
                    problems: Problems) -> tuple[str, ...] | None:
    """The database file(s) ``modality`` reads for the CSV name ``name`` (``None``: bad name)."""
    if modality == "depth" and modality_name(name, "depth") is None:
        return (name,)  # a foreign export: the CSV's file is the depth view
    wanted = MULTI_CHANNELS if modality == "multi" else (modality,)
    names = tuple(modality_name(name, m) for m in wanted)
    if any(n is None for n in names):
        problems.bad(where, f"name {name!r} is not under a modality folder "
                            f"({'/'.join(MODALITY_FOLDERS)}/...), needed for modality={modality}")
        return None
    return names  # type: ignore[return-value]


def _class_count(root: Path) -> int:
    """Segmentation classes of a ``dem make`` dataset (``dem_dataset.json``), else the default."""
    import json

    meta = root / "dem_dataset.json"
    try:
        return max(2, len(json.loads(meta.read_text(encoding="utf-8"))["classes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CLASS_COUNT


def _read_views(csv_path: Path, folder: Path, problems: Problems,
                modality: str | None = None) -> list[dict]:
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
        names = (row["name"],) if modality is None else _modality_files(
            row["name"], modality, where, problems)
        if names is None:
            continue
        paths = [folder / n for n in names]
        for path in paths:
            problems.require(path)
        view: dict[str, Any] = {"name": row["name"], "path": paths[-1], "split": split,
                                "fov": fov, **vals}
        if len(paths) > 1:
            view["channels"] = paths
        views.append(view)
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


def read_crosslocate(root: Path, problems: Problems, variant: str = "sparse",
                     modality: str = "depth") -> PairTable:
    """Read CrossLocate's ``variant`` (``"sparse"`` or ``"uniform"``) at ``root``.

    ``modality`` chooses the database files (module docstring); the table records it in
    ``extras["modality"]``.
    """
    from scipy.spatial import cKDTree

    base = root / VARIANTS[variant] if (root / VARIANTS[variant]).is_dir() else root
    queries = _read_views(base / "queries.csv", base / "queries", problems)
    database = _read_views(base / "database.csv", base / "database", problems, modality)
    classes = _class_count(root) if modality == "multi" else None
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
            extras = {"yaw_deg": v["yaw_deg"], "fov_deg": v["fov"] or DATABASE_FOV_DEG}
            if "channels" in v:  # read as one image by the input path (reference_source)
                extras |= {"channels": tuple(v["channels"]), "channel_levels": classes}
            refs.append(
                Reference(
                    id=Path(v["name"]).with_suffix("").as_posix(),
                    path=v["path"],
                    split=split,
                    extras=extras,
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
    return PairTable("crosslocate", root, pairs, refs,
                     extras={"variant": variant, "modality": modality})


@dataclasses.dataclass
class CrossLocateOptions(Config):
    """Options of the ``crosslocate`` layout."""

    variant: Literal["sparse", "uniform"] = "sparse"
    """Database variant: ``sparse`` (renders near the queries) or ``uniform`` (a 500 m grid)."""
    modality: Literal["depth", "silhouettes", "segmentation", "multi"] = "depth"
    """Database modality: the file of each view under ``database/<modality>/`` (``depth``: the
    CSV's own names), or ``multi``: segmentation, silhouettes and depth as three channels."""


@register_layout
class CrossLocate(Layout[CrossLocateOptions]):
    """CrossLocate: query photos against rendered DEM database views (Sparse / Uniform)."""

    name = "crosslocate"
    options_class = CrossLocateOptions
    protocol = "crosslocate"

    def read(self, root: Path, problems: Problems, options: CrossLocateOptions) -> PairTable:
        """See :func:`read_crosslocate`."""
        return read_crosslocate(root, problems, options.variant, options.modality)
