"""Sample4Geo-style baseline (Deuser et al., ICCV 2023; SPECS.md §5).

One ConvNeXt shared by both views (no polar transform), global average pooling + the ConvNeXt
head's LayerNorm as descriptor, symmetric InfoNCE with a learnable temperature and label
smoothing 0.1, AdamW with cosine warm-up. Its hard-negative batches (GPS neighbours, then
visual-similarity neighbours) are built by the data pipeline's sampler (``train.sampler``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from crossview.errors import ConfigError
from crossview.losses.infonce import InfoNCE
from crossview.methods.backbones import (
    PretrainedSlot,
    create_backbone,
    init_pretrained,
    require_pretrained,
)
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
    """Create a timm ConvNeXt without classifier (``num_classes=0``: pooled + LayerNorm).

    Random init: pretrained weights are loaded by :func:`init_pretrained` once the method is
    built (its :meth:`~crossview.methods.base.Method.pretrained_slots`).
    """
    return create_backbone(config.backbone, num_classes=0, **config.backbone_kwargs)


def convnext_slot(name: str, module: Any, config: Sample4GeoConfig) -> PretrainedSlot:
    """The pretrained slot of a ConvNeXt built by :func:`create_convnext`."""
    return PretrainedSlot(name, config.backbone, module,
                          {"num_classes": 0, **config.backbone_kwargs})


def gather_batch(x: Tensor) -> Tensor:
    """``x`` ``(b, D)`` of every rank concatenated along dim 0, with gradients to each slice.

    The identity in a single process. ``torch.distributed.nn.all_gather`` sums the gathered
    tensor's gradients back to their ranks, so a loss over the global batch computed on every
    rank, averaged by DDP, has the single-process gradient.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    import torch.distributed.nn as dist_nn

    return torch.cat(dist_nn.all_gather(x.contiguous()), dim=0)


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
        # Under DDP each rank holds a slice of the global batch: gather the descriptors
        # (differentiably) so that every pair meets the global batch's negatives, as in one
        # process; DDP's gradient averaging then gives the single-process update exactly.
        g = gather_batch(self.encode_ground(ground))
        a = gather_batch(self.encode_aerial(aerial))
        loss = self.loss(g, a)
        return {"total": loss, "infonce": loss.detach(), "logit_scale": self.loss.scale.detach()}


# --- paper recipes (Sample4Geo's code settings; CLNet §4.3 follows them) ---------------------
INFONCE_EVAL = {
    # R@1% with K = floor(N/100) on every dataset (Sample4Geo's code; SPECS §4), CVACT_test
    # scored one-to-one as the public Python codebases do.
    "recall": {"one_percent": "floor"},
    "cvact_test": {"one_percent": "floor", "one_to_one": True},
    "vigor": {"one_percent": "floor"},
    "university": {},
}
"""Evaluation conventions of the Sample4Geo and CLNet paper presets (``train.eval_conventions``)."""
INFONCE_METHOD: dict[str, Any] = {
    # ConvNeXt-B from convnext_base.fb_in22k_ft_in1k_384, AdamW lr 1e-3 with PyTorch's defaults
    # (weight decay 0.01), cosine decay to 0 after 1 epoch of linear warm-up, label smoothing 0.1,
    # learnable temperature from 1/0.07.
    "backbone": "convnext_base", "pretrained": "imagenet", "label_smoothing": 0.1,
    "init_temperature": 0.07, "learn_temperature": True, "optimizer": "adamw", "lr": 1.0e-3,
    "betas": [0.9, 0.999], "weight_decay": 0.01,
    "schedule": {"kind": "cosine", "warmup_steps": 0, "warmup_epochs": 1.0, "min_lr_ratio": 0.0},
}
"""Method fields shared by the Sample4Geo and CLNet paper presets."""
INFONCE_TRAIN: dict[str, Any] = {
    # 40 epochs, batch 128, gradient-norm clipping at 100; GPS-neighbour batches (64 neighbours:
    # the 32 nearest and 32 drawn from ranks 33-128) until the first evaluation (epoch 4), then
    # visual-similarity neighbours recomputed at every evaluation.
    "epochs": 40, "batch_size": 128, "grad_clip_norm": 100.0, "sampler": "gps_then_similarity",
    "sampler_neighbours": 64, "sampler_range": 128, "similarity_from_epoch": 4, "eval_every": 4,
    "eval_conventions": INFONCE_EVAL,
}
"""Train fields shared by the Sample4Geo and CLNet paper presets on CVUSA, CVACT and VIGOR."""
UNIVERSITY_TRAIN: dict[str, Any] = {
    # University-1652 (Sample4Geo's code): 1 epoch, warm-up 0.1 epoch (in the method's schedule),
    # batches without two drone images of one building, evaluated on the test split.
    "epochs": 1, "batch_size": 128, "grad_clip_norm": 100.0, "sampler": "unique",
    "eval_every": 1, "eval_split": "test", "eval_conventions": INFONCE_EVAL,
}
"""Train fields of the Sample4Geo and CLNet University-1652 presets."""
SIZES = {
    # (ground_hw, aerial_size, ground_vfov_deg): CVUSA's 90-degree band and CVACT's whole
    # 180-degree panorama both resized to 140x768 (Sample4Geo feeds CVACT uncropped); VIGOR's
    # 180-degree panoramas to 384x768; every University-1652 view to 384x384.
    "cvusa": ([140, 768], 384, 90.0),
    "cvact": ([140, 768], 384, 180.0),
    "vigor": ([384, 768], 384, 180.0),
    "university1652": ([384, 384], 384, 90.0),
}
"""Input sizes of the InfoNCE paper presets per dataset."""
_SMOKE_CONVNEXT = {"dims": [24, 48, 96, 192], "depths": [1, 1, 1, 1]}


