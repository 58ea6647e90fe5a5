"""Tiny seeded datasets in the official on-disk layouts (torchgeo-style generators).

Importable by every area's tests: ``from tests.data.fixtures import make_cvusa_fixture``. Each
generator writes random images with the official file names, CSV columns, ``.mat`` structure and
label rows, and returns ``root``. They are independent of crossview's synthetic world.
"""

from __future__ import annotations

import csv
import string
from pathlib import Path

import numpy as np
from PIL import Image

VIGOR_CITY_CENTRES = {  # approximate centres (lat, lon) of the four VIGOR cities
    "Chicago": (41.88, -87.63),
    "NewYork": (40.72, -74.00),
    "SanFrancisco": (37.77, -122.42),
    "Seattle": (47.61, -122.33),
}


def _image(path: Path, hw: tuple[int, int], rng: np.random.Generator) -> None:
    """A smooth random RGB image (low-frequency noise upsampled), saved by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    small = rng.integers(0, 256, size=(max(2, hw[0] // 4), max(2, hw[1] // 4), 3), dtype=np.uint8)
    Image.fromarray(small).resize((hw[1], hw[0]), Image.Resampling.BILINEAR).save(path)


def sky_mask(path: Path, hw: tuple[int, int], rng: np.random.Generator) -> None:
    """A Sat2Density-style sky mask: RGB, 255 = sky above a ragged skyline, 0 below."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = hw
    skyline = rng.integers(h // 4, h // 2 + 1, size=w)
    rows = np.arange(h)[:, None]
    mask = np.where(rows < skyline[None, :], 255, 0).astype(np.uint8)
    Image.fromarray(np.repeat(mask[:, :, None], 3, axis=2)).save(path)


def make_cvusa_fixture(
    root: Path,
    n_train: int = 8,
    n_val: int = 4,
    tile_px: int = 32,
    pano_hw: tuple[int, int] = (16, 64),
    seed: int = 0,
    polar: bool = False,
    sky_masks: bool = False,
) -> Path:
    """CVUSA subset: ``splits/{train,val}-19zl.csv``, ``bingmap/19``, ``streetview/panos``.

    ``sky_masks`` adds Sat2Density's ``sky_mask/<id>.png`` (its dataset/INSTALL.md).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    ids = iter(range(1, n_train + n_val + 1))
    for name, count in (("train-19zl.csv", n_train), ("val-19zl.csv", n_val)):
        rows = []
        for _ in range(count):
            sid = f"{next(ids):07d}"
            rows.append(
                [
                    f"bingmap/19/{sid}.jpg",
                    f"streetview/panos/{sid}.jpg",
                    f"streetview/annotations/{sid}.png",
                ]
            )
            _image(root / rows[-1][0], (tile_px, tile_px), rng)
            _image(root / rows[-1][1], pano_hw, rng)
            if polar:
                _image(root / f"polarmap/19/{sid}.png", pano_hw, rng)
            if sky_masks:
                sky_mask(root / f"sky_mask/{sid}.png", pano_hw, rng)
        with open(root / "splits" / name, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return root


def cvact_pano_id(rng: np.random.Generator) -> str:
    """A 22-character Google panorama id like CVACT's."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choice(list(alphabet), size=22))


def make_cvact_fixture(
    root: Path,
    n_train: int = 6,
    n_val: int = 3,
    n_test_extra: int = 3,
    tile_px: int = 32,
    pano_hw: tuple[int, int] = (32, 64),
    seed: int = 0,
) -> Path:
    """CVACT: ``ACT_data.mat`` (char-matrix ``panoIds``, ``utm``, 1-based split structs).

    As in the real file, CVACT_test (``valSetAll``) contains the CVACT_val panoramas plus others;
    train/val images live in ``ANU_data_small``, test images in ``ANU_data_test``.
    """
    from scipy.io import savemat

    root = Path(root)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test_extra
    ids = [cvact_pano_id(rng) for _ in range(n)]
    utm = np.stack([690000 + rng.uniform(0, 5000, n), 6090000 + rng.uniform(0, 5000, n)], axis=1)
    train = np.arange(1, n_train + 1)
    val = np.arange(n_train + 1, n_train + n_val + 1)
    test = np.arange(n_train + 1, n + 1)
    root.mkdir(parents=True, exist_ok=True)
    savemat(
        root / "ACT_data.mat",
        {
            "panoIds": np.array(ids),  # equal-length strings -> MATLAB char matrix (n x 22)
            "utm": utm,
            "trainSet": {"trainInd": train.reshape(-1, 1).astype(np.float64)},
            "valSet": {"valInd": val.reshape(-1, 1).astype(np.float64)},
            "valSetAll": {"valInd": test.reshape(-1, 1).astype(np.float64)},
        },
    )
    for folder, indices in (
        ("ANU_data_small", np.concatenate([train, val])),
        ("ANU_data_test", test),
    ):
        for i in indices:
            pid = ids[i - 1]
            _image(root / folder / "streetview" / f"{pid}_grdView.jpg", pano_hw, rng)
            _image(
                root / folder / "satview_polish" / f"{pid}_satView_polish.jpg",
                (tile_px, tile_px),
                rng,
            )
    return root


def make_sat2density_cvact_fixture(
    root: Path,
    n_train: int = 4,
    n_val: int = 2,
    n_unreleased: int = 2,
    tile_px: int = 32,
    pano_hw: tuple[int, int] = (32, 64),
    suffix: str = ".png",
    sky_masks: bool = True,
    seed: int = 0,
) -> Path:
    """CVACT as Sat2Density's dataset/INSTALL.md arranges it (Shi et al.'s aligned release).

    ``ACT_data.mat`` (as :func:`make_cvact_fixture`), ``streetview/<id>_grdView<suffix>``,
    ``satview_correct/<id>_satView_polish<suffix>`` and ``pano_sky_mask/<id>_grdView.png``;
    ``n_unreleased`` more train ids of the .mat file have no images (the release is a subset),
    and ``valSetAll`` holds ids without images too.
    """
    from scipy.io import savemat

    root = Path(root)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_unreleased
    ids = [cvact_pano_id(rng) for _ in range(n)]
    utm = np.stack([690000 + rng.uniform(0, 5000, n), 6090000 + rng.uniform(0, 5000, n)], axis=1)
    train = np.concatenate([np.arange(1, n_train + 1), np.arange(n_train + n_val + 1, n + 1)])
    val = np.arange(n_train + 1, n_train + n_val + 1)
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "ACT_data.mat", {
        "panoIds": np.array(ids), "utm": utm,
        "trainSet": {"trainInd": train.reshape(-1, 1).astype(np.float64)},
        "valSet": {"valInd": val.reshape(-1, 1).astype(np.float64)},
        "valSetAll": {"valInd": np.arange(1, n + 1).reshape(-1, 1).astype(np.float64)},
    })
    for pid in ids[:n_train + n_val]:
        _image(root / "streetview" / f"{pid}_grdView{suffix}", pano_hw, rng)
        _image(root / "satview_correct" / f"{pid}_satView_polish{suffix}", (tile_px, tile_px), rng)
        if sky_masks:
            sky_mask(root / "pano_sky_mask" / f"{pid}_grdView.png", pano_hw, rng)
    return root


