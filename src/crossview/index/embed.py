"""Image preparation and batched embedding for the index and ``locate``.

Preprocessing comes from the method's ``input_spec`` (STYLE.md §2): tiles are resized to
``aerial_size`` (north-up, no polar transform here: methods do that inside ``encode_aerial``),
ground images to ``ground_hw``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from crossview.errors import CrossviewError


def load_query(path: str | Path, vfov_deg: float | None, target_vfov_deg: float) -> torch.Tensor:
    """Read a query as ``(3, h, w)`` in [0, 1].

    A panorama spanning ``vfov_deg`` vertically is
    cropped to the method's ``target_vfov_deg`` band around the horizon, as in training.
    """
    from crossview.data.datasets import crop_vfov_rows
    from crossview.io import image_to_tensor, read_image

    img = read_image(path)
    return image_to_tensor(np.array(crop_vfov_rows(img, vfov_deg, target_vfov_deg)))


def resize(image: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize a ``(3, H, W)`` image to ``hw`` (bilinear with antialiasing; no-op if equal)."""
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(
        image[None], size=tuple(hw), mode="bilinear", antialias=True, align_corners=False
    )[0]


def load_tiles(paths: Sequence[str | Path], size: int) -> torch.Tensor:
    """Read tiles as a ``(B, 3, size, size)`` batch in [0, 1], decoded as in training."""
    from crossview.data.datasets import load_tile  # the training pipeline's own tile decoder

    return torch.stack([load_tile(path, size) for path in paths])


@torch.no_grad()
def encode(
    encoder: torch.nn.Module | object, batch: torch.Tensor, device: torch.device, which: str
) -> np.ndarray:
    """Run ``encoder.encode_<which>`` on ``batch`` and return float32 numpy ``(B, D)``.

    Raises:
        CrossviewError: when the method returns non-finite descriptors (a broken checkpoint).

    """
    fn = getattr(encoder, f"encode_{which}")
    desc = fn(batch.to(device)).float().cpu().numpy()
    if not np.isfinite(desc).all():
        raise CrossviewError(f"method produced NaN/inf {which} descriptors")
    return desc
