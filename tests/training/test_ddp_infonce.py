"""InfoNCE under DDP (2 CPU processes) gathers the global batch: the same update as one process.

Without the gather each rank would contrast its pairs with its own half-batch only (fewer
negatives than the paper's batch of 128 spread over GPUs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Dataset

from crossview.methods import create_method
from crossview.training import TrainConfig, Trainer
from tests.training.test_ddp import _free_port

SIZES = {"ground_hw": [32, 64], "aerial_size": 32}


class _Pairs(Dataset):
    def __init__(self, n: int = 8) -> None:
        gen = torch.Generator().manual_seed(0)
        self.ground = torch.rand(n, 3, 32, 64, generator=gen)
        self.aerial = torch.rand(n, 3, 32, 32, generator=gen)

    def __len__(self) -> int:
        return len(self.ground)

    def __getitem__(self, i: int) -> dict:
        return {"ground": self.ground[i], "aerial": self.aerial[i], "index": i, "id": f"p{i}"}


def _train(out: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    method = create_method("sample4geo", "tiny", **SIZES)
    config = TrainConfig(epochs=1, batch_size=4, max_steps=1, log_every=1, augment=False)
    Trainer(method, None, None, config, out, device="cpu", train_dataset=_Pairs()).fit()
    return {k: v.detach().clone() for k, v in method.named_parameters()}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      CROSSVIEW_NO_PROGRESS="1")
    torch.set_num_threads(1)
    try:
        torch.save(_train(Path(out) / "ddp"), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_infonce_ddp_equals_single_process(tmp_path: Path) -> None:
    single = _train(tmp_path / "single")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for key, value in single.items():
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert torch.allclose(ranks[0][key], value, atol=1e-5), key
