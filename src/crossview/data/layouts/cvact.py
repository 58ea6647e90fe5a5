"""CVACT (Liu & Li 2019): ``ACT_data.mat`` plus ``ANU_data_small`` and ``ANU_data_test``.

``ACT_data.mat`` (read with :func:`scipy.io.loadmat`) holds ``panoIds`` (a MATLAB char matrix, one
id per row), ``utm`` (N x 2 easting/northing in metres, UTM zone 55 south, Canberra),
``trainSet.trainInd``, ``valSet.valInd`` (CVACT_val) and ``valSetAll.valInd`` (CVACT_test), all
1-based MATLAB indices into ``panoIds``. Images::

    ANU_data_small/streetview/<id>_grdView.jpg          (train, val)
    ANU_data_small/satview_polish/<id>_satView_polish.jpg
    ANU_data_test/streetview/<id>_grdView.jpg           (test)
    ANU_data_test/satview_polish/<id>_satView_polish.jpg

Panoramas are 1664x832 spanning 180 degrees vertically (SPECS.md §1). Latitude/longitude are
computed from the UTM coordinates (option ``utm_zone``, default ``55S``). The synthetic world
writes the same files (:class:`CvactWorld`).

**Sat2Density's arrangement** (its ``dataset/INSTALL.md``: Shi et al.'s aligned CVACT release plus
sky masks), read when the root holds ``satview_correct/`` (option ``arrangement``)::

    ACT_data.mat
    streetview/<id>_grdView.png                 (.jpg also read)
    satview_correct/<id>_satView_polish.png     (.jpg also read)
    pano_sky_mask/<id>_grdView.png              (white = sky; recorded as Pair.extras["sky"])

Splits: ``train`` (``trainSet``) and ``val`` (``valSet``: what Sat2Density reports as its CVACT
test set). The release holds images for a subset of the ids of ``ACT_data.mat``: as the
authors' loader does, ids with neither image are left out, and counted in
``table.extras["unreleased"]`` (``crossview data check`` reports them); an id with only one of
its two images is a missing file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from crossview.config import Config
from crossview.data.layouts._common import (
    Problems,
    position_fields,
    read_world_truth,
    truth_fields,
    utm_to_latlon,
)
from crossview.data.layouts._registry import Layout, register_layout
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import InputFileError
from crossview.world.plan import GroundJob, Region, TileJob, WorldPlan, WorldWriter, region_cameras

if TYPE_CHECKING:
    from crossview.world.config import WorldConfig

MAT_FILE = "ACT_data.mat"
UTM_ZONE = "55S"
PANO_VFOV_DEG = 180.0
SPLITS = {  # split -> (struct, field, image folder)
    "train": ("trainSet", "trainInd", "ANU_data_small"),
    "val": ("valSet", "valInd", "ANU_data_small"),
    "test": ("valSetAll", "valInd", "ANU_data_test"),
}


def ground_name(pano_id: str) -> str:
    """Official file name of a CVACT street-view panorama."""
    return f"streetview/{pano_id}_grdView.jpg"


def aerial_name(pano_id: str) -> str:
    """Official file name of a CVACT satellite tile."""
    return f"satview_polish/{pano_id}_satView_polish.jpg"


def _field(mat: dict[str, Any], struct: str, field: str, path: Path) -> np.ndarray:
    try:
        value = getattr(mat[struct], field)
    except (KeyError, AttributeError):
        raise InputFileError(
            path, f"no {struct}.{field} (expected the CVACT ACT_data.mat structure)"
        ) from None
    return np.atleast_1d(np.asarray(value)).reshape(-1)


def read_mat(path: Path) -> dict[str, Any]:
    """Load ``ACT_data.mat`` into ``{"panoIds": list[str], "utm": (N, 2), split: 0-based idx}``."""
    from scipy.io import loadmat

    if not path.is_file():
        raise InputFileError(path, "file not found (CVACT needs ACT_data.mat at the root)")
    try:
        mat = loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as err:  # scipy raises ValueError/TypeError/OSError on corrupt files
        raise InputFileError(path, f"cannot read MATLAB file ({err})") from None
    if "panoIds" not in mat or "utm" not in mat:
        raise InputFileError(
            path, "no panoIds/utm variables (expected the CVACT ACT_data.mat structure)"
        )
    ids = [str(s).strip() for s in np.atleast_1d(mat["panoIds"])]
    utm = np.asarray(mat["utm"], dtype=np.float64).reshape(-1, 2)
    if len(utm) != len(ids):
        raise InputFileError(path, f"utm has {len(utm)} rows but panoIds has {len(ids)}")
    out: dict[str, Any] = {"panoIds": ids, "utm": utm}
    for split, (struct, field, _) in SPLITS.items():
        idx = _field(mat, struct, field, path).astype(np.int64) - 1  # MATLAB is 1-based
        if idx.size and (idx.min() < 0 or idx.max() >= len(ids)):
            raise InputFileError(path, f"{struct}.{field} has indices outside 1..{len(ids)}")
        out[split] = idx
    return out


def read_cvact(root: Path, problems: Problems, utm_zone: str = UTM_ZONE) -> PairTable:
    """Read CVACT at ``root``: splits train, val (CVACT_val) and test (CVACT_test)."""
    mat = read_mat(root / MAT_FILE)
    by_ground, by_aerial = read_world_truth(root)
    ids, utm = mat["panoIds"], mat["utm"]
    lat, lon = utm_to_latlon(utm[:, 0].tolist(), utm[:, 1].tolist(), utm_zone)
    pairs: list[Pair] = []
    refs: list[Reference] = []
    for split, (_, _, folder) in SPLITS.items():
        for i in mat[split].tolist():
            pano_id = ids[i]
            g_rel, a_rel = f"{folder}/{ground_name(pano_id)}", f"{folder}/{aerial_name(pano_id)}"
            problems.require(root / g_rel)
            problems.require(root / a_rel)
            pos = position_fields(lat[i], lon[i], float(utm[i, 0]), float(utm[i, 1]), utm_zone)
            gt_a = by_aerial.get(a_rel)
            refs.append(
                Reference(
                    id=pano_id,
                    path=root / a_rel,
                    split=split,
                    ground_resolution_m=gt_a.ground_resolution_m if gt_a else None,
                    **{**pos, **truth_fields(gt_a, with_yaw=False)},
                )
            )
            fields = {**pos, "yaw_deg": 0.0, **truth_fields(by_ground.get(g_rel))}
            pairs.append(
                Pair(
                    id=pano_id,
                    ground=root / g_rel,
                    split=split,
                    references=(len(refs) - 1,),
                    extras={"mat_index": i},
                    **fields,
                )
            )
    return PairTable("cvact", root, pairs, refs, extras={"ground_vfov_deg": PANO_VFOV_DEG})


# --- Sat2Density's arrangement (dataset/INSTALL.md of Sat2Density) ------------------------------
S2D_SPLITS = {"train": ("trainSet", "trainInd"), "val": ("valSet", "valInd")}
S2D_AERIAL_DIR = "satview_correct"
S2D_SKY_DIR = "pano_sky_mask"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Image suffixes of the Sat2Density arrangement, in the order they are looked for."""


