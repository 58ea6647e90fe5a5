"""Sample4Geo-style baseline (Deuser et al., ICCV 2023; SPECS.md §5).

One ConvNeXt shared by both views (no polar transform), global average pooling + the ConvNeXt
head's LayerNorm as descriptor, symmetric InfoNCE with a learnable temperature and label
smoothing 0.1, AdamW with cosine warm-up. Its hard-negative batches (GPS neighbours, then
visual-similarity neighbours) are built by the data pipeline's sampler (``train.sampler``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from crossview.errors import ConfigError
from crossview.losses.infonce import InfoNCE
from crossview.methods.backbones import create_backbone
from crossview.methods.base import check_shape, l2_normalize
from crossview.methods.registry import register_method
from crossview.methods.retrieval import RetrievalConfig, RetrievalMethod


@dataclasses.dataclass
class Sample4GeoConfig(RetrievalConfig):
    """Shared ConvNeXt + symmetric InfoNCE (SPECS §5)."""

    backbone: str = "convnext_base"
    """timm ConvNeXt name (Sample4Geo: ``convnext_base``)."""
    backbone_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra timm arguments (e.g. ``dims`` / ``depths`` for the ``tiny`` preset)."""
    label_smoothing: float = 0.1
    """Label smoothing of both InfoNCE cross entropies (Sample4Geo: 0.1)."""
    init_temperature: float = 0.07
    """Initial temperature ``tau``; the logit scale ``exp(log s)`` starts at ``1/tau``."""
    learn_temperature: bool = True
    """Whether the log logit scale is trained (Sample4Geo: yes)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.label_smoothing < 1.0 or self.init_temperature <= 0:
            raise ConfigError(
                f"label_smoothing in [0, 1) and init_temperature > 0 expected, got "
                f"{self.label_smoothing} / {self.init_temperature}"
            )


def create_convnext(config: Sample4GeoConfig) -> Any:
    """Create a timm ConvNeXt without classifier (``num_classes=0``: pooled + LayerNorm)."""
    return create_backbone(
        config.backbone,
        config.pretrained,
        config.pretrained_sha256,
        num_classes=0,
        **config.backbone_kwargs,
    )


class InfoNCEMethod(RetrievalMethod):
    """Base of the InfoNCE methods: holds the loss (with its learnable scale) and the step."""

    config: Sample4GeoConfig

    def __init__(self, config: Sample4GeoConfig) -> None:
        super().__init__(config)
        self.loss = InfoNCE(
            config.label_smoothing, 1.0 / config.init_temperature, config.learn_temperature
        )

    def _check_views(self, ground: Tensor | None = None, aerial: Tensor | None = None) -> None:
        if ground is not None:
            check_shape(ground, (None, 3, *self.config.ground_hw), "ground")
        if aerial is not None:
            size = self.config.aerial_size
            check_shape(aerial, (None, 3, size, size), "aerial")

    def training_step(
        self, batch: dict[str, Any], step: int, phase: str = "main"
    ) -> dict[str, Tensor]:
        """Named losses of a batch; ``total`` is minimised."""
        ground, aerial = self._check_batch(batch)
        loss = self.loss(self.encode_ground(ground), self.encode_aerial(aerial))
        return {"total": loss, "infonce": loss.detach(), "logit_scale": self.loss.scale.detach()}


PRESETS = {
    # CPU minutes from random init: a narrow, shallow ConvNeXt (timm dims/depths), small inputs;
    # layer scale starts at 1 (timm default 1e-6 leaves the few blocks near-identity for hundreds
    # of steps, which stalled learning from scratch on the synthetic world).
    "tiny": {
        "doc": "CPU minutes from random init (narrow ConvNeXt, 32x128 / 64 px inputs)",
        "method": {
            "backbone": "convnext_atto",
            "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 2, 1],
                                "ls_init_value": 1.0},
            "ground_hw": [32, 128], "aerial_size": 64, "label_smoothing": 0.1,
            "init_temperature": 0.07, "optimizer": "adamw", "lr": 1.0e-3, "weight_decay": 0.01,
            "schedule": {"kind": "cosine", "warmup_steps": 30},
        },
        "train": {
            "epochs": 60, "batch_size": 64, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 4, "eval_every": 2, "time_budget_min": 15, "augment": True,
            "cache_images": True, "sampler_neighbours": 3,
        },
    },
    # Photos (docs/locate.md): the tiny recipe trained on partial views placed at their bearing
    # (25 % whole panoramas, else 60-180 degrees, half of those as pinhole photos, pitch +-10)
    # with rotated twins as in-batch negatives, so the heading search can tell headings apart.
    "tiny_photo": {
        "doc": "tiny + limited-FOV / pinhole queries at their bearing, rotated twins as negatives",
        "method": {
            "backbone": "convnext_atto",
            "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 2, 1],
                                "ls_init_value": 1.0},
            "ground_hw": [32, 128], "aerial_size": 64, "label_smoothing": 0.1,
            "init_temperature": 0.07, "optimizer": "adamw", "lr": 1.0e-3, "weight_decay": 0.01,
            "schedule": {"kind": "cosine", "warmup_steps": 30},
        },
        "train": {
            "epochs": 60, "batch_size": 32, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 4, "eval_every": 2, "time_budget_min": 15, "augment": True,
            "cache_images": True, "sampler_neighbours": 3,
            "query": {"fov_deg": [60, 180], "full_prob": 0.25, "heading": "known",
                      "pinhole_prob": 0.5, "pitch_deg": [-10, 10], "rotation_negatives": True},
        },
    },
    # Sample4Geo on CVUSA: ConvNeXt-B, 384x384 aerial, 140x768 ground, batch 128, AdamW lr 1e-3
    # (PyTorch default weight decay 0.01), cosine with 1 epoch of warm-up (277 steps at batch
    # 128), label smoothing 0.1, 40 epochs, GPS then similarity hard negatives.
    "paper": {
        "doc": "Sample4Geo on CVUSA: ConvNeXt-B, 384 / 140x768, batch 128, 40 epochs",
        "method": {
            "backbone": "convnext_base", "ground_hw": [140, 768], "aerial_size": 384,
            "label_smoothing": 0.1, "init_temperature": 0.07, "optimizer": "adamw",
            "lr": 1.0e-3, "weight_decay": 0.01,
            "schedule": {"kind": "cosine", "warmup_steps": 277},
        },
        "train": {
            "epochs": 40, "batch_size": 128, "sampler": "gps_then_similarity",
            "similarity_from_epoch": 1, "eval_every": 4,
        },
        # CPU smoke runs: the same modules at small inputs and a narrow, shallow ConvNeXt.
        "smoke": {"ground_hw": [32, 128], "aerial_size": 64,
                  "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 1, 1]}},
    },
}
"""Named recipes of ``sample4geo`` (method and train sections)."""


@register_method("sample4geo", presets=PRESETS)
class Sample4Geo(InfoNCEMethod):
    """Sample4Geo baseline: one shared ConvNeXt for ground and aerial views, InfoNCE."""

    config_class = Sample4GeoConfig

    def __init__(self, config: Sample4GeoConfig) -> None:
        super().__init__(config)
        self.backbone: Any = create_convnext(config)

    @property
    def descriptor_dim(self) -> int:
        """Descriptor length ``D``."""
        return int(self.backbone.num_features)

    def encode_ground(self, ground: Tensor) -> Tensor:
        """Ground panoramas ``(B, 3, Hg, Wg)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        self._check_views(ground=ground)
        return l2_normalize(self.backbone(self.normalize(ground)))

    def encode_aerial(self, aerial: Tensor) -> Tensor:
        """North-up tiles ``(B, 3, S, S)`` in [0, 1] -> L2-normalised ``(B, D)``."""
        self._check_views(aerial=aerial)
        return l2_normalize(self.backbone(self.normalize(aerial)))
