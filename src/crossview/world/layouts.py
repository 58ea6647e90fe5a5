"""Official on-disk layouts (SPECS.md section 4): file names, split files and metadata.

Each ``_plan_*`` returns the tile and panorama jobs plus a function that writes the layout's
split / metadata files once the images exist. Ground truth goes to ``crossview_gt/`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossview.errors import ConfigError
from crossview.io import write_bytes_atomic, write_text_atomic
from crossview.world.config import WorldConfig

if TYPE_CHECKING:
    from crossview.world.make import GroundJob, Region, TileJob

_ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))


def plan_layout(cfg: WorldConfig, regions: list[Region]) -> dict[str, Any]:
    """Jobs and metadata writer of ``cfg.layout`` over ``regions``."""
    if cfg.layout == "vigor":
        return _plan_vigor(cfg, regions)
    if cfg.layout == "cvusa" and cfg.test_fraction > 0:
        raise ConfigError("WorldConfig.test_fraction: CVUSA has only train and val splits; use 0")
    return _plan_cvusa(cfg, regions[0]) if cfg.layout == "cvusa" else _plan_cvact(cfg, regions[0])


def assign_splits(n: int, val_fraction: float, test_fraction: float,
                  rng: np.random.Generator) -> list[str]:
    """Random split names for ``n`` samples with exactly rounded val / test counts."""
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    names = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    names[order[:n_val]] = "val"
    names[order[n_val:n_val + n_test]] = "test"
    return list(names)


def _cameras(cfg: WorldConfig, region: Region, count: int, margin_m: float) -> tuple[np.ndarray, list[str]]:
    from crossview.world.make import sample_cameras

    rng = np.random.default_rng([cfg.seed, region.index, 7])
    xy = sample_cameras(region.scene, count, cfg.spacing_m, margin_m, rng)
    return xy, assign_splits(count, cfg.val_fraction, cfg.test_fraction, rng)


def _plan_cvusa(cfg: WorldConfig, region: Region) -> dict[str, Any]:
    from crossview.world.make import GroundJob, TileJob

    xy, splits = _cameras(cfg, region, cfg.pairs, cfg.tile_m * 0.75)
    tiles, grounds = [], []
    for i, ((x, y), split) in enumerate(zip(xy, splits, strict=True)):
        sid = f"{i + 1:07d}"
        tiles.append(TileJob(sid, 0, float(x), float(y), f"bingmap/19/{sid}.jpg"))
        grounds.append(GroundJob(sid, 0, float(x), float(y), split, f"streetview/panos/{sid}.jpg",
                                 [i], annotation=f"streetview/annotations/{sid}.png"))

    def write_meta(out: Path) -> None:
        for split, name in (("train", "train-19zl.csv"), ("val", "val-19zl.csv")):
            rows = [f"{tiles[g.tiles[0]].path},{g.path},{g.annotation}" for g in grounds if g.split == split]
            write_text_atomic(out / "splits" / name, "".join(r + "\n" for r in rows))

    return {"tiles": tiles, "grounds": grounds, "write_meta": write_meta}


def _plan_cvact(cfg: WorldConfig, region: Region) -> dict[str, Any]:
    from crossview.world.make import GroundJob, TileJob

    xy, splits = _cameras(cfg, region, cfg.pairs, cfg.tile_m * 0.75)
    rng = np.random.default_rng([cfg.seed, 0xAC7])
    ids: list[str] = []
    while len(ids) < cfg.pairs:
        cand = "".join(rng.choice(_ID_CHARS, 22))
        if cand not in ids:
            ids.append(cand)
    tiles, grounds = [], []
    for i, ((x, y), split, pid) in enumerate(zip(xy, splits, ids, strict=True)):
        folder = "ANU_data_test" if split == "test" else "ANU_data_small"
        tiles.append(TileJob(pid, 0, float(x), float(y),
                             f"{folder}/satview_polish/{pid}_satView_polish.jpg"))
        grounds.append(GroundJob(pid, 0, float(x), float(y), split,
                                 f"{folder}/streetview/{pid}_grdView.jpg", [i]))

    def write_meta(out: Path) -> None:
        import io

        import scipy.io

        frame = region.frame
        utm = np.array([frame.to_utm(g.x, g.y) for g in grounds], dtype=np.float64)

        def col(split: str) -> np.ndarray:
            idx = [i + 1 for i, g in enumerate(grounds) if g.split == split]  # 1-based (MATLAB)
            return np.asarray(idx, dtype=np.float64).reshape(-1, 1)

        # CVACT_test (valSetAll) is the test split when there is one, else the val split.
        test = col("test") if any(g.split == "test" for g in grounds) else col("val")
        mat = {"panoIds": np.array(ids), "utm": utm, "trainSet": {"trainInd": col("train")},
               "valSet": {"valInd": col("val")}, "valSetAll": {"valInd": test}}
        buf = io.BytesIO()
        scipy.io.savemat(buf, mat)
        write_bytes_atomic(out / "ACT_data.mat", buf.getvalue())

    return {"tiles": tiles, "grounds": grounds, "write_meta": write_meta}


def vigor_tile_refs(x: float, y: float, stride_m: float) -> list[tuple[int, int]]:
    """Grid keys ``(kx, ky)`` of the 4 tiles (centres at ``k * stride``) covering ``(x, y)``.

    The positive comes first: the tile whose central quarter contains the point (nearest
    centre); then the neighbours towards the point along x, along y, and diagonally.
    """
    kx, ky = int(round(x / stride_m)), int(round(y / stride_m))
    sx = 1 if x >= kx * stride_m else -1
    sy = 1 if y >= ky * stride_m else -1
    return [(kx, ky), (kx + sx, ky), (kx, ky + sy), (kx + sx, ky + sy)]


def _plan_vigor(cfg: WorldConfig, regions: list[Region]) -> dict[str, Any]:
    from crossview.world.make import GroundJob, TileJob

    stride = cfg.tile_m / 2  # 50 % overlap, as VIGOR
    gsd = cfg.ground_resolution_m
    tiles: list[TileJob] = []
    grounds: list[GroundJob] = []
    per_city: dict[str, dict[str, Any]] = {}
    counts = np.full(len(regions), cfg.pairs // len(regions))
    counts[: cfg.pairs % len(regions)] += 1
    for region, count in zip(regions, counts, strict=True):
        if count == 0:
            continue
        xy, splits = _cameras(cfg, region, int(count), cfg.tile_m * 1.25)
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
            job = GroundJob(pano.split(",")[0], region.index, float(x), float(y), split,
                            f"{region.name}/panorama/{pano}", [r[0] for r in refs])
            grounds.append(job)
            label = pano + "".join(f" {Path(tiles[k].path).name} {dr:.4f} {dc:.4f}" for k, dr, dc in refs)
            rows.append((split, label))
        per_city[region.name] = {"rows": rows, "tiles": [tiles[k] for k in sorted(keys.values())]}

    def write_meta(out: Path) -> None:
        for city, info in per_city.items():
            d = out / "splits" / city
            write_text_atomic(d / "satellite_list.txt",
                              "".join(Path(t.path).name + "\n" for t in info["tiles"]))
            write_text_atomic(d / "pano_label_balanced.txt", "".join(r + "\n" for _, r in info["rows"]))
            write_text_atomic(d / "same_area_balanced_train.txt",
                              "".join(r + "\n" for s, r in info["rows"] if s == "train"))
            write_text_atomic(d / "same_area_balanced_test.txt",
                              "".join(r + "\n" for s, r in info["rows"] if s != "train"))

    return {"tiles": tiles, "grounds": grounds, "write_meta": write_meta}


__all__ = ["plan_layout", "assign_splits", "vigor_tile_refs"]
