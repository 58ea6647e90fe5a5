"""How DEM renders are stored as images (the files ``dem make`` and ``dem render`` write).

- **Depth, 8-bit** (``depth/*.png``, greyscale, the model input): sky 0; terrain
  ``1 + round(254 * t)`` with ``t = ln(d / 10 m) / ln(100 km / 10 m)`` clipped to ``[0, 1]``
  (log scale: near terrain dark, far terrain bright, so the horizon stands out against the sky).
- **Depth, 16-bit** (``depth16/*.png``, the metric record): sky 0; terrain
  ``1 + round(65534 * ln(d / 1 m) / ln(10**6))`` clipped to ``[1, 65535]``, i.e. 1 m to 1000 km
  with a relative step of 2.1e-4 (a quantisation error of at most 0.011 %);
  :func:`decode_depth16` inverts it.
- **Silhouettes** (``silhouettes/*.png``): greyscale, 255 on silhouette pixels, else 0.
- **Segmentation** (``segmentation/*.png``): a palette PNG whose pixel values are the class ids
  of :data:`crossview.dem.render.CLASSES` and whose palette holds
  :data:`crossview.dem.render.CLASS_COLOURS` (``Image.open(p).convert("RGB")`` gives colours,
  ``np.asarray(Image.open(p))`` the ids).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from crossview.dem.render import CLASS_COLOURS, CLASSES
from crossview.errors import ConfigError, InputFileError
from crossview.io import read_image

DEPTH8_RANGE_M = (10.0, 100_000.0)
"""Depths mapped to the 8-bit scale's ends (nearer/farther terrain is clipped)."""
DEPTH16_RANGE_M = (1.0, 1_000_000.0)
"""Depths mapped to the 16-bit scale's ends."""
DATABASE_MODALITIES = ("depth", "silhouettes", "segmentation", "multi")
"""What a database view can show a model (the ``crosslocate`` layout's ``modality``)."""
MULTI_CHANNELS = ("segmentation", "silhouettes", "depth")
"""Channels R, G, B of the ``multi`` modality (CrossLocate's seg-sil-dep)."""


def _log_scale(depth: np.ndarray, lo: float, hi: float, levels: int) -> np.ndarray:
    """Sky (0) -> 0; terrain -> ``1 + round((levels - 1) * ln(d/lo) / ln(hi/lo))`` clipped."""
    d = np.asarray(depth, dtype=np.float64)
    t = np.log(np.clip(d, lo, hi) / lo) / math.log(hi / lo)
    return np.where(d > 0, 1 + np.round((levels - 1) * t), 0)


def depth_to_uint8(depth: np.ndarray) -> np.ndarray:
    """8-bit log encoding of a depth map in metres (0 = sky), see the module docstring."""
    return _log_scale(depth, *DEPTH8_RANGE_M, 255).astype(np.uint8)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """16-bit log encoding of a depth map in metres (0 = sky), see the module docstring."""
    return _log_scale(depth, *DEPTH16_RANGE_M, 65535).astype(np.uint16)


def decode_depth8(values: np.ndarray) -> np.ndarray:
    """Metres (float32, 0 = sky) of 8-bit depth values (inverse of :func:`depth_to_uint8`).

    Values may be fractional (a resized image): they are decoded on the same log scale, and
    values below 0.5 are sky. The quantisation step is a factor ``10**(4/254)`` = 3.7 %.
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = DEPTH8_RANGE_M
    metres = lo * np.exp((np.maximum(v, 1.0) - 1) / 254 * math.log(hi / lo))
    return np.where(v >= 0.5, metres, 0.0).astype(np.float32)


def decode_depth16(values: np.ndarray) -> np.ndarray:
    """Metres (float32, 0 = sky) of a 16-bit depth encoding (inverse of :func:`depth_to_uint16`)."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = DEPTH16_RANGE_M
    metres = lo * np.exp((v - 1) / 65534 * math.log(hi / lo))
    return np.where(v > 0, metres, 0.0).astype(np.float32)


