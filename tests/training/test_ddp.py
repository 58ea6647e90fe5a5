"""DDP with 2 CPU processes (gloo) gives the same update as one process with the global batch.

Both a one-phase method and a two-phase (D then G, GAN-like) method are checked in the same
spawned processes; their losses are means over pairs, so the equivalence is exact up to float
summation order.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crossview.training import TrainConfig, Trainer
from tests.training.dummy import (
    GanLikeConfig,
    GanLikeMethod,
    MemoryPairs,
    make_dummy,
    register_dummies,
)

CONFIG = dict(epochs=1, batch_size=4, grad_accum=2, max_steps=2, log_every=1)


def _methods() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    gan = GanLikeMethod(GanLikeConfig())
    return {"dummy": make_dummy(optimizer="adam"), "gan": gan}


def _train_all(out: Path) -> dict[str, dict]:
    results = {}
    for name, method in _methods().items():
        result = Trainer(
            method,
            None,
            None,
            TrainConfig(**CONFIG),
            out / name,
            device="cpu",
            train_dataset=MemoryPairs(16),
        ).fit()
        params = {k: v.detach().clone() for k, v in method.named_parameters()}
        results[name] = {"params": params, "step": result.step}
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        CROSSVIEW_NO_PROGRESS="1",
    )
    torch.set_num_threads(1)
    register_dummies()  # a spawned process starts with an empty test registry
    try:
        torch.save(_train_all(Path(out) / "ddp"), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_equals_single_process(tmp_path):
    single = _train_all(tmp_path / "single")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, expected in single.items():
        assert ranks[0][name]["step"] == ranks[1][name]["step"] == expected["step"] == 2
        for key, value in expected["params"].items():
            assert torch.equal(ranks[0][name]["params"][key], ranks[1][name]["params"][key]), key
            assert torch.allclose(ranks[0][name]["params"][key], value, atol=1e-6), (name, key)
        # Only rank 0 wrote the run directory.
        assert (tmp_path / "ddp" / name / "checkpoints" / "last.pt").is_file()