def infonce_paper(dataset: str, doc: str, extra: dict[str, Any], augment: str,
                  train: dict[str, Any] | None = None, smoke: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """A paper preset of an InfoNCE method on ``dataset`` (a key of :data:`SIZES`)."""
    ground_hw, aerial, vfov = SIZES[dataset]
    method = {**INFONCE_METHOD, **extra, "ground_hw": ground_hw, "aerial_size": aerial,
              "ground_vfov_deg": vfov}
    recipe = {**INFONCE_TRAIN, "augment": augment, **(train or {})}
    smoke = {"ground_hw": [32, 128], "aerial_size": 64, "backbone_kwargs": _SMOKE_CONVNEXT,
             "pretrained": "none", **(smoke or {})}
    return {"doc": doc, "method": method, "train": recipe, "smoke": smoke}


# CPU minutes from random init: a narrow, shallow ConvNeXt (timm dims/depths), small inputs;
# layer scale starts at 1 (timm default 1e-6 leaves the few blocks near-identity for hundreds
# of steps, which stalled learning from scratch on the synthetic world).
INFONCE_TINY_METHOD: dict[str, Any] = {
    "backbone": "convnext_atto",
    "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 2, 1], "ls_init_value": 1.0},
    "ground_hw": [32, 128], "aerial_size": 64, "label_smoothing": 0.1,
    "init_temperature": 0.07, "optimizer": "adamw", "lr": 1.0e-3, "weight_decay": 0.01,
    "schedule": {"kind": "cosine", "warmup_steps": 30},
}
"""Method fields of the InfoNCE methods' ``tiny`` presets (Sample4Geo's; CLNet adds its own)."""
INFONCE_TINY_TRAIN: dict[str, Any] = {
    "epochs": 60, "batch_size": 64, "sampler": "gps_then_similarity",
    "similarity_from_epoch": 4, "eval_every": 2, "time_budget_min": 15, "augment": True,
    "cache_images": True, "sampler_neighbours": 3,
}
"""Train section of the InfoNCE methods' ``tiny`` presets."""
VIGOR_TRAIN = {"batch_size": 96, "eval_split": "test"}
"""VIGOR: batch 96 (CLNet §4.3); VIGOR has train and test splits only, evaluated on test."""
UNIVERSITY_SMOKE = {"ground_hw": [32, 32], "aerial_size": 32}
VIGOR_SMOKE = {"ground_hw": [32, 64], "aerial_size": 64}

PRESETS = {
    "tiny": {
        "doc": "CPU minutes from random init (narrow ConvNeXt, 32x128 / 64 px inputs)",
        "method": INFONCE_TINY_METHOD,
        "train": INFONCE_TINY_TRAIN,
    },
    # Photos (docs/locate.md): the tiny recipe trained on partial views placed at their bearing
    # (25 % whole panoramas, else 60-180 degrees, half of those as pinhole photos, pitch +-10)
    # with rotated twins as in-batch negatives, so the heading search can tell headings apart.
    "tiny_photo": {
        "doc": "tiny + limited-FOV / pinhole queries at their bearing, rotated twins as negatives",
        "method": INFONCE_TINY_METHOD,
        "train": {
            **INFONCE_TINY_TRAIN, "batch_size": 32,
            "query": {"fov_deg": [60, 180], "full_prob": 0.25, "heading": "known",
                      "pinhole_prob": 0.5, "pitch_deg": [-10, 10], "rotation_negatives": True},
        },
    },
    "paper": infonce_paper("cvusa", "Sample4Geo on CVUSA: ConvNeXt-B, 384 / 140x768, batch 128, "
                           "40 epochs", {}, "sample4geo"),
    "paper_cvact": infonce_paper("cvact", "Sample4Geo on CVACT: the whole 180-degree panorama "
                                 "at 140x768, 384 tiles, batch 128", {}, "sample4geo"),
    "paper_vigor": infonce_paper("vigor", "Sample4Geo on VIGOR (same- or cross-area): 384x768 / "
                                 "384, batch 96", {}, "sample4geo", VIGOR_TRAIN, VIGOR_SMOKE),
    "paper_university1652": infonce_paper(
        "university1652", "Sample4Geo on University-1652: 384x384 views, 1 epoch, batch 128",
        {"schedule": {**INFONCE_METHOD["schedule"], "warmup_epochs": 0.1}},
        "sample4geo_university", UNIVERSITY_TRAIN, UNIVERSITY_SMOKE),
}
"""Named recipes of ``sample4geo`` (method and train sections)."""


@register_method("sample4geo", presets=PRESETS)
class Sample4Geo(InfoNCEMethod):
    """Sample4Geo baseline: one shared ConvNeXt for ground and aerial views, InfoNCE."""

    config_class = Sample4GeoConfig

    def __init__(self, config: Sample4GeoConfig) -> None:
        super().__init__(config)
        require_pretrained(config, config.backbone)
        self.backbone: Any = create_convnext(config)
        init_pretrained(self)

    def pretrained_slots(self) -> list[PretrainedSlot]:
        """The shared ConvNeXt takes the ImageNet weights."""
        return [convnext_slot("backbone", self.backbone, self.config)]

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