def make_vigor_fixture(
    root: Path,
    panos_per_city: int = 4,
    tiles_per_city: int = 6,
    tile_px: int = 32,
    pano_hw: tuple[int, int] = (16, 32),
    seed: int = 0,
    layout: str = "official",
) -> Path:
    """VIGOR in the ``official`` (``<City>/panorama``) or ``sample4geo`` (``ground/<City>``) layout.

    Per city: ``splits/<City>/satellite_list.txt``, ``pano_label_balanced.txt`` (every panorama)
    and ``same_area_balanced_{train,test}.txt`` (first half / second half). Label rows list the
    positive tile (the nearest) and three semi-positives, each with two pixel offsets.
    """
    if tiles_per_city < 4:
        raise ValueError("VIGOR label rows need 4 tiles per city (positive + 3 semi-positives)")
    root = Path(root)
    rng = np.random.default_rng(seed)
    for city, (lat0, lon0) in VIGOR_CITY_CENTRES.items():
        if layout == "official":
            pano_dir, sat_dir = root / city / "panorama", root / city / "satellite"
        elif layout == "sample4geo":
            pano_dir, sat_dir = root / "ground" / city, root / "satellite" / city
        else:
            raise ValueError(f"unknown VIGOR fixture layout {layout!r}")
        split_dir = root / "splits" / city
        split_dir.mkdir(parents=True, exist_ok=True)
        tiles = [(lat0 + 0.001 * k, lon0 + 0.0007 * (k % 3)) for k in range(tiles_per_city)]
        names = [f"satellite_{la:.7f}_{lo:.7f}.png" for la, lo in tiles]
        for name in names:
            _image(sat_dir / name, (tile_px, tile_px), rng)
        (split_dir / "satellite_list.txt").write_text("".join(f"{n}\n" for n in names))
        rows = []
        for p in range(panos_per_city):
            lat, lon = tiles[p % tiles_per_city][0] + 1e-4, tiles[p % tiles_per_city][1] - 1e-4
            pano = f"{cvact_pano_id(rng)},{lat:.6f},{lon:.6f},.jpg"
            _image(pano_dir / pano, pano_hw, rng)
            order = [p % tiles_per_city] + [
                k for k in range(tiles_per_city) if k != p % tiles_per_city
            ][:3]
            fields = [pano]
            for k in order:
                fields += [
                    names[k],
                    f"{rng.uniform(-320, 320):.4f}",
                    f"{rng.uniform(-320, 320):.4f}",
                ]
            rows.append(" ".join(fields))
        half = panos_per_city // 2
        (split_dir / "pano_label_balanced.txt").write_text("".join(f"{r}\n" for r in rows))
        (split_dir / "same_area_balanced_train.txt").write_text(
            "".join(f"{r}\n" for r in rows[:half])
        )
        (split_dir / "same_area_balanced_test.txt").write_text(
            "".join(f"{r}\n" for r in rows[half:])
        )
    return root


