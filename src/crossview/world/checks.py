"""Quality checks of a synthetic world: geometric agreement and appearance-gap difficulty.

Used by the tests and the benchmark; both read a world from disk as any user would.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from crossview.geometry.polar import polar_transform
from crossview.io import load_image_tensor
from crossview.world import materials as M
from crossview.world.make import GT_DIR

_ALIGN_CLASSES = (M.BUILDING, M.VEGETATION, M.ROAD)


def read_samples(root: str | Path, split: str | None = None) -> list[dict[str, str]]:
    """Rows of ``crossview_gt/samples.csv`` (optionally of one split)."""
    with (Path(root) / GT_DIR / "samples.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if split is None or r["split"] == split]


def azimuth_profiles(tile_sem: np.ndarray, pano_sem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class column profiles ``(C, W)`` of the polar tile and of the panorama semantics.

    Profile value = fraction of a column's pixels with that class; the tile is polar-transformed
    to the panorama's size, so column ``j`` of both looks at the same bearing.
    """
    h, w = pano_sem.shape
    onehot = torch.stack([torch.from_numpy((tile_sem == c).astype(np.float32))
                          for c in _ALIGN_CLASSES])
    polar = polar_transform(onehot.unsqueeze(0), h, w)[0].numpy()
    pano = np.stack([(pano_sem == c).astype(np.float32) for c in _ALIGN_CLASSES])
    return polar.mean(axis=1), pano.mean(axis=1)


def best_shift_deg(a: np.ndarray, b: np.ndarray) -> float | None:
    """Circular shift (deg, in (-180, 180]) to roll ``b`` by to best match ``a`` (both ``(C, W)``).

    ``np.roll(b, k, axis=1)`` with ``k = shift / 360 * W`` best matches ``a``.

    Normalised cross-correlation summed over classes with variation in both profiles; ``None``
    when no class varies (no information about the azimuth).
    """
    w = a.shape[1]
    score = np.zeros(w)
    used = 0
    for pa, pb in zip(a, b, strict=True):
        if pa.std() < 1e-3 or pb.std() < 1e-3:
            continue
        za, zb = (pa - pa.mean()) / pa.std(), (pb - pb.mean()) / pb.std()
        score += np.real(np.fft.ifft(np.fft.fft(za) * np.conj(np.fft.fft(zb)))) / w
        used += 1
    if used == 0:
        return None
    k = int(np.argmax(score))
    shift = 360.0 * k / w
    return shift - 360.0 if shift > 180.0 else shift


def alignment_shifts(root: str | Path) -> list[float | None]:
    """Best azimuth shift between tile and panorama semantics of every sample of a world."""
    root = Path(root)
    out = []
    for row in read_samples(root):
        tile_id = Path(row["aerial"]).stem
        tile_sem = np.asarray(Image.open(root / GT_DIR / "tile_semantics" / f"{tile_id}.png"))
        pano_sem = np.asarray(Image.open(root / GT_DIR / "semantics" / f"{row['id']}.png"))
        out.append(best_shift_deg(*azimuth_profiles(tile_sem, pano_sem)))
    return out


def colour_histogram(image: torch.Tensor, bins: int = 8) -> np.ndarray:
    """Normalised joint RGB histogram ``(bins**3,)`` of a ``(3, H, W)`` image in [0, 1]."""
    q = (image.clamp(0, 1 - 1e-6) * bins).long().reshape(3, -1)
    idx = (q[0] * bins + q[1]) * bins + q[2]
    hist = torch.bincount(idx, minlength=bins**3).double().numpy()
    return hist / hist.sum()


def histogram_matcher_recall(root: str | Path, split: str = "val") -> tuple[float, int]:
    """R@1 of a colour-histogram matcher (polar tile vs panorama, histogram intersection).

    Returns ``(recall_at_1, number_of_queries)``; chance is ``1 / number_of_queries``.
    """
    root = Path(root)
    rows = read_samples(root, split)
    g_h, a_h = [], []
    for row in rows:
        pano = load_image_tensor(root / row["ground"])
        tile = load_image_tensor(root / row["aerial"])
        polar = polar_transform(tile.unsqueeze(0), pano.shape[1], pano.shape[2])[0]
        g_h.append(colour_histogram(pano))
        a_h.append(colour_histogram(polar))
    g, a = np.stack(g_h), np.stack(a_h)
    sim = np.stack([np.minimum(gi[None, :], a).sum(1) for gi in g])    # (Q, R) intersection
    rank = (sim > sim[np.arange(len(g)), np.arange(len(g))][:, None]).sum(1)
    return float((rank < 1).mean()), len(g)
