"""Per-view photometric augmentation: colour jitter, blur or sharpen, grid or coarse dropout.

These change one view's pixels and never its geometry, so each view draws its own (the two
cameras differ), and maps aligned with a view (sky, depth) are left as they are. Every random
choice comes from the sample's generator, so a sample is reproducible whatever the worker layout.
The operations follow what Sample4Geo's albumentations pipeline does (facts of its settings, own
implementation; see docs/training.md "Augmentation presets"):

- colour jitter: brightness, contrast, saturation factors in ``[1-s, 1+s]`` and a hue shift in
  ``[-h, h]`` of the colour circle, applied with probability ``p``;
- blur or sharpen (one of the two, equally likely): an anisotropic Gaussian blur with sigmas in
  ``[0.2, 1.0]`` px and an odd kernel of 3-7 px, or a 3x3 sharpening kernel
  ``[[-1,-1,-1],[-1,8+l,-1],[-1,-1,-1]]`` (lightness ``l`` in [0.5, 1]) blended with the image by
  ``alpha`` in [0.2, 0.5];
- grid or coarse dropout (one of the two, equally likely), filled with 0: a grid of cells of a
  tenth of the image side with a ``ratio``-sized hole in each cell's corner, or 10-25 holes of
  0.1-0.2 of the image height per side at random places.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BLUR_SIGMA = (0.2, 1.0)
"""Range of the Gaussian blur's per-axis sigma in pixels."""
BLUR_KERNELS = (3, 5, 7)
"""Odd kernel sizes the blur draws from."""
SHARPEN_ALPHA = (0.2, 0.5)
"""Blend of the sharpened image."""
SHARPEN_LIGHTNESS = (0.5, 1.0)
"""Lightness of the sharpening kernel's centre."""


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def _chance(generator: torch.Generator, p: float) -> bool:
    if p >= 1.0:  # no draw: a certain event leaves the generator's stream as it was
        return True
    return p > 0 and float(torch.rand(1, generator=generator)) < p


def color_jitter(image: Tensor, strength: float, generator: torch.Generator, hue: float = 0.0,
                 p: float = 1.0) -> Tensor:
    """Brightness, contrast, saturation factors in ``[1-s, 1+s]`` and hue in ``[-h, h]``.

    Args:
        image: ``(3, H, W)`` in [0, 1].
        strength: ``s`` (0: no brightness/contrast/saturation change).
        generator: The sample's generator.
        hue: ``h``, a fraction of the colour circle (at most 0.5).
        p: Probability of jittering at all.

    """
    if (strength <= 0 and hue <= 0) or not _chance(generator, p):
        return image
    from torchvision.transforms.v2 import functional as tvf

    factors = 1.0 + strength * (2.0 * torch.rand(3, generator=generator) - 1.0)
    shift = hue * (2.0 * float(torch.rand(1, generator=generator)) - 1.0)
    if strength > 0:
        image = tvf.adjust_brightness(image, float(factors[0]))
        image = tvf.adjust_contrast(image, float(factors[1]))
        image = tvf.adjust_saturation(image, float(factors[2]))
    if hue > 0:
        image = tvf.adjust_hue(image.clamp(0.0, 1.0), shift)
    return image.clamp(0.0, 1.0)


def gaussian_blur(image: Tensor, sigma_xy: tuple[float, float], kernel: int) -> Tensor:
    """Separable Gaussian blur of ``(C, H, W)`` with per-axis sigmas, reflect padding."""
    half = kernel // 2
    x = torch.arange(-half, half + 1, dtype=image.dtype)
    out = image[None]
    for axis, sigma in ((3, sigma_xy[0]), (2, sigma_xy[1])):
        w = torch.exp(-0.5 * (x / sigma) ** 2)
        w = (w / w.sum()).to(image.device)
        c = image.shape[0]
        one = (1, 1, 1, kernel) if axis == 3 else (1, 1, kernel, 1)
        shape = (c, 1, 1, kernel) if axis == 3 else (c, 1, kernel, 1)
        pad = (half, half, 0, 0) if axis == 3 else (0, 0, half, half)
        if min(out.shape[-2:]) > half:
            weight = w.view(one).expand(shape).contiguous()
            out = F.conv2d(F.pad(out, pad, mode="reflect"), weight, groups=c)
    return out[0]


