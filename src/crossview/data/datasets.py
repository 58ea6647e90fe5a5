"""Torch datasets over a :class:`PairTable`: every image through the one input path.

Images are read by :mod:`crossview.data.inputs` from the method's
:class:`~crossview.data.inputs.InputSpec` (STYLE.md §2), exactly as ``locate``, ``index build``
and ``synthesize`` read them. Training pairs may then be augmented; random choices use a
generator seeded by ``(seed, epoch, index)``, so a sample is reproducible whatever the worker
layout. Limited-FOV crops (DSM evaluation, FOV augmentation) are padded back to the full
panorama width with the method's pad value (:func:`~crossview.data.inputs.pad_to_panorama`), as
limited-FOV queries are in ``locate``.

``fast_decode`` (off by default; an option of ``GroundDataset`` / ``ReferenceDataset`` and of
:func:`crossview.inference.embed_ground`) decodes large JPEGs at a reduced DCT scale
(:mod:`crossview.data.inputs`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from crossview.data.augment import AugmentConfig, augment_views, crop_fov, rotate_pair
from crossview.data.inputs import (
    EXTRAS,
    InputSpec,
    aerial_map,
    aerial_pixels,
    ground_map,
    ground_pixels,
    pad_to_panorama,
    pixels_to_batch,
    pixels_to_tensor,
    reference_source,
)
from crossview.data.pixel_cache import DiskPixelCache, MemoryPixelCache, disk_cache_for
from crossview.data.queries import (
    QueryConfig,
    apply_query,
    draw_query,
    query_record,
    twin_rotation,
)
from crossview.data.table import Pair, PairTable
from crossview.errors import ConfigError

PixelCache = MemoryPixelCache | DiskPixelCache


def _cached(cache: PixelCache | None, key: Any, read: Callable[[], np.ndarray]) -> np.ndarray:
    """``read()`` (``3 x H x W`` uint8), through ``cache`` when caching is on."""
    return read() if cache is None else cache.get(key, read)


def make_pixel_cache(mode: bool | str, table: PairTable, spec: InputSpec,
                     kinds: Sequence[str] = ("ground", "tile"), cache_dir: str | None = None,
                     fast_decode: bool = False) -> PixelCache | None:
    """The pixel cache ``mode`` asks for, for the images of ``table`` read with ``spec``.

    ``False``/``None``: none; ``True``/``"memory"``; ``"disk"``
    (:mod:`crossview.data.pixel_cache`).
    """
    if mode in (False, None, "none"):
        return None
    if mode in (True, "memory"):
        return MemoryPixelCache()
    if mode != "disk":
        raise ConfigError(f"cache_images: expected false, true, 'memory' or 'disk', got {mode!r}")
    shapes = {}
    files: list[Any] = []
    if "ground" in kinds:
        shapes["ground"] = (len(table.pairs), (3, *spec.ground_hw))
        files += [p.ground for p in table.pairs]
    if "tile" in kinds:
        shapes["tile"] = (len(table.references), (3, spec.aerial_size, spec.aerial_size))
        files += [r.path for r in table.references]
    key = {"spec": dataclasses.asdict(spec), "source_vfov": table.extras.get("ground_vfov_deg"),
           "fov": [p.fov_deg for p in table.pairs] if "ground" in kinds else [],
           "fast_decode": fast_decode}
    return disk_cache_for(cache_dir, files, key, shapes)


def read_ground(pair: Pair, spec: InputSpec, source_vfov_deg: float | None,
                fast_decode: bool = False) -> np.ndarray:
    """A pair's ground image as ``3 x H x W`` uint8 (panoramas band-cropped, photos not).

    A photo method (``spec.photo_fov_deg``) gets the photo scaled by its own ``pair.fov_deg``.
    """
    photo_fov = pair.fov_deg if spec.photo_fov_deg is not None else None
    return ground_pixels(pair.ground, spec, source_vfov_deg=source_vfov_deg, fov_deg=photo_fov,
                         band_crop=pair.fov_deg is None, fast_decode=fast_decode)


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
        # thousand small images fit in memory (2,000 pairs at 32x128 + 64x64 are ~50 MB); at
        # paper sizes a disk cache shared by every worker does the same.
        self._pixels: PixelCache | None = None

    def cache_images(self, enabled: bool | str = True, cache_dir: str | None = None) -> None:
        """Decode each image once, with the cache ``enabled`` names.

        ``True``/``"memory"`` (per process), ``"disk"`` (shared memory-mapped files under
        ``cache_dir``) or ``False`` (no cache).
        """
        self._pixels = make_pixel_cache(enabled, self.table, self.spec, cache_dir=cache_dir,
                                        fast_decode=self.fast_decode)

    def _ground_pixels(self, index: int) -> np.ndarray:
        return _cached(self._pixels, ("ground", index), lambda: read_ground(
            self.table[index], self.spec, self.source_vfov_deg, self.fast_decode))

    def _tile_pixels(self, ref_index: int) -> np.ndarray:
        return _cached(self._pixels, ("tile", ref_index), lambda: aerial_pixels(
            reference_source(self.table.references[ref_index]), self.spec,
            fast_decode=self.fast_decode))

    def _ground(self, index: int) -> Tensor:
        return pixels_to_tensor(self._ground_pixels(index))

    def _tile(self, ref_index: int) -> Tensor:
        return pixels_to_tensor(self._tile_pixels(ref_index))

    def _full_width(self, ground: Tensor) -> Tensor:
        """A limited-FOV crop padded back to the panorama width (no-op for full panoramas)."""
        return pad_to_panorama(ground, self.spec.ground_hw[1], self.spec.pad_rgb)

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

    Sample keys: ``ground`` ``(3, Hg, Wg)`` (a FOV crop is padded back to ``Wg`` columns with
    the method's pad value), ``aerial`` ``(3, S, S)``, ``index``, ``id``, ``ref_index``
    (positive reference), ``latlon`` / ``utm`` float64 ``(2,)`` (NaN unknown), ``yaw_deg`` (NaN
    unknown), ``rot90_k``, ``flipped`` and ``fov_shift`` when a FOV crop was applied, the
    query record (``query_fov_deg``, ``query_heading_deg``, ``query_pinhole``,
    ``query_pitch_deg``) and, with ``query.rotation_negatives``, ``ground_twin`` /
    ``aerial_twin`` when query conditions are on (:mod:`crossview.data.queries`), and each
    extra map of ``spec.extras`` the data provides (:data:`~crossview.data.inputs.EXTRAS`;
    :attr:`extras` lists them). An extra that some pairs have and others lack is an error naming
    a pair without it, never a silently missing key. Images are decoded in full
    (``fast_decode=False``): training keeps the exact pixels of a full decode plus area resize.
    """

    def __init__(
        self,
        table: PairTable,
        spec: InputSpec,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        fast_decode: bool = False,
        query: QueryConfig | None = None,
    ) -> None:
        if table.extras.get("queries_only"):
            raise ConfigError(
                f"PairDataset: {table.layout} table at {table.root} has no aerial "
                "references (query-only); use GroundDataset"
            )
        super().__init__(table, spec, seed, fast_decode)
        self.augment = augment
        self.extras = available_extras(table, spec.extras)
        self.query = query if query is not None and query.active else None
        if self.query is not None and augment is not None and augment.fov_deg is not None:
            raise ConfigError("train.augment.fov_deg and train.query both limit the field of "
                              "view; use train.query.fov_deg only")
        if self.query is not None and self.extras:
            raise ConfigError(f"train.query: query conditions cannot transform the ground extras "
                              f"{self.extras} of this method")

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
        maps = {name: self._extra(name, pair) for name in self.extras}
        extra: dict[str, Any] = {}
        gen = sample_generator(self.seed, self.epoch, index)
        if self.augment is not None:
            g_names = [n for n in maps if EXTRAS[n][0] == "ground"]
            a_names = [n for n in maps if EXTRAS[n][0] == "aerial"]
            aerial, ground, a_maps, g_maps, extra = augment_views(
                aerial, ground, self.augment, gen, [maps[n] for n in a_names],
                [maps[n] for n in g_names])
            ground = self._full_width(ground)
            width = self.spec.ground_hw[1]
            maps = {**dict(zip(a_names, a_maps, strict=True)),
                    **{n: pad_to_panorama(m, width, (0.0,) * m.shape[0])
                       for n, m in zip(g_names, g_maps, strict=True)}}
        if self.query is not None:  # after augmentation: on the full, north-aligned panorama
            ground, aerial, extra = self._query(ground, aerial, gen, extra)
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
            **maps,
            **extra,
        }

    def _query(self, ground: Tensor, aerial: Tensor, gen: torch.Generator,
               extra: dict[str, Any]) -> tuple[Tensor, Tensor, dict[str, Any]]:
        """Turn the (augmented, full) panorama into a query; add its twin when asked."""
        assert self.query is not None
        draw = draw_query(self.query, ground.shape[-1], gen)
        out = {**extra, **query_record(draw)}
        if self.query.rotation_negatives:
            tile_twin, pano_twin = rotate_pair(aerial, ground, twin_rotation(gen))
            out["aerial_twin"] = tile_twin
            out["ground_twin"] = apply_query(pano_twin, draw, self.spec)
        return apply_query(ground, draw, self.spec), aerial, out

    def _extra(self, name: str, pair: Pair) -> Tensor:
        view, key = EXTRAS[name]
        if view == "ground":
            return ground_map(pair.extras[key], name, self.spec,
                              source_vfov_deg=self.source_vfov_deg, band_crop=pair.fov_deg is None)
        ref = self.table.references[pair.positive]
        return aerial_map(ref.extras[key], self.spec, self.table.extras.get("semantic_colours"))