def is_sat2density_arrangement(root: Path) -> bool:
    """Whether ``root`` is CVACT in Sat2Density's arrangement (it has ``satview_correct/``)."""
    return (root / S2D_AERIAL_DIR).is_dir()


def find_image(problems: Problems, root: Path, stem: str) -> Path | None:
    """``root/<stem><suffix>`` for the first of :data:`IMAGE_SUFFIXES` that exists, else None."""
    for suffix in IMAGE_SUFFIXES:
        path = root / f"{stem}{suffix}"
        if problems.exists(path):
            return path
    return None


def read_cvact_sat2density(root: Path, problems: Problems, utm_zone: str = UTM_ZONE) -> PairTable:
    """Read CVACT in Sat2Density's arrangement (module docstring): train and val, sky masks."""
    mat = read_mat(root / MAT_FILE)
    ids, utm = mat["panoIds"], mat["utm"]
    lat, lon = utm_to_latlon(utm[:, 0].tolist(), utm[:, 1].tolist(), utm_zone)
    pairs: list[Pair] = []
    refs: list[Reference] = []
    unreleased = 0
    for split in S2D_SPLITS:
        for i in mat[split].tolist():
            pano_id = ids[i]
            ground = find_image(problems, root, f"streetview/{pano_id}_grdView")
            aerial = find_image(problems, root, f"{S2D_AERIAL_DIR}/{pano_id}_satView_polish")
            if ground is None and aerial is None:
                unreleased += 1
                continue
            ground = ground or root / f"streetview/{pano_id}_grdView.png"
            aerial = aerial or root / f"{S2D_AERIAL_DIR}/{pano_id}_satView_polish.png"
            problems.require(ground)
            problems.require(aerial)
            pos = position_fields(lat[i], lon[i], float(utm[i, 0]), float(utm[i, 1]), utm_zone)
            refs.append(Reference(id=pano_id, path=aerial, split=split, **pos))
            extras: dict[str, Any] = {"mat_index": i}
            sky = find_image(problems, root, f"{S2D_SKY_DIR}/{pano_id}_grdView")
            if sky is not None:
                extras["sky"] = sky
            pairs.append(Pair(id=pano_id, ground=ground, split=split,
                              references=(len(refs) - 1,), extras=extras, yaw_deg=0.0, **pos))
    if not pairs:
        problems.bad(root / "streetview", f"no image of the {sum(len(mat[s]) for s in S2D_SPLITS)}"
                     f" train/val ids of {MAT_FILE} (expected streetview/<id>_grdView.png)")
    extras_t = {"ground_vfov_deg": PANO_VFOV_DEG, "arrangement": "sat2density",
                "unreleased": unreleased}
    return PairTable("cvact", root, pairs, refs, extras=extras_t)