def sharpen(image: Tensor, alpha: float, lightness: float) -> Tensor:
    """Blend ``(C, H, W)`` with its 3x3-kernel sharpened version by ``alpha``."""
    kernel = -torch.ones(3, 3, dtype=image.dtype)
    kernel[1, 1] = 8.0 + lightness
    identity = torch.zeros(3, 3, dtype=image.dtype)
    identity[1, 1] = 1.0
    k = ((1 - alpha) * identity + alpha * kernel).to(image.device)
    c = image.shape[0]
    if min(image.shape[-2:]) < 2:
        return image
    out = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="reflect"),
                   k.view(1, 1, 3, 3).expand(c, 1, 3, 3).contiguous(), groups=c)[0]
    return out.clamp(0.0, 1.0)


def blur_or_sharpen(image: Tensor, generator: torch.Generator, p: float) -> Tensor:
    """With probability ``p``, blur or sharpen (one of the two, equally likely)."""
    if not _chance(generator, p):
        return image
    if _chance(generator, 0.5):
        kernel = BLUR_KERNELS[int(torch.randint(len(BLUR_KERNELS), (1,), generator=generator))]
        sigmas = (_uniform(generator, *BLUR_SIGMA), _uniform(generator, *BLUR_SIGMA))
        return gaussian_blur(image, sigmas, kernel)
    return sharpen(image, _uniform(generator, *SHARPEN_ALPHA),
                   _uniform(generator, *SHARPEN_LIGHTNESS))


def grid_dropout(image: Tensor, ratio: float) -> Tensor:
    """Zero a ``ratio``-sized square in the top-left corner of each cell of a 10x10-ish grid."""
    h, w = image.shape[-2:]
    unit_h, unit_w = max(2, h // 10), max(2, w // 10)
    hole_h = min(max(1, int(unit_h * ratio)), unit_h - 1)
    hole_w = min(max(1, int(unit_w * ratio)), unit_w - 1)
    rows = (torch.arange(h) % unit_h) < hole_h
    cols = (torch.arange(w) % unit_w) < hole_w
    mask = (rows[:, None] & cols[None, :]).to(image.device)
    return image.masked_fill(mask, 0.0)


def coarse_dropout(image: Tensor, generator: torch.Generator, holes: tuple[int, int] = (10, 25),
                   size: tuple[float, float] = (0.1, 0.2)) -> Tensor:
    """Zero ``holes`` rectangles whose sides are ``size`` times the image height, at random."""
    h, w = image.shape[-2:]
    count = int(torch.randint(holes[0], holes[1] + 1, (1,), generator=generator))
    lo, hi = max(1, int(size[0] * h)), max(1, int(size[1] * h))
    out = image.clone()
    for _ in range(count):
        hh = min(h, int(torch.randint(lo, hi + 1, (1,), generator=generator)))
        ww = min(w, int(torch.randint(lo, hi + 1, (1,), generator=generator)))
        y = int(torch.randint(0, h - hh + 1, (1,), generator=generator))
        x = int(torch.randint(0, w - ww + 1, (1,), generator=generator))
        out[..., y:y + hh, x:x + ww] = 0.0
    return out


def dropout(image: Tensor, generator: torch.Generator, p: float, grid_ratio: float,
            holes: tuple[int, int] = (10, 25), size: tuple[float, float] = (0.1, 0.2)) -> Tensor:
    """With probability ``p``, grid or coarse dropout (one of the two, equally likely)."""
    if not _chance(generator, p):
        return image
    if _chance(generator, 0.5):
        return grid_dropout(image, grid_ratio)
    return coarse_dropout(image, generator, holes, size)
