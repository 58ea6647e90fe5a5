"""Colour maps of depth (and other scalar) images: pure tensor functions for files and videos."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from crossview.errors import ConfigError

DEPTH_COLOURMAP = "turbo"
"""Matplotlib colour map of depth images: near blue, far red."""


@functools.lru_cache(maxsize=4)
def _lut(name: str) -> Tensor:
    """``(256, 3)`` float32 colours of a matplotlib colour map."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ConfigError(f"colour map {name!r} is not a matplotlib colour map") from None
    return torch.tensor(cmap(torch.linspace(0, 1, 256).numpy())[:, :3], dtype=torch.float32)


def colour_depth(depth_m: Tensor, max_m: float, weight: Tensor | None = None,
                 cmap: str = DEPTH_COLOURMAP) -> Tensor:
    """Depth ``(B, 1, H, W)`` in metres -> colours ``(B, 3, H, W)`` in [0, 1].

    ``0 .. max_m`` spans the colour map (values beyond are clamped); ``weight`` ``(B, 1, H, W)``
    in [0, 1] (e.g. the rendered opacity) fades the colour to black where nothing was hit.
    """
    if depth_m.ndim != 4 or depth_m.shape[1] != 1:
        raise ConfigError(f"depth: expected (B, 1, H, W), got {tuple(depth_m.shape)}")
    if not max_m > 0:
        raise ConfigError(f"max_m: expected > 0, got {max_m}")
    lut = _lut(cmap).to(depth_m.device)
    index = (depth_m.float() / max_m).clamp(0, 1).mul(255).round().long()[:, 0]  # (B, H, W)
    colours = lut[index].permute(0, 3, 1, 2)
    if weight is not None:
        if weight.shape != depth_m.shape:
            raise ConfigError(f"weight: expected {tuple(depth_m.shape)} like the depth, got "
                              f"{tuple(weight.shape)}")
        colours = colours * weight.float().clamp(0, 1)
    return colours
