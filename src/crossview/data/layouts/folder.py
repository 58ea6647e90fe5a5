"""A user's own images: a folder plus ``coords.csv``.

``coords.csv`` (UTF-8, header row) columns:

- ``image`` (required): image path relative to the folder (or absolute);
- ``lat``, ``lon`` (required; may be empty for images whose position is unknown, e.g. queries to
  localize): WGS84 degrees;
- optional ``id`` (default: the image's file stem; must be unique), ``yaw_deg`` (heading of the
  image centre, clockwise from north), ``fov_deg`` (horizontal field of view; 360 or empty for
  panoramas), ``split`` (train/val/test; default ``test``), ``aerial`` (path of a north-up tile
  centred on the camera, making the row a ground-aerial pair).

Without an ``aerial`` column the table is *query-only* (``extras["queries_only"]``): pairs have no
references, for ``locate`` and embedding queries. With it, every row must name a tile.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

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
from crossview.errors import ConfigError, InputFileError

COORDS_CSV = "coords.csv"


def _resolve(root: Path, rel: str) -> Path:
    path = Path(rel).expanduser()
    return path if path.is_absolute() else root / path


def read_folder(root: Path, problems: Problems, csv_name: str = COORDS_CSV) -> PairTable:
    """Read a folder of images described by ``coords.csv`` (see the module docstring)."""
    csv_path = root / csv_name
    rows = read_csv_rows(csv_path, ["image", "lat", "lon"], problems)
    has_aerial = bool(rows) and "aerial" in rows[0]
    seen: set[str] = set()
    parsed = []
    for line_no, row in enumerate(rows, start=2):
        where = f"{csv_name}:{line_no}"
        if not row["image"]:
            problems.bad(where, "empty image path")
            continue
        image = _resolve(root, row["image"])
        pair_id = row.get("id") or image.stem
        if pair_id in seen:
            problems.bad(where, f"duplicate id {pair_id!r}")
            continue
        seen.add(pair_id)
        problems.require(image)
        n_bad = len(problems.malformed)
        lat = parse_float(row["lat"], where, problems)
        lon = parse_float(row["lon"], where, problems)
        if len(problems.malformed) > n_bad:
            continue
        if (lat is None) != (lon is None) or (
            lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)
        ):
            problems.bad(
                where, f"lat/lon {row['lat']!r}, {row['lon']!r} out of range or half given"
            )
            continue
        try:
            split = normalise_split(row.get("split") or "test", where)
        except ConfigError as err:
            problems.bad(where, str(err).split(": ", 1)[-1])
            continue
        aerial = None
        if has_aerial:
            if not row.get("aerial"):
                problems.bad(
                    where, "empty aerial path (every row needs one when the column exists)"
                )
                continue
            aerial = _resolve(root, row["aerial"])
            problems.require(aerial)
        parsed.append(
            (
                pair_id,
                image,
                split,
                lat,
                lon,
                aerial,
                parse_float(row.get("yaw_deg", ""), where, problems),
                parse_float(row.get("fov_deg", ""), where, problems),
            )
        )
    if not parsed and not problems:
        raise InputFileError(csv_path, "no rows")
    known = [i for i, p in enumerate(parsed) if p[3] is not None and p[4] is not None]
    east, north, zones = latlon_to_utm(
        [parsed[i][3] or 0.0 for i in known], [parsed[i][4] or 0.0 for i in known]
    )
    utm = {i: (east[k], north[k], zones[k]) for k, i in enumerate(known)}
    pairs: list[Pair] = []
    refs: list[Reference] = []
    for i, (pair_id, image, split, lat, lon, aerial, yaw, fov) in enumerate(parsed):
        e, n, z = utm.get(i, (None, None, None))
        pos = position_fields(lat, lon, e, n, z)
        if aerial is not None:
            refs.append(Reference(id=pair_id, path=aerial, split=split, **pos))
        pairs.append(
            Pair(
                id=pair_id,
                ground=image,
                split=split,
                references=(len(refs) - 1,) if aerial is not None else (),
                yaw_deg=yaw,
                fov_deg=None if fov is None or math.isclose(fov, 360.0) else fov,
                **pos,
            )
        )
    return PairTable("folder", root, pairs, refs, extras={"queries_only": not has_aerial})


@dataclasses.dataclass
class FolderOptions(Config):
    """Options of the ``folder`` layout."""

    csv_name: str = COORDS_CSV
    """Name of the CSV inside the folder that lists the images."""


@register_layout
class Folder(Layout[FolderOptions]):
    """A folder of your own images listed in coords.csv (optionally with aerial tiles)."""

    name = "folder"
    options_class = FolderOptions

    def read(self, root: Path, problems: Problems, options: FolderOptions) -> PairTable:
        """See :func:`read_folder`."""
        return read_folder(root, problems, options.csv_name)