def read_depth16(path: str | Path) -> np.ndarray:
    """Read a ``depth16/*.png`` file as metres (float32, 0 = sky)."""
    img = read_image(path, mode="I")
    if img.mode != "I":
        raise InputFileError(path, f"expected a 16-bit greyscale depth PNG, got mode {img.mode}")
    return decode_depth16(np.asarray(img))


def png_bytes(arr: np.ndarray, palette: bool = False) -> bytes:
    """PNG bytes of a greyscale (uint8 / uint16) or class-id array (``palette``: class colours).

    Compression level 1: these flat images compress well anyway, and level 6 costs 2-3x time.
    """
    img = Image.fromarray(np.ascontiguousarray(arr if arr.dtype == np.uint16 else
                                               arr.astype(np.uint8)))
    if palette:  # an "L" image with a palette becomes a "P" image: ids plus colours
        flat = [c for colour in CLASS_COLOURS for c in colour]
        img.putpalette(flat + [0] * (768 - len(flat)))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def modality_images(outputs: dict, index: int = 0) -> dict[str, np.ndarray]:
    """``H x W x 3`` uint8 pictures of view ``index`` of a render's outputs, by modality.

    Photo as is, depth by the 8-bit log scale, silhouettes white on black, segmentation in the
    class colours; modalities that were not rendered are left out.
    """
    pictures: dict[str, np.ndarray] = {}
    if "photo" in outputs:
        photo = outputs["photo"][index].detach().float().clamp(0, 1).cpu().numpy()
        pictures["photo"] = np.round(photo.transpose(1, 2, 0) * 255).astype(np.uint8)
    if "depth" in outputs:
        grey = depth_to_uint8(outputs["depth"][index].cpu().numpy())
        pictures["depth"] = np.repeat(grey[..., None], 3, axis=2)
    if "silhouettes" in outputs:
        sil = outputs["silhouettes"][index].cpu().numpy().astype(np.uint8) * 255
        pictures["silhouettes"] = np.repeat(sil[..., None], 3, axis=2)
    if "segmentation" in outputs:
        colours = np.asarray(CLASS_COLOURS, dtype=np.uint8)
        pictures["segmentation"] = colours[outputs["segmentation"][index].cpu().numpy()]
    return pictures


def database_modalities(modality: str) -> tuple[str, ...]:
    """The render outputs a database ``modality`` is made of."""
    if modality not in DATABASE_MODALITIES:
        from crossview.errors import unknown_name_error

        raise unknown_name_error("database modality", modality, list(DATABASE_MODALITIES))
    return MULTI_CHANNELS if modality == "multi" else (modality,)


def database_image(outputs: dict, index: int, modality: str) -> np.ndarray:
    """View ``index`` of a render as the ``H x W x 3`` uint8 image a model reads for ``modality``.

    The pixels the ``crosslocate`` layout gives through the input path for the files ``dem make``
    writes (tested): depth as 8-bit log depth and silhouettes as 0/255, both replicated to three
    channels; segmentation in the class colours; ``multi`` = class id x 255 / (classes - 1),
    silhouettes, 8-bit depth as R, G, B.
    """
    wanted = database_modalities(modality)
    missing = [m for m in wanted if m not in outputs]
    if missing:
        raise ConfigError(f"database_image: the render lacks {missing} for modality {modality!r}")
    if modality == "multi":
        ids = outputs["segmentation"][index].cpu().numpy().astype(np.int64)
        seg = (ids * 255 // (len(CLASSES) - 1)).astype(np.uint8)
        sil = outputs["silhouettes"][index].cpu().numpy().astype(np.uint8) * 255
        depth = depth_to_uint8(outputs["depth"][index].cpu().numpy())
        return np.stack([seg, sil, depth], axis=2)
    return modality_images(outputs, index)[modality]


def sheet(pictures: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Pictures of equal height side by side with white ``gap``-pixel gutters."""
    if not pictures:
        raise ValueError("sheet: no pictures")
    height = pictures[0].shape[0]
    gutter = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts = [p for pic in pictures for p in (pic, gutter)][:-1]
    return np.concatenate(parts, axis=1)
