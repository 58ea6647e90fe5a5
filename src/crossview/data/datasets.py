"""Torch datasets over a :class:`PairTable`: decode with PIL, resize per method, augment.

Sizes come from the method's :class:`~crossview.methods.base.InputSpec` (STYLE.md §2), never from
the user. Panoramas whose vertical field of view exceeds the method's band are first cropped to
the rows around the horizon (CVACT 180 -> 90 degrees keeps the middle half, SPECS.md §1), then
resized with area interpolation (PIL ``BOX``) when shrinking, as SAFA's ``INTER_AREA``; tiles use
PIL's antialiased bilinear filter. Random choices use a generator seeded by
``(seed, epoch, index)``, so a sample is reproducible whatever the worker layout.

``fast_decode`` (off by default everywhere; an option of the embedding datasets
``GroundDataset`` / ``ReferenceDataset`` and of :func:`crossview.inference.embed_ground`) decodes
JPEGs of at least twice the target size (tiles: four times) at a reduced DCT scale
(:func:`crossview.io.read_image` ``min_size``): most of the cost of embedding files at small input
sizes is decoding full-size JPEGs. Pixels differ slightly from the full decode (about 1/255 on
average; :func:`crossview.io.read_image` gives the measured figures).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from crossview.data.augment import AugmentConfig, augment_pair, crop_fov
from crossview.data.table import Pair, PairTable
from crossview.errors import ConfigError
from crossview.io import image_to_tensor, read_image
from crossview.methods.base import InputSpec


def _resize(img: Image.Image, width: int, height: int, area: bool) -> Image.Image:
    if img.size == (width, height):
        return img
    shrinking = width <= img.width and height <= img.height
    resample = Image.Resampling.BOX if (area and shrinking) else Image.Resampling.BILINEAR
    return img.resize((width, height), resample=resample)


def crop_vfov_rows(
    img: Image.Image, source_vfov_deg: float | None, target_vfov_deg: float
) -> Image.Image:
    """Keep the rows of an equirectangular panorama within ``+-target/2`` of the horizon.

    ``source_vfov_deg`` is the panorama's vertical span (centred on the horizon); nothing is done
    when it is unknown or not larger than the target.
    """
    if source_vfov_deg is None or source_vfov_deg <= target_vfov_deg:
        return img
    keep = round(img.height * target_vfov_deg / source_vfov_deg)
    top = (img.height - keep) // 2
    return img.crop((0, top, img.width, top + keep))


def _ground_pixels(
    pair: Pair, spec: InputSpec, source_vfov_deg: float | None, fast_decode: bool = False
) -> np.ndarray:
    height, width = spec.ground_hw
    band = pair.fov_deg is None  # panoramas only; photos keep all their rows
    min_size = None
    if fast_decode:
        # The band crop comes after decoding: ask for enough rows that the cropped band still
        # has ``height`` rows (crop_vfov_rows keeps round(rows * target / source) >= height).
        ratio = 1.0
        if band and source_vfov_deg is not None and source_vfov_deg > spec.ground_vfov_deg:
            ratio = source_vfov_deg / spec.ground_vfov_deg
        min_size = (width, math.ceil(height * ratio))
    img = read_image(pair.ground, min_size=min_size)
    if band:
        img = crop_vfov_rows(img, source_vfov_deg, spec.ground_vfov_deg)
    return np.array(_resize(img, width, height, area=True))


def _tile_pixels(path: Any, size: int, fast_decode: bool = False) -> np.ndarray:
    # Tiles shrink with PIL's antialiased bilinear (triangle) filter; a draft at the target size
    # would replace it by the DCT's box-like one (3-5/255 mean, up to 83/255 off on the synthetic
    # tiles). A draft at >= twice the size leaves the last 2x to that filter (~1/255, max 15/255).
    img = read_image(path, min_size=(2 * size, 2 * size) if fast_decode else None)
    return np.array(_resize(img, size, size, area=False))


def load_ground(
    pair: Pair, spec: InputSpec, source_vfov_deg: float | None, fast_decode: bool = False
) -> Tensor:
    """Decode, band-crop and resize a ground image to ``(3, *spec.ground_hw)`` float32 in [0, 1].

    ``fast_decode`` decodes large JPEGs at a reduced DCT scale (module docstring).
    """
    return image_to_tensor(_ground_pixels(pair, spec, source_vfov_deg, fast_decode))


def load_tile(path: Any, size: int, fast_decode: bool = False) -> Tensor:
    """Decode and resize an aerial tile to ``(3, size, size)`` float32 in [0, 1].

    ``fast_decode`` decodes large JPEGs at a reduced DCT scale (module docstring).
    """
    return image_to_tensor(_tile_pixels(path, size, fast_decode))


def _chw(pixels: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 (PIL's layout) -> contiguous ``3 x H x W`` (the tensors' layout)."""
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _cached_chw(
    cache: dict[Any, np.ndarray] | None, key: Any, read: Callable[[], np.ndarray]
) -> np.ndarray:
    """``read()`` as ``3 x H x W`` uint8, kept in ``cache`` under ``key`` when caching is on."""
    if cache is not None and key in cache:
        return cache[key]
    pixels = _chw(read())
    if cache is not None:
        cache[key] = pixels
    return pixels


