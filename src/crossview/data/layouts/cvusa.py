"""CVUSA (the CVM-Net/SAFA subset): ``splits/train-19zl.csv`` and ``splits/val-19zl.csv``.

Each CSV row (no header) is ``bingmap/19/<id>.jpg,streetview/panos/<id>.jpg[,<annotation>]``:
the 750x750 north-up tile and the 1232x224 panorama (a +-45 degree band around the horizon,
column W/2 north). ``polarmap/19/<id>.png`` (pre-computed polar maps) is optional and recorded in
``Pair.extras["polar"]`` when present. ``val-19zl.csv`` is the set the papers report as "test";
crossview keeps the file's name, split ``val``. The synthetic world writes the same files
(:class:`CvusaWorld`), plus ``streetview/annotations/<id>.png`` semantic maps.

Coordinates (optional; the GPS hard-negative samplers need them) come from the release's
``split_locations/all.csv``, the file Sample4Geo's and CLNet's GPS sampling reads: no header, row
``i`` (1-based) holds image id ``i`` (the number in ``bingmap/19/<id>.jpg``) as
``sat_lat,sat_lon,ground_lat,ground_lon[,...]`` in degrees. Without it, pairs have no position and
``table.extras["coordinates_hint"]`` says where the file belongs.

Sat2Density's arrangement of CVUSA (its ``dataset/INSTALL.md``) is this layout plus
``sky_mask/<id>.png`` (``.jpg`` also read; white = sky), recorded as ``Pair.extras["sky"]``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from crossview.data.layouts._common import Problems, read_world_truth, truth_fields
from crossview.data.layouts._registry import Layout, NoOptions, register_layout
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError, InputFileError
from crossview.world.plan import GroundJob, Region, TileJob, WorldPlan, WorldWriter, region_cameras

if TYPE_CHECKING:
    from crossview.world.config import WorldConfig

SPLIT_FILES = {"train": "splits/train-19zl.csv", "val": "splits/val-19zl.csv"}
LOCATIONS_FILE = "split_locations/all.csv"
"""Per-image coordinates of the CVUSA release (row i = image id i: sat and ground lat, lon)."""
PANO_VFOV_DEG = 90.0
"""CVUSA panoramas are cropped to about +-45 degrees around the horizon (SPECS.md §1)."""


def read_split_csv(path: Path, problems: Problems) -> list[tuple[str, str, int]]:
    """``(aerial, ground, line)`` relative paths of one CVUSA split CSV (header-less)."""
    if not path.is_file():
        raise InputFileError(path, "split file not found (expected the CVUSA subset layout)")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                problems.bad(f"{problems.rel(path)}:{line_no}", "expected aerial,ground columns")
                continue
            rows.append((row[0].strip(), row[1].strip(), line_no))
    return rows


def polar_path(aerial_rel: str) -> str:
    """Official name of the pre-computed polar map of a CVUSA tile."""
    return str(Path(aerial_rel.replace("bingmap", "polarmap", 1)).with_suffix(".png"))


def read_cvusa_locations(root: Path, ids: set[int], problems: Problems
                         ) -> dict[int, tuple[float, float, float, float]] | None:
    """``id -> (sat_lat, sat_lon, ground_lat, ground_lon)`` from ``split_locations/all.csv``.

    Returns ``None`` when the file is absent; rows of other ids are skipped unparsed, and an id
    asked for but missing or malformed is a problem of the layout.
    """
    path = root / LOCATIONS_FILE
    if not path.is_file():
        return None
    out: dict[int, tuple[float, float, float, float]] = {}
    bad: set[int] = set()
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if line_no not in ids:
                continue
            try:
                values = tuple(float(v) for v in row[:4])
            except ValueError:
                values = ()
            if len(values) != 4:
                problems.bad(f"{problems.rel(path)}:{line_no}",
                             "expected sat_lat,sat_lon,ground_lat,ground_lon")
                bad.add(line_no)
                continue
            out[line_no] = values  # type: ignore[assignment]
    absent = ids - set(out) - bad
    for missing in sorted(absent)[:1]:
        problems.bad(problems.rel(path), f"no row {missing} (image id {missing:07d}); "
                                         f"{len(absent)} ids without coordinates")
    return out


def _numeric_id(rel: str) -> int | None:
    stem = Path(rel).stem
    return int(stem) if stem.isdigit() else None


def read_cvusa(root: Path, problems: Problems) -> PairTable:
    """Read the CVUSA subset at ``root``: one reference (the tile) per pair, pair id = pano id."""
    by_ground, by_aerial = read_world_truth(root)
    rows = {split: read_split_csv(root / rel, problems) for split, rel in SPLIT_FILES.items()}
    ids = {i for split_rows in rows.values() for a, _, _ in split_rows
           if (i := _numeric_id(a)) is not None}
    locations = read_cvusa_locations(root, ids, problems)
    pairs: list[Pair] = []
    refs: list[Reference] = []
    for split in SPLIT_FILES:
        for aerial_rel, ground_rel, _ in rows[split]:
            pair_id = Path(ground_rel).stem
            loc = (locations or {}).get(_numeric_id(aerial_rel) or -1)
            ground, aerial = root / ground_rel, root / aerial_rel
            problems.require(ground)
            problems.require(aerial)
            extras = {}
            polar = root / polar_path(aerial_rel)
            if problems.exists(polar):
                extras["polar"] = polar
            sky = sat2density_sky_mask(root, ground_rel, problems)
            if sky is not None:
                extras["sky"] = sky
            gt_a = by_aerial.get(Path(aerial_rel).as_posix())
            refs.append(
                Reference(
                    id=pair_id,
                    path=aerial,
                    split=split,
                    ground_resolution_m=gt_a.ground_resolution_m if gt_a else None,
                    **(truth_fields(gt_a, with_yaw=False) if gt_a or loc is None
                       else {"lat": loc[0], "lon": loc[1]}),
                )
            )
            gt_g = by_ground.get(Path(ground_rel).as_posix())
            fields = {"yaw_deg": 0.0, **(truth_fields(gt_g) if gt_g or loc is None
                                         else {"lat": loc[2], "lon": loc[3]})}
            pairs.append(
                Pair(
                    id=pair_id,
                    ground=ground,
                    split=split,
                    references=(len(refs) - 1,),
                    extras=extras,
                    **fields,
                )
            )
    table_extras: dict[str, object] = {"ground_vfov_deg": PANO_VFOV_DEG}
    if locations is None and not by_ground:
        table_extras["coordinates_hint"] = (f"CVUSA coordinates come from {LOCATIONS_FILE} of the "
                                      f"release (expected at {root / LOCATIONS_FILE})")
    return PairTable("cvusa", root, pairs, refs, extras=table_extras)


# --- Sat2Density's sky masks (dataset/INSTALL.md of Sat2Density) -------------------------------
SKY_MASK_DIR = "sky_mask"
SKY_MASK_SUFFIXES = (".png", ".jpg", ".jpeg")


def sat2density_sky_mask(root: Path, ground_rel: str, problems: Problems) -> Path | None:
    """``sky_mask/<id>.png`` (or ``.jpg``) of panorama ``ground_rel`` when present, else None."""
    stem = Path(ground_rel).stem
    for suffix in SKY_MASK_SUFFIXES:
        path = root / SKY_MASK_DIR / f"{stem}{suffix}"
        if problems.exists(path):
            return path
    return None
# --- end of Sat2Density's sky masks --------------------------------------------------------------


class CvusaWorld(WorldWriter):
    """The synthetic world in the CVUSA layout: one region, tile centred on each camera."""

    pano_hw = (128, 512)
    pano_vfov_deg = PANO_VFOV_DEG

    def check(self, cfg: WorldConfig) -> None:
        """CVUSA has no test split."""
        if cfg.test_fraction > 0:
            raise ConfigError(
                "WorldConfig.test_fraction: CVUSA has only train and val splits; use 0"
            )

    def plan(self, cfg: WorldConfig, regions: list[Region]) -> WorldPlan:
        """``bingmap/19/<id>.jpg`` tiles, ``streetview/panos/<id>.jpg`` and the split CSVs."""
        region = regions[0]
        xy, splits = region_cameras(cfg, region, cfg.pairs, cfg.tile_m * 0.75)
        tiles, grounds = [], []
        for i, ((x, y), split) in enumerate(zip(xy, splits, strict=True)):
            sid = f"{i + 1:07d}"
            tiles.append(TileJob(sid, 0, float(x), float(y), f"bingmap/19/{sid}.jpg"))
            grounds.append(GroundJob(sid, 0, float(x), float(y), split,
                                     f"streetview/panos/{sid}.jpg", [i],
                                     annotation=f"streetview/annotations/{sid}.png"))

        def write_meta(out: Path) -> None:
            from crossview.io import write_text_atomic  # imports torch: only when writing

            for split, rel in SPLIT_FILES.items():
                rows = [f"{tiles[g.tiles[0]].path},{g.path},{g.annotation}"
                        for g in grounds if g.split == split]
                write_text_atomic(out / rel, "".join(r + "\n" for r in rows))

        return WorldPlan(tiles, grounds, write_meta)


@register_layout
class Cvusa(Layout[NoOptions]):
    """CVUSA subset (CVM-Net/SAFA): train-19zl.csv / val-19zl.csv, one tile per panorama."""

    name = "cvusa"
    writer = CvusaWorld()

    def read(self, root: Path, problems: Problems, options: NoOptions) -> PairTable:
        """See :func:`read_cvusa`."""
        return read_cvusa(root, problems)
