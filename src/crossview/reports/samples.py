"""Sample images of a training run: grids of views per sample, written per evaluation step.

Pure functions (STYLE.md §14): a method's ``visualize`` composes its views with
:func:`sample_grid`; the trainer calls ``visualize`` at each evaluation and hands the images to
:func:`write_sample_images`, which writes ``RUN/samples/step_XXXXXXX_<key>.png`` (atomically) and a
TensorBoard image ``samples/<key>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from crossview.errors import CrossviewError
from crossview.io import save_image

SAMPLES_DIR = "samples"
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def sample_grid(rows: Sequence[Tensor | None], height: int | None = None) -> Tensor:
    """Stack, per sample, one row per view: ``(3, B * rows * H, W)`` in ``[0, 1]``.

    Each view ``(B, C, h, w)`` (``C`` 1 or 3; ``None`` entries are left out) is resized to
    ``height`` rows keeping its aspect ratio (antialiased), left-aligned, and padded on the right
    to the widest view. ``height`` defaults to the last view's height (e.g. a tile becomes an
    ``H x H`` square beside ``H x W`` panoramas).
    """
    views = [r for r in rows if r is not None]
    if not views:
        raise CrossviewError("sample_grid: no views to show")
    device = views[-1].device
    height = height or int(views[-1].shape[-2])
    scaled = []
    for view in views:
        if view.ndim != 4 or view.shape[1] not in (1, 3):
            raise CrossviewError(f"sample_grid: views must be (B, 1|3, H, W), got "
                                 f"{tuple(view.shape)}")
        view = view.detach().float().to(device)
        if view.shape[1] == 1:
            view = view.expand(-1, 3, -1, -1)
        width = max(1, round(view.shape[-1] * height / view.shape[-2]))
        if tuple(view.shape[-2:]) != (height, width):
            view = F.interpolate(view, size=(height, width), mode="bilinear",
                                 align_corners=False, antialias=True)
        scaled.append(view)
    width = max(v.shape[-1] for v in scaled)
    padded = [F.pad(v, (0, width - v.shape[-1])) for v in scaled]
    stacked = torch.stack(padded, dim=1)  # (B, rows, 3, H, W)
    b, n = stacked.shape[:2]
    return stacked.permute(2, 0, 1, 3, 4).reshape(3, b * n * height, width).clamp(0.0, 1.0)


def write_sample_images(images: Mapping[str, Any], step: int, out: str | Path,
                        writer: Any = None, owner: str = "method") -> list[Path]:
    """Write each ``(3, H, W)`` image of ``images`` for ``step``; returns the files.

    Keys become file names, so they must be file-name-safe; ``owner`` names the method in errors.
    """
    written = []
    for key, image in images.items():
        if not (isinstance(key, str) and _KEY.match(key)):
            raise CrossviewError(f"{owner}: visualize() key {key!r} is not a file-name-safe "
                                 "string (letters, digits, _ . -)")
        if not isinstance(image, Tensor) or image.ndim != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise CrossviewError(f"{owner}: visualize()[{key!r}] must be a (3, H, W) image "
                                 f"tensor, got {shape}")
        image = image.detach().float().clamp(0.0, 1.0).cpu()
        written.append(save_image(image, Path(out) / SAMPLES_DIR / f"step_{step:07d}_{key}.png"))
        if writer is not None:
            writer.add_image(f"{SAMPLES_DIR}/{key}", image, step)
    if writer is not None:
        writer.flush()
    return written