MAT_HEADER = b"MATLAB 5.0 MAT-file, written by crossview's synthetic world"
MAT_HEADER_BYTES = 116
_ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))


class CvactWorld(WorldWriter):
    """The synthetic world in the CVACT layout: 22-character ids, ``ACT_data.mat``."""

    def plan(self, cfg: WorldConfig, regions: list[Region]) -> WorldPlan:
        """Images under ``ANU_data_small`` (train, val) / ``ANU_data_test`` and the .mat file."""
        region = regions[0]
        xy, splits = region_cameras(cfg, region, cfg.pairs, cfg.tile_m * 0.75)
        rng = np.random.default_rng([cfg.seed, 0xAC7])
        ids: list[str] = []
        while len(ids) < cfg.pairs:
            cand = "".join(rng.choice(_ID_CHARS, 22))
            if cand not in ids:
                ids.append(cand)
        tiles, grounds = [], []
        for i, ((x, y), split, pid) in enumerate(zip(xy, splits, ids, strict=True)):
            folder = SPLITS["test" if split == "test" else "train"][2]
            tiles.append(TileJob(pid, 0, float(x), float(y), f"{folder}/{aerial_name(pid)}"))
            grounds.append(GroundJob(pid, 0, float(x), float(y), split,
                                     f"{folder}/{ground_name(pid)}", [i]))

        def write_meta(out: Path) -> None:
            _write_mat(out / MAT_FILE, ids, region, grounds)

        return WorldPlan(tiles, grounds, write_meta)


def _write_mat(path: Path, ids: list[str], region: Region, grounds: list[GroundJob]) -> None:
    import io

    import scipy.io

    from crossview.io import write_bytes_atomic  # imports torch: only when writing

    utm = np.array([region.frame.to_utm(g.x, g.y) for g in grounds], dtype=np.float64)

    def col(split: str) -> np.ndarray:
        idx = [i + 1 for i, g in enumerate(grounds) if g.split == split]  # 1-based (MATLAB)
        return np.asarray(idx, dtype=np.float64).reshape(-1, 1)

    # CVACT_test (valSetAll) is the test split, empty without one: its images live in
    # ANU_data_test, where the val panoramas are not written.
    mat = {"panoIds": np.array(ids), "utm": utm, "trainSet": {"trainInd": col("train")},
           "valSet": {"valInd": col("val")}, "valSetAll": {"valInd": col("test")}}
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat)
    data = bytearray(buf.getvalue())
    # The 116-byte header text carries savemat's clock time; a fixed one keeps the world's
    # "same seed, same bytes" promise for this file too.
    data[:MAT_HEADER_BYTES] = MAT_HEADER.ljust(MAT_HEADER_BYTES)
    write_bytes_atomic(path, bytes(data))


@dataclasses.dataclass
class CvactOptions(Config):
    """Options of the ``cvact`` layout."""

    utm_zone: str = UTM_ZONE
    """UTM zone of the ``utm`` coordinates in ``ACT_data.mat`` (Canberra: ``55S``)."""
    arrangement: Literal["auto", "official", "sat2density"] = "auto"
    """``official`` (``ANU_data_small`` / ``ANU_data_test``), ``sat2density`` (``streetview``,
    ``satview_correct``, ``pano_sky_mask``), or ``auto``: ``sat2density`` when the root holds
    ``satview_correct/``."""


@register_layout
class Cvact(Layout[CvactOptions]):
    """CVACT: ACT_data.mat with train, CVACT_val and CVACT_test (scored within 5 m)."""

    name = "cvact"
    options_class = CvactOptions
    writer = CvactWorld()

    def read(self, root: Path, problems: Problems, options: CvactOptions) -> PairTable:
        """See :func:`read_cvact` and :func:`read_cvact_sat2density` (option ``arrangement``)."""
        arrangement = options.arrangement
        if arrangement == "auto":
            arrangement = "sat2density" if is_sat2density_arrangement(root) else "official"
        if arrangement == "sat2density":
            return read_cvact_sat2density(root, problems, options.utm_zone)
        return read_cvact(root, problems, options.utm_zone)

    def default_protocol(self, table: PairTable) -> str:
        """``cvact_test`` (5 m) when every pair is in the test split, else ``recall``."""
        if table.pairs and all(p.split == "test" for p in table.pairs):
            return "cvact_test"
        return self.protocol
