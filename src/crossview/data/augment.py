"""Synchronized augmentation of (aerial tile, ground panorama) pairs (DESIGN.md "Conventions").

- Rotation: rotating the north-up tile counter-clockwise by ``k * 90`` degrees (``np.rot90``
  semantics) is the same scene seen with the panorama rolled by ``-k * W / 4`` columns.
- Flip: a left-right flip of the tile mirrors east and west; the panorama is mirrored about its
  north column (column ``W/2``): column ``j`` takes column ``(W - j) mod W``, so bearings map
  exactly ``b -> -b`` (a plain ``flip`` would also shift the panorama by one column).
- Limited field of view (SPECS.md §1, DSM): keep ``crop[:, j] = pano[:, (j - shift) mod W]`` for
  the first ``round(fov / 360 * W)`` columns, with a random (unknown orientation) or fixed shift.
- Colour jitter, blur / sharpen and grid / coarse dropout are drawn independently per view (the
  two cameras differ; :mod:`crossview.data.photometric`), as is ``aerial_rot90_prob``'s rotation
  of the aerial view alone (University-1652, where no geometry ties the two views' headings).
- Named presets of these fields (one per paper: ``sample4geo``, ``clnet``, ``cde`` ...) are in
  :mod:`crossview.data.augment_presets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from crossview.config import Config
from crossview.errors import ConfigError


@dataclasses.dataclass
class AugmentConfig(Config):
    """Training-time augmentation; every probability 0 means no augmentation."""

    rot90_prob: float = 0.0
    """Probability of a synchronized rotation by a random non-zero multiple of 90 degrees."""
    flip_prob: float = 0.0
    """Probability of a synchronized horizontal flip."""
    ground_jitter: float = 0.0
    """Colour jitter strength of the ground view: brightness/contrast/saturation in [1-s, 1+s]."""
    aerial_jitter: float = 0.0
    """Colour jitter strength of the aerial view."""
    fov_deg: float | None = None
    """Keep only this horizontal field of view of the panorama (``None`` = full 360)."""
    fov_shift: int | Literal["random"] = "random"
    """Column shift of the FOV crop: ``"random"`` (unknown orientation) or a fixed integer."""
    jitter_prob: float = 1.0
    """Probability of the colour jitter, per view (Sample4Geo: 0.5)."""
    jitter_hue: float = 0.0
    """Hue shift range of the colour jitter, a fraction of the colour circle (Sample4Geo: 0.15)."""
    blur_sharpen_prob: float = 0.0
    """Probability of a blur or a sharpening (one of the two), per view (Sample4Geo: 0.3)."""
    dropout_prob: float = 0.0
    """Probability of a grid or a coarse dropout (one of the two), per view (Sample4Geo: 0.3)."""
    ground_grid_ratio: float = 0.5
    """Hole size of the ground view's grid dropout, relative to its cells (Sample4Geo: 0.5)."""
    aerial_grid_ratio: float = 0.4
    """Hole size of the aerial view's grid dropout (Sample4Geo: 0.4)."""
    coarse_holes: tuple[int, int] = (10, 25)
    """Number of coarse-dropout holes, drawn in this range."""
    coarse_size: tuple[float, float] = (0.1, 0.2)
    """Side of a coarse-dropout hole relative to the image height, drawn in this range."""
    aerial_rot90_prob: float = 0.0
    """Probability of rotating the aerial view alone by k * 90 degrees, k uniform in 0-3
    (University-1652; never with a panorama, whose heading the tile must keep)."""

    def __post_init__(self) -> None:
        for name in ("rot90_prob", "flip_prob", "jitter_prob", "blur_sharpen_prob",
                     "dropout_prob", "aerial_rot90_prob", "ground_grid_ratio",
                     "aerial_grid_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"AugmentConfig.{name}: must be in [0, 1], got {getattr(self, name)}"
                )
        for name in ("ground_jitter", "aerial_jitter"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"AugmentConfig.{name}: must be in [0, 1), got {getattr(self, name)}"
                )
        if not 0.0 <= self.jitter_hue <= 0.5:
            raise ConfigError(f"AugmentConfig.jitter_hue: must be in [0, 0.5], got "
                              f"{self.jitter_hue}")
        if not (1 <= self.coarse_holes[0] <= self.coarse_holes[1]
                and 0.0 < self.coarse_size[0] <= self.coarse_size[1] <= 1.0):
            raise ConfigError(f"AugmentConfig.coarse_holes / coarse_size: expected 1 <= lo <= hi "
                              f"and 0 < lo <= hi <= 1, got {self.coarse_holes} / "
                              f"{self.coarse_size}")
        if self.fov_deg is not None and not 0.0 < self.fov_deg <= 360.0:
            raise ConfigError(f"AugmentConfig.fov_deg: must be in (0, 360], got {self.fov_deg}")