def make_folder_fixture(
    root: Path,
    n: int = 5,
    with_aerial: bool = False,
    hw: tuple[int, int] = (16, 64),
    tile_px: int = 32,
    seed: int = 0,
) -> Path:
    """A user folder: ``images/*.jpg`` + ``coords.csv`` (columns as in docs/data.md)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    header = ["image", "lat", "lon", "yaw_deg", "fov_deg", "split"] + (
        ["aerial"] if with_aerial else []
    )
    rows = []
    for i in range(n):
        image = f"images/photo_{i:03d}.jpg"
        _image(root / image, hw, rng)
        row = [
            image,
            f"{46.5 + 0.01 * i:.6f}",
            f"{7.5 + 0.01 * i:.6f}",
            f"{30.0 * i:.1f}",
            "",
            "train" if i < n - 2 else "test",
        ]
        if with_aerial:
            row.append(f"tiles/tile_{i:03d}.png")
            _image(root / row[-1], (tile_px, tile_px), rng)
        rows.append(row)
    with open(root / "coords.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return root


def make_university_fixture(
    root: Path,
    n_classes: int = 4,
    n_distractors: int = 2,
    drone_per_class: int = 3,
    street_per_class: int = 2,
    hw: tuple[int, int] = (16, 16),
    seed: int = 0,
) -> Path:
    """University-1652: ``train/{drone,street,satellite,google}/<class>/``, ``test/*_*/<class>``.

    Train and test use disjoint building ids (as in the dataset); the test galleries also hold
    ``n_distractors`` extra buildings that no query shows.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    train_ids = [f"{i:04d}" for i in range(1, n_classes + 1)]
    test_ids = [f"{i:04d}" for i in range(100, 100 + n_classes)]
    distractors = [f"{i:04d}" for i in range(900, 900 + n_distractors)]
    counts = {"drone": drone_per_class, "street": street_per_class, "satellite": 1, "google": 1}

    def name(view: str, cls: str, k: int) -> str:  # the dataset's own naming per view
        return {
            "drone": f"image-{k + 1:02d}.jpeg",
            "satellite": f"{cls}.jpg",
            "street": f"{k:04d}.jpg",
            "google": f"{k}.png",
        }[view]

    for cls in train_ids:
        for view, count in counts.items():
            for k in range(count):
                _image(root / "train" / view / cls / name(view, cls, k), hw, rng)
    for side, classes in (("query", test_ids), ("gallery", test_ids + distractors)):
        for view in ("drone", "street", "satellite"):
            for cls in classes:
                for k in range(counts[view]):
                    _image(root / "test" / f"{side}_{view}" / cls / name(view, cls, k), hw, rng)
    return root


def make_crosslocate_fixture(
    root: Path,
    variant: str = "Sparse",
    positions: int = 4,
    views: int = 12,
    hw: tuple[int, int] = (16, 16),
    seed: int = 0,
) -> Path:
    """CrossLocate in the documented CSV export: ``<Variant>/{queries,database}.csv`` + images.

    ``positions`` database positions per split (train/val/test), ``views`` renders per position
    ``360/views`` degrees apart; one query per position, 5 m away, at a random yaw.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    base = root / variant
    q_rows, d_rows = [], []
    for s, split in enumerate(("train", "val", "test")):
        for p in range(positions):
            lat, lon = 46.0 + 0.1 * s + 0.01 * p, 8.0 + 0.01 * p
            for v in range(views):
                name = f"{split}_{p:03d}_yaw{v * 360 // views:03d}.png"
                d_rows.append(
                    [name, split, f"{lat:.7f}", f"{lon:.7f}", f"{v * 360 / views:.1f}", "60"]
                )
                _image(base / "database" / name, hw, rng)
            name = f"photo_{split}_{p:03d}.jpg"
            yaw = float(rng.uniform(0, 360))
            q_rows.append(
                [
                    name,
                    split,
                    f"{lat + 5 / 111195:.7f}",
                    f"{lon:.7f}",
                    f"{yaw:.2f}",
                    f"{rng.uniform(30, 70):.1f}",
                ]
            )
            _image(base / "queries" / name, hw, rng)
    for fname, rows in (("queries.csv", q_rows), ("database.csv", d_rows)):
        with open(base / fname, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "split", "lat", "lon", "yaw_deg", "fov_deg"])
            w.writerows(rows)
    return root
