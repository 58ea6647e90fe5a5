"""Batch samplers as the trainer sees them: seeded per epoch, sharded across ranks, resumable.

The trainer always iterates *global* batches (``TrainConfig.batch_size`` pairs); under DDP each
rank takes its contiguous slice, so one process with the global batch and ``N`` processes see the
same pairs. The order of an epoch is a pure function of ``(seed, epoch)`` (plus, for similarity
sampling, the sampler's own state), which is what makes mid-epoch resumption exact: the trainer
records how many batches it consumed and skips them on resume without loading their images.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch

from crossview.errors import ConfigError


class BatchSampler(Protocol):
    """What the trainer needs from a batch sampler (the data package's samplers follow it)."""

    def __iter__(self) -> Iterator[list[int]]: ...

    def __len__(self) -> int: ...

    def set_epoch(self, epoch: int) -> None:
        """Select the batches of ``epoch``."""

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state (checkpointed)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class RandomBatchSampler:
    """Shuffled batches without repetition, reseeded per epoch; incomplete last batch dropped.

    Args:
        num_items: Dataset length.
        batch_size: Global batch size.
        seed: Base seed; epoch ``e`` uses ``seed + e`` (independent of the global RNG).

    """

    def __init__(self, num_items: int, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_items // self.batch_size

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_items, generator=generator).tolist()
        return [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()

    def state_dict(self) -> dict[str, Any]:
        """Epoch and seed (the permutation is recomputed from them)."""
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])


class ResumableShardSampler:
    """Wrap a global batch sampler: full batches only, skip consumed ones, yield this rank's slice.

    Batches smaller than ``batch_size`` (neighbour samplers defer key collisions to an epoch's
    last batches) are left out of the epoch, and the epoch is truncated to a multiple of
    ``grad_accum`` batches, so that every optimizer step sees the same global batch size and
    checkpoints fall on step boundaries; the samples left out change from epoch to epoch.

    Args:
        inner: A batch sampler yielding global batches of indices.
        batch_size: Global batch size (must be divisible by ``world_size``).
        rank: This process's rank.
        world_size: Number of processes.
        grad_accum: Micro-batches per optimizer step.

    """

    def __init__(self, inner: BatchSampler, batch_size: int, rank: int = 0, world_size: int = 1,
                 grad_accum: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigError(
                f"train.batch_size={batch_size} is not divisible by the {world_size} processes"
            )
        self.inner = inner
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.grad_accum = grad_accum
        self.start = 0
        """Batches of the current epoch already consumed (skipped by the next iteration)."""

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select ``epoch`` and skip its first ``start`` batches."""
        self.inner.set_epoch(epoch)
        self.start = start

    def epoch_batches(self) -> list[list[int]]:
        """Return the full global batches of the epoch, truncated to whole optimizer steps."""
        source = self.inner.batches() if hasattr(self.inner, "batches") else list(iter(self.inner))
        full = [list(b) for b in source if len(b) == self.batch_size]
        return full[: len(full) // self.grad_accum * self.grad_accum]

    def epoch_length(self) -> int:
        """Global batches per epoch after dropping partial batches and truncation."""
        return len(self.epoch_batches())

    def __len__(self) -> int:
        return max(0, self.epoch_length() - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        local = self.batch_size // self.world_size
        lo, hi = self.rank * local, (self.rank + 1) * local
        for batch in self.epoch_batches()[self.start:]:
            yield batch[lo:hi]
