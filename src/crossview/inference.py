"""Batched descriptor extraction shared by the trainer, ``eval``, ``embed`` and ``index build``.

Descriptors come out as L2-normalised float32 rows ``(N, D)`` in dataset order (DESIGN.md
"Tensors"). A :class:`~crossview.data.table.PairTable` is wrapped in the data package's
``GroundDataset`` / ``ReferenceDataset`` with the method's own ``input_spec``; any dataset
whose samples are dicts with an ``image`` (or ``ground`` / ``aerial``) tensor works too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from crossview.device import autocast_dtype, get_device
from crossview.errors import ConfigError, CrossviewError
from crossview.methods.base import Method
from crossview.progress import track

logger = logging.getLogger(__name__)


def _as_dataset(method: Method, data: Any, view: str, fov_deg: float | None = None) -> Dataset:
    """Wrap a PairTable into the ground/reference dataset of ``method``'s input spec."""
    from crossview.data.table import PairTable

    if not isinstance(data, PairTable):
        if fov_deg is not None:
            raise ConfigError("fov_deg needs a PairTable (or build GroundDataset(fov_deg=...))")
        return data
    from crossview.data.datasets import GroundDataset, ReferenceDataset

    spec = method.input_spec
    if view == "ground":
        return GroundDataset(data, spec, fov_deg=fov_deg)
    return ReferenceDataset(data, spec)


def _image_of(sample: dict[str, Any], view: str) -> Tensor:
    for key in ("image", view):
        if key in sample:
            return sample[key]
    raise ConfigError(f"{view} dataset samples have no 'image' or {view!r} key: {sorted(sample)}")


@torch.inference_mode()
def _embed(
    encode: Callable[[Tensor], Tensor],
    method: Method,
    dataset: Dataset,
    view: str,
    batch_size: int,
    device: torch.device,
    num_workers: int,
) -> np.ndarray:
    """Run ``encode`` over ``dataset`` in batches; returns float32 ``(N, D)``."""
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    dtype = autocast_dtype(device)
    was_training = method.training
    method.eval()
    chunks: list[np.ndarray] = []
    try:
        total = math.ceil(len(dataset) / batch_size)  # type: ignore[arg-type]
        for batch in track(loader, f"embedding {view}", total=total):
            images = _image_of(batch, view).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = encode(images)
            desc = out.float().cpu().numpy()
            if desc.ndim != 2 or desc.shape[0] != images.shape[0]:
                raise CrossviewError(f"{view} encoder returned shape {desc.shape}, expected (B, D)")
            if not np.isfinite(desc).all():
                ids = batch.get("id", batch.get("index"))
                raise CrossviewError(
                    f"{view} descriptors contain NaN/inf (batch ids {list(ids)[:4]})"
                )
            chunks.append(desc)
    finally:
        method.train(was_training)
    if not chunks:
        return np.zeros((0, int(method.descriptor_dim)), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def embed_ground(
    method: Method,
    dataset_or_table: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    fov_deg: float | None = None,
    num_workers: int = 0,
) -> np.ndarray:
    """Descriptors of the ground images: float32 ``(N, D)``, one row per pair, in table order.

    Args:
        method: A :class:`~crossview.methods.base.Method` (moved to ``device``; eval mode during
            the call, its training flag restored after).
        dataset_or_table: A ``PairTable`` (wrapped in ``GroundDataset``) or a dataset of dicts.
        batch_size: Images per forward pass.
        device: Device; ``None`` uses :func:`crossview.device.get_device`.
        fov_deg: Limited horizontal field of view: panoramas are cropped to ``fov_deg`` columns
            at a seeded random (unknown) shift per image (``GroundDataset``; tables only).
        num_workers: DataLoader workers.

    """
    device = get_device(device)
    method.to(device)
    dataset = _as_dataset(method, dataset_or_table, "ground", fov_deg)
    return _embed(method.encode_ground, method, dataset, "ground", batch_size, device, num_workers)


def embed_aerial(
    method: Method,
    dataset_or_table: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> np.ndarray:
    """Descriptors of the aerial references: float32 ``(M, D)`` in ``table.references`` order.

    Args:
        method: A :class:`~crossview.methods.base.Method`.
        dataset_or_table: A ``PairTable`` (wrapped in ``ReferenceDataset``) or a dataset of dicts.
        batch_size: Tiles per forward pass.
        device: Device; ``None`` uses :func:`crossview.device.get_device`.
        num_workers: DataLoader workers.

    """
    device = get_device(device)
    method.to(device)
    dataset = _as_dataset(method, dataset_or_table, "aerial")
    return _embed(method.encode_aerial, method, dataset, "aerial", batch_size, device, num_workers)