def available_extras(table: PairTable, names: Sequence[str]) -> list[str]:
    """The extras among ``names`` that every pair of ``table`` has (their files are recorded).

    Raises:
        ConfigError: some pairs have an extra and others do not (named).

    """
    found = []
    for name in names:
        view, key = EXTRAS[name]
        if view == "ground":
            have = [key in p.extras for p in table.pairs]
        else:
            have = [key in table.references[p.positive].extras for p in table.pairs]
        if all(have) and have:
            found.append(name)
        elif any(have):
            missing = table.pairs[have.index(False)]
            raise ConfigError(f"{table.layout} {table.root}: pair {missing.id} has no {name!r} "
                              f"file while others do ({sum(have)} of {len(have)})")
    return found


class GroundDataset(_TableDataset):
    """Ground queries only (for embedding): ``image``, ``index``, ``id`` (+ ``fov_shift``).

    Args:
        table: The pairs whose ground images to read.
        spec: The method's input spec.
        fov_deg: Crop panoramas to this horizontal FOV after resizing (``None`` = full); the crop
            is padded back to the full width, centred on column ``W/2``.
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
        if fov_deg is not None and spec.photo_fov_deg is not None:
            raise ConfigError("GroundDataset: fov_deg crops panoramas; a photo method scales "
                              "each photo by its own FOV (Pair.fov_deg)")
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
            image = self._full_width(image)
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
        self._pixels: PixelCache | None = None

    def cache_images(self, enabled: bool | str = True, cache_dir: str | None = None) -> None:
        """Decode each tile once (see :meth:`PairDataset.cache_images`)."""
        self._pixels = make_pixel_cache(enabled, self.table, self.spec, ("tile",), cache_dir,
                                        self.fast_decode)

    def __len__(self) -> int:
        return len(self.table.references)

    def _pixels_of(self, index: int) -> np.ndarray:
        return _cached(self._pixels, ("tile", index), lambda: aerial_pixels(
            reference_source(self.table.references[index]), self.spec,
            fast_decode=self.fast_decode))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": pixels_to_tensor(self._pixels_of(index)), "index": index,
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


class QueryTileDataset(Dataset):
    """The *queries* of a table whose queries are aerial images, read as tiles.

    University-1652 ``sat2drone``: ``Pair.ground`` holds the satellite query image; it goes
    through the aerial input path (``aerial_pixels``) to the method's aerial encoder. Samples as
    :class:`ReferenceDataset`: ``image`` ``(3, S, S)``, ``index``, ``id``.
    """

    def __init__(self, table: PairTable, spec: InputSpec) -> None:
        self.table = table
        self.spec = spec

    def __len__(self) -> int:
        return len(self.table.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        batch = self.read_batch([index])
        return {**batch, "image": batch["image"][0], "index": index, "id": batch["id"][0]}

    def read_batch(self, indices: Sequence[int]) -> dict[str, Any]:
        """Read the samples at ``indices`` as one batch."""
        indices = [int(i) for i in indices]
        return {"image": pixels_to_batch([aerial_pixels(self.table.pairs[i].ground, self.spec)
                                          for i in indices]),
                "index": torch.tensor(indices, dtype=torch.int64),
                "id": [self.table.pairs[i].id for i in indices]}


class ReferenceGroundDataset(Dataset):
    """The *references* of a table whose gallery holds ground-level images (drone views).

    University-1652 ``sat2drone``: the gallery's drone images go through the ground input path
    (no band crop) to the method's ground encoder. Samples: ``image`` ``(3, Hg, Wg)``, ``index``,
    ``id``.
    """

    def __init__(self, table: PairTable, spec: InputSpec) -> None:
        self.table = table
        self.spec = spec

    def __len__(self) -> int:
        return len(self.table.references)

    def __getitem__(self, index: int) -> dict[str, Any]:
        batch = self.read_batch([index])
        return {**batch, "image": batch["image"][0], "index": index, "id": batch["id"][0]}

    def read_batch(self, indices: Sequence[int]) -> dict[str, Any]:
        """Read the samples at ``indices`` as one batch."""
        indices = [int(i) for i in indices]
        refs = self.table.references
        return {"image": pixels_to_batch([ground_pixels(refs[i].path, self.spec, band_crop=False)
                                          for i in indices]),
                "index": torch.tensor(indices, dtype=torch.int64),
                "id": [refs[i].id for i in indices]}