def rotate_pair(tile: Tensor, pano: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Rotate ``tile`` ``(..., S, S)`` CCW by ``k*90`` deg; roll ``pano`` ``(..., H, W)`` to match.

    Raises:
        ConfigError: The panorama width is not divisible by 4.

    """
    width = pano.shape[-1]
    if width % 4:
        raise ConfigError(f"rotate_pair: panorama width {width} is not divisible by 4")
    k = int(k) % 4
    return torch.rot90(tile, k, dims=(-2, -1)), torch.roll(pano, -k * width // 4, dims=-1)


def flip_pair(tile: Tensor, pano: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror ``tile`` left-right and ``pano`` about its north column (see module docstring)."""
    mirrored = torch.roll(torch.flip(pano, dims=(-1,)), 1, dims=-1)  # column j <- (W - j) mod W
    return torch.flip(tile, dims=(-1,)), mirrored


def crop_fov(
    pano: Tensor, fov_deg: float, shift: int | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, int]:
    """Limited-FOV crop of one panorama ``(C, H, W)`` -> ``(C, H, int(fov/360 W))`` and its shift.

    Wraps :func:`crossview.geometry.panorama.crop_fov` (batched) for a single sample;
    ``shift=None`` draws a uniform random shift in ``[0, W)`` from ``generator``.
    """
    from crossview.geometry.panorama import crop_fov as batched_crop_fov

    crop, used = batched_crop_fov(pano.unsqueeze(0), fov_deg, shift=shift, generator=generator)
    return crop[0], int(used[0])


def color_jitter(image: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """Random brightness, contrast and saturation factors in ``[1-s, 1+s]`` on ``(3, H, W)``."""
    if strength <= 0:
        return image
    from torchvision.transforms.v2 import functional as tvf

    factors = 1.0 + strength * (2.0 * torch.rand(3, generator=generator) - 1.0)
    image = tvf.adjust_brightness(image, float(factors[0]))
    image = tvf.adjust_contrast(image, float(factors[1]))
    image = tvf.adjust_saturation(image, float(factors[2]))
    return image.clamp_(0.0, 1.0)


def augment_pair(
    tile: Tensor, pano: Tensor, config: AugmentConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor, dict[str, int]]:
    """Apply ``config`` to one pair; returns the new tile, panorama and what was applied.

    The applied record has ``rot90_k`` (0-3), ``flipped`` (0/1) and, when a FOV crop was made,
    ``fov_shift``. The FOV crop comes last so rotation/flip act on the full panorama.
    """
    tile, pano, _, _, applied = augment_views(tile, pano, config, generator)
    return tile, pano, applied


def augment_views(
    tile: Tensor,
    pano: Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    tile_maps: Sequence[Tensor] = (),
    pano_maps: Sequence[Tensor] = (),
) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor], dict[str, int]]:
    """:func:`augment_pair` plus maps aligned with either view (sky masks, depth, semantics).

    Maps ``(C, S, S)`` / ``(C, H, W)`` get the same flip, rotation and FOV crop as their view,
    never the colour jitter. Returns the tile, the panorama, their maps and what was applied.
    """
    t_split = [tile.shape[0], *(m.shape[0] for m in tile_maps)]
    p_split = [pano.shape[0], *(m.shape[0] for m in pano_maps)]
    tiles = torch.cat([tile, *(m.to(tile.dtype) for m in tile_maps)])
    panos = torch.cat([pano, *(m.to(pano.dtype) for m in pano_maps)])
    applied: dict[str, int] = {"rot90_k": 0, "flipped": 0}
    if config.flip_prob > 0 and float(torch.rand(1, generator=generator)) < config.flip_prob:
        tiles, panos = flip_pair(tiles, panos)
        applied["flipped"] = 1
    if config.rot90_prob > 0 and float(torch.rand(1, generator=generator)) < config.rot90_prob:
        k = int(torch.randint(1, 4, (1,), generator=generator))
        tiles, panos = rotate_pair(tiles, panos, k)
        applied["rot90_k"] = k
    tile, *tile_out = torch.split(tiles, t_split)
    pano, *pano_out = torch.split(panos, p_split)
    pano = _photometric(pano, config, generator, "ground")
    tile = _photometric(tile, config, generator, "aerial")
    if config.aerial_rot90_prob > 0:  # the key is always there, so batches collate
        k = 0
        if float(torch.rand(1, generator=generator)) < config.aerial_rot90_prob:
            k = int(torch.randint(0, 4, (1,), generator=generator))
        tile = torch.rot90(tile, k, dims=(-2, -1))
        tile_out = [torch.rot90(m, k, dims=(-2, -1)) for m in tile_out]
        applied["aerial_rot90_k"] = k
    if config.fov_deg is not None and config.fov_deg < 360.0:
        fixed = None if config.fov_shift == "random" else int(config.fov_shift)
        pano, shift = crop_fov(pano, config.fov_deg, fixed, generator)
        applied["fov_shift"] = shift
        pano_out = [crop_fov(m, config.fov_deg, shift)[0] for m in pano_out]
    return tile, pano, list(tile_out), list(pano_out), applied


def _photometric(image: Tensor, config: AugmentConfig, generator: torch.Generator,
                 view: Literal["ground", "aerial"]) -> Tensor:
    """The per-view photometric augmentation of ``config`` (:mod:`crossview.data.photometric`)."""
    from crossview.data import photometric as ph

    strength = config.ground_jitter if view == "ground" else config.aerial_jitter
    if strength > 0 and config.jitter_prob >= 1.0 and config.jitter_hue == 0:
        image = color_jitter(image, strength, generator)  # the original draws, kept bit for bit
    elif strength > 0 or config.jitter_hue > 0:
        image = ph.color_jitter(image, strength, generator, config.jitter_hue, config.jitter_prob)
    image = ph.blur_or_sharpen(image, generator, config.blur_sharpen_prob)
    ratio = config.ground_grid_ratio if view == "ground" else config.aerial_grid_ratio
    return ph.dropout(image, generator, config.dropout_prob, ratio, config.coarse_holes,
                      config.coarse_size)
