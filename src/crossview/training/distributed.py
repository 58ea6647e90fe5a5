"""Data parallelism through ``torchrun``: process-group set-up and small collective helpers.

``torchrun --nproc-per-node G [--nnodes N ...] -m crossview train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; the trainer then joins the process group (NCCL on CUDA, gloo
on CPU), wraps the method in DDP and gives each rank its slice of every global batch.

Caveat (batch-contrastive losses): under DDP each rank's ``training_step`` sees only its local
slice, so an InfoNCE / soft-margin loss compares each pair with ``B / world_size`` negatives, not
``B``. Methods that want the global batch gather descriptors with :func:`all_gather_with_grad`,
which keeps gradients flowing to every rank's own slice.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch
import torch.distributed as dist

from crossview.device import get_device

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1


def init_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group announced by ``torchrun``'s environment (no-op without one).

    Args:
        device: Requested device; under DDP on CUDA each rank uses ``cuda:LOCAL_RANK``.

    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = get_device(device)
    if world_size <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(device=resolved)
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    else:
        rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        logger.info("joined process group: rank %d of %d (%s)", rank, world_size, backend)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=resolved)


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. 'the time budget is spent')."""
    if not info.distributed:
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int64, device=_comm_device(info))
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def broadcast_tensor(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Rank 0's tensor on every rank (same shape and dtype expected everywhere)."""
    if not info.distributed:
        return tensor
    buffer = tensor.to(_comm_device(info)).contiguous()
    dist.broadcast(buffer, src=0)
    return buffer.to(tensor.device)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.distributed:
        dist.barrier()


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(b, ...)`` from every rank along dim 0, differentiably.

    In a single process this returns ``x``. Gradients of the gathered tensor flow back to each
    rank's own slice (``torch.distributed.nn.all_gather``), so a loss over the global batch,
    averaged by DDP, equals the single-process loss over the same global batch.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    import torch.distributed.nn as dist_nn

    return torch.cat(dist_nn.all_gather(x), dim=0)


def _comm_device(info: DistInfo) -> torch.device:
    return info.device if dist.get_backend() == "nccl" else torch.device("cpu")
