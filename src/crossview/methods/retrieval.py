"""Shared pieces of the retrieval methods (SAFA, Sample4Geo, CLNet).

Config fields, ImageNet normalisation, the optimizer declared as data, and a metre-scale
negative mask from the batch.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

import torch
from torch import Tensor, nn

from crossview.data.inputs import IMAGENET_MEAN, IMAGENET_STD, InputSpec
from crossview.errors import ConfigError
from crossview.methods.base import (
    Method,
    MethodConfig,
    OptimizerSpec,
    ScheduleSpec,
    check_shape,
)


@dataclasses.dataclass
class RetrievalConfig(MethodConfig):
    """Fields shared by the retrieval methods (optimizer as data, weights, ground FOV)."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    """Optimizer algorithm of the single ``main`` phase."""
    lr: float = 1e-4
    """Base learning rate."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam / AdamW betas."""
    weight_decay: float = 0.0
    """Weight decay (decoupled for AdamW)."""
    schedule: ScheduleSpec = dataclasses.field(default_factory=ScheduleSpec)
    """Learning-rate schedule (kind, warm-up steps, ...), applied by the trainer."""
    pretrained_sha256: str | None = None
    """Optional expected SHA-256 of the ``pretrained`` weights file."""
    ground_vfov_deg: float = 90.0
    """Vertical field of view of the ground panoramas (CVUSA-like band: 90)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr <= 0:
            raise ConfigError(f"lr: expected > 0, got {self.lr}")
        if min(self.ground_hw) < 1 or self.aerial_size < 1:
            raise ConfigError(
                f"ground_hw / aerial_size must be positive, got {self.ground_hw} / "
                f"{self.aerial_size}"
            )


class ImageNetNormalize(nn.Module):
    """``(x - mean) / std`` with ImageNet statistics, for images in ``[0, 1]`` ``(B, 3, H, W)``."""

    mean: Tensor
    std: Tensor

    def __init__(self) -> None:
        super().__init__()
        # Not persistent: the statistics are constants, not learned state to checkpoint.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Run the module on ``x`` (see the class docstring for shapes)."""
        check_shape(x, (None, 3, None, None), "images")
        return (x - self.mean) / self.std


class RetrievalMethod(Method):
    """Base of the two-view retrieval methods: input spec, normalisation and one optimizer."""

    config: RetrievalConfig

    def __init__(self, config: RetrievalConfig) -> None:
        super().__init__(config)
        self.normalize = ImageNetNormalize()

    @property
    def input_spec(self) -> InputSpec:
        """Sizes from the config; ``polar`` if ``encode_aerial`` polar-transforms the tiles."""
        return InputSpec(
            ground_hw=self.config.ground_hw,
            aerial_size=self.config.aerial_size,
            ground_vfov_deg=self.config.ground_vfov_deg,
            polar=self.uses_polar,
        )

    @property
    def uses_polar(self) -> bool:
        """Whether ``encode_aerial`` polar-transforms the tiles."""
        return False

    def optimizers(self) -> dict[str, OptimizerSpec]:
        """One ``main`` optimizer over every trainable parameter, from the config."""
        cfg = self.config
        params = [p for p in self.parameters() if p.requires_grad]
        return {
            "main": OptimizerSpec(
                params=params,
                kind=cfg.optimizer,
                lr=cfg.lr,
                betas=cfg.betas,
                weight_decay=cfg.weight_decay,
                schedule=cfg.schedule,
            )
        }

    def _check_batch(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """Return a batch's ``ground`` and ``aerial`` tensors, with a clear error when absent."""
        for key in ("ground", "aerial"):
            if key not in batch:
                raise ConfigError(f"training batch: missing key {key!r} (has {sorted(batch)})")
        ground, aerial = batch["ground"], batch["aerial"]
        if ground.shape[0] != aerial.shape[0] or ground.shape[0] < 2:
            raise ValueError(
                f"training batch: need >= 2 matching pairs, got ground {tuple(ground.shape)} "
                f"and aerial {tuple(aerial.shape)}"
            )
        return ground, aerial


def feature_map_hw(module: nn.Module, in_hw: tuple[int, int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of ``module``'s output for a ``(1, 3, *in_hw)`` input.

    Computed on the meta device (shapes only, no memory or FLOPs), so paper-scale backbones build
    quickly.
    """
    meta = copy.deepcopy(module).to("meta").eval()  # eval: BN accepts a single sample
    with torch.no_grad():
        out = meta(torch.empty(1, 3, *in_hw, device="meta"))
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])


def batch_negative_mask(
    batch: dict[str, Any], radius_m: float | None, device: torch.device
) -> Tensor | None:
    """``(B, B)`` mask of pairs closer than ``radius_m`` (``batch["utm"]``); None if disabled."""
    if radius_m is None:
        return None
    if "utm" not in batch:
        raise ConfigError(f"negative_radius_m={radius_m} needs batch key 'utm' (B, 2) metres")
    from crossview.losses.ranking import utm_negative_mask

    utm = torch.as_tensor(batch["utm"], dtype=torch.float64)
    return utm_negative_mask(utm, radius_m).to(device)