def _chw_to_tensor(pixels: np.ndarray) -> Tensor:
    # One fused pass (uint8 -> float32 / 255), value for value io.image_to_tensor.
    return torch.div(torch.from_numpy(pixels), 255.0)


def pixels_to_batch(pixels: Sequence[np.ndarray]) -> Tensor:
    """Stack ``3 x H x W`` uint8 images into a ``(B, 3, H, W)`` float32 batch in [0, 1].

    Value for value what stacking :func:`crossview.io.image_to_tensor` of each image gives, in one
    conversion for the batch instead of one per image: embedding small cached images is otherwise
    bound by the per-image conversions and the float32 collate copy.
    """
    stacked = np.stack(pixels)
    if stacked.dtype != np.uint8 or stacked.ndim != 4 or stacked.shape[1] != 3:
        raise ConfigError(f"pixels_to_batch: expected uint8 3 x H x W images, got "
                          f"{stacked.dtype} {tuple(stacked.shape[1:])}")
    return _chw_to_tensor(stacked)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """Return a generator seeded from ``(seed, epoch, index)`` (independent of worker layout)."""
    mixed = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


def _coords(pair: Pair) -> tuple[Tensor, Tensor]:
    def val(x: float | None) -> float:
        return float("nan") if x is None else float(x)

    latlon = torch.tensor([val(pair.lat), val(pair.lon)], dtype=torch.float64)
    utm = torch.tensor([val(pair.utm_e), val(pair.utm_n)], dtype=torch.float64)
    return latlon, utm


class _TableDataset(Dataset):
    def __init__(
        self, table: PairTable, spec: InputSpec, seed: int = 0, fast_decode: bool = False
    ) -> None:
        self.table = table
        self.spec = spec
        self.seed = seed
        self.fast_decode = fast_decode
        self.epoch = 0
        self.source_vfov_deg: float | None = table.extras.get("ground_vfov_deg")
        # Decoded, resized 3 x H x W uint8 pixels by (kind, index) when caching is on: at tiny
        # input sizes JPEG decoding of full-size files costs more than the model, and a few
        # thousand small images fit in memory (2,000 pairs at 32x128 + 64x64 are ~50 MB).
        self._pixels: dict[tuple[str, int], np.ndarray] | None = None

    def cache_images(self, enabled: bool = True) -> None:
        """Keep decoded, resized images in memory after their first read (per process)."""
        self._pixels = {} if enabled else None

    def _ground_pixels(self, index: int) -> np.ndarray:
        return _cached_chw(self._pixels, ("ground", index), lambda: _ground_pixels(
            self.table[index], self.spec, self.source_vfov_deg, self.fast_decode))

    def _tile_pixels(self, ref_index: int) -> np.ndarray:
        return _cached_chw(self._pixels, ("tile", ref_index), lambda: _tile_pixels(
            self.table.references[ref_index].path, self.spec.aerial_size, self.fast_decode))

    def _ground(self, index: int) -> Tensor:
        return _chw_to_tensor(self._ground_pixels(index))

    def _tile(self, ref_index: int) -> Tensor:
        return _chw_to_tensor(self._tile_pixels(ref_index))

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (augmentation, random FOV shifts) for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.table.split_counts().items())
        return (
            f"{type(self).__name__}(layout={self.table.layout!r}, root={str(self.table.root)!r}, "
            f"samples={len(self)} ({counts}), references={len(self.table.references)}, "
            f"ground_hw={tuple(self.spec.ground_hw)}, aerial_size={self.spec.aerial_size})"
        )


class PairDataset(_TableDataset):
    """Ground/aerial training pairs: the ground image and its *positive* tile.

    Sample keys: ``ground`` ``(3, Hg, Wg)`` (``Wg`` shrinks to ``round(fov/360 Wg)`` with a FOV
    crop), ``aerial`` ``(3, S, S)``, ``index``, ``id``, ``ref_index`` (positive reference),
    ``latlon`` / ``utm`` float64 ``(2,)`` (NaN unknown), ``yaw_deg`` (NaN unknown), ``rot90_k``,
    ``flipped`` and ``fov_shift`` when a FOV crop was applied. Images are decoded in full
    (``fast_decode=False``): training keeps the exact pixels of a full decode plus area resize.
    """

    def __init__(
        self,
        table: PairTable,
        spec: InputSpec,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        fast_decode: bool = False,
    ) -> None:
        if table.extras.get("queries_only"):
            raise ConfigError(
                f"PairDataset: {table.layout} table at {table.root} has no aerial "
                "references (query-only); use GroundDataset"
            )
        super().__init__(table, spec, seed, fast_decode)
        self.augment = augment

    def without_augmentation(self) -> PairDataset:
        """Return the same pairs without augmentation, sharing this dataset's image cache."""
        clean = PairDataset(self.table, self.spec, None, seed=self.seed,
                            fast_decode=self.fast_decode)
        clean._pixels = self._pixels
        return clean

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.table[index]
        ground = self._ground(index)
        aerial = self._tile(pair.positive)
        extra: dict[str, Any] = {}
        if self.augment is not None:
            gen = sample_generator(self.seed, self.epoch, index)
            aerial, ground, extra = augment_pair(aerial, ground, self.augment, gen)
        latlon, utm = _coords(pair)
        return {
            "ground": ground,
            "aerial": aerial,
            "index": index,
            "id": pair.id,
            "ref_index": pair.positive,
            "latlon": latlon,
            "utm": utm,
            "yaw_deg": float("nan") if pair.yaw_deg is None else float(pair.yaw_deg),
            **extra,
        }


