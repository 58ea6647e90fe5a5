"""Keeping an accelerator fed: loader settings, the epoch seen by workers, memory format, compile.

The trainer builds one :class:`~torch.utils.data.DataLoader` for the whole run. On CUDA it uses
worker processes (one per available core and local rank, at most 16), page-locked batches copied
with ``non_blocking=True``, workers that persist across epochs (so their image caches survive)
and ``prefetch_factor`` batches prepared ahead per worker. Persistent workers hold their own copy
of the dataset, so the epoch (which seeds each sample's augmentation) reaches them through a
shared-memory tensor (:class:`EpochDataset`), not through ``set_epoch`` on the main process's
copy. ``channels_last`` and ``compile`` are applied to the method in place: parameter names, and
so checkpoints, never change.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from crossview.errors import ConfigError

MAX_AUTO_WORKERS = 16
"""Upper bound of the automatic worker count (more rarely helps and costs memory)."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_workers(requested: int | None, device: torch.device, local_world_size: int = 1) -> int:
    """DataLoader workers: ``requested`` when given, else automatic.

    On CUDA: the cores per local rank minus one for the main process (1..16); on CPU 0 (workers
    would compete with the model for the same cores).
    """
    if requested is not None:
        return int(requested)
    if device.type != "cuda":
        return 0
    per_rank = available_cores() // max(1, local_world_size)
    return max(1, min(MAX_AUTO_WORKERS, per_rank - 1))


def local_world_size(default: int = 1) -> int:
    """Processes on this node (torchrun's ``LOCAL_WORLD_SIZE``), else ``default``."""
    try:
        return int(os.environ.get("LOCAL_WORLD_SIZE", default))
    except ValueError:
        return default


class EpochDataset(Dataset):
    """Wrap a dataset so that :meth:`set_epoch` reaches persistent DataLoader workers.

    The epoch lives in a one-element shared-memory tensor; each ``__getitem__`` forwards a new
    value to the wrapped dataset's own ``set_epoch`` in whichever process runs it.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._seen = -1

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch for every process (and this one's dataset now)."""
        self._epoch.fill_(int(epoch))
        self._sync()

    def _sync(self) -> None:
        epoch = int(self._epoch)
        if epoch != self._seen:
            set_epoch = getattr(self.dataset, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(epoch)
            self._seen = epoch

    def __getitem__(self, index: int) -> Any:
        self._sync()
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)


def loader_options(num_workers: int, device: torch.device, pin_memory: bool | None,
                   prefetch_factor: int, persistent: bool) -> dict[str, Any]:
    """Keyword arguments of the training DataLoader for this device and worker count."""
    pin = device.type == "cuda" if pin_memory is None else bool(pin_memory)
    options: dict[str, Any] = {"num_workers": num_workers, "pin_memory": pin}
    if num_workers > 0:
        options.update(prefetch_factor=prefetch_factor, persistent_workers=persistent)
    return options


def use_channels_last(requested: bool | None, device: torch.device) -> bool:
    """Channels-last memory format: ``requested``, else on CUDA (tensor-core convolutions)."""
    return device.type == "cuda" if requested is None else bool(requested)


def to_channels_last(method: nn.Module) -> None:
    """Convert the method's 4-D parameters and buffers to channels-last, in place."""
    method.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def compile_method(method: Any, backend: str = "inductor", mode: str | None = None) -> int:
    """``nn.Module.compile`` each of ``method.compile_targets()`` in place; returns how many.

    In-place compilation keeps the module tree and its parameter names, so state dicts (and
    checkpoints) are those of the eager model.

    Raises:
        ConfigError: ``torch.compile`` is unavailable or rejects the backend / mode.

    """
    targets = list(method.compile_targets())
    try:
        for module in targets:
            module.compile(backend=backend, mode=mode)
    except (RuntimeError, ValueError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"train.compile: torch.compile failed ({first}); set "
                          "train.compile=false") from None
    return len(targets)
