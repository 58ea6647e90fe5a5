"""Helpers shared by the layout adapters: problem collection, fast file checks, geodesy, CSVs."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from crossview.errors import InputFileError
from crossview.io import read_text

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
"""Official split spellings -> crossview's normalised names."""

GT_DIR = "crossview_gt"
"""Folder in which crossview's synthetic world stores ground truth "alongside" a layout."""


class LayoutError(InputFileError):
    """A dataset layout with missing or malformed files; the message names them (first few)."""

    def __init__(self, layout: str, root: Path, problem: str) -> None:
        super().__init__(root, problem)
        self.layout = layout
        # One line: "<layout> <root>: <problem>" (InputFileError would print only "<root>: ...").
        self.args = (f"{layout} {root}: {problem}",)


class Problems:
    """Collects missing / malformed files while an adapter reads a layout.

    Adapters never drop a sample silently: every problem is recorded here and
    :func:`crossview.data.layouts.load_layout` raises one :class:`LayoutError` naming the first few.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.missing: list[str] = []
        self.malformed: list[str] = []
        self._listings: dict[Path, set[str] | None] = {}

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists, listing each parent folder once (fast for 100k files)."""
        parent = path.parent
        if parent not in self._listings:
            try:
                self._listings[parent] = set(os.listdir(parent))
            except OSError:
                self._listings[parent] = None
        names = self._listings[parent]
        return names is not None and path.name in names

    def require(self, path: Path) -> bool:
        """Record ``path`` as missing unless it exists; returns whether it exists.

        A path that climbs out of the dataset root with ``..`` is recorded as malformed (and
        reported as not existing) whether or not a file is there: a layout never reads outside
        its root through a listed relative path. Absolute paths (allowed by plain folders) are
        taken as given.
        """
        if ".." in Path(path).parts:
            rel = os.path.relpath(os.path.normpath(path), self.root)
            if rel.startswith(".."):
                self.bad(str(path), "path escapes the dataset root")
                return False
        if self.exists(path):
            return True
        self.missing.append(self.rel(path))
        return False

    def bad(self, where: str | Path, what: str) -> None:
        """Record a malformed file or row (``where`` is a path or ``path:line``)."""
        self.malformed.append(f"{self.rel(where) if isinstance(where, Path) else where} ({what})")

    def rel(self, path: Path) -> str:
        """``path`` relative to the layout root when inside it."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def messages(self, first: int = 5) -> list[str]:
        """One summary line per kind of problem, each listing the first ``first`` items."""
        out = []
        for kind, items in (("files missing", self.missing), ("malformed", self.malformed)):
            if items:
                shown = ", ".join(items[:first])
                out.append(
                    f"{len(items)} {kind}: {shown} (first {min(first, len(items))} of {len(items)})"
                )
        return out

    def all(self) -> list[str]:
        """Every problem, one per item (for ``--json`` reports)."""
        return [f"missing: {m}" for m in self.missing] + [f"malformed: {m}" for m in self.malformed]

    def __bool__(self) -> bool:
        return bool(self.missing or self.malformed)


def normalise_split(name: str, where: str) -> str:
    """Map an official split spelling to ``train``/``val``/``test``."""
    key = str(name).strip().lower()
    if key not in SPLIT_ALIASES:
        from crossview.errors import ConfigError

        raise ConfigError(
            f"{where}: unknown split {name!r}; expected one of {sorted(set(SPLIT_ALIASES))}"
        )
    return SPLIT_ALIASES[key]


def utm_zone_of(lat: float, lon: float) -> str:
    """UTM zone of a WGS84 position as ``"<number><N|S>"`` (e.g. ``"55S"``)."""
    from crossview.geometry.geodesy import utm_zone_for

    return str(utm_zone_for(lat, lon))


def latlon_to_utm(
    lat: list[float], lon: list[float], zone: str | None = None
) -> tuple[list[float], list[float], list[str]]:
    """WGS84 degrees -> per-point UTM easting/northing (m) and zone name.

    Each point is projected in its own zone (a VIGOR table spans four cities in three zones),
    grouping points by zone for :func:`crossview.geometry.geodesy.latlon_to_utm`; ``zone`` forces
    one zone for all.
    """
    from crossview.geometry import geodesy

    zones = [zone or utm_zone_of(a, o) for a, o in zip(lat, lon, strict=True)]
    east = [math.nan] * len(lat)
    north = [math.nan] * len(lat)
    for z in sorted(set(zones)):
        idx = [i for i, zz in enumerate(zones) if zz == z]
        e, n, _ = geodesy.latlon_to_utm(
            np.array([lat[i] for i in idx]), np.array([lon[i] for i in idx]), z
        )
        for k, i in enumerate(idx):
            east[i], north[i] = float(np.ravel(e)[k]), float(np.ravel(n)[k])
    return east, north, zones


def utm_to_latlon(
    east: list[float], north: list[float], zone: str
) -> tuple[list[float], list[float]]:
    """UTM easting/northing (m) in ``zone`` (e.g. ``"55S"``) -> WGS84 latitude/longitude (deg)."""
    from crossview.geometry import geodesy

    if not east:
        return [], []
    lat, lon = geodesy.utm_to_latlon(np.asarray(east, float), np.asarray(north, float), zone)
    return [float(v) for v in np.ravel(lat)], [float(v) for v in np.ravel(lon)]


def read_csv_rows(path: Path, required: list[str], problems: Problems) -> list[dict[str, str]]:
    """Rows of a headed CSV; a missing file or required column raises :class:`InputFileError`."""
    text = read_text(path)
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        lacking = [c for c in required if c not in header]
        if lacking:
            raise InputFileError(path, f"missing column(s) {lacking}; found {header}")
        rows = []
        for row in reader:
            rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
    return rows


def parse_float(
    text: str, where: str, problems: Problems, allow_empty: bool = True
) -> float | None:
    """Parse a float from a CSV cell; empty -> ``None``; garbage or NaN is recorded as malformed."""
    if text == "" and allow_empty:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.bad(where, f"not a number: {text!r}")
        return None
    if not math.isfinite(value):
        problems.bad(where, f"not finite: {text!r}")
        return None
    return value


@dataclasses.dataclass
class GroundTruthRow:
    """One row of ``crossview_gt/samples.csv`` or ``tiles.csv`` (synthetic world)."""

    lat: float
    lon: float
    utm_e: float
    utm_n: float
    utm_zone: str
    yaw_deg: float | None
    ground_resolution_m: float | None


def _gt_row(row: dict[str, str]) -> GroundTruthRow:
    def f(key: str) -> float | None:
        return float(row[key]) if row.get(key, "") != "" else None

    return GroundTruthRow(
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        utm_e=float(row["utm_e"]),
        utm_n=float(row["utm_n"]),
        utm_zone=row["utm_zone"],
        yaw_deg=f("yaw_deg"),
        ground_resolution_m=f("ground_resolution_m"),
    )


def read_world_truth(root: Path) -> tuple[dict[str, GroundTruthRow], dict[str, GroundTruthRow]]:
    """Ground truth written by crossview's synthetic world next to a layout, if present.

    Returns ``(by_ground_path, by_aerial_path)`` keyed by POSIX paths relative to ``root``; both
    empty when ``<root>/crossview_gt/samples.csv`` does not exist.
    """
    samples = root / GT_DIR / "samples.csv"
    tiles = root / GT_DIR / "tiles.csv"
    by_ground: dict[str, GroundTruthRow] = {}
    by_aerial: dict[str, GroundTruthRow] = {}
    cols = ["lat", "lon", "utm_e", "utm_n", "utm_zone"]
    scratch = Problems(root)
    try:
        if samples.is_file():
            for row in read_csv_rows(samples, ["ground", "aerial", *cols], scratch):
                gt = _gt_row(row)
                by_ground[Path(row["ground"]).as_posix()] = gt
                if row.get("aerial"):
                    by_aerial.setdefault(
                        Path(row["aerial"]).as_posix(), dataclasses.replace(gt, yaw_deg=None)
                    )
        if tiles.is_file():
            for row in read_csv_rows(tiles, ["path", *cols], scratch):
                by_aerial[Path(row["path"]).as_posix()] = _gt_row(row)
    except (KeyError, ValueError) as err:
        raise InputFileError(root / GT_DIR, f"malformed ground-truth CSV ({err})") from None
    return by_ground, by_aerial


def position_fields(
    lat: float | None,
    lon: float | None,
    utm_e: float | None,
    utm_n: float | None,
    utm_zone: str | None,
) -> dict[str, Any]:
    """Position keyword fields of a :class:`Pair` / :class:`Reference` (any may be ``None``)."""
    return {"lat": lat, "lon": lon, "utm_e": utm_e, "utm_n": utm_n, "utm_zone": utm_zone}


def truth_fields(gt: GroundTruthRow | None, with_yaw: bool = True) -> dict[str, Any]:
    """Keyword fields for :class:`Pair` / :class:`Reference` from a ground-truth row."""
    if gt is None:
        return {}
    out = position_fields(gt.lat, gt.lon, gt.utm_e, gt.utm_n, gt.utm_zone)
    if with_yaw and gt.yaw_deg is not None:
        out["yaw_deg"] = gt.yaw_deg
    return out
