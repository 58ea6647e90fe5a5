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
computed from the UTM coordinates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crossview.data.layouts import register_layout
from crossview.data.layouts._common import (
    Problems,
    position_fields,
    read_world_truth,
    truth_fields,
    utm_to_latlon,
)
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import InputFileError

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


@register_layout("cvact")
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