class GroundDataset(_TableDataset):
    """Ground queries only (for embedding): ``image``, ``index``, ``id`` (+ ``fov_shift``).

    Args:
        table: The pairs whose ground images to read.
        spec: The method's input spec.
        fov_deg: Crop panoramas to this horizontal FOV after resizing (``None`` = full).
        shift: ``"random"`` draws an unknown shift per sample from ``(seed, index)`` (fixed across
            runs, as in DSM's evaluation), an integer fixes it for every sample.
        seed: Seed of the random shifts.
        fast_decode: Decode JPEGs of at least twice ``spec.ground_hw`` at a reduced DCT scale
            (module docstring); ``False`` gives the training pipeline's exact pixels.

    """

    def __init__(
        self,
        table: PairTable,
        spec: InputSpec,
        fov_deg: float | None = None,
        shift: int | str = "random",
        seed: int = 0,
        fast_decode: bool = False,
    ) -> None:
        super().__init__(table, spec, seed, fast_decode)
        if fov_deg is not None and not 0.0 < fov_deg <= 360.0:
            raise ConfigError(f"GroundDataset: fov_deg must be in (0, 360], got {fov_deg}")
        if not (shift == "random" or isinstance(shift, int)):
            raise ConfigError(f"GroundDataset: shift must be 'random' or an integer, got {shift!r}")
        self.fov_deg = fov_deg
        self.shift = shift

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.table[index]
        image = self._ground(index)
        sample: dict[str, Any] = {"index": index, "id": pair.id}
        if self.fov_deg is not None and self.fov_deg < 360.0 and pair.fov_deg is None:
            fixed = None if self.shift == "random" else int(self.shift)
            image, sample["fov_shift"] = crop_fov(
                image, self.fov_deg, fixed, sample_generator(self.seed, self.epoch, index)
            )
        sample["image"] = image
        return sample

    def read_batch(self, indices: Sequence[int]) -> dict[str, Any]:
        """Read the samples at ``indices`` as one batch, collated as the default collate does.

        Images are stacked as uint8 and converted once (:func:`pixels_to_batch`); with a
        limited-FOV crop the samples are read one by one and collated.
        """
        indices = [int(i) for i in indices]
        if self.fov_deg is not None and self.fov_deg < 360.0:
            return default_collate([self[i] for i in indices])
        return {"index": torch.tensor(indices, dtype=torch.int64),
                "id": [self.table[i].id for i in indices],
                "image": pixels_to_batch([self._ground_pixels(i) for i in indices])}


class ReferenceDataset(Dataset):
    """Aerial references (tiles, galleries) to embed: ``image`` ``(3, S, S)``, ``index``, ``id``.

    ``fast_decode`` decodes JPEG tiles of at least twice ``spec.aerial_size`` at a reduced DCT
    scale (module docstring); ``False`` gives the training pipeline's exact pixels.
    """

    def __init__(self, table: PairTable, spec: InputSpec, fast_decode: bool = False) -> None:
        self.table = table
        self.spec = spec
        self.fast_decode = fast_decode
        self._pixels: dict[int, np.ndarray] | None = None

    def cache_images(self, enabled: bool = True) -> None:
        """Keep decoded, resized tiles in memory after their first read (per process)."""
        self._pixels = {} if enabled else None

    def __len__(self) -> int:
        return len(self.table.references)

    def _pixels_of(self, index: int) -> np.ndarray:
        return _cached_chw(self._pixels, index, lambda: _tile_pixels(
            self.table.references[index].path, self.spec.aerial_size, self.fast_decode))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": _chw_to_tensor(self._pixels_of(index)), "index": index,
                "id": self.table.references[index].id}

    def read_batch(self, indices: Sequence[int]) -> dict[str, Any]:
        """Read the samples at ``indices`` as one batch, collated as the default collate does."""
        indices = [int(i) for i in indices]
        return {"image": pixels_to_batch([self._pixels_of(i) for i in indices]),
                "index": torch.tensor(indices, dtype=torch.int64),
                "id": [self.table.references[i].id for i in indices]}

    def __repr__(self) -> str:
        return (
            f"ReferenceDataset(layout={self.table.layout!r}, root={str(self.table.root)!r}, "
            f"references={len(self)}, aerial_size={self.spec.aerial_size})"
        )
