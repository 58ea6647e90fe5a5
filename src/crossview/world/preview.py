"""Contact sheet of a synthetic world: tile, polar tile, panorama, depth and semantics."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from crossview.errors import InputFileError
from crossview.geometry.polar import polar_transform
from crossview.io import image_to_tensor, read_image, save_image
from crossview.world import materials as M
from crossview.world.make import GT_DIR


def contact_sheet(root: str | Path, out: str | Path, samples: int = 4,
                  row_height: int = 96) -> Path:
    """Write a PNG with one row per sample: tile | polar tile | panorama | depth | semantics."""
    root = Path(root)
    table = root / GT_DIR / "samples.csv"
    if not table.is_file():
        raise InputFileError(table, "missing; not a crossview synthetic world")
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:samples]
    if not rows:
        raise InputFileError(table, "has no samples")
    strips = [_row(root, r, row_height) for r in rows]
    width = max(s.shape[1] for s in strips)
    sheet = np.full((sum(s.shape[0] for s in strips), width, 3), 255, np.uint8)
    y = 0
    for s in strips:
        sheet[y:y + s.shape[0], : s.shape[1]] = s
        y += s.shape[0]
    return save_image(sheet, out)


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    pil = Image.fromarray(img)
    w = max(1, round(pil.width * height / pil.height))
    return np.asarray(pil.resize((w, height), Image.Resampling.BILINEAR))


def _row(root: Path, row: dict[str, str], height: int) -> np.ndarray:
    tile = read_image(root / row["aerial"])
    pano = read_image(root / row["ground"])
    ph, pw = pano.height, pano.width
    polar = polar_transform(image_to_tensor(tile).unsqueeze(0), ph, pw)[0]
    polar_img = (polar.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    depth = np.load(root / GT_DIR / "depth" / f"{row['id']}.npy")
    d = np.clip(np.log1p(depth) / np.log1p(max(float(depth.max()), 1.0)), 0, 1)
    depth_img = (np.stack([d, d, d], -1) * 255).astype(np.uint8)
    sem = np.asarray(Image.open(root / GT_DIR / "semantics" / f"{row['id']}.png"))
    parts = [np.asarray(tile), polar_img, np.asarray(pano), depth_img, M.CLASS_COLOURS[sem]]
    fitted = [_fit(p, height) for p in parts]
    gap = np.full((height, 4, 3), 255, np.uint8)
    out = []
    for p in fitted:
        out += [p, gap]
    return np.concatenate(out, 1)


__all__ = ["contact_sheet"]
