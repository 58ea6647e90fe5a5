"""Tiny test methods and in-memory data for the trainer tests (importable by spawned processes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from crossview.data.table import Pair, PairTable, Reference
from crossview.methods.base import (
    Method,
    MethodConfig,
    OptimizerSpec,
    Phase,
    ScheduleSpec,
    l2_normalize,
)
from crossview.methods.registry import _METHODS, register_method

GROUND_HW = (8, 32)
AERIAL = 16


@dataclasses.dataclass
class DummyConfig(MethodConfig):
    """A few conv layers; the loss is a mean over pairs (so DDP / accumulation are exact)."""

    ground_hw: tuple[int, int] = GROUND_HW
    aerial_size: int = AERIAL
    width: int = 4
    dim: int = 8
    lr: float = 1e-2
    optimizer: str = "sgd"
    schedule: str = "constant"
    warmup_steps: int = 0
    dropout: float = 0.0


class _Encoder(nn.Module):
    def __init__(self, width: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return l2_normalize(self.head(self.drop(x.mean(dim=(2, 3)))))


class DummyMethod(Method):
    """Two small encoders; loss = mean over pairs of (1 - g_i . a_i)."""

    config_class = DummyConfig

    def __init__(self, config: DummyConfig) -> None:
        super().__init__(config)
        self.ground_net = _Encoder(config.width, config.dim, config.dropout)
        self.aerial_net = _Encoder(config.width, config.dim, config.dropout)

    @property
    def descriptor_dim(self) -> int:
        return self.config.dim

    def encode_ground(self, ground: Tensor) -> Tensor:
        return self.ground_net(ground)

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        return self.aerial_net(aerial)

    def optimizers(self) -> dict[str, OptimizerSpec]:
        c = self.config
        return {
            "main": OptimizerSpec(
                list(self.parameters()),
                kind=c.optimizer,
                lr=c.lr,
                schedule=ScheduleSpec(kind=c.schedule, warmup_steps=c.warmup_steps),
            )
        }

    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "main"
    ) -> dict[str, Tensor]:
        g = self.encode_ground(batch["ground"])
        a = self.encode_aerial(batch["aerial"])
        align = (1 - (g * a).sum(dim=1)).mean()
        return {"total": align, "align": align.detach()}


@dataclasses.dataclass
class GanLikeConfig(DummyConfig):
    """Phases D then G with separate optimizers."""


class GanLikeMethod(DummyMethod):
    """``D`` updates ``aerial_net`` with a loss that also flows through ``ground_net``; ``G``
    updates ``ground_net`` with a loss that also flows through ``aerial_net``."""

    config_class = GanLikeConfig
    calls: list[tuple[str, int]] = []

    def phases(self) -> list[Phase]:
        return [Phase("D", "disc"), Phase("G", "gen")]

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {
            "disc": OptimizerSpec(list(self.aerial_net.parameters()), kind="sgd", lr=0.1),
            "gen": OptimizerSpec(list(self.ground_net.parameters()), kind="sgd", lr=0.1),
        }

    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "main"
    ) -> dict[str, Tensor]:
        type(self).calls.append((phase, step))
        g = self.encode_ground(batch["ground"])
        a = self.encode_aerial(batch["aerial"])
        sim = (g * a).sum(dim=1).mean()
        total = sim if phase == "D" else -sim
        return {"total": total, f"{phase}_sim": sim.detach()}


DUMMIES = {"dummy": DummyMethod, "dummy_gan": GanLikeMethod}


def register_dummies() -> None:
    """Register the test methods (checkpoints rebuild methods through the registry)."""
    for name, cls in DUMMIES.items():
        if name not in _METHODS:
            register_method(name)(cls)


def unregister_dummies() -> None:
    """Remove the test methods so other areas' tests never see them in ``list_methods()``."""
    for name in DUMMIES:
        _METHODS.pop(name, None)


def make_dummy(**overrides: Any) -> DummyMethod:
    torch.manual_seed(overrides.pop("init_seed", 0))
    return DummyMethod(DummyConfig(**overrides))


class MemoryPairs(Dataset):
    """Deterministic random pairs; the aerial view is a blurred copy related to the ground view."""

    def __init__(self, n: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ground = torch.rand(n, 3, *GROUND_HW, generator=gen)
        self.aerial = torch.rand(n, 3, AERIAL, AERIAL, generator=gen)
        self.aerial[:, :, :8, :] = self.ground[:, :, :, :16]  # shared content -> learnable

    def __len__(self) -> int:
        return len(self.ground)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"ground": self.ground[i], "aerial": self.aerial[i], "index": i, "id": f"p{i}"}


class MemoryViews(Dataset):
    """One view of :class:`MemoryPairs` for embedding (samples with ``image``)."""

    def __init__(self, pairs: MemoryPairs, view: str) -> None:
        self.images = pairs.ground if view == "ground" else pairs.aerial

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "index": i, "id": f"p{i}"}


def memory_table(n: int, split: str = "val") -> PairTable:
    """A PairTable whose pair i has reference i (paths unused: data comes from memory)."""
    refs = [
        Reference(
            id=f"t{i}",
            path=Path(f"/nonexistent/t{i}.png"),
            lat=0.001 * i,
            lon=0.0,
            utm_e=100.0 * i,
            utm_n=0.0,
            utm_zone="31N",
        )
        for i in range(n)
    ]
    pairs = [
        Pair(
            id=f"p{i}",
            ground=Path(f"/nonexistent/p{i}.png"),
            split=split,
            references=(i,),
            lat=0.001 * i,
            lon=0.0,
            utm_e=100.0 * i,
            utm_n=0.0,
            utm_zone="31N",
        )
        for i in range(n)
    ]
    return PairTable(layout="memory", root=Path("/nonexistent"), pairs=pairs, references=refs)
