"""Batched descriptor extraction shared by the trainer, ``eval``, ``embed`` and ``index build``.

Descriptors come out as L2-normalised float32 rows ``(N, D)`` in dataset order (DESIGN.md
"Tensors"). A :class:`~crossview.data.table.PairTable` is wrapped in the data package's
``GroundDataset`` / ``ReferenceDataset`` with the method's own ``input_spec``; any dataset
whose samples are dicts with an ``image`` (or ``ground`` / ``aerial``) tensor works too.

By default tables are read exactly as in training (and as ``index build`` and ``locate`` read
images), so descriptors of one image never depend on the path that embedded it. ``fast_decode=True``
decodes JPEGs at least twice the input size at a reduced DCT scale, which at small input sizes
(the ``tiny`` presets) makes reading an image about 1.7x faster; pixels then differ slightly from
the full decode (about 1/255 on average, :func:`crossview.io.read_image`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

from crossview.device import autocast_dtype, get_device
from crossview.errors import ConfigError, CrossviewError
from crossview.methods.base import Method
from crossview.progress import track

logger = logging.getLogger(__name__)


def _as_dataset(
    method: Method, data: Any, view: str, fov_deg: float | None = None, fast_decode: bool = False
) -> Dataset:
    """Wrap a PairTable into the ground/reference dataset of ``method``'s input spec."""
    from crossview.data.table import PairTable

    if not isinstance(data, PairTable):
        if fov_deg is not None:
            raise ConfigError("fov_deg needs a PairTable (or build GroundDataset(fov_deg=...))")
        return data
    from crossview.data.datasets import GroundDataset, ReferenceDataset

    spec = method.input_spec
    if view == "ground":
        return GroundDataset(data, spec, fov_deg=fov_deg, fast_decode=fast_decode)
    return ReferenceDataset(data, spec, fast_decode=fast_decode)


def _image_of(sample: dict[str, Any], view: str) -> Tensor:
    for key in ("image", view):
        if key in sample:
            return sample[key]
    raise ConfigError(f"{view} dataset samples have no 'image' or {view!r} key: {sorted(sample)}")


class _BatchReader(Dataset):
    """Index a dataset with ``read_batch`` by lists of indices (one fetch per batch)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __getitem__(self, indices: list[int]) -> dict[str, Any]:
        return self.dataset.read_batch(indices)


def _as_is(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


def _batches(dataset: Dataset, batch_size: int, num_workers: int, pin: bool) -> Iterable[Any]:
    """Batches of ``dataset`` in order: whole-batch reads where the dataset has ``read_batch``."""
    if not hasattr(dataset, "read_batch"):
        return DataLoader(dataset, batch_size=batch_size, shuffle=False,
                          num_workers=num_workers, pin_memory=pin)
    # Images stacked as uint8 and converted once per batch (datasets.pixels_to_batch).
    order = BatchSampler(SequentialSampler(range(len(dataset))),  # type: ignore[arg-type]
                         batch_size, drop_last=False)
    # collate_fn: the batch is ready; the default conversion would walk every id.
    return DataLoader(_BatchReader(dataset), batch_size=None, sampler=order,
                      num_workers=num_workers, pin_memory=pin, collate_fn=_as_is)


def _to_device(method: Method, device: torch.device) -> None:
    """Move ``method`` to ``device`` unless it is there (``Module.to`` walks every tensor)."""
    tensors = [*method.parameters(), *method.buffers()]
    if any(t.device != device for t in tensors):
        method.to(device)


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
    loader = _batches(dataset, batch_size, num_workers, pin=device.type == "cuda")
    dtype = autocast_dtype(device)
    # Eval mode by flag: Module.eval() and the restoring train() each cost ~1 ms of __setattr__
    # walks per call, which shows when the trainer embeds small validation sets every epoch.
    training = [m for m in method.modules() if m.training]
    for module in training:
        module.training = False
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
        for module in training:
            module.training = True
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
    fast_decode: bool = False,
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
        num_workers: DataLoader workers. 0 (default) was fastest on 2 CPU cores at the ``tiny``
            input sizes: a worker process competes with the forward for the same cores.
        fast_decode: Reduced-scale JPEG decoding (module docstring; tables only: a dataset
            passed in keeps its own setting).

    """
    device = get_device(device)
    _to_device(method, device)
    dataset = _as_dataset(method, dataset_or_table, "ground", fov_deg, fast_decode)
    return _embed(method.encode_ground, method, dataset, "ground", batch_size, device, num_workers)


def embed_aerial(
    method: Method,
    dataset_or_table: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    fast_decode: bool = False,
) -> np.ndarray:
    """Descriptors of the aerial references: float32 ``(M, D)`` in ``table.references`` order.

    Args:
        method: A :class:`~crossview.methods.base.Method`.
        dataset_or_table: A ``PairTable`` (wrapped in ``ReferenceDataset``) or a dataset of dicts.
        batch_size: Tiles per forward pass.
        device: Device; ``None`` uses :func:`crossview.device.get_device`.
        num_workers: DataLoader workers (see :func:`embed_ground`).
        fast_decode: Reduced-scale JPEG decoding (module docstring; tables only).

    """
    device = get_device(device)
    _to_device(method, device)
    dataset = _as_dataset(method, dataset_or_table, "aerial", fast_decode=fast_decode)
    return _embed(method.encode_aerial, method, dataset, "aerial", batch_size, device, num_workers)
